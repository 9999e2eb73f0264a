"""The base of every oracle service: compute a result, keep it, sign it for AttestationHub.

An oracle (tariff, X-ray, audit, clearance) turns a request into an output with a named
model version.  Every instance keeps the full result off chain (input hash, output, model
version, time) and signs the EIP-712 digest of the on-chain summary:
`Attestation(subject, kind, resultHash, modelVersion, issuedAt, nonce)`.  Independent
instances (run by different members) must reach the same `resultHash` for the aggregator to
collect a quorum, so `compute` must be deterministic for a given request and model version.
"""

from __future__ import annotations

import json
import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from eth_account.signers.local import LocalAccount

from offchain import attestation as att
from offchain.errors import CodedError, OffchainError, status_of
from offchain.merkle import keccak256

KINDS = {k.name: k for k in att.Kind}
KIND_NAMES = {int(k): k.name for k in att.Kind}
MAX_SKEW_S = 300


class OracleError(OffchainError):
    """An oracle could not produce or sign a result.

    Its status is its code's (`offchain.errors.HTTP_STATUS`), with two exceptions that carry
    their own: an error an oracle reports for another family (`OracleError.reporting`), and
    the answer of a remote oracle instance, whose status is what that instance said.
    """

    code = "oracle_error"

    def __init__(self, code: str, detail: str, http_status: int | None = None) -> None:
        super().__init__(code, detail)
        # Deprecated as an argument for anything but a remote instance's answer: the
        # wrappers in oracles/tariff and oracles/xray still forward a wrapped error's status
        # here; `OracleError.reporting(exc)` says the same without a number.
        self._status = http_status

    @classmethod
    def reporting(cls, error: CodedError, detail: str | None = None) -> OracleError:
        """`error` (of another family) as an oracle error: same code, same status."""
        out = cls(error.code, error.detail if detail is None else detail)
        out._status = error.http_status
        return out

    @property
    def http_status(self) -> int:
        return status_of(self) if self._status is None else self._status


