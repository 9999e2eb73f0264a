"""An auditor's trace of one document: on-chain events and this node's records, in time order.

Each off-chain record is re-verified against its anchor now, not taken on trust: the stored
ciphertext must still hash to its CID, the recorded proof must still lead to a root that the
chain holds, and a received document is opened and verified again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from web3 import Web3

from chain.errors import ChainError
from chain.events import read_events
from nodes.documents.service import DocumentError, DocumentService, _norm_hash
from offchain.canonical import document_hash
from offchain.errors import OffchainError
from offchain.hexbytes import hex0x
from offchain.merkle import leaf_hash, process_proof
from offchain.receipt import Receipt

_CHAIN_EVENTS = ("BatchAnchored", "BatchRevoked", "DocumentRevoked")


def trace_document(service: DocumentService, doc_hash: str) -> dict[str, Any]:
    h = _norm_hash(doc_hash)
    out_doc = service.outbox.document(h)
    in_doc = service.inbox.get(h)
    records = service.log.events(h)
    if out_doc is None and in_doc is None and not records:
        raise DocumentError("unknown_document", f"this node has no record of document {h}")
    root = (out_doc.batch_root if out_doc else None) or (in_doc.receipt["root"] if in_doc else None)
    timeline = [_chain_entry(service, e) for e in _chain_events(service, h, root)]
    checks = _Reverifier(service, h, out_doc, in_doc)
    for r in records:
        timeline.append(
            {
                "at": r.at,
                "source": "node",
                "kind": r.kind,
                "actor": r.actor,
                "detail": r.detail,
                "reverified": checks.check(r.kind, r.detail),
            }
        )
    timeline.sort(key=_order_key(timeline))
    return {"doc_hash": h, "root": root, "member": service.member_id, "timeline": timeline}


def _order_key(timeline: list[dict[str, Any]]):
    """Block times have one-second resolution: place a chain event just before the node
    record of the same transaction when there is one, else at the end of its second."""
    by_tx = {
        e["detail"]["tx"].lower(): e["at"]
        for e in timeline
        if e["source"] == "node" and isinstance(e["detail"].get("tx"), str)
    }

    def key(e: dict[str, Any]) -> tuple[str, int]:
        if e["source"] != "chain":
            return (e["at"], 1)
        same_tx = by_tx.get(str(e["detail"].get("tx", "")).lower())
        return (same_tx, 0) if same_tx else (e["at"][:19] + ".999" + e["at"][23:], 0)

    return key


def _chain_events(service: DocumentService, doc_hash: str, root: str | None) -> list:
    documents = service.chain.documents
    deployed = service.chain.deployment.contracts["DocumentRegistry"].block
    wanted = [t for t in (root, doc_hash) if t]
    events = read_events(
        service.chain.w3,
        documents.contract,
        "DocumentRegistry",
        events=_CHAIN_EVENTS,
        from_block=deployed,
        topics=[wanted],
    )
    keep = []
    for e in events:
        first = Web3.to_hex(e.args.get("docHash") or e.args.get("root"))
        if (e.event == "DocumentRevoked" and first == doc_hash) or (
            e.event != "DocumentRevoked" and first == root
        ):
            keep.append(e)
    return keep


def _chain_entry(service: DocumentService, e) -> dict[str, Any]:
    block = service.chain.w3.eth.get_block(e.block_number)
    at = datetime.fromtimestamp(block["timestamp"], UTC).isoformat(timespec="milliseconds")
    kind = {"BatchAnchored": "anchored", "BatchRevoked": "revoked", "DocumentRevoked": "revoked"}[
        e.event
    ]
    return {
        "at": at,
        "source": "chain",
        "kind": kind,
        "event": e.event,
        "detail": {**e.to_json()["args"], "block": e.block_number, "tx": e.tx_hash},
        "reverified": {"ok": True, "detail": "read from the chain now"},
    }


class _Reverifier:
    def __init__(self, service: DocumentService, h: str, out_doc, in_doc) -> None:
        self.s, self.h, self.out_doc, self.in_doc = service, h, out_doc, in_doc
        self._received_verdict: dict[str, Any] | None = None

    def check(self, kind: str, detail: dict[str, Any]) -> dict[str, Any]:
        try:
            return getattr(self, f"_{kind}", self._recorded)(detail)
        except (ChainError, OffchainError) as exc:
            return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}

    def _recorded(self, detail: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "detail": "recorded by this node"}

    def _submitted(self, detail: dict[str, Any]) -> dict[str, Any]:
        self.s.store.get(detail["cid"])  # raises ContentCorrupted/NotFound
        canonical = self.s.open_own(self.h)
        if hex0x(document_hash(canonical)) != self.h:
            return {"ok": False, "detail": "our stored copy no longer hashes to the document hash"}
        return {
            "ok": True,
            "detail": f"sealed copy {detail['cid']} matches its CID; our copy "
            "still hashes to the document hash",
        }

    def _anchored(self, detail: dict[str, Any]) -> dict[str, Any]:
        doc = self.out_doc
        if doc is None or doc.batch_root is None:
            return {"ok": False, "detail": "no batch recorded for this document"}
        proof = self.s.outbox.proof(doc.batch_root, doc.leaf_index)
        got = process_proof(
            [bytes.fromhex(p[2:]) for p in proof], leaf_hash(bytes.fromhex(self.h[2:]))
        )
        if hex0x(got) != detail["root"]:
            return {"ok": False, "detail": "the recorded proof no longer leads to the root"}
        found = self.s.chain.documents.anchoring(
            detail["root"], from_block=max(0, detail["block"] - 1)
        )
        if found is None or found.tx_hash.lower() != detail["tx"].lower():
            return {
                "ok": False,
                "detail": f"root {detail['root']} is not anchored by {detail['tx']}",
            }
        return {
            "ok": True,
            "detail": f"proof leads to root {detail['root']}, anchored in block {found.block}",
        }

    def _delivered(self, detail: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": bool(detail.get("verdict_valid")),
            "detail": "the importing node acknowledged"
            + ("" if detail.get("verdict_valid") else f": {detail.get('reason')}"),
        }

    def _received(self, detail: dict[str, Any]) -> dict[str, Any]:
        verdict = self._reverify_received()
        return {
            "ok": verdict["valid"],
            "detail": "opened and verified again now: "
            + ("valid" if verdict["valid"] else verdict["reason"]),
        }

    def _verified(self, detail: dict[str, Any]) -> dict[str, Any]:
        if self.in_doc is None:
            return self._recorded(detail)
        now = self._reverify_received()
        same = now["valid"] == detail.get("valid")
        return {
            "ok": now["valid"],
            "detail": ("same verdict now" if same else "verdict changed since: ")
            + ("valid" if now["valid"] else now["reason"]),
        }

    def _revoked(self, detail: dict[str, Any]) -> dict[str, Any]:
        root = detail.get("root") or (self.out_doc.batch_root if self.out_doc else None)
        if root is None:
            return {"ok": False, "detail": "no batch recorded for this document"}
        status = self.s.chain.documents.status(root, self.h)
        return {
            "ok": status.revoked,
            "detail": "the chain records the revocation"
            if status.revoked
            else "the chain does not record this revocation",
        }

    def _reverify_received(self) -> dict[str, Any]:
        if self._received_verdict is None:
            xml = self.s.open_received(self.h)
            receipt = Receipt.from_json(self.in_doc.receipt)
            self._received_verdict = self.s.verify(xml, receipt).to_json()
        return self._received_verdict
