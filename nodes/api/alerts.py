"""Alerts for officers: list, acknowledge, and a live server-sent-event stream.

The stream reads the alerts table (every source writes there, in the transaction of the data
that raised the alert) from the client's last id: a reconnecting client sends
`Last-Event-ID` (browsers do it themselves) and misses nothing.  A comment line every
`KEEPALIVE_S` keeps proxies from closing a quiet stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from nodes.api.deps import (
    MAX_ROW_ID,
    AfterId,
    NewAfterId,
    NodeDep,
    OfficerDep,
    RowId,
    UserDep,
)
from nodes.api.responses import AckedOut, AlertOut
from nodes.errors import ApiError
from offchain.alerts import severities

router = APIRouter(tags=["alerts"])

POLL_S = 0.25
KEEPALIVE_S = 15.0


class AckIn(BaseModel):
    note: str = Field("", max_length=500)


class AckManyIn(BaseModel):
    up_to_id: int | None = Field(
        None, ge=0, le=MAX_ROW_ID, description="the newest alert id the officer saw (default: now)"
    )
    severity: str | None = Field(None, description="e.g. info, or warning,critical")
    source: str | None = None
    subject: str | None = None
    note: str = Field("", max_length=500)


def _severities(value: str | None) -> str | None:
    try:
        severities(value)
    except ValueError as exc:
        raise ApiError(400, "invalid_severity", str(exc)) from None
    return value


@router.get(
    "/alerts",
    response_model=list[AlertOut],
    summary="Alerts after an id, oldest first (filter by source, subject, severity)",
)
def list_alerts(
    ctx: NodeDep,
    _: UserDep,
    after_id: AfterId = 0,
    source: str | None = None,
    subject: str | None = None,
    kind: str | None = None,
    severity: Annotated[str | None, Query(description="only these, e.g. warning,critical")] = None,
    unacked: bool = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> list[dict[str, Any]]:
    return ctx.transport.alerts.list(
        after_id=after_id,
        source=source,
        subject=subject,
        kind=kind,
        unacked=unacked,
        limit=limit,
        severity=_severities(severity),
    )


@router.post(
    "/alerts/ack",
    response_model=AckedOut,
    summary="Acknowledge many alerts at once (e.g. every info alert)",
)
def ack_alerts(
    body: AckManyIn,
    ctx: NodeDep,
    u: OfficerDep,
) -> dict[str, Any]:
    store = ctx.transport.alerts
    up_to = store.last_id() if body.up_to_id is None else body.up_to_id
    n = store.ack_many(
        u.user,
        body.note,
        up_to_id=up_to,
        severity=_severities(body.severity),
        source=body.source,
        subject=body.subject,
    )
    return {"acknowledged": n, "up_to_id": up_to}


@router.post(
    "/alerts/{alert_id}/ack", response_model=AlertOut, summary="An officer acknowledges an alert"
)
def ack_alert(
    alert_id: RowId,
    ctx: NodeDep,
    u: OfficerDep,
    body: AckIn | None = None,
) -> dict[str, Any]:
    return ctx.transport.alerts.ack(alert_id, u.user, body.note if body else "")


@router.get(
    "/alerts/stream",
    summary="Server-sent events: every new alert as it is stored",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def stream_alerts(
    request: Request,
    ctx: NodeDep,
    _: UserDep,
    after_id: NewAfterId = None,
    source: str | None = None,
    subject: str | None = None,
    severity: str | None = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    store = ctx.transport.alerts
    severity = _severities(severity)
    resume = last_event_id or ""
    if resume.isascii() and resume.isdigit() and len(resume) <= 19 and int(resume) <= MAX_ROW_ID:
        cursor = int(resume)
    elif after_id is not None:
        cursor = after_id
    else:
        cursor = await run_in_threadpool(store.last_id)

    async def events():
        nonlocal cursor
        yield "retry: 2000\n\n"
        quiet_since = time.monotonic()
        while not await request.is_disconnected():
            rows = await run_in_threadpool(
                store.list,
                after_id=cursor,
                source=source,
                subject=subject,
                severity=severity,
                limit=500,
            )
            for r in rows:
                cursor = r["id"]
                yield f"id: {r['id']}\nevent: alert\ndata: {json.dumps(r)}\n\n"
            if rows:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > KEEPALIVE_S:
                quiet_since = time.monotonic()
                yield ": keepalive\n\n"
            await asyncio.sleep(POLL_S)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
