"""Selectivity: route a declaration to a clearance channel with risk rules written as data.

Customs risk engines (ASYCUDA's selectivity lanes are the reference) send each declaration to
a channel: **C1** green (release), **C2** yellow (documentary check), **C3** red (physical
inspection); a **BLUE** flag makes it a post-clearance audit candidate while the declaration
itself follows its channel.  The criteria are data a risk officer edits (a TOML or YAML file,
see `data/selectivity/README.md`), not code: this module compiles the file once into fast
predicates and evaluates every declaration against them.

Outcome, independent of the order of the rules:

1. every enabled rule valid on the declaration's date is evaluated; every match is a reason;
2. a matched C1 rule with `waive = true` (trusted trader) waives the matched C2 rules that are
   not marked `safety = true`; C3 rules are never waived;
3. the channel is the most severe channel of the remaining matches (C3 > C2 > C1), C1 if none;
4. a declaration still in C1 may be sampled: a keyed hash (HMAC-SHA256 with a secret seed) of
   its id gives a draw in [0, 1) compared with the configured random rates, so an importer
   cannot predict it and an auditor holding the seed reproduces it;
5. any matched `audit = true` rule makes the declaration an audit candidate (BLUE).

Rules apply to declarations unless their `scope` says otherwise: `scope = ["manifest"]`
rules assess cargo manifest lines before arrival (advance cargo information: consignee,
carrier, route, description, late lodging), `["declaration", "manifest"]` both.  A manifest
line is judged with the same engine (`RiskInput(scope="manifest")`); it is never sampled,
and the lanes it is flagged in carry into the declarations that cite it (`pre_arrival`).

The result is deterministic for (input, rule file, seed), as independent oracle instances
need it to be to reach a quorum on the same result.  What can go wrong: a rule file that does
not parse or breaks the syntax raises `RulesError` naming the file, the rule and the key; an
input that cannot be evaluated (NaN value, malformed HS code) raises `SelectivityError`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import operator
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from offchain.errors import OffchainError
from offchain.settings import REPO_ROOT

EXAMPLE_RULES = REPO_ROOT / "data" / "selectivity" / "rules.toml"

BLUE = "BLUE"
"""The lane of an audit reason: not a routing channel (a Selection's channel is never BLUE)."""
RANDOM_RULE_ID = "RANDOM"
OFFICER_RULE_ID = "OFFICER"
DRAW_LABEL = b"smartcustoms/selectivity/draw/v1\x00"
"""Domain separation of the sampling HMAC: the draw is HMAC-SHA256(seed, DRAW_LABEL + id)."""
MIN_SEED_BYTES = 16
SCOPES = ("declaration", "manifest")
"""What a rule judges: customs declarations, or cargo manifest lines before arrival."""


class Channel(StrEnum):
    """A clearance channel, ordered by severity through `severity`."""

    C1 = "C1"  # green: release
    C2 = "C2"  # yellow: documentary check
    C3 = "C3"  # red: physical inspection

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Channel.C1: 1, Channel.C2: 2, Channel.C3: 3}
_BY_SEVERITY = {v: k for k, v in _SEVERITY.items()}
# Order of reasons shown to the officer: decisive lanes first, waived reasons last.
_RANK = {"C3": 0, "C2": 1, BLUE: 2, "C1": 3}
_WAIVED_RANK = 4


# --------------------------------------------------------------------------------------------
# Errors


class SelectivityError(OffchainError):
    """Selectivity could not evaluate: a bad input, seed or re-route request."""

    code = "selectivity_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class RulesError(SelectivityError):
    """A rule file that cannot be used; `detail` reads `file:rule: key: problem`.

    `source` is the file, `rule_id` the rule (or `rule #N` when it has no id, None for the
    file-level sections), `key` the offending key path (`when.any[1].hs`), `problem` what is
    wrong and how to write it instead.
    """

    code = "rules_invalid"

    def __init__(self, source: str, rule_id: str | None, key: str | None, problem: str) -> None:
        where = f"{source}:{rule_id}" if rule_id else source
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")
        self.source = source
        self.rule_id = rule_id
        self.key = key
        self.problem = problem


# --------------------------------------------------------------------------------------------
# Input protocol: built by the clearance oracle from the declaration model


