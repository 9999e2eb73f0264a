"""Folders of labelled scans: written by `xray synth`, measured by `xray evaluate`.

A data set is a folder of images plus `labels.csv` with a header and at least the columns
`image` (file name, relative to the folder) and `classes` (threat classes present, separated
by `;`, `|` or spaces; empty for a clean scan).  `xray synth` adds a `boxes` column (JSON list
of {"class", "box"}) that evaluation ignores.

Folders as they come are read too: without `labels.csv`, every image under a sub-folder
named after what it holds -- `firearm/`, `knife/`, `clear/`, or the usual names of public
sets (`handgun`, `gun`, `pistol`, `shuriken`, `razor_blade`, `blade`, `background`,
`benign`...) -- is labelled by that folder.  Folders named otherwise (a public set's
`class_0/`, a series `B0049/`) are labelled by the user (`names`, the CLI's `--label
class_0=firearm`), and images no name labels are reported as skipped, never dropped
silently: a figure over part of a set must say so.  Greyscale single-energy images need no
conversion.  Class names in `labels.csv` may use the same synonyms.

Figures over a whole set hide where a model fails (guns alone and guns in cluttered bags
average out), so `evaluate` also reports each *stratum* -- the `object` column of
`labels.csv` when it has one (e.g. handgun, shuriken, background), else the image's folder --
and names the failures: scans that carry a threat but got no alarm, and clean scans that did.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from oracles.xray import metrics, synth
from oracles.xray.errors import XrayError
from oracles.xray.image import ImageLimits, load_image
from oracles.xray.model import Detection, XrayModel

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


def parse_names(pairs: list[str], classes: tuple[str, ...]) -> dict[str, str]:
    """`["class_0=firearm", "class_3=clear", ...]` -> {folder name (lower case): class, or
    "" for no threat}, each class checked against `classes` (synonyms allowed)."""
    names: dict[str, str] = {}
    for pair in pairs:
        folder, sep, label = pair.partition("=")
        folder, label = folder.strip().lower(), label.strip().lower()
        if not sep or not folder or not label:
            raise XrayError(
                "bad_request",
                f"--label {pair!r}: write FOLDER=CLASS, e.g. class_0=firearm or class_3=clear",
            )
        cls = SYNONYMS.get(label, label)
        if cls and cls not in classes:
            raise XrayError(
                "bad_request",
                f"--label {pair!r}: unknown class {label!r}; the model knows "
                f"{', '.join(classes)} (or clear for no threat)",
            )
        if folder in names and names[folder] != cls:
            raise XrayError(
                "bad_request",
                f"--label {pair!r}: folder {folder!r} is already labelled "
                f"{names[folder] or 'clear'}; give each folder one class",
            )
        names[folder] = cls
    return names


def read_labels(
    folder: Path, classes: tuple[str, ...], names: dict[str, str] | None = None
) -> list[tuple[str, set[str]]]:
    """(image path relative to `folder`, classes present) for every image of the set."""
    return labelled(folder, classes, names)[0]


def labelled(
    folder: Path, classes: tuple[str, ...], names: dict[str, str] | None = None
) -> tuple[list[tuple[str, set[str]]], list[dict[str, Any]]]:
    """`read_labels`, and the images left out: [{"folder", "images", "detail"}] for
    sub-folders no class name labels and images directly in `folder` (always empty when
    `labels.csv` says what the set is).  `names`: the user's folder -> class
    (`parse_names`), before the built-in names."""
    path = folder / LABELS
    if not path.is_file():
        return _from_folders(folder, classes, names or {})
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
    return rows, []


def _from_folders(
    folder: Path, classes: tuple[str, ...], names: dict[str, str]
) -> tuple[list[tuple[str, set[str]]], list[dict[str, Any]]]:
    """Labels from sub-folder names, for a folder without labels.csv."""
    if not folder.is_dir():
        raise XrayError("bad_dataset", f"{folder} is not a folder")
    rows: list[tuple[str, set[str]]] = []
    skipped: Counter[str] = Counter()
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() not in IMAGE_SUFFIXES or not p.is_file():
            continue
        rel = p.relative_to(folder)
        if len(rel.parts) < 2:
            skipped["."] += 1
            continue
        name = rel.parts[0].lower()
        cls = names.get(name, SYNONYMS.get(name, name))
        if cls and cls not in classes:
            skipped[rel.parts[0]] += 1
            continue
        rows.append((str(rel), {cls} if cls else set()))
    if not rows:
        raise XrayError(
            "bad_dataset",
            f"{folder / LABELS} does not exist and no sub-folder is named after a class: "
            f"add a {LABELS} with columns image,classes, put images in sub-folders named "
            f"{', '.join(classes)} or clear, or name yours (--label FOLDER=CLASS)"
            + (f" (found {', '.join(sorted(skipped))})" if skipped else ""),
        )
    left_out = [
        {
            "folder": sub,
            "images": n,
            "detail": "images directly in the data set folder carry no label"
            if sub == "."
            else f"no class is named {sub!r}: label it with --label {sub}=CLASS "
            "(or clear for no threat)",
        }
        for sub, n in sorted(skipped.items())
    ]
    return rows, left_out


def evaluate(
    model: XrayModel,
    folder: Path,
    limits: ImageLimits = ImageLimits(),
    batch: int = 32,
    rates: tuple[float, ...] = (0.01, 0.05),
    names: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Per class: AUC, recall at each false-alarm rate of `rates`, expected calibration
    error, and recall / false alarms at the model's own alert thresholds; over the scans,
    the shares of threat / uncertain / clear verdicts (`metrics.verdict_shares`).

    Images that cannot be read are listed under "errors" and left out of the figures, as
    are images no label names ("skipped", per folder; `names` labels folders).  An image
    the scan gate refuses is listed under "not_a_scan" and counted in the figures as what
    the officer gets from it: no alarm (every score 0).  `strata` and `failures`: see the
    module docstring (`strata_of`, `strata`, `failures`).
    """
    rows, skipped = labelled(folder, model.classes, names)
    stratum_of = strata_of(folder)
    scores, labels, errors, refused, judged = [], [], [], [], []
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
            judged.append(Judged.of(name, stratum_of(name), found, det))
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
            "review_rate": model.review_rate,
            "verdicts": metrics.verdict_shares([j.verdict for j in judged], y),
            "strata": strata(judged),
            "failures": failures(judged),
            "not_a_scan": refused,
            "errors": errors,
            "skipped": skipped,
            "images_per_s": round(len(scores) / seconds, 1),
        }
    )
    return out


