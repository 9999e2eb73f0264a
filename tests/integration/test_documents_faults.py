"""Trade documents when things break: a partner node down, the chain down, the node killed.

The promise under test (issue 4): a document the exporter's node accepted is never lost and
never anchored twice, whatever stops when; it is anchored and delivered once the broken
part is back.  Each test runs nodes on their own state (`fresh_consortium`): the session
chain with fresh databases, or a private anvil where the chain itself must go down.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from chain.client import connect
from chain.context import Chain
from chain.deploy import ensure_deployed, fund_dev_accounts
from chain.devnet import Devnet, free_port
from chain.errors import ContractReverted
from chain.events import read_events
from nodes.documents.service import DocumentService
from offchain.db import Database
from offchain.documents import prepare
from offchain.keystore import role_account_name
from offchain.outbox import Outbox
from offchain.settings import REPO_ROOT, Settings
from offchain.xmlsafe import XmlLimits

pytestmark = [pytest.mark.integration]

CO = "certificate-of-origin"


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


class Api:
    """One user of one node over HTTP."""

    def __init__(self, http: httpx.Client, url: str, key: str) -> None:
        self.http, self.url, self.headers = http, url, {"X-API-Key": key}

    def submit(self, xml: bytes, to: str = "SG", wait: float = 0) -> httpx.Response:
        return self.http.post(
            f"{self.url}/documents",
            params={"type": CO, "to": to, "wait": wait},
            content=xml,
            headers={**self.headers, "Content-Type": "application/xml"},
        )

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(f"{self.url}{path}", params=params, headers=self.headers)

    def document(self, doc_hash: str) -> dict[str, Any]:
        resp = self.get(f"/documents/{doc_hash}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    def wait_state(self, doc_hash: str, state: str, timeout_s: float = 20.0) -> dict[str, Any]:
        return wait_for(
            lambda: (d := self.document(doc_hash))["state"] == state and d,
            f"document {doc_hash} to be {state}",
            timeout_s,
        )

    def verify(self, xml: bytes, receipt: dict[str, Any]) -> dict[str, Any]:
        resp = self.http.post(
            f"{self.url}/verify",
            files={"document": ("document.xml", xml, "application/xml")},
            data={"receipt": json.dumps(receipt)},
            headers=self.headers,
        )
        assert resp.status_code == 200, resp.text
        return resp.json()


def anchorings(chain: Chain, root: str) -> list:
    """The BatchAnchored events of `root` on chain (one, once anchored)."""
    return list(
        read_events(
            chain.w3,
            chain.documents.contract,
            "DocumentRegistry",
            events=["BatchAnchored"],
            topics=[root],
        )
    )


@pytest.fixture
def service(fresh_consortium) -> Iterator[Callable[[], DocumentService]]:
    """`service()`: TW's DocumentService in this process on a fresh database; each call opens
    a new one on the same database, as a restarted node would."""
    fresh = fresh_consortium()
    dbs: list[Database] = []

    def open_service() -> DocumentService:
        dbs.append(Database(fresh.node_dir("TW") / "node.sqlite"))
        return DocumentService(fresh, "TW", Chain(fresh), dbs[-1])

    yield open_service
    for db in dbs:
        db.close()


# --- the importing node is down ------------------------------------------------------------


def test_importing_node_down_delivery_is_retried_and_nothing_is_lost(
    fresh_consortium, serve_node, make_api_key, sample_xml, http
):
    fresh = fresh_consortium()  # delivery backoff 0.2 s doubling, capped at 2 s
    xml = sample_xml(CO)
    with serve_node(fresh, "TW") as tw_url:
        tw = Api(http, tw_url, make_api_key(fresh, "TW", "exporter"))
        resp = tw.submit(xml, wait=15)
        assert resp.status_code == 201, resp.text
        receipt = resp.json()["receipt"]
        h = receipt["doc_hash"]
        failing = wait_for(
            lambda: (d := tw.document(h))["delivery"]["attempts"] >= 2 and d,
            "two failed delivery attempts",
        )
        assert failing["state"] == "anchored"
        assert failing["delivery"]["state"] == "pending"
        assert "ConnectError" in failing["delivery"]["last_error"]

        with serve_node(fresh, "SG") as sg_url:
            sg = Api(http, sg_url, make_api_key(fresh, "SG", "officer"))
            done = tw.wait_state(h, "delivered", timeout_s=15)
            inbox = sg.get("/inbox").json()
            opened = sg.get(f"/inbox/{h}/document")

    assert done["delivery"]["attempts"] >= 3
    assert done["delivery"]["last_error"] is None
    assert done["delivery"]["verdict"]["valid"] is True
    assert [(d["doc_hash"], d["valid"]) for d in inbox] == [(h, True)]
    assert inbox[0]["receipt"] == receipt
    assert opened.status_code == 200
    assert "0x" + prepare(opened.content, CO, limits=XmlLimits()).doc_hash.hex() == h


class _GarbageHandler(BaseHTTPRequestHandler):
    """A partner 'node' (or a proxy in front of it) that answers 200 with an HTML page."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"<html><body>maintenance</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def garbage_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GarbageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_partner_answering_garbage_does_not_block_deliveries_to_others(
    fresh_consortium, serve_node, make_api_key, sample_xml, http
):
    with garbage_server() as garbage_url:
        fresh = fresh_consortium()
        fresh = fresh.model_copy(
            update={
                "members": [
                    m.model_copy(update={"url": garbage_url}) if m.id == "SG" else m
                    for m in fresh.members
                ]
            }
        )
        with serve_node(fresh, "NZ"), serve_node(fresh, "TW") as tw_url:
            tw = Api(http, tw_url, make_api_key(fresh, "TW", "exporter"))
            to_sg = tw.submit(sample_xml(CO), to="SG", wait=15).json()["doc_hash"]
            to_nz = tw.submit(sample_xml(CO), to="NZ", wait=15).json()["doc_hash"]
            tw.wait_state(to_nz, "delivered", timeout_s=8)
            stuck = tw.document(to_sg)["delivery"]
    assert stuck["state"] == "pending"
    assert stuck["attempts"] >= 1 and stuck["last_error"]


