"""Typed facade over DocumentRegistry: anchoring batch roots, revocations, lookups.

Why a facade: callers (the batcher, a verifying node, the CLI, tests) speak in roots and
document hashes as bytes or hex, document types as `DocType`, members as "TW"; the contract
speaks bytes32 and uint8.  Conversions, reading results back from events, and telling
"never anchored" apart from a batch live here once.  Reverts surface as
`chain.errors.ContractReverted` naming the contract's custom error (`NotIssuer`,
`RootAlreadyAnchored`, `NotInBatch`, ...).

Verification is meant to be cheap: a verifier checks Merkle proofs locally
(`offchain.merkle.verify`) and asks the chain once per batch root (`batch`, `statuses`),
not once per document.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_typing import HexStr
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import LogTopicError, MismatchedABI, TransactionNotFound
from web3.logs import DISCARD
from web3.types import TxReceipt

from chain.client import chain_errors
from chain.errors import ContractReverted
from chain.events import read_events
from chain.facade import Facade
from chain.ids import member_id_str
from chain.sender import TxSender
from offchain.doctypes import ANCHORED_TYPES
from offchain.hexbytes import Bytes32, hex0x, to_bytes32

# Codes as DocumentRegistry stores them, derived from the one list in offchain.doctypes
# (built at import, so mypy cannot list the members: the one ignore of this kind).
DocType = IntEnum("DocType", {t.name.upper().replace("-", "_"): t.code for t in ANCHORED_TYPES})  # type: ignore[misc]


@dataclass(frozen=True)
class AnchorResult:
    """What anchoring a batch produced: the exporter's receipt needs root, tx and block."""

    root: bytes
    tx_hash: str
    block: int
    anchored_at: int
    issuer: str
    issuer_member: str

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "root": hex0x(self.root)}


@dataclass(frozen=True)
class AnchoringTx:
    """A transaction that anchored a root, as its receipt on chain shows it."""

    anchoring: AnchorResult
    sender: str  # the transaction's `from`


@dataclass(frozen=True)
class Batch:
    """An anchored batch as the contract records it (the block is in `AnchorResult`)."""

    root: bytes
    issuer: str
    issuer_member: str
    count: int
    doc_type: DocType
    anchored_at: int
    revoked: bool

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "root": hex0x(self.root), "doc_type": self.doc_type.name}


@dataclass(frozen=True)
class DocumentStatus:
    """Anchoring and revocation state of one document hash under one root.

    `anchored` is about the root: that the document is in the batch is shown by its proof,
    which the verifier checks locally.
    """

    doc_hash: bytes
    anchored: bool
    batch_revoked: bool
    doc_revoked: bool

    @property
    def revoked(self) -> bool:
        return self.batch_revoked or self.doc_revoked

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "doc_hash": hex0x(self.doc_hash), "revoked": self.revoked}


@dataclass(frozen=True)
class Revocation:
    """A revocation of a batch (`doc_hash` None) or of one document in it."""

    root: bytes
    doc_hash: bytes | None
    by: str
    revoked_at: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "root": hex0x(self.root),
            "doc_hash": None if self.doc_hash is None else hex0x(self.doc_hash),
        }


