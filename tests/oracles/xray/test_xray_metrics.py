"""AUC and recall at a false-alarm rate, on cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from oracles.xray import metrics


def test_auc_perfect_inverse_and_ties():
    y = np.array([0, 0, 1, 1])
    assert metrics.auc(np.array([0.1, 0.2, 0.8, 0.9]), y) == 1.0
    assert metrics.auc(np.array([0.9, 0.8, 0.2, 0.1]), y) == 0.0
    assert metrics.auc(np.full(4, 0.5), y) == 0.5
    assert metrics.auc(np.array([0.1, 0.6, 0.5, 0.9]), y) == 0.75
    assert metrics.auc(np.array([0.1, 0.2]), np.array([0, 0])) is None


def test_recall_at_false_alarm():
    neg = np.linspace(0, 0.99, 100)  # 100 clean scans
    pos = np.array([0.2, 0.95, 0.96, 0.97, 0.995])
    scores = np.concatenate([neg, pos])
    labels = np.concatenate([np.zeros(100), np.ones(5)])
    t = metrics.threshold_at_false_alarm(scores, labels, 0.05)
    assert ((neg > t).mean()) <= 0.05
    assert t == pytest.approx(0.94)  # the 6th highest clean score
    assert metrics.recall_at_false_alarm(scores, labels, 0.05) == 0.8
    assert metrics.recall_at_false_alarm(scores, labels, 0.0) == 0.2  # only 0.995 > 0.99


def test_report_shape():
    r = metrics.report(
        np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.3]]),
        np.array([[1, 0], [0, 1], [0, 0]]),
        ("a", "b"),
    )
    assert r["n"] == 3 and r["auc"] == {"a": 1.0, "b": 1.0}
    assert set(r["recall_at_5pct_false_alarm"]) == {"a", "b"}


def test_expected_calibration_error():
    rng = np.random.default_rng(0)
    p = rng.random(20000)
    calibrated = rng.random(20000) < p  # events happen as often as the score says
    assert metrics.ece(p, calibrated) < 0.02
    overconfident = np.where(p > 0.5, 0.99, 0.01)
    assert metrics.ece(overconfident, calibrated) > 0.2
    assert metrics.ece(np.array([]), np.array([])) is None


def test_report_gives_every_rate_asked_for_and_the_ece():
    rng = np.random.default_rng(1)
    y = (rng.random((400, 2)) < 0.3).astype(np.float32)
    s = np.clip(y * 0.6 + rng.random((400, 2)) * 0.5, 0, 1)
    rep = metrics.report(s, y, ["a", "b"], rates=(0.01, 0.05))
    assert set(rep) >= {"auc", "recall_at_1pct_false_alarm", "recall_at_5pct_false_alarm", "ece"}
    for c in ("a", "b"):
        assert rep["recall_at_1pct_false_alarm"][c] <= rep["recall_at_5pct_false_alarm"][c]


def test_verdict_shares_split_clean_from_carrying_scans():
    """Clean scans: threat = false alarms, uncertain = looks; carrying scans: clear = not
    looked at; a refused scan counts in no share, and a group without scans is left out."""
    y = np.array([[0, 0], [0, 0], [0, 0], [0, 0], [1, 0], [0, 1]], dtype=np.float32)
    verdicts = ["threat", "uncertain", "clear", "not_a_scan", "clear", "threat"]
    got = metrics.verdict_shares(verdicts, y)
    assert got == {
        "clean": {"threat": 0.25, "uncertain": 0.25, "clear": 0.25},
        "carrying": {"threat": 0.5, "uncertain": 0.0, "clear": 0.5},
    }
    assert set(metrics.verdict_shares(["clear"], np.zeros((1, 2)))) == {"clean"}
