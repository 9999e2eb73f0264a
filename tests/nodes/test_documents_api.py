"""Trade documents end to end over real HTTP: submit, anchor, deliver, verify, revoke, trace.

Flows 1, 2 and 6 of ARCHITECTURE.md as users meet them: an exporter at TW's node submits,
the batcher anchors, TW's node delivers to SG's node, NZ verifies a receipt, an officer
revokes, an auditor traces.  Each refusal must be a clear 4xx JSON error that stores
nothing.  The shared session nodes (`node_url`) serve the flows that leave no state a later
test could trip on; tests that need their own state run nodes from `fresh_consortium`.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account

from chain.context import Chain
from chain.errors import ContractReverted
from chain.events import read_events
from nodes.documents.service import DocumentService
from offchain import crypto
from offchain.db import Database
from offchain.documents import prepare
from offchain.keystore import role_account_name
from offchain.merkle import MerkleTree, leaf_hash
from offchain.merkle import verify as merkle_verify
from offchain.receipt import Receipt
from offchain.settings import Settings
from offchain.xmlsafe import XmlLimits

pytestmark = pytest.mark.contract

DOC_TYPES = ("certificate-of-origin", "commercial-invoice", "packing-list")
CO = "certificate-of-origin"
CHECK_NAMES = ["schema", "integrity", "anchored", "issuer", "not revoked", "attestations"]
RECEIPT_FIELDS = set(Receipt.__dataclass_fields__)


# --- helpers -----------------------------------------------------------------------------


def wait_for(probe: Callable[[], Any], what: str, timeout_s: float = 20.0) -> Any:
    """Poll `probe` until it returns something truthy; fail naming `what` after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Api:
    """One user of one node: the node's URL and the user's API key."""

    http: httpx.Client
    url: str
    key: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key} if self.key else {}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(f"{self.url}{path}", params=params, headers=self.headers)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(f"{self.url}{path}", headers=self.headers, **kwargs)

    def submit(
        self, xml: bytes | Iterator[bytes], doc_type: str = CO, to: str = "SG", wait: float = 0
    ) -> httpx.Response:
        return self.http.post(
            f"{self.url}/documents",
            params={"type": doc_type, "to": to, "wait": wait},
            content=xml,
            headers={**self.headers, "Content-Type": "application/xml"},
        )

    def verify(self, xml: bytes, receipt: dict[str, Any] | str) -> httpx.Response:
        text = receipt if isinstance(receipt, str) else json.dumps(receipt)
        return self.post(
            "/verify",
            files={"document": ("document.xml", xml, "application/xml")},
            data={"receipt": text},
        )

    def document(self, doc_hash: str) -> dict[str, Any]:
        resp = self.get(f"/documents/{doc_hash}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    def stored_count(self) -> int:
        counts = self.get("/documents").json()["counts"]
        return counts["queued"] + counts["batched"] + counts["anchored"]

    def wait_state(self, doc_hash: str, state: str, timeout_s: float = 20.0) -> dict[str, Any]:
        return wait_for(
            lambda: (d := self.document(doc_hash))["state"] == state and d,
            f"document {doc_hash} to be {state}",
            timeout_s,
        )

    def revoke(self, doc_hash: str, reason: str) -> httpx.Response:
        return self.post(f"/documents/{doc_hash}/revoke", json={"reason": reason})


def anchored(api: Api, xml: bytes, doc_type: str = CO) -> dict[str, Any]:
    """Submit and wait for the receipt (201)."""
    resp = api.submit(xml, doc_type, wait=15)
    assert resp.status_code == 201, resp.text
    return resp.json()["receipt"]


def cas_files(settings: Settings, member_id: str) -> int:
    root = settings.node_dir(member_id) / "cas"
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def by_name(verdict: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in verdict["checks"]}


def canonical_hash(xml: bytes, doc_type: str = CO) -> str:
    return "0x" + prepare(xml, doc_type, limits=XmlLimits()).doc_hash.hex()


@dataclass
class Users:
    exporter: Api  # TW
    tw_officer: Api
    tw_auditor: Api
    sg_officer: Api
    sg_auditor: Api
    nz: Api  # an NZ officer, verifying what others send


@pytest.fixture(scope="module")
def users(settings: Settings, node_url, make_api_key) -> Iterator[Users]:
    with httpx.Client(timeout=30) as client:

        def api(member_id: str, role: str) -> Api:
            return Api(client, node_url(member_id), make_api_key(settings, member_id, role))

        yield Users(
            exporter=api("TW", "exporter"),
            tw_officer=api("TW", "officer"),
            tw_auditor=api("TW", "auditor"),
            sg_officer=api("SG", "officer"),
            sg_auditor=api("SG", "auditor"),
            nz=api("NZ", "officer"),
        )


@pytest.fixture
def node(http: httpx.Client, serve_node, make_api_key):
    """`with node(settings, "TW") as tw:` serves a fresh node; `tw("officer")` is a user of it."""

    @contextmanager
    def run(settings: Settings, member_id: str, *, workers: bool = True):
        with serve_node(settings, member_id, start_workers=workers) as url:
            yield lambda role: Api(http, url, make_api_key(settings, member_id, role))

    return run


# --- happy path --------------------------------------------------------------------------


@pytest.mark.parametrize("doc_type", DOC_TYPES)
def test_exporter_submits_partner_receives_and_a_third_member_verifies(
    users: Users, sample_xml, deployment, doc_type
):
    queued_xml, xml = sample_xml(doc_type), sample_xml(doc_type)

    resp = users.exporter.submit(queued_xml, doc_type)
    assert resp.status_code == 202, resp.text
    queued = resp.json()
    assert queued["state"] == "queued" and queued["duplicate"] is False
    assert queued["doc_hash"] == canonical_hash(queued_xml, doc_type)
    assert (queued["doc_type"], queued["recipient"]) == (doc_type, "SG")

    resp = users.exporter.submit(xml, doc_type, wait=15)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    receipt = body["receipt"]
    assert body["state"] == "anchored"
    assert set(receipt) == RECEIPT_FIELDS
    assert all(v not in (None, "") for v in receipt.values()), receipt
    assert receipt["doc_hash"] == body["doc_hash"] == canonical_hash(xml, doc_type)
    assert (receipt["doc_type"], receipt["issuer_member"], receipt["recipient"]) == (
        doc_type,
        "TW",
        "SG",
    )
    assert receipt["registry"] == deployment.address("DocumentRegistry")
    assert receipt["chain_id"] == deployment.chain_id and receipt["block"] > 0
    assert receipt["cid"].startswith("b")
    assert merkle_verify(
        [bytes.fromhex(p[2:]) for p in receipt["proof"]],
        bytes.fromhex(receipt["root"][2:]),
        leaf_hash(bytes.fromhex(receipt["doc_hash"][2:])),
    )

    resp = users.nz.verify(xml, receipt)
    assert resp.status_code == 200, resp.text
    verdict = resp.json()
    assert verdict["valid"] is True and verdict["reason"] is None
    assert [c["name"] for c in verdict["checks"]] == CHECK_NAMES
    assert all(c["ok"] for c in verdict["checks"]), verdict
    assert "none required" in by_name(verdict)["attestations"]["detail"]

    for h in (queued["doc_hash"], receipt["doc_hash"]):  # nothing lost, queued one included
        doc = users.exporter.wait_state(h, "delivered")
        assert doc["delivery"]["verdict"]["valid"] is True
    inbox = {d["doc_hash"]: d for d in users.sg_officer.get("/inbox", limit=500).json()}
    got = inbox[receipt["doc_hash"]]
    assert (got["sender"], got["doc_type"], got["valid"]) == ("TW", doc_type, True)
    assert got["receipt"] == receipt
    assert [c["name"] for c in got["verdict"]["checks"]] == CHECK_NAMES
    assert queued["doc_hash"] in inbox

    resp = users.sg_officer.get(f"/inbox/{receipt['doc_hash']}/document")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/xml")
    assert canonical_hash(resp.content, doc_type) == receipt["doc_hash"]


def test_twenty_documents_are_anchored_under_one_root_with_one_transaction(
    fresh_consortium, node, sample_xml, chain, w3
):
    fresh = fresh_consortium(batch_interval_s=2.0)
    with node(fresh, "TW") as as_user:
        tw = as_user("exporter")
        xmls = [sample_xml(CO) for _ in range(20)]
        with ThreadPoolExecutor(4) as pool:
            responses = list(pool.map(tw.submit, xmls))
        assert [r.status_code for r in responses] == [202] * 20
        hashes = [r.json()["doc_hash"] for r in responses]
        wait_for(
            lambda: tw.get("/documents").json()["counts"]["anchored"] == 20, "20 documents anchored"
        )
        receipts = [tw.get(f"/documents/{h}/receipt").json() for h in hashes]

    roots = {r["root"] for r in receipts}
    assert len(roots) <= 2, f"20 quick submissions made {len(roots)} batches"
    for r in receipts:
        assert chain.documents.verify_on_chain(r["root"], r["doc_hash"], r["proof"])
    events = [
        e
        for root in roots
        for e in read_events(
            w3,
            chain.documents.contract,
            "DocumentRegistry",
            events=["BatchAnchored"],
            topics=[root],
        )
    ]
    assert len(events) == len(roots)
    assert sum(e.args["count"] for e in events) == 20
    txs = {r["tx"] for r in receipts}
    assert txs == {e.tx_hash for e in events}
    gas = sum(w3.eth.get_transaction_receipt(tx)["gasUsed"] for tx in txs)
    assert gas < 20 * 21_000, f"anchoring 20 documents cost {gas} gas: that is per document"


def test_resubmitting_a_document_answers_duplicate_and_anchors_it_once(
    users: Users, sample_xml, chain, w3
):
    xml = sample_xml(CO)
    before = users.exporter.stored_count()
    first = users.exporter.submit(xml).json()
    again = users.exporter.submit(xml)
    assert again.status_code == 202
    assert again.json()["duplicate"] is True
    assert again.json()["doc_hash"] == first["doc_hash"]
    assert first["duplicate"] is False

    later = users.exporter.submit(xml, wait=15)  # once anchored: the same receipt
    assert later.status_code == 201
    assert later.json()["duplicate"] is True
    receipt = later.json()["receipt"]
    assert users.exporter.submit(xml, wait=15).json()["receipt"] == receipt
    assert users.exporter.stored_count() == before + 1
    anchorings = list(
        read_events(
            w3,
            chain.documents.contract,
            "DocumentRegistry",
            events=["BatchAnchored"],
            topics=[receipt["root"]],
        )
    )
    assert len(anchorings) == 1


def test_resubmitting_a_known_document_stores_nothing_new(users: Users, settings, sample_xml):
    xml = sample_xml(CO)
    anchored(users.exporter, xml)
    before = cas_files(settings, "TW")
    for _ in range(3):
        assert users.exporter.submit(xml).json()["duplicate"] is True
    assert cas_files(settings, "TW") == before


# --- revocation --------------------------------------------------------------------------


def test_revoked_document_fails_verification_with_the_reason(users: Users, sample_xml):
    xml = sample_xml(CO)
    receipt = anchored(users.exporter, xml)
    reason = "issued in error: wrong consignee (test)"

    resp = users.tw_officer.revoke(receipt["doc_hash"], reason)
    assert resp.status_code == 200, resp.text
    assert resp.json()["reason"] == reason and resp.json()["root"] == receipt["root"]

    verdict = users.nz.verify(xml, receipt).json()
    assert verdict["valid"] is False
    checks = by_name(verdict)
    assert list(checks) == CHECK_NAMES
    assert checks["not revoked"]["ok"] is False
    assert reason in checks["not revoked"]["detail"]
    assert all(checks[n]["ok"] for n in CHECK_NAMES if n != "not revoked")
    assert verdict["reason"].startswith("not revoked")

    again = users.tw_officer.revoke(receipt["doc_hash"], reason)
    assert again.status_code == 409
    assert again.json()["error"] == "already_revoked"


def test_revoking_a_batch_invalidates_every_document_in_it(fresh_consortium, node, sample_xml):
    fresh = fresh_consortium(batch_interval_s=1.5)
    with node(fresh, "TW") as as_user:
        exporter, officer = as_user("exporter"), as_user("officer")
        xmls = [sample_xml(CO) for _ in range(3)]
        hashes = [exporter.submit(x).json()["doc_hash"] for x in xmls]
        docs = [exporter.wait_state(h, "anchored") for h in hashes]
        root = docs[0]["receipt"]["root"]
        batch = [
            (x, d["receipt"])
            for x, d in zip(xmls, docs, strict=True)
            if d["receipt"]["root"] == root
        ]
        assert len(batch) >= 2, "three quick submissions did not share a batch"
        reason = "exporter licence suspended (test)"

        resp = officer.post(f"/batches/{root}/revoke", json={"reason": reason})
        assert resp.status_code == 200, resp.text
        assert resp.json()["documents"] == len(batch)

        for xml, receipt in batch:
            verdict = officer.verify(xml, receipt).json()
            assert verdict["valid"] is False
            check = by_name(verdict)["not revoked"]
            assert check["ok"] is False
            assert "whole batch was revoked" in check["detail"] and reason in check["detail"]
        again = officer.post(f"/batches/{root}/revoke", json={"reason": reason})
        assert again.status_code == 409
        assert again.json()["error"] == "already_revoked"


def test_revoking_a_document_not_anchored_yet_is_409(fresh_consortium, node, sample_xml):
    fresh = fresh_consortium()
    with node(fresh, "TW", workers=False) as as_user:  # no batcher: it stays queued
        exporter, officer = as_user("exporter"), as_user("officer")
        doc_hash = exporter.submit(sample_xml(CO)).json()["doc_hash"]

        resp = officer.revoke(doc_hash, "changed my mind")
        assert resp.status_code == 409
        assert resp.json()["error"] == "not_anchored"
        assert "queued" in resp.json()["detail"]
        receipt = exporter.get(f"/documents/{doc_hash}/receipt")
        assert receipt.status_code == 409 and receipt.json()["error"] == "not_anchored"
        unknown_root = officer.post(
            f"/batches/0x{secrets.token_hex(32)}/revoke", json={"reason": "no such batch"}
        )
        assert unknown_root.status_code == 404
        assert unknown_root.json()["error"] == "unknown_batch"


def test_revoking_an_unknown_document_is_404_and_a_malformed_hash_400(users: Users):
    resp = users.tw_officer.revoke("0x" + secrets.token_hex(32), "no such document")
    assert resp.status_code == 404
    assert resp.json()["error"] == "unknown_document"
    resp = users.tw_officer.revoke("0x1234", "not a hash")
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_hash"


def test_only_the_issuing_member_can_revoke(users: Users, sample_xml, chain):
    xml = sample_xml(CO)
    receipt = anchored(users.exporter, xml)
    h, root = receipt["doc_hash"], receipt["root"]

    resp = users.sg_officer.revoke(h, "not ours to revoke")
    assert resp.status_code == 404
    assert resp.json()["error"] == "unknown_document"
    resp = users.sg_officer.post(f"/batches/{root}/revoke", json={"reason": "not ours"})
    assert resp.status_code == 404
    resp = users.exporter.revoke(h, "exporters do not revoke")
    assert resp.status_code == 403
    assert resp.json()["error"] == "forbidden"

    sg_issuer = chain.sender(role_account_name("SG", "ISSUER"))
    with pytest.raises(ContractReverted) as exc:
        chain.documents.revoke_document(sg_issuer, root, h, receipt["proof"], "forged")
    assert exc.value.error == "NotBatchIssuer"
    with pytest.raises(ContractReverted) as exc:
        chain.documents.revoke_batch(sg_issuer, root, "forged")
    assert exc.value.error == "NotBatchIssuer"
    assert users.nz.verify(xml, receipt).json()["valid"] is True


# --- auditor's trace ---------------------------------------------------------------------


def _kinds(trace: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["source"], e["kind"]) for e in trace["timeline"]]