def _finite(name: str, value: float | None, *, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SelectivityError(f"{name} must be a finite number, got {value!r}")


def _hs_digits(code: str) -> str:
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
        hs = _hs_digits(self.hs) if isinstance(self.hs, str) else None
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
    channel: str
    text: str
    waived_by: str | None = None
    officer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule_id, "channel": self.channel, "text": self.text}
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
        str(target),
        f"re-routed from {selection.channel} to {target} by {officer}: {reason}",
        officer=officer,
    )
    return replace(selection, channel=target, reasons=(*selection.reasons, note))


# --------------------------------------------------------------------------------------------
# Rule syntax: condition keys and how each compiles

_ITEM_NUMBERS = ("value", "unit_value", "quantity")
_DECL_NUMBERS = (
    "total_value",
    "importer_history",
    "tariff_duty_gap",
    "audit_score",
    "xray_score",
    "packages",
    "gross_mass_kg",
)
_DECL_BOOLS = (
    "permit_ok",
    "documents_ok",
    "tariff_mismatch",
    "xray_threat",
    "manifest_late",
    "partner_mismatch",
    "manifest_unknown",
    "manifest_exhausted",
    "manifest_packages_mismatch",
    "manifest_weight_mismatch",
    "manifest_hs_mismatch",
)
_COUNTRY_KEYS = ("origin", "departure")
_ID_KEYS = ("importer", "declarant", "carrier")
_TEXT_KEYS = ("description",)  # matched by regular expression only (`description_match`)
_LANE_KEYS = ("pre_arrival",)  # sets of lanes: any of the listed ones
_LOCODE = re.compile(r"[A-Z]{2}[A-Z2-9]{3}")
_OPS = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}
_CONDITION_KEYS = frozenset(
    ["hs", "regulation", "any", "not", "loading_port", *_COUNTRY_KEYS, *_ID_KEYS, *_DECL_BOOLS]
    + [*_LANE_KEYS]
    + [f"{k}_match" for k in (*_ID_KEYS, *_TEXT_KEYS)]
    + [f"{n}_{op}" for n in (*_ITEM_NUMBERS, *_DECL_NUMBERS) for op in _OPS]
)
_RULE_KEYS = frozenset(
    [
        "id",
        "description",
        "channel",
        "audit",
        "reason",
        "enabled",
        "safety",
        "waive",
        "valid_from",
        "valid_to",
        "when",
        "scope",
    ]
)
_TOP_KEYS = frozenset(["name", "description", "sampling", "targets", "lists", "rule"])
_RULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_LIST_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_HS_PREFIX = re.compile(r"\d{2,10}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_REGULATION = re.compile(r"[A-Z][A-Z0-9_]{0,31}")
_SAMPLED = (Channel.C2, Channel.C3)
_TARGETED = ("C2", "C3", BLUE)


class _Context:
    """One declaration prepared for the rules: HS prefixes and regulation codes as sets."""

    __slots__ = ("items", "prefixes", "regs", "risk")

    def __init__(self, risk: RiskInput, lengths: tuple[int, ...]) -> None:
        self.risk = risk
        prefixes: set[str] = set()
        regs: set[str] = set()
        items = []
        for it in risk.items:
            hs = it.hs
            own = {hs[:n] for n in lengths if len(hs) >= n}
            prefixes |= own
            regs |= it.regulations
            items.append((it, own))
        self.items = items
        self.prefixes = prefixes
        self.regs = regs


Predicate = Callable[[_Context], bool]
ItemPredicate = Callable[[RiskItem, set[str]], bool]


class _Compiler:
    """Turns one rule's `when` table into a predicate; raises RulesError with the key path."""

    def __init__(self, source: str, rule: str, lists: Mapping[str, tuple[str, ...]]) -> None:
        self.source = source
        self.rule = rule
        self.lists = lists
        self.hs_lengths: set[int] = set()

    def fail(self, key: str, problem: str) -> RulesError:
        return RulesError(self.source, self.rule, key, problem)

    def table(self, value: Any, path: str) -> Predicate:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"expected a table of conditions, got {_type(value)}")
        if not value:
            raise self.fail(path, "needs at least one condition (an empty table would match all)")
        decl: list[Predicate] = []
        nested: list[Predicate] = []
        item: list[ItemPredicate] = []
        hs_gate: frozenset[str] | None = None
        reg_gate: frozenset[str] | None = None
        for key, arg in value.items():
            where = f"{path}.{key}"
            if key not in _CONDITION_KEYS:
                raise self.fail(where, f"unknown condition; known conditions: {_known()}")
            if key == "any":
                nested.append(self._any(arg, where))
            elif key == "not":
                inner = self.table(arg, where)
                nested.append(lambda c, f=inner: not f(c))
            elif key == "hs":
                hs_gate = frozenset(self._hs(arg, where))
                item.append(lambda it, p, s=hs_gate: not s.isdisjoint(p))
            elif key == "regulation":
                reg_gate = frozenset(self._strings(arg, where, _REGULATION, "an upper-case code"))
                item.append(lambda it, p, s=reg_gate: not s.isdisjoint(it.regulations))
            elif key in _COUNTRY_KEYS:
                codes = frozenset(
                    c.upper()
                    for c in self._strings(arg, where, _COUNTRY, "a 2-letter ISO code", fold=True)
                )
                decl.append(_in_set(key, codes))
            elif key in _ID_KEYS:
                decl.append(_in_set(key, frozenset(self._strings(arg, where))))
            elif key == "loading_port":
                decl.append(
                    _in_set(key, frozenset(self._strings(arg, where, _LOCODE, "a UN/LOCODE")))
                )
            elif key in _LANE_KEYS:
                lanes = self._strings(arg, where)
                bad = sorted(set(lanes) - {"C2", "C3"})
                if bad:
                    raise self.fail(where, f"{bad} are not lanes; write C2 and/or C3")
                decl.append(_intersects(key, frozenset(lanes)))
            elif key.endswith("_match"):
                decl.append(_search(key.removesuffix("_match"), self._regex(arg, where)))
            elif key in _DECL_BOOLS:
                if not isinstance(arg, bool):
                    raise self.fail(where, f"expected true or false, got {_type(arg)}")
                decl.append(_is(key, arg))
            else:
                name, op = key.rsplit("_", 1)
                number = self._number(arg, where)
                if name in _ITEM_NUMBERS:
                    item.append(_item_compare(name, _OPS[op], number))
                else:
                    decl.append(_compare(name, _OPS[op], number))
        # A lone hs or regulation condition is decided by its gate: no loop over items.
        if len(item) == 1 and (hs_gate is not None or reg_gate is not None):
            item = []
        return _table(hs_gate, reg_gate, tuple(decl + nested), tuple(item))

    def _any(self, arg: Any, path: str) -> Predicate:
        if not isinstance(arg, list) or not arg:
            raise self.fail(path, f"expected a non-empty list of tables, got {_type(arg)}")
        branches = tuple(self.table(t, f"{path}[{i}]") for i, t in enumerate(arg))

        def any_of(c: _Context) -> bool:
            return any(f(c) for f in branches)

        return any_of

    def _strings(
        self,
        arg: Any,
        path: str,
        pattern: re.Pattern[str] | None = None,
        what: str = "",
        *,
        fold: bool = False,
    ) -> list[str]:
        if not isinstance(arg, list) or not arg:
            hint = f' (write ["{arg}"])' if isinstance(arg, str) else ""
            raise self.fail(path, f"expected a non-empty list of strings, got {_type(arg)}{hint}")
        out: list[str] = []
        for i, s in enumerate(arg):
            if not isinstance(s, str) or not s:
                raise self.fail(f"{path}[{i}]", f"expected a non-empty string, got {_type(s)}")
            if s.startswith("@"):
                if s[1:] not in self.lists:
                    known = ", ".join(f"@{n}" for n in self.lists) or "none"
                    raise self.fail(f"{path}[{i}]", f"unknown list {s!r}; lists defined: {known}")
                values = self.lists[s[1:]]
            else:
                values = (s,)
            for v in values:
                if pattern is not None and not pattern.fullmatch(v.upper() if fold else v):
                    raise self.fail(f"{path}[{i}]", f"{v!r} is not {what}")
            out.extend(values)
        return out

    def _hs(self, arg: Any, path: str) -> list[str]:
        raw = self._strings(arg, path)
        out = []
        for s in raw:
            digits = _hs_digits(s)
            if not _HS_PREFIX.fullmatch(digits):
                raise self.fail(path, f"{s!r} is not an HS prefix of 2 to 10 digits")
            self.hs_lengths.add(len(digits))
            out.append(digits)
        return out

    def _regex(self, arg: Any, path: str) -> re.Pattern[str]:
        patterns = self._strings(arg, path)
        for i, p in enumerate(patterns):
            try:
                re.compile(p)
            except re.error as e:
                raise self.fail(f"{path}[{i}]", f"bad regular expression {p!r}: {e}") from None
        try:
            return re.compile("|".join(f"(?:{p})" for p in patterns))
        except re.error as e:  # e.g. a global flag such as (?i) inside the alternation
            raise self.fail(
                path, f"the patterns cannot be combined ({e}); write flags scoped: (?i:...)"
            ) from None

    def _number(self, arg: Any, path: str) -> float:
        if isinstance(arg, bool) or not isinstance(arg, int | float) or not math.isfinite(arg):
            raise self.fail(path, f"expected a finite number, got {_type(arg)}")
        return arg


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _known() -> str:
    return ", ".join(sorted(_CONDITION_KEYS))


