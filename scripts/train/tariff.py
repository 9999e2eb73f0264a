#!/usr/bin/env python3
"""Rebuild the shipped tariff model (or a version with your rulings) outside the CLI.

    python scripts/train/tariff.py                       # rewrite oracles/tariff/model/
    python scripts/train/tariff.py --out /tmp/m --data rulings.csv --text-col desc

Same steps as `smartcustoms classify train` (see oracles/tariff/train.py): the shipped
data (nomenclature, phrase bank, Taiwan's schedule in Chinese, the training part of the
real rulings in data/rulings/) plus your file.  The network needs PyTorch
(`pip install '.[train]'`); about 15-30 minutes on 2 cores.  Keeps MODEL_CARD.md and prints
the model's metadata as one JSON line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from oracles.tariff.config import SHIPPED_MODEL_DIR
from oracles.tariff.evaluate import read_rows
from oracles.tariff.splits import Ruling
from oracles.tariff.train import TrainConfig, train_and_save


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=SHIPPED_MODEL_DIR)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--text-col", default="description")
    ap.add_argument("--label-col", default="hs_code")
    ap.add_argument("--seed", type=int, default=TrainConfig.seed)
    ap.add_argument("--retrieval-only", action="store_true", help="no network (no PyTorch)")
    args = ap.parse_args()
    rulings: list[Ruling] = []
    if args.data is not None:
        rows, problems = read_rows(args.data, args.text_col, args.label_col)
        for p in problems[:20]:
            print(f"skipped: {p}")
        rulings = [Ruling(r.text, r.label, "user") for r in rows]
    config = TrainConfig(seed=args.seed, network=not args.retrieval_only)
    model = train_and_save(args.out, rulings, config)
    print(json.dumps({"version": model.version, "out": str(args.out), **model.meta}))


if __name__ == "__main__":
    main()