def test_trace_shows_every_step_in_order_each_reverified(users: Users, sample_xml):
    receipt = anchored(users.exporter, sample_xml(CO))
    h = receipt["doc_hash"]
    users.exporter.wait_state(h, "delivered")

    at_sg = users.sg_auditor.get(f"/trace/documents/{h}")
    assert at_sg.status_code == 200, at_sg.text
    sg_kinds = _kinds(at_sg.json())
    assert ("chain", "anchored") in sg_kinds
    node_kinds = [k for s, k in sg_kinds if s == "node"]
    assert node_kinds == ["received", "verified"]
    assert all(e["reverified"]["ok"] for e in at_sg.json()["timeline"]), at_sg.json()

    reason = "superseded by a corrected certificate (test)"
    assert users.tw_officer.revoke(h, reason).status_code == 200

    at_tw = users.tw_auditor.get(f"/trace/documents/{h}")
    assert at_tw.status_code == 200, at_tw.text
    trace = at_tw.json()
    assert (trace["doc_hash"], trace["root"], trace["member"]) == (h, receipt["root"], "TW")
    assert _kinds(trace) == [
        ("node", "submitted"),
        ("chain", "anchored"),
        ("node", "anchored"),
        ("node", "delivered"),
        ("chain", "revoked"),
        ("node", "revoked"),
    ]
    for entry in trace["timeline"]:
        assert entry["reverified"]["ok"] is True, entry
    chain_anchor = trace["timeline"][1]
    assert (
        chain_anchor["event"] == "BatchAnchored" and chain_anchor["detail"]["tx"] == receipt["tx"]
    )
    assert trace["timeline"][4]["event"] == "DocumentRevoked"
    assert trace["timeline"][4]["detail"]["reason"] == reason
    assert trace["timeline"][5]["detail"]["reason"] == reason

    # SG re-verifies now, not from its records: the revocation shows at once.
    after = {
        k: e
        for e in users.sg_auditor.get(f"/trace/documents/{h}").json()["timeline"]
        if (k := (e["source"], e["kind"]))
    }
    assert ("chain", "revoked") in after
    assert after[("node", "verified")]["reverified"]["ok"] is False
    assert "verdict changed since" in after[("node", "verified")]["reverified"]["detail"]
    assert reason in after[("node", "received")]["reverified"]["detail"]


