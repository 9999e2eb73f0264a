"""The engine: a compiled rule set and a secret seed route each declaration to its channel."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from oracles.clearance.selectivity.conditions import Facts
from oracles.clearance.selectivity.errors import SelectivityError
from oracles.clearance.selectivity.lanes import BLUE, BY_SEVERITY, SEVERITY, Lane
from oracles.clearance.selectivity.model import RANDOM_RULE_ID, Reason, RiskInput, Selection
from oracles.clearance.selectivity.rules import Rule, RuleSet
from oracles.clearance.selectivity.stats import SelectivityStats

DRAW_LABEL = b"smartcustoms/selectivity/draw/v1\x00"
"""Domain separation of the sampling HMAC: the draw is HMAC-SHA256(seed, DRAW_LABEL + id)."""
MIN_SEED_BYTES = 16

# Order of reasons shown to the officer: decisive lanes first, waived reasons last.
_RANK = {Lane.C3: 0, Lane.C2: 1, BLUE: 2, Lane.C1: 3}
_WAIVED_RANK = 4


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
        p3 = rules.sampling.get(Lane.C3, 0.0)
        p2 = rules.sampling.get(Lane.C2, 0.0)
        self._cut3, self._cut2 = p3, p3 + p2
        self._random = {
            Lane.C3: Reason(
                RANDOM_RULE_ID, Lane.C3, f"random selection (C3 sampling rate {p3:.2%})"
            ),
            Lane.C2: Reason(
                RANDOM_RULE_ID, Lane.C2, f"random selection (C2 sampling rate {p2:.2%})"
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
        ctx = Facts(risk, self.rules.hs_lengths)
        matched = [r for r in self.rules.active(risk.date, risk.scope) if r.matches(ctx)]
        severity, audit, reasons = 1, False, []
        if matched:
            waiver = next((r.id for r in matched if r.waive), None)
            for r in matched:
                if r.channel is None:
                    audit = True
                elif waiver is not None and r.channel is Lane.C2 and not r.safety:
                    reasons.append(self._waived_reason(r, waiver))
                    continue
                elif SEVERITY[r.channel] > severity:
                    severity = SEVERITY[r.channel]
                reasons.append(r.as_reason)
        channel = BY_SEVERITY[severity]
        sampled = False
        if severity == 1 and self._cut2 > 0 and risk.scope == "declaration":
            u = self.draw(risk.declaration_id)
            if u < self._cut2:
                channel = Lane.C3 if u < self._cut3 else Lane.C2
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
