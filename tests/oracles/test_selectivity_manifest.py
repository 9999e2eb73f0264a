"""Selectivity on cargo manifest lines (rule scope) and on declarations matched against them,
and the clearance oracle's own re-run of the matching (issue #18)."""

from __future__ import annotations

import datetime as dt

import pytest

from oracles.clearance.selectivity import (
    EXAMPLE_RULES,
    RiskInput,
    RiskItem,
    RulesError,
    Selectivity,
    SelectivityError,
    load_rules,
    parse_rules,
)

SEED = b"manifest-tests-seed-0123456789"
TODAY = dt.date(2025, 4, 16)


@pytest.fixture(scope="module")
def engine() -> Selectivity:
    return Selectivity(load_rules(EXAMPLE_RULES), SEED)


def line(**fields) -> RiskInput:
    base = {"declaration_id": "MF-1/XSOL1/1", "importer": "42751893", "declarant": "",
            "origin": "SG", "departure": "SG", "items": (RiskItem(hs="", value=0, quantity=10),),
            "date": TODAY, "scope": "manifest", "description": "Ball bearings"}  # fmt: skip
    return RiskInput(**{**base, **fields})


def decl(**fields) -> RiskInput:
    base = {"declaration_id": "D-1", "importer": "42751893", "declarant": "BRK-1",
            "origin": "SG", "departure": "SG",
            "items": (RiskItem(hs="848210", value=1000, quantity=10),), "date": TODAY}  # fmt: skip
    return RiskInput(**{**base, **fields})


def rules_of(selection) -> list[str]:
    return [r.rule_id for r in selection.reasons]


def test_a_clean_manifest_line_is_green_and_never_sampled(engine):
    # Every id is a draw; a manifest line is never put in C2/C3 by sampling.
    for n in range(300):
        sel = engine.select(line(declaration_id=f"MF-{n}"))
        assert str(sel.channel) == "C1" and not sel.random_selected


def test_manifest_rules_judge_lines_not_declarations(engine):
    late = engine.select(line(manifest_late=True, description="General cargo"))
    assert rules_of(late) == ["MF-LATE", "MF-VAGUE-DESCRIPTION"] and str(late.channel) == "C2"
    # the same facts on a declaration: manifest-scope rules do not apply
    assert "MF-LATE" not in rules_of(engine.select(decl(manifest_late=True)))


def test_rules_with_both_scopes_judge_both(engine):
    watched = engine.select(line(importer="TW66600001"))
    assert rules_of(watched) == ["WATCHLIST-IMPORTER"] and str(watched.channel) == "C3"
    arms = engine.select(line(items=(RiskItem(hs="9302", value=0, quantity=1),)))
    assert "ARMS-CH93" in rules_of(arms)


def test_partner_mismatch_is_a_safety_flag(engine):
    sel = engine.select(line(partner_mismatch=True))
    assert rules_of(sel) == ["MF-PARTNER-MISMATCH"] and str(sel.channel) == "C3"


@pytest.mark.parametrize(
    "field, rule, channel",
    [
        ("manifest_unknown", "MANIFEST-UNKNOWN", "C3"),
        ("manifest_exhausted", "MANIFEST-EXHAUSTED", "C2"),
        ("manifest_packages_mismatch", "MANIFEST-PACKAGES", "C2"),
        ("manifest_weight_mismatch", "MANIFEST-WEIGHT", "C2"),
        ("manifest_hs_mismatch", "MANIFEST-HS-CHAPTER", "C2"),
    ],
)
def test_each_matching_problem_is_a_reason_with_a_channel(engine, field, rule, channel):
    sel = engine.select(decl(declaration_id="D-MATCH-7", **{field: True}))
    assert rule in rules_of(sel) and str(sel.channel) == channel


def test_pre_arrival_flags_carry_into_the_declaration(engine):
    assert "PRE-ARRIVAL-C3" in rules_of(engine.select(decl(pre_arrival=frozenset({"C3"}))))
    c2 = engine.select(decl(pre_arrival=frozenset({"C2"})))
    assert rules_of(c2)[0] == "PRE-ARRIVAL-C2"
    # a trusted trader's documentary checks are waived, as for any C2 rule that is not safety
    aeo = engine.select(decl(importer="TW12345678", pre_arrival=frozenset({"C2"})))
    assert str(aeo.channel) == "C1"