def test_trace_of_an_unknown_document_is_404_and_exporters_may_not_trace(users: Users, sample_xml):
    resp = users.tw_auditor.get(f"/trace/documents/0x{secrets.token_hex(32)}")
    assert resp.status_code == 404
    assert resp.json()["error"] == "unknown_document"
    h = users.exporter.submit(sample_xml(CO)).json()["doc_hash"]
    resp = users.exporter.get(f"/trace/documents/{h}")
    assert resp.status_code == 403
    assert resp.json()["error"] == "forbidden"
    users.exporter.wait_state(h, "delivered")  # leave nothing half-done for later tests


# --- bad input: a clear 4xx, nothing stored ----------------------------------------------

SAMPLE_CO = (Path(__file__).resolve().parents[2] / "examples" / f"{CO}.xml").read_bytes()
_CO_OPEN = b'<CertificateOfOrigin xmlns="urn:smartcustoms:doc:certificate-of-origin:1">'


def _with_doctype(doctype: str, body: bytes = b"") -> bytes:
    """The sample certificate with a DOCTYPE (and `body` entity uses in its first element)."""
    xml = SAMPLE_CO.replace(
        b"<CertificateOfOrigin ", doctype.encode() + b"\n<CertificateOfOrigin ", 1
    )
    return xml.replace(b"<CertificateID>", b"<CertificateID>" + body, 1) if body else xml


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    """A TCP port that records whether anybody connected (an XXE fetch would)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        s.setblocking(False)
        yield s


def _nobody_connected(s: socket.socket) -> bool:
    try:
        conn, _ = s.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


def _hostile(port: int) -> dict[str, tuple[bytes, int, str]]:
    laughs = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    return {
        "xxe-file": (
            _with_doctype(
                '<!DOCTYPE CertificateOfOrigin [<!ENTITY x SYSTEM "file:///etc/passwd">]>', b"&x;"
            ),
            400,
            "xml_forbidden_dtd",
        ),
        "xxe-http": (
            _with_doctype(
                f'<!DOCTYPE CertificateOfOrigin [<!ENTITY x SYSTEM "http://127.0.0.1:{port}/x">]>',
                b"&x;",
            ),
            400,
            "xml_forbidden_dtd",
        ),
        "billion-laughs": (
            _with_doctype(f'<!DOCTYPE CertificateOfOrigin [<!ENTITY l0 "lol">{laughs}]>', b"&l9;"),
            400,
            "xml_forbidden_dtd",
        ),
        "quadratic-blowup": (
            _with_doctype(
                f'<!DOCTYPE CertificateOfOrigin [<!ENTITY a "{"a" * 50_000}">]>', b"&a;" * 2_000
            ),
            400,
            "xml_forbidden_dtd",
        ),
        "external-dtd": (
            _with_doctype(
                f'<!DOCTYPE CertificateOfOrigin SYSTEM "http://127.0.0.1:{port}/evil.dtd">'
            ),
            400,
            "xml_forbidden_dtd",
        ),
        "parameter-entity": (
            _with_doctype(
                f'<!DOCTYPE CertificateOfOrigin [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p">'
                "%p;]>"
            ),
            400,
            "xml_forbidden_dtd",
        ),
        "undeclared-entity": (
            SAMPLE_CO.replace(b"<CertificateID>", b"<CertificateID>&x;", 1),
            400,
            "xml_entity",
        ),
        "utf-16": (
            SAMPLE_CO.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
            400,
            "xml_not_utf8",
        ),
        "latin-1-bytes": (
            SAMPLE_CO.replace(b"Formosa", "F\u00f6rmosa".encode("latin-1"), 1),
            400,
            "xml_not_utf8",
        ),
        "processing-instruction": (
            SAMPLE_CO.replace(
                _CO_OPEN, b'<?xml-stylesheet href="http://evil/x.xsl"?>' + _CO_OPEN, 1
            ),
            400,
            "xml_forbidden_pi",
        ),
        "not-well-formed": (SAMPLE_CO[:-40], 400, "xml_malformed"),
        "empty-body": (b"", 400, "xml_malformed"),
        "too-deep": (
            SAMPLE_CO.replace(
                b"<CertificateID>", b"<a>" * 70 + b"</a>" * 70 + b"<CertificateID>", 1
            ),
            400,
            "xml_too_deep",
        ),
    }


HOSTILE = sorted(_hostile(0))


@pytest.fixture
def nothing_stored(users: Users, settings: Settings) -> Iterator[None]:
    """Assert that the test left TW's outbox and content store as they were."""
    before = (users.exporter.stored_count(), cas_files(settings, "TW"))
    yield
    after = (users.exporter.stored_count(), cas_files(settings, "TW"))
    assert after == before, "a refused submission stored something"


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_xml_is_refused_before_parsing_and_stores_nothing(
    users: Users, listener, nothing_stored, case
):
    xml, status, code = _hostile(listener.getsockname()[1])[case]
    resp = users.exporter.submit(xml)
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == code and body["detail"], body
    assert "root:" not in resp.text  # no /etc/passwd echoed back
    assert _nobody_connected(listener), "the node fetched an external resource"


