"""Folders of labelled scans: written by `xray synth`, measured by `xray evaluate`.

A data set is a folder of images plus `labels.csv` with a header and at least the columns
`image` (file name, relative to the folder) and `classes` (threat classes present, separated
by `;`, `|` or spaces; empty for a clean scan).  `xray synth` adds a `boxes` column (JSON list
of {"class", "box"}) that evaluation ignores.

Folders as they come are read too: without `labels.csv`, every image under a sub-folder
named after what it holds -- `firearm/`, `knife/`, `clear/`, or the usual names of public
sets (`handgun`, `gun`, `pistol`, `shuriken`, `razor_blade`, `blade`, `background`,
`benign`...) -- is labelled by that folder.  Greyscale single-energy images need no
conversion.  Class names in `labels.csv` may use the same synonyms.
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
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")
# names public sets use for what the oracle calls firearm / knife / nothing
SYNONYMS = {
    **dict.fromkeys(("handgun", "handguns", "gun", "guns", "pistol", "revolver"), "firearm"),
    **dict.fromkeys(
        ("knives", "blade", "blades", "shuriken", "razor_blade", "razor", "razorblade"), "knife"
    ),
    **dict.fromkeys(("clear", "clean", "background", "benign", "none", "negative"), ""),
}


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


def _classes(text: str) -> set[str]:
    found = {c for c in re.split(r"[;|,\s]+", (text or "").strip().lower()) if c}
    return {SYNONYMS.get(c, c) for c in found} - {""}


def read_labels(folder: Path, classes: tuple[str, ...]) -> list[tuple[str, set[str]]]:
    """(image path relative to `folder`, classes present) for every image of the set."""
    path = folder / LABELS
    if not path.is_file():
        return _from_folders(folder, classes)
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
            found = _classes(r["classes"])
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


def _from_folders(folder: Path, classes: tuple[str, ...]) -> list[tuple[str, set[str]]]:
    """Labels from sub-folder names, for a folder without labels.csv."""
    if not folder.is_dir():
        raise XrayError("bad_dataset", f"{folder} is not a folder")
    rows, skipped = [], set()
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() not in IMAGE_SUFFIXES or not p.is_file():
            continue
        rel = p.relative_to(folder)
        if len(rel.parts) < 2:
            skipped.add(".")
            continue
        name = rel.parts[0].lower()
        cls = SYNONYMS.get(name, name)
        if cls and cls not in classes:
            skipped.add(rel.parts[0])
            continue
        rows.append((str(rel), {cls} if cls else set()))
    if not rows:
        raise XrayError(
            "bad_dataset",
            f"{folder / LABELS} does not exist and no sub-folder is named after a class: "
            f"add a {LABELS} with columns image,classes, or put images in sub-folders named "
            f"{', '.join(classes)} or clear"
            + (f" (found {', '.join(sorted(skipped))})" if skipped else ""),
        )
    return rows


def evaluate(
    model: XrayModel,
    folder: Path,
    limits: ImageLimits = ImageLimits(),
    batch: int = 32,
    rates: tuple[float, ...] = (0.01, 0.05),
) -> dict[str, Any]:
    """Per class: AUC, recall at each false-alarm rate of `rates`, expected calibration
    error, and recall / false alarms at the model's own alert thresholds.

    Images that cannot be read are listed under "errors" and left out of the figures.  An
    image the scan gate refuses is listed under "not_a_scan" and counted in the figures as
    what the officer gets from it: no alarm (every score 0).
    """
    rows = read_labels(folder, model.classes)
    scores, labels, errors, refused = [], [], [], []
    t0 = time.perf_counter()
    pending: list[tuple[Image.Image, set[str], str]] = []

    def flush() -> None:
        for det, (_, found, name) in zip(
            model.detect_many([p[0] for p in pending]), pending, strict=True
        ):
            if det.verdict == "not_a_scan":
                refused.append({"image": name, "classes": sorted(found), "detail": det.not_a_scan})
            scores.append([det.scores.get(c, 0.0) for c in model.classes])
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
            pending.append((load_image(data, limits).image, found, name))
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
    s, y = np.array(scores), np.array(labels, dtype=np.float32)
    out = metrics.report(s, y, model.classes, rates=rates)
    out["at_threshold"] = {
        c: {
            "threshold": model.thresholds[c],
            "recall": round(float((s[y[:, i] > 0, i] >= model.thresholds[c]).mean()), 4)
            if (y[:, i] > 0).any()
            else None,
            "false_alarm": round(float((s[y[:, i] == 0, i] >= model.thresholds[c]).mean()), 4)
            if (y[:, i] == 0).any()
            else None,
        }
        for i, c in enumerate(model.classes)
    }
    out.update(
        {
            "model_version": model.version_id,
            "alarm_rate": model.alarm_rate,
            "not_a_scan": refused,
            "errors": errors,
            "images_per_s": round(len(scores) / seconds, 1),
        }
    )
    return out
