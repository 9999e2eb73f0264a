"""What selectivity reads and what it answers: the risk input, reasons and selections.

The clearance oracle builds a `RiskInput` from the declaration model (or a cargo manifest
line); the engine answers a `Selection` with every `Reason`; an officer's `reroute` keeps the
engine's choice next to the officer's.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace
from typing import Any

from oracles.clearance.selectivity.errors import SelectivityError
from oracles.clearance.selectivity.lanes import Channel, Lane

RANDOM_RULE_ID = "RANDOM"
OFFICER_RULE_ID = "OFFICER"
SCOPES = ("declaration", "manifest")
"""What a rule judges: customs declarations, or cargo manifest lines before arrival."""


# --------------------------------------------------------------------------------------------
# Input protocol: built by the clearance oracle from the declaration model


def _finite(name: str, value: float | None, *, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SelectivityError(f"{name} must be a finite number, got {value!r}")


def hs_digits(code: str) -> str:
    """An HS code or prefix as digits only: dots and spaces dropped."""
    return code.replace(".", "").replace(" ", "")


@dataclass(frozen=True, slots=True)
class RiskItem:
    """One declaration item as selectivity sees it.

    `hs` is the declared code (digits; dots and spaces are dropped; empty when not known, as on
    a manifest line without one: no `hs` condition then matches), `value` the customs value
    in the administration's currency (the clearance oracle converts), `quantity` in the
    declared unit, `unit_value` value / quantity unless given, `regulations` the regulation
    codes the tariff table attaches to the code (IMP_PERMIT, QUARANTINE, ...).
    """

    hs: str
    value: float
    quantity: float
    unit_value: float | None = None
    regulations: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        hs = hs_digits(self.hs) if isinstance(self.hs, str) else None
        if hs is None or (hs and not (2 <= len(hs) <= 12 and hs.isascii() and hs.isdigit())):
            raise SelectivityError(
                f"item HS code must be 2 to 12 digits (empty: unknown), got {self.hs!r}"
            )
        _finite("item value", self.value, allow_none=False)
        _finite("item quantity", self.quantity, allow_none=False)
        _finite("item unit_value", self.unit_value)
        if self.value < 0 or self.quantity < 0:
            raise SelectivityError(
                f"item {hs}: value and quantity must not be negative, "
                f"got value {self.value!r}, quantity {self.quantity!r}"
            )
        object.__setattr__(self, "hs", hs)
        if self.unit_value is None and self.quantity > 0:
            object.__setattr__(self, "unit_value", self.value / self.quantity)
        if not isinstance(self.regulations, frozenset):
            object.__setattr__(self, "regulations", frozenset(self.regulations))


@dataclass(frozen=True, slots=True)
class RiskInput:
    """What selectivity needs of a declaration; the clearance oracle builds it.

    `date` is the declaration's acceptance date: validity windows of rules are checked against
    it (never against the clock, so every oracle instance decides the same).  A `None` field
    is data the declaration does not carry — for example no X-ray image, or no permit needed;
    a condition on absent data never matches.  `permit_ok` / `documents_ok` are the results of
    the permit and document checks; the oracle scores come from the tariff oracle (`mismatch`
    between the declared and the suggested code, `duty_gap` the extra duty if the suggestion
    is right), the audit oracle (`audit_score` in [0, 1]) and the X-ray oracle.
    `importer_history` is the number of earlier declarations of the importer.

    Advance cargo information: `scope` is "declaration" or "manifest" (a cargo manifest line
    judged before arrival: `importer` is its consignee's id, `origin` the consignor's country,
    `departure` the loading port's country, `carrier`, `loading_port`, `description`,
    `packages`, `gross_mass_kg`, `manifest_late` lodged after arrival, `partner_mismatch` the
    exporting customs reported the line differently).  For a declaration citing manifest
    lines: `manifest_unknown`, `manifest_exhausted`, `manifest_packages_mismatch`,
    `manifest_weight_mismatch`, `manifest_hs_mismatch` from matching, `manifest_late`, and
    `pre_arrival` the lanes (C2, C3) its cited lines were flagged in before arrival.
    """

    declaration_id: str
    importer: str
    declarant: str
    origin: str
    departure: str
    items: tuple[RiskItem, ...]
    date: dt.date
    total_value: float | None = None
    permit_ok: bool | None = None
    documents_ok: bool | None = None
    importer_history: int | None = None
    tariff_mismatch: bool | None = None
    tariff_duty_gap: float | None = None
    audit_score: float | None = None
    xray_threat: bool | None = None
    xray_uncertain: bool | None = None
    xray_score: float | None = None
    scope: str = "declaration"
    carrier: str | None = None
    loading_port: str | None = None
    description: str | None = None
    packages: float | None = None
    gross_mass_kg: float | None = None
    manifest_late: bool | None = None
    partner_mismatch: bool | None = None
    manifest_unknown: bool | None = None
    manifest_exhausted: bool | None = None
    manifest_packages_mismatch: bool | None = None
    manifest_weight_mismatch: bool | None = None
    manifest_hs_mismatch: bool | None = None
    pre_arrival: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.declaration_id, str) or not self.declaration_id:
            raise SelectivityError("declaration_id must be a non-empty string")
        if not isinstance(self.date, dt.date):
            raise SelectivityError(f"{self.declaration_id}: date must be a date, got {self.date!r}")
        for name in ("importer", "declarant", "origin", "departure"):
            if not isinstance(getattr(self, name), str):
                raise SelectivityError(f"{self.declaration_id}: {name} must be a string")
        items = tuple(self.items)
        if not items or not all(isinstance(it, RiskItem) for it in items):
            raise SelectivityError(f"{self.declaration_id}: items must be one or more RiskItem")
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "origin", self.origin.upper())
        object.__setattr__(self, "departure", self.departure.upper())
        if self.scope not in SCOPES:
            raise SelectivityError(
                f"{self.declaration_id}: scope must be one of {', '.join(SCOPES)}, "
                f"got {self.scope!r}"
            )
        for name in ("total_value", "tariff_duty_gap", "audit_score", "xray_score", "packages",
                     "gross_mass_kg"):  # fmt: skip
            _finite(f"{self.declaration_id}: {name}", getattr(self, name))
        if self.pre_arrival is not None and not isinstance(self.pre_arrival, frozenset):
            object.__setattr__(self, "pre_arrival", frozenset(self.pre_arrival))
        if self.total_value is None:
            object.__setattr__(self, "total_value", math.fsum(it.value for it in items))


# --------------------------------------------------------------------------------------------
# Output


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a declaration went where it went.

    `rule_id` is the rule's id, `RANDOM` for sampling, `OFFICER` for a re-route; `channel` is
    C1/C2/C3 or BLUE (audit); `waived_by` names the trusted-trader rule that waived this one
    (a waived reason does not raise the channel); `officer` is set on a re-route.
    """

    rule_id: str
    channel: Lane
    text: str
    waived_by: str | None = None
    officer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule_id,
            "channel": str(self.channel),
            "text": self.text,
        }
        if self.waived_by:
            out["waived_by"] = self.waived_by
        if self.officer:
            out["officer"] = self.officer
        return out


