"""The clearance oracle and the node's clearance service: duties, permits, documents, channel.

The oracle reads the chain itself (PermitRegistry, DocumentRegistry), so every check here
sets the chain up for real: permits issued by TW's agency (the example permit shifted to
today), certificates anchored by SG's issuer and revoked on chain.  The service tests run
the node's `ClearanceService` over the three in-process instances: the decision is attested
2-of-3, permits are drawn down, bad input is refused with nothing stored or attested.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest

from chain.errors import ContractReverted
from nodes.clearance.service import ClearanceService
from offchain import attestation as att
from offchain.db import Database
from offchain.declarations import DeclarationRejected, declaration_hash, load_declaration_json
from offchain.keystore import role_account_name
from oracles.aggregator import OracleUnavailable
from oracles.base import OracleError

pytestmark = [
    pytest.mark.contract,
    # offchain/declarations/'s date field warns when serialised (model_dump_json)
    pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning"),
]

CLEARANCE = int(att.CLEARANCE)
MACHINERY = "01-machinery-parts-sg.json"
BEEF = "02-frozen-beef-nz-permit.json"
ASTEP = "03-preference-astep-sg.json"
BATTERIES = "04-lithium-batteries-cn.xml"
PERMIT = "IP-TW-2025-0042"
TODAY = dt.date.today()
CENT = Decimal("0.01")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def fresh_id(prefix: str) -> str:
    return f"T-{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def oracle(oracle_instances):
    """TW's clearance oracle (every instance computes the same)."""
    return oracle_instances["TW"][CLEARANCE].oracle


@pytest.fixture
def judge(oracle, request_for):
    """`judge(decl)`: the clearance output for a declaration, computed from the chain now."""
    return lambda decl, **kw: oracle.compute(request_for(decl, **kw))


def rules(output: dict) -> list[str]:
    return [r["rule"] for r in output["reasons"]]


# --- duties -------------------------------------------------------------------------------


def test_duty_free_machinery_parts_pay_only_business_tax(example, judge, unsampled):
    decl = example(MACHINERY, declaration_id=unsampled("DUTY"))
    out = judge(decl)
    rate = Decimal(str(decl.exchange_rate))
    duties = out["duties"]
    assert [i["sequence"] for i in duties["items"]] == [i.sequence for i in decl.items]
    tax = Decimal(0)
    for line, item in zip(duties["items"], decl.items, strict=True):
        assert (line["rate"], line["amount"], line["regulation_codes"]) == ("0", "0.00", [])
        expected_vat = cents(item.customs_value * rate * Decimal("0.05"))
        assert Decimal(line["vat_amount"]) == expected_vat
        tax += expected_vat
    assert Decimal(duties["duty"]) == 0
    assert Decimal(duties["tax"]) == tax
    assert Decimal(duties["total"]) == tax
    assert out["channel"] == "C1"
    assert out["reasons"] == []
    assert out["permits"] == [] and out["documents"] == []


def test_a_general_ad_valorem_rate_is_value_times_rate_and_tax_on_value_plus_duty(example, judge):
    decl = example(BATTERIES)
    out = judge(decl)
    rate = Decimal(str(decl.exchange_rate)) if decl.exchange_rate else Decimal(1)
    item, line = decl.items[0], out["duties"]["items"][0]
    assert (line["hs_code"], line["rate"], line["general_rate"]) == ("85076090", "4", "4")
    value = item.customs_value * rate
    duty = cents(value * Decimal("0.04"))
    assert Decimal(line["amount"]) == duty > 0
    assert Decimal(line["vat_amount"]) == cents((value + duty) * Decimal("0.05"))
    assert Decimal(line["total"]) == duty + Decimal(line["vat_amount"])
    totals = out["duties"]
    assert Decimal(totals["duty"]) == sum(Decimal(i["amount"]) for i in totals["items"])
    assert Decimal(totals["total"]) == Decimal(totals["duty"]) + Decimal(totals["tax"])
    assert out["channel"] == "C2" and "DANGEROUS-GOODS" in rules(out)


def test_a_specific_duty_per_kilogram_uses_the_declared_mass(example, judge):
    out = judge(example(BEEF))
    first, second = out["duties"]["items"]
    assert first["specific"] == "10 TWD/KGM"
    assert (first["amount"], second["amount"]) == ("180000.00", "60000.00")  # 18000 / 6000 kg
    assert out["duties"]["duty"] == "240000.00"


