"""Real X-ray crops for training and measuring: a labelled folder, grouped and split.

The folder is laid out like any `xray evaluate` data set (`labels.csv` with `image,classes`,
optionally `object`); for GDXray material (`/work/shared/data/xray/gdxray`, see its
SOURCES.md) the file names carry the series and image number (`B0049_0012.jpg`), and
augmented copies of an image carry a one-letter prefix (`AB0051_0007.jpg`, `LB...`, `UB...`).

Why groups: an original and its augmented copies are nearly the same picture, and images
next to each other in a series show the same object turned a little.  A split that puts
one copy in training and another in the test measures memory, not recognition.  So every
image belongs to the group (series, number); byte-identical files listed twice (GDXray's
`razor_blade` and `razor_blade_isolated` share their originals) are read once; and each
series is split by image number in contiguous ranges: the first 70 % for training, the
next 10 % for calibration (alert thresholds, score calibration, choice of epoch), the last
20 % for the test whose figures are reported -- never used for any choice.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from oracles.xray.dataset import LABELS, read_labels
from oracles.xray.errors import XrayError
from oracles.xray.image import load_image

SPLITS = ("train", "calibration", "test")
FRACTIONS = (0.7, 0.1, 0.2)
_NAME = re.compile(r"^(?P<aug>[A-Z])?(?P<series>[A-Z]\d{4})_(?P<number>\d+)$")


@dataclass(frozen=True)
class RealImage:
    path: Path
    labels: np.ndarray  # (C,) float32, 1 where the class is present
    object: str  # the source's own category (handgun, shuriken, ..., background)
    series: str  # "B0049", or the file's folder when the name carries no series
    number: int  # image number within the series (group key with `series`)
    augmented: bool  # an augmented copy of image (series, number)

    @property
    def group(self) -> tuple[str, int]:
        return (self.series, self.number)


def read_real(folder: Path, classes: tuple[str, ...]) -> list[RealImage]:
    """The labelled images of `folder`, each once (byte-identical duplicates dropped)."""
    folder = Path(folder)
    rows = read_labels(folder, classes)
    objects = _objects(folder)
    seen: set[str] = set()
    out = []
    for k, (name, found) in enumerate(rows):
        path = folder / name
        if not path.is_file():
            raise XrayError("bad_dataset", f"{path} is listed in {folder / LABELS} but missing")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        m = _NAME.match(path.stem)
        series, number = (m["series"], int(m["number"])) if m else (path.parent.name, k)
        out.append(
            RealImage(
                path,
                np.array([c in found for c in classes], np.float32),
                objects.get(name, ""),
                series,
                number,
                bool(m and m["aug"]),
            )
        )
    return out


def _objects(folder: Path) -> dict[str, str]:
    with open(folder / LABELS, newline="", encoding="utf-8-sig") as f:
        return {
            (r["image"] or "").strip(): (r.get("object") or "").strip() for r in csv.DictReader(f)
        }


def split(images: list[RealImage]) -> dict[str, list[RealImage]]:
    """{"train", "calibration", "test"}: per series, by image number in contiguous ranges.

    A series' image numbers are sorted and cut at 70 % and 80 %; every image of a group
    (an original and its augmented copies) falls where its number does.  A series of one
    object class (GDXray's are) is thereby split the same way for every class.
    """
    by_series: dict[str, list[int]] = {}
    for im in images:
        by_series.setdefault(im.series, []).append(im.number)
    where: dict[tuple[str, int], str] = {}
    for series, numbers in by_series.items():
        uniq = sorted(set(numbers))
        cut1 = round(len(uniq) * FRACTIONS[0])
        cut2 = round(len(uniq) * (FRACTIONS[0] + FRACTIONS[1]))
        for i, n in enumerate(uniq):
            where[(series, n)] = SPLITS[0] if i < cut1 else SPLITS[1] if i < cut2 else SPLITS[2]
    out: dict[str, list[RealImage]] = {s: [] for s in SPLITS}
    for im in images:
        out[where[im.group]].append(im)
    return out


def load_grey(im: RealImage, max_side: int = 512) -> np.ndarray:
    """The image as (H, W) uint8 grey, the longer side at most `max_side` (training copies)."""
    img = load_image(im.path.read_bytes()).image.convert("L")
    w, h = img.size
    if max(w, h) > max_side:
        s = max_side / max(w, h)
        img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BILINEAR)
    return np.asarray(img, np.uint8)


def summary(parts: dict[str, list[RealImage]], classes: tuple[str, ...]) -> dict[str, dict]:
    """Images, groups and positives per class in each split (recorded in the manifest)."""
    return {
        name: {
            "images": len(items),
            "groups": len({im.group for im in items}),
            "series": sorted({im.series for im in items}),
            "positives": {
                c: int(sum(im.labels[i] for im in items))
                for i, c in enumerate(classes)
                if any(im.labels[i] for im in items)
            },
            "objects": {
                o: sum(im.object == o for im in items) for o in sorted({im.object for im in items})
            },
        }
        for name, items in parts.items()
    }
