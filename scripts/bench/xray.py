#!/usr/bin/env python3
"""X-ray benchmark: end-to-end scan speed at 512 x 512, quality on held-out synthetic and
real scans, and the scan gate on pictures that are not scans.

No chain, no node.  Prints one JSON line:
  image_size        side of the benchmark scans (512)
  images_per_s      scans judged per second, one at a time as the service does: PNG bytes ->
                    checks and decode -> scan gate -> letterbox -> onnxruntime -> threat boxes
  p50_ms, p95_ms    latency of one scan on the same path
  cpu_ms_per_image  processor time per scan on that path, all threads added up: what the
                    machine spends, whatever else runs on it (wall-clock figures are not)
  batch_images_per_s  the same with batches of --batch scans (the `xray evaluate` path)
  threads           onnxruntime intra-op threads
  alarm_rate        the false-alarm rate the model's thresholds are chosen for
  review_rate       the looser rate whose thresholds open the review band under them
  quality           on --quality-n scans of seed --seed + 1 (never used in training, whose
                    seeds are 1-3), in dual-energy colour and in single-energy grey: n,
                    positives, AUC, recall at 1 % and 5 % false alarms, ECE per class, and
                    the share refused as not a scan (`refused`, should be 0), and the
                    verdicts (`threat` / `uncertain` / `clear` shares) of the scans that
                    carry nothing (`clean`: threat = false alarms, uncertain = extra looks
                    at the image) and of those that carry something (`carrying`: clear =
                    not even looked at)
  real              with --real DIR (a GDXray-style folder): the held-out test split of
                    `oracles.xray.real` (never used for training or thresholds), same figures,
                    and `strata`: verdict counts per object kind and GDXray series
                    ("handgun B0049": guns alone, "handgun B0079": guns in bags, ...;
                    `alarmed_right`: alarms raised by a class the scan carries)
  not_scans         --nonscan-n pictures that are not scans (`oracles.xray.nonscan`, a seed
                    never used in training, no photographs): share refused, threats raised,
                    and pictures judged `uncertain` (an officer would look at them)
  model_version     the model measured
"""

import _benchpath  # noqa: F401

import argparse
import io
import json
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from oracles.xray import dataset, metrics, nonscan, real, synth
from oracles.xray.image import load_image
from oracles.xray.model import SHIPPED_DIR, XrayModel

RATES = (0.01, 0.05)


def judged(
    model: XrayModel, images: list[Image.Image], y: np.ndarray, strata: list[str] | None = None
) -> dict:
    """Figures over `images` as the service judges them (gate first; refused = no alarm);
    with `strata` (one name per image) also the verdict counts of each stratum."""
    dets = [d for i in range(0, len(images), 32) for d in model.detect_many(images[i : i + 32])]
    scores = [[d.scores.get(c, 0.0) for c in model.classes] for d in dets]
    verdicts = [d.verdict for d in dets]
    rep = metrics.report(np.array(scores), y, model.classes, rates=RATES)
    refused = verdicts.count("not_a_scan")
    out = {
        **rep,
        "refused": round(refused / len(images), 4),
        "verdicts": metrics.verdict_shares(verdicts, y),
    }
    if strata is not None:
        out["strata"] = dataset.strata(
            [
                dataset.Judged.of(
                    str(k),
                    strata[k],
                    {c for c, v in zip(model.classes, y[k], strict=True) if v > 0},
                    d,
                )
                for k, d in enumerate(dets)
            ]
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="scans timed")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=20251125)
    ap.add_argument("--quality-n", type=int, default=1000)
    ap.add_argument("--nonscan-n", type=int, default=500)
    ap.add_argument("--real", type=Path, default=None, help="real crops folder (labels.csv)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=str(SHIPPED_DIR))
    args = ap.parse_args()
    if args.n < 1 or args.quality_n < 0:
        raise SystemExit("--n must be at least 1 and --quality-n at least 0")

    model = XrayModel(args.model, threads=args.threads)
    blobs = []
    for i in range(args.n):
        buf = io.BytesIO()
        Image.fromarray(synth.scan(args.seed, i, size=args.size).image).save(
            buf, "PNG", compress_level=3
        )
        blobs.append(buf.getvalue())
    for b in blobs[:5]:  # warm-up
        model.detect(load_image(b).image)

    lat = []
    c0 = time.process_time()
    t0 = time.perf_counter()
    for b in blobs:
        t = time.perf_counter()
        model.detect(load_image(b).image)
        lat.append((time.perf_counter() - t) * 1e3)
    single_s = time.perf_counter() - t0
    cpu_ms = (time.process_time() - c0) * 1e3 / len(blobs)

    t0 = time.perf_counter()
    for i in range(0, len(blobs), args.batch):
        model.detect_many([load_image(b).image for b in blobs[i : i + args.batch]])
    batch_s = time.perf_counter() - t0

    quality = None
    if args.quality_n:
        quality = {"seed": args.seed + 1}
        for display in ("colour", "grey"):
            scans = [
                synth.scan(args.seed + 1, i, size=args.size, display=display)
                for i in range(args.quality_n)
            ]
            quality[display] = judged(
                model,
                [Image.fromarray(s.image) for s in scans],
                np.stack([s.labels for s in scans]),
            )

    real_figures = None
    if args.real is not None:
        test = real.split(real.read_real(args.real, model.classes))["test"]
        real_figures = {
            "split": "test (last 20 % of each series by image number)",
            **judged(
                model,
                [load_image(im.path.read_bytes()).image for im in test],
                np.stack([im.labels for im in test]),
                [f"{im.object or im.path.parent.name} {im.series}" for im in test],
            ),
        }

    not_scans = None
    if args.nonscan_n:
        pics = [nonscan.picture(args.seed + 2, i) for i in range(args.nonscan_n)]
        dets = [d for i in range(0, len(pics), 32) for d in model.detect_many(pics[i : i + 32])]
        not_scans = {
            "n": len(dets),
            "refused": round(sum(d.verdict == "not_a_scan" for d in dets) / len(dets), 4),
            "threats": sum(len(d.threats) for d in dets),
            "threat_verdicts": sum(d.verdict == "threat" for d in dets),
            "uncertain": sum(d.verdict == "uncertain" for d in dets),
        }

    print(
        json.dumps(
            {
                "image_size": args.size,
                "images_per_s": round(args.n / single_s, 1),
                "p50_ms": round(statistics.median(lat), 2),
                "p95_ms": round(float(np.percentile(lat, 95)), 2),
                "cpu_ms_per_image": round(cpu_ms, 2),
                "batch_images_per_s": round(args.n / batch_s, 1),
                "threads": args.threads,
                "model_version": model.version_id,
                "alarm_rate": model.alarm_rate,
                "review_rate": model.review_rate,
                "quality": quality,
                "real": real_figures,
                "not_scans": not_scans,
            }
        )
    )


if __name__ == "__main__":
    main()