def test_preference_is_denied_without_a_verified_certificate(example, judge):
    decl = example(ASTEP)  # its certificate's receipt names a root never anchored here
    out = judge(decl)
    for line in out["duties"]["items"]:
        assert line["preferential_applied"] is False
        assert line["rate"] == line["general_rate"] == "5"
        assert "preference ASTEP not granted" in line["preference_denied"]
        assert "no verified certificate of origin" in line["preference_denied"]
    certificate = out["documents"][0]
    assert certificate["ok"] is False and "never anchored" in certificate["reason"]
    assert out["channel"] == "C2" and "DOCUMENTS-FAILED" in rules(out)


def test_preference_is_granted_with_an_anchored_certificate(example, judge, astep_anchored):
    decl, _ = astep_anchored
    out = judge(decl)
    assert out["documents"][0]["ok"] is True
    assert out["documents"][0]["issuer_member"] == "SG"
    first = out["duties"]["items"][0]
    assert first["preferential_applied"] is True and first["agreement"] == "ASTEP"
    assert first["rate"] == "0" and first["amount"] == "0.00"
    assert "preference_denied" not in first


# --- documents ----------------------------------------------------------------------------


@pytest.fixture
def astep_anchored(example, anchor_documents):
    """Example 03 whose certificate of origin SG anchored on chain just now (the invoice
    reference dropped): (declaration, receipt of the certificate)."""
    decl = example(ASTEP)
    cert = decl.documents[0]
    other = "0x" + os.urandom(32).hex()
    receipt, _ = anchor_documents(
        "SG", [("certificate-of-origin", cert.doc_hash), ("certificate-of-origin", other)]
    )
    body = decl.to_json()
    body["documents"] = [{"doc_type": cert.doc_type, "doc_hash": cert.doc_hash, "receipt": receipt}]
    body["declaration_id"] = fresh_id("ASTEP")
    return load_declaration_json(body), receipt


def test_a_revoked_document_fails_the_documents_check(chain, judge, astep_anchored):
    decl, receipt = astep_anchored
    issuer = chain.sender(role_account_name("SG", "ISSUER"))
    chain.documents.revoke_document(
        issuer,
        receipt["root"],
        receipt["doc_hash"],
        receipt["proof"],
        "certificate withdrawn by the issuer",
    )
    out = judge(decl)
    doc = out["documents"][0]
    assert doc == {"doc_hash": receipt["doc_hash"], "ok": False, "reason": "it was revoked"}
    assert out["channel"] in ("C2", "C3") and "DOCUMENTS-FAILED" in rules(out)
    assert out["duties"]["items"][0]["preferential_applied"] is False  # no valid certificate


def test_a_document_of_a_revoked_batch_fails_the_documents_check(chain, judge, astep_anchored):
    decl, receipt = astep_anchored
    issuer = chain.sender(role_account_name("SG", "ISSUER"))
    chain.documents.revoke_batch(issuer, receipt["root"], "batch sent by mistake")
    doc = judge(decl)["documents"][0]
    assert (doc["ok"], doc["reason"]) == (False, "its batch was revoked")


def test_a_document_anchored_as_another_type_is_not_a_certificate(example, judge, anchor_documents):
    """An invoice's receipt relabelled as a certificate of origin: its proof leads to an
    anchored, unrevoked root, but DocumentRegistry recorded that batch as invoices."""
    decl = example(ASTEP)
    cert = decl.documents[0]
    other = "0x" + os.urandom(32).hex()
    receipt, _ = anchor_documents(
        "SG", [("commercial-invoice", cert.doc_hash), ("commercial-invoice", other)]
    )
    body = decl.to_json()
    body["documents"] = [
        {
            "doc_type": "certificate-of-origin",
            "doc_hash": cert.doc_hash,
            "receipt": {**receipt, "doc_type": "certificate-of-origin"},
        }
    ]
    body["declaration_id"] = fresh_id("RELABEL")
    out = judge(load_declaration_json(body))
    doc = out["documents"][0]
    assert doc["ok"] is False
    assert "commercial-invoice" in doc["reason"] and "certificate-of-origin" in doc["reason"]
    assert "DOCUMENTS-FAILED" in rules(out)
    assert out["duties"]["items"][0]["preferential_applied"] is False


