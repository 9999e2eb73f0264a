"""Taiwan's tariff schedule in Traditional Chinese, read against HS 2022.

Why a module of its own: the Chinese texts come from Taiwan's 2020 schedule, which is built
on HS 2017.  Most six-digit subheadings kept their number and wording in HS 2022, but 145
were deleted or renumbered (8541.40 split into LEDs and solar cells, 8517.61/62 regrouped,
headings 2931, 3824, 6201, 6202, 7019, 8462, 9405 restructured...) and 370 are new (8524
display modules, 8549 e-waste, 8806 drones, 2404 heated tobacco...).  So every Chinese text
carries its status against HS 2022:

- `same` — the code exists in both and its heading was not restructured;
- `heading_changed` — the code exists in both, but its heading gained or lost subheadings
  in 2022, so the 2020 wording may be narrower or wider than the 2022 scope;
- `new_in_hs2022` — no Chinese text: the code did not exist in 2020 (English only).

Codes of the 2020 schedule that HS 2022 deleted are never offered as codes; their lines
are not used for training either (their goods now sit under other codes, and a wrong label
teaches worse than none).  National 8- and 10-digit lines under a surviving subheading are
used as training text for it: they name concrete goods (「冷凍鮭魚」 is a 10-digit line).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from offchain.settings import REPO_ROOT
from offchain.tariff import nomenclature

ZH_FILE = REPO_ROOT / "data" / "nomenclature_zh" / "zh_nomenclature.csv"
FW_SEMICOLON = "\uff1b"
OTHER_ZH = "其他"  # "other"
SHORT_LINE = 8  # characters: a national line shorter than this is shown with its heading
SOURCE_NOTE = "Taiwan tariff schedule 2020 (HS 2017 structure), Traditional Chinese"


@dataclass(frozen=True)
class ZhSchedule:
    """The Chinese texts by HS 2022 subheading, the national lines, and the status of each."""

    hs6: dict[str, str]  # HS 2022 code -> 2020 Chinese text (codes in both versions only)
    lines: dict[str, list[tuple[str, str]]]  # HS 2022 code -> [(8/10-digit code, text)]
    deleted: frozenset[str]  # 2020 codes HS 2022 no longer has
    changed_headings: frozenset[str]  # 4-digit headings with deleted or new subheadings

    def status(self, code: str) -> str:
        """`same`, `heading_changed` or `new_in_hs2022` (see the module docstring)."""
        if code not in self.hs6:
            return "new_in_hs2022"
        return "heading_changed" if code[:4] in self.changed_headings else "same"

    def describe(self, code: str) -> dict[str, str | None]:
        """What a candidate shows in Chinese: the text (or None) and its status."""
        return {"description_zh": self.hs6.get(code), "zh_status": self.status(code)}


@cache
def schedule(path: Path = ZH_FILE) -> ZhSchedule:
    """The schedule of `path`, checked against the HS 2022 nomenclature (read once)."""
    current = set(nomenclature().subheadings())
    hs6: dict[str, str] = {}
    lines: dict[str, list[tuple[str, str]]] = {}
    old6: set[str] = set()
    with open(path, encoding="utf-8", newline="") as f:
        for rec in csv.DictReader(f):
            code, text = rec["hs_code"].strip(), rec["description_zh"].strip()
            six = code[:6]
            if len(code) == 6:
                old6.add(code)
            if six not in current or not text:
                continue
            if len(code) == 6:
                hs6[code] = text
            else:
                lines.setdefault(six, []).append((code, text))
    deleted = frozenset(old6 - current)
    new = current - old6
    changed = frozenset(c[:4] for c in deleted | new)
    return ZhSchedule(hs6, lines, deleted, changed)


def training_texts(path: Path = ZH_FILE) -> Iterator[tuple[str, str]]:
    """(text, hs6) for every Chinese HS6 text and distinct national line of a surviving code.

    The HS6 text is written as "heading, dash level, subheading" joined by full-width
    semicolons; the last part is also yielded alone when it says more than 「其他」 (that is
    how a trader names the goods).  A short national line (「棉製」, 「零件」) says nothing
    alone, so it is prefixed with its heading's text.
    """
    sch = schedule(path)
    for code in sorted(sch.hs6):
        text = sch.hs6[code]
        yield text, code
        parts = text.split(FW_SEMICOLON)
        tail = parts[-1]
        if tail != text and OTHER_ZH not in tail and len(tail) >= 2:
            yield tail, code
        seen = {text, tail}
        for _line, line_text in sch.lines.get(code, []):
            if line_text in seen or line_text == OTHER_ZH:
                continue
            seen.add(line_text)
            yield (line_text if len(line_text) >= SHORT_LINE else f"{parts[0]} {line_text}"), code
