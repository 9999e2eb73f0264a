"""MQTT ingestion of device messages into SQLite, with no loss and no duplicates.

Delivery: a paho client with a fixed client id and a persistent session (MQTT 3.1.1,
clean_session=False) subscribes with QoS 1 to `smartcustoms/<member>/trips/+/events`, so the
broker queues what is published while the ingester is away and redelivers on reconnect.

Acknowledgement: the client runs with `manual_ack`; a PUBACK is sent only *after* the batch
holding the message has been committed.  So there is no window between ack and commit: a
crash loses nothing (unacked messages are redelivered), and a redelivered message that was
already committed is recognised by its (device, seq) and counted as a duplicate.  The price
is that redelivery after a crash can show up in `duplicates`, never as a second row.

Clean stop: the writer commits and acks what is queued, then the broker must *read* those
acks before the socket closes.  A socket closed while the broker is still sending to it is
reset by the kernel, and a reset drops whatever the broker had not yet read, acks included:
the next session would get that batch again (as duplicates).  The broker answers packets
in order, so `stop()` sends a no-op UNSUBSCRIBE and waits for its UNSUBACK first.

Per message, one of three outcomes, nothing silently lost:
- a row in `trip_events` (accepted; `flag = 'gps_spoofing'` when the implied speed to the
  nearest stored neighbour in time exceeds `max_speed_kmh`);
- a row in `rejected_messages` (reason = MessageRejected code, or wrong_trip, wrong_topic,
  seq_conflict: same (device, seq) but different bytes); a rejected payload received again
  bumps `times` of its row;
- the duplicate counter (same device, seq and payload bytes as a stored event: a replay).

One message never holds up the others.  Verification that fails in an unforeseen way refuses
that message as `undecodable`; if a batch still cannot be committed, its messages are stored
one by one, and one that cannot be stored alone is refused as `store_failed` (logged, with
the cause).  Only when even that cannot be written (the database itself is failing) is a
message left unacknowledged for redelivery: an acked message is always on record, and a
poisoned one is never redelivered forever (it would also hold one of the broker's in-flight
slots for this client until then).

Messages are queued by the paho thread and stored by one writer thread, one transaction per
batch (`batch_size` messages or `batch_interval_s`, whichever comes first).

Rules: an `on_batch(tx, accepted, rejected)` hook runs inside that transaction with the
events just stored and the messages just refused, so whatever it writes (alerts) commits or
rolls back with the events.  If the hook raises, the batch is stored again without it (a
broken rule must not stop ingestion: the events are the evidence) and `on_hook_error` is
called so the hook's owner can re-evaluate those events from the database.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from offchain.dates import DateWindow
from offchain.db import Database
from offchain.devices import (
    DeviceMessage,
    DeviceRegistry,
    MessageRejected,
    decode_and_verify,
    parse_topic,
)

log = logging.getLogger(__name__)

GPS_SPOOFING = "gps_spoofing"
_EARTH_RADIUS_M = 6_371_008.8

_MIGRATIONS = [
    """
    CREATE TABLE trip_events (
        id INTEGER PRIMARY KEY,
        trip TEXT NOT NULL,
        device TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts REAL NOT NULL,
        lat REAL NOT NULL,
        lon REAL NOT NULL,
        speed REAL NOT NULL,
        seal_id TEXT NOT NULL,
        seal_state TEXT NOT NULL,
        payload_hash BLOB NOT NULL,
        flag TEXT,
        received_at REAL NOT NULL,
        UNIQUE (device, seq)
    );
    CREATE INDEX trip_events_trip_ts ON trip_events (trip, ts);
    CREATE INDEX trip_events_device_ts ON trip_events (device, ts);
    CREATE TABLE rejected_messages (
        id INTEGER PRIMARY KEY,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        topic TEXT NOT NULL,
        payload_hash BLOB NOT NULL,
        times INTEGER NOT NULL DEFAULT 1,
        received_at REAL NOT NULL,
        UNIQUE (payload_hash, reason)
    );
    """,
    # The exact signed bytes: with them anyone can re-check the signature and the hash that
    # was anchored, so a changed column of a stored event shows.
    "ALTER TABLE trip_events ADD COLUMN payload BLOB;",
]


def create_tables(db: Database) -> None:
    """Create (or migrate) `trip_events` and `rejected_messages`.

    A node reads them whether or not it ingests (`transport.ingest = false`, or a broker
    not reachable yet), so they are made with the node, not with the first connection.
    """
    db.migrate("ingest", _MIGRATIONS)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class StoredEvent:
    """An accepted message and the id of its `trip_events` row."""

    id: int
    message: DeviceMessage
    flag: str | None


@dataclass(frozen=True)
class Refused:
    """A refused message: its topic and why (the trip comes from the topic, if it parses)."""

    topic: str
    reason: MessageRejected


BatchHook = Callable[[Any, list[StoredEvent], list[Refused]], None]


@dataclass(frozen=True)
class _Received:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: float


class _HookFailed(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(repr(cause))
        self.cause = cause


class Ingester:
    """Subscribes to one member's trip events and stores them; see the module docstring."""

    def __init__(
        self,
        db: Database,
        broker_host: str,
        broker_port: int,
        member_id: str,
        device_registry: DeviceRegistry,
        client_id: str,
        *,
        max_speed_kmh: float = 200.0,
        clock: Callable[[], float] = time.time,
        batch_size: int = 500,
        batch_interval_s: float = 0.02,
        on_batch: BatchHook | None = None,
        on_hook_error: Callable[[BaseException], None] | None = None,
        dates: DateWindow | None = None,
    ) -> None:
        self.db = db
        self.dates = dates  # how old a fix may be (None: the `[dates]` default)
        self.on_batch = on_batch
        self.on_hook_error = on_hook_error
        self.member_id = member_id
        self.registry = device_registry
        self.max_speed_kmh = max_speed_kmh
        self.clock = clock
        self.batch_size = batch_size
        self.batch_interval_s = batch_interval_s
        self.topic_filter = f"smartcustoms/{member_id}/trips/+/events"
        self._host, self._port = broker_host, broker_port
        create_tables(db)
        self._queue: queue.Queue[_Received | None] = queue.Queue()
        self._stats: Counter[str] = Counter()
        self._rejected: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        self._accepting = threading.Event()
        self._connected = threading.Event()
        self._flushed = threading.Event()
        self._writer: threading.Thread | None = None
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        # paho annotates int but sleeps any number of seconds
        self.client.reconnect_delay_set(min_delay=0.05, max_delay=1)  # type: ignore[arg-type]
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = self._on_unsubscribe

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> Ingester:
        """Connect and subscribe (waits for SUBACK); TimeoutError if no broker answers."""
        self._accepting.set()
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        self._writer.start()
        self.client.connect_async(self._host, self._port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(timeout_s):
            self.stop()
            raise TimeoutError(f"MQTT broker at {self._host}:{self._port} did not answer")
        return self

    def stop(self, flush_timeout_s: float = 5.0) -> None:
        """Clean stop: stop taking messages, commit and ack what is queued, wait until the
        broker has read the acks (see the module docstring), then disconnect.

        Messages arriving during the stop are neither stored nor acked, so the broker
        redelivers them to the next session with this client id.
        """
        self._accepting.clear()
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
            self._writer = None
        self._wait_acks_read(flush_timeout_s)
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()

    def _wait_acks_read(self, timeout_s: float) -> None:
        """Round trip a no-op UNSUBSCRIBE (a filter this client never subscribes to, so the
        persistent session keeps its subscription): its UNSUBACK comes after the broker read
        every ack sent before it."""
        if not self._connected.is_set():
            return  # no connection to flush; unacked messages are redelivered anyway
        self._flushed.clear()
        rc, _ = self.client.unsubscribe(f"smartcustoms/{self.member_id}/ingester-stop")
        if rc != mqtt.MQTT_ERR_SUCCESS or not self._flushed.wait(timeout_s):
            log.warning(
                "the broker did not confirm the last acks within %.1f s; the next session "
                "may receive the last batch again (counted as duplicates, never stored twice)",
                timeout_s,
            )

    def __enter__(self) -> Ingester:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        """Connected and subscribed (the broker confirmed the subscription)."""
        return self._connected.is_set()

    def stats(self) -> dict[str, Any]:
        """Counts since start: received, accepted, duplicates, flagged, rejected by reason."""
        with self._stats_lock:
            return {
                "received": self._stats["received"],
                "accepted": self._stats["accepted"],
                "duplicates": self._stats["duplicates"],
                "flagged": self._stats["flagged"],
                "hook_errors": self._stats["hook_errors"],
                "rejected": dict(self._rejected),
                "pending": self._queue.qsize(),
            }

    # -- paho callbacks (network thread) -----------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("MQTT connect refused: %s", reason_code)
            return
        client.subscribe(self.topic_filter, qos=1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if any(rc.is_failure for rc in reason_codes):
            log.error("subscription to %s refused: %s", self.topic_filter, reason_codes)
            return
        self._connected.set()  # ready only once the broker confirmed the subscription

    def _on_unsubscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self._flushed.set()  # only stop() unsubscribes

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        if not self._accepting.is_set():
            return  # not acked: redelivered to the next session
        self._queue.put(_Received(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self.clock()))

    # -- writer thread -----------------------------------------------------------------------

    def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            deadline = time.monotonic() + self.batch_interval_s
            while len(batch) < self.batch_size:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._store(batch)
        rest = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                rest.append(item)
        if rest:
            self._store(rest)

    def _store(self, batch: list[_Received]) -> bool:
        """Commit, acknowledge and count `batch`; False if some of it is left unacked."""
        try:
            counts, rejected = self._commit(batch, self.on_batch)
        except _HookFailed as failed:
            log.error(
                "rules hook failed on a batch of %d messages: %r; storing without it",
                len(batch),
                failed.cause,
            )
            if self.on_hook_error is not None:
                self.on_hook_error(failed.cause)
            try:
                counts, rejected = self._commit(batch, None)
            except Exception:
                log.exception("storing a batch of %d device messages failed", len(batch))
                return self._isolate(batch)
            counts["hook_errors"] += 1
        except Exception:
            log.exception("storing a batch of %d device messages failed", len(batch))
            return self._isolate(batch)
        self._done(batch, counts, rejected)
        return True

    def _isolate(self, batch: list[_Received]) -> bool:
        """Store a failed batch's messages one by one, so one message cannot block the rest.

        A message that fails alone is refused as `store_failed`; if even that cannot be
        written, the database is failing: it and the rest stay unacked and the broker
        redelivers them (see the module docstring).
        """
        if len(batch) > 1:
            return all(self._store([item]) for item in batch)  # stops at the first unacked
        item = batch[0]
        exc = MessageRejected("store_failed", "this message could not be stored; see the log")
        try:
            with self.db.transaction() as tx:
                self._reject(tx, item, exc)
        except Exception:
            # Not acked: the broker redelivers it; log so an operator sees why.
            log.exception("recording an unstorable device message on %s failed", item.topic)
            return False
        self._done(batch, Counter(), Counter({exc.code: 1}))
        return True

    def _done(self, batch: list[_Received], counts: Counter[str], rejected: Counter[str]) -> None:
        """Acknowledge a committed batch and count it."""
        for item in batch:
            if item.qos > 0:
                self.client.ack(item.mid, item.qos)
        with self._stats_lock:
            self._stats["received"] += len(batch)
            self._stats.update(counts)
            self._rejected.update(rejected)

    def _commit(
        self, batch: list[_Received], hook: BatchHook | None
    ) -> tuple[Counter[str], Counter[str]]:
        counts: Counter[str] = Counter()
        rejected: Counter[str] = Counter()
        stored: list[StoredEvent] = []
        refused: list[Refused] = []
        with self.db.transaction() as tx:
            for item in batch:
                outcome = self._store_one(tx, item, stored, refused)
                if outcome in ("accepted", "flagged", "duplicates"):
                    counts[outcome] += 1
                    if outcome == "flagged":
                        counts["accepted"] += 1
                else:
                    rejected[outcome] += 1
            if hook is not None and (stored or refused):
                try:
                    hook(tx, stored, refused)
                except Exception as exc:
                    raise _HookFailed(exc) from exc
        return counts, rejected

    def _store_one(
        self, tx, item: _Received, stored: list[StoredEvent], refused: list[Refused]
    ) -> str:
        try:
            msg = self._check(item)
        except MessageRejected as exc:
            self._reject(tx, item, exc)
            refused.append(Refused(item.topic, exc))
            return exc.code
        prior = tx.execute(
            "SELECT payload_hash FROM trip_events WHERE device = ? AND seq = ?",
            (msg.device, msg.seq),
        ).fetchone()
        if prior is not None:
            if prior[0] == msg.payload_hash:
                return "duplicates"
            conflict = MessageRejected(
                "seq_conflict", f"device {msg.device} seq {msg.seq} already stored, other content"
            )
            self._reject(tx, item, conflict)
            refused.append(Refused(item.topic, conflict))
            return conflict.code
        flag = GPS_SPOOFING if self._impossible_jump(tx, msg) else None
        cur = tx.execute(
            "INSERT INTO trip_events (trip, device, seq, ts, lat, lon, speed, seal_id,"
            " seal_state, payload_hash, flag, received_at, payload)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                msg.trip,
                msg.device,
                msg.seq,
                msg.ts,
                msg.lat,
                msg.lon,
                msg.speed_kmh,
                msg.seal_id,
                msg.seal_state,
                msg.payload_hash,
                flag,
                item.received_at,
                item.payload,
            ),
        )
        stored.append(StoredEvent(int(cur.lastrowid), msg, flag))
        return "flagged" if flag else "accepted"

    def _check(self, item: _Received) -> DeviceMessage:
        try:
            msg = decode_and_verify(
                item.payload, self.registry.verify_key, now=self.clock(), window=self.dates
            )
        except MessageRejected:
            raise
        except Exception as exc:  # a defect of verification must not poison the batch
            log.exception("verifying a device message on %s failed", item.topic)
            raise MessageRejected(
                "undecodable", f"verification failed ({type(exc).__name__}); see the log"
            ) from None
        parsed = parse_topic(item.topic)
        if parsed is None or parsed != (self.member_id, msg.trip):
            raise MessageRejected(
                "wrong_topic", f"message for trip {msg.trip} arrived on topic {item.topic}"
            )
        if not self.registry.is_bound(msg.device, msg.trip):
            raise MessageRejected(
                "wrong_trip", f"device {msg.device} is not bound to trip {msg.trip}"
            )
        return msg

    def _impossible_jump(self, tx, msg: DeviceMessage) -> bool:
        """True if reaching a stored neighbour in time needs more than max_speed_kmh."""
        for sql in (
            "SELECT ts, lat, lon FROM trip_events WHERE device = ? AND ts <= ?"
            " ORDER BY ts DESC LIMIT 1",
            "SELECT ts, lat, lon FROM trip_events WHERE device = ? AND ts >= ?"
            " ORDER BY ts ASC LIMIT 1",
        ):
            row = tx.execute(sql, (msg.device, msg.ts)).fetchone()
            if row is None:
                continue
            metres = haversine_m(row[1], row[2], msg.lat, msg.lon)
            seconds = abs(msg.ts - row[0])
            if metres > 50 and metres > self.max_speed_kmh / 3.6 * seconds:
                return True
        return False

    def _reject(self, tx, item: _Received, exc: MessageRejected) -> None:
        tx.execute(
            "INSERT INTO rejected_messages (reason, detail, topic, payload_hash, received_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (payload_hash, reason)"
            " DO UPDATE SET times = times + 1",
            (
                exc.code,
                exc.detail,
                item.topic,
                hashlib.sha256(item.payload).digest(),
                item.received_at,
            ),
        )
