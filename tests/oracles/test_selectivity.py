"""oracles.clearance.selectivity: conditions, precedence, sampling, statistics, re-routes,
rule-file errors, the example rule set, and speed."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
from pathlib import Path

import pytest

from oracles.clearance.selectivity import (
    BLUE,
    DRAW_LABEL,
    EXAMPLE_RULES,
    OFFICER_RULE_ID,
    RANDOM_RULE_ID,
    Channel,
    Lane,
    RiskInput,
    RiskItem,
    RulesError,
    RuleSet,
    Selection,
    Selectivity,
    SelectivityError,
    load_rules,
    parse_rules,
    reroute,
)

DAY = dt.date(2026, 3, 2)
SEED = b"test-selection-seed-0123456789"
SOURCE = "test.toml"


def item(
    hs: str = "847130", value: float = 1000.0, quantity: float = 10.0, regs=(), **kw
) -> RiskItem:
    return RiskItem(hs, value, quantity, regulations=frozenset(regs), **kw)


def risk(declaration_id: str = "DECL-1", items=None, **kw) -> RiskInput:
    fields = dict(
        importer="TW00000001",
        declarant="BRK-1001",
        origin="JP",
        departure="JP",
        date=DAY,
    )
    fields.update(kw)
    items = [item()] if items is None else items
    return RiskInput(declaration_id=declaration_id, items=tuple(items), **fields)


def ruleset(text: str) -> RuleSet:
    return parse_rules(text, source=SOURCE)


def engine(text: str, seed: bytes = SEED) -> Selectivity:
    return Selectivity(ruleset(text), seed)


def one_rule(when: str, channel: str = "C2", extra: str = "") -> Selectivity:
    return engine(
        f'[[rule]]\nid = "R"\nchannel = "{channel}"\nreason = "because"\n{extra}\nwhen = {when}\n'
    )


def fires(when: str, r: RiskInput) -> bool:
    sel = one_rule(when).select(r)
    return sel.channel is Channel.C2 and [x.rule_id for x in sel.reasons] == ["R"]


# --------------------------------------------------------------------------------------------
# Each condition matches and does not match

CASES = [
    # (when, matching input, non-matching input)
    ('{ hs = ["85"] }', risk(items=[item("850760")]), risk(items=[item("847130")])),
    (
        '{ hs = ["8507"] }',
        risk(items=[item("847130"), item("850760")]),
        risk(items=[item("850440")]),
    ),
    ('{ hs = ["850760"] }', risk(items=[item("8507.60")]), risk(items=[item("850750")])),
    ('{ hs = ["8507.60.10"] }', risk(items=[item("85076010")]), risk(items=[item("850760")])),
    (
        '{ regulation = ["QUARANTINE"] }',
        risk(items=[item(regs={"QUARANTINE", "IMP_PERMIT"})]),
        risk(items=[item(regs={"IMP_PERMIT"})]),
    ),
    ('{ origin = ["CN", "VN"] }', risk(origin="vn"), risk(origin="JP")),
    ('{ departure = ["SG"] }', risk(departure="SG"), risk(departure="MY")),
    ('{ importer = ["TW1", "TW2"] }', risk(importer="TW2"), risk(importer="TW22")),
    ('{ declarant = ["BRK-7"] }', risk(declarant="BRK-7"), risk(declarant="BRK-8")),
    ('{ importer_match = ["^TW9\\\\d+$"] }', risk(importer="TW9123"), risk(importer="TW9123X")),
    (
        '{ declarant_match = ["^BRK-9", "SHADY"] }',
        risk(declarant="X-SHADY-1"),
        risk(declarant="BRK-19"),
    ),
    ("{ value_gt = 1000 }", risk(items=[item(value=1000.01)]), risk(items=[item(value=1000)])),
    ("{ value_ge = 1000 }", risk(items=[item(value=1000)]), risk(items=[item(value=999.99)])),
    ("{ value_lt = 10 }", risk(items=[item(value=9)]), risk(items=[item(value=10)])),
    ("{ value_le = 10 }", risk(items=[item(value=10)]), risk(items=[item(value=10.5)])),
    (
        "{ unit_value_lt = 2 }",
        risk(items=[item(value=150, quantity=100)]),
        risk(items=[item(value=250, quantity=100)]),
    ),
    (
        "{ unit_value_ge = 5 }",
        risk(items=[item(value=1, quantity=100, unit_value=5)]),
        risk(items=[item(value=1000, quantity=100, unit_value=4)]),
    ),
    (
        "{ quantity_gt = 1000 }",
        risk(items=[item(quantity=1001)]),
        risk(items=[item(quantity=1000)]),
    ),
    (
        "{ total_value_gt = 1500 }",
        risk(items=[item(value=1000), item(value=600)]),
        risk(items=[item(value=1000), item(value=400)]),
    ),
    ("{ total_value_le = 100 }", risk(total_value=100), risk(total_value=101)),
    ("{ importer_history_lt = 3 }", risk(importer_history=2), risk(importer_history=3)),
    ("{ permit_ok = false }", risk(permit_ok=False), risk(permit_ok=True)),
    ("{ permit_ok = false }", risk(permit_ok=False), risk(permit_ok=None)),
    ("{ documents_ok = false }", risk(documents_ok=False), risk(documents_ok=True)),
    ("{ tariff_mismatch = true }", risk(tariff_mismatch=True), risk(tariff_mismatch=False)),
    ("{ tariff_duty_gap_gt = 500 }", risk(tariff_duty_gap=501), risk(tariff_duty_gap=500)),
    ("{ audit_score_gt = 0.8 }", risk(audit_score=0.81), risk(audit_score=0.8)),
    ("{ audit_score_gt = 0.8 }", risk(audit_score=0.9), risk(audit_score=None)),
    ("{ xray_threat = true }", risk(xray_threat=True), risk(xray_threat=None)),
    ("{ xray_score_gt = 0.5 }", risk(xray_score=0.7), risk(xray_score=0.2)),
]


@pytest.mark.parametrize(("when", "yes", "no"), CASES, ids=[c[0] for c in CASES])
def test_each_condition_matches_and_does_not_match(when, yes, no):
    assert fires(when, yes)
    assert not fires(when, no)


def test_item_conditions_of_one_table_hold_on_the_same_item():
    when = '{ hs = ["61"], unit_value_lt = 30 }'
    cheap_other = risk(items=[item("610910", value=10_000, quantity=100), item("847130", 10, 10)])
    assert not fires(when, cheap_other)  # the cheap item is not apparel
    assert fires(when, risk(items=[item("847130", 10, 10), item("610910", value=100, quantity=10)]))


def test_hs_and_regulation_together_need_one_item_with_both():
    when = '{ hs = ["02"], regulation = ["QUARANTINE"] }'
    split = risk(items=[item("020130"), item("070310", regs={"QUARANTINE"})])
    assert not fires(when, split)
    assert fires(when, risk(items=[item("070310"), item("020130", regs={"QUARANTINE"})]))


def test_conditions_of_a_table_are_anded():
    when = '{ origin = ["CN"], importer_history_lt = 3, hs = ["85"] }'
    base = dict(origin="CN", importer_history=0, items=[item("850760")])
    assert fires(when, risk(**base))
    assert not fires(when, risk(**{**base, "origin": "JP"}))
    assert not fires(when, risk(**{**base, "importer_history": 10}))
    assert not fires(when, risk(**{**base, "items": [item("847130")]}))


def test_any_matches_when_one_branch_does():
    when = '{ any = [{ regulation = ["DANGEROUS"] }, { hs = ["850760"] }, { origin = ["XA"] }] }'
    assert fires(when, risk(items=[item(regs={"DANGEROUS"})]))
    assert fires(when, risk(items=[item("850760")]))
    assert fires(when, risk(origin="XA"))
    assert not fires(when, risk())


def test_not_negates_its_table():
    when = "{ xray_score_gt = 0.5, not = { xray_threat = true } }"
    assert fires(when, risk(xray_score=0.7, xray_threat=False))
    assert not fires(when, risk(xray_score=0.7, xray_threat=True))
    # Over items, `not` means "no item satisfies".
    assert not fires('{ not = { hs = ["93"] } }', risk(items=[item("847130"), item("930200")]))
    assert fires('{ not = { hs = ["93"] } }', risk(items=[item("847130"), item("850760")]))


def test_nested_any_inside_not():
    when = '{ hs = ["85"], not = { any = [{ origin = ["JP"] }, { importer = ["TW1"] }] } }'
    assert fires(when, risk(origin="CN", items=[item("850760")]))
    assert not fires(when, risk(origin="JP", items=[item("850760")]))
    assert not fires(when, risk(origin="CN", importer="TW1", items=[item("850760")]))


def test_named_lists_expand_in_any_string_list():
    eng = engine(
        '[lists]\nhubs = ["XC", "XD"]\nmeat = ["0201", "0202"]\n'
        '[[rule]]\nid = "R"\nchannel = "C2"\nreason = "r"\n'
        'when = { departure = ["@hubs", "XE"], hs = ["@meat"] }\n'
    )
    assert eng.select(risk(departure="XD", items=[item("020230")])).channel is Channel.C2
    assert eng.select(risk(departure="XE", items=[item("020130")])).channel is Channel.C2
    assert eng.select(risk(departure="XD", items=[item("020330")])).channel is Channel.C1


# --------------------------------------------------------------------------------------------
# Precedence

PRECEDENCE = """
[[rule]]
id = "DOCS"
channel = "C2"
reason = "documents"
when = { origin = ["CN"] }

