"""The auditor's pages: trace a document, a trip, a declaration or a company as one timeline,
each entry re-verified."""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from nodes.documents.trace import trace_document
from nodes.transport.trace import trace_trip
from nodes.web.access import PREFIX, NodeDep, Viewer, role
from nodes.web.declaration_trace import trace_company, trace_declaration
from nodes.web.render import ConsoleRoute, page

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

TRACERS = ("auditor", "officer")
_HASH = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_TRIP = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


@router.get("/trace")
def trace_form(
    request: Request,
    ctx: NodeDep,
    doc: str | None = None,
    trip: str | None = None,
    declaration: str | None = None,
    importer: str | None = None,
    v: Viewer = Depends(role(*TRACERS)),
) -> Response:
    """The search form; with `doc`, `trip`, `declaration` or `importer` filled in, go to
    that trace."""
    error = None
    if doc is not None and doc.strip():
        value = doc.strip()
        if _HASH.match(value):
            h = value.lower() if value.startswith("0x") else "0x" + value.lower()
            return RedirectResponse(f"{PREFIX}/trace/documents/{h}", status_code=303)
        error = f"{value[:80]!r} is not a document hash (0x and 64 hex digits)"
    if trip is not None and trip.strip():
        value = trip.strip()
        if _TRIP.match(value):
            return RedirectResponse(f"{PREFIX}/trace/trips/{value}", status_code=303)
        error = f"{value[:80]!r} is not a trip id (1-64 letters, digits, _ . : -)"
    for field, where in ((declaration, "declarations"), (importer, "companies")):
        if field is not None and field.strip():
            value = field.strip()
            if _ID.match(value) and value not in (".", ".."):
                return RedirectResponse(f"{PREFIX}/trace/{where}/{quote(value, safe='')}", 303)
            error = f"{value[:80]!r} is not an id (1-64 letters, digits, _ . : -)"
    recent_docs = ctx.documents.outbox.documents(limit=5)
    recent_in = ctx.documents.inbox.list(limit=5)
    recent_trips = ctx.transport.trips.list(limit=5)
    recent_decl = ctx.clearance.list(5)
    return page(
        request,
        "trace.html",
        v,
        title="Trace",
        error=error,
        recent_docs=recent_docs,
        recent_in=recent_in,
        recent_trips=recent_trips,
        recent_decl=recent_decl,
    )


@router.get("/trace/documents/{doc_hash}")
async def trace_doc(
    request: Request,
    doc_hash: str,
    ctx: NodeDep,
    v: Viewer = Depends(role(*TRACERS)),
) -> Response:
    result = await run_in_threadpool(trace_document, ctx.documents, doc_hash)
    ok = all(e["reverified"]["ok"] for e in result["timeline"])
    return page(request, "trace_document.html", v, title="Document trace", t=result, all_ok=ok)


@router.get("/trace/trips/{trip_id}")
async def trace_trip_page(
    request: Request,
    trip_id: str,
    ctx: NodeDep,
    v: Viewer = Depends(role(*TRACERS)),
) -> Response:
    result = await run_in_threadpool(trace_trip, ctx.transport, trip_id)
    return page(request, "trace_trip.html", v, title=f"Trip trace {trip_id}", t=result)


@router.get("/trace/declarations/{declaration_id}")
async def trace_declaration_page(
    request: Request,
    declaration_id: str,
    ctx: NodeDep,
    v: Viewer = Depends(role(*TRACERS)),
) -> Response:
    result = await run_in_threadpool(trace_declaration, ctx, declaration_id)
    ok = all(e["reverified"]["ok"] for e in result["timeline"])
    return page(
        request,
        "trace_declaration.html",
        v,
        title=f"Declaration trace {declaration_id}",
        t=result,
        all_ok=ok,
    )


@router.get("/trace/companies/{importer_id}")
async def trace_company_page(
    request: Request,
    importer_id: str,
    ctx: NodeDep,
    v: Viewer = Depends(role(*TRACERS)),
) -> Response:
    result = await run_in_threadpool(trace_company, ctx, importer_id)
    ok = all(d["reverified"]["ok"] for d in result["declarations"])
    return page(
        request,
        "trace_company.html",
        v,
        title=f"Company trace {importer_id}",
        t=result,
        all_ok=ok,
    )
