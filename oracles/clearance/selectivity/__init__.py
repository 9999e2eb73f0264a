"""Selectivity: route a declaration to a clearance channel with risk rules written as data.

Customs risk engines (ASYCUDA's selectivity lanes are the reference) send each declaration to
a channel: **C1** green (release), **C2** yellow (documentary check), **C3** red (physical
inspection); a **BLUE** flag makes it a post-clearance audit candidate while the declaration
itself follows its channel.  The criteria are data a risk officer edits (a TOML or YAML file,
see `data/selectivity/README.md`), not code: this package compiles the file once into fast
predicates and evaluates every declaration against them.

The package by job: `lanes` (C1, C2, C3 and BLUE as one enum), `model` (the risk input,
reasons, selections, re-routes), `conditions` (the `when` syntax and its compiler), `rules`
(rule files into a `RuleSet`), `engine` (`Selectivity`), `stats` (counts against targets).
Import from the package: `from oracles.clearance.selectivity import Selectivity, load_rules`.

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

from oracles.clearance.selectivity.engine import DRAW_LABEL, MIN_SEED_BYTES, Selectivity
from oracles.clearance.selectivity.errors import RulesError, SelectivityError
from oracles.clearance.selectivity.lanes import BLUE, CHANNELS, Channel, Lane
from oracles.clearance.selectivity.model import (
    OFFICER_RULE_ID,
    RANDOM_RULE_ID,
    SCOPES,
    Reason,
    RiskInput,
    RiskItem,
    Selection,
    reroute,
)
from oracles.clearance.selectivity.rules import (
    EXAMPLE_RULES,
    Rule,
    RuleSet,
    load_rules,
    parse_rules,
)
from oracles.clearance.selectivity.stats import SelectivityStats

__all__ = [
    "BLUE",
    "CHANNELS",
    "DRAW_LABEL",
    "EXAMPLE_RULES",
    "MIN_SEED_BYTES",
    "OFFICER_RULE_ID",
    "RANDOM_RULE_ID",
    "SCOPES",
    "Channel",
    "Lane",
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
