"""Advance cargo information in the console, for officers: lines flagged by pre-arrival risk
rules, one manifest with its lines, and what is left to follow up — lines not declared after
N days, and the carrier's lines that differ from (or are missing in) the exporting customs'
manifest."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from nodes.web.access import PREFIX, NodeDep, Viewer, role
from nodes.web.render import ConsoleRoute, page

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

READERS = ("officer", "auditor")


@router.get("/manifests")
async def pre_arrival(
    request: Request,
    ctx: NodeDep,
    lane: str | None = None,
    v: Viewer = Depends(role(*READERS)),
) -> Response:
    wanted = lane if lane in ("C2", "C3") else None
    lines = await run_in_threadpool(ctx.manifests.pre_arrival, lane=wanted)
    manifests = await run_in_threadpool(ctx.manifests.list, limit=50)
    return page(
        request,
        "manifests.html",
        v,
        title="Pre-arrival risk",
        lines=lines,
        manifests=manifests,
        lane=wanted,
    )


@router.get("/manifests/followup")
async def followup(
    request: Request,
    ctx: NodeDep,
    days: int | None = None,
    v: Viewer = Depends(role(*READERS)),
) -> Response:
    n = days if days is not None and 0 <= days <= 365 else None
    undeclared = await run_in_threadpool(ctx.manifests.undeclared, days=n)
    cross = await run_in_threadpool(ctx.manifests.crosscheck)
    return page(
        request,
        "manifests_followup.html",
        v,
        title="Unmatched lines",
        undeclared=undeclared,
        days=ctx.settings.manifests.undeclared_after_days if n is None else n,
        cross=cross,
    )


@router.get("/manifests/{ref}")
async def manifest_page(
    ref: str,
    request: Request,
    ctx: NodeDep,
    sender: str | None = None,
    v: Viewer = Depends(role(*READERS)),
) -> Response:
    m = await run_in_threadpool(ctx.manifests.show, ref, sender)
    return page(request, "manifest.html", v, title=f"Manifest {m['manifest']}", m=m)