[[rule]]
id = "DG"
channel = "C2"
safety = true
reason = "dangerous goods"
when = { regulation = ["DANGEROUS"] }

[[rule]]
id = "ARMS"
channel = "C3"
reason = "arms"
when = { hs = ["93"] }

[[rule]]
id = "AEO"
channel = "C1"
waive = true
reason = "trusted trader"
when = { importer = ["TW-AEO"] }

[[rule]]
id = "AUDIT"
audit = true
reason = "audit"
when = { audit_score_gt = 0.8 }
"""


def test_most_severe_channel_wins_and_every_match_is_a_reason():
    eng = engine(PRECEDENCE)
    sel = eng.select(
        risk(origin="CN", audit_score=0.9, items=[item("930200"), item(regs={"DANGEROUS"})])
    )
    assert sel.channel is Channel.C3
    assert [(r.rule_id, r.channel) for r in sel.reasons] == [
        ("ARMS", "C3"),
        ("DOCS", "C2"),
        ("DG", "C2"),
        ("AUDIT", BLUE),
    ]
    assert sel.audit_candidate and not sel.random_selected
    assert sel.original_channel is Channel.C3


def test_outcome_does_not_depend_on_rule_order():
    blocks = ["[[rule]]" + b for b in PRECEDENCE.split("[[rule]]")[1:]]
    flipped = engine("".join(reversed(blocks)))
    r = risk(origin="CN", items=[item("930200")])
    assert flipped.select(r).channel is engine(PRECEDENCE).select(r).channel is Channel.C3


def test_audit_rule_flags_blue_without_changing_the_channel():
    sel = engine(PRECEDENCE).select(risk(audit_score=0.95))
    assert sel.channel is Channel.C1
    assert sel.audit_candidate
    assert [(r.rule_id, r.channel) for r in sel.reasons] == [("AUDIT", BLUE)]


def test_trusted_trader_waives_plain_c2_rules():
    sel = engine(PRECEDENCE).select(risk(importer="TW-AEO", origin="CN"))
    assert sel.channel is Channel.C1
    waived = [r for r in sel.reasons if r.rule_id == "DOCS"]
    assert waived and waived[0].waived_by == "AEO"
    assert "waived by AEO" in waived[0].text
    assert sel.reasons[-1].rule_id == "DOCS"  # waived reasons come last


def test_trusted_trader_does_not_waive_safety_or_c3_rules():
    eng = engine(PRECEDENCE)
    dg = eng.select(risk(importer="TW-AEO", items=[item(regs={"DANGEROUS"})]))
    assert dg.channel is Channel.C2
    assert next(r for r in dg.reasons if r.rule_id == "DG").waived_by is None
    arms = eng.select(risk(importer="TW-AEO", origin="CN", items=[item("930200")]))
    assert arms.channel is Channel.C3
    assert next(r for r in arms.reasons if r.rule_id == "ARMS").waived_by is None


def test_without_the_waiver_c2_applies():
    assert engine(PRECEDENCE).select(risk(importer="TW-OTHER", origin="CN")).channel is Channel.C2


def test_disabled_rules_never_match():
    eng = one_rule('{ origin = ["CN"] }', extra="enabled = false")
    sel = eng.select(risk(origin="CN"))
    assert sel.channel is Channel.C1 and sel.reasons == ()


@pytest.mark.parametrize(
    ("day", "active"),
    [
        (dt.date(2026, 1, 14), False),
        (dt.date(2026, 1, 15), True),
        (dt.date(2026, 2, 10), True),
        (dt.date(2026, 2, 28), True),
        (dt.date(2026, 3, 1), False),
    ],
)
def test_validity_window_is_inclusive_on_the_declaration_date(day, active):
    eng = one_rule('{ origin = ["CN"] }', extra='valid_from = 2026-01-15\nvalid_to = "2026-02-28"')
    assert (eng.select(risk(origin="CN", date=day)).channel is Channel.C2) is active


def test_open_ended_windows():
    since = one_rule('{ origin = ["CN"] }', extra="valid_from = 2026-01-15")
    assert since.select(risk(origin="CN", date=dt.date(2030, 1, 1))).channel is Channel.C2
    assert since.select(risk(origin="CN", date=dt.date(2026, 1, 14))).channel is Channel.C1
    until = one_rule('{ origin = ["CN"] }', extra="valid_to = 2026-01-15")
    assert until.select(risk(origin="CN", date=dt.date(2020, 1, 1))).channel is Channel.C2
    assert until.select(risk(origin="CN", date=dt.date(2026, 1, 16))).channel is Channel.C1


# --------------------------------------------------------------------------------------------
# Sampling

SAMPLED = """
[sampling]
C2 = 0.02
C3 = 0.005

