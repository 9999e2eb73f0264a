"""Loading a tariff table from its four CSV files, collecting every problem as `file:line: what`
before refusing the table with `TariffTableError`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from offchain.declarations import COUNTRY_CODES, CURRENCY_CODES
from offchain.tariff.duty import UNIT_FACTORS
from offchain.tariff.errors import TariffTableError
from offchain.tariff.hs_codes import _HS
from offchain.tariff.nomenclature import nomenclature
from offchain.tariff.rows import (
    DIRECTIONS,
    EFFECTS,
    Agreement,
    PreferentialRate,
    Regulation,
    SpecificRate,
    TariffLine,
)
from offchain.tariff.table import (
    AGREEMENTS_FILE,
    PREFERENTIAL_FILE,
    RATES_FILE,
    REGULATIONS_FILE,
    TariffTable,
)

MAX_DUTY_PCT = Decimal(1000)  # tariff peaks on sensitive farm goods reach several hundred %
MAX_VAT_PCT = Decimal(100)


_HS_PREFIX = re.compile(r"^[0-9]{2,10}$")


_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_SPECIFIC = re.compile(r"^(?P<amount>\S+) (?P<currency>[A-Z]{3})/(?P<unit>[A-Z0-9]{2,3})$")
_CODE = re.compile(r"^[A-Z][A-Z0-9_]{1,31}$")


class _Loader:
    """Reads the four CSV files, collecting every problem before failing."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.problems: list[str] = []

    def load(self) -> TariffTable:
        if not self.folder.is_dir():
            raise TariffTableError(self.folder, [f"{self.folder} is not a folder"])
        regulations = self._regulations()
        agreements = self._agreements()
        preferential = self._preferential(agreements)
        lines, currency = self._rates(regulations)
        if self.problems:
            raise TariffTableError(self.folder, self.problems)
        return TariffTable(self.folder, lines, regulations, agreements, preferential, currency)

    # -- files

    def _rows(
        self, name: str, required: Sequence[str], optional: Sequence[str] = ()
    ) -> Iterable[tuple[str, dict[str, str]]]:
        """(`file:line`, row) for each data row; '#' rows and blank rows are skipped."""
        path = self.folder / name
        try:
            with open(path, encoding="utf-8-sig", newline="") as f:
                yield from self._parse(name, f, required, optional)
        except OSError as exc:
            self.problems.append(f"{name}: cannot be read ({exc.strerror or exc})")

    def _parse(
        self, name: str, f: Iterable[str], required: Sequence[str], optional: Sequence[str]
    ) -> Iterable[tuple[str, dict[str, str]]]:
        reader = csv.reader(f)
        header: list[str] | None = None
        try:
            for row in reader:
                where = f"{name}:{reader.line_num}"
                if not row or not any(c.strip() for c in row) or row[0].startswith("#"):
                    continue
                cells = [c.strip() for c in row]
                if header is None:
                    header = cells
                    if not self._header_ok(where, header, required, optional):
                        return
                    continue
                if len(cells) != len(header):
                    self.problems.append(
                        f"{where}: {len(cells)} columns, the header has {len(header)}"
                    )
                    continue
                yield where, dict(zip(header, cells, strict=True))
        except (csv.Error, UnicodeDecodeError) as exc:
            self.problems.append(f"{name}:{reader.line_num}: unreadable CSV ({exc})")
        if header is None:
            self.problems.append(f"{name}: no header row")

    def _header_ok(
        self, where: str, header: list[str], required: Sequence[str], optional: Sequence[str]
    ) -> bool:
        missing = [c for c in required if c not in header]
        unknown = [c for c in header if c not in required and c not in optional]
        duplicate = sorted({c for c in header if header.count(c) > 1})
        for what, names in (("missing", missing), ("unknown", unknown), ("repeated", duplicate)):
            if names:
                self.problems.append(
                    f"{where}: {what} column(s) {', '.join(names)}; expected "
                    f"{', '.join([*required, *optional])}"
                )
        return not (missing or unknown or duplicate)

    def _regulations(self) -> dict[str, Regulation]:
        out: dict[str, Regulation] = {}
        seen: dict[str, str] = {}
        columns = ("code", "name", "direction", "effects", "hs_prefixes", "description")
        for where, row in self._rows(REGULATIONS_FILE, columns):
            code = row["code"]
            ok = self._code(where, "regulation code", code, seen)
            effects = tuple(row["effects"].split())
            bad = [e for e in effects if e not in EFFECTS]
            if not effects or bad:
                self.problems.append(
                    f"{where}: effects {row['effects']!r} must be one or more of "
                    f"{', '.join(EFFECTS)}"
                )
                ok = False
            if row["direction"] not in DIRECTIONS:
                self.problems.append(
                    f"{where}: direction {row['direction']!r} must be one of "
                    f"{', '.join(DIRECTIONS)}"
                )
                ok = False
            prefixes = tuple(row["hs_prefixes"].split())
            for p in prefixes:
                if not _HS_PREFIX.match(p):
                    self.problems.append(
                        f"{where}: HS prefix {p!r} must have 2 to 10 digits (leading zeros "
                        "included: keep the column as text in a spreadsheet)"
                    )
                    ok = False
            if not row["name"]:
                self.problems.append(f"{where}: the regulation needs a name")
                ok = False
            if ok:
                out[code] = Regulation(
                    code, row["name"], row["direction"], effects, prefixes, row["description"]
                )
        return out

    def _agreements(self) -> dict[str, Agreement]:
        out: dict[str, Agreement] = {}
        seen: dict[str, str] = {}
        for where, row in self._rows(AGREEMENTS_FILE, ("agreement", "name", "partners", "note")):
            code = row["agreement"]
            ok = self._code(where, "agreement code", code, seen)
            partners = row["partners"].split()
            bad = [p for p in partners if p not in COUNTRY_CODES]
            if not partners or bad:
                self.problems.append(
                    f"{where}: partners {row['partners']!r} must be ISO 3166-1 alpha-2 "
                    "country codes separated by spaces"
                )
                ok = False
            if ok:
                out[code] = Agreement(code, row["name"], frozenset(partners), row["note"])
        return out

    def _preferential(
        self, agreements: Mapping[str, Agreement]
    ) -> dict[tuple[str, str], PreferentialRate]:
        out: dict[tuple[str, str], PreferentialRate] = {}
        columns = ("agreement", "hs_prefix", "duty_pct", "specific_rate")
        for where, row in self._rows(PREFERENTIAL_FILE, columns, ("note",)):
            ok = True
            agreement = row["agreement"]
            if agreement not in agreements:
                self.problems.append(
                    f"{where}: agreement {agreement!r} is not in {AGREEMENTS_FILE}"
                )
                ok = False
            prefix = "" if row["hs_prefix"].lower() == "all" else row["hs_prefix"]
            if prefix and not _HS_PREFIX.match(prefix):
                self.problems.append(
                    f"{where}: hs_prefix {row['hs_prefix']!r} must be 'all' or 2 to 10 digits"
                )
                ok = False
            excluded = row["duty_pct"].lower() == "excluded"
            rate = (
                None if excluded else self._rate(where, "duty_pct", row["duty_pct"], MAX_DUTY_PCT)
            )
            specific_ok, specific = self._specific(where, row["specific_rate"])
            if excluded and specific is not None:
                self.problems.append(f"{where}: an excluded prefix cannot have a specific rate")
                ok = False
            key = (agreement, prefix)
            if key in out:
                self.problems.append(
                    f"{where}: {agreement} {row['hs_prefix']} repeats {out[key].source}"
                )
                ok = False
            if ok and specific_ok and (excluded or rate is not None):
                out[key] = PreferentialRate(agreement, prefix, rate, specific, where)
        return out

    def _rates(
        self, regulations: Mapping[str, Regulation]
    ) -> tuple[dict[str, TariffLine], str | None]:
        nom = nomenclature()
        by_prefix: dict[str, list[str]] = {}
        for reg in regulations.values():
            for p in reg.hs_prefixes:
                by_prefix.setdefault(p, []).append(reg.code)
        order = {code: i for i, code in enumerate(regulations)}
        lines: dict[str, TariffLine] = {}
        currencies: dict[str, str] = {}
        columns = ("hs_code", "duty_pct", "specific_rate", "vat_pct", "regulations")
        for where, row in self._rows(RATES_FILE, columns, ("description",)):
            code = row["hs_code"]
            ok = True
            if not _HS.match(code):
                hint = (
                    " (a leading zero lost in a spreadsheet?)"
                    if code.isdigit() and len(code) in (5, 7, 9)
                    else ""
                )
                self.problems.append(f"{where}: HS code {code!r} must have 6 to 10 digits{hint}")
                ok = False
            elif code in lines:
                self.problems.append(f"{where}: HS code {code} repeats {lines[code].source}")
                ok = False
            elif len(code) == 6 and code not in nom.entries:
                self.problems.append(f"{where}: {code} is not an {nom.version} subheading")
                ok = False
            elif len(code) > 6 and not row.get("description"):
                self.problems.append(f"{where}: national line {code} needs a description")
                ok = False
            duty = self._rate(where, "duty_pct", row["duty_pct"], MAX_DUTY_PCT)
            vat = self._rate(where, "vat_pct", row["vat_pct"], MAX_VAT_PCT)
            specific_ok, specific = self._specific(where, row["specific_rate"])
            if specific is not None:
                first = next(iter(currencies.items()), None)
                if first is not None and first[0] != specific.currency:
                    self.problems.append(
                        f"{where}: specific rate in {specific.currency}, but {first[1]} uses "
                        f"{first[0]}: all specific rates of a table are in one currency"
                    )
                    specific_ok = False
                currencies.setdefault(specific.currency, where)
            own = row["regulations"].split()
            unknown = [c for c in own if c not in regulations]
            if unknown:
                self.problems.append(
                    f"{where}: unknown regulation code(s) {', '.join(unknown)}; "
                    f"{REGULATIONS_FILE} defines {', '.join(regulations) or 'none'}"
                )
                ok = False
            if not ok or duty is None or vat is None or not specific_ok:
                continue
            codes = set(own)
            for length in range(2, len(code) + 1):
                codes.update(by_prefix.get(code[:length], ()))
            lines[code] = TariffLine(
                code=code,
                duty_pct=duty,
                specific=specific,
                vat_pct=vat,
                regulations=tuple(sorted(codes, key=order.__getitem__)),
                description=row.get("description", "") if len(code) > 6 else "",
                source=where,
            )
        for code, line in lines.items():
            if len(code) > 6 and code[:6] not in lines:
                self.problems.append(
                    f"{line.source}: national line {code} has no HS6 line {code[:6]}"
                )
        return lines, next(iter(currencies), None)

    # -- cells

    def _code(self, where: str, what: str, code: str, seen: dict[str, str]) -> bool:
        if not _CODE.match(code):
            self.problems.append(
                f"{where}: {what} {code!r} must be 2-32 upper-case letters, digits or _, "
                "starting with a letter"
            )
            return False
        if code in seen:
            self.problems.append(f"{where}: {what} {code} repeats {seen[code]}")
            return False
        seen[code] = where
        return True

    def _rate(self, where: str, column: str, text: str, limit: Decimal) -> Decimal | None:
        try:
            value = Decimal(text)
        except InvalidOperation:
            value = None
        if value is not None and not value.is_finite():
            self.problems.append(f"{where}: {column} {text!r} is not a finite number")
            return None
        if value is None or not _DECIMAL.match(text):
            self.problems.append(
                f"{where}: {column} {text!r} is not a number (write e.g. 12.5, no % sign)"
            )
            return None
        if value < 0:
            self.problems.append(f"{where}: {column} {text} is negative")
            return None
        if value > limit:
            self.problems.append(f"{where}: {column} {text} is above {limit}")
            return None
        return value

    def _specific(self, where: str, text: str) -> tuple[bool, SpecificRate | None]:
        """(ok, rate): `(True, None)` for an empty cell, `(False, None)` after a problem."""
        if not text:
            return True, None
        m = _SPECIFIC.match(text)
        if m is None:
            self.problems.append(
                f"{where}: specific_rate {text!r} must look like '10 TWD/KGM' "
                "(amount, currency, '/', UN/ECE Rec 20 unit)"
            )
            return False, None
        amount = self._rate(where, "specific_rate", m["amount"], Decimal(10**9))
        if amount is None:
            return False, None
        if m["currency"] not in CURRENCY_CODES:
            self.problems.append(f"{where}: {m['currency']!r} is not an ISO 4217 currency")
            return False, None
        if m["unit"] not in UNIT_FACTORS:
            self.problems.append(
                f"{where}: unit {m['unit']!r} cannot carry a specific duty; use one of "
                f"{', '.join(UNIT_FACTORS)}"
            )
            return False, None
        return True, SpecificRate(amount, m["currency"], m["unit"])