def test_an_invoice_submitted_as_a_certificate_is_422_wrong_root(
    users: Users, sample_xml, nothing_stored
):
    resp = users.exporter.submit(sample_xml("commercial-invoice"), CO)
    assert resp.status_code == 422
    assert resp.json()["error"] == "wrong_root"
    assert "commercial-invoice" in resp.json()["detail"]


def test_a_bad_hs_code_is_422_naming_the_element(users: Users, sample_xml, nothing_stored):
    xml = sample_xml(CO).replace(b"<HSCode>871491</HSCode>", b"<HSCode>87149X</HSCode>", 1)
    resp = users.exporter.submit(xml)
    assert resp.status_code == 422
    body = resp.json()
    assert body["error"] == "schema_invalid"
    assert "HSCode" in body["detail"]
    assert body["issues"][0]["path"] == "/CertificateOfOrigin/Items/Item[1]/HSCode"


@pytest.mark.parametrize(
    ("doc_type", "to", "status", "code"),
    [
        ("bill-of-lading", "SG", 400, "unknown_doc_type"),
        (CO, "JP", 404, "unknown_member"),
        (CO, "TW", 400, "invalid_recipient"),
    ],
)
def test_unknown_type_or_recipient_is_refused(
    users: Users, sample_xml, nothing_stored, doc_type, to, status, code
):
    resp = users.exporter.submit(sample_xml(CO), doc_type, to=to)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"] == code
    assert resp.json()["detail"]


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        (None, 401, "unauthorized"),
        ("sc_tw_not-a-real-key", 401, "unauthorized"),
        ("auditor", 403, "forbidden"),
    ],
)
def test_submitting_needs_an_exporter_or_officer_key(
    users: Users, settings, make_api_key, sample_xml, nothing_stored, who, status, code
):
    key = make_api_key(settings, "TW", who) if who == "auditor" else who
    resp = Api(users.exporter.http, users.exporter.url, key).submit(sample_xml(CO))
    assert resp.status_code == status
    assert resp.json()["error"] == code