def test_a_receipt_whose_proof_does_not_lead_to_its_root_fails(judge, astep_anchored):
    decl, receipt = astep_anchored
    body = decl.to_json()
    body["documents"][0]["receipt"] = {**receipt, "proof": ["0x" + os.urandom(32).hex()]}
    out = judge(load_declaration_json(body))
    assert out["documents"][0]["ok"] is False
    assert "does not lead to its root" in out["documents"][0]["reason"]
    assert "DOCUMENTS-FAILED" in rules(out)


# --- permits -------------------------------------------------------------------------------


def test_a_valid_permit_passes_and_the_node_draws_it_down(
    chain, example, service, issue_permit, attested_events
):
    issue_permit()
    before = chain.permits.remaining(PERMIT)
    decl = example(BEEF, declaration_id=fresh_id("BEEF"))
    start = chain.w3.eth.block_number

    out = service.declare(decl, "officer-test")

    assert [p["ok"] for p in out["permits"]] == [True, True]
    assert {p["reason"] for p in out["permits"]} == {"the permit allows this quantity"}
    assert "PERMIT-INVALID" not in rules(out)
    assert out["channel"] == "C3" and "QUARANTINE" in rules(out)  # beef: quarantine anyway
    assert out["permit_draws"] == [{"permit": PERMIT, "hs_code": "020230", "quantity": "24000"}]
    assert before == Decimal(30000)
    assert chain.permits.remaining(PERMIT) == Decimal(6000)
    draw = chain.permits.draw_of(PERMIT, declaration_hash(decl), "020230")
    assert draw is not None and draw.quantity == Decimal(24000)
    subject = declaration_hash(decl)
    assert (
        len(
            [
                e
                for e in attested_events(start)
                if bytes(e.args["subject"]) == subject and e.args["kind"] == CLEARANCE
            ]
        )
        == 1
    )  # (the TARIFF result has the subject too)


def _revoked(chain):
    agency = chain.sender(role_account_name("TW", "PERMIT_AGENCY"))
    chain.permits.revoke(agency, PERMIT, "importer licence suspended")


PERMIT_FAULTS = {
    "expired": (
        {"valid_to": TODAY + dt.timedelta(days=1)},
        10,
        None,
        "the permit had expired at that time",
    ),
    "not-yet-valid": (
        {"valid_from": TODAY + dt.timedelta(days=10)},
        0,
        None,
        "the permit is not valid yet at that time",
    ),
    "revoked": ({}, 0, _revoked, "the permit was revoked by its agency"),
    "over-quantity": (
        {"quantity": Decimal(10000)},
        0,
        None,
        "less than this quantity remains on the permit",
    ),
    "wrong-holder": (
        {"holder": "TW-BAN-00000001"},
        0,
        None,
        "the permit was issued to another importer",
    ),
    "hs-not-covered": (
        {"hs_codes": ("020220",)},
        0,
        None,
        "the permit does not cover this HS code",
    ),
}


@pytest.mark.parametrize("fault", list(PERMIT_FAULTS))
def test_a_failing_permit_check_sends_the_declaration_to_c3(
    chain, example, judge, issue_permit, fault
):
    changes, days_later, after, reason = PERMIT_FAULTS[fault]
    issue_permit(**changes)
    if after is not None:
        after(chain)
    decl = example(BEEF, date=(TODAY + dt.timedelta(days=days_later)).isoformat())
    out = judge(decl)
    failed = [p for p in out["permits"] if not p["ok"]]
    assert failed, out["permits"]
    assert {p["reason"] for p in failed} == {reason}
    if fault == "over-quantity":  # 18000 kg of 10000 fails, 6000 kg alone would fit
        assert [p["ok"] for p in out["permits"]] == [False, True]
    assert out["channel"] == "C3"
    assert "PERMIT-INVALID" in rules(out)


def test_a_permit_that_was_never_issued_fails(judge, example):
    out = judge(example(BEEF))
    assert [p["reason"] for p in out["permits"]] == [f"permit {PERMIT} does not exist on chain"] * 2
    assert out["channel"] == "C3" and "PERMIT-INVALID" in rules(out)


def test_a_permit_in_another_unit_is_not_ok(judge, example, items_changed, issue_permit):
    issue_permit()
    decl = items_changed(example(BEEF), unit="NAR")
    out = judge(decl)
    assert all(not p["ok"] and "is in KGM" in p["reason"] for p in out["permits"])
    assert "PERMIT-INVALID" in rules(out)


