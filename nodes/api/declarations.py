"""Declarations and permits over HTTP: attested clearance decisions, officer re-routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from nodes.api.deps import node, require_role, user
from nodes.api.documents import read_capped
from nodes.auth import NodeUser
from nodes.context import NodeContext
from nodes.errors import ApiError
from offchain.declarations import check_dates
from offchain.keystore import role_account_name
from offchain.permits import load_permit, permit_id_bytes

router = APIRouter(tags=["clearance"])


class RerouteIn(BaseModel):
    channel: str = Field(pattern="^C[123]$")
    reason: str = Field(min_length=3, max_length=500)


@router.post(
    "/declarations",
    status_code=201,
    summary="Lodge a declaration (XML or JSON body): attested channel, duties and reasons",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/xml": {"schema": {"type": "string"}},
            },
            "required": True,
        }
    },
)
async def declare(
    request: Request,
    ctx: NodeContext = Depends(node),
    u: NodeUser = Depends(require_role("exporter", "officer")),
) -> JSONResponse:
    body = await read_capped(request, ctx.settings.documents.max_xml_bytes)
    svc = ctx.clearance
    decl = svc.parse(body, request.headers.get("content-type", "application/json"))
    check_dates(decl, ctx.settings.dates.declarations)
    out = await run_in_threadpool(svc.declare, decl, u.user)
    return JSONResponse(out, status_code=200 if out.get("duplicate") else 201)


@router.get("/declarations", summary="Declarations lodged through this node, newest first")
def list_declarations(
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ctx: NodeContext = Depends(node),
    _: NodeUser = Depends(user),
) -> list[dict[str, Any]]:
    return ctx.clearance.list(limit)


@router.get("/declarations/stats", summary="Declarations per channel and per selectivity rule")
def declaration_stats(
    ctx: NodeContext = Depends(node), _: NodeUser = Depends(user)
) -> dict[str, Any]:
    return ctx.clearance.stats()


@router.get("/declarations/{declaration_id}", summary="One declaration and its decision")
def get_declaration(
    declaration_id: str, ctx: NodeContext = Depends(node), _: NodeUser = Depends(user)
) -> dict[str, Any]:
    rec = ctx.clearance.get(declaration_id)
    if rec is None:
        raise ApiError(404, "unknown_declaration", f"no declaration {declaration_id} on this node")
    return rec


@router.post(
    "/declarations/{declaration_id}/reroute",
    summary="An officer sends a declaration to another channel, with a reason",
)
def reroute(
    declaration_id: str,
    body: RerouteIn,
    ctx: NodeContext = Depends(node),
    u: NodeUser = Depends(require_role("officer")),
) -> dict[str, Any]:
    return ctx.clearance.reroute(declaration_id, body.channel, u.user, body.reason)


@router.post("/permits", status_code=201, summary="Issue a permit (permit JSON body)")
async def issue_permit(
    request: Request,
    ctx: NodeContext = Depends(node),
    _: NodeUser = Depends(require_role("agency")),
) -> dict[str, Any]:
    permit = load_permit(await read_capped(request, 64 * 1024))
    if permit.agency != ctx.member.id:
        raise ApiError(
            403,
            "wrong_agency",
            f"the permit names {permit.agency} as its agency; this node is {ctx.member.id}",
        )
    sender = ctx.chain.sender(role_account_name(ctx.member.id, "PERMIT_AGENCY"))
    result = await run_in_threadpool(ctx.chain.permits.issue, sender, permit)
    return result.to_json()


@router.get("/permits/{permit_id}", summary="A permit as the chain records it")
def get_permit(
    permit_id: str, ctx: NodeContext = Depends(node), _: NodeUser = Depends(user)
) -> dict[str, Any]:
    view = ctx.chain.permits.permit(permit_id_bytes(permit_id))
    if view is None:
        raise ApiError(404, "unknown_permit", f"no permit {permit_id} on chain")
    return view.to_json()
