"""The customs officer's pages: inbox, verification, declarations, live alerts and trips."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from nodes.api.alerts import stream_alerts
from nodes.api.deps import MAX_ROW_ID, NewAfterId, RowId
from nodes.context import NodeContext
from nodes.documents.service import DocumentError
from nodes.errors import ApiError
from nodes.transport.monitor import SOURCE as TRANSPORT
from nodes.web.access import PREFIX, NodeDep, Viewer, checked_form, role
from nodes.web.render import ConsoleRoute, page
from nodes.web.tripmap import trip_map
from offchain.alerts import SEVERITIES, UnknownAlert, severities
from offchain.receipt import Receipt

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

OFFICERS = ("officer",)
READERS = ("officer", "auditor")
MAX_RECEIPT_BYTES = 64 * 1024
RECENT_ALERTS = 50
STREAM_SPAN_S = 5.0


# --- documents received from partner customs -------------------------------------------------


@router.get("/inbox")
async def inbox(request: Request, ctx: NodeDep, v: Viewer = Depends(role(*OFFICERS))) -> Response:
    docs = await run_in_threadpool(ctx.documents.inbox.list, limit=200)
    valid = sum(1 for d in docs if d.valid)
    return page(
        request, "inbox.html", v, title="Inbox", docs=docs, valid=valid, invalid=len(docs) - valid
    )


@router.get("/inbox/{doc_hash}/document")
def received_document(doc_hash: str, ctx: NodeDep, v: Viewer = Depends(role(*READERS))) -> Response:
    xml = ctx.documents.open_received(doc_hash)
    return Response(
        xml,
        media_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="document-{doc_hash[2:12]}.xml"'},
    )


# --- verify a file and its receipt -----------------------------------------------------------


@router.get("/verify")
def verify_form(request: Request, ctx: NodeDep, v: Viewer = Depends(role(*READERS))) -> Response:
    return page(
        request,
        "verify.html",
        v,
        title="Verify a document",
        verdict=None,
        max_bytes=ctx.settings.documents.max_xml_bytes,
    )


@router.post("/verify")
async def verify(request: Request, ctx: NodeDep, v: Viewer = Depends(role(*READERS))) -> Response:
    cap = ctx.settings.documents.max_xml_bytes
    form = await checked_form(
        request, v, max_bytes=cap + MAX_RECEIPT_BYTES + 16 * 1024, max_files=2
    )
    upload = form.get("document")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise DocumentError("no_file", "choose the XML file of the document to verify")
    xml = await upload.read(cap + 1)
    if len(xml) > cap:
        raise DocumentError(
            "xml_too_large", f"{upload.filename} is over the {cap:,}-byte limit of this node"
        )
    receipt_text = await _receipt_text(form)
    receipt = Receipt.from_json(receipt_text)  # DocumentRejected invalid_receipt says why
    verdict = (await run_in_threadpool(ctx.documents.verify, xml, receipt)).to_json()
    failing = next((c for c in verdict["checks"] if not c["ok"]), None)
    return page(
        request,
        "verify.html",
        v,
        title="Verify a document",
        verdict=verdict,
        failing=failing,
        filename=upload.filename,
        receipt=receipt.to_json(),
        max_bytes=cap,
    )


async def _receipt_text(form) -> str:
    upload = form.get("receipt_file")
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read(MAX_RECEIPT_BYTES + 1)
        if len(raw) > MAX_RECEIPT_BYTES:
            raise DocumentError("invalid_receipt", "the receipt file is too large to be a receipt")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DocumentError("invalid_receipt", "the receipt file is not UTF-8 JSON") from None
    text = str(form.get("receipt_text") or "").strip()
    if not text:
        raise DocumentError("no_receipt", "add the receipt: choose its JSON file or paste it")
    return text


# --- declarations ----------------------------------------------------------------------------


@router.get("/declarations")
async def declarations(
    request: Request, ctx: NodeDep, v: Viewer = Depends(role(*READERS))
) -> Response:
    rows = await run_in_threadpool(ctx.clearance.list, 200)
    stats = await run_in_threadpool(ctx.clearance.stats)
    return page(request, "declarations.html", v, title="Declarations", rows=rows, stats=stats)


@router.get("/declarations/{declaration_id}")
def declaration(
    request: Request,
    declaration_id: str,
    ctx: NodeDep,
    v: Viewer = Depends(role(*READERS)),
) -> Response:
    rec = ctx.clearance.get(declaration_id)
    if rec is None:
        raise ApiError(404, "unknown_declaration", f"no declaration {declaration_id} on this node")
    release = ctx.payments.refresh_release(declaration_id)
    return page(
        request,
        "declaration.html",
        v,
        title=f"Declaration {declaration_id}",
        d=rec,
        release=release,
    )


# --- alerts ----------------------------------------------------------------------------------


def recent_alerts(
    ctx: NodeContext, subject: str | None = None, severity: tuple[str, ...] | None = None
) -> tuple[list[dict], int]:
    """The latest alerts (newest first) and the id a live stream continues after."""
    store = ctx.transport.alerts
    last = store.last_id()
    if subject is None:
        rows = store.latest(RECENT_ALERTS, severity=severity)
    else:
        rows = store.latest(1000, source=TRANSPORT, subject=subject, severity=severity)
    return rows, last


def _severity_filter(request: Request) -> tuple[str, ...]:
    """`?severity=warning&severity=critical` (checkboxes) or `?severity=warning,critical`;
    every severity when none is chosen."""
    chosen = [p for v in request.query_params.getlist("severity") for p in v.split(",")]
    try:
        return severities(chosen) or SEVERITIES
    except ValueError as exc:
        raise ApiError(400, "invalid_severity", str(exc)) from None


@router.get("/alerts")
async def alerts(request: Request, ctx: NodeDep, v: Viewer = Depends(role(*READERS))) -> Response:
    shown = _severity_filter(request)
    rows, last = await run_in_threadpool(recent_alerts, ctx, None, shown)
    unacked = sum(1 for a in rows if not a["acked_by"])
    return page(
        request,
        "alerts.html",
        v,
        title="Alerts",
        alerts=rows,
        last_id=last,
        subject=None,
        severities=SEVERITIES,
        shown=shown,
        unacked=unacked,
    )


@router.post("/alerts/ack")
async def ack_many(
    request: Request, ctx: NodeDep, v: Viewer = Depends(role(*OFFICERS))
) -> Response:
    """Acknowledge at once every unacknowledged alert of one severity (e.g. all the info
    alerts, "arrived" and "closed") up to the newest the officer's page showed."""
    form = await checked_form(request, v)
    try:
        up_to = int(str(form.get("up_to_id") or ""))
    except ValueError:
        raise ApiError(422, "invalid_request", "up_to_id must be an alert id") from None
    if not 0 <= up_to <= MAX_ROW_ID:
        raise ApiError(422, "invalid_request", "up_to_id is out of range")
    try:
        severity = severities(str(form.get("severity") or "")) or ()
    except ValueError as exc:
        raise ApiError(400, "invalid_severity", str(exc)) from None
    if not severity:
        raise ApiError(400, "invalid_severity", "choose the severity to acknowledge")
    n = await run_in_threadpool(
        ctx.transport.alerts.ack_many, v.name, "acknowledged in bulk", up_to_id=up_to,
        severity=severity,
    )  # fmt: skip
    v.session.flash.append(("ok", f"{n} {'/'.join(severity)} alert(s) acknowledged."))
    back = str(form.get("back") or "")
    target = back if back.startswith(PREFIX + "/") and "//" not in back else PREFIX + "/alerts"
    return RedirectResponse(target, status_code=303)


