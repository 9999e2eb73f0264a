"""Training: the network learns, the split keeps reported rows out, the threshold is earned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from oracles.tariff import splits
from oracles.tariff.model import TariffModel
from oracles.tariff.supervised import NetConfig, quantize_rows, torch_available
from oracles.tariff.train import (
    TrainConfig,
    calibrate,
    train_and_save,
    training_phrases,
    uncertain_threshold,
)


def test_split_is_stable_grouped_and_keeps_test_rows_out_of_training() -> None:
    rows = splits.read_rulings()
    parts = splits.split(rows)
    assert sum(len(v) for v in parts.values()) == len(rows)
    assert 0.17 < len(parts["test"]) / len(rows) < 0.23
    assert 0.12 < len(parts["dev"]) / len(rows) < 0.18
    # the same description (any case or spacing) always lands in the same part
    assert splits.part_of("Cup") == splits.part_of("  cup ")
    where = {}
    for part, rs in parts.items():
        for r in rs:
            where.setdefault(" ".join(r.text.lower().split()), set()).add(part)
    assert all(len(p) == 1 for p in where.values())
    trained = {
        p.text for p in training_phrases(TrainConfig(), parts["train"]) if p.source == "rulings"
    }
    assert not trained & {r.text for r in parts["test"] + parts["dev"]}


def test_uncertain_threshold_is_the_lowest_that_keeps_the_target() -> None:
    conf = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5])
    right = np.array([True, True, True, False, True, False])
    assert uncertain_threshold(conf, right, 0.75) == 0.6  # 4 of 5 right at >= 0.6
    assert uncertain_threshold(conf, right, 1.0) == 0.8
    assert uncertain_threshold(conf, np.zeros(6, dtype=bool), 0.9) == 1.0  # never right


def test_row_quantisation_is_close() -> None:
    m = np.random.default_rng(0).normal(size=(50, 16)).astype(np.float32)
    q, scale = quantize_rows(m)
    assert q.dtype == np.int8
    assert np.abs(q * scale[:, None] - m).max() <= scale.max() / 2 + 1e-6


@pytest.mark.skipif(not torch_available(), reason="training the network needs PyTorch")
def test_network_trains_saves_and_reloads(tmp_path: Path) -> None:
    config = TrainConfig(chapters=("02", "03"), net=NetConfig(epochs=2, dim=24), min_df=2)
    model = train_and_save(tmp_path / "m", (), config, log=lambda _m: None)
    assert model.net is not None and model.calibration.net >= 0
    again = TariffModel.load(tmp_path / "m")
    assert again.net is not None
    for text in ("frozen boneless beef", "冷凍鮭魚片", "live lobsters"):
        a, _ = model.predict(text, top=3)
        b, _ = again.predict(text, top=3)
        assert [p.hs6 for p in a] == [p.hs6 for p in b]
    best, _ = again.predict("frozen boneless beef", top=1)
    assert best[0].hs6 == "020230"
    assert set(model.meta) >= {"dev_hs6", "dev_answered_accuracy", "rulings_test_held_out"}


def test_calibration_sets_the_accusation_bar_on_real_rows() -> None:
    """Clean rows the model gets right at middling confidence lower the shared threshold;
    the accusation bar, set on the real rows alone, stays where those are right."""
    rng = np.random.default_rng(3)
    n, c = 400, 5
    truth = rng.integers(0, c, n)
    retr = rng.normal(0, 0.3, (n, c))
    real = np.where(np.arange(n) < 200, "rulings:parcel", "")
    # real rows: a middling margin, right about half the time; clean rows: always right
    for i in range(n):
        hard = bool(real[i])
        pick = truth[i] if (not hard or rng.random() < 0.5) else (truth[i] + 1) % c
        retr[i, pick] += 1.5 if hard else rng.uniform(0.8, 3.0)
    cal, met = calibrate(retr, None, truth, np.ones(n), 0.9, real)
    assert cal.accuse_below > cal.uncertain_below
    assert met["dev_real_accused_accuracy"] >= 0.9 or met["dev_real_accused"] == 0.0
    whole, _ = calibrate(retr, None, truth, np.ones(n), 0.9)  # no mask: one bar
    assert whole.accuse_below == whole.uncertain_below


def test_the_accusation_bar_is_the_strictest_large_real_source() -> None:
    """Two real sources: the one whose confident answers are less often right sets the
    bar; a source under MIN_SOURCE_ROWS rows does not."""
    rng = np.random.default_rng(5)
    n, c = 600, 4
    truth = rng.integers(0, c, n)
    retr = rng.normal(0, 0.2, (n, c))
    src = np.array(["rulings:easy"] * 300 + ["rulings:hard"] * 280 + ["rulings:tiny"] * 20)
    for i in range(n):
        right = rng.random() < {"rulings:easy": 0.95, "rulings:hard": 0.7}.get(src[i], 0.0)
        # surer when right, but a wrong answer can be sure too
        boost = rng.uniform(1.0, 3.0) if right else rng.uniform(0.2, 2.2)
        retr[i, truth[i] if right else (truth[i] + 1) % c] += boost
    both, _ = calibrate(retr, None, truth, np.ones(n), 0.9, src)
    easy, _ = calibrate(
        retr, None, truth, np.ones(n), 0.9, np.where(src == "rulings:easy", src, "")
    )
    assert both.accuse_below > easy.accuse_below  # the hard source raised it
    tiny_only = np.where(src == "rulings:tiny", src, "")
    alone, _ = calibrate(retr, None, truth, np.ones(n), 0.9, tiny_only)  # under 50: pooled
    assert alone.accuse_below >= alone.uncertain_below