@dataclass(frozen=True)
class Judged:
    """One scan of a data set as the service judged it (for `strata` and `failures`)."""

    image: str
    stratum: str
    classes: set[str]  # carried
    verdict: str
    scores: dict[str, float]
    raised: dict[str, float]  # the classes that raised the alarm, with their scores

    @classmethod
    def of(cls, image: str, stratum: str, carried: set[str], det: Detection) -> Judged:
        raised = {t["class"]: t["score"] for t in det.threats}
        return cls(image, stratum, carried, det.verdict, det.scores, raised)


MAX_FAILURES = 200  # per kind in a report; the counts are always whole


def strata_of(folder: Path) -> Callable[[str], str]:
    """image name -> its stratum: the `object` column of `labels.csv` where it has one (and
    the row fills it), else the folder the image is in ("." for the set's own folder)."""
    objects: dict[str, str] = {}
    path = folder / LABELS
    if path.is_file():
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames and "object" in reader.fieldnames:
                objects = {(r["image"] or "").strip(): (r["object"] or "").strip() for r in reader}

    def stratum(name: str) -> str:
        return objects.get(name) or Path(name).parent.as_posix()

    return stratum


def strata(judged: list[Judged]) -> dict[str, dict[str, Any]]:
    """Per stratum: how many scans, how many carry a threat, and the count of each verdict;
    `alarmed_right`: carrying scans on which a class they carry raised the alarm (a gun
    found as a knife is an alarm, but not this); None for a stratum that carries nothing."""
    out: dict[str, dict[str, Any]] = {}
    for j in judged:
        st = out.setdefault(
            j.stratum,
            {"n": 0, "carrying": 0, "threat": 0, "uncertain": 0, "clear": 0, "not_a_scan": 0},
        )
        st["n"] += 1
        st[j.verdict] += 1
        st["carrying"] += bool(j.classes)
        st["alarmed_right"] = st.get("alarmed_right", 0) + (
            j.verdict == "threat" and any(c in j.raised for c in j.classes)
        )
    for st in out.values():
        if not st["carrying"]:
            st["alarmed_right"] = None
    return dict(sorted(out.items()))


def failures(judged: list[Judged]) -> dict[str, Any]:
    """What an officer would have got wrong: `missed`, scans carrying a threat that raised
    no alarm (clear, uncertain or refused), with their scores for what they carry, lowest
    first; `false_alarms`, clean scans judged threats, with the classes raised, highest first.
    Each list holds at most `MAX_FAILURES`; the `_total` counts are whole."""
    missed = sorted(
        (j for j in judged if j.classes and j.verdict != "threat"),
        key=lambda j: max(j.scores.get(c, 0.0) for c in j.classes),
    )
    false_alarms = sorted(
        (j for j in judged if not j.classes and j.verdict == "threat"),
        key=lambda j: -max(j.raised.values()),
    )
    return {
        "missed_total": len(missed),
        "missed": [
            {
                "image": j.image,
                "stratum": j.stratum,
                "verdict": j.verdict,
                "scores": {c: j.scores.get(c, 0.0) for c in sorted(j.classes)},
            }
            for j in missed[:MAX_FAILURES]
        ],
        "false_alarms_total": len(false_alarms),
        "false_alarms": [
            {"image": j.image, "stratum": j.stratum, "raised": j.raised}
            for j in false_alarms[:MAX_FAILURES]
        ],
    }
