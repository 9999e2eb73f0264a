"""Declarations matched against cargo manifests, duties paid through the payment gateway
stand-in, guarantees, refunds and release (issue #18), over real HTTP.

A consortium of its own on the session chain: the three members' oracle instances (clearance
attested 2-of-3 on chain), TW's node with its workers, and the gateway stand-in — a real
uvicorn service with its own Ed25519 key, registered with TW through the admin API.  Tests
that need to play a bank that misbehaves sign callbacks themselves, with the gateway's key
(replays, double payments) or a forger's (forgeries).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from nacl.signing import SigningKey

from chain.devnet import free_port
from chain.verification import verify_document
from nodes.gateway.app import create_gateway_app, register_with_node
from offchain.keystore import Keystore
from offchain.payments import rf_reference
from offchain.procs import free_port_run
from offchain.receipt import Receipt
from offchain.settings import REPO_ROOT, Settings
from offchain.xmlsafe import XmlLimits

_spec = importlib.util.spec_from_file_location(
    "_aci_support", Path(__file__).with_name("aci_support.py")
)
aci = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(aci)

pytestmark = [
    pytest.mark.contract,
    pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning"),
]
IMPORTER = {"id": "42751893", "id_scheme": "TW-BAN", "name": "Formosa Precision Spindle Co., Ltd."}
TODAY = dt.date.today()


@pytest.fixture(scope="module", autouse=True)
def rewound_after_module(rewinding) -> Iterator[None]:
    with rewinding():
        yield


@pytest.fixture(scope="module")
def ps(settings: Settings, deployment, make_fresh_settings, tmp_path_factory) -> Settings:
    new = make_fresh_settings(settings, tmp_path_factory.mktemp("payments") / "home")
    return new.model_copy(
        update={
            "clearance": new.clearance.model_copy(
                update={
                    "oracle_base_port": free_port_run(3),
                    "oracle_timeout_s": 30.0,
                    "oracles": [],
                }
            ),
            "payments": new.payments.model_copy(update={"gateway_port": free_port()}),
        }
    )


@pytest.fixture(scope="module")
def tw(ps: Settings, chain, serve_node) -> Iterator[str]:
    with aci.oracle_instances(ps, chain), serve_node(ps, "TW") as url:
        yield url


@pytest.fixture(scope="module")
def keys(ps: Settings, make_api_key) -> dict[str, str]:
    return {r: make_api_key(ps, "TW", r) for r in ("carrier", "officer", "auditor", "exporter",
                                                   "admin")}  # fmt: skip


@pytest.fixture(scope="module")
def gateway(ps: Settings, tw: str, keys) -> Iterator[str]:
    """The stand-in, served on its configured port and registered with TW's node."""
    with aci.serve_app(create_gateway_app(ps), ps.payments.gateway_port) as url:
        register_with_node(ps, "TW", keys["admin"])
        old = os.environ.get("SMARTCUSTOMS_PAYMENTS__GATEWAY_PORT")
        os.environ["SMARTCUSTOMS_PAYMENTS__GATEWAY_PORT"] = str(ps.payments.gateway_port)
        yield url
        if old is None:
            os.environ.pop("SMARTCUSTOMS_PAYMENTS__GATEWAY_PORT", None)
        else:
            os.environ["SMARTCUSTOMS_PAYMENTS__GATEWAY_PORT"] = old


@pytest.fixture(scope="module")
def gateway_key(ps: Settings) -> SigningKey:
    return Keystore(ps.keys_dir).signing_key(f"gateway/{ps.payments.gateway_id}")


