"""Bonded trips over HTTP: devices, trip start / status / close, event proofs."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, field_validator

from chain.transport import MAX_REASON_BYTES, Outcome
from nodes.api.deps import AfterId, NodeDep, OfficerDep, RowId, UserDep
from nodes.api.responses import (
    AnchoredOut,
    DeviceOut,
    EventProofOut,
    IngestOut,
    ProofCheckOut,
    TripClosedOut,
    TripEventOut,
    TripOut,
    TripRowOut,
    TripStatusOut,
)

router = APIRouter(tags=["transport"])

_ID = r"^[A-Za-z0-9_.:-]{1,64}$"


class DeviceIn(BaseModel):
    device: str = Field(pattern=_ID)
    public_key: str = Field(description="Ed25519 public key, 32 bytes as hex")


class TripIn(BaseModel):
    trip: str = Field(pattern=_ID)
    device: str = Field(pattern=_ID)
    seal_id: str = Field(pattern=_ID)
    vehicle_id: str = Field(pattern=_ID)
    origin: str
    destination: str
    corridor: str | None = None
    deadline: float | str = Field(description="Unix seconds or ISO 8601 with a time zone")

    @field_validator("deadline")
    @classmethod
    def _unix(cls, v: float | str) -> float:
        if isinstance(v, str):
            try:
                when = dt.datetime.fromisoformat(v)
            except ValueError:
                raise ValueError("deadline must be Unix seconds or ISO 8601") from None
            if when.tzinfo is None:
                raise ValueError("an ISO deadline needs a time zone, e.g. 2026-11-25T18:00+08:00")
            return when.timestamp()
        return float(v)


OUTCOMES = [o.name for o in Outcome if o is not Outcome.NONE]


class CloseIn(BaseModel):
    outcome: str | None = Field(
        None,
        description=f"{', '.join(OUTCOMES)}; default: from the alerts once the trip arrived "
        "(a trip that has not arrived needs an outcome and a reason)",
    )
    reason: str = Field(
        "",
        max_length=MAX_REASON_BYTES,
        description=f"why (on chain; at most {MAX_REASON_BYTES} bytes of UTF-8); needed to "
        "close a trip before it arrived and to cancel one",
    )

    @field_validator("outcome")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        if v is not None and (v not in Outcome.__members__ or v == "NONE"):
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        return v


class CancelIn(BaseModel):
    reason: str = Field(min_length=1, max_length=MAX_REASON_BYTES, description="why (on chain)")


@router.post(
    "/devices",
    response_model=DeviceOut,
    status_code=201,
    summary="Register an on-board unit's public key",
)
def register_device(body: DeviceIn, ctx: NodeDep, _: OfficerDep) -> dict[str, Any]:
    return ctx.transport.register_device(body.device, body.public_key)


@router.post(
    "/trips",
    response_model=TripOut,
    status_code=201,
    summary="Start a bonded trip (on chain) for a device",
)
async def start_trip(body: TripIn, ctx: NodeDep, u: OfficerDep) -> dict[str, Any]:
    trip = await run_in_threadpool(
        ctx.transport.start_trip,
        trip_id=body.trip,
        device=body.device,
        seal_id=body.seal_id,
        vehicle_id=body.vehicle_id,
        origin=body.origin,
        destination=body.destination,
        deadline=float(body.deadline),
        corridor=body.corridor,
        by=u.user,
    )
    return trip.to_json()


@router.get("/trips", response_model=list[TripRowOut], summary="Trips of this node, newest first")
def list_trips(
    ctx: NodeDep,
    _: UserDep,
    state: Annotated[str | None, Query(pattern="^(open|arrived|closed)$")] = None,
) -> list[dict[str, Any]]:
    return ctx.transport.list_trips(state)


@router.get(
    "/trips/ingest", response_model=IngestOut, summary="MQTT ingestion: broker, connection, counts"
)
def ingest_status(ctx: NodeDep, _: UserDep) -> dict[str, Any]:
    return ctx.transport.ingest_status()


@router.get(
    "/trips/{trip_id}",
    response_model=TripStatusOut,
    summary="A trip: events, last point, alerts, anchoring, chain",
)
async def trip_status(trip_id: str, ctx: NodeDep, _: UserDep) -> dict[str, Any]:
    return await run_in_threadpool(ctx.transport.status, trip_id)


@router.get(
    "/trips/{trip_id}/events",
    response_model=list[TripEventOut],
    summary="A trip's stored events in device-time order",
)
def trip_events(
    trip_id: str,
    ctx: NodeDep,
    _: UserDep,
    after_id: AfterId = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    return ctx.transport.events(trip_id, after_id, limit)


@router.post(
    "/trips/{trip_id}/anchor",
    response_model=AnchoredOut,
    summary="Anchor the trip's waiting events now",
)
async def anchor_now(trip_id: str, ctx: NodeDep, _: OfficerDep) -> dict[str, Any]:
    ctx.transport.trip(trip_id)
    roots = await run_in_threadpool(ctx.transport.evidence.anchor_due, trip_id)
    return {"trip": trip_id, "anchored": roots}


@router.post(
    "/trips/{trip_id}/close",
    response_model=TripClosedOut,
    summary="Close a trip on chain with an outcome",
)
async def close_trip(
    trip_id: str,
    ctx: NodeDep,
    _: OfficerDep,
    body: CloseIn | None = None,
) -> dict[str, Any]:
    outcome = Outcome[body.outcome] if body is not None and body.outcome else None
    reason = body.reason if body is not None else ""
    return await run_in_threadpool(ctx.transport.close, trip_id, outcome, reason)


@router.post(
    "/trips/{trip_id}/cancel",
    response_model=TripClosedOut,
    summary="Cancel a trip on chain, with the reason",
)
async def cancel_trip(
    trip_id: str,
    body: CancelIn,
    ctx: NodeDep,
    _: OfficerDep,
) -> dict[str, Any]:
    return await run_in_threadpool(ctx.transport.close, trip_id, Outcome.CANCELLED, body.reason)


@router.get(
    "/trips/events/{event_id}/proof",
    response_model=EventProofOut,
    summary="An event, its signed payload, Merkle proof and anchoring transaction",
)
async def prove(event_id: RowId, ctx: NodeDep, _: UserDep) -> dict[str, Any]:
    return await run_in_threadpool(ctx.transport.prove, event_id)


@router.post(
    "/trips/proofs/verify",
    response_model=ProofCheckOut,
    summary="Re-check a proof document against the chain",
)
async def verify_proof(doc: dict[str, Any], ctx: NodeDep, _: UserDep) -> dict[str, Any]:
    raw = doc.get("event")
    event = raw if isinstance(raw, dict) else {}
    key = ctx.transport.devices.verify_key(str(event.get("device", "")))
    return await run_in_threadpool(ctx.transport.evidence.check_proof, doc, key)