def _in_set(attr: str, values: frozenset[str]) -> Predicate:
    get = operator.attrgetter(attr)
    return lambda c: get(c.risk) in values


def _search(attr: str, rx: re.Pattern[str]) -> Predicate:
    get, search = operator.attrgetter(attr), rx.search

    def check(c: _Context) -> bool:
        v = get(c.risk)
        return v is not None and search(v) is not None

    return check


def _intersects(attr: str, values: frozenset[str]) -> Predicate:
    get = operator.attrgetter(attr)

    def check(c: _Context) -> bool:
        v = get(c.risk)
        return v is not None and not values.isdisjoint(v)

    return check


def _is(attr: str, want: bool) -> Predicate:
    get = operator.attrgetter(attr)
    return lambda c: get(c.risk) is want


def _compare(attr: str, op: Callable[[Any, Any], bool], limit: float) -> Predicate:
    get = operator.attrgetter(attr)

    def check(c: _Context) -> bool:
        v = get(c.risk)
        return v is not None and op(v, limit)

    return check


def _item_compare(attr: str, op: Callable[[Any, Any], bool], limit: float) -> ItemPredicate:
    get = operator.attrgetter(attr)

    def check(it: RiskItem, _p: set[str]) -> bool:
        v = get(it)
        return v is not None and op(v, limit)

    return check


