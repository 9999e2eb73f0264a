#!/usr/bin/env python3
"""X-ray benchmark: end-to-end scan speed at 512 x 512 and quality on held-out synthetic scans.

No chain, no node.  Prints one JSON line:
  image_size        side of the benchmark scans (512)
  images_per_s      scans judged per second, one at a time as the service does: PNG bytes ->
                    checks and decode -> letterbox -> onnxruntime -> threat boxes
  p50_ms, p95_ms    latency of one scan on the same path
  batch_images_per_s  the same with batches of --batch scans (the `xray evaluate` path)
  threads           onnxruntime intra-op threads
  quality           on --quality-n scans of seed --seed + 1 (never used in training, whose
                    seeds are 1-3): n, positives, auc and recall_at_5pct_false_alarm per class
  model_version     the model measured
"""

import _benchpath  # noqa: F401

import argparse
import io
import json
import statistics
import time

import numpy as np
from PIL import Image

from oracles.xray import metrics, synth
from oracles.xray.image import load_image
from oracles.xray.model import SHIPPED_DIR, XrayModel
from oracles.xray.preprocess import letterbox, to_input


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="scans timed")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=20251125)
    ap.add_argument("--quality-n", type=int, default=1000)
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
    t0 = time.perf_counter()
    for b in blobs:
        t = time.perf_counter()
        model.detect(load_image(b).image)
        lat.append((time.perf_counter() - t) * 1e3)
    single_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for i in range(0, len(blobs), args.batch):
        model.detect_many([load_image(b).image for b in blobs[i : i + args.batch]])
    batch_s = time.perf_counter() - t0

    quality = None
    if args.quality_n:
        xs, ys = [], []
        for i in range(args.quality_n):
            s = synth.scan(args.seed + 1, i, size=args.size)
            xs.append(letterbox(s.image)[0])
            ys.append(s.labels)
        x, y = np.stack(xs), np.stack(ys)
        scores = np.concatenate(
            [model.infer(to_input(x[i : i + 64]))[0] for i in range(0, len(x), 64)]
        )
        quality = {"seed": args.seed + 1, **metrics.report(scores, y, model.classes)}

    print(
        json.dumps(
            {
                "image_size": args.size,
                "images_per_s": round(args.n / single_s, 1),
                "p50_ms": round(statistics.median(lat), 2),
                "p95_ms": round(float(np.percentile(lat, 95)), 2),
                "batch_images_per_s": round(args.n / batch_s, 1),
                "threads": args.threads,
                "model_version": model.version_id,
                "quality": quality,
            }
        )
    )


if __name__ == "__main__":
    main()
