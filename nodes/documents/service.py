"""The document service of one member node; knows nothing of HTTP.

Exporting side: `submit` validates, canonicalises, hashes, encrypts (sealed for the importing
member, plus our own at-rest copy), stores the ciphertexts by CID and queues the document in
the durable outbox — all before answering, and nothing is stored when any step refuses.
`anchor_pending` (the batcher) turns queued documents into Merkle batches anchored in
DocumentRegistry; `deliver_due` sends each anchored document with its receipt to the
importing node until it acknowledges.

Importing side: `receive` checks the node-to-node envelope (signer must be an account of the
sending member, fresh, not replayed), opens the document, verifies it against the chain and
keeps it with its verdict.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from chain.context import Chain
from chain.errors import ChainError, ContractReverted
from chain.verification import ChainReads, Custody, verify_document
from nodes.jsonguard import json_depth
from offchain import crypto
from offchain.cas import ContentStore, open_store
from offchain.doclog import DocLog
from offchain.documents import PreparedDocument, prepare
from offchain.errors import DocumentRejected, OffchainError
from offchain.hexbytes import hex0x
from offchain.inbox import Inbox
from offchain.keystore import role_account_name
from offchain.merkle import MerkleTree, leaf_hash
from offchain.outbox import Outbox, OutDocument, QueuedDocument, backoff_s
from offchain.receipt import Receipt, Verdict
from offchain.settings import Settings
from offchain.xmlsafe import XmlLimits

log = logging.getLogger(__name__)

_MEMBER_CACHE_S = 30.0


class DocumentError(OffchainError):
    """A request about documents that cannot be served as asked.

    Codes: unknown_member, unknown_document, unknown_batch (404); inactive_member,
    not_anchored, already_sent_elsewhere, no_encryption_key (409); xml_too_large (413);
    invalid_receipt, invalid_recipient, invalid_hash, ... (400).
    """

    code = "document_error"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code, detail)


@dataclass(frozen=True)
class Submitted:
    doc_hash: str
    doc_type: str
    recipient: str
    state: str
    duplicate: bool
    summary: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class DocumentService:
    def __init__(self, settings: Settings, member_id: str, chain: Chain, db) -> None:
        self.settings = settings
        self.member_id = member_id
        self.chain = chain
        self.outbox = Outbox(db)
        self.inbox = Inbox(db)
        self.log = DocLog(db)
        node_dir = settings.node_dir(member_id)
        st = settings.store
        self.store: ContentStore = (
            open_store(
                "local", root=node_dir / "cas", fsync=st.fsync, max_object_bytes=st.max_object_bytes
            )
            if st.kind == "local"
            else open_store(
                "ipfs",
                api_url=st.ipfs_api,
                timeout_s=st.ipfs_timeout_s,
                max_object_bytes=st.max_object_bytes,
            )
        )
        self.limits = XmlLimits.from_settings(settings.documents)
        self.box_key = chain.keys.box_key(member_id)
        self.rest_key = crypto.at_rest_key(self.box_key)
        self.issuer_key = role_account_name(member_id, "ISSUER")
        self.wake = threading.Event()
        self._members: dict[str, tuple[float, Any]] = {}
        self._reads: ChainReads | None = None  # what verification read from the chain

    # --- exporting ------------------------------------------------------------------

    def _recipient_key(self, recipient: str) -> bytes:
        """The importing member's X25519 key from the registry (cached briefly)."""
        if recipient == self.member_id:
            raise DocumentError(
                "invalid_recipient",
                f"{recipient} is this node's own member; name the importing customs",
            )
        hit = self._members.get(recipient)
        if hit and time.monotonic() - hit[0] < _MEMBER_CACHE_S:
            member = hit[1]
        else:
            try:
                member = self.chain.registry.member(recipient)
            except ContractReverted as exc:
                if exc.error == "UnknownMember":
                    raise DocumentError(
                        "unknown_member", f"{recipient} is not a member of the consortium"
                    ) from None
                raise
            self._members[recipient] = (time.monotonic(), member)
        if not member.active:
            raise DocumentError("inactive_member", f"{recipient} is no longer an active member")
        key = bytes.fromhex(member.x25519_key[2:])
        if not any(key):
            raise DocumentError(
                "no_encryption_key",
                f"{recipient} has not published an X25519 key in the registry",
            )
        return key

    def submit(self, xml: bytes, doc_type: str, recipient: str, user: str) -> Submitted:
        """Accept one document; DocumentRejected/DocumentError say why not (nothing stored)."""
        return self.submit_many([xml], doc_type, recipient, user)[0]

    def submit_many(
        self, xmls: Sequence[bytes], doc_type: str, recipient: str, user: str
    ) -> list[Submitted]:
        """Accept documents of one type for one recipient, in one transaction."""
        key = self._recipient_key(recipient)
        dates = self.settings.dates.documents
        docs = [prepare(x, doc_type, limits=self.limits, dates=dates) for x in xmls]
        # Known documents are answered from the outbox: sealing and storing them again would
        # leave an unreferenced ciphertext (sealed boxes are randomised) for every resubmission.
        known = self.outbox.known(hex0x(d.doc_hash) for d in docs)
        for h in known:
            self._same_recipient(self.outbox.document(h), recipient)
        fresh = [d for d in docs if hex0x(d.doc_hash) not in known]
        accepted = iter(
            self.accept(fresh, seal_documents(fresh, key, self.rest_key), recipient, user)
            if fresh
            else []
        )
        out = []
        for d in docs:
            h = hex0x(d.doc_hash)
            if h in known:
                state = self.document(h).state  # known: in the outbox (never removed from it)
                out.append(Submitted(h, d.doc_type.name, recipient, state, True, d.summary))
            else:
                out.append(next(accepted))
        return out

    @staticmethod
    def _same_recipient(doc: OutDocument | None, recipient: str) -> None:
        """A document goes to the one partner it was first submitted for.

        Its receipt names one recipient and the CID of the copy sealed for it; answering a
        second recipient "duplicate" would say it was sent when it never is.  So a second
        recipient is refused (409), and the first submission stands.
        """
        if doc is not None and doc.recipient != recipient:
            raise DocumentError(
                "already_sent_elsewhere",
                f"document {doc.doc_hash} was already submitted for {doc.recipient} "
                f"({doc.state}); it is not sent to {recipient}. A document goes to one "
                "partner customs: to send the same content to another, issue it under its "
                "own document number",
            )

    def recipient_key(self, recipient: str) -> bytes:
        """The X25519 key documents for `recipient` are sealed to (checked: active member)."""
        return self._recipient_key(recipient)

    def accept(
        self,
        docs: Sequence[PreparedDocument],
        sealed: Sequence[tuple[bytes, bytes]],
        recipient: str,
        user: str,
        *,
        cids: Sequence[str] | None = None,
    ) -> list[Submitted]:
        """Store prepared and sealed documents and queue them (bulk path for importers).

        `cids`: the sealed copies were already put in this node's store by the caller (e.g.
        worker processes of a bulk import, which write through the same LocalStore); they are
        not written again.
        """
        if cids is None:
            cids = self.store.put_many([s[0] for s in sealed])
        elif len(cids) != len(docs):
            raise DocumentError("missing_content", "bulk import: one CID per document is needed")
        queued = [
            QueuedDocument(
                doc_hash=hex0x(d.doc_hash),
                doc_type=d.doc_type.name,
                doc_type_code=d.doc_type.code,
                recipient=recipient,
                submitted_by=user,
                cid_recipient=cids[i],
                own_copy=sealed[i][1],
                summary=d.summary,
            )
            for i, d in enumerate(docs)
        ]
        return self.queue(queued)

    def queue(self, queued: Sequence[QueuedDocument]) -> list[Submitted]:
        """Put stored and sealed documents in the outbox, with their log records, in one
        durable transaction (`Outbox.enqueue`); the batcher is woken.

        A document already queued by a concurrent submission answers `duplicate`, or
        `DocumentError` 409 if it went to another recipient.
        """

        def log_submitted(tx, added: list[bool]) -> None:
            self.log.insert(
                tx,
                [
                    (
                        q.doc_hash,
                        "submitted",
                        q.submitted_by,
                        {"recipient": q.recipient, "doc_type": q.doc_type, "cid": q.cid_recipient},
                    )
                    for q, new in zip(queued, added, strict=True)
                    if new
                ],
            )

        added = self.outbox.enqueue(queued, then=log_submitted)
        for q, new in zip(queued, added, strict=True):
            if not new:  # queued meanwhile by a concurrent submission
                self._same_recipient(self.outbox.document(q.doc_hash), q.recipient)
        self.wake.set()
        out = []
        for q, new in zip(queued, added, strict=True):
            state = "queued" if new else self.document(q.doc_hash).state
            out.append(Submitted(q.doc_hash, q.doc_type, q.recipient, state, not new, q.summary))
        return out

    def receipt(self, doc: OutDocument) -> Receipt | None:
        if doc.state != "anchored":
            return None
        root, leaf_index = _batch_leaf(doc)
        batch = self.outbox.batch(root)
        return self._receipt(
            batch,
            (doc.doc_hash, leaf_index, doc.doc_type, doc.cid_recipient, doc.recipient),
            self.outbox.proof(root, leaf_index),
        )

    def batch_receipts(self, root: str) -> list[Receipt]:
        """The receipt of every document of an anchored batch (none if it is not anchored):
        one query and one tree walk for the batch instead of a lookup per document."""
        batch = self.outbox.batch(root)
        if batch is None or batch.state != "anchored":
            return []
        proofs = self.outbox.proofs(root)
        return [
            self._receipt(batch, row, proofs[row[1]])
            for row in self.outbox.anchored_documents(root)
        ]

    def _receipt(self, batch, row: tuple[str, int, str, str, str], proof: list[str]) -> Receipt:
        doc_hash, leaf_index, doc_type, cid, recipient = row
        return Receipt(
            doc_hash=doc_hash,
            doc_type=doc_type,
            leaf_index=leaf_index,
            proof=proof,
            root=batch.root,
            tx=batch.tx,
            block=batch.block,
            anchored_at=batch.anchored_at,
            chain_id=self.chain.deployment.chain_id,
            registry=self.chain.documents.address,
            issuer=batch.issuer,
            issuer_member=batch.issuer_member,
            cid=cid,
            recipient=recipient,
        )

    def document(self, doc_hash: str) -> OutDocument:
        doc = self.outbox.document(_norm_hash(doc_hash))
        if doc is None:
            raise DocumentError(
                "unknown_document", f"no document {doc_hash} was submitted through this node"
            )
        return doc

    def wait_anchored(self, doc_hash: str, timeout_s: float) -> OutDocument:
        deadline = time.monotonic() + timeout_s
        while True:
            doc = self.document(doc_hash)
            if doc.state == "anchored" or time.monotonic() >= deadline:
                return doc
            self.wake.set()
            time.sleep(0.05)

    # --- batching (the batcher thread calls this) -------------------------------------

    def anchor_pending(self, *, force: bool = False) -> int:
        """Anchor what is due; returns documents anchored. ChainError leaves all queued.

        Due: a full batch (`max_batch` documents of one type), or the oldest queued document
        waited `batch_interval_s`, or `force`.  All due batches are fixed in the outbox
        first, then sent together in one pipelined JSON-RPC batch.
        """
        sender = self.chain.sender(self.issuer_key)
        documents = self.chain.documents
        done = self._recover_prepared(sender, documents)
        max_docs = self.settings.documents.max_batch
        fixed: list[tuple[str, int, int]] = []
        while True:
            code, hashes, oldest = self.outbox.next_batch(max_docs)
            # (oldest is None exactly when nothing is queued, i.e. when hashes is empty)
            if (
                not hashes
                or oldest is None
                or (not force and len(hashes) < max_docs and not self._due(oldest))
            ):
                break
            # A random last leaf makes the root unpredictable before it is broadcast, and new
            # after a batch had to be rebuilt (see _claim).
            salt = os.urandom(32)
            tree = MerkleTree([leaf_hash(bytes.fromhex(h[2:])) for h in hashes] + [leaf_hash(salt)])
            root = hex0x(tree.root)
            self.outbox.prepare_batch(root, code, hashes, salt=salt)
            fixed.append((root, len(hashes), code))
        if len(fixed) == 1:
            root, count, code = fixed[0]
            done += self._send_batch(sender, documents, root, code, count)
        elif fixed:
            for (root, count, _), result in zip(
                fixed, documents.anchor_many(sender, fixed), strict=True
            ):
                done += self._claim(root, result, sender, count)
        return done

    def _due(self, oldest_submitted_at: str) -> bool:
        age = time.time() - datetime.fromisoformat(oldest_submitted_at).timestamp()
        return age >= self.settings.documents.batch_interval_s

    def _recover_prepared(self, sender, documents) -> int:
        """Batches fixed before a crash: send them, or record them if already on chain."""
        done = 0
        for b in self.outbox.prepared_batches():
            found = documents.anchoring(b.root) if documents.is_anchored(b.root) else None
            if found is not None:
                done += self._claim(b.root, found, sender, b.count)
            else:
                done += self._send_batch(sender, documents, b.root, b.doc_type_code, b.count)
        return done

    def _send_batch(self, sender, documents, root: str, code: int, count: int) -> int:
        try:
            result = documents.anchor_batch(sender, root, count, code)
        except ContractReverted as exc:
            if exc.error != "RootAlreadyAnchored":
                raise
            result = documents.anchoring(root)
        return self._claim(root, result, sender, count)

    def _claim(self, root: str, result, sender, count: int) -> int:
        """Record an anchoring of our root — only if we anchored it.

        Someone else anchoring our root first (a member copying it from the pool) must not
        make our receipts name them as issuer: the batch is abandoned and its documents go
        back to the queue, to be batched again under a new random leaf.
        """
        if result.issuer.lower() != sender.address.lower():
            log.warning(
                "root %s was anchored by %s (%s), not by us; rebuilding the batch",
                root,
                result.issuer_member,
                result.issuer,
            )
            self.outbox.abandon_batch(root)
            self.wake.set()
            return 0
        self._record_anchored(root, result)
        return count

    def _record_anchored(self, root: str, result) -> None:
        def log_anchored(tx) -> None:
            hashes = tx.execute(
                "SELECT doc_hash, leaf_index FROM out_documents WHERE batch_root = ?"
                " ORDER BY leaf_index",
                (root,),
            ).fetchall()
            self.log.insert(
                tx,
                [
                    (
                        h,
                        "anchored",
                        result.issuer,
                        {
                            "root": root,
                            "leaf_index": i,
                            "tx": result.tx_hash,
                            "block": result.block,
                        },
                    )
                    for h, i in hashes
                ],
            )

        self.outbox.mark_anchored(
            root,
            tx_hash=result.tx_hash,
            block=result.block,
            anchored_at=result.anchored_at,
            issuer=result.issuer,
            issuer_member=result.issuer_member,
            then=log_anchored,
        )

    # --- delivery (the delivery thread calls this) --------------------------------------

    def deliver_due(self, client: httpx.Client, *, now: float | None = None) -> int:
        """Try every due delivery once; returns how many were acknowledged."""
        now = time.time() if now is None else now
        acked = 0
        for d in self.outbox.due_deliveries(now):
            doc = self.outbox.document(d.doc_hash)
            try:
                if doc is None:  # never: a delivery is queued for an outbox document
                    raise DocumentError(
                        "unknown_document", f"no document {d.doc_hash} in the outbox"
                    )
                verdict = self._deliver(client, doc)
            except Exception as exc:  # any failure is one failed attempt; the queue moves on
                if not isinstance(
                    exc, (httpx.HTTPError, DeliveryRefused, ChainError, OffchainError)
                ):
                    log.exception("delivery of %s to %s failed", d.doc_hash, d.recipient)
                delay = backoff_s(
                    d.attempts,
                    self.settings.documents.delivery_base_s,
                    self.settings.documents.delivery_cap_s,
                )
                self.outbox.mark_attempt_failed(
                    d.doc_hash, d.recipient, f"{type(exc).__name__}: {exc}", now + delay
                )
                continue
            self.outbox.mark_delivered(d.doc_hash, d.recipient, verdict)
            self.log.record(
                d.doc_hash,
                "delivered",
                self.member_id,
                recipient=d.recipient,
                verdict_valid=verdict.get("valid"),
                reason=verdict.get("reason"),
            )
            acked += 1
        return acked

    def _deliver(self, client: httpx.Client, doc: OutDocument) -> dict[str, Any]:
        receipt = self.receipt(doc)
        if receipt is None:  # never: deliveries are queued when a batch is anchored
            raise DocumentError(
                "not_anchored", f"document {doc.doc_hash} is {doc.state}, not anchored yet"
            )
        body = json.dumps(
            {
                "receipt": receipt.to_json(),
                "ciphertext": base64.b64encode(self.store.get(doc.cid_recipient)).decode(),
            }
        ).encode()
        env = crypto.sign_envelope(
            self.chain.keys.account(self.issuer_key),
            self.member_id,
            doc.recipient,
            body,
            chain_id=self.chain.deployment.chain_id,
        )
        url = f"{self.settings.node_url(doc.recipient)}/inbox"
        try:
            resp = client.post(
                url, content=body, headers={**env.to_headers(), "Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise DeliveryRefused(f"{url}: {type(exc).__name__}: {exc}") from exc
        if resp.status_code != 200:
            raise DeliveryRefused(f"{url} answered {resp.status_code}: {resp.text[:300]}")
        try:
            verdict = resp.json()["verdict"]
            if not isinstance(verdict, dict) or "valid" not in verdict:
                raise TypeError("no verdict object")
        except (ValueError, KeyError, TypeError) as exc:
            raise DeliveryRefused(
                f"{url} answered 200 without an acknowledgement ({exc}): {resp.text[:200]!r}"
            ) from None
        return verdict

    # --- importing side -------------------------------------------------------------------

    def receive(self, body: bytes, headers: dict[str, str]) -> tuple[dict[str, Any], bool]:
        """Check the envelope, open and verify the document, keep it; (verdict, new)."""
        env = crypto.Envelope.from_headers(headers)
        crypto.verify_envelope(
            env,
            body,
            recipient=self.member_id,
            chain_id=self.chain.deployment.chain_id,
            is_member_account=self._is_member_account,
            seen_nonce=lambda sender, nonce: not self.inbox.claim_nonce(sender, nonce),
            max_skew_s=self.settings.documents.envelope_max_skew_s,
        )
        if json_depth(body) > 16:  # a delivery is two levels deep; never parse a deep one
            raise DocumentError("invalid_delivery", "delivery body is nested too deeply")
        try:
            payload = json.loads(body)
            receipt = Receipt.from_json(payload["receipt"])
            ciphertext = base64.b64decode(payload["ciphertext"], validate=True)
        except (ValueError, KeyError, TypeError) as exc:
            raise DocumentError("invalid_delivery", f"delivery body is not valid: {exc}") from None
        if receipt.recipient != self.member_id:
            raise DocumentError(
                "wrong_recipient",
                f"the receipt is for {receipt.recipient}, this node is {self.member_id}",
            )
        existing = self.inbox.get(receipt.doc_hash, env.sender)
        if existing is not None:
            return existing.verdict, False
        plaintext = crypto.unseal(self.box_key, ciphertext)
        cid = self.store.put(ciphertext)
        verdict = self.verify(plaintext, receipt, custody=Custody(cid, self.member_id))
        stored, new = self.inbox.store(
            doc_hash=receipt.doc_hash,
            sender=env.sender,
            doc_type=receipt.doc_type,
            cid=cid,
            receipt=receipt.to_json(),
            verdict=verdict.to_json(),
        )
        if new:
            self.log.record_many(
                [
                    (receipt.doc_hash, "received", env.sender, {"cid": cid, "root": receipt.root}),
                    (
                        receipt.doc_hash,
                        "verified",
                        self.member_id,
                        {"valid": verdict.valid, "reason": verdict.reason},
                    ),
                ]
            )
        return stored.verdict, new

    def _is_member_account(self, member_id: str, address: str) -> bool:
        reg = self.chain.registry
        return reg.member_of(address) == member_id and reg.is_active_member(member_id)

    def verify(self, xml: bytes, receipt: Receipt, *, custody: Custody | None = None) -> Verdict:
        """Verify against the chain; the receipt's cid and recipient are checked too when
        this node holds a sealed copy of the document (it sent or received it)."""
        if self._reads is None or self._reads.documents is not self.chain.documents:
            self._reads = ChainReads(self.chain.documents, self.chain.registry)
        return verify_document(
            xml,
            receipt,
            documents=self.chain.documents,
            registry=self.chain.registry,
            chain_id=self.chain.deployment.chain_id,
            limits=self.limits,
            custody=custody or self.custody(receipt.doc_hash),
            reads=self._reads,
        )

    def custody(self, doc_hash: str) -> Custody | None:
        """The sealed copy of `doc_hash` this node holds: sent (outbox) or received (inbox)."""
        sent = self.outbox.document(doc_hash)
        if sent is not None:
            return Custody(sent.cid_recipient, sent.recipient)
        got = self.inbox.get(doc_hash)
        return Custody(got.cid, self.member_id) if got is not None else None

    def open_received(self, doc_hash: str) -> bytes:
        rec = self.inbox.get(_norm_hash(doc_hash))
        if rec is None:
            raise DocumentError("unknown_document", f"no document {doc_hash} was received")
        return crypto.unseal(self.box_key, self.store.get(rec.cid))

    def open_own(self, doc_hash: str) -> bytes:
        """Our copy of a document we submitted (canonical form), decrypted."""
        doc = self.document(doc_hash)
        copy = self.outbox.own_copy(doc.doc_hash)
        if copy is None:  # never: the row was just read (and own_copy is NOT NULL)
            raise DocumentError(
                "unknown_document", f"no document {doc_hash} was submitted through this node"
            )
        return crypto.decrypt_at_rest(self.rest_key, copy)

    # --- revocation ------------------------------------------------------------------------

    def revoke_document(self, doc_hash: str, reason: str, user: str) -> dict[str, Any]:
        doc = self.document(doc_hash)
        if doc.state != "anchored":
            raise DocumentError(
                "not_anchored", f"document {doc.doc_hash} is {doc.state}, not anchored yet"
            )
        root, leaf_index = _batch_leaf(doc)
        rc = self.chain.documents.revoke_document(
            self.chain.sender(self.issuer_key),
            root,
            doc.doc_hash,
            self.outbox.proof(root, leaf_index),
            reason,
        )
        tx = hex0x(rc["transactionHash"])
        self.log.record(doc.doc_hash, "revoked", user, reason=reason, tx=tx, scope="document")
        return {"doc_hash": doc.doc_hash, "root": root, "tx": tx, "reason": reason}

    def revoke_batch(self, root: str, reason: str, user: str) -> dict[str, Any]:
        root = _norm_hash(root)
        batch = self.outbox.batch(root)
        if batch is None or batch.state != "anchored":
            raise DocumentError("unknown_batch", f"no anchored batch {root} on this node")
        rc = self.chain.documents.revoke_batch(self.chain.sender(self.issuer_key), root, reason)
        tx = hex0x(rc["transactionHash"])
        self.log.record_many(
            [
                (
                    d.doc_hash,
                    "revoked",
                    user,
                    {"reason": reason, "tx": tx, "scope": "batch", "root": root},
                )
                for d in self.outbox.batch_documents(root)
            ]
        )
        return {"root": root, "tx": tx, "reason": reason, "documents": batch.count}


def seal_documents(
    docs: Sequence[PreparedDocument], recipient_key: bytes, rest_key: bytes
) -> list[tuple[bytes, bytes]]:
    """(sealed for the recipient, our at-rest copy) of each canonical document.

    The sealed copy goes to the content-addressed store (it travels); our copy stays in the
    outbox row, which keeps one file per document instead of two.  Documents sealed in one
    call share one ephemeral key (`crypto.seal_many`): one X25519 exchange per call.

    A plain function of its arguments so bulk importers can run it in worker processes.
    """
    canonical = [d.canonical for d in docs]
    return list(
        zip(
            crypto.seal_many(recipient_key, canonical),
            crypto.encrypt_at_rest_many(rest_key, canonical),
            strict=True,
        )
    )


class DeliveryRefused(Exception):
    """The importing node answered, but not with an acknowledgement."""


def _batch_leaf(doc: OutDocument) -> tuple[str, int]:
    """The batch root and leaf index of a batched or anchored document (the outbox sets
    both when it puts the document in a batch)."""
    if doc.batch_root is None or doc.leaf_index is None:
        raise DocumentError(
            "not_anchored", f"document {doc.doc_hash} is {doc.state}, not in a batch yet"
        )
    return doc.batch_root, doc.leaf_index


def _norm_hash(value: str) -> str:
    text = value.lower()
    text = text if text.startswith("0x") else "0x" + text
    if len(text) != 66 or any(c not in "0123456789abcdef" for c in text[2:]):
        raise DocumentError("invalid_hash", f"{value!r} is not a 32-byte hex hash")
    return text


__all__ = ["DocumentError", "DocumentRejected", "DocumentService", "Submitted"]
