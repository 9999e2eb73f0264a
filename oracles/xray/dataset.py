"""Folders of labelled scans: written by `xray synth`, measured by `xray evaluate`.

A data set is a folder of images plus `labels.csv` with a header and at least the columns
`image` (file name, relative to the folder) and `classes` (threat classes present, separated
by `;`, `|` or spaces; empty for a clean scan).  `xray synth` adds a `boxes` column (JSON list
of {"class", "box"}) that evaluation ignores.
"""

from __future__ import annotations

import csv
import json
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from oracles.xray import metrics, synth
from oracles.xray.errors import XrayError
from oracles.xray.image import ImageLimits, load_image
from oracles.xray.model import XrayModel

LABELS = "labels.csv"


def _write_one(args: tuple[Path, int, int, int]) -> dict[str, Any]:
    out, seed, index, size = args
    s = synth.scan(seed, index, size=size)
    name = f"scan-{seed}-{index:06d}.png"
    Image.fromarray(s.image).save(out / name, compress_level=3)
    return {"image": name, "classes": ";".join(s.classes), "boxes": json.dumps(s.boxes)}


def write_synthetic(
    out: Path, n: int, seed: int, size: int = synth.DEFAULT_SIZE, workers: int = 1
) -> dict[str, Any]:
    """Render scans 0..n-1 of `seed` into `out` as PNG files with labels.csv."""
    if n < 1:
        raise XrayError("bad_request", "--n must be at least 1")
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(out, seed, i, size) for i in range(n)]
    t0 = time.time()
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            rows = list(pool.map(_write_one, jobs, chunksize=16))
    else:
        rows = [_write_one(j) for j in jobs]
    with open(out / LABELS, "w", newline="") as f:
        w = csv.DictWriter(f, ["image", "classes", "boxes"])
        w.writeheader()
        w.writerows(rows)
    counts = {c: sum(c in r["classes"].split(";") for r in rows) for c in synth.CLASSES}
    return {
        "out": str(out),
        "n": n,
        "seed": seed,
        "size": size,
        "positives": counts,
        "seconds": round(time.time() - t0, 1),
    }


def read_labels(folder: Path, classes: tuple[str, ...]) -> list[tuple[str, set[str]]]:
    path = folder / LABELS
    if not path.is_file():
        raise XrayError(
            "bad_dataset",
            f"{path} does not exist: a data set folder needs a {LABELS} with columns image,classes",
        )
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"image", "classes"} <= set(reader.fieldnames):
            raise XrayError(
                "bad_dataset",
                f"{path} needs a header with the columns image and "
                f"classes (found {reader.fieldnames})",
            )
        rows = []
        for line, r in enumerate(reader, start=2):
            found = {c for c in re.split(r"[;|,\s]+", (r["classes"] or "").strip().lower()) if c}
            unknown = found - set(classes)
            if unknown:
                raise XrayError(
                    "bad_dataset",
                    f"{path} line {line}: unknown class "
                    f"{', '.join(sorted(unknown))}; the model knows "
                    f"{', '.join(classes)}",
                )
            rows.append(((r["image"] or "").strip(), found))
    if not rows:
        raise XrayError("bad_dataset", f"{path} lists no images")
    return rows


def evaluate(
    model: XrayModel,
    folder: Path,
    limits: ImageLimits = ImageLimits(),
    batch: int = 32,
    rate: float = 0.05,
) -> dict[str, Any]:
    """AUC and recall at `rate` false alarms per class over a labelled folder.

    Images that cannot be read are listed under "errors" and left out of the figures.
    """
    rows = read_labels(folder, model.classes)
    scores, labels, errors = [], [], []
    t0 = time.perf_counter()
    pending: list[tuple[Image.Image, set[str]]] = []

    def flush() -> None:
        for det, (_, found) in zip(
            model.detect_many([p[0] for p in pending]), pending, strict=True
        ):
            scores.append([det.scores[c] for c in model.classes])
            labels.append([c in found for c in model.classes])
        pending.clear()

    root = folder.resolve()
    for name, found in rows:
        path = (folder / name).resolve()
        if not path.is_relative_to(root):
            errors.append(
                {
                    "image": name,
                    "error": "outside_dataset",
                    "detail": "the path leaves the data set folder",
                }
            )
            continue
        try:
            data = path.read_bytes()
            pending.append((load_image(data, limits).image, found))
        except FileNotFoundError:
            errors.append({"image": name, "error": "missing", "detail": f"{path} does not exist"})
            continue
        except XrayError as exc:
            errors.append({"image": name, "error": exc.code, "detail": exc.detail})
            continue
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    seconds = time.perf_counter() - t0
    if not scores:
        raise XrayError("bad_dataset", f"no image of {folder} could be read ({len(errors)} errors)")
    out = metrics.report(np.array(scores), np.array(labels, dtype=np.float32), model.classes, rate)
    out.update(
        {
            "model_version": model.version_id,
            "errors": errors,
            "images_per_s": round(len(scores) / seconds, 1),
        }
    )
    return out