class DocumentRegistry(Facade):
    """Anchoring, revocation and lookups on one deployed DocumentRegistry."""

    name = "DocumentRegistry"

    # --- anchoring ------------------------------------------------------------------

    def anchor_batch(
        self, sender: TxSender, root: Bytes32, count: int, doc_type: DocType | int
    ) -> AnchorResult:
        """Anchor one batch root from an ISSUER account; waits for the receipt."""
        return self._anchored(sender.transact(self._anchor_fn(root, count, doc_type)), root)

    def anchor_many(
        self,
        sender: TxSender,
        batches: Iterable[tuple[Bytes32, int, DocType | int]],
        *,
        gas: int | None = None,
    ) -> list[AnchorResult]:
        """Anchor many `(root, count, doc_type)` batches pipelined (TxSender.send_many).

        Each call is estimated before anything is sent (unless `gas` is given), so a
        revert such as NotIssuer or RootAlreadyAnchored is raised with nothing sent.  The
        same root twice in `batches` is refused here (ValueError): both would pass the
        estimate and the second would fail on chain.
        """
        items = [(to_bytes32(r, "root"), c, t) for r, c, t in batches]
        roots = [r for r, _, _ in items]
        if len(set(roots)) != len(roots):
            dup = next(r for r in roots if roots.count(r) > 1)
            raise ValueError(f"root {hex0x(dup)} appears more than once in the batches")
        receipts = sender.send_many([self._anchor_fn(*item) for item in items], gas=gas)
        return [self._anchored(rc, root) for rc, root in zip(receipts, roots, strict=True)]

    def _anchor_fn(self, root: Bytes32, count: int, doc_type: DocType | int) -> ContractFunction:
        return self.contract.functions.anchorBatch(to_bytes32(root, "root"), count, int(doc_type))

    def _anchored(self, receipt: TxReceipt, root: Bytes32) -> AnchorResult:
        want = to_bytes32(root, "root")
        for event in self.contract.events.BatchAnchored().process_receipt(receipt, errors=DISCARD):
            if bytes(event["args"]["root"]) == want:
                return _anchor_result(
                    event["args"], receipt["transactionHash"], receipt["blockNumber"]
                )
        raise AssertionError(f"anchorBatch receipt has no BatchAnchored event for {hex0x(want)}")

    def anchoring(self, root: Bytes32, *, from_block: int = 0) -> AnchorResult | None:
        """The anchoring of `root` read back from its BatchAnchored log (tx and block), or None.

        The contract does not store the block; the log, indexed by root, does.  Pass the
        deployment block as `from_block` to scan less of the chain.
        """
        want = to_bytes32(root, "root")
        for event in read_events(
            self.contract.w3,
            self.contract,
            self.name,
            events=["BatchAnchored"],
            from_block=from_block,
            topics=[Web3.to_hex(want)],
        ):
            return _anchor_result(event.args, event.tx_hash, event.block_number)
        return None

    def anchoring_in(self, tx_hash: str, root: Bytes32) -> AnchoringTx | None:
        """The anchoring of `root` by this contract in transaction `tx_hash`, or None.

        None when the chain knows no such transaction, when it failed, or when it emitted
        no `BatchAnchored` of this root from this contract's address: a receipt naming that
        transaction is not telling where its root was anchored.  `sender` is the account
        that sent the transaction.
        """
        want = to_bytes32(root, "root")
        if not (isinstance(tx_hash, str) and len(tx_hash) == 66 and tx_hash.startswith("0x")):
            return None
        w3 = self.contract.w3
        try:
            with chain_errors():
                receipt = w3.eth.get_transaction_receipt(HexStr(tx_hash))
        except TransactionNotFound:
            return None
        if receipt["status"] != 1:
            return None
        event = self.contract.events.BatchAnchored()
        for log in receipt["logs"]:
            if log["address"].lower() != self.address.lower():
                continue
            try:
                decoded = event.process_log(log)
            except (MismatchedABI, LogTopicError):
                continue
            if bytes(decoded["args"]["root"]) == want:
                return AnchoringTx(
                    anchoring=_anchor_result(
                        decoded["args"], receipt["transactionHash"], receipt["blockNumber"]
                    ),
                    sender=receipt["from"],
                )
        return None

    # --- revocation -----------------------------------------------------------------

    def revoke_batch(self, sender: TxSender, root: Bytes32, reason: str = "") -> TxReceipt:
        """Revoke a whole batch; only an ISSUER of the member that anchored it may."""
        return sender.transact(
            self.contract.functions.revokeBatch(to_bytes32(root, "root"), reason)
        )

    def revoke_document(
        self,
        sender: TxSender,
        root: Bytes32,
        doc_hash: Bytes32,
        proof: Sequence[Bytes32],
        reason: str = "",
    ) -> TxReceipt:
        """Revoke one document of a batch; `proof` must show it is in the batch (NotInBatch)."""
        return sender.transact(
            self.contract.functions.revokeDocument(
                to_bytes32(root, "root"), to_bytes32(doc_hash, "doc_hash"), _proof(proof), reason
            )
        )

    # --- lookups --------------------------------------------------------------------

    def batch(self, root: Bytes32) -> Batch | None:
        """The batch anchored with `root`, or None if it was never anchored."""
        raw = to_bytes32(root, "root")
        try:
            b = self._call("batchOf", raw)
        except ContractReverted as exc:
            if exc.error == "UnknownRoot":
                return None
            raise
        return Batch(
            root=raw,
            issuer=b.issuer,
            issuer_member=member_id_str(b.issuerMember),
            count=b.count,
            doc_type=DocType(b.docType),
            anchored_at=b.anchoredAt,
            revoked=b.revoked,
        )

    def is_anchored(self, root: Bytes32) -> bool:
        return self._call("isAnchored", to_bytes32(root, "root"))

    def status(self, root: Bytes32, doc_hash: Bytes32) -> DocumentStatus:
        raw = to_bytes32(doc_hash, "doc_hash")
        anchored, batch_revoked, doc_revoked = self._call(
            "documentStatus", to_bytes32(root, "root"), raw
        )
        return DocumentStatus(raw, anchored, batch_revoked, doc_revoked)

    def statuses(self, root: Bytes32, doc_hashes: Sequence[Bytes32]) -> list[DocumentStatus]:
        """The status of many documents of one batch, in one call; in the order given."""
        raws = [to_bytes32(h, "doc_hash") for h in doc_hashes]
        if not raws:
            return []
        anchored, batch_revoked, doc_revoked = self._call_encoded(
            "documentStatuses",
            ["bytes32", "bytes32[]"],
            [to_bytes32(root, "root"), raws],
            ["bool", "bool", "bool[]"],
        )
        return [
            DocumentStatus(h, anchored, batch_revoked, revoked)
            for h, revoked in zip(raws, doc_revoked, strict=True)
        ]

    def verify_on_chain(self, root: Bytes32, doc_hash: Bytes32, proof: Sequence[Bytes32]) -> bool:
        """Whether `root` is anchored and `proof` shows `doc_hash` in it (no revocation check).

        One call per document: verifiers should check proofs with `offchain.merkle.verify`
        and use `statuses`; this is for audits and tests of the on-chain path.
        """
        return self._call(
            "verifyDocument",
            to_bytes32(root, "root"),
            to_bytes32(doc_hash, "doc_hash"),
            _proof(proof),
        )

    def batch_revocation(self, root: Bytes32) -> Revocation | None:
        raw = to_bytes32(root, "root")
        return _revocation(self._call("batchRevocation", raw), raw, None)

    def document_revocation(self, root: Bytes32, doc_hash: Bytes32) -> Revocation | None:
        raw, doc = to_bytes32(root, "root"), to_bytes32(doc_hash, "doc_hash")
        return _revocation(self._call("documentRevocation", raw, doc), raw, doc)

    def max_batch_size(self) -> int:
        return self._call("MAX_BATCH_SIZE")


def _proof(proof: Sequence[Bytes32]) -> list[bytes]:
    return [to_bytes32(p, "proof element") for p in proof]


def _anchor_result(args: Any, tx_hash: Any, block: int) -> AnchorResult:
    return AnchorResult(
        root=bytes(args["root"]),
        tx_hash=tx_hash if isinstance(tx_hash, str) else Web3.to_hex(tx_hash),
        block=block,
        anchored_at=args["anchoredAt"],
        issuer=args["issuer"],
        issuer_member=member_id_str(args["issuerMember"]),
    )


def _revocation(r: Any, root: bytes, doc_hash: bytes | None) -> Revocation | None:
    if r.revokedAt == 0:
        return None
    return Revocation(
        root=root, doc_hash=doc_hash, by=r.by, revoked_at=r.revokedAt, reason=r.reason
    )