def test_a_document_over_the_size_cap_is_413_and_stores_nothing(fresh_consortium, node, sample_xml):
    fresh = fresh_consortium(max_xml_bytes=2048)
    xml = sample_xml(CO)
    assert len(xml) > 2048
    with node(fresh, "TW", workers=False) as as_user:
        exporter = as_user("exporter")
        declared = exporter.submit(xml)
        chunked = exporter.submit(iter([xml[:1500], xml[1500:]]))  # no Content-Length
        counts = exporter.get("/documents").json()["counts"]
    for resp in (declared, chunked):
        assert resp.status_code == 413, resp.text
        assert resp.json()["error"] == "xml_too_large"
        assert "2048" in resp.json()["detail"]
    assert counts == {"queued": 0, "batched": 0, "anchored": 0, "delivery_pending": 0}
    assert cas_files(fresh, "TW") == 0


def test_a_document_accepted_under_the_cap_is_valid_at_its_recipient(
    fresh_consortium, node, sample_xml
):
    xml = re.sub(
        rb"<Description>[^<]*</Description>",
        b"<Description>Parts " + b">" * 400 + b"</Description>",
        sample_xml(CO),
    )
    fresh = fresh_consortium(max_xml_bytes=len(xml) + 100)
    with node(fresh, "SG"), node(fresh, "TW") as as_user:
        exporter = as_user("exporter")
        resp = exporter.submit(xml, wait=15)
        if resp.status_code == 413:  # refusing up front keeps the promise too
            return
        assert resp.status_code == 201, resp.text
        doc = exporter.wait_state(resp.json()["doc_hash"], "delivered")
    assert doc["delivery"]["verdict"]["valid"] is True, doc["delivery"]["verdict"]["reason"]