[[rule]]
id = "CN"
channel = "C2"
reason = "origin"
when = { origin = ["CN"] }
"""


def test_random_rates_over_100000_ids_are_within_tolerance():
    eng = engine(SAMPLED)
    n = 100_000
    counts = {Channel.C1: 0, Channel.C2: 0, Channel.C3: 0}
    for i in range(n):
        sel = eng.select(risk(f"SYN-{i:06d}"))
        counts[sel.channel] += 1
        if sel.channel is not Channel.C1:
            assert sel.random_selected
            assert [r.rule_id for r in sel.reasons] == [RANDOM_RULE_ID]
            assert "random selection" in sel.reasons[0].text
    for channel, p in ((Channel.C2, 0.02), (Channel.C3, 0.005)):
        sd = math.sqrt(n * p * (1 - p))
        assert abs(counts[channel] - n * p) < 5 * sd, (channel, counts)


def test_the_same_id_always_gets_the_same_draw():
    a, b = engine(SAMPLED), engine(SAMPLED)
    for i in range(200):
        did = f"SAME-{i}"
        assert a.draw(did) == a.draw(did) == b.draw(did)
        assert a.select(risk(did)) == b.select(risk(did))


def test_an_auditor_with_the_seed_reproduces_the_draw():
    eng = engine(SAMPLED)
    mac = hmac.new(SEED, DRAW_LABEL + b"DECL-42", hashlib.sha256).digest()
    assert eng.draw("DECL-42") == int.from_bytes(mac[:8], "big") / 2**64
    assert 0 <= eng.draw("DECL-42") < 1


def test_another_seed_changes_the_draws():
    a = engine(SAMPLED)
    b = engine(SAMPLED, seed=b"another-secret-seed-98765")
    ids = [f"SEED-{i}" for i in range(5_000)]
    assert sum(a.draw(i) == b.draw(i) for i in ids) == 0
    picked_a = {i for i in ids if a.select(risk(i)).random_selected}
    picked_b = {i for i in ids if b.select(risk(i)).random_selected}
    assert picked_a and picked_b and picked_a != picked_b


def test_only_otherwise_green_declarations_are_sampled():
    eng = engine(
        '[sampling]\nC3 = 1.0\n[[rule]]\nid = "CN"\nchannel = "C2"\nreason = "r"\n'
        'when = { origin = ["CN"] }\n'
    )
    green = eng.select(risk(origin="JP"))
    assert green.channel is Channel.C3 and green.random_selected
    yellow = eng.select(risk(origin="CN"))
    assert yellow.channel is Channel.C2 and not yellow.random_selected


def test_no_sampling_section_means_no_random_selection():
    eng = one_rule('{ origin = ["CN"] }')
    assert not any(eng.select(risk(f"N-{i}")).random_selected for i in range(2_000))


def test_short_seed_is_refused():
    with pytest.raises(SelectivityError, match="at least 16 bytes"):
        Selectivity(ruleset(SAMPLED), b"short")


# --------------------------------------------------------------------------------------------
# Statistics and target rates

STATS_RULES = """
[sampling]
C2 = 0.05