# --- the chain is down while documents are queued ----------------------------------------


@pytest.fixture
def private_chain(fresh_consortium) -> Iterator[tuple[Settings, Devnet]]:
    """Fresh settings on an anvil of this test's own (deployed), which the test may stop."""
    port = free_port()
    fresh = fresh_consortium(
        chain={
            "anvil_port": port,
            "rpc_url": f"http://127.0.0.1:{port}",
            "anvil_state_interval_s": 1,
        },
        copy_deployment=False,
    )
    devnet = Devnet.from_settings(fresh).start()
    try:
        ensure_deployed(fresh, connect(fresh))
        yield fresh, devnet
    finally:
        devnet.stop()


def test_documents_queued_while_the_chain_is_down_are_anchored_when_it_is_back(
    private_chain, serve_node, make_api_key, sample_xml, http
):
    fresh, devnet = private_chain
    xmls = [sample_xml(CO) for _ in range(3)]
    with serve_node(fresh, "SG") as sg_url, serve_node(fresh, "TW") as tw_url:
        tw = Api(http, tw_url, make_api_key(fresh, "TW", "exporter"))
        sg = Api(http, sg_url, make_api_key(fresh, "SG", "officer"))
        first = tw.submit(xmls[0], wait=15)  # also caches SG's encryption key (30 s)
        assert first.status_code == 201, first.text

        devnet.stop()
        queued = [tw.submit(x) for x in xmls[1:]]
        assert [r.status_code for r in queued] == [202, 202], [r.text for r in queued]
        assert all(r.json()["state"] == "queued" for r in queued)
        hashes = [r.json()["doc_hash"] for r in queued]
        # SG has not looked up TW's key yet: without the chain it cannot seal, so it refuses.
        sg_exporter = Api(http, sg_url, make_api_key(fresh, "SG", "exporter"))
        sg_store = fresh.node_dir("SG") / "cas"
        stored = sorted(p for p in sg_store.rglob("*") if p.is_file())  # SG's received ones
        refused = sg_exporter.submit(sample_xml(CO), to="TW")
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"] == "chain_unavailable"
        assert sum(sg_exporter.get("/documents").json()["counts"].values()) == 0
        assert sorted(p for p in sg_store.rglob("*") if p.is_file()) == stored
        # The batcher fixes the batch (root, leaves) in the outbox, fails to send it, retries.
        waiting = [tw.wait_state(h, "batched", timeout_s=10) for h in hashes]
        assert all(d["receipt"] is None and d["delivery"] is None for d in waiting)
        assert tw.get("/documents").json()["counts"]["anchored"] == 1

        devnet.start()  # same port, same state directory
        docs = [tw.wait_state(h, "delivered", timeout_s=30) for h in hashes]
        tw.wait_state(first.json()["doc_hash"], "delivered", timeout_s=10)
        roots = {d["receipt"]["root"] for d in docs}
        chain = Chain(fresh)
        for root in roots:
            assert len(anchorings(chain, root)) == 1
        for xml, d in zip(xmls[1:], docs, strict=True):
            assert sg.verify(xml, d["receipt"])["valid"] is True
        # The anchoring from before the outage survived the restart (anvil's state file).
        assert sg.verify(xmls[0], first.json()["receipt"])["valid"] is True
        assert {d["doc_hash"] for d in sg.get("/inbox").json()} == {
            first.json()["doc_hash"],
            *hashes,
        }