@pytest.fixture(scope="module")
def api(tw: str, gateway: str, keys) -> Iterator[Callable[..., httpx.Response]]:
    with httpx.Client(base_url=tw, timeout=120) as client:

        def call(role: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
            headers = {**({"X-API-Key": keys[role]} if role else {}), **kw.pop("headers", {})}
            return client.request(method, path, headers=headers, **kw)

        yield call


@pytest.fixture(scope="module")
def new_id(ps: Settings, chain) -> Callable[[str], str]:
    """A declaration id never used, never picked by random selection."""
    make = aci.unsampled_ids(ps, chain)
    return lambda prefix: make(f"T-PAY-{prefix}")


@pytest.fixture
def voyage(api) -> dict[str, Any]:
    """A sea manifest lodged at TW, arriving tomorrow: line 1 is the bearings (46 PL, 4450 kg,
    HS 8482), line 2 goes to a watch-listed consignee, line 3 is plastics (HS 3902)."""
    doc = aci.manifest("sea", arrival_in=dt.timedelta(days=1))
    resp = api("carrier", "POST", "/manifests", json=doc)
    assert resp.status_code == 201, resp.text
    return doc


def declare(api, declaration_id: str, citations=None, **fields) -> dict[str, Any]:
    resp = api("exporter", "POST", "/declarations",
               json=aci.declaration(declaration_id, citations, **fields))  # fmt: skip
    assert resp.status_code == 201, resp.text
    return resp.json()


def rules(decision: dict[str, Any]) -> list[str]:
    return [r["rule"] for r in decision["reasons"]]


def pay(api, gateway: str, declaration_id: str, **change) -> httpx.Response:
    order = api("exporter", "GET", f"/declarations/{declaration_id}/payment").json()["order"]
    body = {"member": "TW", "order": order["reference"], "amount": order["amount"],
            "currency": order["currency"], "payer": {"name": IMPORTER["name"], **{
                k: IMPORTER[k] for k in ("id", "id_scheme")}}, **change}  # fmt: skip
    return httpx.post(gateway + "/pay", json=body, timeout=60)


def notice(o: dict[str, Any], **change) -> dict[str, Any]:
    return {"reference": f"BANK-{uuid.uuid4().hex[:10]}", "order": o["reference"],
            "amount": o["amount"], "currency": o["currency"],
            "paid_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "payer": {"name": IMPORTER["name"]}, **change}  # fmt: skip


def callback(tw: str, key: SigningKey, payments: list[dict], **kw) -> httpx.Response:
    return aci.signed_post(tw, key, "stand-in", "TW", "/payments/callback",
                           {"payments": payments}, **kw)  # fmt: skip


def status(api, declaration_id: str) -> dict[str, Any]:
    resp = api("officer", "GET", f"/declarations/{declaration_id}/status")
    assert resp.status_code == 200, resp.text
    return resp.json()


# --- matching against the manifest ----------------------------------------------------------


def test_a_declaration_matching_its_manifest_line_is_green_and_owes_its_duties(api, voyage, new_id):
    did = new_id("MATCH")
    out = declare(api, did, [aci.citation(aci.td_number(voyage))])
    assert out["channel"] == "C1" and out["reasons"] == []
    (line,) = out["manifest"]["lines"]
    assert line["status"] == "matched" and line["manifest_id"] == voyage["manifest_id"]
    assert line["remaining_packages"] == 46
    order = out["payment"]
    assert order["reference"].startswith("RF") and order["state"] == "open"
    assert Decimal(order["amount"]) == Decimal(out["duties"]["total"]) > 0
    assert order["currency"] == "TWD" and order["due_date"] > TODAY.isoformat()
    assert out["release"]["state"] == "awaiting_payment"
    assert "unpaid" in out["release"]["waiting_for"][0]
    shown = api("officer", "GET", f"/manifests/{voyage['manifest_id']}").json()
    assert shown["lines_detail"][0]["declared"][0]["declaration"] == did
    assert shown["lines_detail"][0]["remaining_packages"] == 0


@pytest.mark.parametrize(
    "cite, rule, channel",
    [
        ({"packages": 50, "mass": "4838"}, "MANIFEST-PACKAGES", "C2"),
        ({"packages": 46, "mass": "5200"}, "MANIFEST-WEIGHT", "C2"),
    ],
)
def test_packages_and_weight_beyond_tolerance_are_reasons(api, voyage, new_id, cite, rule, channel):
    out = declare(api, new_id("MISMATCH"), [aci.citation(aci.td_number(voyage), **cite)])
    assert rule in rules(out) and out["channel"] == channel
    assert out["manifest"]["lines"][0]["status"] == "mismatch"


def test_another_hs_chapter_on_the_manifest_is_a_reason(api, voyage, new_id):
    out = declare(api, new_id("HS"), [aci.citation(aci.td_number(voyage, 2), 800, "20160")])
    assert rules(out) == ["MANIFEST-HS-CHAPTER"] and out["channel"] == "C2"
    assert "chapter 39" in out["manifest"]["lines"][0]["problems"][0]


def test_an_unknown_transport_document_sends_the_goods_to_inspection(api, new_id):
    did = new_id("UNKNOWN")
    out = declare(api, did, [aci.citation("NO-SUCH-BL-" + aci.tag())])
    assert rules(out) == ["MANIFEST-UNKNOWN"] and out["channel"] == "C3"
    assert out["manifest"]["lines"][0]["status"] == "unknown"
    assert out["release"]["state"] == "held"


def test_a_fully_declared_line_cannot_be_declared_again(api, voyage, new_id):
    number = aci.td_number(voyage)
    first = declare(api, new_id("FULL"), [aci.citation(number)])
    assert first["manifest"]["lines"][0]["status"] == "matched"
    again = declare(api, new_id("AGAIN"), [aci.citation(number)])
    assert "MANIFEST-EXHAUSTED" in rules(again) and again["channel"] == "C2"
    assert again["manifest"]["lines"][0]["status"] == "exhausted"


def test_a_line_declared_in_parts(api, voyage, new_id):
    number = aci.td_number(voyage)
    part1 = declare(api, new_id("PART1"), [aci.citation(number, 20, "1934.8")])
    part2 = declare(api, new_id("PART2"), [aci.citation(number, 26, "2515.2")])
    assert [p["manifest"]["lines"][0]["status"] for p in (part1, part2)] == ["matched"] * 2
    assert part2["manifest"]["lines"][0]["declared_before"] == 20
    undeclared = api("officer", "GET", "/manifests/lines/undeclared", params={"days": 0}).json()
    assert number not in {x["transport_document"]["number"] for x in undeclared}


def test_pre_arrival_flags_carry_into_the_declaration(api, voyage, new_id):
    out = declare(api, new_id("FLAG"), [aci.citation(aci.td_number(voyage, 1), 120, "1860.5")])
    assert "PRE-ARRIVAL-C3" in rules(out) and out["channel"] == "C3"
    (line,) = out["manifest"]["lines"]
    assert [f["rule"] for f in line["pre_arrival"]] == ["WATCHLIST-IMPORTER"]


def test_a_declaration_without_citation_is_cleared_as_before(api, new_id):
    out = declare(api, new_id("PLAIN"), None)
    assert "manifest" not in out and out["channel"] == "C1"
    assert out["payment"]["state"] == "open"


# --- paying through the gateway ------------------------------------------------------------------


def test_paying_through_the_gateway_releases_the_goods_and_anchors_the_receipt(
    api, gateway, voyage, new_id, ps, keys, cli, chain
):
    did = new_id("PAY")
    declare(api, did, [aci.citation(aci.td_number(voyage))])
    paid = cli(ps, "pay", did, "--member", "TW", "--json", api_key=keys["exporter"])
    assert paid.returncode == 0, paid.stderr
    result = json.loads(paid.stdout)
    assert result["status"] == "applied" and result["state"] == "confirmed"
    assert result["declaration"] == did and result["receipt"].startswith("PR-TW-")
    st = cli(ps, "declaration", "status", did, "--member", "TW", "--json", api_key=keys["officer"])
    assert st.returncode == 0, st.stderr
    release = json.loads(st.stdout)["release"]
    assert release["state"] == "released" and release["payment"]["state"] == "paid"
    assert release["released_at"]
    readable = cli(ps, "declaration", "status", did, "--member", "TW", api_key=keys["officer"])
    assert "released" in readable.stdout
    # the receipt is anchored and verifies against the chain
    receipt = aci.wait_for(
        lambda: (r := api("auditor", "GET", f"/payments/receipts/{result['receipt']}").json())
        .get("anchoring") and r, 30, "the payment receipt to be anchored",
    )  # fmt: skip
    anchoring = Receipt.from_json(receipt["anchoring"])
    assert anchoring.doc_type == "payment-receipt" and anchoring.issuer_member == "TW"
    verdict = verify_document(
        receipt["document"].encode(), anchoring, documents=chain.documents,
        registry=chain.registry, chain_id=chain.w3.eth.chain_id, limits=XmlLimits(),
    )  # fmt: skip
    assert verdict.valid, verdict.to_json()
    # the canonical form the node keeps (C14N 2.0, prefixed) is what is anchored
    assert f"DeclarationID>{did}</" in receipt["document"]
    assert "StatusCode>APPLIED</" in receipt["document"]


def test_paying_twice_or_paying_nothing_is_refused_before_money_moves(
    api, gateway, new_id, ps, keys, cli
):
    did = new_id("TWICE")
    declare(api, did, None)
    assert cli(ps, "pay", did, "--member", "TW", "--json", api_key=keys["exporter"]).returncode == 0
    again = cli(ps, "pay", did, "--member", "TW", "--json", api_key=keys["exporter"])
    assert again.returncode == 1 and json.loads(again.stdout)["error"] == "already_paid"
    assert len(api("officer", "GET", "/payments", params={"declaration": did}).json()) == 1
    unknown = cli(ps, "pay", "NO-SUCH-DECL", "--member", "TW", "--json", api_key=keys["exporter"])
    assert unknown.returncode == 1 and json.loads(unknown.stdout)["error"] == "unknown_declaration"
    export = new_id("EXPORT")
    xml = (REPO_ROOT / "examples" / "declarations" / "07-export-bicycle-parts-tw.xml").read_text()
    old_id = xml.split("<DeclarationID>")[1].split("</DeclarationID>")[0]
    old_date = xml.split("<DeclarationDate>")[1].split("</DeclarationDate>")[0]
    xml = xml.replace(old_id, export).replace(f">{old_date}<", f">{TODAY}<")
    lodged = api("exporter", "POST", "/declarations", content=xml.encode(),
                 headers={"Content-Type": "application/xml"})  # fmt: skip
    assert lodged.status_code == 201, lodged.text
    assert lodged.json()["payment"] is None
    nothing = cli(ps, "pay", export, "--member", "TW", "--json", api_key=keys["exporter"])
    assert nothing.returncode == 1 and json.loads(nothing.stdout)["error"] == "nothing_to_pay"


@pytest.mark.parametrize(
    "change, code, status",
    [
        ({"amount": "1.00"}, "amount_mismatch", 422),
        ({"currency": "USD"}, "currency_mismatch", 422),
        ({"order": "RF00TW0000000001"}, "invalid_reference", 422),
    ],
)
def test_an_amount_currency_or_reference_that_does_not_fit_takes_nothing(
    api, gateway, new_id, change, code, status
):
    did = new_id("WRONG")
    declare(api, did, None)
    resp = pay(api, gateway, did, **change)
    assert resp.status_code == status and resp.json()["error"] == code, resp.text
    assert api("officer", "GET", "/payments", params={"declaration": did}).json() == []
    assert status_of_order(api, did) == "open"


def status_of_order(api, declaration_id: str) -> str:
    return api("exporter", "GET", f"/declarations/{declaration_id}/payment").json()["order"][
        "state"
    ]


# --- the callback: forged, replayed, mismatched, double -----------------------------------------


def test_forged_stale_or_unknown_callbacks_are_refused_and_nothing_is_recorded(
    api, tw, gateway_key, new_id
):
    did = new_id("FORGED")
    order = declare(api, did, None)["payment"]
    forger = SigningKey.generate()
    forged = callback(tw, forger, [notice(order)])
    assert forged.status_code == 401 and forged.json()["error"] == "bad_signature"
    stale = callback(tw, gateway_key, [notice(order)], now=dt.datetime.now().timestamp() - 3600)
    assert stale.status_code == 401 and stale.json()["error"] == "stale"
    stranger = aci.signed_post(tw, forger, "nobank", "TW", "/payments/callback",
                               {"payments": [notice(order)]})  # fmt: skip
    assert stranger.status_code == 401 and stranger.json()["error"] == "unknown_gateway"
    for_sg = aci.signed_post(tw, gateway_key, "stand-in", "SG", "/payments/callback",
                             {"payments": [notice(order)]})  # fmt: skip
    assert for_sg.status_code == 421 and for_sg.json()["error"] == "wrong_member"
    unsigned = httpx.post(tw + "/payments/callback", json={"payments": [notice(order)]})
    assert unsigned.status_code == 400 and unsigned.json()["error"] == "malformed_signature"
    assert api("officer", "GET", "/payments", params={"declaration": did}).json() == []
    assert status_of_order(api, did) == "open"


def test_a_replayed_callback_is_refused_and_a_resent_payment_is_recorded_once(
    api, tw, gateway_key, new_id
):
    did = new_id("REPLAY")
    order = declare(api, did, None)["payment"]
    payment = notice(order)
    body = json.dumps({"payments": [payment]}).encode()
    from offchain.payments import sign_request

    headers = {**sign_request(gateway_key, "stand-in", "TW", "POST", "/payments/callback", body),
               "Content-Type": "application/json"}  # fmt: skip
    first = httpx.post(tw + "/payments/callback", content=body, headers=headers)
    assert first.status_code == 200 and first.json()["results"][0]["status"] == "applied"
    replay = httpx.post(tw + "/payments/callback", content=body, headers=headers)
    assert replay.status_code == 409 and replay.json()["error"] == "replayed"
    resent = callback(tw, gateway_key, [payment])  # the bank sends it again, freshly signed
    assert resent.status_code == 200 and resent.json()["results"][0]["duplicate"] is True
    conflict = callback(tw, gateway_key, [{**payment, "amount": "1.00"}])
    assert conflict.json()["results"][0]["status"] == "conflict"
    assert len(api("officer", "GET", "/payments", params={"declaration": did}).json()) == 1


def test_a_double_payment_is_recorded_as_a_refund_never_lost(api, tw, gateway_key, new_id, keys):
    did = new_id("DOUBLE")
    order = declare(api, did, None)["payment"]
    ok, twice = notice(order), notice(order)
    resp = callback(tw, gateway_key, [ok, twice])
    assert resp.status_code == 200, resp.text
    first, second = resp.json()["results"]
    assert first["status"] == "applied"
    assert (second["status"], second["error"]) == ("refund_due", "already_paid")
    refunds = api("officer", "GET", "/payments", params={"status": "refund_due"}).json()
    assert twice["reference"] in {r["reference"] for r in refunds}
    settle = api("officer", "POST", f"/payments/refunds/stand-in/{twice['reference']}/settle",
                 json={"bank_reference": "TWBANK-REF-001"})  # fmt: skip
    assert settle.status_code == 200 and settle.json()["status"] == "refunded"
    assert settle.json()["refund_receipt_hash"].startswith("0x")
    again = api("officer", "POST", f"/payments/refunds/stand-in/{twice['reference']}/settle",
                json={"bank_reference": "TWBANK-REF-002"})  # fmt: skip
    assert again.status_code == 409 and again.json()["error"] == "not_refundable"
    assert api("exporter", "POST", f"/payments/refunds/stand-in/{ok['reference']}/settle",
               json={"bank_reference": "X1"}).status_code == 403  # fmt: skip


@pytest.mark.parametrize(
    "change, error",
    [
        ({"amount": "1.00"}, "amount_mismatch"),
        ({"currency": "USD"}, "currency_mismatch"),
        ({"order": rf_reference("TW9999999999")}, "unknown_order"),
    ],
)
def test_a_confirmed_payment_that_does_not_fit_is_kept_as_a_refund(
    api, tw, gateway_key, new_id, change, error
):
    did = new_id("MISFIT")
    order = declare(api, did, None)["payment"]
    payment = notice(order, **change)
    resp = callback(tw, gateway_key, [payment])
    assert resp.status_code == 200, resp.text
    (result,) = resp.json()["results"]
    assert (result["status"], result["error"]) == ("refund_due", error)
    assert status_of_order(api, did) == "open"
    kept = api("officer", "GET", "/payments", params={"status": "refund_due"}).json()
    assert payment["reference"] in {r["reference"] for r in kept}


def test_malformed_callback_bodies_are_422(api, tw, gateway_key, new_id):
    order = declare(api, new_id("BODY"), None)["payment"]
    bad = callback(tw, gateway_key, [notice(order, amount="-5")])
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_callback"
    empty = callback(tw, gateway_key, [])
    assert empty.status_code == 422 and empty.json()["error"] == "invalid_callback"


# --- guarantees ----------------------------------------------------------------------------------


def guarantee(api, amount: str, holder=IMPORTER, **change) -> str:
    gid = "G-" + aci.tag()
    body = {"guarantee_id": gid, "holder": holder, "issuer": "Bank of Taiwan", "amount": amount,
            "currency": "TWD", "valid_from": str(TODAY - dt.timedelta(days=1)),
            "valid_to": str(TODAY + dt.timedelta(days=365)), **change}  # fmt: skip
    resp = api("officer", "POST", "/payments/guarantees", json=body)
    assert resp.status_code == 201, resp.text
    return gid


def test_a_guarantee_secures_release_is_drawn_down_and_restored_on_payment(api, gateway, new_id):
    did = new_id("DEFER")
    order = declare(api, did, None)["payment"]
    gid = guarantee(api, "100000000")
    deferred = api("exporter", "POST", f"/declarations/{did}/defer", json={"guarantee": gid})
    assert deferred.status_code == 200, deferred.text
    assert deferred.json()["order"]["state"] == "guaranteed"
    assert deferred.json()["release"]["state"] == "released"
    g = api("officer", "GET", f"/payments/guarantees/{gid}").json()
    assert Decimal(g["available"]) == Decimal("100000000") - Decimal(order["amount"])
    assert [m["kind"] for m in g["movements"]] == ["draw"]
    paid = pay(api, gateway, did)
    assert paid.status_code == 200 and paid.json()["status"] == "applied", paid.text
    g = api("officer", "GET", f"/payments/guarantees/{gid}").json()
    assert Decimal(g["available"]) == Decimal("100000000")
    assert [m["kind"] for m in g["movements"]] == ["draw", "restore"]
    assert status(api, did)["release"]["state"] == "released"


def test_a_guarantee_is_never_overdrawn(api, new_id):
    did = new_id("OVER")
    order = declare(api, did, None)["payment"]
    gid = guarantee(api, "1.00")
    resp = api("exporter", "POST", f"/declarations/{did}/defer", json={"guarantee": gid})
    assert resp.status_code == 409 and resp.json()["error"] == "guarantee_insufficient"
    assert order["amount"] in resp.json()["detail"]
    g = api("officer", "GET", f"/payments/guarantees/{gid}").json()
    assert g["available"] == "1.00" and g["movements"] == []
    assert status_of_order(api, did) == "open"


def test_a_guarantee_of_another_holder_or_out_of_date_is_refused(api, new_id):
    did = new_id("HOLDER")
    declare(api, did, None)
    other = guarantee(api, "100000000", holder={**IMPORTER, "id": "99999999"})
    resp = api("exporter", "POST", f"/declarations/{did}/defer", json={"guarantee": other})
    assert resp.status_code == 403 and resp.json()["error"] == "guarantee_not_holders"
    expired = guarantee(api, "100000000", valid_from=str(TODAY - dt.timedelta(days=30)),
                        valid_to=str(TODAY - dt.timedelta(days=1)))  # fmt: skip
    resp = api("exporter", "POST", f"/declarations/{did}/defer", json={"guarantee": expired})
    assert resp.status_code == 409 and resp.json()["error"] == "guarantee_inactive"
    unknown = api("exporter", "POST", f"/declarations/{did}/defer", json={"guarantee": "G-NONE"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_guarantee"
    dup = api("officer", "POST", "/payments/guarantees", json={
        "guarantee_id": other, "holder": IMPORTER, "issuer": "x", "amount": "1", "currency": "TWD",
        "valid_from": str(TODAY), "valid_to": str(TODAY)})  # fmt: skip
    assert dup.status_code == 409 and dup.json()["error"] == "guarantee_exists"


# --- release: channel and payment ----------------------------------------------------------------


def test_held_goods_are_released_after_the_check_passes_and_the_duties_are_paid(
    api, gateway, new_id
):
    did = new_id("HELD")
    out = declare(api, did, [aci.citation("NO-SUCH-BL-" + aci.tag())])
    assert out["channel"] == "C3" and out["release"]["state"] == "held"
    assert pay(api, gateway, did).status_code == 200
    held = status(api, did)["release"]
    assert held["state"] == "held" and "physical inspection" in held["waiting_for"][0]
    failed = api("officer", "POST", f"/declarations/{did}/inspection",
                 json={"outcome": "failed", "note": "container not presented"})  # fmt: skip
    assert failed.status_code == 200 and failed.json()["state"] == "held"
    assert "check failed" in failed.json()["waiting_for"][0]
    passed = api("officer", "POST", f"/declarations/{did}/inspection",
                 json={"outcome": "passed", "note": "goods as declared"})  # fmt: skip
    assert passed.json()["state"] == "released"
    history = [e["state"] for e in status(api, did)["release_history"]]
    assert history == ["held", "released"]
    releases = api("officer", "GET", "/releases", params={"state": "released"}).json()
    assert did in {r["declaration_id"] for r in releases}


def test_a_reroute_to_inspection_holds_unreleased_goods(api, new_id):
    did = new_id("REROUTE")
    assert declare(api, did, None)["release"]["state"] == "awaiting_payment"
    rr = api("officer", "POST", f"/declarations/{did}/reroute",
             json={"channel": "C3", "reason": "tip-off about this consignment"})  # fmt: skip
    assert rr.status_code == 200, rr.text
    assert status(api, did)["release"]["state"] == "held"
    c1 = api("officer", "POST", f"/declarations/{did}/inspection",
             json={"outcome": "passed", "note": "goods as declared"})  # fmt: skip
    assert c1.status_code == 200, c1.text
    assert c1.json()["state"] == "awaiting_payment"


def test_release_and_payment_requests_that_do_not_fit(api, new_id):
    assert api("officer", "GET", "/declarations/NOPE/status").status_code == 404
    assert (
        api("officer", "GET", "/declarations/NOPE/status").json()["error"] == "unknown_declaration"
    )
    green = new_id("GREEN")
    declare(api, green, None)
    nothing = api("officer", "POST", f"/declarations/{green}/inspection",
                  json={"outcome": "passed", "note": "n/a"})  # fmt: skip
    assert nothing.status_code == 409 and nothing.json()["error"] == "no_check_due"
    bad = api("officer", "POST", f"/declarations/{green}/inspection",
              json={"outcome": "maybe", "note": "n/a"})  # fmt: skip
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_request"
    assert api("exporter", "POST", f"/declarations/{green}/inspection",
               json={"outcome": "passed", "note": "mine"}).status_code == 403  # fmt: skip
    assert api("officer", "GET", "/payments/orders/RF-BAD").status_code == 422
    mistyped = api("officer", "GET", "/payments/orders/RF00TW0000000001")
    assert mistyped.status_code == 422 and mistyped.json()["error"] == "invalid_reference"
    unknown = api("officer", "GET", f"/payments/orders/{rf_reference('TW0000999999')}")
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_order"


def test_only_an_administrator_registers_gateway_keys(api):
    key = SigningKey.generate().verify_key.encode().hex()
    assert api("officer", "POST", "/payments/gateways",
               json={"gateway": "otherbank", "public_key": key}).status_code == 403  # fmt: skip
    bad = api("admin", "POST", "/payments/gateways", json={"gateway": "otherbank",
                                                            "public_key": "00" * 31 + "zz"})  # fmt: skip
    assert bad.status_code == 422
    ok = api(
        "admin", "POST", "/payments/gateways", json={"gateway": "otherbank", "public_key": key}
    )
    assert ok.status_code == 201 and ok.json()["revoked_at"] is None
    taken = api("admin", "POST", "/payments/gateways",
                json={"gateway": "otherbank", "public_key": SigningKey.generate().verify_key.encode().hex()})  # fmt: skip
    assert taken.status_code == 409 and taken.json()["error"] == "gateway_exists"
    revoked = api("admin", "DELETE", "/payments/gateways/otherbank")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