def _table(
    hs_gate: frozenset[str] | None,
    reg_gate: frozenset[str] | None,
    decl: tuple[Predicate, ...],
    item: tuple[ItemPredicate, ...],
) -> Predicate:
    """AND of one table: set gates first (cheap), then declaration checks, then one item that
    satisfies every item condition together."""

    def match(c: _Context) -> bool:
        if hs_gate is not None and hs_gate.isdisjoint(c.prefixes):
            return False
        if reg_gate is not None and reg_gate.isdisjoint(c.regs):
            return False
        for f in decl:
            if not f(c):
                return False
        if not item:
            return True
        for it, p in c.items:
            for f in item:
                if not f(it, p):
                    break
            else:
                return True
        return False

    return match


# --------------------------------------------------------------------------------------------
# Rules and rule sets


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule.  `channel` is None for an audit (BLUE) rule."""

    id: str
    description: str
    channel: Channel | None
    audit: bool
    reason: str
    enabled: bool
    valid_from: dt.date | None
    valid_to: dt.date | None
    safety: bool
    waive: bool
    when: Mapping[str, Any] = field(repr=False)
    matches: Predicate = field(repr=False, compare=False)
    scopes: frozenset[str] = frozenset({"declaration"})
    lane: str = field(init=False)
    as_reason: Reason = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lane = BLUE if self.channel is None else str(self.channel)
        object.__setattr__(self, "lane", lane)
        object.__setattr__(self, "as_reason", Reason(self.id, lane, self.reason))

    def active_on(self, day: dt.date) -> bool:
        """Enabled and inside its validity window (both ends inclusive)."""
        return (
            self.enabled
            and (self.valid_from is None or self.valid_from <= day)
            and (self.valid_to is None or day <= self.valid_to)
        )


@dataclass(frozen=True)
class RuleSet:
    """A compiled rule file: the rules in file order, sampling rates and target rates.

    `version` is the SHA-256 (hex) of the file's bytes: the model version of every selection
    made with it.  `sampling` maps C2/C3 to the random selection rate of otherwise-C1
    declarations; `targets` maps C2/C3/BLUE to the maximum share of declarations expected.
    """

    source: str
    version: str
    name: str
    rules: tuple[Rule, ...]
    sampling: Mapping[Channel, float]
    targets: Mapping[str, float]
    hs_lengths: tuple[int, ...]
    _active: dict[tuple[dt.date, str], tuple[Rule, ...]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def active(self, day: dt.date, scope: str = "declaration") -> tuple[Rule, ...]:
        """The rules of `scope` that apply on `day`, computed once per day and scope."""
        rules = self._active.get((day, scope))
        if rules is None:
            if len(self._active) > 1024:
                self._active.clear()
            rules = self._active[(day, scope)] = tuple(
                r for r in self.rules if scope in r.scopes and r.active_on(day)
            )
        return rules


def load_rules(path: str | Path) -> RuleSet:
    """Read and compile a rule file (`.toml`, or `.yaml`/`.yml` when PyYAML is installed).

    Raises `RulesError` naming the file, rule and key for anything that is not valid; a file
    that cannot be read raises `RulesError` too.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise RulesError(
            str(path), None, None, f"cannot read the rule file: {e.strerror}"
        ) from None
    return parse_rules(raw, source=str(path), yaml=path.suffix.lower() in (".yaml", ".yml"))


