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

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from chain.documents import AnchoringTx, Batch, DocumentRegistry, DocumentStatus
from chain.errors import ChainError
from chain.registry import ConsortiumRegistry
from offchain.documents import prepare
from offchain.errors import DocumentRejected
from offchain.hexbytes import hex0x
from offchain.merkle import leaf_hash, process_proof
from offchain.receipt import Check, Receipt, Verdict
from offchain.xmlsafe import XmlLimits

ATTESTATIONS_DETAIL = "none required for trade documents yet"


def _utc(unix: int | float | None) -> str:
    """A chain time (Unix seconds) as people read it: ISO 8601 in UTC with the zone."""
    if not isinstance(unix, int | float) or isinstance(unix, bool):
        return repr(unix)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix))


@dataclass(frozen=True)
class Custody:
    """What a verifier holding the document's sealed copy knows: the copy's CID and the
    member it is sealed for (itself when it received it; its partner when it sent it)."""

    cid: str
    recipient: str


@dataclass(frozen=True, slots=True)
class _Offline:
    """What can be decided without the chain (small: it travels back from pool workers)."""

    doc_type_code: int | None  # of the document as validated; None when it was refused
    checks: list[Check]
    proof_ok: bool


def _offline(
    xml: bytes,
    receipt: Receipt,
    limits: XmlLimits,
    custody: Custody | None = None,
    pairs: dict[bytes, bytes] | None = None,
) -> _Offline:
    checks: list[Check] = []
    try:
        prepared = prepare(xml, receipt.doc_type, limits=limits, with_summary=False)
        checks.append(Check("schema", True, f"valid {prepared.doc_type.name}"))
    except DocumentRejected as exc:
        checks.append(Check("schema", False, f"{exc.code}: {exc.detail}"))
        return _Offline(None, checks, False)
    got = hex0x(prepared.doc_hash)
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
    computed = _walk(leaf, [bytes.fromhex(p[2:]) for p in receipt.proof], pairs)
    proof_ok = hex0x(computed) == receipt.root
    return _Offline(prepared.doc_type.code, checks, proof_ok)


