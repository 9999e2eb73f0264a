"""The node's alerts: one table every source writes to (transport rules, X-ray, ...).

Why one table: an officer watches one stream (`GET /alerts/stream`, `smartcustoms trip
alerts --follow`), whatever raised the alert, and resumes it after a disconnect from the last
id seen.  Alerts are written in the same transaction as the data that raised them (for
transport: the batch of events), so a crash never leaves an event without its alert or an
alert without its event; `UNIQUE (source, subject, kind, ts)` makes re-evaluation after a
restart idempotent.  Officers acknowledge alerts; nothing is deleted.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from offchain.db import Database
from offchain.errors import OffchainError

COMPONENT = "alerts"
SEVERITIES = ("info", "warning", "critical")

_MIGRATIONS = [
    """
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        subject TEXT NOT NULL,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
        ts REAL NOT NULL,
        detail TEXT NOT NULL,
        created_at REAL NOT NULL,
        acked_by TEXT,
        acked_at REAL,
        ack_note TEXT,
        UNIQUE (source, subject, kind, ts)
    );
    CREATE INDEX alerts_subject ON alerts (source, subject, id);
    """
]


@dataclass(frozen=True)
class NewAlert:
    """An alert to record; `subject` is what it is about (a trip id, an image hash...)."""

    source: str
    subject: str
    kind: str
    severity: str
    ts: float
    detail: str


def severities(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """`"warning,critical"` (or a list) as a checked tuple; None or empty: every severity.

    ValueError names the unknown severity and the known ones."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    out = tuple(dict.fromkeys(i.strip().lower() for i in items if i and i.strip()))
    unknown = [i for i in out if i not in SEVERITIES]
    if unknown:
        raise ValueError(f"unknown severity {unknown[0]!r}; use {', '.join(SEVERITIES)}")
    return out or None


class UnknownAlert(OffchainError, LookupError):
    """No alert with that id on this node."""

    code = "unknown_alert"


# Rows as the API returns them (spelled out here: AlertStore.list hides the builtin in its body)
AlertRows = list[dict[str, Any]]


class AlertStore:
    """Write, list and acknowledge alerts in a node database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(COMPONENT, _MIGRATIONS)

    @staticmethod
    def add_in(tx: sqlite3.Connection, alerts: Iterable[NewAlert]) -> int:
        """Record alerts inside the caller's transaction; returns how many were new."""
        now = time.time()
        rows = []
        for a in alerts:
            if a.severity not in SEVERITIES:
                raise ValueError(f"severity {a.severity!r} is not one of {SEVERITIES}")
            rows.append((a.source, a.subject, a.kind, a.severity, a.ts, a.detail, now))
        before = tx.total_changes
        tx.executemany(
            "INSERT OR IGNORE INTO alerts (source, subject, kind, severity, ts, detail,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        return tx.total_changes - before

    def add(self, alerts: Iterable[NewAlert]) -> int:
        with self.db.transaction() as tx:
            return self.add_in(tx, alerts)

    def list(
        self,
        *,
        after_id: int = 0,
        source: str | None = None,
        subject: str | None = None,
        kind: str | None = None,
        unacked: bool = False,
        limit: int = 100,
        severity: str | Iterable[str] | None = None,
    ) -> AlertRows:
        """Alerts with id > after_id, oldest first (so a reader can resume from the last id);
        `severity` keeps only those severities ("warning,critical")."""
        where = ["id > ?"]
        params: list[Any] = [after_id]
        for col, val in (("source", source), ("subject", subject), ("kind", kind)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        if unacked:
            where.append("acked_at IS NULL")
        wanted = severities(severity)
        if wanted:
            where.append(f"severity IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        rows = self.db.query(
            f"SELECT * FROM alerts WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
            (*params, max(1, min(limit, 10_000))),
        )
        return [dict(r) for r in rows]

    def latest(
        self,
        limit: int = 50,
        *,
        source: str | None = None,
        subject: str | None = None,
        severity: str | Iterable[str] | None = None,
    ) -> AlertRows:
        """The newest `limit` alerts matching the filters, newest first (a page to show)."""
        where = ["1 = 1"]
        params: list[Any] = []
        for col, val in (("source", source), ("subject", subject)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        wanted = severities(severity)
        if wanted:
            where.append(f"severity IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        rows = self.db.query(
            f"SELECT * FROM alerts WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
            (*params, max(1, min(limit, 10_000))),
        )
        return [dict(r) for r in rows]

    def counts(self, source: str, subject: str) -> dict[str, int]:
        """Alerts of one subject per kind."""
        rows = self.db.query(
            "SELECT kind, COUNT(*) AS n FROM alerts WHERE source = ? AND subject = ? GROUP BY kind",
            (source, subject),
        )
        return {r["kind"]: r["n"] for r in rows}

    def last_id(self) -> int:
        return int(self.db.query("SELECT COALESCE(MAX(id), 0) FROM alerts")[0][0])

    def ack_many(
        self,
        by: str,
        note: str = "",
        *,
        up_to_id: int,
        severity: str | Iterable[str] | None = None,
        source: str | None = None,
        subject: str | None = None,
    ) -> int:
        """Acknowledge every unacknowledged alert with id <= `up_to_id` (what the officer
        saw) matching the filters, e.g. all info alerts ("arrived", "closed"); returns how
        many.  The first acknowledgement of each alert is kept."""
        where = ["acked_at IS NULL", "id <= ?"]
        params: list[Any] = [up_to_id]
        for col, val in (("source", source), ("subject", subject)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        wanted = severities(severity)
        if wanted:
            where.append(f"severity IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        with self.db.transaction() as tx:
            cur = tx.execute(
                f"UPDATE alerts SET acked_by = ?, acked_at = ?, ack_note = ?"
                f" WHERE {' AND '.join(where)}",
                (by, time.time(), note, *params),
            )
            return cur.rowcount

    def ack(self, alert_id: int, by: str, note: str = "") -> dict[str, Any]:
        """Mark an alert seen by an officer (the first acknowledgement is kept)."""
        with self.db.transaction() as tx:
            row = tx.execute("SELECT acked_at FROM alerts WHERE id = ?", (alert_id,)).fetchone()
            if row is None:
                raise UnknownAlert(f"no alert with id {alert_id}")
            if row[0] is None:
                tx.execute(
                    "UPDATE alerts SET acked_by = ?, acked_at = ?, ack_note = ? WHERE id = ?",
                    (by, time.time(), note, alert_id),
                )
        return dict(self.db.query("SELECT * FROM alerts WHERE id = ?", (alert_id,))[0])