def parse_rules(text: str | bytes, *, source: str = "<rules>", yaml: bool = False) -> RuleSet:
    """Compile rules from the text of a rule file; see `load_rules`."""
    raw = text.encode() if isinstance(text, str) else text
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RulesError(source, None, None, f"not UTF-8: {e}") from None
    if yaml:
        doc = _load_yaml(decoded, source)
    else:
        try:
            doc = tomllib.loads(decoded)
        except tomllib.TOMLDecodeError as e:
            raise RulesError(source, None, None, f"not valid TOML: {e}") from None
    return _build(doc, source, hashlib.sha256(raw).hexdigest())


def _load_yaml(text: str, source: str) -> Any:
    try:
        import yaml as pyyaml
    except ImportError:
        raise RulesError(source, None, None, "YAML rule files need PyYAML; or write TOML") from None
    try:
        return pyyaml.safe_load(text)
    except pyyaml.YAMLError as e:
        raise RulesError(source, None, None, f"not valid YAML: {e}") from None


def _build(doc: Any, source: str, version: str) -> RuleSet:
    def fail(key: str | None, problem: str, rule: str | None = None) -> RulesError:
        return RulesError(source, rule, key, problem)

    if not isinstance(doc, Mapping):
        raise fail(None, "the file must be a table of sections")
    for key in doc:
        if key not in _TOP_KEYS:
            raise fail(key, f"unknown section; known: {', '.join(sorted(_TOP_KEYS))}")
    name = doc.get("name", Path(source).stem)
    if not isinstance(name, str):
        raise fail("name", f"expected a string, got {_type(name)}")

    lists = _lists(doc.get("lists", {}), fail)
    sampling = _rates(doc.get("sampling", {}), "sampling", [str(c) for c in _SAMPLED], fail)
    targets = _rates(doc.get("targets", {}), "targets", list(_TARGETED), fail)
    if sum(sampling.values()) > 1:
        raise fail("sampling", "the random rates add up to more than 1")
    for lane, rate in sampling.items():
        if lane in targets and rate > targets[lane]:
            raise fail(
                f"sampling.{lane}",
                f"random rate {rate} is above the target rate {targets[lane]}: sampling alone "
                "would exceed the target",
            )

    entries = doc.get("rule", [])
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise fail("rule", "rules are written as [[rule]] tables")
    if not entries:
        raise fail("rule", "no rules: write at least one [[rule]]")
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    lengths: set[int] = set()
    for n, entry in enumerate(entries, 1):
        rule = _rule(entry, n, source, lists, lengths)
        if rule.id in seen:
            raise fail("id", f"duplicate rule id (also rule #{seen[rule.id]})", rule.id)
        seen[rule.id] = n
        rules.append(rule)
    return RuleSet(
        source=source,
        version=version,
        name=name,
        rules=tuple(rules),
        sampling={Channel(k): v for k, v in sampling.items()},
        targets=targets,
        hs_lengths=tuple(sorted(lengths)),
    )


def _lists(value: Any, fail: Callable[..., RulesError]) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise fail("lists", f"expected a table of named lists, got {_type(value)}")
    out = {}
    for name, items in value.items():
        if not _LIST_NAME.fullmatch(name):
            raise fail(f"lists.{name}", "list names are lower-case letters, digits and _")
        if not isinstance(items, list) or not all(isinstance(s, str) and s for s in items):
            raise fail(f"lists.{name}", f"expected a list of non-empty strings, got {_type(items)}")
        if any(s.startswith("@") for s in items):
            raise fail(f"lists.{name}", "a list cannot refer to another list")
        out[name] = tuple(items)
    return out


