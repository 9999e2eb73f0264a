"""Rules over ingested trip events, run inside the ingest transaction; alerts out.

The ingester calls `on_batch(tx, stored, refused)` with each committed batch: events are
grouped per trip, sorted by device time and run through the RulePipeline; the alerts are
written in the same transaction (offchain.alerts), so an event and its alert commit together.

Late points: MQTT QoS 1 and device buffering deliver out of order.  A point older than the
last one the rules saw is stored and anchored like any other, and judged on its own (a
scratch copy of the trip's state, so an episode already open is not raised twice); an alert
it raises says "late point".

A trip's clock: the silent-trip rules (signal lost, deadline) need "now".  It is the device
time of the last point plus the wall time since the node last heard from the trip; for a
live device that is the wall clock, and a replay of a recorded trip (the simulator
backdates) is judged on its own timeline instead of looking silent for hours.

Refused messages on a started trip's topic (bad signature — a swapped key —, unknown device,
device not bound to the trip, a sequence number reused with other content) raise a critical
alert, at most one per trip and reason every ten minutes.

State: per-trip rule state lives in memory.  After a restart (or if the hook failed) it is
rebuilt by replaying the trip's stored events; alerts are unique per (trip, kind, ts), so a
replay does not repeat them.
"""

from __future__ import annotations

import copy
import logging
import math
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from nodes.transport.trips import OPEN, TripBook
from offchain.alerts import AlertStore, NewAlert
from offchain.devices import parse_topic
from offchain.ingest import GPS_SPOOFING, Refused, StoredEvent
from offchain.transport_rules import CRITICAL, Alert, RulePipeline, SealState, TripContext

log = logging.getLogger(__name__)

SOURCE = "transport"
SUSPICIOUS = {
    "bad_signature": "signature does not verify with the device's registered key "
    "(swapped device or key?)",
    "unknown_device": "message from a device this node does not know",
    "wrong_trip": "device is not bound to this trip",
    "seq_conflict": "sequence number reused with different content",
}
REFUSAL_WINDOW_S = 600


def _seal_code(state: str) -> int:
    return int(SealState[state])