def test_absent_manifest_data_matches_nothing(engine):
    assert rules_of(engine.select(decl(declaration_id="D-PLAIN-1"))) in ([], ["RANDOM"])


def test_scope_is_checked_in_rules_and_inputs():
    with pytest.raises(RulesError) as caught:
        parse_rules('[[rule]]\nid="X"\nchannel="C2"\nreason="r"\nscope=["cargo"]\nwhen={late=true}')
    assert caught.value.key == "scope"
    with pytest.raises(SelectivityError):
        line(scope="voyage")
    with pytest.raises(RulesError) as lanes:
        parse_rules('[[rule]]\nid="X"\nchannel="C2"\nreason="r"\nwhen={pre_arrival=["C9"]}')
    assert "lanes" in str(lanes.value)


def test_a_global_regex_flag_is_a_rules_error_not_a_crash():
    with pytest.raises(RulesError) as caught:
        parse_rules('[[rule]]\nid="X"\nchannel="C2"\nreason="r"\nwhen={carrier_match=["(?i)x"]}')
    assert "scoped" in str(caught.value)


def test_loading_port_and_carrier_conditions():
    rules = parse_rules(
        '[[rule]]\nid="PORT"\nchannel="C2"\nreason="r"\nscope=["manifest"]\n'
        'when={loading_port=["XCABC"], carrier=["XSOL"], gross_mass_kg_gt=1000}'
    )
    sel = Selectivity(rules, SEED)
    hit = line(loading_port="XCABC", carrier="XSOL", gross_mass_kg=5000.0)
    assert rules_of(sel.select(hit)) == ["PORT"]
    assert rules_of(sel.select(line(loading_port="XCABC", carrier="XSOL"))) == []
    with pytest.raises(RulesError):
        parse_rules('[[rule]]\nid="P"\nchannel="C2"\nreason="r"\nwhen={loading_port=["Keelung"]}')


# -- the clearance oracle's own matching ------------------------------------------------------


def _citing_declaration():
    import json

    from offchain.declarations import load_declaration_json
    from offchain.settings import REPO_ROOT

    path = REPO_ROOT / "examples" / "manifests" / "declaration-bearings-bl.json"
    return load_declaration_json(json.loads(path.read_text()))


def _finding(**over) -> dict:
    return {"number": "XSOL250412001", "line": 1, "found": True,
            "manifest": {"manifest_id": "MF-XSOL-2025-0412N", "doc_hash": "0x" + "22" * 32},
            "manifest_line": {"packages": 46, "gross_mass_kg": "4450", "hs_code": "8482"},
            "declared_before": {"packages": 0, "gross_mass_kg": "0"}, "pre_arrival": [], **over}  # fmt: skip


def test_the_oracle_matches_with_what_the_declaration_states():
    from oracles.clearance.oracle import ClearanceOracle

    decl = _citing_declaration()
    # the node's finding claims other declared figures: the declaration's own are used
    lying = _finding(packages=1, gross_mass_kg="1")
    out = ClearanceOracle._manifest(decl, {"citations": [lying], "tolerances": {"weight_pct": 5}})
    assert out["lines"][0]["status"] == "matched"
    assert out["lines"][0]["packages"] == 46


@pytest.mark.parametrize(
    "given",
    [
        {"citations": []},
        {"citations": [_finding(number="OTHER")]},
        {"citations": "x"},
        {"citations": [_finding(manifest_line={"packages": "many"})]},
        [],
    ],
)
def test_the_oracle_refuses_findings_that_do_not_fit_the_declaration(given):
    from oracles.base import OracleError
    from oracles.clearance.oracle import ClearanceOracle

    with pytest.raises(OracleError) as caught:
        ClearanceOracle._manifest(_citing_declaration(), given)
    assert caught.value.code == "invalid_request"


def test_no_findings_means_no_manifest_section():
    from oracles.clearance.oracle import ClearanceOracle

    assert ClearanceOracle._manifest(_citing_declaration(), None) is None
