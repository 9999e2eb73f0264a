"""Measure a tariff model on labelled descriptions: accuracy at HS2/4/6, how accuracy trades
against answering "uncertain", calibration, speed, dialogue.

Labels may have 6 to 10 digits (national lines); predictions are compared on their first
2, 4 and 6 digits.  Rows whose label is not a code of the nomenclature are counted in
`skipped` with the reason, not silently dropped.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from offchain.tariff import nomenclature
from oracles.tariff.dialogue import simulate
from oracles.tariff.errors import TariffInputError
from oracles.tariff.model import TariffModel

MAX_ROWS = 200_000
COVERAGES = (0.5, 0.8)  # accuracy reported when answering only this share, most sure first
TARGET_ACCURACY = 0.9  # ... and the largest share answered at this accuracy
DEFAULT_HELDOUT = Path(__file__).resolve().parent / "data" / "heldout.csv"


@dataclass(frozen=True)
class Row:
    text: str
    label: str  # digits only, 6-10


def read_rows(
    path: Path, text_col: str = "description", label_col: str = "hs_code", limit: int = MAX_ROWS
) -> tuple[list[Row], list[str]]:
    """(rows, problems) from a CSV file; a problem names the line and what is wrong.

    Raises TariffInputError when the file or a column is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise TariffInputError("no_such_file", f"{path} does not exist or is not a file")
    rows: list[Row] = []
    problems: list[str] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            _read(csv.DictReader(f), path, text_col, label_col, limit, rows, problems)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TariffInputError(
            "bad_csv", f"{path.name} is not a readable UTF-8 CSV file ({type(exc).__name__}: {exc})"
        ) from None
    return rows, problems


def _read(
    reader: csv.DictReader,
    path: Path,
    text_col: str,
    label_col: str,
    limit: int,
    rows: list[Row],
    problems: list[str],
) -> None:
    cols = reader.fieldnames or []
    for col in (text_col, label_col):
        if col not in cols:
            raise TariffInputError(
                "missing_column",
                f"{path} has no column {col!r}; its columns are {', '.join(cols) or 'none'}",
            )
    nom = nomenclature()
    for line, rec in enumerate(reader, start=2):
        if len(rows) >= limit:
            problems.append(f"{path.name}: rows after line {line - 1} ignored (limit {limit})")
            break
        text = (rec.get(text_col) or "").strip()
        label = "".join(ch for ch in (rec.get(label_col) or "") if ch not in ". -")
        if not text:
            problems.append(f"{path.name}:{line}: empty description")
        elif not (label.isdigit() and 6 <= len(label) <= 10):
            problems.append(f"{path.name}:{line}: label {rec.get(label_col)!r} is not 6-10 digits")
        elif label[:6] not in nom.entries:
            problems.append(f"{path.name}:{line}: {label[:6]} is not an HS 2022 subheading")
        else:
            rows.append(Row(text, label))


def evaluate(
    model: TariffModel,
    rows: Sequence[Row],
    *,
    dialogue: bool = True,
    strata: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Accuracy (top-1 and top-5 at HS2/4/6), latency and simulated dialogue length."""
    n = len(rows)
    hits = {k: 0 for k in ("hs2", "hs4", "hs6", "top5_hs2", "top5_hs4", "top5_hs6")}
    times: list[float] = []
    confs: list[float] = []
    right: list[bool] = []
    questions: list[int] = []
    solved = 0
    for row in rows:
        t0 = time.perf_counter()
        preds, _ = model.predict(row.text, top=5)
        times.append((time.perf_counter() - t0) * 1000)
        codes = [p.hs6 for p in preds]
        confs.append(preds[0].confidence if preds else 0.0)
        right.append(bool(codes) and codes[0] == row.label[:6])
        for k in (2, 4, 6):
            if codes and codes[0][:k] == row.label[:k]:
                hits[f"hs{k}"] += 1
            if any(c[:k] == row.label[:k] for c in codes):
                hits[f"top5_hs{k}"] += 1
        if dialogue:
            asked, ok = simulate(model, row.text, row.label[:6])
            questions.append(asked)
            solved += ok
    out: dict[str, Any] = {"n": n}
    for k in (2, 4, 6):
        out[f"hs{k}_acc"] = round(hits[f"hs{k}"] / n, 4) if n else 0.0
    for k in (2, 4, 6):
        out[f"top5_hs{k}"] = round(hits[f"top5_hs{k}"] / n, 4) if n else 0.0
    out.update(selective(confs, right))
    cal = model.calibration
    # answered: what the assistant asserts (the rest is "uncertain"); accusable: what the
    # TARIFF oracle is sure enough of to call a different declared code a mismatch
    for name, bar in (
        ("answered", cal.uncertain_below),
        ("accusable", max(cal.uncertain_below, cal.accuse_below)),
    ):
        sure = [ok for c, ok in zip(confs, right, strict=True) if c >= bar]
        out[name] = round(len(sure) / n, 4) if n else 0.0
        out[f"{name}_accuracy"] = round(sum(sure) / len(sure), 4) if sure else None
    arr = np.array(times) if times else np.zeros(1)
    out["p50_ms"] = round(float(np.percentile(arr, 50)), 3)
    out["p95_ms"] = round(float(np.percentile(arr, 95)), 3)
    out["per_s"] = round(1000.0 * n / float(arr.sum()), 1) if n and arr.sum() > 0 else 0.0
    if dialogue:
        out["dialogue_avg_questions"] = round(float(np.mean(questions)), 3) if n else 0.0
        out["dialogue_hs6_acc"] = round(solved / n, 4) if n else 0.0
    if strata is not None:
        by: dict[str, list[Row]] = {}
        for row, s in zip(rows, strata, strict=True):
            by.setdefault(s, []).append(row)
        out["strata"] = {s: evaluate(model, rs, dialogue=False) for s, rs in sorted(by.items())}
    out["model_version"] = model.version
    return out


def selective(confidences: Sequence[float], correct: Sequence[bool]) -> dict[str, Any]:
    """How accuracy trades against coverage when the model may answer "uncertain".

    Rows are answered most confident first: `acc_at_50` is the accuracy of the surest half,
    `acc_at_80` of the surest 80 %, `coverage_at_90` the largest share answered with at least
    90 % accuracy (0 when even the surest row is wrong), and `ece` the expected calibration
    error of the top-1 confidence (ten equal-width bins): whether "0.8 sure" is right 8 times
    in 10.
    """
    conf = np.asarray(confidences, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    n = len(conf)
    if n == 0:
        return {}
    order = np.lexsort((np.arange(n), -conf))
    running = np.cumsum(ok[order]) / np.arange(1, n + 1)
    out: dict[str, Any] = {}
    for c in COVERAGES:
        k = max(1, round(c * n))
        out[f"acc_at_{round(c * 100)}"] = round(float(running[k - 1]), 4)
    good = np.nonzero(running >= TARGET_ACCURACY)[0]
    out[f"coverage_at_{round(TARGET_ACCURACY * 100)}"] = (
        round(float((good.max() + 1) / n), 4) if len(good) else 0.0
    )
    bins = np.minimum((np.clip(conf, 0, 1) * 10).astype(int), 9)
    gap = sum(
        abs(conf[bins == b].mean() - ok[bins == b].mean()) * (bins == b).sum()
        for b in range(10)
        if (bins == b).any()
    )
    out["ece"] = round(float(gap / n), 4)
    return out