@router.get("/alerts/stream")
async def alerts_stream(
    request: Request,
    ctx: NodeDep,
    after_id: NewAfterId = None,
    subject: str | None = None,
    severity: str | None = None,
    v: Viewer = Depends(role(*READERS)),
) -> Response:
    """The API's alert stream, authenticated by the console session instead of a header
    (EventSource cannot send headers).

    Each response ends after `STREAM_SPAN_S`; the browser reconnects at once with
    `Last-Event-ID` and misses nothing.  Why: a server stops only when its open responses
    end, so an officer's open tab must not hold up a node's shutdown (or the session's
    expiry: every reconnection checks the session again).
    """
    response = await stream_alerts(
        request,
        after_id=after_id,
        source=None,
        subject=subject,
        severity=severity,
        last_event_id=request.headers.get("last-event-id"),
        ctx=ctx,
        _=v.user,
    )
    # cast: stream_alerts answers a StreamingResponse over its `events()` async generator of
    # str, which Starlette keeps as the body iterator as is (it is typed for any content)
    body = cast(AsyncGenerator[str, None], response.body_iterator)
    response.body_iterator = _bounded(body, STREAM_SPAN_S)
    return response


async def _bounded(body: AsyncGenerator[str, None], span_s: float) -> AsyncIterator[str]:
    """`body` for at most `span_s` seconds; reconnecting clients are told to come back fast."""
    deadline = time.monotonic() + span_s
    try:
        while (left := deadline - time.monotonic()) > 0:
            try:
                chunk = await asyncio.wait_for(anext(body), left)
            except (StopAsyncIteration, TimeoutError):
                return
            yield "retry: 250\n\n" if chunk.startswith("retry:") else chunk
    finally:
        await body.aclose()