def test_a_regulated_good_without_a_cited_permit_is_not_ok(judge, example, items_changed):
    decl = items_changed(example(BEEF), permits=[])
    out = judge(decl)
    assert [p["permit"] for p in out["permits"]] == [None, None]
    assert all("needs an import permit; none cited" in p["reason"] for p in out["permits"])
    assert "PERMIT-INVALID" in rules(out)


def test_items_drawing_on_one_permit_are_checked_together(judge, example, issue_permit):
    issue_permit(quantity=Decimal(20000))
    out = judge(example(BEEF))
    assert not all(p["ok"] for p in out["permits"])
    assert "PERMIT-INVALID" in rules(out)


def test_over_quantity_across_items_is_a_c3_decision_not_a_failed_draw(
    chain, example, service, issue_permit
):
    issue_permit(quantity=Decimal(20000))
    decl = example(BEEF, declaration_id=fresh_id("OVER"))
    out = service.declare(decl, "officer-test")
    assert out["channel"] == "C3" and "PERMIT-INVALID" in rules(out)
    assert out["permit_draws"] == []
    assert chain.permits.remaining(PERMIT) == Decimal(20000)


# --- bad input -----------------------------------------------------------------------------


def test_an_unknown_hs_code_is_refused_and_nothing_is_attested(
    chain,
    example,
    items_changed,
    request_for,
    aggregator_of,
    local_instances,
    results_of,
    attested_events,
    service,
):
    decl = items_changed(example(MACHINERY, declaration_id=fresh_id("HS")), hs_code="999999")
    subject = declaration_hash(decl)
    start = chain.w3.eth.block_number

    with pytest.raises(OracleError) as caught:
        aggregator_of(local_instances).attest(CLEARANCE, request_for(decl))
    assert not isinstance(caught.value, OracleUnavailable)
    assert caught.value.code == "unknown_hs_code"
    assert caught.value.http_status == 422
    assert "999999" in caught.value.detail

    with pytest.raises(OracleError) as caught:
        service.declare(decl, "exporter-test")
    assert caught.value.code == "unknown_hs_code"

    assert chain.attestations.latest(subject, CLEARANCE) is None
    assert [e for e in attested_events(start) if bytes(e.args["subject"]) == subject] == []
    assert all(rows == [] for rows in results_of(subject).values())
    assert service.get(decl.declaration_id) is None


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("customs_value", "-1500.00", "negative_value"),
        ("customs_value", "NaN", "not_finite"),
        ("quantity", "Infinity", "not_finite"),
    ],
)
def test_bad_numbers_are_rejected_when_the_declaration_is_parsed(
    example, service, field, value, code
):
    body = example(MACHINERY).to_json()
    body["items"][0][field] = value
    with pytest.raises(DeclarationRejected) as caught:
        service.parse(json.dumps(body).encode(), "application/json")
    assert caught.value.code == code
    assert caught.value.http_status == 422


def test_a_wrong_currency_code_is_rejected_when_parsed(example, service):
    body = {**example(MACHINERY).to_json(), "currency": "XYZ"}
    with pytest.raises(DeclarationRejected) as caught:
        service.parse(json.dumps(body).encode(), "application/json")
    assert (caught.value.code, caught.value.http_status) == ("invalid_currency", 422)


def test_an_invalid_declaration_sent_straight_to_the_oracles_is_a_4xx(
    example, request_for, aggregator_of, local_instances
):
    request = request_for(example(MACHINERY))
    request["declaration"]["items"][0]["customs_value"] = "-5"
    with pytest.raises(OracleError) as caught:
        aggregator_of(local_instances).attest(CLEARANCE, request)
    assert 400 <= caught.value.http_status < 500


# --- the node's clearance service ------------------------------------------------------------


@pytest.fixture
def service(settings, chain, local_instances, tmp_path):
    """TW's clearance service over the three in-process instances, with its own database."""
    db = Database(tmp_path / "node.sqlite")
    svc = ClearanceService(settings, "TW", chain, db, instances=local_instances)
    yield svc
    if svc._aggregator is not None:
        svc._aggregator.close()
    db.close()


def test_the_same_declaration_twice_is_one_decision_and_one_attestation(
    chain, example, service, attested_events, unsampled, snapshot
):
    decl = example(MACHINERY, declaration_id=unsampled("DUP"))
    start = chain.w3.eth.block_number
    first = service.declare(decl, "exporter-test")
    again = service.declare(decl, "exporter-test")

    assert "duplicate" not in first and again["duplicate"] is True
    assert again["attestation"] == first["attestation"]
    assert again["channel"] == first["channel"] == "C1"
    subject = declaration_hash(decl)
    assert (
        len(
            [
                e
                for e in attested_events(start)
                if bytes(e.args["subject"]) == subject and e.args["kind"] == CLEARANCE
            ]
        )
        == 1
    )  # (the TARIFF result has the subject too)
    assert len(service.list()) == 1