def canonical_json(obj: Any) -> bytes:
    """The one JSON form results are hashed in: sorted keys, no spaces, no NaN."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def hash_json(obj: Any) -> bytes:
    return keccak256(canonical_json(obj))


def result_json(output_json: bytes, model_version: str) -> bytes:
    """`canonical_json({"output": output, "model_version": model_version})`, spliced.

    Given the output's canonical bytes, the result's are those bytes under two keys
    (sorted: "model_version" before "output"), so the output is serialised once for the
    result hash, the result store and the wire.
    """
    return b'{"model_version":' + canonical_json(model_version) + b',"output":' + output_json + b"}"


def check_finite(obj: Any, where: str = "output") -> None:
    """Refuse NaN/Infinity anywhere in an output: it would not hash the same everywhere."""
    if isinstance(obj, float) and not math.isfinite(obj):
        raise OracleError("non_finite", f"{where} holds {obj!r}")
    if isinstance(obj, dict):
        for k, v in obj.items():
            check_finite(v, f"{where}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            check_finite(v, f"{where}[{i}]")


@dataclass(frozen=True)
class OracleResult:
    """A result as every instance computes it (identical across honest instances)."""

    kind: int
    subject: bytes
    model_version: str
    input_hash: bytes
    output: dict[str, Any]
    result_hash: bytes
    # canonical_json(output) when this instance computed it (reused by the store and the
    # wire); b"" for a result read back from elsewhere
    output_json: bytes = field(default=b"", repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": KIND_NAMES.get(self.kind, self.kind),
            "subject": "0x" + self.subject.hex(),
            "model_version": self.model_version,
            "input_hash": "0x" + self.input_hash.hex(),
            "result_hash": "0x" + self.result_hash.hex(),
            "output": self.output,
        }


@dataclass(frozen=True)
class SignedBatch:
    """Many results of one kind, signed once under the Merkle root of (subject, result)."""

    results: list[OracleResult]
    batch: att.BatchAttestation
    signature: bytes
    signer: str
    instance: str = ""


@dataclass(frozen=True)
class SignedResult:
    result: OracleResult
    attestation: att.Attestation
    signature: bytes
    signer: str
    instance: str = ""


class Oracle(ABC):
    """One kind of oracle: deterministic `compute` over a JSON request."""

    kind: ClassVar[int]
    model_version: str

    @abstractmethod
    def subject(self, request: dict[str, Any]) -> bytes:
        """The 32-byte subject the result is about (a declaration id hash, an image hash...)."""

    @abstractmethod
    def compute(self, request: dict[str, Any]) -> dict[str, Any]:
        """The output for a request; raise OracleError for a request it cannot judge."""

    def evaluate(self, request: dict[str, Any]) -> OracleResult:
        output = self.compute(request)
        try:
            output_json = canonical_json(output)
        except ValueError:  # NaN or Infinity (allow_nan=False): name where
            check_finite(output)
            raise
        return OracleResult(
            kind=self.kind,
            subject=self.subject(request),
            model_version=self.model_version,
            input_hash=hash_json(request),
            output=output,
            result_hash=keccak256(result_json(output_json, self.model_version)),
            output_json=output_json,
        )


@dataclass
class OracleInstance:
    """A running instance: an oracle, its signing key and the hub it signs for."""

    name: str
    oracle: Oracle
    account: LocalAccount
    chain_id: int
    hub_address: str
    store: Any = None  # oracles.store.ResultStore, optional
    clock: Any = field(default=time.time)

    @property
    def signer(self) -> str:
        return self.account.address

    def attest(self, request: dict[str, Any], *, issued_at: int, nonce: int) -> SignedResult:
        """Compute, keep and sign. `issued_at` comes from the aggregator so all instances sign
        the same typed data; an instance refuses a time far from its own clock."""
        now = int(self.clock())
        if abs(issued_at - now) > MAX_SKEW_S:
            raise OracleError(
                "bad_time",
                f"issued_at {issued_at} is {issued_at - now:+d} s from this instance's clock",
            )
        result = self.oracle.evaluate(request)
        a = att.Attestation(
            subject=result.subject,
            kind=att.Kind(result.kind),
            result_hash=result.result_hash,
            model_version=att.model_version(result.model_version),
            issued_at=issued_at,
            nonce=nonce,
        )
        sig = att.sign(self.account, att.domain(self.chain_id, self.hub_address), a)
        if self.store is not None:
            self.store.save(result, a, sig, self.signer)
        return SignedResult(result, a, sig, self.signer, self.name)

    def attest_batch(
        self, requests: list[dict[str, Any]], *, issued_at: int, nonce: int
    ) -> SignedBatch:
        """Compute every result, sign one BatchAttestation over their Merkle root.

        Why: one transaction then attests up to thousands of results (about 105 gas each
        instead of ~110,000 per single submission); each result is proved later with its
        Merkle proof against the attested root.
        """
        now = int(self.clock())
        if abs(issued_at - now) > MAX_SKEW_S:
            raise OracleError(
                "bad_time",
                f"issued_at {issued_at} is {issued_at - now:+d} s from this instance's clock",
            )
        if not requests:
            raise OracleError("empty_batch", "a batch needs at least one request")
        results = [self.oracle.evaluate(r) for r in requests]
        tree = att.results_tree([(r.subject, r.result_hash) for r in results])
        b = att.BatchAttestation(
            root=tree.root,
            kind=att.Kind(self.oracle.kind),
            count=len(results),
            model_version=att.model_version(self.oracle.model_version),
            issued_at=issued_at,
            nonce=nonce,
        )
        sig = att.sign(self.account, att.domain(self.chain_id, self.hub_address), b)
        if self.store is not None:
            root = "0x" + tree.root.hex()
            self.store.save_many([(r, b, sig, self.signer, root) for r in results])
        return SignedBatch(results, b, sig, self.signer, self.name)
