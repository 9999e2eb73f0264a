"""The rows of a tariff table (lines, regulations, agreements, preferential rates), the HS
description of a code and the result of a duty computation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

EFFECTS = ("permit", "inspection", "documents", "prohibited")
DIRECTIONS = ("import", "export", "both")


@dataclass(frozen=True, slots=True)
class SpecificRate:
    """A specific duty: `amount` of `currency` per `unit` (UN/ECE Rec 20), e.g. 10 TWD/KGM."""

    amount: Decimal
    currency: str
    unit: str

    def __str__(self) -> str:
        return f"{_plain(self.amount)} {self.currency}/{self.unit}"


@dataclass(frozen=True, slots=True)
class TariffLine:
    """One line of the tariff: an HS subheading (6 digits) or a national line (8-10)."""

    code: str
    duty_pct: Decimal  # general (MFN) ad valorem duty, percent of the customs value
    specific: SpecificRate | None  # added to the ad valorem duty when present
    vat_pct: Decimal  # business tax / VAT, percent of customs value + duty
    regulations: tuple[str, ...]  # the line's own codes plus those of matching prefixes
    description: str  # the national description of an 8-10 digit line; "" for HS6
    source: str  # file:line, for error messages and audits

    @property
    def hs6(self) -> str:
        return self.code[:6]

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "duty_pct": _plain(self.duty_pct),
            "specific": str(self.specific) if self.specific else None,
            "vat_pct": _plain(self.vat_pct),
            "regulations": list(self.regulations),
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class Regulation:
    """An import/export regulation and what it makes the clearance oracle do."""

    code: str
    name: str
    direction: str  # import, export or both
    effects: tuple[str, ...]  # subset of EFFECTS
    hs_prefixes: tuple[str, ...]
    description: str

    def applies_to(self, direction: str | None) -> bool:
        """True for `direction` None, equal to ours, or when we apply both ways."""
        return direction is None or self.direction in (direction, "both")

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "direction": self.direction,
            "effects": list(self.effects),
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class Agreement:
    """A preferential trade agreement and the origin countries whose goods it covers."""

    code: str
    name: str
    partners: frozenset[str]
    note: str


@dataclass(frozen=True, slots=True)
class PreferentialRate:
    """The preferential duty of an agreement for an HS prefix (`""` = every line)."""

    agreement: str
    hs_prefix: str
    duty_pct: Decimal | None  # None: the prefix is excluded from the agreement
    specific: SpecificRate | None
    source: str


@dataclass(frozen=True, slots=True)
class HSDescription:
    """Official texts for an HS code: the subheading and its heading, chapter and section."""

    code: str  # the code asked for (digits only)
    line: str  # the tariff line that applies
    national: str  # national line description, "" when the line is the HS6 subheading
    subheading: str
    heading_code: str
    heading: str
    chapter_code: str
    chapter: str
    section: str
    section_name: str

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "line": self.line,
            "national": self.national,
            "subheading": self.subheading,
            "heading": {"code": self.heading_code, "description": self.heading},
            "chapter": {"code": self.chapter_code, "description": self.chapter},
            "section": {"code": self.section, "description": self.section_name},
        }


@dataclass(frozen=True, slots=True)
class DutyResult:
    """Duty and tax for one declared item, with what was applied and why.

    `amount` is the customs duty (ad valorem + specific), `vat_amount` the business tax on
    customs value + duty, `total` both; all rounded half-up to cents in `currency`.
    `rate` and `specific` are what was applied: the preferential ones when
    `preferential_applied`, else the general (MFN) ones.  `regulation_codes` are the line's
    regulations that apply to imports; `notes` explain each decision in a sentence.
    """

    hs_code: str  # the tariff line used
    rate: Decimal
    specific: SpecificRate | None
    amount: Decimal
    preferential_applied: bool
    regulation_codes: tuple[str, ...]
    ad_valorem_amount: Decimal
    specific_amount: Decimal
    general_rate: Decimal
    agreement: str | None
    vat_rate: Decimal
    vat_amount: Decimal
    total: Decimal
    currency: str | None
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "hs_code": self.hs_code,
            "rate": _plain(self.rate),
            "specific": str(self.specific) if self.specific else None,
            "amount": str(self.amount),
            "ad_valorem_amount": str(self.ad_valorem_amount),
            "specific_amount": str(self.specific_amount),
            "general_rate": _plain(self.general_rate),
            "preferential_applied": self.preferential_applied,
            "agreement": self.agreement,
            "vat_rate": _plain(self.vat_rate),
            "vat_amount": str(self.vat_amount),
            "total": str(self.total),
            "currency": self.currency,
            "regulation_codes": list(self.regulation_codes),
            "notes": list(self.notes),
        }


def _plain(value: Decimal) -> str:
    """`Decimal("12.50")` -> `"12.5"`, `Decimal("1E+1")` -> `"10"`."""
    return format(value.normalize(), "f")