def _rates(
    value: Any, section: str, lanes: list[str], fail: Callable[..., RulesError]
) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise fail(section, f"expected a table like {{ C2 = 0.02 }}, got {_type(value)}")
    out = {}
    for lane, rate in value.items():
        if lane not in lanes:
            raise fail(f"{section}.{lane}", f"unknown channel; {section} takes {', '.join(lanes)}")
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise fail(f"{section}.{lane}", f"expected a rate between 0 and 1, got {_type(rate)}")
        out[lane] = float(rate)
    return out


def _date(value: Any, key: str, fail: Callable[[str, str], RulesError]) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        raise fail(key, "expected a date like 2025-01-31 (no time of day)")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise fail(key, f"expected a date like 2025-01-31, got {_type(value)}")


def _rule(
    entry: Mapping[str, Any],
    n: int,
    source: str,
    lists: Mapping[str, tuple[str, ...]],
    lengths: set[int],
) -> Rule:
    rid = entry.get("id")
    name = rid if isinstance(rid, str) and rid else f"rule #{n}"

    def fail(key: str, problem: str) -> RulesError:
        return RulesError(source, name, key, problem)

    for key in entry:
        if key not in _RULE_KEYS:
            raise fail(key, f"unknown rule key; known: {', '.join(sorted(_RULE_KEYS))}")
    if not isinstance(rid, str) or not _RULE_ID.fullmatch(rid):
        raise fail("id", "every rule needs an id: letters, digits, '_', '.', '-' (up to 64)")
    if rid.upper() in (RANDOM_RULE_ID, OFFICER_RULE_ID):
        raise fail("id", f"{rid!r} is reserved for random selection and officer re-routes")

    def text(key: str, required: bool) -> str:
        value = entry.get(key, None if required else "")
        if not isinstance(value, str) or (required and not value.strip()):
            raise fail(
                key, f"expected a{' non-empty' if required else ''} string, got {_type(value)}"
            )
        return value.strip()

    def flag(key: str, default: bool) -> bool:
        value = entry.get(key, default)
        if not isinstance(value, bool):
            raise fail(key, f"expected true or false, got {_type(value)}")
        return value

    reason, description = text("reason", True), text("description", False)
    enabled, audit, safety, waive = (
        flag("enabled", True),
        flag("audit", False),
        flag("safety", False),
        flag("waive", False),
    )
    channel: Channel | None = None
    if "channel" in entry:
        raw = entry["channel"]
        if raw == BLUE:
            raise fail("channel", "BLUE is not a channel: write audit = true for an audit rule")
        try:
            channel = Channel(raw)
        except ValueError:
            raise fail("channel", f"unknown channel {raw!r}; use C1, C2 or C3") from None
        if audit:
            raise fail(
                "audit",
                "a rule routes (channel) or flags for audit (audit = true), not "
                "both: write two rules",
            )
    elif not audit:
        raise fail("channel", "missing: give channel = C1, C2 or C3, or audit = true")
    if waive and channel is not Channel.C1:
        raise fail("waive", "only a C1 (trusted trader) rule can waive other rules")
    if safety and channel not in (Channel.C2, Channel.C3):
        raise fail("safety", "only C2 and C3 rules can be safety rules")
    valid_from = _date(entry.get("valid_from"), "valid_from", fail)
    valid_to = _date(entry.get("valid_to"), "valid_to", fail)
    if valid_from and valid_to and valid_to < valid_from:
        raise fail("valid_to", f"{valid_to} is before valid_from {valid_from}")
    raw_scope = entry.get("scope", ["declaration"])
    if isinstance(raw_scope, str):
        raw_scope = [raw_scope]
    if (
        not isinstance(raw_scope, list)
        or not raw_scope
        or not all(isinstance(x, str) and x in SCOPES for x in raw_scope)
    ):
        raise fail(
            "scope", f"expected a list of {' / '.join(SCOPES)}, got {_type(entry.get('scope'))}"
        )
    if "when" not in entry:
        raise fail("when", "missing: a rule needs conditions")
    compiler = _Compiler(source, name, lists)
    matches = compiler.table(entry["when"], "when")
    lengths |= compiler.hs_lengths
    return Rule(
        id=rid,
        description=description,
        channel=channel,
        audit=audit,
        reason=reason,
        enabled=enabled,
        valid_from=valid_from,
        valid_to=valid_to,
        safety=safety,
        waive=waive,
        when=entry["when"],
        matches=matches,
        scopes=frozenset(raw_scope),
    )


