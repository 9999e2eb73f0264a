"""An oracle instance as an HTTP service, and the client the aggregator uses to reach it.

Each member runs its own instance (its own keys, its own result store), so a quorum of
signatures means independent administrations computed the same result.  One process serves
every kind the instance runs: `POST /attest/{kind}` with `{"request", "issued_at", "nonce"}`
answers the full result and the signature; `GET /health` says which kinds and signers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from offchain import attestation as att
from oracles.base import (
    KIND_NAMES,
    OracleError,
    OracleInstance,
    OracleResult,
    SignedBatch,
    SignedResult,
)


class AttestIn(BaseModel):
    request: dict[str, Any]
    issued_at: int = Field(ge=0)
    nonce: int = Field(ge=0, lt=2**64)


class AttestBatchIn(BaseModel):
    requests: list[dict[str, Any]] = Field(min_length=1, max_length=4096)
    issued_at: int = Field(ge=0)
    nonce: int = Field(ge=0, lt=2**64)


def create_instance_app(name: str, instances: dict[int, OracleInstance]) -> FastAPI:
    """The app of one oracle instance; `instances` maps kind -> OracleInstance."""
    app = FastAPI(
        title=f"Smart Customs oracle instance {name}",
        description="Computes, keeps and signs oracle results for AttestationHub.",
    )

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {
            "instance": name,
            "oracles": {
                KIND_NAMES[k]: {"signer": i.signer, "model_version": i.oracle.model_version}
                for k, i in instances.items()
            },
        }

    def instance_of(kind: str) -> OracleInstance | None:
        k = att.Kind[kind.upper()] if kind.upper() in att.Kind.__members__ else None
        return instances.get(int(k)) if k is not None else None

    def unknown() -> JSONResponse:
        runs = sorted(map(KIND_NAMES.get, instances))
        return JSONResponse(
            {"error": "unknown_kind", "detail": f"this instance runs {runs}"}, status_code=404
        )

    @app.post("/attest/{kind}")
    async def attest(kind: str, body: AttestIn):
        inst = instance_of(kind)
        if inst is None:
            return unknown()
        try:
            signed = await run_in_threadpool(
                inst.attest, body.request, issued_at=body.issued_at, nonce=body.nonce
            )
        except OracleError as exc:
            return JSONResponse(
                {"error": exc.code, "detail": exc.detail}, status_code=exc.http_status
            )
        return signed_to_json(signed)

    @app.post("/attest_batch/{kind}")
    async def attest_batch(kind: str, body: AttestBatchIn):
        inst = instance_of(kind)
        if inst is None:
            return unknown()
        try:
            signed = await run_in_threadpool(
                inst.attest_batch, body.requests, issued_at=body.issued_at, nonce=body.nonce
            )
        except OracleError as exc:
            return JSONResponse(
                {"error": exc.code, "detail": exc.detail}, status_code=exc.http_status
            )
        b = signed.batch
        return {
            "instance": signed.instance,
            "signer": signed.signer,
            "signature": "0x" + signed.signature.hex(),
            "batch": {
                "root": "0x" + b.root.hex(),
                "kind": int(b.kind),
                "count": b.count,
                "model_version": "0x" + b.model_version.hex(),
                "issued_at": b.issued_at,
                "nonce": b.nonce,
            },
            "results": [r.to_json() for r in signed.results],
        }

    return app


def signed_to_json(s: SignedResult) -> dict[str, Any]:
    return {
        "instance": s.instance,
        "signer": s.signer,
        "signature": "0x" + s.signature.hex(),
        "attestation": {
            "subject": "0x" + s.attestation.subject.hex(),
            "kind": int(s.attestation.kind),
            "result_hash": "0x" + s.attestation.result_hash.hex(),
            "model_version": "0x" + s.attestation.model_version.hex(),
            "issued_at": s.attestation.issued_at,
            "nonce": s.attestation.nonce,
        },
        "result": s.result.to_json(),
    }


def _result_from_json(kind: int, r: dict[str, Any]) -> OracleResult:
    return OracleResult(
        kind=kind,
        subject=bytes.fromhex(r["subject"][2:]),
        model_version=r["model_version"],
        input_hash=bytes.fromhex(r["input_hash"][2:]),
        output=r["output"],
        result_hash=bytes.fromhex(r["result_hash"][2:]),
    )


def signed_from_json(d: dict[str, Any]) -> SignedResult:
    a = d["attestation"]
    attn = att.Attestation(
        a["subject"], a["kind"], a["result_hash"], a["model_version"], a["issued_at"], a["nonce"]
    )
    return SignedResult(
        _result_from_json(int(attn.kind), d["result"]),
        attn,
        bytes.fromhex(d["signature"][2:]),
        d["signer"],
        d.get("instance", ""),
    )


def signed_batch_from_json(d: dict[str, Any]) -> SignedBatch:
    b = d["batch"]
    batch = att.BatchAttestation(
        b["root"], b["kind"], b["count"], b["model_version"], b["issued_at"], b["nonce"]
    )
    results = [_result_from_json(int(batch.kind), r) for r in d["results"]]
    tree = att.results_tree([(r.subject, r.result_hash) for r in results])
    if tree.root != batch.root:
        raise OracleError("inconsistent", "the signed root does not match the results sent")
    return SignedBatch(
        results, batch, bytes.fromhex(d["signature"][2:]), d["signer"], d.get("instance", "")
    )


class HttpInstance:
    """The aggregator's view of a remote instance."""

    def __init__(
        self, name: str, url: str, *, timeout_s: float = 10.0, client: httpx.Client | None = None
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout_s)

    def attest(
        self, kind: int, request: dict[str, Any], *, issued_at: int, nonce: int
    ) -> SignedResult:
        resp = self._client.post(
            f"{self.url}/attest/{KIND_NAMES[kind].lower()}",
            json={"request": request, "issued_at": issued_at, "nonce": nonce},
        )
        if resp.status_code != 200:
            body = (
                resp.json()
                if resp.headers.get("content-type", "").startswith("application/json")
                else {}
            )
            raise OracleError(
                body.get("error", "instance_error"),
                f"{self.name}: {body.get('detail', resp.text[:200])}",
                http_status=resp.status_code,  # what the instance answered, kept as it said
            )
        signed = signed_from_json(resp.json())
        # An instance must not be trusted to report its own result honestly: the aggregator
        # recovers the signer from the signature when the hub checks it; here we at least
        # check the attestation covers the result it reports.
        if signed.attestation.result_hash != signed.result.result_hash:
            raise OracleError("inconsistent", f"{self.name} signed another result than it sent")
        return signed

    def attest_batch(
        self, kind: int, requests: list[dict[str, Any]], *, issued_at: int, nonce: int
    ) -> SignedBatch:
        resp = self._client.post(
            f"{self.url}/attest_batch/{KIND_NAMES[kind].lower()}",
            json={"requests": requests, "issued_at": issued_at, "nonce": nonce},
            timeout=120.0,
        )
        if resp.status_code != 200:
            body = (
                resp.json()
                if resp.headers.get("content-type", "").startswith("application/json")
                else {}
            )
            raise OracleError(
                body.get("error", "instance_error"),
                f"{self.name}: {body.get('detail', resp.text[:200])}",
                http_status=resp.status_code,  # what the instance answered, kept as it said
            )
        return signed_batch_from_json(resp.json())


InstanceFactory = Callable[[], dict[int, OracleInstance]]