# --- verification failures (POST /verify) ------------------------------------------------


@pytest.fixture(scope="module")
def two_anchored(users: Users, sample_xml) -> list[tuple[bytes, dict[str, Any]]]:
    """Two anchored certificates with their receipts (not revoked; never change them)."""
    xmls = [sample_xml(CO) for _ in range(2)]
    out = [(x, anchored(users.exporter, x)) for x in xmls]
    for _, r in out:
        users.exporter.wait_state(r["doc_hash"], "delivered")
    return out


def test_a_tampered_byte_fails_integrity_and_every_check_is_reported(users: Users, two_anchored):
    xml, receipt = two_anchored[0]
    tampered = xml.replace(b"Formosa Cycle", b"Formosa Cyclf", 1)
    verdict = users.nz.verify(tampered, receipt).json()
    assert verdict["valid"] is False
    checks = by_name(verdict)
    assert list(checks) == CHECK_NAMES
    assert checks["integrity"]["ok"] is False
    assert receipt["doc_hash"] in checks["integrity"]["detail"]
    assert all(checks[n]["ok"] for n in CHECK_NAMES if n != "integrity"), verdict
    assert verdict["reason"].startswith("integrity")


def test_a_receipt_of_another_document_fails_integrity(users: Users, two_anchored):
    (xml, _), (_, other) = two_anchored
    checks = by_name(users.nz.verify(xml, other).json())
    assert checks["integrity"]["ok"] is False
    assert "another document" in checks["integrity"]["detail"]


