"""Rule files: reading, checking and compiling them into a `RuleSet`.

A rule file (TOML, or YAML with PyYAML; `data/selectivity/README.md` documents it) holds
named lists, sampling rates, target rates and `[[rule]]` tables.  Everything is checked when
the file is loaded, so a risk officer's typo is a `RulesError` naming the file, the rule and
the key at start-up, never a surprise on a declaration.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offchain.settings import REPO_ROOT
from oracles.clearance.selectivity.conditions import Compiler, Predicate, type_name
from oracles.clearance.selectivity.errors import RulesError
from oracles.clearance.selectivity.lanes import BLUE, SAMPLED, TARGETED, Channel, Lane
from oracles.clearance.selectivity.model import OFFICER_RULE_ID, RANDOM_RULE_ID, SCOPES, Reason

EXAMPLE_RULES = REPO_ROOT / "data" / "selectivity" / "rules.toml"

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


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule.  `channel` is None for an audit (BLUE) rule."""

    id: str
    description: str
    channel: Lane | None
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
    lane: Lane = field(init=False)
    as_reason: Reason = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lane = BLUE if self.channel is None else self.channel
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
    sampling: Mapping[Lane, float]
    targets: Mapping[Lane, float]
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
        raise fail("name", f"expected a string, got {type_name(name)}")

    lists = _lists(doc.get("lists", {}), fail)
    sampling = _rates(doc.get("sampling", {}), "sampling", SAMPLED, fail)
    targets = _rates(doc.get("targets", {}), "targets", TARGETED, fail)
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
        sampling=sampling,
        targets=targets,
        hs_lengths=tuple(sorted(lengths)),
    )


def _lists(value: Any, fail: Callable[..., RulesError]) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise fail("lists", f"expected a table of named lists, got {type_name(value)}")
    out = {}
    for name, items in value.items():
        if not _LIST_NAME.fullmatch(name):
            raise fail(f"lists.{name}", "list names are lower-case letters, digits and _")
        if not isinstance(items, list) or not all(isinstance(s, str) and s for s in items):
            raise fail(
                f"lists.{name}", f"expected a list of non-empty strings, got {type_name(items)}"
            )
        if any(s.startswith("@") for s in items):
            raise fail(f"lists.{name}", "a list cannot refer to another list")
        out[name] = tuple(items)
    return out


def _rates(
    value: Any, section: str, lanes: tuple[Lane, ...], fail: Callable[..., RulesError]
) -> dict[Lane, float]:
    if not isinstance(value, Mapping):
        raise fail(section, f"expected a table like {{ C2 = 0.02 }}, got {type_name(value)}")
    out = {}
    for lane, rate in value.items():
        if lane not in lanes:
            raise fail(f"{section}.{lane}", f"unknown channel; {section} takes {', '.join(lanes)}")
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise fail(
                f"{section}.{lane}", f"expected a rate between 0 and 1, got {type_name(rate)}"
            )
        out[Lane(lane)] = float(rate)
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
    raise fail(key, f"expected a date like 2025-01-31, got {type_name(value)}")


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
                key, f"expected a{' non-empty' if required else ''} string, got {type_name(value)}"
            )
        return value.strip()

    def flag(key: str, default: bool) -> bool:
        value = entry.get(key, default)
        if not isinstance(value, bool):
            raise fail(key, f"expected true or false, got {type_name(value)}")
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
            "scope", f"expected a list of {' / '.join(SCOPES)}, got {type_name(entry.get('scope'))}"
        )
    if "when" not in entry:
        raise fail("when", "missing: a rule needs conditions")
    compiler = Compiler(source, name, lists)
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