# --- the node process is killed between accepting and anchoring ----------------------------


def _node_env(fresh: Settings, batch_interval_s: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCUSTOMS_")}
    members = [m.model_dump() for m in fresh.members]
    return {
        **env,
        "SMARTCUSTOMS_CONFIG": str(fresh.home / "no-such-config.toml"),
        "SMARTCUSTOMS_HOME": str(fresh.home),
        "SMARTCUSTOMS_CHAIN__ANVIL_PORT": str(fresh.chain.anvil_port),
        "SMARTCUSTOMS_MEMBERS": json.dumps(members),
        "SMARTCUSTOMS_DOCUMENTS__BATCH_INTERVAL_S": str(batch_interval_s),
        "SMARTCUSTOMS_DOCUMENTS__DELIVERY_BASE_S": "5",
    }


@contextmanager
def node_process(
    fresh: Settings, member_id: str, batch_interval_s: float
) -> Iterator[subprocess.Popen]:
    """`smartcustoms node serve` as a real process; killed (if still alive) on exit."""
    log = (fresh.home / f"node-{member_id}.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nodes.cli", "node", "serve", "--member", member_id],
        cwd=REPO_ROOT,
        env=_node_env(fresh, batch_interval_s),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = fresh.node_url(member_id)

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"node exited with {proc.returncode}; see {log.name}")
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, f"{member_id}'s node process to answer", timeout_s=30)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def test_node_killed_before_anchoring_anchors_after_restart_exactly_once(
    fresh_consortium, make_api_key, sample_xml, http
):
    fresh = fresh_consortium()
    tw = Api(http, fresh.node_url("TW"), make_api_key(fresh, "TW", "exporter"))
    xmls = [sample_xml(CO) for _ in range(3)]
    with node_process(fresh, "TW", batch_interval_s=60) as proc:
        accepted = [tw.submit(x) for x in xmls]
        assert [r.status_code for r in accepted] == [202] * 3, [r.text for r in accepted]
        hashes = [r.json()["doc_hash"] for r in accepted]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    db = Database(fresh.node_dir("TW") / "node.sqlite")
    try:
        assert Outbox(db).counts()["queued"] == 3  # accepted means durable
    finally:
        db.close()

    with node_process(fresh, "TW", batch_interval_s=0.3):
        docs = [tw.wait_state(h, "anchored", timeout_s=20) for h in hashes]
        receipts = [tw.get(f"/documents/{h}/receipt") for h in hashes]
        verdicts = [tw.verify(x, d["receipt"]) for x, d in zip(xmls, docs, strict=True)]

    assert [r.status_code for r in receipts] == [200] * 3
    assert [r.json() for r in receipts] == [d["receipt"] for d in docs]
    assert all(v["valid"] for v in verdicts), verdicts
    chain = Chain(fresh)
    roots = {d["receipt"]["root"] for d in docs}
    for root in roots:
        found = anchorings(chain, root)
        assert len(found) == 1
        assert found[0].tx_hash == next(
            d["receipt"]["tx"] for d in docs if d["receipt"]["root"] == root
        )
    db = Database(fresh.node_dir("TW") / "node.sqlite")
    try:
        rows = db.query("SELECT doc_hash, state FROM out_documents")
        batches = db.query("SELECT root, state, count FROM out_batches")
    finally:
        db.close()
    assert sorted((r["doc_hash"], r["state"]) for r in rows) == sorted(
        (h, "anchored") for h in hashes
    )
    assert {b["root"] for b in batches} == roots
    assert all(b["state"] == "anchored" for b in batches)
    assert sum(b["count"] for b in batches) == 3


