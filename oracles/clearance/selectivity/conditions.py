"""The `when` tables of rules: the condition keys, and how each compiles to a predicate.

A rule file is compiled once: `Compiler.table` turns a `when` table into a plain Python
predicate over `Facts` (a declaration prepared for the rules: HS prefixes and regulation codes
as sets), so evaluating a declaration is set look-ups and comparisons, no parsing.  A key
that is unknown or malformed raises `RulesError` naming the rule and the key path.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from oracles.clearance.selectivity.errors import RulesError
from oracles.clearance.selectivity.lanes import SAMPLED
from oracles.clearance.selectivity.model import RiskInput, RiskItem, hs_digits

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
    "xray_uncertain",
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
_HS_PREFIX = re.compile(r"\d{2,10}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_REGULATION = re.compile(r"[A-Z][A-Z0-9_]{0,31}")


class Facts:
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


Predicate = Callable[[Facts], bool]
ItemPredicate = Callable[[RiskItem, set[str]], bool]


def _negated(f: Predicate) -> Predicate:
    return lambda c: not f(c)


def _hs_in(codes: frozenset[str]) -> ItemPredicate:
    """An item whose HS prefixes (second argument) meet `codes`."""
    return lambda _it, prefixes: not codes.isdisjoint(prefixes)


def _regulation_in(codes: frozenset[str]) -> ItemPredicate:
    return lambda it, _prefixes: not codes.isdisjoint(it.regulations)


class Compiler:
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
            raise self.fail(path, f"expected a table of conditions, got {type_name(value)}")
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
                nested.append(_negated(inner))
            elif key == "hs":
                hs_gate = frozenset(self._hs(arg, where))
                item.append(_hs_in(hs_gate))
            elif key == "regulation":
                reg_gate = frozenset(self._strings(arg, where, _REGULATION, "an upper-case code"))
                item.append(_regulation_in(reg_gate))
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
                bad = sorted(set(lanes) - set(SAMPLED))
                if bad:
                    raise self.fail(where, f"{bad} are not lanes; write C2 and/or C3")
                decl.append(_intersects(key, frozenset(lanes)))
            elif key.endswith("_match"):
                decl.append(_search(key.removesuffix("_match"), self._regex(arg, where)))
            elif key in _DECL_BOOLS:
                if not isinstance(arg, bool):
                    raise self.fail(where, f"expected true or false, got {type_name(arg)}")
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
            raise self.fail(path, f"expected a non-empty list of tables, got {type_name(arg)}")
        branches = tuple(self.table(t, f"{path}[{i}]") for i, t in enumerate(arg))

        def any_of(c: Facts) -> bool:
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
            raise self.fail(
                path, f"expected a non-empty list of strings, got {type_name(arg)}{hint}"
            )
        out: list[str] = []
        for i, s in enumerate(arg):
            if not isinstance(s, str) or not s:
                raise self.fail(f"{path}[{i}]", f"expected a non-empty string, got {type_name(s)}")
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
            digits = hs_digits(s)
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
            raise self.fail(path, f"expected a finite number, got {type_name(arg)}")
        return arg


def type_name(value: Any) -> str:
    """How an error message names a value of a rule file: `string 'x'`, `a table`, ..."""
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

    def check(c: Facts) -> bool:
        v = get(c.risk)
        return v is not None and search(v) is not None

    return check


def _intersects(attr: str, values: frozenset[str]) -> Predicate:
    get = operator.attrgetter(attr)

    def check(c: Facts) -> bool:
        v = get(c.risk)
        return v is not None and not values.isdisjoint(v)

    return check


def _is(attr: str, want: bool) -> Predicate:
    get = operator.attrgetter(attr)
    return lambda c: get(c.risk) is want


def _compare(attr: str, op: Callable[[Any, Any], bool], limit: float) -> Predicate:
    get = operator.attrgetter(attr)

    def check(c: Facts) -> bool:
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

    def match(c: Facts) -> bool:
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
            for g in item:
                if not g(it, p):
                    break
            else:
                return True
        return False

    return match
