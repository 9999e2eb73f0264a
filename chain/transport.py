"""Typed facade over TransportLedger: bonded trips, anchored event batches, outcomes.

Why a facade: callers (the trip CLI, the ingester's anchoring loop, `trip prove`, tests) speak
in trip numbers ("TRIP-2026-000123"), zone names ("KEELUNG-PORT") and event hashes as bytes
or hex; the contract speaks bytes32.  The conversions, reading results back from events, and
telling "never started" apart from a trip live here once.  Reverts surface as
`chain.errors.ContractReverted` naming the contract's custom error (`NotCustoms`,
`NotTripMember`, `TripExists`, `TripAlreadyClosed`, `RootAlreadyAnchored`, `NotOverdue`,
`ReasonRequired`, ...).

Id forms accepted for trips, seals, vehicles and zones (`trip_id_bytes`):
- a text id, hashed as keccak256 of its UTF-8 bytes ("TRIP-2026-000123");
- the on-chain id as 32 bytes, or as "0x" + 64 hex digits.
Roots, event hashes, route hashes and proof elements are 32 bytes or 0x-hex.

The customs officer's role is VERIFIER: only such accounts of an active member start trips,
and only those of the trip's member anchor its events and close it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_utils import keccak
from web3 import Web3
from web3.logs import DISCARD
from web3.types import TxReceipt

from chain.client import RevertDecoder
from chain.compiler import ContractArtifact
from chain.errors import ContractReverted
from chain.facade import Facade
from chain.ids import member_id_str
from chain.sender import TxSender
from offchain.hexbytes import Bytes32, hex0x, to_bytes32

IdRef = str | bytes
"""A text id (hashed), or the 32-byte on-chain id (bytes or 0x-hex)."""

_HEX32 = re.compile(r"0x[0-9a-fA-F]{64}")


class Outcome(IntEnum):
    """How a trip ended (the contract's `Outcome`); NONE while it is open."""

    NONE = 0
    ARRIVED_INTACT = 1
    ARRIVED_WITH_ALERTS = 2
    SEAL_BROKEN = 3
    OVERDUE = 4
    CANCELLED = 5


MAX_REASON_BYTES = 256
"""TransportLedger.MAX_REASON_BYTES: the longest closing reason, in UTF-8 bytes."""


def trip_id_bytes(text: str) -> bytes:
    """The on-chain id of a trip, seal, vehicle or zone: keccak256 of its UTF-8 text."""
    if not text:
        raise ValueError("an id must not be empty")
    return keccak(text=text)


@dataclass(frozen=True)
class StartResult:
    """A started trip (from its TripStarted event)."""

    trip_id: bytes
    member: str
    by: str
    tx_hash: str
    block: int

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "trip_id": hex0x(self.trip_id)}


@dataclass(frozen=True)
class AnchorResult:
    """An anchored batch of a trip's events: what an event's proof receipt points to."""

    root: bytes
    tx_hash: str
    block: int

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "root": hex0x(self.root)}


@dataclass(frozen=True)
class CloseResult:
    """A closed trip (from its TripClosed event)."""

    trip_id: bytes
    outcome: Outcome
    by_member: str
    by: str
    tx_hash: str
    block: int
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "trip_id": hex0x(self.trip_id), "outcome": self.outcome.name}


@dataclass(frozen=True)
class TripView:
    """A trip as the contract records it; times in unix seconds."""

    trip_id: bytes
    seal_id: bytes
    vehicle_id: bytes
    origin_zone: bytes
    destination_zone: bytes
    route_hash: bytes
    member: str
    deadline: int
    started_at: int
    last_event_ts: int
    event_count: int
    outcome: Outcome

    @property
    def open(self) -> bool:
        return self.outcome is Outcome.NONE

    def to_json(self) -> dict[str, Any]:
        raw = ("trip_id", "seal_id", "vehicle_id", "origin_zone", "destination_zone", "route_hash")
        return {
            **self.__dict__,
            **{k: hex0x(getattr(self, k)) for k in raw},
            "outcome": self.outcome.name,
            "open": self.open,
        }


@dataclass(frozen=True)
class BatchView:
    """An anchored batch of one trip's events."""

    root: bytes
    trip_id: bytes
    count: int
    first_ts: int
    last_ts: int
    anchored_at: int

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "root": hex0x(self.root), "trip_id": hex0x(self.trip_id)}


