"""Append-only log of what happened to a document on this node, for auditors' traces.

Each record names the step (submitted, anchored, delivered, received, verified, revoked),
when, who, and the facts needed to re-verify it later against the chain (hash, CID, root,
transaction).  Records are never updated or deleted.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from offchain.db import Database
from offchain.outbox import utc_now

KINDS = ("submitted", "anchored", "delivered", "received", "verified", "revoked")

MIGRATIONS = [
    """
    CREATE TABLE doc_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        doc_hash TEXT NOT NULL,
        kind TEXT NOT NULL,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX doc_events_hash ON doc_events (doc_hash, id);
    CREATE TRIGGER doc_events_append_only_u BEFORE UPDATE ON doc_events
    BEGIN SELECT RAISE(ABORT, 'doc_events is append-only'); END;
    CREATE TRIGGER doc_events_append_only_d BEFORE DELETE ON doc_events
    BEGIN SELECT RAISE(ABORT, 'doc_events is append-only'); END
    """,
]


@dataclass(frozen=True)
class DocEvent:
    id: int
    doc_hash: str
    kind: str
    at: str
    actor: str
    detail: dict[str, Any]


class DocLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate("offchain.doclog", MIGRATIONS)

    def record(self, doc_hash: str, kind: str, actor: str, **detail: Any) -> None:
        self.record_many([(doc_hash, kind, actor, detail)])

    def record_many(self, rows: Sequence[tuple[str, str, str, dict[str, Any]]]) -> None:
        with self.db.transaction() as tx:
            self.insert(tx, rows)

    @staticmethod
    def insert(
        tx: sqlite3.Connection, rows: Sequence[tuple[str, str, str, dict[str, Any]]]
    ) -> None:
        """Append `rows` (doc_hash, kind, actor, detail) inside the caller's transaction, so a
        step and its record commit together."""
        for _, kind, _, _ in rows:
            if kind not in KINDS:
                raise ValueError(f"unknown document event {kind!r}; kinds are {KINDS}")
        now = utc_now()
        tx.executemany(
            "INSERT INTO doc_events (doc_hash, kind, at, actor, detail) VALUES (?,?,?,?,?)",
            [(h, k, now, a, json.dumps(d, default=str)) for h, k, a, d in rows],
        )

    def events(self, doc_hash: str) -> list[DocEvent]:
        rows = self.db.query("SELECT * FROM doc_events WHERE doc_hash = ? ORDER BY id", (doc_hash,))
        return [DocEvent(**{**dict(r), "detail": json.loads(r["detail"])}) for r in rows]