def _walk(leaf: bytes, proof: list[bytes], pairs: dict[bytes, bytes] | None) -> bytes:
    """The root `proof` leads to from `leaf`; `pairs` remembers each parent computed.

    Proofs of documents of one batch share their upper nodes: verifying a chunk of them
    with one `pairs` hashes each shared node once instead of once per document.
    """
    if pairs is None:
        return process_proof(proof, leaf)
    node = leaf
    for sibling in proof:
        key = node + sibling
        parent = pairs.get(key)
        if parent is None:
            parent = pairs[key] = process_proof([sibling], node)
        node = parent
    return node


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
    if off.doc_type_code is None:
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
    elif receipt.leaf_index >= batch.count or batch.doc_type != off.doc_type_code:
        checks.append(
            Check(
                "anchored",
                False,
                f"root {receipt.root} is a batch of {batch.count} documents of type "
                f"{batch.doc_type}; the receipt claims leaf {receipt.leaf_index} of "
                f"type {off.doc_type_code}",
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
                f"root {receipt.root} was anchored at {_utc(batch.anchored_at)}; the "
                f"receipt says {_utc(receipt.anchored_at)}",
            )
        )
    else:
        checks.append(
            Check(
                "anchored",
                True,
                f"leaf {receipt.leaf_index} of root {receipt.root}, anchored by transaction "
                f"{receipt.tx} in block {receipt.block} at {_utc(batch.anchored_at)} "
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


class ChainReads:
    """What verification reads from the chain, remembered where that is safe.

    A verifying node gets the documents of one batch one delivery at a time; without this
    every delivery would ask again for the batch, its anchoring transaction and its issuer's
    membership.  What never changes once on chain is kept (bounded, oldest dropped first):
    a batch's issuer, count, type and time, and the anchoring of a root by a transaction.
    A member's being active can change by vote: it is kept for at most `ttl_s` seconds, so
    a verdict given `ttl_s` after a vote reflects it.  Revocations are never cached: each
    verification asks for them (once per root).  Answers that something is *not* on chain
    are not kept either (it may be mined a moment later).
    """

    def __init__(
        self,
        documents: DocumentRegistry,
        registry: ConsortiumRegistry,
        *,
        ttl_s: float = 5.0,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.documents = documents
        self.registry = registry
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._batches: dict[str, Batch] = {}
        self._anchorings: dict[tuple[str, str], AnchoringTx] = {}
        self._active: dict[str, tuple[float, bool]] = {}

    def batch(self, root: str) -> Batch | None:
        hit = self._batches.get(root)
        if hit is None:
            hit = self.documents.batch(root)
            if hit is not None:
                _put(self._batches, root, hit, self.max_entries)
        return hit

    def anchoring_in(self, tx: str, root: str) -> AnchoringTx | None:
        hit = self._anchorings.get((tx, root))
        if hit is None:
            hit = self.documents.anchoring_in(tx, root)
            if hit is not None:
                _put(self._anchorings, (tx, root), hit, self.max_entries)
        return hit

    def is_active_member(self, member: str) -> bool:
        now = self.clock()
        hit = self._active.get(member)
        if hit is None or now - hit[0] >= self.ttl_s:
            hit = (now, self.registry.is_active_member(member))
            _put(self._active, member, hit, self.max_entries)
        return hit[1]

    def statuses(self, root: str, doc_hashes: Sequence[str]) -> list[DocumentStatus]:
        return self.documents.statuses(root, doc_hashes)


def _put(cache: dict, key, value, limit: int) -> None:
    if len(cache) >= limit:
        cache.pop(next(iter(cache)))
    cache[key] = value


def verify_document(
    xml: bytes,
    receipt: Receipt,
    *,
    documents: DocumentRegistry,
    registry: ConsortiumRegistry,
    chain_id: int,
    limits: XmlLimits,
    custody: Custody | None = None,
    reads: ChainReads | None = None,
) -> Verdict:
    """The verdict for one document; ChainUnavailable propagates (no verdict without a chain).

    `custody`: what the verifier knows from holding the sealed copy, if it holds one.
    `reads`: a `ChainReads` kept by the caller across verifications (a node's), if any.
    """
    return verify_many(
        [(xml, receipt)],
        documents=documents,
        registry=registry,
        chain_id=chain_id,
        limits=limits,
        custody=[custody],
        reads=reads,
    )[0]


def _offline_chunk(args: tuple[list[tuple[bytes, Receipt]], XmlLimits]) -> list[_Offline]:
    chunk, limits = args
    pairs: dict[bytes, bytes] = {}
    return [_offline(xml, r, limits, pairs=pairs) for xml, r in chunk]


def verify_many(
    items: Sequence[tuple[bytes, Receipt]],
    *,
    documents: DocumentRegistry,
    registry: ConsortiumRegistry,
    chain_id: int,
    limits: XmlLimits,
    pool: Executor | None = None,
    custody: Sequence[Custody | None] | None = None,
    reads: ChainReads | None = None,
) -> list[Verdict]:
    """Verdicts for many documents, asking the chain once per distinct root.

    With `pool` (a process pool), the chain-free part — parsing, schema, canonical hash,
    Merkle proof — runs in parallel chunks, while this thread asks the chain about the
    roots; the chain is still asked once per root (revocations of its documents, in one
    call) and once per anchoring transaction, less what `reads` already knows.
    `custody`, one entry per item, says what the verifier knows of sealed copies it holds.
    """
    reads = reads or ChainReads(documents, registry)
    pending = None
    if custody is not None and any(c is not None for c in custody):
        offline = [_offline(xml, r, limits, c) for (xml, r), c in zip(items, custody, strict=True)]
    elif pool is None or len(items) < 512:
        offline = _offline_chunk((list(items), limits))
    else:
        size = max(64, min(256, len(items) // (4 * _workers(pool))))
        chunks = [(list(items[i : i + size]), limits) for i in range(0, len(items), size)]
        pending = [pool.submit(_offline_chunk, c) for c in chunks]
    by_root: dict[str, list[int]] = defaultdict(list)
    for i, (_, r) in enumerate(items):
        by_root[r.root].append(i)
    batches: dict[str, Batch | None] = {}
    statuses: dict[int, DocumentStatus] = {}
    active: dict[str, bool] = {}
    anchorings: dict[tuple[str, str], AnchoringTx | None] = {}
    for root, idx in by_root.items():
        batch = reads.batch(root)
        batches[root] = batch
        if batch is not None:
            found = reads.statuses(root, [items[i][1].doc_hash for i in idx])
            statuses.update(zip(idx, found, strict=True))
            if batch.issuer_member not in active:
                active[batch.issuer_member] = reads.is_active_member(batch.issuer_member)
            for tx in {items[i][1].tx for i in idx}:
                anchorings[(root, tx)] = reads.anchoring_in(tx, root)
    if pending is not None:
        offline = [o for f in pending for o in f.result()]
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


def _workers(pool: Executor) -> int:
    return int(getattr(pool, "_max_workers", 2) or 2)


__all__ = ["ChainError", "ChainReads", "Custody", "verify_document", "verify_many"]
