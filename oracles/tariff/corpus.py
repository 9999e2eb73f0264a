"""The nomenclature as training text: every HS 2022 subheading with its context.

Why context: a subheading's own text is often only what tells it apart from its siblings
("Other, frozen"); the heading, chapter and section say what the thing *is*.  The classifier
learns from both, and the dialogue shows the subheading's own words when it asks which
sibling fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from offchain.tariff import Nomenclature, nomenclature


@dataclass(frozen=True, slots=True)
class CodeContext:
    """One subheading and the texts above it."""

    hs6: str
    subheading: str
    heading: str
    chapter: str
    section: str

    @property
    def hs4(self) -> str:
        return self.hs6[:4]

    @property
    def hs2(self) -> str:
        return self.hs6[:2]

    def path_text(self) -> str:
        """Section, chapter, heading and subheading descriptions in one text."""
        return "; ".join((self.section, self.chapter, self.heading, self.subheading))


@cache
def contexts(nom: Nomenclature | None = None) -> dict[str, CodeContext]:
    """hs6 -> CodeContext for every subheading of the nomenclature, in code order."""
    nom = nom or nomenclature()
    out: dict[str, CodeContext] = {}
    for code in nom.subheadings():
        entry = nom.entries[code]
        heading = nom.get(code[:4])
        chapter = nom.get(code[:2])
        out[code] = CodeContext(
            hs6=code,
            subheading=entry.description,
            heading=heading.description if heading else "",
            chapter=chapter.description if chapter else "",
            section=nom.sections.get(entry.section, ""),
        )
    return out


def official_description(code: str) -> str:
    """The official description of a 2-, 4- or 6-digit code, or "" when there is none."""
    entry = nomenclature().get(code)
    return entry.description if entry else ""