@pytest.mark.parametrize("crash", ["before-sending", "after-sending"])
def test_a_batch_interrupted_mid_anchoring_is_recovered_once(
    service, sample_xml, monkeypatch, crash
):
    svc = service()
    xmls = [sample_xml(CO) for _ in range(3)]
    hashes = [s.doc_hash for s in svc.submit_many(xmls, CO, "SG", "exporter")]
    issuer = svc.chain.keys.account(role_account_name("TW", "ISSUER")).address

    def killed(*args: object) -> None:
        raise KeyboardInterrupt(f"process killed {crash}")

    if crash == "before-sending":
        monkeypatch.setattr(svc, "_send_batch", killed)
    else:
        monkeypatch.setattr(svc, "_record_anchored", killed)
    with pytest.raises(KeyboardInterrupt):
        svc.anchor_pending(force=True)
    (prepared,) = svc.outbox.prepared_batches()
    assert prepared.count == 3
    assert {svc.document(h).state for h in hashes} == {"batched"}
    assert svc.chain.documents.is_anchored(prepared.root) is (crash == "after-sending")
    nonce = svc.chain.w3.eth.get_transaction_count(issuer)

    restarted = service()
    assert restarted.anchor_pending() == 3  # recovery needs no new documents nor the interval
    sent = svc.chain.w3.eth.get_transaction_count(issuer) - nonce
    assert sent == (1 if crash == "before-sending" else 0)
    (event,) = anchorings(restarted.chain, prepared.root)
    assert restarted.outbox.prepared_batches() == []
    for xml, h in zip(xmls, hashes, strict=True):
        doc = restarted.document(h)
        assert doc.state == "anchored" and doc.batch_root == prepared.root
        receipt = restarted.receipt(doc)
        assert (receipt.tx, receipt.block) == (event.tx_hash, event.block_number)
        assert receipt.issuer == issuer and receipt.issuer_member == "TW"
        assert restarted.verify(xml, receipt).valid
    assert restarted.anchor_pending(force=True) == 0


# --- anchoring from an account that may not -----------------------------------------------


@pytest.mark.parametrize("account", ["member-account-without-issuer-role", "non-member-account"])
def test_anchoring_without_the_issuer_role_is_refused_and_nothing_is_lost(
    service, sample_xml, account
):
    svc = service()
    if account == "non-member-account":
        name = "outsider/anchorer"
        fund_dev_accounts(svc.chain.w3, [svc.chain.keys.account(name).address], 10**20)
    else:
        name = role_account_name("TW", "VERIFIER")
    svc.issuer_key = name
    xmls = [sample_xml(CO) for _ in range(2)]
    hashes = [s.doc_hash for s in svc.submit_many(xmls, CO, "SG", "exporter")]
    address = svc.chain.keys.account(name).address
    nonce = svc.chain.w3.eth.get_transaction_count(address)

    for _ in range(2):  # the batcher retries; every try is refused before sending
        with pytest.raises(ContractReverted) as exc:
            svc.anchor_pending(force=True)
        assert exc.value.error == "NotIssuer"
        assert exc.value.error_args["account"].lower() == address.lower()
    assert svc.chain.w3.eth.get_transaction_count(address) == nonce
    (prepared,) = svc.outbox.prepared_batches()
    assert not svc.chain.documents.is_anchored(prepared.root)
    assert {svc.document(h).state for h in hashes} == {"batched"}
    assert svc.receipt(svc.document(hashes[0])) is None
    assert svc.outbox.pending_deliveries() == 0

    svc.issuer_key = role_account_name("TW", "ISSUER")  # the role is back: nothing was lost
    assert svc.anchor_pending(force=True) == 2
    for xml, h in zip(xmls, hashes, strict=True):
        receipt = svc.receipt(svc.document(h))
        assert receipt.issuer_member == "TW" and svc.verify(xml, receipt).valid


def test_a_root_anchored_first_by_another_member_is_not_taken_as_ours(
    service, sample_xml, monkeypatch
):
    svc = service()
    hashes = [s.doc_hash for s in svc.submit_many([sample_xml(CO)], CO, "SG", "exporter")]
    sent: list[str] = []
    real_send = svc._send_batch

    def front_run(sender, documents, root, code, count):
        sg_issuer = svc.chain.sender(role_account_name("SG", "ISSUER"))
        documents.anchor_batch(sg_issuer, root, count, code)  # SG sees the tx, goes first
        sent.append(root)
        return real_send(sender, documents, root, code, count)

    monkeypatch.setattr(svc, "_send_batch", front_run)
    with contextlib.suppress(ContractReverted):  # refusing is fine, claiming SG's root is not
        svc.anchor_pending(force=True)
    doc = svc.document(hashes[0])
    receipt = svc.receipt(doc)
    assert sent
    assert receipt is None or receipt.issuer_member == "TW"
