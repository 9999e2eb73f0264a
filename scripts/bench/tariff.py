#!/usr/bin/env python3
"""Tariff classification benchmark: accuracy, speed and dialogue length on held-out text.

Runs the active model (or --model-dir) over the held-out descriptions
(`oracles/tariff/data/heldout.csv`, hand-written, never used for training or tuning) in
one thread, after one warm-up call.  The timed part is `TariffModel.predict` per
description (features, sparse scoring, ranking, explanation).  The dialogue is simulated
with a truthful user who knows the right subheading.

Prints one JSON line:
  n                        descriptions
  hs2_acc hs4_acc hs6_acc  top-1 accuracy at chapter, heading, subheading
  top5_hs2 top5_hs4 top5_hs6   right code among the first five
  p50_ms p95_ms            latency per description
  per_s                    descriptions per second, single thread
  dialogue_avg_questions   questions asked on average (truthful simulated user)
  dialogue_hs6_acc         HS6 top-1 after the dialogue
  load_ms                  time to load the model
  strata                   the same, per stratum (common goods / random subheadings)
"""

from __future__ import annotations

import _benchpath  # noqa: F401  (drops scripts/bench from sys.path)

import argparse
import csv
import json
import time
from pathlib import Path

from oracles.tariff.config import SHIPPED_MODEL_DIR
from oracles.tariff.evaluate import DEFAULT_HELDOUT, evaluate, read_rows
from oracles.tariff.model import TariffModel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_HELDOUT)
    ap.add_argument("--model-dir", type=Path, default=SHIPPED_MODEL_DIR)
    args = ap.parse_args()
    t0 = time.perf_counter()
    model = TariffModel.load(args.model_dir)
    load_ms = (time.perf_counter() - t0) * 1000
    rows, problems = read_rows(args.data)
    if problems:
        raise SystemExit("; ".join(problems[:5]))
    with open(args.data, encoding="utf-8-sig", newline="") as f:
        strata = [r.get("stratum") or "all" for r in csv.DictReader(f)]
    model.predict("warm-up", top=5)
    out = evaluate(model, rows, dialogue=True, strata=strata)
    out["load_ms"] = round(load_ms, 1)
    print(json.dumps(out, sort_keys=False))


if __name__ == "__main__":
    main()
