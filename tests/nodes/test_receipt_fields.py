"""Every receipt field is bound (issue #16 item 1), and a document has one recipient (item 2).

A receipt whose issuer, tx, block, anchored_at, cid or recipient was replaced used to pass
all six checks.  Now each is checked against the chain (the transaction exists, succeeded,
is in that block and emitted this registry's BatchAnchored of the root, sent by the batch's
issuer account) or against the sealed copy the verifying node holds; a third party without
the sealed copy is told the cid and recipient are informational.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from chain.context import Chain
from nodes.documents.service import DocumentService
from offchain import crypto
from offchain.cas.cid import cid_of
from offchain.db import Database
from offchain.keystore import role_account_name
from offchain.settings import Settings

pytestmark = pytest.mark.contract

CO = "certificate-of-origin"


@dataclass
class User:
    http: httpx.Client
    url: str
    key: str

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, self.url + path, headers={"X-API-Key": self.key}, **kw)

    def submit(self, xml: bytes, to: str = "SG", wait: float = 0) -> httpx.Response:
        return self.http.post(
            f"{self.url}/documents",
            params={"type": CO, "to": to, "wait": wait},
            content=xml,
            headers={"X-API-Key": self.key, "Content-Type": "application/xml"},
        )

    def verify(self, xml: bytes, receipt: dict[str, Any]) -> dict[str, Any]:
        resp = self.request(
            "POST",
            "/verify",
            files={"document": ("d.xml", xml, "application/xml")},
            data={"receipt": json.dumps(receipt)},
        )
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture(scope="module")
def users(settings: Settings, node_url, make_api_key) -> Iterator[dict[str, User]]:
    with httpx.Client(timeout=30) as client:

        def user(member: str, role: str) -> User:
            return User(client, node_url(member), make_api_key(settings, member, role))

        yield {
            "exporter": user("TW", "exporter"),
            "tw": user("TW", "officer"),
            "sg": user("SG", "officer"),
            "nz": user("NZ", "officer"),
        }


@pytest.fixture(scope="module")
def anchored(users, sample_xml) -> list[tuple[bytes, dict[str, Any]]]:
    """Two certificates TW sent SG, anchored in two batches (so two transactions)."""
    out = []
    for _ in range(2):
        xml = sample_xml(CO)
        resp = users["exporter"].submit(xml, wait=20)
        assert resp.status_code == 201, resp.text
        out.append((xml, resp.json()["receipt"]))
    assert out[0][1]["tx"] != out[1][1]["tx"]
    return out


def _checks(verdict: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in verdict["checks"]}


def forgeries(receipt: dict[str, Any], other: dict[str, Any], chain: Chain) -> dict[str, tuple]:
    """field -> (forged receipt, the check that must fail)."""
    sg_issuer = chain.keys.account(role_account_name("SG", "ISSUER")).address
    return {
        "issuer-other-member-account": ({**receipt, "issuer": sg_issuer}, "issuer"),
        "issuer-random": ({**receipt, "issuer": "0x" + secrets.token_hex(20)}, "issuer"),
        "tx-random": ({**receipt, "tx": "0x" + secrets.token_hex(32)}, "anchored"),
        "tx-of-another-batch": ({**receipt, "tx": other["tx"]}, "anchored"),
        "block-next": ({**receipt, "block": receipt["block"] + 1}, "anchored"),
        "block-zero": ({**receipt, "block": 0}, "anchored"),
        "anchored-at": ({**receipt, "anchored_at": receipt["anchored_at"] - 60}, "anchored"),
        "issuer-member": ({**receipt, "issuer_member": "SG"}, "issuer"),
        "leaf-index-beyond": ({**receipt, "leaf_index": 10_000}, "anchored"),
    }


CHAIN_FORGERIES = sorted(
    [
        "issuer-other-member-account",
        "issuer-random",
        "tx-random",
        "tx-of-another-batch",
        "block-next",
        "block-zero",
        "anchored-at",
        "issuer-member",
        "leaf-index-beyond",
    ]
)


def test_the_genuine_receipt_passes_everywhere_and_says_what_it_checked(users, anchored):
    xml, receipt = anchored[0]
    for who in ("tw", "sg", "nz"):
        verdict = users[who].verify(xml, receipt)
        assert verdict["valid"] is True, (who, verdict)
        checks = _checks(verdict)
        assert receipt["tx"] in checks["anchored"]["detail"]
        assert str(receipt["block"]) in checks["anchored"]["detail"]
    # TW sent it and SG received it: both hold the sealed copy; NZ does not.
    assert (
        "sealed copy held here" in _checks(users["sg"].verify(xml, receipt))["integrity"]["detail"]
    )
    assert "informational" in _checks(users["nz"].verify(xml, receipt))["integrity"]["detail"]


@pytest.mark.parametrize("case", CHAIN_FORGERIES)
def test_a_receipt_with_a_forged_chain_field_fails_for_any_verifier(users, anchored, chain, case):
    (xml, receipt), (_, other) = anchored
    forged, failing = forgeries(receipt, other, chain)[case]
    verdict = users["nz"].verify(xml, forged)
    assert verdict["valid"] is False, verdict
    checks = _checks(verdict)
    assert checks[failing]["ok"] is False, verdict
    assert checks["integrity"]["ok"] is True and checks["schema"]["ok"] is True
    assert verdict["reason"].startswith(failing)


@pytest.mark.parametrize(
    ("field", "value"),
    [("cid", cid_of(b"not the sealed copy")), ("recipient", "NZ")],
)
@pytest.mark.parametrize("who", ["tw", "sg"])
def test_a_forged_cid_or_recipient_fails_where_the_sealed_copy_is_held(
    users, anchored, field, value, who
):
    xml, receipt = anchored[0]
    verdict = users[who].verify(xml, {**receipt, field: value})
    assert verdict["valid"] is False
    integrity = _checks(verdict)["integrity"]
    assert integrity["ok"] is False and value in integrity["detail"]


def test_a_third_party_is_told_cid_and_recipient_are_informational(users, anchored):
    xml, receipt = anchored[0]
    verdict = users["nz"].verify(xml, {**receipt, "recipient": "NZ"})
    assert verdict["valid"] is True  # nothing NZ can check them against ...
    assert "informational" in _checks(verdict)["integrity"]["detail"]  # ... and it says so


def test_the_cli_refuses_a_forged_transaction(settings, anchored, cli, tmp_path):
    xml, receipt = anchored[0]
    (tmp_path / "d.xml").write_bytes(xml)
    (tmp_path / "r.json").write_text(json.dumps({**receipt, "tx": "0x" + "ab" * 32}))
    result = cli(
        settings, *f"doc verify {tmp_path / 'd.xml'} --receipt {tmp_path / 'r.json'}".split()
    )
    assert result.returncode == 1, result.stdout
    assert "FAIL anchored" in " ".join(result.stdout.split()) and "INVALID" in result.stdout


# --- the inbox: a delivery whose (signed) receipt was forged by the sender ------------------


@pytest.fixture(scope="module")
def exporter(settings, deployment, tmp_path_factory, make_fresh_settings) -> DocumentService:
    """TW's document service in this process on its own database, to build deliveries."""
    fresh = make_fresh_settings(settings, tmp_path_factory.mktemp("exporter") / "var")
    db = Database(fresh.node_dir("TW") / "node.sqlite")
    yield DocumentService(fresh, "TW", Chain(fresh), db)
    db.close()


