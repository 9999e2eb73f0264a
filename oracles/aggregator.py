"""Collect k matching signatures from independent oracle instances and submit them.

Why an aggregator: AttestationHub accepts a result only when k distinct oracles of the kind
signed the same typed data.  The aggregator fixes `issuedAt` and a nonce, asks every
instance in parallel, keeps the largest group of instances that computed the same result
hash, and submits once that group reaches the quorum.  An instance that is down or slow
only costs its vote; too few answers is a clear `OracleUnavailable` and nothing is sent.
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from offchain import attestation as att
from oracles.base import KIND_NAMES, OracleError, SignedBatch, SignedResult

_IS_ACTIVE_ABI = [
    {
        "type": "function",
        "name": "isActiveMember",
        "stateMutability": "view",
        "inputs": [{"name": "id", "type": "bytes32"}],
        "outputs": [{"name": "", "type": "bool"}],
    }
]


class InstanceClient(Protocol):
    name: str

    def attest(
        self, kind: int, request: dict[str, Any], *, issued_at: int, nonce: int
    ) -> SignedResult: ...

    def attest_batch(
        self, kind: int, requests: list[dict[str, Any]], *, issued_at: int, nonce: int
    ) -> SignedBatch: ...


class OracleUnavailable(OracleError):
    """Too few instances answered alike to reach the quorum; nothing was submitted."""

    code = "oracle_unavailable"

    def __init__(self, detail: str) -> None:
        super().__init__("oracle_unavailable", detail)


@dataclass(frozen=True)
class AttestedResult:
    """A result accepted on chain: the full result, who signed it, where it was recorded."""

    result: Any  # OracleResult
    signers: list[str]
    instances: list[str]
    tx: str
    block: int
    gas_used: int

    def to_json(self) -> dict[str, Any]:
        return {
            "result_hash": "0x" + self.result.result_hash.hex(),
            "signers": self.signers,
            "instances": self.instances,
            "tx": self.tx,
            "block": self.block,
            "gas_used": self.gas_used,
            "model_version": self.result.model_version,
        }


class Aggregator:
    def __init__(
        self,
        instances: Sequence[InstanceClient],
        hub,
        sender,
        *,
        quorum: Callable[[int], int],
        timeout_s: float = 10.0,
        clock=time.time,
        member_active: Callable[[str], bool] | None = None,
    ) -> None:
        self.member_active = member_active
        self._eligible_cache: dict[tuple[str, int], tuple[float, bool]] = {}
        self.instances = list(instances)
        self.hub = hub
        self.sender = sender
        self.quorum = quorum
        self.timeout_s = timeout_s
        self.clock = clock
        self._pool = ThreadPoolExecutor(max(1, len(self.instances)), thread_name_prefix="oracle")

    def collect(self, kind: int, request: dict[str, Any]) -> list[SignedResult]:
        """Ask every instance; return the largest agreeing group (quorum checked)."""
        k = self.quorum(kind)
        issued_at, nonce = int(self.clock()), secrets.randbits(63)
        futures = {
            self._pool.submit(i.attest, kind, request, issued_at=issued_at, nonce=nonce): i
            for i in self.instances
        }
        answers: list[SignedResult] = []
        failures: list[str] = []
        deadline = time.monotonic() + self.timeout_s
        for fut, inst in futures.items():
            try:
                answers.append(fut.result(timeout=max(0.0, deadline - time.monotonic())))
            except OracleError as exc:
                if 400 <= exc.http_status < 500 and exc.code != "bad_time":
                    raise  # the request itself is bad: every instance would say the same
                failures.append(f"{inst.name}: {exc}")
            except TimeoutError:
                failures.append(f"{inst.name}: no answer within {self.timeout_s:g} s")
            except Exception as exc:  # down, transport
                failures.append(f"{inst.name}: {type(exc).__name__}: {exc}")
        groups: dict[bytes, list[SignedResult]] = defaultdict(list)
        seen: set[str] = set()
        for a in answers:
            problem = self._check(kind, a.attestation, a.signature, a.signer, issued_at, nonce)
            if problem is None and a.attestation.result_hash != a.result.result_hash:
                problem = "signed another result than it reported"
            if problem:
                failures.append(f"{a.instance or a.signer}: {problem}")
                continue
            if a.signer.lower() not in seen:
                seen.add(a.signer.lower())
                groups[a.result.result_hash].append(a)
        best = max(groups.values(), key=len, default=[])
        if len(best) < k:
            name = KIND_NAMES.get(kind, kind)
            why = "; ".join(failures) or "instances disagreed on the result"
            raise OracleUnavailable(
                f"{name}: {len(best)} matching signature(s) of {len(self.instances)} instances, "
                f"quorum is {k} ({why}); nothing was submitted"
            )
        # Exactly k signatures: each one more costs the hub a signature check and a
        # registry lookup (2-of-3 is ~109k gas, 3-of-3 ~123k) and proves nothing more.
        return best[:k]

    def attest(self, kind: int, request: dict[str, Any]) -> AttestedResult:
        """Collect a quorum and submit; ContractReverted if the hub refuses (e.g. replay)."""
        group = self.collect(kind, request)
        done = self.hub.submit(self.sender, group[0].attestation, [g.signature for g in group])
        return AttestedResult(
            result=group[0].result,
            signers=list(done.signers),
            instances=[g.instance for g in group],
            tx=done.tx_hash,
            block=done.block,
            gas_used=done.gas_used,
        )

    def attest_batch(self, kind: int, requests: list[dict[str, Any]]) -> AttestedBatch:
        """Collect a quorum of signatures over one batch root and submit it once."""
        return self.submit_batch(self.collect_batch(kind, requests))

    def attest_batches(
        self, kind: int, batches: Iterable[list[dict[str, Any]]]
    ) -> Iterator[AttestedBatch]:
        """Attest batches in order, collecting the next while the previous is submitted.

        Why: while one root waits for its transaction the instances would otherwise sit
        idle.  Each batch is collected and checked exactly as by `attest_batch`, and
        submitted in order; at the first failure it raises, and the batch collected ahead
        is not submitted (its instances keep their signed results, as after any failure).
        """
        with ThreadPoolExecutor(1, thread_name_prefix="oracle-ahead") as ahead:
            pending: Future[CollectedBatch] | None = None
            try:
                for requests in batches:
                    following = ahead.submit(self.collect_batch, kind, requests)
                    if pending is not None:
                        yield self.submit_batch(pending.result())
                    pending = following
                if pending is not None:
                    yield self.submit_batch(pending.result())
            finally:
                if pending is not None:
                    pending.cancel()

    def collect_batch(self, kind: int, requests: list[dict[str, Any]]) -> CollectedBatch:
        """A quorum of matching, checked signatures over the batch's root (not submitted)."""
        k = self.quorum(kind)
        issued_at, nonce = int(self.clock()), secrets.randbits(63)
        futures = {
            self._pool.submit(i.attest_batch, kind, requests, issued_at=issued_at, nonce=nonce): i
            for i in self.instances
        }
        groups: dict[bytes, list] = defaultdict(list)
        failures: list[str] = []
        for fut, inst in futures.items():
            try:
                signed = fut.result(timeout=self.timeout_s + len(requests) * 0.01)
            except OracleError as exc:
                if 400 <= exc.http_status < 500 and exc.code != "bad_time":
                    raise
                failures.append(f"{inst.name}: {exc}")
                continue
            except Exception as exc:
                failures.append(f"{inst.name}: {type(exc).__name__}: {exc}")
                continue
            problem = self._check(
                kind, signed.batch, signed.signature, signed.signer, issued_at, nonce
            )
            if problem is None and signed.batch.count != len(requests):
                problem = f"signed a batch of {signed.batch.count}, not {len(requests)}"
            if problem:
                failures.append(f"{inst.name}: {problem}")
                continue
            if all(s.signer.lower() != signed.signer.lower() for s in groups[signed.batch.root]):
                groups[signed.batch.root].append(signed)
        best = max(groups.values(), key=len, default=[])
        if len(best) < k:
            raise OracleUnavailable(
                f"{KIND_NAMES.get(kind, kind)} batch of {len(requests)}: {len(best)} matching "
                f"signature(s), quorum is {k} ({'; '.join(failures) or 'instances disagreed'}); "
                "nothing was submitted"
            )
        return CollectedBatch(best[:k])

    def submit_batch(self, collected: CollectedBatch) -> AttestedBatch:
        """Submit a collected batch: one transaction for its root and k signatures."""
        best = collected.signed
        done = self.hub.submit_batch(self.sender, best[0].batch, [b.signature for b in best])
        return AttestedBatch(
            results=best[0].results,
            root=best[0].batch.root,
            signers=list(done.signers),
            tx=done.tx_hash,
            block=done.block,
            gas_used=done.gas_used,
        )

    def _check(
        self, kind: int, item, signature: bytes, signer: str, issued_at: int, nonce: int
    ) -> str | None:
        """Why the hub would not count this signature, or None: an answer that would make
        the whole submission revert costs only its own vote."""
        if (int(item.kind), item.issued_at, item.nonce) != (kind, issued_at, nonce):
            return "signed other kind, time or nonce than asked"
        try:
            recovered = att.recover(self.hub.domain, item, signature)
        except att.BadSignature as exc:
            return f"bad signature ({exc})"
        if recovered.lower() != signer.lower():
            return f"signature is by {recovered}, not by the claimed {signer}"
        if not self._eligible(signer, kind):
            return f"{signer} is not an active oracle of this kind of an active member"
        return None

    def _eligible(self, signer: str, kind: int) -> bool:
        key = (signer.lower(), kind)
        hit = self._eligible_cache.get(key)
        if hit and time.monotonic() - hit[0] < 30.0:
            return hit[1]
        info = self.hub.oracle(signer)
        ok = bool(
            info and info.active and int(info.kind) == kind and self._member_active(info.member)
        )
        self._eligible_cache[key] = (time.monotonic(), ok)
        return ok

    def _member_active(self, member: str) -> bool:
        """Whether the oracle's member is active in the registry the hub itself reads."""
        if self.member_active is None:
            w3 = self.hub.contract.w3
            address = self.hub.contract.functions.registry().call()
            registry = w3.eth.contract(address=address, abi=_IS_ACTIVE_ABI)
            self.member_active = lambda m: registry.functions.isActiveMember(
                m.encode().ljust(32, b"\0")
            ).call()
        return bool(self.member_active(member))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class CollectedBatch:
    """k signatures of distinct eligible oracles over the same batch, ready to submit."""

    signed: list[SignedBatch]


@dataclass(frozen=True)
class AttestedBatch:
    results: list[Any]
    root: bytes
    signers: list[str]
    tx: str
    block: int
    gas_used: int


class LocalInstance:
    """An instance in this process: one OracleInstance per kind (tests, benchmarks)."""

    def __init__(self, name: str, by_kind: dict[int, Any]) -> None:
        self.name = name
        self.by_kind = by_kind

    def attest(
        self, kind: int, request: dict[str, Any], *, issued_at: int, nonce: int
    ) -> SignedResult:
        inst = self.by_kind.get(kind)
        if inst is None:
            raise OracleError("unknown_kind", f"instance {self.name} runs no oracle of kind {kind}")
        return inst.attest(request, issued_at=issued_at, nonce=nonce)

    def attest_batch(
        self, kind: int, requests: list[dict[str, Any]], *, issued_at: int, nonce: int
    ):
        inst = self.by_kind.get(kind)
        if inst is None:
            raise OracleError("unknown_kind", f"instance {self.name} runs no oracle of kind {kind}")
        return inst.attest_batch(requests, issued_at=issued_at, nonce=nonce)