def test_the_same_id_with_other_content_is_409_and_not_attested(
    chain, example, service, attested_events, snapshot
):
    decl = example(MACHINERY, declaration_id=fresh_id("CONFLICT"))
    service.declare(decl, "exporter-test")
    start = chain.w3.eth.block_number
    other = example(MACHINERY, declaration_id=decl.declaration_id, office="TWTPE")
    with pytest.raises(OracleError) as caught:
        service.declare(other, "exporter-test")
    assert (caught.value.code, caught.value.http_status) == ("declaration_exists", 409)
    assert attested_events(start + 1) == []
    assert service.get(decl.declaration_id)["declaration_hash"] == (
        "0x" + declaration_hash(decl).hex()
    )


def test_the_decision_is_attested_with_its_result_hash(
    chain, example, service, oracle, request_for, unsampled, snapshot
):
    decl = example(MACHINERY, declaration_id=unsampled("HASH"))
    out = service.declare(decl, "exporter-test")
    # the request carries the AI oracles' attested results the node gathered first
    expected = oracle.evaluate({**request_for(decl), "oracles": out["oracles"]})
    assert "tariff" in out["oracles"]
    latest = chain.attestations.latest(declaration_hash(decl), CLEARANCE)
    assert out["attestation"]["result_hash"] == "0x" + expected.result_hash.hex()
    assert latest.result_hash == expected.result_hash
    assert out["attestation"]["subject"] == out["declaration_hash"]
    assert out["attestation"]["kind"] == "CLEARANCE"
    assert len(out["attestation"]["signers"]) >= 2
    rec = service.get(decl.declaration_id)
    assert rec["channel"] == rec["engine_channel"] == "C1"
    assert rec["created_by"] == "exporter-test"


def test_all_oracles_down_stores_nothing_and_draws_nothing(
    chain, settings, example, issue_permit, tmp_path
):
    issue_permit()

    class Down:
        def __init__(self, name):
            self.name = name

        def attest(self, kind, request, *, issued_at, nonce):
            raise ConnectionRefusedError(self.name)

    db = Database(tmp_path / "down.sqlite")
    svc = ClearanceService(
        settings, "TW", chain, db, instances=[Down(m) for m in ("TW", "SG", "NZ")]
    )
    decl = example(BEEF, declaration_id=fresh_id("DOWN"))
    try:
        with pytest.raises(OracleUnavailable) as caught:
            svc.declare(decl, "exporter-test")
    finally:
        svc.aggregator.close()
        db.close()
    assert caught.value.http_status == 503
    assert chain.permits.remaining(PERMIT) == Decimal(30000)
    assert chain.attestations.latest(declaration_hash(decl), CLEARANCE) is None


def test_a_draw_for_the_same_declaration_twice_is_refused_on_chain(
    chain, example, service, issue_permit
):
    issue_permit()
    decl = example(BEEF, declaration_id=fresh_id("DRAW"))
    service.declare(decl, "exporter-test")
    operator = chain.sender(role_account_name("TW", "ORACLE_OPERATOR"))
    with pytest.raises(ContractReverted) as caught:
        chain.permits.draw_down(operator, PERMIT, "020230", 1, declaration_hash(decl))
    assert caught.value.error == "AlreadyDrawn"
    assert chain.permits.remaining(PERMIT) == Decimal(6000)


# --- officer re-routes ------------------------------------------------------------------------


class Switchable:
    """An instance that can be taken down and brought back during a test."""

    def __init__(self, inner) -> None:
        self.name = inner.name
        self.inner = inner
        self.down = False

    def attest(self, kind, request, *, issued_at, nonce):
        if self.down:
            raise ConnectionRefusedError(f"instance {self.name} is down")
        return self.inner.attest(kind, request, issued_at=issued_at, nonce=nonce)


def reroute_request(decl, previous: str, **fields) -> dict:
    return {
        "reroute": {
            "declaration": json.loads(decl.model_dump_json()),
            "from": "C1",
            "to": "C3",
            "officer": "officer-lin",
            "reason": "tip-off from the port police",
            "previous_result_hash": previous,
            **fields,
        }
    }


