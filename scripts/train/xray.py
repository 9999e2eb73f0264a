#!/usr/bin/env python3
"""Train the X-ray threat model from synthetic scans, export it to ONNX and record it.

    .venv/bin/python scripts/train/xray.py                # the shipped model (15-30 min)
    .venv/bin/python scripts/train/xray.py --n-train 400 --epochs 1 --out /tmp/xray-smoke

Needs the `train` extra (pip install '.[train]': torch==2.13.0, CPU).  Steps:

1. render the training set (seed --seed), a validation set (seed + 1) and a test set
   (seed + 2) with `oracles.xray.synth`, letterboxed as inference does;
2. train `oracles.xray.train` (best epoch by mean validation AUC);
3. export to ONNX and check onnxruntime against torch (max difference <= 1e-4);
4. set alert thresholds per class on the validation set (false alarms <= --alarm-rate);
5. measure the test set with onnxruntime (AUC, recall at 5 % false alarms) and write
   `manifest.json` (file name, sha256, classes, thresholds, metrics, reference outputs).

The model card (`MODEL_CARD.md`) is written by hand from the manifest's figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from oracles.xray import metrics, train
from oracles.xray.preprocess import INPUT_SIZE, STRIDE

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "oracles" / "xray" / "model")
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n-train", type=int, default=7000)
    ap.add_argument("--n-val", type=int, default=1000)
    ap.add_argument("--n-test", type=int, default=1500)
    ap.add_argument("--epochs", type=int, default=16)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument(
        "--alarm-rate",
        type=float,
        default=0.02,
        help="false-alarm rate per class the alert thresholds are set at",
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="keep rendered sets here (.npz) and reuse them on the next run",
    )
    args = ap.parse_args()
    log = train.stderr_log
    torch = train.require_torch()
    t0 = time.time()

    data = train.render_set(args.seed, args.n_train, args.workers, log, cache=args.cache)
    val = train.render_set(args.seed + 1, args.n_val, args.workers, log, cache=args.cache)
    t_train = time.time()
    net = train.train(
        data, val, epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed, log=log
    )
    train_s = time.time() - t_train

    onnx_file = args.out / "xray.onnx"
    diff = train.export_onnx(net, onnx_file, val[0][:64])
    log(
        f"exported {onnx_file} ({onnx_file.stat().st_size / 1e6:.2f} MB); ONNX vs torch "
        f"max difference {diff:.2e}"
    )
    val_scores = train.onnx_scores(onnx_file, val[0])
    thresholds = train.thresholds(val_scores, val[1], args.alarm_rate)
    del data
    test = train.render_set(args.seed + 2, args.n_test, args.workers, log, cache=args.cache)
    test_scores = train.onnx_scores(onnx_file, test[0])
    test_report = metrics.report(test_scores, test[1], train.CLASSES)
    at_threshold = {
        c: {
            "recall": round(float((test_scores[test[1][:, i] > 0, i] > thresholds[c]).mean()), 4),
            "false_alarm": round(
                float((test_scores[test[1][:, i] == 0, i] > thresholds[c]).mean()), 4
            ),
        }
        for i, c in enumerate(train.CLASSES)
    }
    manifest = {
        "name": "xray",
        "version": args.version,
        "file": onnx_file.name,
        "sha256": train.sha256_file(onnx_file),
        "bytes": onnx_file.stat().st_size,
        "classes": list(train.CLASSES),
        "input_size": INPUT_SIZE,
        "stride": STRIDE,
        "thresholds": thresholds,
        "threshold_rule": f"validation false alarms <= {args.alarm_rate:.0%} per class",
        "reference": {
            "input": "oracles.xray.preprocess.reference_input",
            "scores": train.reference_outputs(onnx_file),
        },
        "training": {
            "generator": "oracles.xray.synth",
            "seed": args.seed,
            "n_train": args.n_train,
            "n_val": args.n_val,
            "epochs": args.epochs,
            "batch": args.batch,
            "lr": args.lr,
            "train_seconds": round(train_s),
            "total_seconds": round(time.time() - t0),
            "torch": torch.__version__,
            "export_max_diff": diff,
        },
        "test": {"seed": args.seed + 2, **test_report, "at_threshold": at_threshold},
    }
    train.write_manifest(args.out, manifest)
    log(json.dumps(manifest["test"]))
    log(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
