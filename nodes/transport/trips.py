"""The node's book of bonded trips: what was started, on which corridor, and how it ended.

The chain holds the commitments (TransportLedger: ids, route hash, deadline, outcome); this
table holds what the node needs to run the rules and to answer officers (the ids in clear,
the device, the corridor), and the trip's life: open -> arrived -> closed.  `arrived` is set
by the rules (in the ingest transaction); the service's worker anchors the remaining events
and closes the trip on chain, then marks it closed.
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import asdict, dataclass
from typing import Any

from offchain.db import Database

COMPONENT = "nodes.trips"
OPEN, ARRIVED, CLOSED = "open", "arrived", "closed"
ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

_MIGRATIONS = [
    """
    CREATE TABLE trips (
        trip TEXT PRIMARY KEY,
        device TEXT NOT NULL,
        seal_id TEXT NOT NULL,
        vehicle_id TEXT NOT NULL,
        origin TEXT NOT NULL,
        destination TEXT NOT NULL,
        corridor TEXT NOT NULL,
        route_hash TEXT NOT NULL,
        deadline REAL NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('open', 'arrived', 'closed')),
        outcome TEXT,
        started_by TEXT NOT NULL,
        started_at REAL NOT NULL,
        start_tx TEXT,
        arrived_at REAL,
        closed_at REAL,
        close_tx TEXT
    );
    CREATE INDEX trips_state ON trips (state);
    """,
    # Why a trip was closed as it was (an officer's early close or cancellation; the
    # reason is also in TransportLedger's TripClosed event).
    "ALTER TABLE trips ADD COLUMN close_reason TEXT;",
]


@dataclass(frozen=True)
class Trip:
    trip: str
    device: str
    seal_id: str
    vehicle_id: str
    origin: str
    destination: str
    corridor: str
    route_hash: str
    deadline: float
    state: str
    outcome: str | None
    started_by: str
    started_at: float
    start_tx: str | None
    arrived_at: float | None
    closed_at: float | None
    close_tx: str | None
    close_reason: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Trip:
        return cls(**{k: row[k] for k in row.keys()})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class TripBook:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(COMPONENT, _MIGRATIONS)

    def add(self, trip: Trip) -> None:
        d = trip.to_json()
        cols = ", ".join(d)
        self.db.execute(
            f"INSERT INTO trips ({cols}) VALUES ({', '.join('?' * len(d))})", tuple(d.values())
        )

    def get(self, trip_id: str, tx: sqlite3.Connection | None = None) -> Trip | None:
        sql, args = "SELECT * FROM trips WHERE trip = ?", (trip_id,)
        if tx is not None:
            row = tx.execute(sql, args).fetchone()
        else:
            rows = self.db.query(sql, args)
            row = rows[0] if rows else None
        return Trip.from_row(row) if row is not None else None

    def list(self, state: str | None = None, limit: int = 500) -> list[Trip]:
        if state is None:
            rows = self.db.query("SELECT * FROM trips ORDER BY started_at DESC LIMIT ?", (limit,))
        else:
            rows = self.db.query(
                "SELECT * FROM trips WHERE state = ? ORDER BY started_at DESC LIMIT ?",
                (state, limit),
            )
        return [Trip.from_row(r) for r in rows]

    @staticmethod
    def mark_arrived(tx: sqlite3.Connection, trip_id: str, at: float) -> None:
        tx.execute(
            "UPDATE trips SET state = ?, arrived_at = ? WHERE trip = ? AND state = ?",
            (ARRIVED, at, trip_id, OPEN),
        )

    def mark_closed(
        self, trip_id: str, outcome: str, tx_hash: str | None, reason: str = ""
    ) -> None:
        self.db.execute(
            "UPDATE trips SET state = ?, outcome = ?, closed_at = ?, close_tx = ?,"
            " close_reason = ? WHERE trip = ?",
            (CLOSED, outcome, time.time(), tx_hash, reason or None, trip_id),
        )