def test_a_reroute_is_attested_on_top_of_the_decision(
    chain, example, service, oracle, unsampled, snapshot
):
    decl = example(MACHINERY, declaration_id=unsampled("REROUTE"))
    decided = service.declare(decl, "exporter-test")
    subject = declaration_hash(decl)

    # what every instance must compute for this re-route (before it lands on chain)
    expected = oracle.evaluate(reroute_request(decl, decided["attestation"]["result_hash"]))
    assert expected.output["channel"] == "C3" and expected.output["rerouted"] is True

    rec = service.reroute(decl.declaration_id, "C3", "officer-lin", "tip-off from the port police")

    assert (rec["channel"], rec["engine_channel"]) == ("C3", "C1")
    (entry,) = rec["reroutes"]
    assert (entry["from"], entry["to"], entry["officer"]) == ("C1", "C3", "officer-lin")
    a = entry["attestation"]
    assert len(a["signers"]) >= 2 and a["tx"] != decided["attestation"]["tx"]
    assert a["result_hash"] == "0x" + expected.result_hash.hex()
    latest = chain.attestations.latest(subject, CLEARANCE)
    assert latest.result_hash == expected.result_hash

    again = service.reroute(decl.declaration_id, "C2", "officer-wu", "documents suffice")
    second = again["reroutes"][1]
    assert (second["from"], second["to"]) == ("C3", "C2")
    latest = chain.attestations.latest(subject, CLEARANCE)
    assert "0x" + latest.result_hash.hex() == second["attestation"]["result_hash"]


def test_a_reroute_of_a_superseded_decision_is_refused(
    chain, example, service, request_for, aggregator_of, local_instances, unsampled, snapshot
):
    decl = example(MACHINERY, declaration_id=unsampled("STALE"))
    decided = service.declare(decl, "exporter-test")
    subject = declaration_hash(decl)
    stale = "0x" + os.urandom(32).hex()
    with pytest.raises(OracleError) as caught:
        aggregator_of(local_instances).attest(CLEARANCE, reroute_request(decl, stale))
    assert (caught.value.code, caught.value.http_status) == ("stale_decision", 409)
    latest = chain.attestations.latest(subject, CLEARANCE)
    assert "0x" + latest.result_hash.hex() == decided["attestation"]["result_hash"]


def test_a_reroute_of_a_declaration_never_decided_is_refused(
    example, aggregator_of, local_instances
):
    decl = example(MACHINERY, declaration_id=fresh_id("NEVER"))
    with pytest.raises(OracleError) as caught:
        aggregator_of(local_instances).attest(
            CLEARANCE, reroute_request(decl, "0x" + os.urandom(32).hex())
        )
    assert caught.value.code == "stale_decision"
    assert "the chain holds none" in caught.value.detail


def test_a_reroute_to_the_same_channel_or_without_officer_is_refused(
    example, service, aggregator_of, local_instances, unsampled, snapshot
):
    decl = example(MACHINERY, declaration_id=unsampled("BADRR"))
    previous = service.declare(decl, "exporter-test")["attestation"]["result_hash"]
    agg = aggregator_of(local_instances)
    for fields in ({"to": "C1"}, {"officer": ""}, {"to": "C7"}):
        with pytest.raises(OracleError) as caught:
            agg.attest(CLEARANCE, reroute_request(decl, previous, **fields))
        assert (caught.value.code, caught.value.http_status) == ("invalid_reroute", 400), fields


def test_a_reroute_while_the_oracles_are_down_changes_nothing(
    chain, settings, example, local_instances, tmp_path, unsampled, snapshot
):
    switchable = [Switchable(i) for i in local_instances]
    db = Database(tmp_path / "rr.sqlite")
    svc = ClearanceService(settings, "TW", chain, db, instances=switchable)
    try:
        decl = example(MACHINERY, declaration_id=unsampled("RRDOWN"))
        decided = svc.declare(decl, "exporter-test")
        for s in switchable:
            s.down = True
        with pytest.raises(OracleUnavailable):
            svc.reroute(decl.declaration_id, "C3", "officer-lin", "tip-off from the port police")
        rec = svc.get(decl.declaration_id)
        assert rec["channel"] == "C1" and rec["reroutes"] == []
        latest = chain.attestations.latest(declaration_hash(decl), CLEARANCE)
        assert "0x" + latest.result_hash.hex() == decided["attestation"]["result_hash"]
    finally:
        svc.aggregator.close()
        db.close()
