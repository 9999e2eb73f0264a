"""The real rulings, split once and for all into training, tuning and reporting rows.

Why a fixed split in code: a figure is only honest if the rows behind it never shaped the
model, and "never" must survive the next retrain.  So the split is a pure function of each
row's description and source (a keyed hash, not a shuffled list), stratified by source —
the same description always lands in the same part, whichever rows are added or removed,
and rows that share a description (the source gives alternatives: "cup" -> 3924, 6911,
6912) never straddle two parts.

- `train` (65 %): fitted on;
- `dev` (15 %): weights, temperature, the "uncertain" threshold are chosen on it;
- `test` (20 %): reported only, per source (`scripts/bench/tariff.py`, the model card).

The shipped model is trained on `train` only (and tuned on `dev`), so the test figures
describe the very model that runs.  A customs administration's own rulings
(`classify train --data FILE`) are all trained on: to measure on its rulings, it keeps a
file apart and runs `classify evaluate` on it.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from offchain.settings import REPO_ROOT

RULINGS_FILE = REPO_ROOT / "data" / "rulings" / "real_rulings.csv"
SPLIT_KEY = b"smartcustoms-tariff-split-v1"
EVAL_KEY = b"smartcustoms-tariff-eval-v1"
EVAL_DEV_SHARE = 0.30
DEV_SHARE = 0.15
TEST_SHARE = 0.20
PARTS = ("train", "dev", "test")


@dataclass(frozen=True, slots=True)
class Ruling:
    text: str
    code: str  # digits, 6-10
    source: str

    @property
    def hs6(self) -> str:
        return self.code[:6]


def _unit(text: str, key: bytes) -> float:
    norm = " ".join(text.lower().split())
    h = hashlib.blake2b(norm.encode("utf-8"), key=key, digest_size=8, person=b"split")
    return int.from_bytes(h.digest(), "big") / 2**64


def eval_part(text: str) -> str:
    """`dev` (30 %) or `test` (70 %) for a row of the evaluation sets in `data/eval/`.

    The evaluation sets were written by someone who never saw the training phrases; their
    dev part may be used to choose weights and thresholds, their test part only reported.
    """
    return "dev" if _unit(text, EVAL_KEY) < EVAL_DEV_SHARE else "test"


def part_of(text: str) -> str:
    """`train`, `dev` or `test` for a description: a keyed hash of its normalised form.

    The source is left out on purpose: one description listed by two sources still lands
    in one part (each source is large enough to be split evenly by the hash alone).
    """
    u = _unit(text, SPLIT_KEY)
    if u < TEST_SHARE:
        return "test"
    if u < TEST_SHARE + DEV_SHARE:
        return "dev"
    return "train"


def read_rulings(path: Path = RULINGS_FILE) -> list[Ruling]:
    """Rows of a `description,hs_code[,source]` CSV whose code has 6-10 digits."""
    out = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        for rec in csv.DictReader(f):
            text = (rec.get("description") or "").strip()
            code = "".join(ch for ch in rec.get("hs_code") or "" if ch.isdigit())
            if text and 6 <= len(code) <= 10:
                out.append(Ruling(text, code, (rec.get("source") or "").strip()))
    return out


def split(rows: Iterable[Ruling]) -> dict[str, list[Ruling]]:
    """The rows by part (see the module docstring)."""
    out: dict[str, list[Ruling]] = {p: [] for p in PARTS}
    for r in rows:
        out[part_of(r.text)].append(r)
    return out