# --------------------------------------------------------------------------------------------
# The engine


class Selectivity:
    """Evaluates declarations against a compiled rule set with a secret sampling seed.

    `seed` (at least 16 bytes; a str is taken as UTF-8) keys the HMAC of the random draw: it
    comes from the settings, shared by the clearance oracle instances of the administration
    and by its auditors, never by traders.
    """

    def __init__(self, rules: RuleSet, seed: bytes | str) -> None:
        key = seed.encode() if isinstance(seed, str) else bytes(seed)
        if len(key) < MIN_SEED_BYTES:
            raise SelectivityError(
                f"the selection seed must be at least {MIN_SEED_BYTES} bytes (a secret from the "
                "settings); a short seed lets traders guess which declarations are sampled"
            )
        self.rules = rules
        self._key = key
        p3 = rules.sampling.get(Channel.C3, 0.0)
        p2 = rules.sampling.get(Channel.C2, 0.0)
        self._cut3, self._cut2 = p3, p3 + p2
        self._random = {
            Channel.C3: Reason(
                RANDOM_RULE_ID, "C3", f"random selection (C3 sampling rate {p3:.2%})"
            ),
            Channel.C2: Reason(
                RANDOM_RULE_ID, "C2", f"random selection (C2 sampling rate {p2:.2%})"
            ),
        }
        self._waived: dict[tuple[str, str], Reason] = {}

    def draw(self, declaration_id: str) -> float:
        """The declaration's sampling draw in [0, 1): HMAC-SHA256(seed, label + id), first 8
        bytes as a big-endian fraction.  Sampled into C3 when below the C3 rate, into C2 when
        below C3 + C2 rates."""
        mac = hmac.digest(self._key, DRAW_LABEL + declaration_id.encode(), "sha256")
        return int.from_bytes(mac[:8], "big") / 18446744073709551616.0

    def select(self, risk: RiskInput) -> Selection:
        """Route one declaration; see the module docstring for the order of decisions."""
        ctx = _Context(risk, self.rules.hs_lengths)
        matched = [r for r in self.rules.active(risk.date, risk.scope) if r.matches(ctx)]
        severity, audit, reasons = 1, False, []
        if matched:
            waiver = next((r.id for r in matched if r.waive), None)
            for r in matched:
                if r.channel is None:
                    audit = True
                elif waiver is not None and r.channel is Channel.C2 and not r.safety:
                    reasons.append(self._waived_reason(r, waiver))
                    continue
                elif _SEVERITY[r.channel] > severity:
                    severity = _SEVERITY[r.channel]
                reasons.append(r.as_reason)
        channel = _BY_SEVERITY[severity]
        sampled = False
        if severity == 1 and self._cut2 > 0 and risk.scope == "declaration":
            u = self.draw(risk.declaration_id)
            if u < self._cut2:
                channel = Channel.C3 if u < self._cut3 else Channel.C2
                reasons.append(self._random[channel])
                sampled = True
        if len(reasons) > 1:
            reasons.sort(key=_reason_rank)
        return Selection(
            declaration_id=risk.declaration_id,
            channel=channel,
            reasons=tuple(reasons),
            audit_candidate=audit,
            random_selected=sampled,
            original_channel=channel,
            rules_version=self.rules.version,
        )

    def _waived_reason(self, rule: Rule, waiver: str) -> Reason:
        key = (rule.id, waiver)
        reason = self._waived.get(key)
        if reason is None:
            reason = self._waived[key] = Reason(
                rule.id, rule.lane, f"{rule.reason} (waived by {waiver})", waived_by=waiver
            )
        return reason

    def new_stats(self) -> SelectivityStats:
        """Empty statistics for a run with this rule set."""
        return SelectivityStats.for_rules(self.rules)

    def run(self, risks: Iterable[RiskInput]) -> tuple[list[Selection], SelectivityStats]:
        """Select every declaration and count what each rule and channel took."""
        stats = self.new_stats()
        out = []
        for risk in risks:
            sel = self.select(risk)
            stats.record(sel)
            out.append(sel)
        return out, stats


def _reason_rank(reason: Reason) -> int:
    if reason.waived_by is not None:
        return _WAIVED_RANK
    return _RANK[reason.channel]


