"""Typed facade over AttestationHub: oracle registry, quorums, attested results and batches.

Why a facade: oracles and nodes speak in `offchain.attestation` dataclasses, kinds as
`Kind`, members as "TW"; the contract speaks tuples, uint8 and bytes32.  Conversions,
reading results back from events, and telling "never attested" apart from a result live
here once.  Reverts surface as `chain.errors.ContractReverted` naming the contract's custom
error (`BelowQuorum`, `UnknownOracle`, `AlreadyAttested`, ...), before anything is sent:
`TxSender` estimates every call first.

Quorums change only through ConsortiumRegistry governance: `quorum_call` gives the calldata
to propose (`ConsortiumRegistry.propose_call(sender, hub.address, data)`), and
`propose_quorum` does both in one step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from chain.client import RevertDecoder, chain_errors, endpoint
from chain.compiler import ContractArtifact
from chain.errors import ContractReverted
from chain.facade import Facade
from chain.ids import member_id_str
from chain.registry import ConsortiumRegistry, Proposal
from chain.sender import TxSender
from offchain.attestation import (
    Attestation,
    BatchAttestation,
    Domain,
    Kind,
    digest,
    model_version_str,
    to_bytes32,
)
from offchain.hexbytes import Bytes32, hex0x


@dataclass(frozen=True)
class OracleInfo:
    """A registered oracle signer; `active` is the hub's flag (its member may still be removed)."""

    signer: str
    kind: Kind
    member: str
    active: bool
    registered_at: int

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "kind": self.kind.name}


@dataclass(frozen=True)
class Result:
    """The latest result accepted for a (subject, kind) by a single `submit`."""

    subject: bytes
    kind: Kind
    result_hash: bytes
    model_version: bytes
    issued_at: int
    nonce: int
    signer_count: int

    @property
    def attestation(self) -> Attestation:
        """The attestation that was accepted (its digest is what the oracles signed)."""
        return Attestation(
            self.subject,
            self.kind,
            self.result_hash,
            self.model_version,
            self.issued_at,
            self.nonce,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": hex0x(self.subject),
            "kind": self.kind.name,
            "result_hash": hex0x(self.result_hash),
            "model_version": model_version_str(self.model_version),
            "issued_at": self.issued_at,
            "nonce": self.nonce,
            "signer_count": self.signer_count,
        }


@dataclass(frozen=True)
class Batch:
    """An attested batch of results under one Merkle root."""

    root: bytes
    kind: Kind
    count: int
    model_version: bytes
    issued_at: int
    nonce: int
    attested_at: int
    signer_count: int

    def to_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "root": hex0x(self.root),
            "kind": self.kind.name,
            "model_version": model_version_str(self.model_version),
        }


@dataclass(frozen=True)
class Attested:
    """What a submission produced: the digest the oracles signed, who counted, and the tx."""

    digest: bytes
    signers: tuple[str, ...]
    tx_hash: str
    block: int
    gas_used: int

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "digest": hex0x(self.digest), "signers": list(self.signers)}