@router.post("/alerts/{alert_id}/ack")
async def ack(
    request: Request,
    alert_id: RowId,
    ctx: NodeDep,
    v: Viewer = Depends(role(*OFFICERS)),
) -> Response:
    form = await checked_form(request, v)
    note = str(form.get("note") or "")[:500]
    try:
        done = ctx.transport.alerts.ack(alert_id, v.name, note)
    except UnknownAlert as exc:
        raise ApiError(404, exc.code, str(exc)) from None
    v.session.flash.append(("ok", f"Alert {alert_id} acknowledged by {done.get('acked_by')}."))
    back = str(form.get("back") or "")
    target = back if back.startswith(PREFIX + "/") and "//" not in back else PREFIX + "/alerts"
    return RedirectResponse(target, status_code=303)


# --- trips -----------------------------------------------------------------------------------


@router.get("/trips")
async def trips(
    request: Request,
    ctx: NodeDep,
    state: str | None = None,
    v: Viewer = Depends(role(*READERS)),
) -> Response:
    rows = await run_in_threadpool(ctx.transport.list_trips, state or None)
    return page(request, "trips.html", v, title="Trips", trips=rows, state=state or "")


def _trip_page_data(ctx: NodeContext, trip_id: str) -> dict[str, Any]:
    status = ctx.transport.status(trip_id)
    events = [
        dict(r)
        for r in ctx.db.query(
            "SELECT id, seq, ts, lat, lon, speed, seal_state, flag FROM trip_events"
            " WHERE trip = ? ORDER BY ts, id LIMIT 5000",
            (trip_id,),
        )
    ]
    alerts, last = recent_alerts(ctx, trip_id)
    drawing = trip_map(
        ctx.settings.transport.zones_file,
        ctx.settings.transport.corridors_file,
        status,
        events,
        alerts,
    )
    return {"t": status, "events": events, "alerts": alerts, "last_id": last, "map": drawing}


@router.get("/trips/{trip_id}")
async def trip(
    request: Request,
    trip_id: str,
    ctx: NodeDep,
    v: Viewer = Depends(role(*READERS)),
) -> Response:
    data = await run_in_threadpool(_trip_page_data, ctx, trip_id)
    return page(request, "trip.html", v, title=f"Trip {trip_id}", subject=trip_id, **data)