def test_a_proof_for_a_root_never_anchored_fails_anchored(users: Users, two_anchored):
    xml, receipt = two_anchored[0]
    tree = MerkleTree(
        [leaf_hash(bytes.fromhex(receipt["doc_hash"][2:])), leaf_hash(secrets.token_bytes(32))]
    )
    forged = {
        **receipt,
        "root": "0x" + tree.root.hex(),
        "leaf_index": 0,
        "proof": ["0x" + p.hex() for p in tree.proof(0)],
    }
    verdict = users.nz.verify(xml, forged).json()
    checks = by_name(verdict)
    assert verdict["valid"] is False
    assert checks["integrity"]["ok"] is True
    assert checks["anchored"]["ok"] is False
    assert "never anchored" in checks["anchored"]["detail"]
    assert checks["issuer"]["ok"] is False and checks["not revoked"]["ok"] is False


@pytest.mark.parametrize("mangle", ["not-json", "missing-root", "bad-hash", "a-list"])
def test_a_malformed_receipt_is_400_invalid_receipt(users: Users, two_anchored, mangle):
    xml, receipt = two_anchored[0]
    text = {
        "not-json": "{this is not json",
        "missing-root": json.dumps({k: v for k, v in receipt.items() if k != "root"}),
        "bad-hash": json.dumps({**receipt, "doc_hash": "0xnothex"}),
        "a-list": json.dumps([receipt]),
    }[mangle]
    resp = users.nz.verify(xml, text)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == "invalid_receipt"
    if mangle == "missing-root":
        assert "root" in resp.json()["detail"]


@pytest.mark.parametrize("case", ["schema-invalid-document", "receipt-of-another-registry"])
def test_every_verdict_has_a_line_for_each_check(users: Users, two_anchored, case):
    xml, receipt = two_anchored[0]
    if case == "schema-invalid-document":
        xml = xml.replace(b"<HSCode>871491</HSCode>", b"<HSCode>87149X</HSCode>", 1)
    else:
        receipt = {**receipt, "registry": "0x" + "11" * 20}
    verdict = users.nz.verify(xml, receipt).json()
    assert verdict["valid"] is False
    assert [c["name"] for c in verdict["checks"]] == CHECK_NAMES


# --- node to node: POST /inbox --------------------------------------------------------------


@dataclass
class Delivery:
    doc_hash: str
    body: bytes
    chain: Chain

    def envelope(
        self, *, account=None, sender: str = "TW", recipient: str = "SG", now: float | None = None
    ) -> dict[str, str]:
        acct = account or self.chain.keys.account(role_account_name("TW", "ISSUER"))
        env = crypto.sign_envelope(
            acct, sender, recipient, self.body, chain_id=self.chain.deployment.chain_id, now=now
        )
        return env.to_headers()


@pytest.fixture(scope="module")
def exporter_service(settings, deployment, tmp_path_factory, make_fresh_settings):
    """TW's document service in this process, on its own database: it anchors documents
    that TW's session node never saw, so SG receives them only as the tests decide."""
    fresh = make_fresh_settings(settings, tmp_path_factory.mktemp("exporter") / "var")
    db = Database(fresh.node_dir("TW") / "node.sqlite")
    svc = DocumentService(fresh, "TW", Chain(fresh), db)
    yield svc
    db.close()


@pytest.fixture
def delivery(exporter_service: DocumentService, sample_xml) -> Delivery:
    """A new anchored document for SG and the body TW's deliverer would post."""
    svc = exporter_service
    doc_hash = svc.submit(sample_xml(CO), CO, "SG", "test").doc_hash
    svc.anchor_pending(force=True)
    doc = svc.document(doc_hash)
    assert doc.state == "anchored"
    body = json.dumps(
        {
            "receipt": svc.receipt(doc).to_json(),
            "ciphertext": base64.b64encode(svc.store.get(doc.cid_recipient)).decode(),
        }
    ).encode()
    return Delivery(doc_hash, body, svc.chain)