@dataclass(frozen=True, slots=True)
class Selection:
    """The channel of one declaration and every reason for it.

    `original_channel` is the engine's choice and stays when an officer re-routes (`channel`
    then differs and an OFFICER reason is appended).  `rules_version` is the SHA-256 of the
    rule file, the model version an attestation of this result names.
    """

    declaration_id: str
    channel: Channel
    reasons: tuple[Reason, ...]
    audit_candidate: bool
    random_selected: bool
    original_channel: Channel
    rules_version: str

    @property
    def rerouted(self) -> bool:
        return any(r.rule_id == OFFICER_RULE_ID for r in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "declaration": self.declaration_id,
            "channel": str(self.channel),
            "original_channel": str(self.original_channel),
            "audit_candidate": self.audit_candidate,
            "random_selected": self.random_selected,
            "reasons": [r.to_dict() for r in self.reasons],
            "rules_version": self.rules_version,
        }


def reroute(
    selection: Selection, new_channel: Channel | str, officer: str, reason: str
) -> Selection:
    """An officer sends the declaration to another channel; the history is kept.

    The engine's `original_channel` and all earlier reasons stay; an OFFICER reason naming
    the officer, the move and the justification is appended.  Attesting the re-route is the
    clearance oracle's job.  Raises `SelectivityError` for an unknown channel, a missing
    officer or reason, or a "re-route" to the channel the declaration is already in.
    """
    try:
        target = Channel(new_channel)
        if not target.is_channel:
            raise ValueError(target)
    except ValueError:
        raise SelectivityError(
            f"{selection.declaration_id}: unknown channel {new_channel!r}; use C1, C2 or C3"
        ) from None
    officer, reason = (officer or "").strip(), (reason or "").strip()
    if not officer or not reason:
        raise SelectivityError(
            f"{selection.declaration_id}: a re-route needs the officer's name and a reason"
        )
    if target is selection.channel:
        raise SelectivityError(f"{selection.declaration_id}: already in channel {target}")
    note = Reason(
        OFFICER_RULE_ID,
        target,
        f"re-routed from {selection.channel} to {target} by {officer}: {reason}",
        officer=officer,
    )
    return replace(selection, channel=target, reasons=(*selection.reasons, note))
