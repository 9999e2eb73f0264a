"""Duty computation: ad valorem and specific duty, the preferential rate when it applies and is
not dearer, business tax, all rounded half-up to cents; units converted by `UNIT_FACTORS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING

from offchain.declarations import UNIT_CODES
from offchain.tariff.errors import TariffError
from offchain.tariff.rows import DutyResult, PreferentialRate, SpecificRate, TariffLine

if TYPE_CHECKING:
    from offchain.tariff.table import TariffTable


CENT = Decimal("0.01")


# Units a specific duty can be expressed in, and how declared quantities convert to them
# (UN/ECE Recommendation 20 codes).  Units of different groups never convert.
UNIT_FACTORS: Mapping[str, tuple[str, Decimal]] = {
    "KGM": ("mass", Decimal(1)),
    "GRM": ("mass", Decimal("0.001")),
    "TNE": ("mass", Decimal(1000)),
    "LBR": ("mass", Decimal("0.45359237")),
    "LTR": ("volume", Decimal(1)),
    "MLT": ("volume", Decimal("0.001")),
    "MTQ": ("volume", Decimal(1000)),
    "C62": ("count", Decimal(1)),
    "NAR": ("count", Decimal(1)),
    "H87": ("count", Decimal(1)),
    "DZN": ("count", Decimal(12)),
    "T3": ("count", Decimal(1000)),
    "PR": ("pair", Decimal(1)),
    "SET": ("set", Decimal(1)),
    "MTR": ("length", Decimal(1)),
    "MTK": ("area", Decimal(1)),
    "KWH": ("energy", Decimal(1)),
}


def compute_duty(
    table: TariffTable,
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
    """Duty and business tax for one item: `TariffTable.duty` (which see) for `table`."""
    line = table.lookup(hs_code)
    value = _amount("customs_value", customs_value)
    qty = _amount("quantity", quantity)
    mass = None if net_mass_kg is None else _amount("net_mass_kg", net_mass_kg)
    unit = unit.upper() if isinstance(unit, str) else unit
    if unit not in UNIT_CODES:
        raise TariffError("unknown_unit", f"unit {unit!r} is not a known UN/ECE Rec 20 code")
    notes: list[str] = []

    rate, specific = line.duty_pct, line.specific
    general = _amount_due(value, rate, specific, qty, unit, mass, line.code)
    chosen, agreement, applied = general, None, False
    if preference:
        pref = _preference(table, line, preference, origin, notes)
        if pref is not None:
            p_specific = pref.specific
            p_rate = pref.duty_pct if pref.duty_pct is not None else rate
            candidate = _amount_due(value, p_rate, p_specific, qty, unit, mass, line.code)
            if candidate[0] + candidate[1] <= general[0] + general[1]:
                chosen, rate, specific = candidate, p_rate, p_specific
                agreement, applied = preference, True
                notes.append(
                    f"preferential rate of {preference} applied ({pref.source}) for origin {origin}"
                )
            else:
                notes.append(
                    f"the {preference} rate is higher than the general rate for "
                    f"{line.code}; the general rate applies"
                )

    _check_currency(specific, currency)
    ad_valorem, specific_amount = chosen
    amount = ad_valorem + specific_amount
    vat = _cents((value + amount) * line.vat_pct / 100)
    return DutyResult(
        hs_code=line.code,
        rate=rate,
        specific=specific,
        amount=amount,
        preferential_applied=applied,
        regulation_codes=tuple(r.code for r in table.regulations(line.code, "import")),
        ad_valorem_amount=ad_valorem,
        specific_amount=specific_amount,
        general_rate=line.duty_pct,
        agreement=agreement,
        vat_rate=line.vat_pct,
        vat_amount=vat,
        total=amount + vat,
        currency=currency or table.currency,
        notes=tuple(notes),
    )


def _preference(
    table: TariffTable, line: TariffLine, agreement_code: str, origin: str, notes: list[str]
) -> PreferentialRate | None:
    agreement = table.agreements.get(agreement_code)
    if agreement is None:
        known = ", ".join(sorted(table.agreements)) or "none"
        notes.append(
            f"agreement {agreement_code!r} is not in the tariff (known: {known}); "
            "the general rate applies"
        )
        return None
    if origin not in agreement.partners:
        notes.append(
            f"origin {origin} is not a partner of {agreement_code} "
            f"({', '.join(sorted(agreement.partners))}); the general rate applies"
        )
        return None
    pref = table.preferential_rate(line.code, agreement_code)
    if pref is None or pref.duty_pct is None:
        where = f" ({pref.source})" if pref else ""
        notes.append(
            f"{line.code} is excluded from {agreement_code}{where}; the general rate applies"
        )
        return None
    return pref


def _check_currency(specific: SpecificRate | None, currency: str | None) -> None:
    if specific is not None and currency is not None and currency != specific.currency:
        raise TariffError(
            "currency_mismatch",
            f"the specific duty is in {specific.currency} but the customs value is in "
            f"{currency}; convert the value to {specific.currency} first",
        )


def _amount_due(
    value: Decimal,
    rate: Decimal,
    specific: SpecificRate | None,
    qty: Decimal,
    unit: str,
    mass: Decimal | None,
    line: str,
) -> tuple[Decimal, Decimal]:
    """(ad valorem amount, specific amount), each rounded to cents."""
    ad_valorem = _cents(value * rate / 100)
    if specific is None:
        return ad_valorem, Decimal("0.00")
    return ad_valorem, _cents(specific.amount * _in_unit(qty, unit, specific.unit, mass, line))


def _in_unit(qty: Decimal, unit: str, target: str, mass: Decimal | None, line: str) -> Decimal:
    group, factor = UNIT_FACTORS.get(unit, ("", Decimal(0)))
    t_group, t_factor = UNIT_FACTORS[target]
    if group == t_group:
        return qty * factor / t_factor
    if t_group == "mass" and mass is not None:
        return mass / t_factor
    hint = " or give the net mass" if t_group == "mass" else ""
    raise TariffError(
        "unit_mismatch",
        f"line {line} has a specific duty per {target}; a quantity in {unit} cannot be "
        f"converted to it: declare the quantity in {target}{hint}",
    )


def _amount(name: str, raw: Decimal | int | str | float) -> Decimal:
    if isinstance(raw, bool):
        raise TariffError("invalid_value", f"{name} must be a number, not {raw!r}")
    try:
        value = raw if isinstance(raw, Decimal) else Decimal(str(raw))
    except (InvalidOperation, ValueError):
        raise TariffError("invalid_value", f"{name} {raw!r} is not a number") from None
    if not value.is_finite():
        raise TariffError("invalid_value", f"{name} must be a finite number, not {raw!r}")
    if value < 0:
        raise TariffError("invalid_value", f"{name} must not be negative, got {raw!r}")
    return value


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)
