"""Cargo manifests over HTTP (advance cargo information): lodge, show, pre-arrival risk,
undeclared lines, cross-checks with the exporting customs, and the node-to-node question
about how an importing customs saw an export manifest."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from nodes.api.deps import NodeDep, ReviewerDep, UserDep, require_role
from nodes.api.documents import read_capped
from nodes.api.responses import (
    CrosscheckOut,
    LodgedManifestOut,
    ManifestDetailOut,
    ManifestLineOut,
    ManifestOut,
    ReconciliationOut,
    TraceOut,
)
from nodes.auth import NodeUser
from nodes.context import NodeContext
from nodes.documents.trace import trace_document

router = APIRouter(tags=["manifests"])

LODGERS = ("carrier", "officer")
LodgerDep = Annotated[NodeUser, Depends(require_role(*LODGERS))]
# The carrier asks how the importing customs saw its export manifest.
ManifestReaderDep = Annotated[NodeUser, Depends(require_role("officer", "carrier", "auditor"))]
ManifestRef = Annotated[
    str,
    Path(
        min_length=1,
        max_length=66,
        pattern=r"^([0-9A-Za-z][0-9A-Za-z._/\-]{0,34}|0x[0-9a-fA-F]{64})$",
        description="manifest id, or the manifest's document hash (0x + 64 hex)",
    ),
]
Sender = Annotated[
    str | None,
    Query(pattern=r"^[A-Z][A-Z0-9_-]{0,30}$", description="member that sent a received manifest"),
]


@router.post(
    "/manifests",
    response_model=LodgedManifestOut,
    status_code=201,
    responses={200: {"model": LodgedManifestOut, "description": "Lodged before (duplicate)"}},
    summary="Lodge a cargo manifest (XML or JSON body): anchored, risk-assessed before arrival",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/xml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
            "required": True,
        }
    },
)
async def lodge(
    request: Request,
    ctx: NodeDep,
    u: LodgerDep,
    wait: Annotated[float, Query(ge=0, le=60, description="seconds to wait for the receipt")] = 0,
) -> JSONResponse:
    body = await read_capped(request, ctx.settings.documents.max_xml_bytes)
    out = await run_in_threadpool(
        ctx.manifests.lodge, body, request.headers.get("content-type"), u.user
    )
    if wait and out["receipt"] is None:
        out = await run_in_threadpool(_wait_receipt, ctx, out, wait)
    return JSONResponse(out, status_code=200 if out["duplicate"] else 201)


def _wait_receipt(ctx: NodeContext, out: dict[str, Any], wait: float) -> dict[str, Any]:
    if out["forwarded_to"]:
        ctx.documents.wait_anchored(out["doc_hash"], wait)
    else:
        ctx.records.wait_anchored(out["doc_hash"], wait)
    return {
        **ctx.manifests.summary(ctx.manifests.find(out["manifest"])),
        "duplicate": out["duplicate"],
    }


@router.get(
    "/manifests",
    response_model=list[ManifestOut],
    summary="Manifests at this node (lodged here or received), newest first",
)
def list_manifests(
    ctx: NodeDep,
    _: UserDep,
    type: Annotated[str | None, Query(pattern="^(IM|EX)$")] = None,
    source: Annotated[str | None, Query(pattern="^(lodged|partner)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    return ctx.manifests.list(type_=type, source=source, limit=limit)


@router.get(
    "/manifests/lines/pre-arrival",
    response_model=list[ManifestLineOut],
    summary="Manifest lines flagged C2/C3 by pre-arrival risk rules, soonest arrival first",
)
def pre_arrival(
    ctx: NodeDep,
    _: ReviewerDep,
    lane: Annotated[str | None, Query(pattern="^C[23]$")] = None,
    arrived_days: Annotated[int, Query(ge=0, le=365)] = 2,
    limit: Annotated[int, Query(ge=1, le=2000)] = 500,
) -> list[dict[str, Any]]:
    return ctx.manifests.pre_arrival(lane=lane, include_arrived_days=arrived_days, limit=limit)


@router.get(
    "/manifests/lines/undeclared",
    response_model=list[ManifestLineOut],
    summary="Arrived manifest lines not fully declared after N days (manifests.undeclared_after_days)",
)
def undeclared(
    ctx: NodeDep,
    _: ReviewerDep,
    days: Annotated[int | None, Query(ge=0, le=365)] = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = 500,
) -> list[dict[str, Any]]:
    return ctx.manifests.undeclared(days=days, limit=limit)


@router.get(
    "/manifests/crosscheck",
    response_model=CrosscheckOut,
    summary="Carrier-reported lines against the exporting customs' lines: differences and gaps",
)
def crosscheck(
    ctx: NodeDep,
    _: ReviewerDep,
    limit: Annotated[int, Query(ge=1, le=2000)] = 500,
) -> dict[str, Any]:
    return ctx.manifests.crosscheck(limit=limit)


@router.post(
    "/manifests/partner/reconciliation",
    response_model=ReconciliationOut,
    summary="Node to node (signed envelope): how this customs saw an export manifest it received",
)
async def reconciliation_for(request: Request, ctx: NodeDep) -> dict[str, Any]:
    body = await read_capped(request, 64 * 1024)
    return await run_in_threadpool(ctx.manifests.reconciliation_for, body, dict(request.headers))


@router.get(
    "/manifests/{ref}",
    response_model=ManifestDetailOut,
    summary="One manifest with its lines, flags and declared shares",
)
def show(
    ref: ManifestRef,
    ctx: NodeDep,
    _: UserDep,
    sender: Sender = None,
) -> dict[str, Any]:
    return ctx.manifests.show(ref, sender)


@router.get(
    "/manifests/{ref}/reconciliation",
    response_model=ReconciliationOut,
    summary="Ask the importing customs (export manifests)",
)
def reconciliation(
    ref: ManifestRef,
    ctx: NodeDep,
    _: ManifestReaderDep,
) -> dict[str, Any]:
    return ctx.manifests.reconciliation(ref)


@router.get(
    "/manifests/{ref}/trace",
    response_model=TraceOut,
    summary="The manifest's anchoring, as an auditor re-verifies it",
)
def trace(
    ref: ManifestRef,
    ctx: NodeDep,
    _: ReviewerDep,
    sender: Sender = None,
) -> dict[str, Any]:
    row = ctx.manifests.find(ref, sender)
    if row["pipeline"] == "records":
        return ctx.records.trace(row["doc_hash"])
    return trace_document(ctx.documents, row["doc_hash"])