def _post_inbox(users: Users, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return users.sg_officer.http.post(  # no API key: the envelope is the credential
        f"{users.sg_officer.url}/inbox",
        content=body,
        headers={**headers, "Content-Type": "application/json"},
    )


def _forgeries(d: Delivery) -> dict[str, tuple[bytes, dict[str, str], int, str]]:
    other_member = d.chain.keys.account(role_account_name("NZ", "ISSUER"))
    genuine = d.envelope()
    raw = genuine["X-SC-Envelope"]
    fields = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    sig = fields["signature"]
    fields["signature"] = sig[:10] + ("1" if sig[10] == "0" else "0") + sig[11:]
    bad_sig = {"X-SC-Envelope": base64.urlsafe_b64encode(json.dumps(fields).encode()).decode()}
    return {
        "another-members-account": (d.body, d.envelope(account=other_member), 403, "not_a_member"),
        "non-member-key": (d.body, d.envelope(account=Account.create()), 403, "not_a_member"),
        "non-member-sender": (
            d.body,
            d.envelope(account=Account.create(), sender="JP"),
            403,
            "not_a_member",
        ),
        "tampered-body": (
            d.body.replace(b'"recipient": "SG"', b'"recipient": "SG" '),
            genuine,
            400,
            "body_mismatch",
        ),
        "tampered-signature": (d.body, bad_sig, 401, "bad_signature"),
        "wrong-recipient": (d.body, d.envelope(recipient="NZ"), 421, "wrong_recipient"),
        "stale": (d.body, d.envelope(now=time.time() - 3600), 401, "stale"),
        "from-the-future": (d.body, d.envelope(now=time.time() + 3600), 401, "stale"),
        "no-envelope": (d.body, {}, 400, "malformed"),
        "garbage-envelope": (d.body, {"X-SC-Envelope": "!!not base64 json!!"}, 400, "malformed"),
    }


FORGERIES = [
    "another-members-account",
    "non-member-key",
    "non-member-sender",
    "tampered-body",
    "tampered-signature",
    "wrong-recipient",
    "stale",
    "from-the-future",
    "no-envelope",
    "garbage-envelope",
]


def _in_sg_inbox(users: Users, doc_hash: str) -> bool:
    return users.sg_officer.get(f"/inbox/{doc_hash}/document").status_code == 200


@pytest.mark.parametrize("case", FORGERIES)
def test_a_forged_envelope_is_refused_and_nothing_is_stored(
    users: Users, settings, delivery: Delivery, case
):
    cases = _forgeries(delivery)
    assert sorted(cases) == sorted(FORGERIES)
    body, headers, status, code = cases[case]
    cas_before = cas_files(settings, "SG")
    resp = _post_inbox(users, body, headers)
    assert (resp.status_code, resp.json().get("error")) == (status, code), resp.text
    assert resp.json()["detail"]
    assert not _in_sg_inbox(users, delivery.doc_hash)
    assert cas_files(settings, "SG") == cas_before
    # The genuine delivery is still accepted afterwards: the forgery burnt nothing.
    resp = _post_inbox(users, delivery.body, delivery.envelope())
    assert resp.status_code == 200, resp.text
    assert resp.json()["new"] is True and resp.json()["verdict"]["valid"] is True


def test_a_replayed_request_is_refused(users: Users, delivery: Delivery):
    headers = delivery.envelope()
    first = _post_inbox(users, delivery.body, headers)
    assert first.status_code == 200 and first.json()["new"] is True
    replay = _post_inbox(users, delivery.body, headers)
    assert replay.status_code == 409
    assert replay.json()["error"] == "replayed"
    listed = [
        d
        for d in users.sg_officer.get("/inbox", limit=500).json()
        if d["doc_hash"] == delivery.doc_hash
    ]
    assert len(listed) == 1


def test_a_delivery_sent_twice_answers_the_same_verdict_not_new(
    users: Users, settings, delivery: Delivery
):
    first = _post_inbox(users, delivery.body, delivery.envelope())
    assert first.status_code == 200, first.text
    cas_before = cas_files(settings, "SG")
    second = _post_inbox(users, delivery.body, delivery.envelope())
    assert second.status_code == 200, second.text
    assert first.json()["new"] is True and second.json()["new"] is False
    assert second.json()["verdict"] == first.json()["verdict"]
    assert first.json()["verdict"]["valid"] is True
    assert cas_files(settings, "SG") == cas_before