class TransportLedger(Facade):
    """Trips, event anchoring, closing and lookups on one deployed TransportLedger."""

    name = "TransportLedger"

    def start_trip(
        self,
        sender: TxSender,
        trip_id: IdRef,
        seal_id: IdRef,
        vehicle_id: IdRef,
        origin: IdRef,
        destination: IdRef,
        route_hash: Bytes32,
        deadline: int,
    ) -> StartResult:
        """Start a trip from a VERIFIER (customs officer) account of an active member.

        ContractReverted: NotCustoms, ZeroId, SameZone, DeadlineInPast (deadline not after the
        chain's clock), TripExists (ids are used once, even after closing).
        """
        raw = _id(trip_id, "trip_id")
        fn = self.contract.functions.startTrip(
            raw,
            _id(seal_id, "seal_id"),
            _id(vehicle_id, "vehicle_id"),
            _id(origin, "origin"),
            _id(destination, "destination"),
            to_bytes32(route_hash, "route_hash"),
            deadline,
        )
        receipt = sender.transact(fn)
        for event in self.contract.events.TripStarted().process_receipt(receipt, errors=DISCARD):
            a = event["args"]
            if bytes(a["tripId"]) == raw:
                return StartResult(
                    trip_id=raw,
                    member=member_id_str(a["member"]),
                    by=a["by"],
                    tx_hash=Web3.to_hex(receipt["transactionHash"]),
                    block=receipt["blockNumber"],
                )
        raise AssertionError("startTrip receipt has no TripStarted event")

    def anchor_events(
        self,
        sender: TxSender,
        trip_id: IdRef,
        root: Bytes32,
        count: int,
        first_ts: int,
        last_ts: int,
    ) -> AnchorResult:
        """Anchor one batch of an open trip's events (root over `leaf_hash(event_hash)`).

        From a VERIFIER account of the trip's member.  ContractReverted: NotCustoms,
        UnknownTrip, NotTripMember, TripAlreadyClosed, ZeroRoot, ZeroCount, InvalidTimeRange,
        RootAlreadyAnchored.
        """
        raw_root = to_bytes32(root, "root")
        fn = self.contract.functions.anchorEvents(
            _id(trip_id, "trip_id"), raw_root, count, first_ts, last_ts
        )
        receipt = sender.transact(fn)
        return AnchorResult(
            root=raw_root,
            tx_hash=Web3.to_hex(receipt["transactionHash"]),
            block=receipt["blockNumber"],
        )

    def close_trip(
        self, sender: TxSender, trip_id: IdRef, outcome: Outcome, reason: str = ""
    ) -> CloseResult:
        """Close an open trip with its outcome and reason, from a VERIFIER account of the
        trip's member; at arrival or earlier (an early close says why in `reason`).

        ContractReverted: NotCustoms, UnknownTrip, NotTripMember, TripAlreadyClosed (closing
        twice), InvalidOutcome (NONE), NotOverdue (OVERDUE before the deadline has passed),
        ReasonRequired (CANCELLED without a reason), ReasonTooLong (over MAX_REASON_BYTES).
        """
        raw = _id(trip_id, "trip_id")
        fn = self.contract.functions.closeTrip(raw, int(Outcome(outcome)), reason)
        receipt = sender.transact(fn)
        for event in self.contract.events.TripClosed().process_receipt(receipt, errors=DISCARD):
            a = event["args"]
            return CloseResult(
                trip_id=raw,
                outcome=Outcome(a["outcome"]),
                by_member=member_id_str(a["byMember"]),
                by=a["by"],
                tx_hash=Web3.to_hex(receipt["transactionHash"]),
                block=receipt["blockNumber"],
                reason=a["reason"],
            )
        raise AssertionError("closeTrip receipt has no TripClosed event")

    # --- lookups --------------------------------------------------------------------

    def trip(self, trip_id: IdRef) -> TripView | None:
        """The trip, or None if it was never started."""
        raw = _id(trip_id, "trip_id")
        try:
            t = self._call("trip", raw)
        except ContractReverted as exc:
            if exc.error == "UnknownTrip":
                return None
            raise
        return TripView(
            trip_id=raw,
            seal_id=bytes(t.sealId),
            vehicle_id=bytes(t.vehicleId),
            origin_zone=bytes(t.originZone),
            destination_zone=bytes(t.destinationZone),
            route_hash=bytes(t.routeHash),
            member=member_id_str(t.member),
            deadline=t.deadline,
            started_at=t.startedAt,
            last_event_ts=t.lastEventTs,
            event_count=t.eventCount,
            outcome=Outcome(t.outcome),
        )

    def is_open(self, trip_id: IdRef) -> bool:
        return self._call("isOpen", _id(trip_id, "trip_id"))

    def batch(self, root: Bytes32) -> BatchView | None:
        """The batch anchored under `root`, or None if it never was."""
        raw = to_bytes32(root, "root")
        b = self._call("batchOf", raw)
        if b.anchoredAt == 0:
            return None
        return BatchView(raw, bytes(b.tripId), b.count, b.firstTs, b.lastTs, b.anchoredAt)

    def verify_event(self, root: Bytes32, event_hash: Bytes32, proof: Sequence[Bytes32]) -> bool:
        """Whether `root` is anchored and `proof` shows `event_hash` in its batch (on chain)."""
        return self._call(
            "verifyEvent",
            to_bytes32(root, "root"),
            to_bytes32(event_hash, "event_hash"),
            [to_bytes32(p, "proof element") for p in proof],
        )


def deploy(
    sender: TxSender,
    artifact: ContractArtifact,
    registry_address: str,
    decoder: RevertDecoder,
) -> tuple[TransportLedger, TxReceipt]:
    """Deploy a TransportLedger that asks `registry_address` (a ConsortiumRegistry) for roles."""
    return TransportLedger.deploy_new(
        sender, artifact, Web3.to_checksum_address(registry_address), decoder=decoder
    )


def _id(ref: IdRef, what: str) -> bytes:
    if isinstance(ref, str):
        return bytes.fromhex(ref[2:]) if _HEX32.fullmatch(ref) else trip_id_bytes(ref)
    raw = bytes(ref)
    if len(raw) != 32:
        raise ValueError(f"{what} as bytes must be 32 bytes, got {len(raw)}")
    return raw
