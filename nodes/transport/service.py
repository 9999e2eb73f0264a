"""Bonded trips at a member node: devices, trip start and close, ingestion, rules, evidence.

One object per node wires the parts that exist on their own elsewhere: the device registry
and the ingester (offchain), the rule pipeline behind `TripMonitor`, the Merkle evidence
(`TripEvidence`) and the TransportLedger facade.  A worker thread (`TransportWorker`) keeps
the ingester connected (the broker may be down at start or restart later), runs the
clock-driven rules, anchors each trip's events every `anchor_every_events` events or
`anchor_interval_s` seconds, and closes arrived trips on chain once their events are
anchored.

Outcome of a trip at close (unless an officer gives one): SEAL_BROKEN if the seal was seen
open or tampered outside a zone, OVERDUE if it arrived after its deadline (or never did and
an officer closes it after the deadline), ARRIVED_WITH_ALERTS if any warning or critical
alert was raised, else ARRIVED_INTACT.  An officer may end a trip that has not arrived at
any time: with an outcome and a reason (closed early), or as CANCELLED with a reason; the
reason goes on chain with the outcome.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from eth_utils import keccak

from chain.context import Chain
from chain.errors import ChainError, ContractReverted
from chain.transport import MAX_REASON_BYTES, Outcome
from nodes.transport.evidence import TripEvidence
from nodes.transport.monitor import SOURCE, TripMonitor
from nodes.transport.trips import ARRIVED, CLOSED, ID_RE, OPEN, Trip, TripBook
from offchain.alerts import AlertStore, NewAlert
from offchain.db import Database
from offchain.devices import DeviceRegistry
from offchain.errors import OffchainError
from offchain.geo import Corridor, GeoIndex
from offchain.hexbytes import hex0x
from offchain.ingest import Ingester, create_tables
from offchain.keystore import role_account_name
from offchain.settings import Settings
from offchain.transport_rules import CRITICAL, WARNING, RuleParams, RulePipeline

log = logging.getLogger(__name__)

SEAL_KINDS = {"seal_open_outside_zone"}
MAX_TRIP_S = 30 * 86400


class TransportError(OffchainError):
    """Codes: unknown_trip, unknown_device (404), trip_exists, trip_closed, not_arrived,
    not_overdue (409), unknown_zone, no_corridor, invalid_trip, invalid_device,
    reason_required, invalid_reason (400)."""

    code: str = "transport_error"


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def route_hash(corridor: Corridor) -> str:
    """keccak256 of the corridor's canonical JSON (id, ends, buffer, WGS84 coordinates):
    what the trip commits to on chain, so a later change of the corridor file shows."""
    doc = {
        "id": corridor.id,
        "from": corridor.from_zone,
        "to": corridor.to_zone,
        "buffer_m": corridor.buffer_m,
        "coordinates": [[round(x, 7), round(y, 7)] for x, y in corridor.lonlat.coords],
    }
    return hex0x(keccak(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()))


class TransportService:
    def __init__(self, settings: Settings, member_id: str, chain: Chain, db: Database) -> None:
        t = settings.transport
        self.settings, self.member_id, self.chain, self.db = settings, member_id, chain, db
        self.geo = GeoIndex.load(t.zones_file, t.corridors_file)
        # The ingester writes through its own connection, so API reads never wait on its lock.
        self.ingest_db = Database(db.path)
        create_tables(db)  # read by the API and the worker even when this node does not ingest
        self.devices = DeviceRegistry(self.ingest_db)
        self.trips = TripBook(db)
        self.alerts = AlertStore(db)
        self.evidence = TripEvidence(db, chain, member_id)
        self.pipeline = RulePipeline(
            self.geo,
            RuleParams.from_settings(t),
        )
        self.monitor = TripMonitor(self.trips, self.pipeline, self.alerts)
        self.ingester: Ingester | None = None
        self.ingest_error: str | None = None
        self.sender_name = role_account_name(member_id, "VERIFIER")

    # -- devices and trips -------------------------------------------------------------------

    def register_device(self, device_id: str, public_key_hex: str) -> dict[str, Any]:
        try:
            key = bytes.fromhex(public_key_hex.removeprefix("0x"))
        except ValueError:
            raise TransportError("invalid_device", "public_key must be 32 bytes of hex") from None
        if len(key) != 32:
            raise TransportError(
                "invalid_device", f"an Ed25519 public key is 32 bytes, got {len(key)}"
            )
        try:
            self.devices.register_device(device_id, key)  # the ingester's registry too
        except ValueError as exc:
            raise TransportError("invalid_device", str(exc)) from None
        return {"device": device_id, "public_key": key.hex()}

    def corridor_for(self, origin: str, destination: str, corridor_id: str | None) -> Corridor:
        for role, zone in (("origin", origin), ("destination", destination)):
            if zone not in self.geo.zones:
                raise TransportError(
                    "unknown_zone",
                    f"{role} {zone!r} is not a zone; known: {', '.join(sorted(self.geo.zones))}",
                )
        if origin == destination:
            raise TransportError("invalid_trip", "origin and destination must differ")
        ends = {origin, destination}
        found = [c for c in self.geo.corridors.values() if {c.from_zone, c.to_zone} == ends]
        if corridor_id is not None:
            found = [c for c in found if c.id == corridor_id]
        if not found:
            known = ", ".join(
                f"{c.id} ({c.from_zone}-{c.to_zone})" for c in self.geo.corridors.values()
            )
            raise TransportError(
                "no_corridor",
                f"no approved corridor joins {origin} and "
                f"{destination}"
                + (f" named {corridor_id}" if corridor_id else "")
                + f"; corridors: {known}",
            )
        return found[0]

    def start_trip(
        self,
        *,
        trip_id: str,
        device: str,
        seal_id: str,
        vehicle_id: str,
        origin: str,
        destination: str,
        deadline: float,
        by: str,
        corridor: str | None = None,
    ) -> Trip:
        """Start a bonded trip on chain and bind its device; see TransportLedger.startTrip."""
        for name, value in (("trip_id", trip_id), ("seal_id", seal_id), ("vehicle_id", vehicle_id)):
            if not ID_RE.fullmatch(value or ""):
                raise TransportError(
                    "invalid_trip", f"{name} {value!r} must be 1-64 characters of [A-Za-z0-9_.:-]"
                )
        if self.devices.verify_key(device) is None:
            raise TransportError(
                "unknown_device",
                f"device {device!r} is not registered; "
                "register its public key first (POST /devices)",
            )
        now = time.time()
        if not (now < deadline < now + MAX_TRIP_S):
            raise TransportError(
                "invalid_trip",
                f"deadline must be in the future and within {MAX_TRIP_S // 86400} days",
            )
        c = self.corridor_for(origin, destination, corridor)
        if self.trips.get(trip_id) is not None:
            raise TransportError("trip_exists", f"trip {trip_id} was already started")
        rh = route_hash(c)
        tx_hash = None
        try:
            res = self.chain.transport.start_trip(
                self.chain.sender(self.sender_name),
                trip_id,
                seal_id,
                vehicle_id,
                origin,
                destination,
                rh,
                int(deadline),
            )
            tx_hash = res.tx_hash
        except ContractReverted as exc:
            # Started on chain by an earlier call whose answer was lost: adopt it if it is ours.
            view = self.chain.transport.trip(trip_id)
            if exc.error != "TripExists" or view is None or view.member != self.member_id:
                raise
        self.devices.bind(device, trip_id)
        trip = Trip(
            trip_id,
            device,
            seal_id,
            vehicle_id,
            origin,
            destination,
            c.id,
            rh,
            float(int(deadline)),
            OPEN,
            None,
            by,
            now,
            tx_hash,
            None,
            None,
            None,
        )
        self.trips.add(trip)
        return trip

    def trip(self, trip_id: str) -> Trip:
        t = self.trips.get(trip_id)
        if t is None:
            raise TransportError("unknown_trip", f"no trip {trip_id!r} at node {self.member_id}")
        return t

    def status(self, trip_id: str) -> dict[str, Any]:
        t = self.trip(trip_id)
        q = self.db.query
        counts = q(
            "SELECT COUNT(*) AS n, SUM(flag IS NOT NULL) AS flagged, MIN(ts) AS first,"
            " MAX(ts) AS last, MIN(id) AS first_id, MAX(id) AS last_id"
            " FROM trip_events WHERE trip = ?",
            (trip_id,),
        )[0]
        last = q(
            "SELECT id, ts, lat, lon, speed, seal_state FROM trip_events WHERE trip = ?"
            " ORDER BY ts DESC, id DESC LIMIT 1",
            (trip_id,),
        )
        batches = q(
            "SELECT state, COUNT(*) AS n, SUM(count) AS events FROM trip_batches"
            " WHERE trip = ? GROUP BY state",
            (trip_id,),
        )
        anchored = {r["state"]: {"batches": r["n"], "events": r["events"]} for r in batches}
        chain_view = None
        try:
            v = self.chain.transport.trip(trip_id)
            chain_view = v.to_json() if v is not None else None
        except ChainError as exc:
            chain_view = {"error": exc.code, "detail": str(exc)}
        return {
            **t.to_json(),
            "events": counts["n"],
            "flagged": counts["flagged"] or 0,
            "first_ts": counts["first"],
            "last_ts": counts["last"],
            "event_ids": (
                {"first": counts["first_id"], "last": counts["last_id"]} if counts["n"] else None
            ),
            "last_point": dict(last[0]) if last else None,
            "alerts": self.alerts.counts(SOURCE, trip_id),
            "anchored": anchored,
            "chain": chain_view,
        }

    def events(self, trip_id: str, after_id: int = 0, limit: int = 500) -> list[dict[str, Any]]:
        """A trip's stored events in device-time order (UnknownTrip if there is no such trip)."""
        self.trip(trip_id)
        rows = self.db.query(
            "SELECT id, device, seq, ts, lat, lon, speed, seal_id, seal_state, flag, received_at"
            " FROM trip_events WHERE trip = ? AND id > ? ORDER BY ts, id LIMIT ?",
            (trip_id, after_id, limit),
        )
        return [dict(r) for r in rows]

    def list_trips(self, state: str | None = None) -> list[dict[str, Any]]:
        if state not in (None, OPEN, ARRIVED, CLOSED):
            raise TransportError("invalid_trip", f"state must be {OPEN}, {ARRIVED} or {CLOSED}")
        rows = self.db.query("SELECT trip, COUNT(*) AS n FROM trip_events GROUP BY trip")
        events = {r["trip"]: r["n"] for r in rows}
        return [{**t.to_json(), "events": events.get(t.trip, 0)} for t in self.trips.list(state)]

    def outcome_for(self, t: Trip) -> Outcome:
        counts = self.alerts.counts(SOURCE, t.trip)
        if any(k in counts for k in SEAL_KINDS):
            return Outcome.SEAL_BROKEN
        if t.arrived_at is None or t.arrived_at > t.deadline:
            return Outcome.OVERDUE
        rows = self.db.query(
            "SELECT COUNT(*) FROM alerts WHERE source = ? AND subject = ? AND severity IN (?, ?)",
            (SOURCE, t.trip, WARNING, CRITICAL),
        )
        return Outcome.ARRIVED_WITH_ALERTS if rows[0][0] else Outcome.ARRIVED_INTACT

    def _closing(self, t: Trip, outcome: Outcome | None, reason: str) -> Outcome:
        """The outcome to close `t` with, refusing what the chain would refuse, in words an
        officer can act on (the deadline as a UTC time, what to pass instead)."""
        try:
            size = len(reason.encode())
        except UnicodeEncodeError:  # a lone surrogate from JSON: not text UTF-8 can carry
            raise TransportError("invalid_reason", "the reason is not valid Unicode text") from None
        if size > MAX_REASON_BYTES:
            raise TransportError(
                "invalid_reason",
                f"the reason has {size} bytes of UTF-8; at most {MAX_REASON_BYTES} go on chain",
            )
        now = time.time()
        due = _utc(t.deadline)
        if outcome is Outcome.OVERDUE and now <= t.deadline:
            raise TransportError(
                "not_overdue",
                f"trip {t.trip} is not overdue: its deadline is {due}; to end it now, close "
                "it with another outcome and a reason, or cancel it with a reason",
            )
        if outcome is Outcome.CANCELLED and not reason:
            raise TransportError("reason_required", f"say why trip {t.trip} is cancelled")
        if t.state == OPEN and now <= t.deadline:  # ended before it arrived: an early close
            if outcome is None:
                raise TransportError(
                    "not_arrived",
                    f"trip {t.trip} has not arrived and its deadline {due} has not passed; "
                    "to end it now give an outcome and a reason (closed early), or cancel "
                    "it with a reason",
                )
            if not reason:
                raise TransportError(
                    "reason_required",
                    f"trip {t.trip} has not arrived: say why it is closed early",
                )
        return outcome or self.outcome_for(t)

    def close(
        self, trip_id: str, outcome: Outcome | None = None, reason: str = ""
    ) -> dict[str, Any]:
        """Anchor what is left, then close on chain (idempotent if already closed there).

        A trip that arrived closes with the outcome its alerts imply (or the officer's); one
        that has not arrived closes early only with an outcome and a reason, or as
        CANCELLED with a reason, or as OVERDUE once its deadline passed.
        """
        t = self.trip(trip_id)
        if t.state == CLOSED:
            raise TransportError("trip_closed", f"trip {trip_id} was closed ({t.outcome})")
        reason = (reason or "").strip()
        outcome = self._closing(t, outcome, reason)
        roots = self.evidence.anchor_due(trip_id)
        tx_hash = None
        try:
            tx_hash = self.chain.transport.close_trip(
                self.chain.sender(self.sender_name), trip_id, outcome, reason
            ).tx_hash
        except ContractReverted as exc:
            if exc.error != "TripAlreadyClosed":
                raise
        self.trips.mark_closed(trip_id, outcome.name, tx_hash, reason)
        detail = f"trip closed on chain: {outcome.name}" + (f" ({reason})" if reason else "")
        self.alerts.add([NewAlert(SOURCE, trip_id, "closed", "info", time.time(), detail)])
        return {
            "trip": trip_id,
            "outcome": outcome.name,
            "reason": reason,
            "tx": tx_hash,
            "anchored": roots,
        }

    def prove(self, event_id: int) -> dict[str, Any]:
        return self.evidence.prove(event_id)

    # -- ingestion ---------------------------------------------------------------------------

    def start_ingest(self, timeout_s: float = 5.0) -> bool:
        """Connect the ingester; False (and `ingest_error` set) if the broker does not answer."""
        if self.ingester is not None:
            return True
        t = self.settings.transport
        ing = Ingester(
            self.ingest_db,
            t.broker_host,
            t.broker_port,
            self.member_id,
            self.devices,
            client_id=f"smartcustoms-node-{self.member_id}",
            max_speed_kmh=t.max_speed_kmh,
            on_batch=self.monitor.on_batch,
            on_hook_error=self.monitor.on_hook_error,
            dates=self.settings.dates.device_fixes,
        )
        try:
            ing.start(timeout_s)
        except (TimeoutError, OSError) as exc:
            self.ingest_error = f"MQTT broker at {t.broker_host}:{t.broker_port}: {exc}"
            return False
        self.ingester, self.ingest_error = ing, None
        return True

    def stop_ingest(self) -> None:
        if self.ingester is not None:
            self.ingester.stop()
            self.ingester = None

    def ingest_status(self) -> dict[str, Any]:
        t = self.settings.transport
        body: dict[str, Any] = {
            "broker": f"{t.broker_host}:{t.broker_port}",
            "enabled": t.ingest,
            "connected": False,
        }
        if self.ingester is not None:
            body.update(connected=self.ingester.connected, **self.ingester.stats())
        if self.ingest_error:
            body["error"] = self.ingest_error
        return body

    # -- periodic work -----------------------------------------------------------------------

    def anchor_due(self, now: float | None = None) -> list[str]:
        """Anchor the events of trips with enough waiting events or waiting long enough."""
        t = self.settings.transport
        now = time.time() if now is None else now
        rows = self.db.query(
            "SELECT e.trip, COUNT(*) AS n, MIN(e.received_at) AS oldest FROM trip_events e"
            " JOIN trips t ON t.trip = e.trip AND t.state != 'closed'"
            " LEFT JOIN trip_batch_events b ON b.event_id = e.id"
            " WHERE b.event_id IS NULL GROUP BY e.trip"
        )
        roots: list[str] = []
        for r in rows:
            if r["n"] >= t.anchor_every_events or now - r["oldest"] >= t.anchor_interval_s:
                roots += self.evidence.anchor_due(r["trip"])
        return roots

    def close_arrived(self) -> list[dict[str, Any]]:
        return [self.close(t.trip) for t in self.trips.list(ARRIVED)]

    def work_once(self) -> None:
        self.monitor.tick()
        self.anchor_due()
        self.close_arrived()

    def close_db(self) -> None:
        self.stop_ingest()
        self.ingest_db.close()


class TransportWorker:
    """The node's transport thread: keep ingesting, tick the rules, anchor, close arrivals."""

    def __init__(self, service: TransportService) -> None:
        self.service = service
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._loop, daemon=True, name=f"{self.service.member_id}-transport"
        )
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.service.stop_ingest()

    def _loop(self) -> None:
        s = self.service
        tick = s.settings.transport.tick_s
        next_connect = 0.0
        while not self._stop.is_set():
            want = s.settings.transport.ingest and s.ingester is None
            if want and time.monotonic() >= next_connect and not s.start_ingest():
                log.warning("transport ingest waiting: %s", s.ingest_error)
                next_connect = time.monotonic() + 5.0
            try:
                s.work_once()
            except (ChainError, OffchainError) as exc:
                log.warning("transport work deferred: %s", exc)
            except Exception:
                log.exception("transport worker failed; retrying")
            self._stop.wait(tick)
