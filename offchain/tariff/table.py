"""The tariff table: where its files are, the cached load, and lookups by HS code (the line,
its descriptions, regulations and preferential rates); duties are priced in `duty`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from offchain.settings import REPO_ROOT
from offchain.tariff.duty import compute_duty
from offchain.tariff.errors import TariffError
from offchain.tariff.hs_codes import normalize_hs
from offchain.tariff.nomenclature import nomenclature
from offchain.tariff.rows import (
    Agreement,
    DutyResult,
    HSDescription,
    PreferentialRate,
    Regulation,
    TariffLine,
)

DEFAULT_TABLE_DIR = REPO_ROOT / "data" / "tariff"
RATES_FILE = "hs2022_rates.csv"
REGULATIONS_FILE = "regulations.csv"
AGREEMENTS_FILE = "agreements.csv"
PREFERENTIAL_FILE = "preferential.csv"
TABLE_FILES = (RATES_FILE, REGULATIONS_FILE, AGREEMENTS_FILE, PREFERENTIAL_FILE)


class TariffTable:
    """A validated tariff table; build it with `TariffTable.load(folder)`."""

    def __init__(
        self,
        folder: Path,
        lines: Mapping[str, TariffLine],
        regulations: Mapping[str, Regulation],
        agreements: Mapping[str, Agreement],
        preferential: Mapping[tuple[str, str], PreferentialRate],
        currency: str | None,
    ) -> None:
        self.folder = folder
        self.lines = lines
        self.regulation_codes = regulations
        self.agreements = agreements
        self.preferential = preferential
        self.currency = currency  # of the specific duties; None if the table has none
        national: dict[str, list[str]] = {}
        for code in lines:
            if len(code) > 6:
                national.setdefault(code[:6], []).append(code)
        self._national = {hs6: tuple(codes) for hs6, codes in national.items()}

    _cache: ClassVar[dict[Path, tuple[tuple[Any, ...], TariffTable]]] = {}
    _cache_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def load(cls, folder: str | Path = DEFAULT_TABLE_DIR) -> TariffTable:
        """Load and validate the table in `folder`, or return the cached copy.

        The cache is keyed by the resolved folder and the files' size and modification
        time, so an edited table is read again.  Raises `TariffTableError` listing every
        problem as `file:line: what` (missing file or column, bad or duplicate code,
        unknown regulation or agreement, rate that is negative, NaN or out of range).
        """
        from offchain.tariff.loading import _Loader  # it builds a TariffTable: imported on use

        path = Path(folder).resolve()
        stamp = _fingerprint(path)
        with cls._cache_lock:
            hit = cls._cache.get(path)
            if hit is not None and hit[0] == stamp:
                return hit[1]
        table = _Loader(path).load()
        with cls._cache_lock:
            cls._cache[path] = (stamp, table)
        return table

    def __len__(self) -> int:
        return len(self.lines)

    def __contains__(self, hs_code: object) -> bool:
        try:
            self.lookup(hs_code)  # type: ignore[arg-type]
        except TariffError:
            return False
        return True

    def lookup(self, hs_code: str) -> TariffLine:
        """The tariff line for an HS code of 6 to 10 digits (dots and spaces are ignored).

        The most specific line wins: the national line with exactly this code, else the
        longest line whose code is a prefix of it (down to the HS6 subheading).  A code
        that contradicts the national subdivision of its subheading (85076050 when only
        85076010 and 85076090 exist) is unknown.  Raises `TariffError` with
        `invalid_hs_code` or `unknown_hs_code` (naming the nearest lines).
        """
        code = normalize_hs(hs_code)
        line = self.lines.get(code)
        if line is not None:
            return line
        for length in range(len(code) - 1, 5, -1):
            line = self.lines.get(code[:length])
            if line is None:
                continue
            below = [c for c in self._national.get(code[:6], ()) if len(c) > length]
            below = [c for c in below if c.startswith(line.code)]
            if below and not any(c.startswith(code) or code.startswith(c) for c in below):
                raise TariffError(
                    "unknown_hs_code",
                    f"{code} is not a line of the national tariff; the lines under "
                    f"{line.code} are {', '.join(below)}",
                )
            return line
        raise TariffError(
            "unknown_hs_code",
            f"{code} is not in the tariff: HS subheading {code[:6]} does not exist in "
            f"{nomenclature().version}" + self._hint(code),
        )

    def _hint(self, code: str) -> str:
        heading = code[:4]
        siblings = sorted(c for c in self.lines if len(c) == 6 and c.startswith(heading))
        if siblings:
            return f"; subheadings of heading {heading}: {', '.join(siblings[:12])}"
        return f"; heading {heading} does not exist either"

    def description(self, hs_code: str) -> HSDescription:
        """Official HS 2022 texts for a code, plus the national line's text if any."""
        line = self.lookup(hs_code)
        nom = nomenclature()
        sub = nom.get(line.hs6)
        heading = nom.get(line.code[:4])
        chapter = nom.get(line.code[:2])
        if sub is None or heading is None or chapter is None:  # a table of another HS edition
            raise TariffError(
                "unknown_hs_code",
                f"{line.hs6} has no description in {nom.version}; is the table of another "
                "HS edition?",
            )
        return HSDescription(
            code=normalize_hs(hs_code),
            line=line.code,
            national=line.description,
            subheading=sub.description,
            heading_code=heading.code,
            heading=heading.description,
            chapter_code=chapter.code,
            chapter=chapter.description,
            section=sub.section,
            section_name=nom.sections.get(sub.section, ""),
        )

    def regulations(self, hs_code: str, direction: str | None = None) -> tuple[Regulation, ...]:
        """The regulations of the line for `hs_code`; `direction` "import"/"export" filters."""
        if direction not in (None, "import", "export"):
            raise ValueError(f"direction must be None, 'import' or 'export', not {direction!r}")
        line = self.lookup(hs_code)
        return tuple(
            reg
            for reg in (self.regulation_codes[c] for c in line.regulations)
            if reg.applies_to(direction)
        )

    def preferential_rate(self, hs_code: str, agreement: str) -> PreferentialRate | None:
        """The agreement's row for the longest matching HS prefix (or `all`), if any."""
        code = normalize_hs(hs_code)
        for length in range(len(code), 1, -1):
            row = self.preferential.get((agreement, code[:length]))
            if row is not None:
                return row
        return self.preferential.get((agreement, ""))

    def missing_subheadings(self) -> tuple[str, ...]:
        """HS 2022 subheadings without a line: empty for a complete tariff."""
        return tuple(c for c in nomenclature().subheadings() if c not in self.lines)

    def duty(
        self,
        hs_code: str,
        customs_value: Decimal | int | str,
        quantity: Decimal | int | str,
        unit: str,
        origin: str,
        preference: str | None = None,
        *,
        net_mass_kg: Decimal | int | str | None = None,
        currency: str | None = None,
    ) -> DutyResult:
        """Duty and business tax for one item.

        `customs_value` is in the tariff's currency (convert first; pass `currency` to have
        that checked), `quantity` in `unit` (UN/ECE Rec 20).  A specific duty per mass unit
        uses the quantity if it is a mass, else `net_mass_kg`.  The preferential rate of the
        claimed agreement `preference` replaces the general one only when `origin` is one
        of the agreement's partners, the line is not excluded, and it is not dearer;
        otherwise the general rate applies and `notes` says why.  Whether the certificate
        of origin is valid is the clearance oracle's check, not the tariff's.

        Raises `TariffError` for an unknown or invalid HS code, a negative / NaN / non-numeric
        value or quantity, an unknown unit, a quantity that cannot be converted to a specific
        duty's unit, or a value in another currency than the specific duty's.
        """
        return compute_duty(
            self,
            hs_code,
            customs_value,
            quantity,
            unit,
            origin,
            preference,
            net_mass_kg=net_mass_kg,
            currency=currency,
        )


def _fingerprint(folder: Path) -> tuple[Any, ...]:
    stamp: list[tuple[Any, ...]] = []
    for name in TABLE_FILES:
        try:
            st = (folder / name).stat()
        except OSError:
            stamp.append((name, None))
        else:
            stamp.append((name, st.st_size, st.st_mtime_ns))
    return tuple(stamp)
