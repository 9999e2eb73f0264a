"""Cargo manifests over real HTTP (issue #18): TW and SG nodes of their own on the session
chain, with their workers running (records are anchored, export manifests delivered node to
node and read in), the real compiled contracts, SQLite and the command line.

The chain is rewound when the module ends (the nodes are gone by then), so later modules
see nothing of what this one anchored.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chain.verification import verify_document
from offchain import crypto
from offchain.keystore import role_account_name
from offchain.receipt import Receipt
from offchain.settings import Settings
from offchain.xmlsafe import XmlLimits

_spec = importlib.util.spec_from_file_location(
    "_aci_support", Path(__file__).with_name("aci_support.py")
)
aci = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(aci)

pytestmark = pytest.mark.contract
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module", autouse=True)
def rewound_after_module(rewinding) -> Iterator[None]:
    with rewinding():
        yield


@pytest.fixture(scope="module")
def ms(settings: Settings, deployment, make_fresh_settings, tmp_path_factory) -> Settings:
    return make_fresh_settings(settings, tmp_path_factory.mktemp("manifests") / "home")


@pytest.fixture(scope="module")
def nodes(ms: Settings, serve_node) -> Iterator[dict[str, str]]:
    with serve_node(ms, "TW") as tw, serve_node(ms, "SG") as sg:
        yield {"TW": tw, "SG": sg}


@pytest.fixture(scope="module")
def keys(ms: Settings, make_api_key) -> dict[tuple[str, str], str]:
    return {
        (m, role): make_api_key(ms, m, role)
        for m in ("TW", "SG")
        for role in ("carrier", "officer", "auditor", "exporter", "admin")
    }


@pytest.fixture(scope="module")
def api(nodes, keys) -> Iterator[Callable[..., httpx.Response]]:
    """`api("TW", "carrier", "POST", "/manifests", json=...)`."""
    with httpx.Client(timeout=60) as client:

        def call(member: str, role: str | None, method: str, path: str, **kw: Any):
            headers = {**({"X-API-Key": keys[member, role]} if role else {}),
                       **kw.pop("headers", {})}  # fmt: skip
            return client.request(method, nodes[member] + path, headers=headers, **kw)

        yield call


def lodge(api, doc: dict[str, Any], member: str = "TW", *, xml: bool = False, wait: float = 0):
    if xml:
        return api(member, "carrier", "POST", "/manifests", params={"wait": wait},
                   content=aci.manifest_xml(doc), headers={"Content-Type": "application/xml"})  # fmt: skip
    return api(member, "carrier", "POST", "/manifests", params={"wait": wait}, json=doc)


def count(api, member: str = "TW") -> int:
    return len(api(member, "officer", "GET", "/manifests", params={"limit": 500}).json())


# --- lodging ---------------------------------------------------------------------------------


def test_an_xml_manifest_is_anchored_and_its_receipt_verifies(api, chain, ms):
    doc = aci.manifest("sea")
    xml = aci.manifest_xml(doc)
    resp = api("TW", "carrier", "POST", "/manifests", params={"wait": 20}, content=xml,
               headers={"Content-Type": "application/xml"})  # fmt: skip
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["manifest"], body["type"], body["lines"], body["late"]) == (
        doc["manifest_id"], "IM", 3, False)  # fmt: skip
    assert body["state"] == "anchored" and body["forwarded_to"] is None
    receipt = Receipt.from_json(body["receipt"])
    assert receipt.doc_type == "cargo-manifest" and receipt.doc_hash == body["doc_hash"]
    assert receipt.issuer_member == "TW" and receipt.recipient == "TW"
    verdict = verify_document(
        xml, receipt, documents=chain.documents, registry=chain.registry,
        chain_id=chain.w3.eth.chain_id, limits=XmlLimits(),
    )  # fmt: skip
    assert verdict.valid, verdict.to_json()
    batch = chain.documents.batch(receipt.root)
    assert batch.doc_type.name == "CARGO_MANIFEST"


def test_the_same_manifest_again_is_a_duplicate_and_other_content_is_refused(api):
    doc = aci.manifest("air")
    first = lodge(api, doc)
    assert first.status_code == 201, first.text
    again = lodge(api, doc)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["doc_hash"] == first.json()["doc_hash"]
    changed = {**doc, "lines": [{**doc["lines"][0], "description": "Frozen beef"}, doc["lines"][1]]}
    refused = lodge(api, changed)
    assert refused.status_code == 409 and refused.json()["error"] == "manifest_exists"
    other = aci.manifest("air")
    other["lines"][0]["transport_document"] = doc["lines"][0]["transport_document"]
    taken = lodge(api, other)
    assert taken.status_code == 409 and taken.json()["error"] == "transport_document_exists"
    assert doc["manifest_id"] in taken.json()["detail"]


def test_pre_arrival_risk_flags_lines_before_arrival(api):
    doc = aci.manifest("sea", arrival_in=3 * DAY)
    doc["lines"][2]["description"] = "General cargo"
    body = lodge(api, doc).json()
    assert body["pre_arrival"] == {"C1": 1, "C2": 1, "C3": 1}
    shown = api("TW", "officer", "GET", f"/manifests/{doc['manifest_id']}").json()
    lanes = {
        line["transport_document"]["number"]: line["pre_arrival"] for line in shown["lines_detail"]
    }
    watch = lanes[aci.td_number(doc, 1)]  # consignee on the watch list
    assert watch["lane"] == "C3" and [f["rule"] for f in watch["flags"]] == ["WATCHLIST-IMPORTER"]
    assert [f["rule"] for f in lanes[aci.td_number(doc, 2)]["flags"]] == ["MF-VAGUE-DESCRIPTION"]
    listed = api("TW", "officer", "GET", "/manifests/lines/pre-arrival").json()
    numbers = {line["transport_document"]["number"] for line in listed}
    assert {aci.td_number(doc, 1), aci.td_number(doc, 2)} <= numbers
    assert aci.td_number(doc, 0) not in numbers  # a green line is not listed
    c3 = api("TW", "officer", "GET", "/manifests/lines/pre-arrival", params={"lane": "C3"}).json()
    assert all(line["pre_arrival"]["lane"] == "C3" for line in c3)


def test_a_late_manifest_is_accepted_and_flagged(api):
    doc = aci.manifest("air", arrival_in=-2 * dt.timedelta(hours=3))
    resp = lodge(api, doc)
    assert resp.status_code == 201, resp.text
    assert resp.json()["late"] is True and resp.json()["pre_arrival"]["C2"] >= 2
    shown = api("TW", "officer", "GET", f"/manifests/{doc['manifest_id']}").json()
    assert all("MF-LATE" in [f["rule"] for f in line["pre_arrival"]["flags"]]
               for line in shown["lines_detail"])  # fmt: skip


def test_undeclared_lines_are_listed_after_n_days(api):
    doc = aci.manifest("sea", arrival_in=-5 * DAY)
    assert lodge(api, doc).status_code == 201
    mine = {aci.td_number(doc, i) for i in range(3)}

    def listed(days: int) -> set[str]:
        rows = api("TW", "officer", "GET", "/manifests/lines/undeclared", params={"days": days})
        assert rows.status_code == 200, rows.text
        return {line["transport_document"]["number"] for line in rows.json()}

    assert mine <= listed(3)
    assert not mine & listed(10)
    assert api("TW", "carrier", "GET", "/manifests/lines/undeclared").status_code == 403


# --- bad input: refused with a clear error, nothing kept ------------------------------------


@pytest.mark.parametrize(
    "content, ctype, status, code",
    [
        (b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
         b'<CargoManifest xmlns="urn:smartcustoms:doc:cargo-manifest:1">&x;</CargoManifest>',
         "application/xml", 400, "xml_forbidden_dtd"),
        (b'<CargoManifest xmlns="urn:smartcustoms:doc:cargo-manifest:1">&x;</CargoManifest>',
         "application/xml", 400, "xml_entity"),
        (b"<?xml-stylesheet href='a'?><CargoManifest/>", "application/xml", 400, "xml_forbidden_pi"),
        (b"<CargoManifest>", "application/xml", 400, "xml_malformed"),
        (b'{"manifest_id": 1', "application/json", 400, "invalid_json"),
        (b'{"manifest_id": "A", "manifest_id": "B"}', "application/json", 400, "invalid_json"),
        (b"[" * 100_000, "application/json", 400, "json_too_deep"),  # the node's JSON guard
        (b"a,b,c", "text/csv", 415, "unsupported_media_type"),
        (b'{"manifest_id": "X"}', "application/json", 422, "invalid_manifest"),
    ],
)  # fmt: skip
def test_hostile_or_malformed_manifests_are_refused_and_nothing_is_kept(
    api, content, ctype, status, code
):
    before = count(api)
    resp = api("TW", "carrier", "POST", "/manifests", content=content,
               headers={"Content-Type": ctype})  # fmt: skip
    assert resp.status_code == status, resp.text
    assert resp.json()["error"] == code and resp.json()["detail"]
    assert count(api) == before


def test_a_body_over_the_cap_is_413_before_it_is_read(api, ms):
    big = b"<CargoManifest>" + b" " * (ms.documents.max_xml_bytes + 1)
    resp = api("TW", "carrier", "POST", "/manifests", content=big,
               headers={"Content-Type": "application/xml"})  # fmt: skip
    assert resp.status_code == 413 and resp.json()["error"] == "xml_too_large"


def test_checks_when_lodged(api):
    before = count(api)
    far = lodge(api, aci.manifest("sea", arrival_in=200 * DAY))
    assert far.status_code == 422 and far.json()["error"] == "arrival_too_far"
    old = lodge(api, aci.manifest("sea", arrival_in=-60 * DAY))
    assert old.status_code == 422 and old.json()["error"] == "arrival_too_old"
    elsewhere = aci.manifest("air")
    elsewhere["discharge_port"] = "SGSIN"  # an arrival manifest for Singapore, lodged at TW
    wrong = lodge(api, elsewhere)
    assert wrong.status_code == 422 and wrong.json()["error"] == "wrong_customs"
    bad_box = aci.manifest("sea")
    bad_box["lines"][0]["containers"][0]["number"] = "SOLU1234561"
    box = lodge(api, bad_box)
    assert box.status_code == 422 and box.json()["error"] == "invalid_container"
    assert box.json()["issues"][0]["path"] == "lines[0].containers[0].number"
    assert count(api) == before


def test_who_may_lodge(api, nodes):
    doc = aci.manifest("air")
    assert api("TW", "exporter", "POST", "/manifests", json=doc).status_code == 403
    anonymous = httpx.post(nodes["TW"] + "/manifests", json=doc, timeout=30)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthorized"
    assert api("TW", "officer", "POST", "/manifests", json=doc).status_code == 201


def test_unknown_and_malformed_references(api):
    missing = api("TW", "officer", "GET", "/manifests/MF-NEVER-LODGED")
    assert missing.status_code == 404 and missing.json()["error"] == "unknown_manifest"
    bad = api("TW", "officer", "GET", "/manifests/not%20an%20id")
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_request"
    hashed = api("TW", "officer", "GET", "/manifests/0x" + "ab" * 32)
    assert hashed.status_code == 404


# --- export manifests between members --------------------------------------------------------


def test_an_export_manifest_reaches_the_importing_customs_and_each_side_checks_the_other(api, ms):
    export = aci.manifest("export", arrival_in=3 * DAY)
    sent = lodge(api, export, "TW", xml=True, wait=20)
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert body["type"] == "EX" and body["forwarded_to"] == "SG" and body["state"] == "anchored"
    assert Receipt.from_json(body["receipt"]).recipient == "SG"

    # SG reads it in once delivered and verified: it sees the cargo before the carrier reports
    def received() -> list[dict[str, Any]]:
        rows = api("SG", "officer", "GET", "/manifests", params={"source": "partner"}).json()
        return [m for m in rows if m["manifest"] == export["manifest_id"]]

    (got,) = aci.wait_for(received, 40, "SG to read in TW's export manifest")
    assert got["sender"] == "TW" and got["doc_hash"] == body["doc_hash"]
    shown = api("SG", "officer", "GET", f"/manifests/{export['manifest_id']}",
                params={"sender": "TW"}).json()  # fmt: skip
    assert shown["lines_detail"][0]["consignee"]["name"] == export["lines"][0]["consignee"]["name"]

    # the carrier then reports the voyage at SG, with another seal on the container
    arrival = {**export, "type": "IM", "manifest_id": export["manifest_id"] + "-IM"}
    arrival["lines"] = [json.loads(json.dumps(export["lines"][0]))]
    arrival["lines"][0]["containers"][0]["seals"] = ["SWAPPED-01"]
    reported = lodge(api, arrival, "SG")
    assert reported.status_code == 201, reported.text
    assert reported.json()["pre_arrival"]["C3"] == 1
    line = api("SG", "officer", "GET", f"/manifests/{arrival['manifest_id']}").json()[
        "lines_detail"
    ][0]
    assert line["pre_arrival"]["lane"] == "C3"
    assert [f["rule"] for f in line["pre_arrival"]["flags"]] == ["MF-PARTNER-MISMATCH"]
    assert any("seals of SOLU5550016" in d for d in line["partner_diff"])
    cross = api("SG", "officer", "GET", "/manifests/crosscheck").json()
    assert aci.td_number(export) in {x["transport_document"]["number"] for x in cross["differ"]}

    # and TW asks SG, node to node, how its export lines were reported there
    rec = api("TW", "officer", "GET", f"/manifests/{export['manifest_id']}/reconciliation")
    assert rec.status_code == 200, rec.text
    (entry,) = rec.json()["lines"]
    assert rec.json()["member"] == "SG" and entry["status"] == "differs"
    assert any("seals" in d for d in entry["differences"])


def test_a_reconciliation_question_must_be_signed_by_a_member(api, nodes, ms, keys):
    url = nodes["SG"] + "/manifests/partner/reconciliation"
    body = json.dumps({"doc_hash": "0x" + "00" * 32}).encode()
    unsigned = httpx.post(url, content=body, timeout=30)
    assert unsigned.status_code == 400 and unsigned.json()["error"] == "malformed"
    from offchain.keystore import Keystore

    issuer = Keystore(ms.keys_dir).account(role_account_name("TW", "ISSUER"))
    env = crypto.sign_envelope(issuer, "TW", "SG", body, chain_id=ms.chain.chain_id)
    unknown = httpx.post(url, content=body, headers=env.to_headers(), timeout=30)
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_manifest"
    replay = httpx.post(url, content=body, headers=env.to_headers(), timeout=30)
    assert replay.status_code == 409 and replay.json()["error"] == "replayed"
    not_sent = api("TW", "officer", "GET", f"/manifests/{_lodged_import(api)}/reconciliation")
    assert not_sent.status_code == 409 and not_sent.json()["error"] == "not_forwarded"


def _lodged_import(api) -> str:
    doc = aci.manifest("air")
    assert lodge(api, doc).status_code == 201
    return doc["manifest_id"]


# --- auditors and the command line --------------------------------------------------------------


def test_an_auditor_traces_a_manifest_to_its_anchor(api):
    doc = aci.manifest("air")
    assert lodge(api, doc, wait=20).json()["state"] == "anchored"
    trace = api("TW", "auditor", "GET", f"/manifests/{doc['manifest_id']}/trace")
    assert trace.status_code == 200, trace.text
    timeline = trace.json()["timeline"]
    assert [e.get("event") for e in timeline if e["source"] == "chain"] == ["BatchAnchored"]
    assert [e["kind"] for e in timeline if e["source"] == "node"] == ["submitted", "anchored"]
    assert all(e["reverified"]["ok"] for e in trace.json()["timeline"]), trace.json()
    assert api("TW", "carrier", "GET", f"/manifests/{doc['manifest_id']}/trace").status_code == 403


def test_the_manifest_commands_run_end_to_end(ms, nodes, keys, cli, tmp_path):
    doc = aci.manifest("sea")
    path = tmp_path / "manifest.xml"
    path.write_bytes(aci.manifest_xml(doc))
    sub = cli(ms, "manifest", "submit", str(path), "--member", "TW", "--wait", "20", "--json",
              api_key=keys["TW", "carrier"])  # fmt: skip
    assert sub.returncode == 0, sub.stderr
    out = json.loads(sub.stdout)
    assert out["manifest"] == doc["manifest_id"] and out["state"] == "anchored"
    show = cli(ms, "manifest", "show", doc["manifest_id"], "--member", "TW", "--json",
               api_key=keys["TW", "officer"])  # fmt: skip
    assert show.returncode == 0, show.stderr
    lines = json.loads(show.stdout)["lines_detail"]
    assert [line["transport_document"]["number"] for line in lines] == [
        aci.td_number(doc, i) for i in range(3)
    ]
    readable = cli(ms, "manifest", "show", doc["manifest_id"], "--member", "TW",
                   api_key=keys["TW", "officer"])  # fmt: skip
    assert readable.returncode == 0 and aci.td_number(doc, 1) in readable.stdout
    again = cli(ms, "manifest", "submit", str(path), "--member", "TW", "--json",
                api_key=keys["TW", "carrier"])  # fmt: skip
    assert again.returncode == 0 and json.loads(again.stdout)["duplicate"] is True
    hostile = tmp_path / "hostile.xml"
    hostile.write_bytes(b'<!DOCTYPE x [<!ENTITY a "b">]><CargoManifest/>')
    bad = cli(ms, "manifest", "submit", str(hostile), "--member", "TW", "--json",
              api_key=keys["TW", "carrier"])  # fmt: skip
    assert bad.returncode == 1 and json.loads(bad.stdout)["error"] == "xml_forbidden_dtd"
    for what in ("pre-arrival", "undeclared", "crosscheck"):
        r = cli(ms, "manifest", what, "--member", "TW", "--json", api_key=keys["TW", "officer"])
        assert r.returncode == 0, (what, r.stderr)
        assert isinstance(json.loads(r.stdout), list | dict)