class TripMonitor:
    def __init__(
        self,
        trips: TripBook,
        pipeline: RulePipeline,
        alerts: AlertStore,
        *,
        clock: Callable[[], float] = time.time,
        on_alert: Callable[[list[NewAlert]], None] | None = None,
    ) -> None:
        self.trips = trips
        self.pipeline = pipeline
        self.alerts = alerts
        self.clock = clock
        self.on_alert = on_alert
        self._contexts: dict[str, TripContext] = {}
        self._heard: dict[str, float] = {}  # trip -> wall time of its last stored point
        self._lock = threading.RLock()

    # -- ingest hook -------------------------------------------------------------------------

    def on_batch(
        self, tx: sqlite3.Connection, stored: list[StoredEvent], refused: list[Refused]
    ) -> None:
        new: list[NewAlert] = []
        by_trip: dict[str, list[StoredEvent]] = defaultdict(list)
        for ev in stored:
            by_trip[ev.message.trip].append(ev)
        with self._lock:
            for trip_id, events in by_trip.items():
                ctx = self._context(tx, trip_id, exclude={e.id for e in events})
                if ctx is None:
                    continue
                new.extend(self._evaluate(tx, ctx, events))
                self._heard[trip_id] = self.clock()
            new.extend(self._refusals(tx, refused))
        if new:
            AlertStore.add_in(tx, new)
            if self.on_alert is not None:
                self.on_alert(new)

    def on_hook_error(self, exc: BaseException) -> None:
        """The batch was stored without rules: forget the state, replay on next use."""
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._contexts.clear()

    # -- clock-driven rules ------------------------------------------------------------------

    def tick(self) -> list[NewAlert]:
        """Signal lost and deadline passed for open trips, on each trip's clock."""
        now = self.clock()
        new: list[NewAlert] = []
        with self.trips.db.transaction() as tx:
            with self._lock:
                for trip in self.trips.list(OPEN):
                    ctx = self._context(tx, trip.trip, exclude=set())
                    if ctx is None:
                        continue
                    last, heard = ctx.state.last_ts, self._heard.get(trip.trip)
                    trip_now = now if last is None or heard is None else last + (now - heard)
                    new.extend(self._convert(self.pipeline.tick(ctx, trip_now)))
            if new:
                AlertStore.add_in(tx, new)
        if new and self.on_alert is not None:
            self.on_alert(new)
        return new

    # -- internals ---------------------------------------------------------------------------

    def _context(
        self, tx: sqlite3.Connection, trip_id: str, exclude: set[int]
    ) -> TripContext | None:
        ctx = self._contexts.get(trip_id)
        if ctx is not None:
            return ctx
        trip = self.trips.get(trip_id, tx)
        if trip is None:
            return None  # a bound device reporting for a trip this node did not start
        ctx = TripContext(trip.trip, trip.corridor, trip.origin, trip.destination, trip.deadline)
        rows = tx.execute(
            "SELECT id, ts, lat, lon, speed, seal_state, received_at FROM trip_events"
            " WHERE trip = ? ORDER BY ts, id",
            (trip_id,),
        ).fetchall()
        rows = [r for r in rows if r[0] not in exclude]
        self._contexts[trip_id] = ctx
        if rows:
            alerts = self._run(ctx, rows)
            AlertStore.add_in(tx, self._convert(alerts))  # idempotent: same alerts, same rows
            self._heard[trip_id] = max(r[6] for r in rows)
        return ctx

    def _evaluate(
        self, tx: sqlite3.Connection, ctx: TripContext, events: list[StoredEvent]
    ) -> list[NewAlert]:
        rows = sorted(
            (
                (
                    e.id,
                    e.message.ts,
                    e.message.lat,
                    e.message.lon,
                    e.message.speed_kmh,
                    e.message.seal_state,
                    None,
                )
                for e in events
            ),
            key=lambda r: (r[1], r[0]),
        )
        last = ctx.state.last_ts
        in_order = [r for r in rows if last is None or r[1] >= last]
        late = [r for r in rows if last is not None and r[1] < last]
        alerts = self._run(ctx, in_order) if in_order else []
        if late:
            scratch = copy.deepcopy(ctx)
            scratch.state.last_ts = None
            scratch.state.last_x = scratch.state.last_y = math.nan
            scratch.state.arrived_ts = ctx.state.arrived_ts or 0.0  # never "arrives" twice
            alerts += [
                Alert(a.trip, a.kind, a.ts, a.detail + " (late point)", a.severity)
                for a in self._run(scratch, late)
                if a.kind not in ("signal_lost",)  # gaps are judged on the in-order track
            ]
            flagged = {e.id for e in events if e.flag == GPS_SPOOFING}
            alerts += [
                Alert(
                    ctx.trip,
                    "gps_jump",
                    r[1],
                    "implied speed to its neighbours above the limit (late point)",
                    CRITICAL,
                )
                for r in late
                if r[0] in flagged
            ]
        out = self._convert(alerts)
        if ctx.state.arrived_ts is not None:
            self.trips.mark_arrived(tx, ctx.trip, ctx.state.arrived_ts)
        return out

    def _run(self, ctx: TripContext, rows: Sequence) -> list[Alert]:
        arr = list(zip(*[(r[1], r[2], r[3], r[4], _seal_code(r[5])) for r in rows], strict=True))
        ts, lat, lon, speed, seal = (np.asarray(a) for a in arr)
        return self.pipeline.evaluate(ctx, ts, lat, lon, speed, seal)

    def _refusals(self, tx: sqlite3.Connection, refused: list[Refused]) -> list[NewAlert]:
        out = []
        window = math.floor(self.clock() / REFUSAL_WINDOW_S) * REFUSAL_WINDOW_S
        for r in refused:
            parsed = parse_topic(r.topic)
            if parsed is None or r.reason.code not in SUSPICIOUS:
                continue
            trip = self.trips.get(parsed[1], tx)
            if trip is None:
                continue
            out.append(
                NewAlert(
                    SOURCE,
                    trip.trip,
                    f"device_{r.reason.code}",
                    CRITICAL,
                    float(window),
                    f"{SUSPICIOUS[r.reason.code]}: {r.reason.detail}",
                )
            )
        return out

    @staticmethod
    def _convert(alerts: list[Alert]) -> list[NewAlert]:
        return [NewAlert(SOURCE, a.trip, a.kind, a.severity, a.ts, a.detail) for a in alerts]
