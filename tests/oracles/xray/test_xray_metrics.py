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
