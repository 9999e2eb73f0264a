"""An oracle instance as an HTTP service, and the client the aggregator uses to reach it.

Each member runs its own instance (its own keys, its own result store), so a quorum of
signatures means independent administrations computed the same result.  One process serves
every kind the instance runs: `POST /attest/{kind}` with `{"request", "issued_at", "nonce"}`
answers the full result and the signature; `GET /health` says which kinds and signers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from pydantic_core import from_json

from offchain import attestation as att
from oracles.base import (
    KIND_NAMES,
    OracleError,
    OracleInstance,
    OracleResult,
    SignedBatch,
    SignedResult,
    canonical_json,
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
        runs = sorted(KIND_NAMES.get(k, str(k)) for k in instances)
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
        return json_response(signed_to_json(signed))

    @app.post("/attest_batch/{kind}", openapi_extra=_json_body(AttestBatchIn))
    async def attest_batch(kind: str, request: Request):
        inst = instance_of(kind)
        if inst is None:
            return unknown()
        return await run_in_threadpool(_attest_batch, inst, await request.body())

    return app


def _attest_batch(inst: OracleInstance, raw: bytes) -> Response:
    """Parse, compute, sign, keep and answer a batch, off the event loop.

    The body is parsed straight into `AttestBatchIn` by pydantic's JSON parser, about
    three times faster than `json.loads` for a batch of a thousand declarations.
    """
    try:
        body = AttestBatchIn.model_validate_json(raw)
    except ValidationError as exc:
        return JSONResponse({"error": "invalid_request", "detail": _problems(exc)}, status_code=422)
    try:
        signed = inst.attest_batch(body.requests, issued_at=body.issued_at, nonce=body.nonce)
    except OracleError as exc:
        return JSONResponse({"error": exc.code, "detail": exc.detail}, status_code=exc.http_status)
    return Response(signed_batch_body(signed), media_type="application/json")


def _problems(exc: ValidationError) -> str:
    """A validation error in one line: where and what, for each of the first few."""
    errors = exc.errors(include_url=False, include_input=False)
    said = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in errors[:5]]
    return "; ".join(said) + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that parses its JSON body itself."""
    schema = {"application/json": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": schema}}


def json_response(payload: dict[str, Any]) -> Response:
    """`payload` (plain JSON types only) as a JSON response, serialised once by `json`.

    Why not return the dict: FastAPI then walks it with `jsonable_encoder` before
    serialising, which for a batch of 1,024 results took longer than computing them.
    """
    return Response(_dumps(payload), media_type="application/json")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _spliced(head: dict[str, Any], key: str, raw: bytes) -> bytes:
    """`head` as JSON with `key` set to the already serialised `raw` (not parsed again)."""
    return _dumps(head)[:-1] + b',"' + key.encode() + b'":' + raw + b"}"


def result_body(r: OracleResult) -> bytes:
    """`r.to_json()` as JSON bytes, the output spliced from the bytes it was hashed in."""
    head = r.to_json()
    head.pop("output")
    return _spliced(head, "output", r.output_json or canonical_json(r.output))


def signed_batch_body(signed: SignedBatch) -> bytes:
    """The answer to /attest_batch: `signed_batch_to_json` serialised, each output once."""
    head = signed_batch_to_json(signed, results=False)
    return _spliced(head, "results", b"[" + b",".join(map(result_body, signed.results)) + b"]")


def signed_batch_to_json(signed: SignedBatch, *, results: bool = True) -> dict[str, Any]:
    b = signed.batch
    out: dict[str, Any] = {
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
    }
    if results:
        out["results"] = [r.to_json() for r in signed.results]
    return out


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


class _SharedBody:
    """The JSON body of the batch being asked, encoded once for every instance.

    The aggregator asks all instances the same batch at once (same list, time and nonce),
    so the first client to need the body encodes it and the others reuse the bytes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, int, int] | None = None
        self._body = b""

    def body(self, requests: list[dict[str, Any]], issued_at: int, nonce: int) -> bytes:
        with self._lock:
            key = self._key
            if key is None or key[0] is not requests or key[1:] != (issued_at, nonce):
                payload = {"requests": requests, "issued_at": issued_at, "nonce": nonce}
                self._body = _dumps(payload)
                self._key = (requests, issued_at, nonce)  # holds the list: its id stays its
            return self._body


_BATCH_BODIES = _SharedBody()


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
            content=_BATCH_BODIES.body(requests, issued_at, nonce),
            headers={"content-type": "application/json"},
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
        return signed_batch_from_json(from_json(resp.content))  # ~3x json.loads


InstanceFactory = Callable[[], dict[int, OracleInstance]]
