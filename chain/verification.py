"""Verify a trade document with its receipt against the chain: one line per check.

Anyone holding the document and its receipt can run this — the importing customs node on
every delivery, an officer from the CLI, an auditor — without trusting the exporter's node:
the proof is checked locally and the chain is asked only about the batch root and the
anchoring transaction.  For many documents, `verify_many` asks the chain once per batch
root (and once per transaction a receipt names), not once per document.

What each receipt field is checked against (a field that passes is one the chain, or the
verifier's own copy, agrees with; nothing a receipt says is taken on its word):

- `doc_hash`, `doc_type`: the document itself (canonical hash, schema) and the batch's type;
- `proof`, `root`: the proof must lead from the document to the root, anchored on chain;
- `chain_id`, `registry`: the chain and DocumentRegistry this verifier reads;
- `leaf_index`: within the batch's count (its exact position is informational: commutative
  pair hashing proves membership, not position, and no check relies on it);
- `tx`, `block`: the transaction exists, succeeded, is in that block and emitted this
  registry's `BatchAnchored` for this root;
- `anchored_at`: the batch's anchoring time on chain;
- `issuer`, `issuer_member`: the batch's issuer account and member on chain, and the
  account that sent the anchoring transaction;
- `cid`, `recipient`: checked when the verifier holds a sealed copy (`Custody`: the
  importing node on delivery, the exporting or importing node on `POST /verify`); else
  informational, and the integrity line says so;
- `version`: the format (`Receipt.from_json`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from chain.documents import AnchoringTx, Batch, DocumentRegistry, DocumentStatus
from chain.errors import ChainError
from chain.registry import ConsortiumRegistry
from offchain.documents import PreparedDocument, prepare
from offchain.errors import DocumentRejected
from offchain.merkle import leaf_hash, process_proof
from offchain.receipt import Check, Receipt, Verdict
from offchain.xmlsafe import XmlLimits

ATTESTATIONS_DETAIL = "none required for trade documents yet"


@dataclass(frozen=True)
class Custody:
    """What a verifier holding the document's sealed copy knows: the copy's CID and the
    member it is sealed for (itself when it received it; its partner when it sent it)."""

    cid: str
    recipient: str


@dataclass(frozen=True)
class _Offline:
    """What can be decided without the chain."""

    prepared: PreparedDocument | None
    checks: list[Check]
    proof_ok: bool


def _offline(
    xml: bytes, receipt: Receipt, limits: XmlLimits, custody: Custody | None = None
) -> _Offline:
    checks: list[Check] = []
    try:
        prepared = prepare(xml, receipt.doc_type, limits=limits)
        checks.append(Check("schema", True, f"valid {prepared.doc_type.name}"))
    except DocumentRejected as exc:
        checks.append(Check("schema", False, f"{exc.code}: {exc.detail}"))
        return _Offline(None, checks, False)
    got = "0x" + prepared.doc_hash.hex()
    if got != receipt.doc_hash:
        checks.append(
            Check(
                "integrity",
                False,
                f"the document's canonical SHA-256 is {got}, the receipt is for {receipt.doc_hash}: "
                "the document was altered, or this receipt belongs to another document",
            )
        )
    elif custody is None:
        checks.append(
            Check(
                "integrity",
                True,
                f"canonical SHA-256 {got} matches the receipt (its cid and recipient are "
                "informational here: this verifier holds no sealed copy to check them against)",
            )
        )
    elif custody.cid != receipt.cid or custody.recipient != receipt.recipient:
        checks.append(
            Check(
                "integrity",
                False,
                f"the sealed copy held here has CID {custody.cid} and is sealed for "
                f"{custody.recipient}; the receipt says CID {receipt.cid} for {receipt.recipient}",
            )
        )
    else:
        checks.append(
            Check(
                "integrity",
                True,
                f"canonical SHA-256 {got} matches the receipt, and the sealed copy held here "
                f"(CID {custody.cid}, for {custody.recipient}) is the receipt's",
            )
        )
    leaf = leaf_hash(bytes.fromhex(receipt.doc_hash[2:]))
    computed = process_proof([bytes.fromhex(p[2:]) for p in receipt.proof], leaf)
    proof_ok = "0x" + computed.hex() == receipt.root
    return _Offline(prepared, checks, proof_ok)


def _on_chain(
    receipt: Receipt,
    off: _Offline,
    batch: Batch | None,
    anchoring: AnchoringTx | None,
    status: DocumentStatus | None,
    issuer_active: bool,
    documents: DocumentRegistry,
    chain_id: int,
) -> list[Check]:
    checks = list(off.checks)
    if off.prepared is None:
        return _complete(checks, "the document itself was refused")
    where = f"DocumentRegistry {documents.address} on chain {chain_id}"
    if receipt.chain_id != chain_id or receipt.registry.lower() != documents.address.lower():
        checks.append(
            Check(
                "anchored",
                False,
                f"the receipt points at {receipt.registry} on chain {receipt.chain_id}; "
                f"this verifier reads {where}",
            )
        )
        return _complete(checks, "the receipt is for another chain or contract")
    if not off.proof_ok:
        checks.append(
            Check(
                "anchored",
                False,
                "the Merkle proof does not lead from this document to the receipt's "
                f"root {receipt.root}",
            )
        )
    elif batch is None:
        checks.append(
            Check("anchored", False, f"root {receipt.root} was never anchored in {where}")
        )
    elif receipt.leaf_index >= batch.count or batch.doc_type != off.prepared.doc_type.code:
        checks.append(
            Check(
                "anchored",
                False,
                f"root {receipt.root} is a batch of {batch.count} documents of type "
                f"{batch.doc_type}; the receipt claims leaf {receipt.leaf_index} of "
                f"type {off.prepared.doc_type.code}",
            )
        )
    elif anchoring is None:
        checks.append(
            Check(
                "anchored",
                False,
                f"transaction {receipt.tx} did not anchor root {receipt.root} in {where}: "
                "no such successful transaction, or it emitted no BatchAnchored of this root",
            )
        )
    elif anchoring.anchoring.block != receipt.block:
        checks.append(
            Check(
                "anchored",
                False,
                f"transaction {receipt.tx} is in block {anchoring.anchoring.block}; the "
                f"receipt says block {receipt.block}",
            )
        )
    elif receipt.anchored_at != batch.anchored_at:
        checks.append(
            Check(
                "anchored",
                False,
                f"root {receipt.root} was anchored at unix time {batch.anchored_at}; the "
                f"receipt says {receipt.anchored_at}",
            )
        )
    else:
        checks.append(
            Check(
                "anchored",
                True,
                f"leaf {receipt.leaf_index} of root {receipt.root}, anchored by transaction "
                f"{receipt.tx} in block {receipt.block} at unix time {batch.anchored_at} "
                f"in {where}",
            )
        )
    sent_by = anchoring.sender if anchoring is not None else None
    if batch is None:
        checks.append(Check("issuer", False, "no anchored batch, so no issuer"))
    elif batch.issuer_member != receipt.issuer_member:
        checks.append(
            Check(
                "issuer",
                False,
                f"the batch was anchored by {batch.issuer_member}, the receipt says "
                f"{receipt.issuer_member}",
            )
        )
    elif batch.issuer.lower() != receipt.issuer.lower():
        checks.append(
            Check(
                "issuer",
                False,
                f"the batch was anchored from account {batch.issuer}, the receipt says "
                f"{receipt.issuer}",
            )
        )
    elif sent_by is not None and sent_by.lower() != batch.issuer.lower():
        checks.append(
            Check(
                "issuer",
                False,
                f"transaction {receipt.tx} was sent by {sent_by}, not by the batch's issuer "
                f"{batch.issuer}",
            )
        )
    else:
        now = "still an active member" if issuer_active else "no longer an active member"
        checks.append(
            Check(
                "issuer",
                True,
                f"{batch.issuer_member} ({batch.issuer}) held the ISSUER role and was "
                f"an active member when anchoring (the contract checks both); {now}",
            )
        )
    if status is None:
        checks.append(Check("not revoked", False, "cannot tell: the batch is not anchored"))
    elif status.batch_revoked:
        rev = documents.batch_revocation(receipt.root)
        checks.append(
            Check(
                "not revoked", False, f"the whole batch was revoked: {rev.reason if rev else '?'}"
            )
        )
    elif status.doc_revoked:
        rev = documents.document_revocation(receipt.root, receipt.doc_hash)
        checks.append(
            Check("not revoked", False, f"the document was revoked: {rev.reason if rev else '?'}")
        )
    else:
        checks.append(Check("not revoked", True, "neither the document nor its batch is revoked"))
    checks.append(Check("attestations", True, ATTESTATIONS_DETAIL))
    return checks


CHECK_NAMES = ("schema", "integrity", "anchored", "issuer", "not revoked", "attestations")


def _complete(checks: list[Check], why: str) -> list[Check]:
    """Every verdict has one line per check, in order; the ones not reached say why."""
    done = {c.name for c in checks}
    return checks + [Check(n, False, f"not checked: {why}") for n in CHECK_NAMES if n not in done]


def verify_document(
    xml: bytes,
    receipt: Receipt,
    *,
    documents: DocumentRegistry,
    registry: ConsortiumRegistry,
    chain_id: int,
    limits: XmlLimits,
    custody: Custody | None = None,
) -> Verdict:
    """The verdict for one document; ChainUnavailable propagates (no verdict without a chain).

    `custody`: what the verifier knows from holding the sealed copy, if it holds one.
    """
    return verify_many(
        [(xml, receipt)],
        documents=documents,
        registry=registry,
        chain_id=chain_id,
        limits=limits,
        custody=[custody],
    )[0]


def _offline_chunk(args: tuple[list[tuple[bytes, Receipt]], XmlLimits]) -> list[_Offline]:
    chunk, limits = args
    return [_offline(xml, r, limits) for xml, r in chunk]


def verify_many(
    items: Sequence[tuple[bytes, Receipt]],
    *,
    documents: DocumentRegistry,
    registry: ConsortiumRegistry,
    chain_id: int,
    limits: XmlLimits,
    pool: Executor | None = None,
    custody: Sequence[Custody | None] | None = None,
) -> list[Verdict]:
    """Verdicts for many documents, asking the chain once per distinct root.

    With `pool` (a process pool), the chain-free part — parsing, schema, canonical hash,
    Merkle proof — runs in parallel chunks; the chain is still asked once per root.
    `custody`, one entry per item, says what the verifier knows of sealed copies it holds.
    """
    if custody is not None and any(c is not None for c in custody):
        offline = [_offline(xml, r, limits, c) for (xml, r), c in zip(items, custody, strict=True)]
    elif pool is None or len(items) < 512:
        offline = [_offline(xml, r, limits) for xml, r in items]
    else:
        size = 256
        chunks = [(list(items[i : i + size]), limits) for i in range(0, len(items), size)]
        offline = [o for part in pool.map(_offline_chunk, chunks) for o in part]
    by_root: dict[str, list[int]] = defaultdict(list)
    for i, (_, r) in enumerate(items):
        by_root[r.root].append(i)
    batches: dict[str, Batch | None] = {}
    statuses: dict[int, DocumentStatus] = {}
    active: dict[str, bool] = {}
    anchorings: dict[tuple[str, str], AnchoringTx | None] = {}
    for root, idx in by_root.items():
        batch = documents.batch(root)
        batches[root] = batch
        if batch is not None:
            found = documents.statuses(root, [items[i][1].doc_hash for i in idx])
            statuses.update(zip(idx, found, strict=True))
            if batch.issuer_member not in active:
                active[batch.issuer_member] = registry.is_active_member(batch.issuer_member)
            for tx in {items[i][1].tx for i in idx}:
                anchorings[(root, tx)] = documents.anchoring_in(tx, root)
    verdicts = []
    for i, (_, r) in enumerate(items):
        batch = batches[r.root]
        checks = _on_chain(
            r,
            offline[i],
            batch,
            anchorings.get((r.root, r.tx)),
            statuses.get(i),
            batch is not None and active.get(batch.issuer_member, False),
            documents,
            chain_id,
        )
        verdicts.append(Verdict(doc_hash=r.doc_hash, checks=checks))
    return verdicts


__all__ = ["ChainError", "Custody", "verify_document", "verify_many"]
