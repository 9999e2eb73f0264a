#!/usr/bin/env python3
"""Tariff classification benchmark: accuracy per held-out stratum, selectivity, speed.

Runs the shipped model (or --model-dir) over every held-out stratum — rows never used to
train, tune or pick thresholds:

  handwritten     oracles/tariff/data/heldout.csv (235 descriptions, the first model's set)
  rulings_*       the `test` part of data/rulings/ per source (real HMRC parcel lines,
                  brands, tariff search references)
  listings        the `test` part of data/eval/listings.csv (marketplace listings)
  zh_names        the `test` part of data/eval/zh_names.csv (Chinese product names; also
                  `zh_names_unseen`, the names that are not word for word in the training
                  phrases)
  parcel_lines    the `test` part of data/eval/parcel_lines.csv

Each stratum reports HS2/HS4/HS6 top-1 and top-5, accuracy when answering only the surest
50 % / 80 %, the coverage answerable at 90 % accuracy, the expected calibration error, and
the share the model answers (confidence at or above its calibrated "uncertain" threshold)
with the accuracy of those answers.  Latency is `TariffModel.predict` per description in
one thread after a warm-up, over every row.

Prints one JSON line: {"model_version", "load_ms", "p50_ms", "p95_ms", "per_s",
"strata": {name: {...}}}.
"""

from __future__ import annotations

import _benchpath  # noqa: F401  (drops scripts/bench from sys.path)

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from oracles.tariff.config import SHIPPED_MODEL_DIR
from oracles.tariff.corpus import contexts
from oracles.tariff.evaluate import DEFAULT_HELDOUT, Row, evaluate, read_rows
from oracles.tariff.model import TariffModel
from oracles.tariff.phrases import bank_phrases
from oracles.tariff.splits import eval_part, read_rulings, split
from oracles.tariff.train import EVAL_DIR


def strata() -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    out["handwritten"], _ = read_rows(DEFAULT_HELDOUT)
    known = contexts()
    for r in split(r for r in read_rulings() if r.hs6 in known)["test"]:
        out.setdefault(f"rulings_{r.source.removeprefix('uk_')}", []).append(Row(r.text, r.code))
    seen = {" ".join(p.text.lower().split()) for p in bank_phrases()}
    for name in ("listings", "zh_names", "parcel_lines"):
        rows, _ = read_rows(EVAL_DIR / f"{name}.csv")
        out[name] = [r for r in rows if eval_part(r.text) == "test"]
        if name == "zh_names":
            out["zh_names_unseen"] = [
                r for r in out[name] if " ".join(r.text.lower().split()) not in seen
            ]
    with open(EVAL_DIR / "zh_names.csv", encoding="utf-8", newline="") as f:
        script = {r["description"]: r["script"] for r in csv.DictReader(f)}
    out["zh_names_simplified"] = [r for r in out["zh_names"] if script.get(r.text) == "hans"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, default=SHIPPED_MODEL_DIR)
    args = ap.parse_args()
    t0 = time.perf_counter()
    model = TariffModel.load(args.model_dir)
    load_ms = (time.perf_counter() - t0) * 1000
    model.predict("warm-up", top=5)
    out: dict = {"model_version": model.version, "load_ms": round(load_ms, 1), "strata": {}}
    times: list[float] = []
    for name, rows in strata().items():
        r = evaluate(model, rows, dialogue=False)
        for k in ("model_version", "per_s", "p50_ms", "p95_ms"):
            r.pop(k, None)
        out["strata"][name] = r
        times.extend(_latencies(model, rows))
    arr = np.array(times)
    out["p50_ms"] = round(float(np.percentile(arr, 50)), 3)
    out["p95_ms"] = round(float(np.percentile(arr, 95)), 3)
    out["per_s"] = round(1000.0 * len(arr) / float(arr.sum()), 1)
    print(json.dumps(out, ensure_ascii=False))


def _latencies(model: TariffModel, rows: list[Row]) -> list[float]:
    out = []
    for row in rows:
        t = time.perf_counter()
        model.predict(row.text, top=5)
        out.append((time.perf_counter() - t) * 1000)
    return out


if __name__ == "__main__":
    main()
