#!/usr/bin/env python3
"""Transport rules benchmark: the full rule pipeline over synthetic trips along the corridors.

Each trip drives one of the example corridors (data/zones/) at ~80 km/h with 1 s fixes and a
few metres of GPS noise, seal closed, evaluated in batches as ingestion would hand them over.
Projection, zone lookup, corridor distance and every rule are included.  Prints one JSON line:
  rule_points_per_s  points evaluated per second (best of --rounds)
  points             points per round
  trips              trips per round
  batch              points per batch
  alerts             alerts raised in the last round (only `arrived` on these clean tracks)
"""

from __future__ import annotations

import _benchpath  # noqa: F401  (drops scripts/bench from sys.path)

import argparse
import json
import time

import numpy as np

from offchain.geo import default_index
from offchain.transport_rules import RulePipeline, SealState, TripContext


def synthetic_trips(trips: int, points: int, seed: int = 7) -> list[tuple[TripContext, tuple]]:
    geo = default_index()
    rng = np.random.default_rng(seed)
    corridors = list(geo.corridors.values())
    out = []
    for k in range(trips):
        c = corridors[k % len(corridors)]
        start = rng.uniform(0.0, 0.5)
        frac = start + np.arange(points) * (22.0 / c.line.length)  # ~22 m per 1 s fix
        lons, lats = c.points_along(np.clip(frac, 0.0, 1.0))
        lons = lons + rng.normal(0, 3e-5, points)  # ~3 m of noise
        lats = lats + rng.normal(0, 3e-5, points)
        ts = 1_760_000_000.0 + np.arange(points, dtype=np.float64)
        speed = np.full(points, 80.0)
        seal = np.full(points, int(SealState.CLOSED))
        ctx = TripContext(f"T{k:05d}", c.id, c.from_zone, c.to_zone, deadline=ts[-1] + 86_400)
        out.append((ctx, (ts, lats, lons, speed, seal)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trips", type=int, default=100)
    ap.add_argument("--points", type=int, default=5_000, help="points per trip")
    ap.add_argument("--batch", type=int, default=1_000, help="points per batch")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if min(args.trips, args.points, args.batch, args.rounds) < 1:
        raise SystemExit("--trips, --points, --batch and --rounds must be at least 1")

    pipeline = RulePipeline()
    best, alerts = float("inf"), 0
    for _ in range(args.rounds):
        work = synthetic_trips(args.trips, args.points)
        alerts = 0
        t0 = time.perf_counter()
        for ctx, (ts, lat, lon, speed, seal) in work:
            for i in range(0, args.points, args.batch):
                j = i + args.batch
                alerts += len(
                    pipeline.evaluate(ctx, ts[i:j], lat[i:j], lon[i:j], speed[i:j], seal[i:j])
                )
        best = min(best, time.perf_counter() - t0)
    total = args.trips * args.points
    print(
        json.dumps(
            {
                "rule_points_per_s": round(total / best),
                "points": total,
                "trips": args.trips,
                "batch": args.batch,
                "alerts": alerts,
            }
        )
    )


if __name__ == "__main__":
    main()