[targets]
C2 = 0.3
C3 = 0.1
BLUE = 0.5

[[rule]]
id = "ARMS"
channel = "C3"
reason = "arms"
when = { hs = ["93"] }

[[rule]]
id = "CN"
channel = "C2"
reason = "origin"
when = { origin = ["CN"] }

[[rule]]
id = "AEO"
channel = "C1"
waive = true
reason = "aeo"
when = { importer = ["TW-AEO"] }

[[rule]]
id = "AUDIT"
audit = true
reason = "audit"
when = { audit_score_gt = 0.8 }
"""


def test_stats_count_per_rule_and_channel():
    eng = engine(STATS_RULES)
    inputs = (
        [risk(f"A-{i}", items=[item("930200")]) for i in range(3)]
        + [risk(f"C-{i}", origin="CN") for i in range(4)]
        + [risk(f"W-{i}", origin="CN", importer="TW-AEO", audit_score=0.9) for i in range(2)]
    )
    sels, stats = eng.run(inputs)
    assert len(sels) == stats.declarations == 9
    assert stats.matched == {"ARMS": 3, "CN": 6, "AEO": 2, "AUDIT": 2}
    assert stats.waived == {"CN": 2}
    assert stats.audit_candidates == 2
    random_c2 = sum(1 for s in sels if s.random_selected)
    assert stats.random["C2"] == random_c2
    assert stats.channels["C3"] == 3
    assert stats.channels["C2"] == 4 + random_c2
    assert stats.channels["C1"] == 2 - random_c2
    d = stats.to_dict()
    json.dumps(d)
    assert d["rules"]["CN"] == {"lane": "C2", "matched": 6, "waived": 2}
    assert d["rules"]["AUDIT"]["lane"] == BLUE


def test_target_rates_exceeded_warn_and_name_the_rules():
    eng = engine(STATS_RULES)
    inputs = [risk(f"T-{i}", items=[item("930200")] if i < 5 else None) for i in range(10)]
    sels, stats = eng.run(inputs)
    assert sum(s.channel is Channel.C3 for s in sels) == 5  # nothing capped
    assert stats.exceeded()["C3"] == (0.5, 0.1)
    (warning,) = [w for w in stats.warnings() if w.startswith("C3")]
    assert "50.00%" in warning and "ARMS (5)" in warning and "10.00%" in warning
    assert stats.to_dict()["targets"]["C3"]["exceeded"] is True


def test_no_warning_under_the_targets():
    eng = engine(STATS_RULES)
    inputs = [risk(f"U-{i}", items=[item("930200")] if i == 0 else None) for i in range(20)]
    _, stats = eng.run(inputs)
    assert stats.rate("C3") == 0.05
    assert "C3" not in stats.exceeded()
    assert not [w for w in stats.warnings() if w.startswith("C3")]


def test_blue_target_counts_audit_candidates():
    eng = engine(STATS_RULES)
    _, stats = eng.run([risk(f"B-{i}", audit_score=0.9) for i in range(3)] + [risk("B-x")])
    assert stats.rate(BLUE) == 0.75
    assert stats.exceeded()[BLUE] == (0.75, 0.5)


def test_stats_refuse_a_selection_from_other_rules():
    stats = engine(STATS_RULES).new_stats()
    other = one_rule('{ origin = ["CN"] }').select(risk())
    with pytest.raises(SelectivityError, match="these statistics are for rules"):
        stats.record(other)


# --------------------------------------------------------------------------------------------
# Officer re-route


def test_lanes_are_one_enum_and_leave_plain_text_in_results():
    assert [str(lane) for lane in Lane] == ["C1", "C2", "C3", "BLUE"]
    assert [lane.is_channel for lane in Lane] == [True, True, True, False]
    assert [lane.severity for lane in Lane] == [1, 2, 3, 0]
    assert Channel is Lane and BLUE is Lane.BLUE
    sel = engine(PRECEDENCE).select(risk(origin="CN", audit_score=0.9, items=[item("930200")]))
    assert [r.channel for r in sel.reasons] == [Lane.C3, Lane.C2, Lane.BLUE]
    assert all(isinstance(r.channel, Lane) for r in sel.reasons)
    out = sel.to_dict()  # what gets hashed and attested: plain strings, as before
    assert {type(r["channel"]) for r in out["reasons"]} == {str}
    assert type(out["channel"]) is str


def test_reroute_keeps_the_original_channel_and_the_history():
    eng = engine(PRECEDENCE)
    sel = eng.select(risk(origin="CN"))
    assert sel.channel is Channel.C2
    up = reroute(sel, "C3", "Officer Lin", "intelligence tip-off")
    assert up.channel is Channel.C3 and up.original_channel is Channel.C2
    assert up.reasons[:-1] == sel.reasons
    last = up.reasons[-1]
    assert last.rule_id == OFFICER_RULE_ID and last.officer == "Officer Lin"
    assert "from C2 to C3 by Officer Lin: intelligence tip-off" in last.text
    down = reroute(up, Channel.C1, "Supervisor Chen", "tip-off cleared")
    assert down.channel is Channel.C1 and down.original_channel is Channel.C2
    assert [r.officer for r in down.reasons[-2:]] == ["Officer Lin", "Supervisor Chen"]
    assert down.rerouted and not sel.rerouted
    assert sel.channel is Channel.C2  # the original selection is unchanged


def test_stats_count_the_engine_channel_and_reroutes():
    eng = engine(PRECEDENCE)
    stats = eng.new_stats()
    stats.record(reroute(eng.select(risk(origin="CN")), "C3", "Lin", "tip-off"))
    assert stats.channels["C2"] == 1 and stats.channels["C3"] == 0 and stats.rerouted == 1
    assert stats.matched["DOCS"] == 1 and OFFICER_RULE_ID not in stats.matched


@pytest.mark.parametrize(
    ("channel", "officer", "reason", "message"),
    [
        ("C4", "Lin", "why", "unknown channel"),
        ("BLUE", "Lin", "why", "unknown channel"),
        ("C3", " ", "why", "officer's name and a reason"),
        ("C3", "Lin", "", "officer's name and a reason"),
        ("C2", "Lin", "why", "already in channel C2"),
    ],
)
def test_reroute_refuses_bad_requests(channel, officer, reason, message):
    sel = engine(PRECEDENCE).select(risk(origin="CN"))
    with pytest.raises(SelectivityError, match=message):
        reroute(sel, channel, officer, reason)


# --------------------------------------------------------------------------------------------
# Rule-file errors name the file, the rule and the key

R = '[[rule]]\nid = "{id}"\nchannel = "C2"\nreason = "r"\n'

BAD = [
    # (text, rule id in the message, key, words of the problem)
    (R.format(id="X") + 'when = { colour = "red" }', "X", "when.colour", "unknown condition"),
    (
        R.format(id="X") + 'when = { any = [{ hs = ["85"] }, { colour = 1 }] }',
        "X",
        "when.any[1].colour",
        "unknown condition",
    ),
    (
        R.format(id="X") + 'when = { not = { origin = ["CN"], size_gt = 1 } }',
        "X",
        "when.not.size_gt",
        "unknown condition",
    ),
    (R.format(id="X") + 'when = { hs = "85" }', "X", "when.hs", 'write ["85"]'),
    (R.format(id="X") + "when = { hs = [85] }", "X", "when.hs[0]", "non-empty string"),
    (R.format(id="X") + 'when = { value_gt = "big" }', "X", "when.value_gt", "finite number"),
    (R.format(id="X") + "when = { value_gt = true }", "X", "when.value_gt", "finite number"),
    (R.format(id="X") + "when = { audit_score_gt = nan }", "X", "when.audit_score_gt", "finite"),
    (R.format(id="X") + 'when = { permit_ok = "no" }', "X", "when.permit_ok", "true or false"),
    (R.format(id="X") + 'when = { any = { origin = ["CN"] } }', "X", "when.any", "list of tables"),
    (R.format(id="X") + 'when = { not = ["CN"] }', "X", "when.not", "table of conditions"),
    (R.format(id="X") + "when = {}", "X", "when", "at least one condition"),
    (
        R.format(id="X") + 'when = { importer_match = ["TW(9"] }',
        "X",
        "when.importer_match[0]",
        "bad regular expression",
    ),
    (
        R.format(id="X") + 'when = { declarant_match = ["ok", "[z-a]"] }',
        "X",
        "when.declarant_match[1]",
        "bad regular expression",
    ),
    (R.format(id="X") + 'when = { hs = ["8a"] }', "X", "when.hs", "HS prefix"),
    (R.format(id="X") + 'when = { hs = ["8"] }', "X", "when.hs", "HS prefix"),
    (R.format(id="X") + 'when = { origin = ["CHN"] }', "X", "when.origin[0]", "2-letter ISO"),
    (
        R.format(id="X") + 'when = { regulation = ["quarantine"] }',
        "X",
        "when.regulation[0]",
        "upper-case",
    ),
    (R.format(id="X") + 'when = { origin = ["@nowhere"] }', "X", "when.origin[0]", "unknown list"),
    (
        R.format(id="X")
        + 'when = { origin = ["CN"] }\n'
        + R.format(id="X")
        + 'when = { origin = ["VN"] }',
        "X",
        "id",
        "duplicate rule id (also rule #1)",
    ),
    (
        '[[rule]]\nid = "X"\nchannel = "C4"\nreason = "r"\nwhen = { origin = ["CN"] }',
        "X",
        "channel",
        "unknown channel 'C4'",
    ),
    (
        '[[rule]]\nid = "X"\nchannel = "BLUE"\nreason = "r"\nwhen = { origin = ["CN"] }',
        "X",
        "channel",
        "audit = true",
    ),
    (
        '[[rule]]\nid = "X"\nchannel = "C2"\naudit = true\nreason = "r"\nwhen = { origin = ["CN"] }',
        "X",
        "audit",
        "not both",
    ),
    ('[[rule]]\nid = "X"\nreason = "r"\nwhen = { origin = ["CN"] }', "X", "channel", "missing"),
    (
        '[[rule]]\nchannel = "C2"\nreason = "r"\nwhen = { origin = ["CN"] }',
        "rule #1",
        "id",
        "needs an id",
    ),
    (
        '[[rule]]\nid = "random"\nchannel = "C2"\nreason = "r"\nwhen = { origin = ["CN"] }',
        "random",
        "id",
        "reserved",
    ),
    (
        '[[rule]]\nid = "X"\nchannel = "C2"\nwhen = { origin = ["CN"] }',
        "X",
        "reason",
        "non-empty string",
    ),
    (
        R.format(id="X") + 'priority = 3\nwhen = { origin = ["CN"] }',
        "X",
        "priority",
        "unknown rule key",
    ),
    (
        R.format(id="X") + 'enabled = "yes"\nwhen = { origin = ["CN"] }',
        "X",
        "enabled",
        "true or false",
    ),
    (R.format(id="X"), "X", "when", "missing"),
    (R.format(id="X") + 'waive = true\nwhen = { origin = ["CN"] }', "X", "waive", "only a C1"),
    (
        '[[rule]]\nid = "X"\nchannel = "C1"\nsafety = true\nreason = "r"\nwhen = { origin = ["CN"] }',
        "X",
        "safety",
        "only C2 and C3",
    ),
    (
        R.format(id="X")
        + 'valid_from = 2026-02-01\nvalid_to = 2026-01-01\nwhen = { origin = ["CN"] }',
        "X",
        "valid_to",
        "before valid_from",
    ),
    (
        R.format(id="X") + 'valid_from = "next week"\nwhen = { origin = ["CN"] }',
        "X",
        "valid_from",
        "expected a date",
    ),
    (
        R.format(id="X") + 'valid_from = 2026-02-01T10:00:00\nwhen = { origin = ["CN"] }',
        "X",
        "valid_from",
        "no time of day",
    ),
]


@pytest.mark.parametrize(
    ("text", "rule_id", "key", "problem"), BAD, ids=[f"{b[2]}:{b[3]}" for b in BAD]
)
def test_rule_errors_name_file_rule_and_key(text, rule_id, key, problem):
    with pytest.raises(RulesError) as info:
        ruleset(text)
    err = info.value
    assert (err.source, err.rule_id, err.key) == (SOURCE, rule_id, key)
    assert str(err).startswith(f"{SOURCE}:{rule_id}: {key}: ")
    assert problem in err.problem
    assert err.code == "rules_invalid"


FILE_BAD = [
    (
        'name = "x"\ncolour = 1\n' + R.format(id="X") + 'when = { origin = ["CN"] }',
        "colour",
        "unknown section",
    ),
    (
        "[sampling]\nC1 = 0.1\n" + R.format(id="X") + 'when = { origin = ["CN"] }',
        "sampling.C1",
        "unknown channel",
    ),
    (
        "[sampling]\nC2 = 1.5\n" + R.format(id="X") + 'when = { origin = ["CN"] }',
        "sampling.C2",
        "between 0 and 1",
    ),
    (
        "[sampling]\nC2 = 0.6\nC3 = 0.6\n" + R.format(id="X") + 'when = { origin = ["CN"] }',
        "sampling",
        "more than 1",
    ),
    (
        "[targets]\nC4 = 0.1\n" + R.format(id="X") + 'when = { origin = ["CN"] }',
        "targets.C4",
        "unknown channel",
    ),
    (
        "[sampling]\nC3 = 0.2\n[targets]\nC3 = 0.05\n"
        + R.format(id="X")
        + 'when = { origin = ["CN"] }',
        "sampling.C3",
        "above the target",
    ),
    (
        '[lists]\nBad-Name = ["x"]\n' + R.format(id="X") + 'when = { origin = ["CN"] }',
        "lists.Bad-Name",
        "lower-case",
    ),
    (
        '[lists]\na = ["x"]\nb = ["@a"]\n' + R.format(id="X") + 'when = { origin = ["CN"] }',
        "lists.b",
        "another list",
    ),
    ('name = "empty"\n', "rule", "no rules"),
    ('rule = "x"\n', "rule", "[[rule]] tables"),
    ("[[rule]\nid = 1", None, "not valid TOML"),
]


@pytest.mark.parametrize(("text", "key", "problem"), FILE_BAD, ids=[b[2] for b in FILE_BAD])
def test_file_level_errors_name_the_section(text, key, problem):
    with pytest.raises(RulesError) as info:
        ruleset(text)
    assert info.value.rule_id is None
    assert info.value.key == key
    assert problem in str(info.value)
    assert str(info.value).startswith(f"{SOURCE}: ")


def test_missing_file_is_a_rules_error(tmp_path: Path):
    with pytest.raises(RulesError, match="cannot read the rule file"):
        load_rules(tmp_path / "nope.toml")


# --------------------------------------------------------------------------------------------
# Input validation


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: item(value=math.nan), "finite number"),
        (lambda: item(quantity=math.inf), "finite number"),
        (lambda: item(value=-1), "must not be negative"),
        (lambda: item("85A7"), "2 to 12 digits"),
        (lambda: risk(audit_score=math.nan), "audit_score"),
        (lambda: risk(items=[]), "one or more RiskItem"),
        (lambda: risk(declaration_id=""), "declaration_id"),
        (lambda: risk(date="2026-03-02"), "date must be a date"),
        (lambda: risk(origin=None), "origin must be a string"),
    ],
)
def test_bad_inputs_are_refused(build, message):
    with pytest.raises(SelectivityError, match=message):
        build()


def test_unit_value_and_total_are_derived():
    r = risk(items=[item(value=300, quantity=100), item(value=50, quantity=0)])
    assert r.items[0].unit_value == 3
    assert r.items[1].unit_value is None
    assert r.total_value == 350


# --------------------------------------------------------------------------------------------
# The example rule set


def test_example_rules_load_and_cover_every_lane():
    rules = load_rules(EXAMPLE_RULES)
    assert 15 <= len(rules.rules) <= 40  # 35 with the manifest rules (issue #18)
    lanes = {r.lane for r in rules.rules}
    assert lanes == {"C1", "C2", "C3", BLUE}
    assert any(r.waive for r in rules.rules)
    assert any(not r.enabled for r in rules.rules)
    assert any(r.valid_from for r in rules.rules)
    assert rules.sampling and rules.targets
    assert rules.version == hashlib.sha256(EXAMPLE_RULES.read_bytes()).hexdigest()


def _example() -> Selectivity:
    return Selectivity(load_rules(EXAMPLE_RULES), SEED)


@pytest.mark.parametrize(
    ("r", "channel", "rule_id"),
    [
        (risk(items=[item("020130", regs={"QUARANTINE"})]), Channel.C3, "QUARANTINE"),
        (risk(origin="XA", items=[item("160250")]), Channel.C3, "ANIMAL-DISEASE-ORIGIN"),
        (risk(items=[item("930200")]), Channel.C3, "ARMS-CH93"),
        (risk(permit_ok=False), Channel.C3, "PERMIT-INVALID"),
        (risk(xray_threat=True, xray_score=0.99), Channel.C3, "XRAY-THREAT"),
        (
            risk(xray_threat=False, xray_uncertain=True, xray_score=0.22),
            Channel.C2,
            "XRAY-SUSPECT",
        ),
        (risk(documents_ok=False), Channel.C2, "DOCUMENTS-FAILED"),
        (risk(items=[item("850760", regs={"DANGEROUS_GOODS"})]), Channel.C2, "DANGEROUS-GOODS"),
        (risk(items=[item("271019")]), Channel.C2, "DANGEROUS-GOODS"),
        (risk(items=[item("210690", regs={"FOOD_SAFETY"})]), Channel.C2, "FOOD-SAFETY"),
        (risk(items=[item("293339", regs={"PRECURSOR"})]), Channel.C2, "CONTROLLED-GOODS"),
        (
            risk(items=[item("610910", value=10_000, quantity=2_000)]),
            Channel.C2,
            "UNDERVALUE-APPAREL",
        ),
        (risk(tariff_mismatch=True, tariff_duty_gap=20_000), Channel.C2, "TARIFF-MISCLASSIFIED"),
        (
            risk(importer_history=0, items=[item(value=2_000_000)]),
            Channel.C2,
            "NEW-IMPORTER-HIGH-VALUE",
        ),
    ],
)
def test_example_rules_route_typical_cases(r, channel, rule_id):
    eng = _example()
    assert eng.draw(r.declaration_id) >= 0.025  # not sampled: the rule decides
    sel = eng.select(r)
    assert sel.channel is channel
    assert rule_id in [x.rule_id for x in sel.reasons if x.waived_by is None]


def test_example_aeo_waives_undervaluation_but_not_arms():
    eng = _example()
    cheap = [item("610910", value=10_000, quantity=2_000)]
    aeo = eng.select(risk("EX-7", importer="TW12345678", items=cheap))
    assert aeo.channel is Channel.C1
    assert {(r.rule_id, r.waived_by) for r in aeo.reasons} >= {
        ("UNDERVALUE-APPAREL", "AEO-TRUSTED")
    }
    arms = eng.select(risk("EX-7", importer="TW12345678", items=[*cheap, item("930200")]))
    assert arms.channel is Channel.C3


def test_example_high_audit_score_is_a_blue_candidate():
    sel = _example().select(risk("EX-7", audit_score=0.93))
    assert sel.audit_candidate and sel.channel is Channel.C1


def test_yaml_rule_files_load_like_toml(tmp_path: Path):
    pytest.importorskip("yaml")
    path = tmp_path / "rules.yaml"
    path.write_text(
        "sampling: {C2: 0.01}\n"
        "rule:\n"
        "  - id: ARMS\n    channel: C3\n    reason: arms\n    valid_from: 2026-01-01\n"
        "    when: {hs: ['93'], any: [{origin: [CN]}, {value_gt: 100}]}\n"
    )
    eng = Selectivity(load_rules(path), SEED)
    assert eng.select(risk(origin="CN", items=[item("930200", value=1)])).channel is Channel.C3
    assert eng.rules.sampling == {Channel.C2: 0.01}
    assert eng.rules.rule("ARMS").valid_from == dt.date(2026, 1, 1)
    miss = eng.select(risk("YAML-1", origin="JP", items=[item("930200", value=1)]))
    assert eng.draw("YAML-1") >= 0.01 and miss.channel is Channel.C1 and miss.reasons == ()
    bad = tmp_path / "bad.yml"
    bad.write_text("rule:\n  - id: X\n    channel: C2\n    reason: r\n    when: {hs: 85}\n")
    with pytest.raises(RulesError, match=r"bad\.yml:X: when\.hs: "):
        load_rules(bad)


# --------------------------------------------------------------------------------------------
# Output and speed


def test_selection_serialises_to_json():
    sel = reroute(engine(PRECEDENCE).select(risk(origin="CN")), "C3", "Lin", "tip-off")
    d = json.loads(json.dumps(sel.to_dict()))
    assert d["channel"] == "C3" and d["original_channel"] == "C2"
    assert d["reasons"][-1]["officer"] == "Lin"
    assert isinstance(sel, Selection)