class AttestationHub(Facade):
    """Oracle registry, governance calldata, submissions and lookups on one AttestationHub."""

    name = "AttestationHub"

    @cached_property
    def domain(self) -> Domain:
        """The EIP-712 domain oracles sign under for this hub (chain id asked once)."""
        with chain_errors(endpoint(self.contract.w3)):
            chain_id = self.contract.w3.eth.chain_id
        return Domain(chain_id, self.address)

    # --- oracle registry ------------------------------------------------------------

    def register_oracle(self, sender: TxSender, signer: str, kind: Kind | int) -> TxReceipt:
        """Register `signer` as an oracle of `kind` for the member of `sender`.

        `sender` must hold ORACLE_OPERATOR through an active member (NotOracleOperator);
        a signer is registered once, for one kind (OracleExists).
        """
        return sender.transact(
            self.contract.functions.registerOracle(Web3.to_checksum_address(signer), int(kind))
        )

    def deactivate_oracle(self, sender: TxSender, signer: str) -> TxReceipt:
        """Retire an oracle key for good; an ORACLE_OPERATOR of its member may (NotOracleMember)."""
        return sender.transact(
            self.contract.functions.deactivateOracle(Web3.to_checksum_address(signer))
        )

    def oracle(self, signer: str) -> OracleInfo | None:
        """The registered oracle, or None if `signer` was never registered."""
        address = Web3.to_checksum_address(signer)
        kind, member, active, registered_at = self._call("oracle", address)
        if kind == 0:
            return None
        return OracleInfo(address, Kind(kind), member_id_str(member), active, registered_at)

    def oracles(self, kind: Kind | int, *, active_only: bool = False) -> list[OracleInfo]:
        """The oracles ever registered for `kind`, in order of registration."""
        found = [self.oracle(s) for s in self._call("oraclesOf", int(kind))]
        return [o for o in found if o is not None and (o.active or not active_only)]

    # --- quorums and governance -----------------------------------------------------

    def quorum(self, kind: Kind | int) -> int:
        return self._call("quorum", int(kind))

    def quorums(self) -> dict[Kind, int]:
        return {kind: self.quorum(kind) for kind in Kind}

    def quorum_call(self, kind: Kind | int, k: int) -> bytes:
        """Calldata of `setQuorum(kind, k)`, for `ConsortiumRegistry.propose_call`."""
        return _calldata(self.contract, "setQuorum", int(kind), k)

    def deactivate_call(self, signer: str) -> bytes:
        """Calldata of `deactivateOracle(signer)`, for a governance decision."""
        return _calldata(self.contract, "deactivateOracle", Web3.to_checksum_address(signer))

    def propose_quorum(
        self, registry: ConsortiumRegistry, sender: TxSender, kind: Kind | int, k: int
    ) -> Proposal:
        """Propose, as a member admin, that the members set the quorum of `kind` to `k`."""
        return registry.propose_call(sender, self.address, self.quorum_call(kind, k))

    # --- attesting ------------------------------------------------------------------

    def submit(
        self, sender: TxSender, attestation: Attestation, signatures: Sequence[bytes]
    ) -> Attested:
        """Submit one result with its oracles' signatures; anyone may send it."""
        fn = self.contract.functions.submit(attestation.as_args(), [bytes(s) for s in signatures])
        receipt = sender.transact(fn)
        return self._attested(receipt, "Attested", attestation)

    def submit_batch(
        self, sender: TxSender, batch: BatchAttestation, signatures: Sequence[bytes]
    ) -> Attested:
        """Submit the Merkle root of many results with its oracles' signatures."""
        fn = self.contract.functions.submitBatch(batch.as_args(), [bytes(s) for s in signatures])
        receipt = sender.transact(fn)
        return self._attested(receipt, "BatchAttested", batch)

    def submit_batches(
        self,
        sender: TxSender,
        batches: Iterable[tuple[BatchAttestation, Sequence[bytes]]],
        *,
        gas: int | None = None,
    ) -> list[Attested]:
        """Submit many signed batches pipelined (TxSender.send_many); results in order.

        Each call is estimated first (unless `gas` is given), so a revert is raised with
        nothing sent.  The same root twice is refused here (ValueError): both would pass the
        estimate and the second would fail on chain with BatchExists.
        """
        items = list(batches)
        roots = [b.root for b, _ in items]
        if len(set(roots)) != len(roots):
            raise ValueError("a root appears more than once in the batches")
        fns = [
            self.contract.functions.submitBatch(b.as_args(), [bytes(s) for s in sigs])
            for b, sigs in items
        ]
        receipts = sender.send_many(fns, gas=gas)
        return [
            self._attested(rc, "BatchAttested", b)
            for rc, (b, _) in zip(receipts, items, strict=True)
        ]

    def _attested(
        self, receipt: TxReceipt, event: str, item: Attestation | BatchAttestation
    ) -> Attested:
        key = "subject" if event == "Attested" else "root"
        want = item.subject if isinstance(item, Attestation) else item.root
        for ev in getattr(self.contract.events, event)().process_receipt(receipt, errors=DISCARD):
            if bytes(ev["args"][key]) == want:
                return Attested(
                    digest=digest(self.domain, item),
                    signers=tuple(ev["args"]["signers"]),
                    tx_hash=Web3.to_hex(receipt["transactionHash"]),
                    block=receipt["blockNumber"],
                    gas_used=receipt["gasUsed"],
                )
        raise AssertionError(f"receipt has no {event} event for {hex0x(want)}")

    # --- lookups --------------------------------------------------------------------

    def latest(self, subject: Bytes32, kind: Kind | int) -> Result | None:
        """The latest result of `kind` about `subject` accepted by `submit`, or None."""
        raw = to_bytes32(subject, "subject")
        r = self._call("latest", raw, int(kind))
        if r.signerCount == 0:
            return None
        return Result(
            raw,
            Kind(kind),
            bytes(r.resultHash),
            bytes(r.modelVersion),
            r.issuedAt,
            r.nonce,
            r.signerCount,
        )

    def batch(self, root: Bytes32) -> Batch | None:
        """The attested batch with this root, or None."""
        raw = to_bytes32(root, "root")
        try:
            b = self._call("batchOf", raw)
        except ContractReverted as exc:
            if exc.error == "UnknownBatch":
                return None
            raise
        return Batch(
            raw,
            Kind(b.kind),
            b.count,
            bytes(b.modelVersion),
            b.issuedAt,
            b.nonce,
            b.attestedAt,
            b.signerCount,
        )

    def verify_result(
        self, root: Bytes32, subject: Bytes32, result_hash: Bytes32, proof: Sequence[Bytes32]
    ) -> bool:
        """Whether `root` is an attested batch and `proof` shows the result in it.

        One call per result: verifiers should check proofs locally (`offchain.merkle.verify`
        with `offchain.attestation.result_leaf`) and ask `batch(root)` once per root.
        """
        return self._call(
            "verifyResult",
            to_bytes32(root, "root"),
            to_bytes32(subject, "subject"),
            to_bytes32(result_hash, "result_hash"),
            [to_bytes32(p, "proof element") for p in proof],
        )

    def is_attested(self, attestation: Attestation) -> bool:
        """Whether exactly this attestation was accepted (latest, or superseded since)."""
        return self._call("isAttested", attestation.as_args())

    def is_batch_attested(self, batch: BatchAttestation) -> bool:
        """Whether exactly this batch attestation was accepted."""
        return self._call("isBatchAttested", batch.as_args())

    def hash_attestation(self, attestation: Attestation) -> bytes:
        """The contract's digest of `attestation` (equals `offchain.attestation.digest`)."""
        return bytes(self._call("hashAttestation", attestation.as_args()))

    def hash_batch(self, batch: BatchAttestation) -> bytes:
        return bytes(self._call("hashBatch", batch.as_args()))


def deploy(
    sender: TxSender,
    artifact: ContractArtifact,
    registry: str,
    quorums: Mapping[Kind | int, int],
    decoder: RevertDecoder,
) -> tuple[AttestationHub, TxReceipt]:
    """Deploy an AttestationHub obeying `registry`, with an initial quorum for every kind."""
    return AttestationHub.deploy_new(
        sender, artifact, *constructor_args(registry, quorums), decoder=decoder
    )


def constructor_args(registry: str, quorums: Mapping[Kind | int, int]) -> tuple[str, list, list]:
    """AttestationHub's constructor arguments; `quorums` must name every kind (InvalidQuorum)."""
    kinds = sorted(int(k) for k in quorums)
    return Web3.to_checksum_address(registry), kinds, [int(quorums[k]) for k in kinds]


def _calldata(contract: Contract, fn_name: str, *args: Any) -> bytes:
    return bytes.fromhex(contract.encode_abi(fn_name, args=list(args)).removeprefix("0x"))