# --------------------------------------------------------------------------------------------
# Statistics over a run


@dataclass
class SelectivityStats:
    """Counts over a run: per channel, per rule, random selections, audit candidates.

    Channels count the engine's choice (`original_channel`): target rates judge the rule set,
    not the officers' re-routes, which are counted apart.  A channel whose share exceeds its
    target is a warning for the risk officer (`warnings()`); nothing is capped.
    """

    rules_version: str
    rule_lanes: dict[str, str]
    sampling: dict[str, float]
    targets: dict[str, float]
    declarations: int = 0
    channels: Counter[str] = field(default_factory=Counter)
    random: Counter[str] = field(default_factory=Counter)
    matched: Counter[str] = field(default_factory=Counter)
    waived: Counter[str] = field(default_factory=Counter)
    audit_candidates: int = 0
    rerouted: int = 0

    @classmethod
    def for_rules(cls, rules: RuleSet) -> SelectivityStats:
        return cls(
            rules_version=rules.version,
            rule_lanes={r.id: r.lane for r in rules.rules},
            sampling={str(k): v for k, v in rules.sampling.items()},
            targets=dict(rules.targets),
        )

    def record(self, selection: Selection) -> None:
        """Count one selection; it must come from the same rule file."""
        if selection.rules_version != self.rules_version:
            raise SelectivityError(
                f"{selection.declaration_id}: selected with rules {selection.rules_version[:12]}, "
                f"these statistics are for rules {self.rules_version[:12]}"
            )
        self.declarations += 1
        self.channels[str(selection.original_channel)] += 1
        if selection.random_selected:
            self.random[str(selection.original_channel)] += 1
        if selection.audit_candidate:
            self.audit_candidates += 1
        for reason in selection.reasons:
            if reason.rule_id == OFFICER_RULE_ID or reason.rule_id == RANDOM_RULE_ID:
                continue
            self.matched[reason.rule_id] += 1
            if reason.waived_by is not None:
                self.waived[reason.rule_id] += 1
        if selection.rerouted:
            self.rerouted += 1

    def count(self, lane: str) -> int:
        return self.audit_candidates if lane == BLUE else self.channels[lane]

    def rate(self, lane: str) -> float:
        """Share of the run's declarations in a channel (or BLUE: audit candidates)."""
        return self.count(lane) / self.declarations if self.declarations else 0.0

    def exceeded(self) -> dict[str, tuple[float, float]]:
        """Lanes over their target: lane -> (rate, target)."""
        return {
            lane: (self.rate(lane), target)
            for lane, target in self.targets.items()
            if self.rate(lane) > target
        }

    def warnings(self) -> list[str]:
        """One sentence per lane over its target, naming the rules that selected most."""
        out = []
        for lane, (rate, target) in self.exceeded().items():
            top = sorted(
                ((n, rid) for rid, n in self.matched.items() if self.rule_lanes.get(rid) == lane),
                reverse=True,
            )[:3]
            heavy = ", ".join(f"{rid} ({n})" for n, rid in top) or "random selection only"
            out.append(
                f"{lane} rate {rate:.2%} ({self.count(lane)} of {self.declarations}) exceeds the "
                f"target {target:.2%}; rules selecting most: {heavy}"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "declarations": self.declarations,
            "rules_version": self.rules_version,
            "channels": {str(c): self.channels[str(c)] for c in Channel},
            "audit_candidates": self.audit_candidates,
            "random": {str(c): self.random[str(c)] for c in _SAMPLED},
            "rules": {
                rid: {"lane": lane, "matched": self.matched[rid], "waived": self.waived[rid]}
                for rid, lane in self.rule_lanes.items()
            },
            "rerouted": self.rerouted,
            "targets": {
                lane: {
                    "target": t,
                    "rate": round(self.rate(lane), 6),
                    "exceeded": self.rate(lane) > t,
                }
                for lane, t in self.targets.items()
            },
            "warnings": self.warnings(),
        }


__all__ = [
    "BLUE",
    "DRAW_LABEL",
    "EXAMPLE_RULES",
    "OFFICER_RULE_ID",
    "RANDOM_RULE_ID",
    "SCOPES",
    "Channel",
    "Reason",
    "RiskInput",
    "RiskItem",
    "Rule",
    "RuleSet",
    "RulesError",
    "Selection",
    "Selectivity",
    "SelectivityError",
    "SelectivityStats",
    "load_rules",
    "parse_rules",
    "reroute",
]
