"""Statistics over a run of selections: what each rule and channel took, against the targets."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oracles.clearance.selectivity.errors import SelectivityError
from oracles.clearance.selectivity.lanes import BLUE, CHANNELS, SAMPLED, Lane
from oracles.clearance.selectivity.model import OFFICER_RULE_ID, RANDOM_RULE_ID, Selection

if TYPE_CHECKING:
    from oracles.clearance.selectivity.rules import RuleSet


@dataclass
class SelectivityStats:
    """Counts over a run: per channel, per rule, random selections, audit candidates.

    Channels count the engine's choice (`original_channel`): target rates judge the rule set,
    not the officers' re-routes, which are counted apart.  A channel whose share exceeds its
    target is a warning for the risk officer (`warnings()`); nothing is capped.
    """

    rules_version: str
    rule_lanes: dict[str, Lane]
    sampling: dict[Lane, float]
    targets: dict[Lane, float]
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
            sampling=dict(rules.sampling),
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
            "channels": {str(c): self.channels[str(c)] for c in CHANNELS},
            "audit_candidates": self.audit_candidates,
            "random": {str(c): self.random[str(c)] for c in SAMPLED},
            "rules": {
                rid: {"lane": str(lane), "matched": self.matched[rid], "waived": self.waived[rid]}
                for rid, lane in self.rule_lanes.items()
            },
            "rerouted": self.rerouted,
            "targets": {
                str(lane): {
                    "target": t,
                    "rate": round(self.rate(lane), 6),
                    "exceeded": self.rate(lane) > t,
                }
                for lane, t in self.targets.items()
            },
            "warnings": self.warnings(),
        }