def _deliver(users, svc: DocumentService, sample_xml, forge: Callable[[dict], dict]) -> dict:
    doc_hash = svc.submit(sample_xml(CO), CO, "SG", "test").doc_hash
    svc.anchor_pending(force=True)
    doc = svc.document(doc_hash)
    ciphertext = svc.store.get(doc.cid_recipient)
    receipt = forge(svc.receipt(doc).to_json())
    body = json.dumps(
        {"receipt": receipt, "ciphertext": base64.b64encode(ciphertext).decode()}
    ).encode()
    env = crypto.sign_envelope(
        svc.chain.keys.account(role_account_name("TW", "ISSUER")),
        "TW",
        "SG",
        body,
        chain_id=svc.chain.deployment.chain_id,
    )
    resp = users["sg"].http.post(
        f"{users['sg'].url}/inbox",
        content=body,
        headers={**env.to_headers(), "Content-Type": "application/json"},
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["verdict"]


INBOX_CASES = {
    "genuine": (lambda r: r, None),
    "cid": (lambda r: {**r, "cid": cid_of(b"another ciphertext")}, "integrity"),
    "tx": (lambda r: {**r, "tx": "0x" + secrets.token_hex(32)}, "anchored"),
    "block": (lambda r: {**r, "block": r["block"] + 7}, "anchored"),
    "issuer": (lambda r: {**r, "issuer": "0x" + secrets.token_hex(20)}, "issuer"),
}


@pytest.mark.parametrize("case", sorted(INBOX_CASES))
def test_the_inbox_judges_every_field_of_a_delivered_receipt(users, exporter, sample_xml, case):
    forge, failing = INBOX_CASES[case]
    verdict = _deliver(users, exporter, sample_xml, forge)
    if failing is None:
        assert verdict["valid"] is True, verdict
        assert "sealed copy held here" in _checks(verdict)["integrity"]["detail"]
        return
    assert verdict["valid"] is False and _checks(verdict)[failing]["ok"] is False, verdict


# --- item 2: one document, one recipient --------------------------------------------------


def _document_counts(users) -> int:
    """How many documents the exporter's node holds, whatever their state: the node's own
    threads move documents from state to state and acknowledge deliveries between two reads
    (an earlier test's delivery once did), while a refused submission adds nothing; the NZ
    inbox check below shows nothing was delivered there."""
    counts = users["exporter"].request("GET", "/documents").json()["counts"]
    return sum(v for k, v in counts.items() if not k.startswith("delivery_"))


def test_a_second_recipient_is_refused_409_and_nothing_is_sent_to_it(users, sample_xml):
    xml = sample_xml(CO)
    first = users["exporter"].submit(xml, to="SG")
    assert first.status_code == 202 and first.json()["duplicate"] is False
    doc_hash = first.json()["doc_hash"]
    before = _document_counts(users)
    second = users["exporter"].submit(xml, to="NZ")
    assert second.status_code == 409, second.text
    err = second.json()
    assert err["error"] == "already_sent_elsewhere"
    assert "SG" in err["detail"] and "NZ" in err["detail"] and "not sent" in err["detail"]
    assert _document_counts(users) == before  # nothing new queued for NZ
    doc = users["exporter"].request("GET", f"/documents/{doc_hash}").json()
    assert doc["recipient"] == "SG"
    again = users["exporter"].submit(xml, to="SG")  # the same recipient: still a duplicate
    assert again.status_code == 202 and again.json()["duplicate"] is True
    assert again.json()["recipient"] == "SG"
    assert users["nz"].request("GET", f"/inbox/{doc_hash}/document").status_code == 404


def test_racing_submissions_to_two_recipients_never_answer_sent_for_the_loser(users, sample_xml):
    xml = sample_xml(CO)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def submit(to: str) -> None:
        resp = users["exporter"].submit(xml, to=to)
        with lock:
            answers.append(resp)

    threads = [threading.Thread(target=submit, args=(to,)) for to in ["SG", "NZ"] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    doc_hash = next(r.json()["doc_hash"] for r in answers if r.status_code == 202)
    kept = users["exporter"].request("GET", f"/documents/{doc_hash}").json()["recipient"]
    for r in answers:
        if r.status_code == 202:
            assert r.json()["recipient"] == kept, r.text
        else:
            assert r.status_code == 409 and r.json()["error"] == "already_sent_elsewhere"
    assert sum(r.status_code == 202 and not r.json()["duplicate"] for r in answers) == 1
