"""Declarations and permits over HTTP: attested clearance decisions, officer re-routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from nodes.api.deps import NodeDep, OfficerDep, TraderDep, UserDep, require_role
from nodes.api.documents import read_capped
from nodes.api.responses import (
    DecisionOut,
    DeclarationOut,
    DeclarationStatsOut,
    PermitIssuedOut,
    PermitOut,
)
from nodes.auth import NodeUser
from nodes.errors import ApiError
from offchain.declarations import check_dates
from offchain.keystore import role_account_name
from offchain.permits import load_permit, permit_id_bytes

router = APIRouter(tags=["clearance"])
AgencyDep = Annotated[NodeUser, Depends(require_role("agency"))]


class RerouteIn(BaseModel):
    channel: str = Field(pattern="^C[123]$")
    reason: str = Field(min_length=3, max_length=500)


@router.post(
    "/declarations",
    response_model=DecisionOut,
    status_code=201,
    responses={200: {"model": DecisionOut, "description": "Lodged before: the same decision"}},
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
    ctx: NodeDep,
    u: TraderDep,
) -> JSONResponse:
    body = await read_capped(request, ctx.settings.documents.max_xml_bytes)
    svc = ctx.clearance
    decl = svc.parse(body, request.headers.get("content-type", "application/json"))
    check_dates(decl, ctx.settings.dates.declarations)
    out = await run_in_threadpool(svc.declare, decl, u.user)
    return JSONResponse(out, status_code=200 if out.get("duplicate") else 201)


@router.get(
    "/declarations",
    response_model=list[DeclarationOut],
    summary="Declarations lodged through this node, newest first",
)
def list_declarations(
    ctx: NodeDep,
    _: UserDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    return ctx.clearance.list(limit)


@router.get(
    "/declarations/stats",
    response_model=DeclarationStatsOut,
    summary="Declarations per channel and per selectivity rule",
)
def declaration_stats(ctx: NodeDep, _: UserDep) -> dict[str, Any]:
    return ctx.clearance.stats()


@router.get(
    "/declarations/{declaration_id}",
    response_model=DeclarationOut,
    summary="One declaration and its decision",
)
def get_declaration(declaration_id: str, ctx: NodeDep, _: UserDep) -> dict[str, Any]:
    rec = ctx.clearance.get(declaration_id)
    if rec is None:
        raise ApiError(404, "unknown_declaration", f"no declaration {declaration_id} on this node")
    return rec


@router.post(
    "/declarations/{declaration_id}/reroute",
    response_model=DeclarationOut,
    summary="An officer sends a declaration to another channel, with a reason",
)
def reroute(
    declaration_id: str,
    body: RerouteIn,
    ctx: NodeDep,
    u: OfficerDep,
) -> dict[str, Any]:
    return ctx.clearance.reroute(declaration_id, body.channel, u.user, body.reason)


@router.post(
    "/permits",
    response_model=PermitIssuedOut,
    status_code=201,
    summary="Issue a permit (permit JSON body)",
)
async def issue_permit(
    request: Request,
    ctx: NodeDep,
    _: AgencyDep,
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


@router.get(
    "/permits/{permit_id}", response_model=PermitOut, summary="A permit as the chain records it"
)
def get_permit(permit_id: str, ctx: NodeDep, _: UserDep) -> dict[str, Any]:
    view = ctx.chain.permits.permit(permit_id_bytes(permit_id))
    if view is None:
        raise ApiError(404, "unknown_permit", f"no permit {permit_id} on chain")
    return view.to_json()
