"""The inbox of an importing node: documents received from partner customs, with verdicts.

Also remembers the (sender, nonce) of every node-to-node envelope it accepted, so a replayed
message is refused; nonces older than the accepted clock skew can be pruned because the
envelope's timestamp check refuses them anyway.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from offchain.db import Database
from offchain.outbox import utc_now

MIGRATIONS = [
    """
    CREATE TABLE in_documents (
        doc_hash TEXT NOT NULL,
        sender TEXT NOT NULL,
        doc_type TEXT NOT NULL,
        received_at TEXT NOT NULL,
        cid TEXT NOT NULL,
        receipt TEXT NOT NULL,
        verdict TEXT NOT NULL,
        valid INTEGER NOT NULL,
        PRIMARY KEY (doc_hash, sender)
    );
    CREATE INDEX in_documents_received ON in_documents (received_at);
    CREATE TABLE envelope_nonces (
        sender TEXT NOT NULL,
        nonce TEXT NOT NULL,
        seen_at REAL NOT NULL,
        PRIMARY KEY (sender, nonce)
    )
    """,
]


@dataclass(frozen=True)
class InDocument:
    doc_hash: str
    sender: str
    doc_type: str
    received_at: str
    cid: str
    receipt: dict[str, Any]
    verdict: dict[str, Any]
    valid: bool


def _in(row: Any) -> InDocument:
    d = dict(row)
    d["receipt"] = json.loads(d["receipt"])
    d["verdict"] = json.loads(d["verdict"])
    d["valid"] = bool(d["valid"])
    return InDocument(**d)


class Inbox:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate("offchain.inbox", MIGRATIONS)

    def claim_nonce(self, sender: str, nonce: str) -> bool:
        """Record a nonce; False when it was seen before (a replay)."""
        try:
            self.db.execute(
                "INSERT INTO envelope_nonces (sender, nonce, seen_at) VALUES (?,?,?)",
                (sender, nonce, time.time()),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def prune_nonces(self, older_than_s: float) -> int:
        cur = self.db.execute(
            "DELETE FROM envelope_nonces WHERE seen_at < ?", (time.time() - older_than_s,)
        )
        return cur.rowcount

    def store(
        self,
        *,
        doc_hash: str,
        sender: str,
        doc_type: str,
        cid: str,
        receipt: dict[str, Any],
        verdict: dict[str, Any],
    ) -> tuple[InDocument, bool]:
        """Keep a received document; (record, False) when it was already received."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO in_documents (doc_hash, sender, doc_type, received_at, cid,"
            " receipt, verdict, valid) VALUES (?,?,?,?,?,?,?,?)",
            (
                doc_hash,
                sender,
                doc_type,
                utc_now(),
                cid,
                json.dumps(receipt),
                json.dumps(verdict),
                int(bool(verdict.get("valid"))),
            ),
        )
        kept = self.get(doc_hash, sender)
        assert kept is not None, "the row was inserted or already there"
        return kept, cur.rowcount == 1

    def update_verdict(self, doc_hash: str, sender: str, verdict: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE in_documents SET verdict = ?, valid = ? WHERE doc_hash = ? AND sender = ?",
            (json.dumps(verdict), int(bool(verdict.get("valid"))), doc_hash, sender),
        )

    def get(self, doc_hash: str, sender: str | None = None) -> InDocument | None:
        if sender is None:
            rows = self.db.query("SELECT * FROM in_documents WHERE doc_hash = ?", (doc_hash,))
        else:
            rows = self.db.query(
                "SELECT * FROM in_documents WHERE doc_hash = ? AND sender = ?", (doc_hash, sender)
            )
        return _in(rows[0]) if rows else None

    def list(self, *, limit: int = 100, offset: int = 0) -> list[InDocument]:
        rows = self.db.query(
            "SELECT * FROM in_documents ORDER BY received_at DESC LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [_in(r) for r in rows]
