#!/usr/bin/env python3
"""Selectivity benchmark: route synthetic declarations through a rule file.

Pure Python, single thread, no chain.  The traffic is synthetic but shaped like an import
flow: mostly general goods, some animal and plant products under quarantine, dangerous goods,
apparel and phones (sometimes undervalued), a few arms, permits and documents that sometimes
fail, oracle scores on every declaration, 15% of declarations from AEO importers.  Inputs are
built before the clock starts; the timed part is `Selectivity.run` (selection and statistics).

Prints one JSON line:
  declarations        declarations routed
  rules               rules in the file (active on the declarations' date)
  items               items per declaration
  declarations_per_s  routed per second, single thread
  channel_counts      {"C1", "C2", "C3"} of the engine's choices
  random_selected     of which chosen by random sampling
  audit_candidates    BLUE flags
  warnings            lanes over their target rate (synthetic traffic: expect none or few)
"""

from __future__ import annotations

import _benchpath  # noqa: F401  (drops scripts/bench from sys.path)

import argparse
import datetime as dt
import json
import random
import time

from oracles.clearance.selectivity import (
    EXAMPLE_RULES,
    RiskInput,
    RiskItem,
    Selectivity,
    load_rules,
)

DAY = dt.date(2026, 3, 2)
# A declaration is mostly of one kind of goods: (weight, HS codes, regulation codes,
# unit value range, quantities).  Any item is general goods with probability 0.3.
GOODS = [
    (72, ["847130", "850440", "851762", "870323", "940360", "392690", "731815", "401110",
          "482010", "950300", "300490", "902781", "841810"], (), (20, 2_000), (1, 5, 20, 100)),
    (1, ["020130", "020230"], ("IMP_PERMIT", "QUARANTINE", "FOOD_SAFETY"), (80, 400),
     (100, 500, 2000)),
    (1, ["030389", "040210"], ("QUARANTINE", "FOOD_SAFETY"), (50, 300), (100, 500, 2000)),
    (1, ["070310", "080310", "100199"], ("QUARANTINE", "FOOD_SAFETY"), (10, 80), (500, 2000)),
    (1, ["850760", "850650"], ("DANGEROUS_GOODS",), (200, 3_000), (10, 100)),
    (1, ["271019", "381400"], (), (20, 300), (10, 100)),
    (12, ["610910", "620342", "640399"], (), (20, 400), (100, 500, 2000)),
    (5, ["851713"], (), (500, 20_000), (5, 20, 100)),
    (4, ["170490", "190590", "210690"], ("FOOD_SAFETY",), (50, 500), (10, 100, 400)),
    (1, ["160100", "160250"], ("FOOD_SAFETY",), (50, 500), (10, 100, 400)),
]  # fmt: skip
WEIGHTS = [g[0] for g in GOODS]
AEO = ["TW12345678", "TW23456789", "SG200012345K", "NZ9429041234567"]
COUNTRIES = ["CN", "JP", "US", "DE", "VN", "TH", "KR", "AU", "NZ", "SG", "MY", "XA", "XC"]


def synthetic(n: int, items: int, rng: random.Random) -> list[RiskInput]:
    out = []
    for i in range(n):
        kind = rng.choices(GOODS, WEIGHTS)[0]
        lines = []
        for _ in range(items):
            _, codes, regs, (lo, hi), qtys = kind if rng.random() > 0.3 else GOODS[0]
            qty = rng.choice(qtys)
            unit = rng.uniform(lo, hi)
            lines.append(
                RiskItem(rng.choice(codes), round(unit * qty, 2), qty, regulations=frozenset(regs))
            )
        r = rng.random()
        importer = (
            rng.choice(AEO)
            if r < 0.15
            else "TW66600001"
            if r < 0.151
            else f"TW{rng.randrange(10**8):08d}"
        )
        origin = rng.choice(COUNTRIES)
        out.append(
            RiskInput(
                declaration_id=f"BENCH-{i:08d}",
                importer=importer,
                declarant=f"BRK-{rng.randrange(9000, 10_000) if rng.random() < 0.01 else rng.randrange(1000, 9000)}",
                origin=origin,
                departure=origin if rng.random() < 0.9 else rng.choice(COUNTRIES),
                items=tuple(lines),
                date=DAY,
                permit_ok=None if rng.random() < 0.9 else rng.random() > 0.05,
                documents_ok=rng.random() > 0.01,
                importer_history=rng.choice((0, 1, 5, 40, 300)) if rng.random() < 0.2 else 500,
                tariff_mismatch=rng.random() < 0.04,
                tariff_duty_gap=rng.choice((0.0, 800.0, 12_000.0)),
                audit_score=rng.betavariate(2, 8),
                xray_threat=rng.random() < 0.002,
                xray_score=rng.betavariate(2, 10),
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", default=str(EXAMPLE_RULES), help="rule file (TOML or YAML)")
    ap.add_argument("--declarations", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3, help="best of this many timed runs")
    ap.add_argument("--rng-seed", type=int, default=7)
    args = ap.parse_args()
    if args.declarations < 1 or args.items < 1 or args.rounds < 1:
        raise SystemExit("--declarations, --items and --rounds must be at least 1")

    rules = load_rules(args.rules)
    engine = Selectivity(rules, b"bench-selection-seed-not-a-secret")
    inputs = synthetic(args.declarations, args.items, random.Random(args.rng_seed))
    best = float("inf")
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        _, stats = engine.run(inputs)
        best = min(best, time.perf_counter() - t0)

    print(
        json.dumps(
            {
                "declarations": args.declarations,
                "rules": len(rules.active(DAY)),
                "items": args.items,
                "declarations_per_s": round(args.declarations / best),
                "channel_counts": dict(sorted(stats.channels.items())),
                "random_selected": sum(stats.random.values()),
                "audit_candidates": stats.audit_candidates,
                "warnings": stats.warnings(),
            }
        )
    )


if __name__ == "__main__":
    main()
