#!/usr/bin/env python3
"""Audit selection benchmark: train on one period, measure on the next, time scoring.

The world is synthetic (`oracles/audit/synth.py`) and drawn from a seed that was not used
while the generator and the model were designed (they were tuned on seeds 7 and 11; the
default here is 2026).  The first `--train-rows` declarations by date train the oracle;
the `--test-rows` after them (a later period, never seen in training) measure it.  In the
same run, on the same rows, two baselines are fitted on the *whole* training period:
logistic regression and a plain HistGradientBoosting with default settings and ids as
native categories (see `oracles/audit/baselines.py`).  `ceiling_*` rank by each
declaration's true fraud probability, which the generator knows: no model can beat it.

Timing: `train_s` is reading-free training of the oracle (features, fit, calibration,
ONNX export, writing the model directory); `score_rows_per_s` (best of `--rounds`) is features plus model
(onnxruntime) on a prepared frame of `--score-rows` rows; `score_rows_per_s_with_parsing`
includes checking and parsing the text columns.  The machine's load changes the times.

Prints one JSON line: train_rows, test_rows, seed, train_s, baselines_train_s, trees,
backend, score_rows, score_rows_per_s, score_rows_per_s_with_parsing, fraud_rate_test,
precision_at_1pct, precision_at_5pct, recall_at_5pct, revenue_at_5pct, auc,
baseline_precision_at_1pct, baseline_precision_at_5pct, baseline_auc (plain GBM),
lr_precision_at_1pct, lr_precision_at_5pct, lr_auc, ceiling_precision_at_1pct,
ceiling_precision_at_5pct, ceiling_auc.
"""

from __future__ import annotations

import _benchpath  # noqa: F401  (drops scripts/bench from sys.path)

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from oracles.audit.baselines import BASELINES
from oracles.audit.data import prepare
from oracles.audit.mapping import ColumnMapping
from oracles.audit.metrics import selection_metrics
from oracles.audit.model import AuditModel, TrainConfig, train
from oracles.audit.synth import generate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-rows", type=int, default=40_000)
    ap.add_argument("--test-rows", type=int, default=20_000)
    ap.add_argument("--score-rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--rounds", type=int, default=3, help="best of this many timed scorings")
    args = ap.parse_args()

    world = generate(args.train_rows + args.test_rows, seed=args.seed, days=730, truth=True)
    truth = world.pop("_p").to_numpy()[args.train_rows :]
    raw = world.astype(str)
    mapping = ColumnMapping()
    train_prep = prepare(raw.iloc[: args.train_rows], mapping, need_label=True)
    frame = train_prep.frame

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        train(
            frame,
            Path(tmp) / "model",
            mapping=mapping,
            extras=train_prep.extras,
            data_report=train_prep.report,
            config=TrainConfig(baselines=False),
        )
        train_s = time.perf_counter() - t0
        model = AuditModel.load(Path(tmp) / "model")

        test = prepare(
            raw.iloc[args.train_rows :], model.mapping, need_label=True, extras=model.extras
        ).frame
        y = test["label"].to_numpy()
        rev = test["revenue"].to_numpy()
        _, score = model.score(test)
        ours = selection_metrics(y, score, rev)

        y_train = frame["label"].to_numpy()
        t0 = time.perf_counter()
        with threadpool_limits(1):  # as the oracle trains (see oracles/audit/model.py)
            base = {name: make().fit(frame, y_train) for name, make in BASELINES.items()}
        baselines_s = time.perf_counter() - t0
        theirs = {
            name: selection_metrics(y, b.predict_proba(test)[:, 1], rev) for name, b in base.items()
        }
        ceiling = selection_metrics(y, truth, rev)

        reps = -(-args.score_rows // len(test))
        big_raw = pd.concat([raw.iloc[args.train_rows :]] * reps, ignore_index=True)
        big_raw = big_raw.iloc[: args.score_rows]
        parse_s = score_s = float("inf")
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            big = prepare(big_raw, model.mapping, need_label=False, extras=model.extras).frame
            t1 = time.perf_counter()
            model.score(big)
            t2 = time.perf_counter()
            parse_s, score_s = min(parse_s, t1 - t0), min(score_s, t2 - t1)

    out = {
        "train_rows": len(frame),
        "test_rows": len(test),
        "seed": args.seed,
        "train_s": round(train_s, 2),
        "baselines_train_s": round(baselines_s, 2),
        "trees": model.card["model"]["trees"],
        "backend": model.backend,
        "score_rows": len(big),
        "score_rows_per_s": round(len(big) / score_s),
        "score_rows_per_s_with_parsing": round(len(big) / (score_s + parse_s)),
        "fraud_rate_test": round(float(np.mean(y)), 4),
    }
    for key in (
        "precision_at_1pct",
        "precision_at_5pct",
        "recall_at_5pct",
        "revenue_at_5pct",
        "auc",
    ):
        out[key] = ours[key]
    for prefix, m in (
        ("baseline", theirs["plain_gbm"]),
        ("lr", theirs["logistic"]),
        ("ceiling", ceiling),
    ):
        for key in ("precision_at_1pct", "precision_at_5pct", "auc"):
            out[f"{prefix}_{key}"] = m[key]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
