"""The durable outbox of an exporting node: documents accepted, batched, anchored, delivered.

Why this shape: a document accepted by the node must never be lost or anchored twice, even
if the process is killed at any point.  Every step is one SQLite transaction that moves rows
from one state to the next:

    queued --(batch prepared: root, leaf order fixed)--> batched
    batched --(anchorBatch mined)--> anchored   (+ a delivery row per document)

A batch's root is deterministic from its documents, and DocumentRegistry refuses a root
twice, so a batch left `prepared` by a crash is simply sent again after restart (or found
already anchored on chain and recorded).  Deliveries are retried with exponential backoff
until the receiving node acknowledges.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from offchain.db import Database
from offchain.hexbytes import hex0x
from offchain.merkle import MerkleTree, leaf_hash

MIGRATIONS = [
    """
    CREATE TABLE out_documents (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        doc_hash TEXT NOT NULL UNIQUE,
        doc_type TEXT NOT NULL,
        doc_type_code INTEGER NOT NULL,
        recipient TEXT NOT NULL,
        submitted_by TEXT NOT NULL,
        submitted_at TEXT NOT NULL,
        cid_recipient TEXT NOT NULL,
        own_copy BLOB NOT NULL,
        summary TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'batched', 'anchored')),
        batch_root TEXT,
        leaf_index INTEGER
    );
    CREATE INDEX out_documents_queue ON out_documents (state, doc_type_code, seq);
    CREATE INDEX out_documents_root ON out_documents (batch_root, leaf_index);
    CREATE TABLE out_batches (
        root TEXT PRIMARY KEY,
        doc_type_code INTEGER NOT NULL,
        count INTEGER NOT NULL,
        leaves BLOB NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('prepared', 'anchored', 'abandoned')),
        created_at TEXT NOT NULL,
        tx TEXT,
        block INTEGER,
        anchored_at INTEGER,
        issuer TEXT,
        issuer_member TEXT
    );
    CREATE TABLE out_deliveries (
        doc_hash TEXT NOT NULL,
        recipient TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'delivered')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        delivered_at TEXT,
        verdict TEXT,
        PRIMARY KEY (doc_hash, recipient)
    );
    CREATE INDEX out_deliveries_due ON out_deliveries (state, next_attempt_at)
    """,
]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class QueuedDocument:
    """What the node keeps of an accepted document (the plaintext is never stored)."""

    doc_hash: str
    doc_type: str
    doc_type_code: int
    recipient: str
    submitted_by: str
    cid_recipient: str
    own_copy: bytes  # our at-rest encrypted copy (kept in the database, not the CAS)
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutDocument:
    seq: int
    doc_hash: str
    doc_type: str
    doc_type_code: int
    recipient: str
    submitted_by: str
    submitted_at: str
    cid_recipient: str
    summary: dict[str, Any]
    state: str
    batch_root: str | None
    leaf_index: int | None


@dataclass(frozen=True)
class Batch:
    root: str
    doc_type_code: int
    count: int
    leaves: bytes
    state: str
    created_at: str
    tx: str | None
    block: int | None
    anchored_at: int | None
    issuer: str | None
    issuer_member: str | None


@dataclass(frozen=True)
class Delivery:
    doc_hash: str
    recipient: str
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    delivered_at: str | None
    verdict: dict[str, Any] | None


_DOC_COLUMNS = (
    "seq, doc_hash, doc_type, doc_type_code, recipient, submitted_by, submitted_at,"
    " cid_recipient, summary, state, batch_root, leaf_index"
)


def _doc(row: Any) -> OutDocument:
    d = dict(row)
    d["summary"] = json.loads(d["summary"])
    return OutDocument(**d)


class Outbox:
    """Documents of one node on their way to the chain and to the importing customs."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._trees: dict[str, MerkleTree] = {}
        self._anchored: dict[str, Batch] = {}
        db.migrate("offchain.outbox", MIGRATIONS)

    # --- accepting ------------------------------------------------------------------

    def enqueue(
        self,
        docs: Sequence[QueuedDocument],
        *,
        then: Callable[[sqlite3.Connection, list[bool]], None] | None = None,
    ) -> list[bool]:
        """Queue documents in one durable transaction; False for one already known (by hash).

        Durable: when this returns the rows are on disk (fsynced), so a document answered
        as accepted survives a power cut as well as a killed node.  `then(tx, added)` runs
        inside the same transaction (the node's event log), so both commit with one flush.
        """
        now = utc_now()
        with self.db.transaction(durable=True) as tx:
            known: set[str] = set()
            hashes = [d.doc_hash for d in docs]
            for i in range(0, len(hashes), 500):
                part = hashes[i : i + 500]
                marks = ",".join("?" * len(part))
                known.update(
                    r[0]
                    for r in tx.execute(
                        f"SELECT doc_hash FROM out_documents WHERE doc_hash IN ({marks})", part
                    )
                )
            added, rows = [], []
            for d in docs:
                new = d.doc_hash not in known
                known.add(d.doc_hash)
                added.append(new)
                if new:
                    rows.append(
                        (
                            d.doc_hash,
                            d.doc_type,
                            d.doc_type_code,
                            d.recipient,
                            d.submitted_by,
                            now,
                            d.cid_recipient,
                            d.own_copy,
                            json.dumps(d.summary),
                        )
                    )
            tx.executemany(
                "INSERT INTO out_documents (doc_hash, doc_type, doc_type_code, recipient,"
                " submitted_by, submitted_at, cid_recipient, own_copy, summary, state)"
                " VALUES (?,?,?,?,?,?,?,?,?, 'queued')",
                rows,
            )
            if then is not None:
                then(tx, added)
        return added

    def known(self, doc_hashes: Iterable[str]) -> set[str]:
        """Which of these document hashes are already in the outbox."""
        hashes = list(doc_hashes)
        found: set[str] = set()
        for i in range(0, len(hashes), 500):
            part = hashes[i : i + 500]
            marks = ",".join("?" * len(part))
            found.update(
                r[0]
                for r in self.db.query(
                    f"SELECT doc_hash FROM out_documents WHERE doc_hash IN ({marks})", part
                )
            )
        return found

    def document(self, doc_hash: str) -> OutDocument | None:
        rows = self.db.query(
            f"SELECT {_DOC_COLUMNS} FROM out_documents WHERE doc_hash = ?", (doc_hash,)
        )
        return _doc(rows[0]) if rows else None

    def own_copy(self, doc_hash: str) -> bytes | None:
        rows = self.db.query("SELECT own_copy FROM out_documents WHERE doc_hash = ?", (doc_hash,))
        return bytes(rows[0][0]) if rows else None

    def documents(self, *, limit: int = 100, offset: int = 0) -> list[OutDocument]:
        rows = self.db.query(
            f"SELECT {_DOC_COLUMNS} FROM out_documents ORDER BY seq DESC LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [_doc(r) for r in rows]

    def queued_count(self) -> int:
        return self.db.query("SELECT COUNT(*) FROM out_documents WHERE state = 'queued'")[0][0]

    # --- batching ---------------------------------------------------------------------

    def next_batch(self, max_docs: int) -> tuple[int, list[str], str | None]:
        """The oldest queued documents of one type (the type of the oldest queued one).

        (type code, their hashes in queue order, when the oldest was submitted): all the
        batcher needs, without reading the rows themselves.
        """
        first = self.db.query(
            "SELECT doc_type_code, submitted_at FROM out_documents WHERE state = 'queued'"
            " ORDER BY seq LIMIT 1"
        )
        if not first:
            return 0, [], None
        code, oldest = first[0][0], first[0][1]
        rows = self.db.query(
            "SELECT doc_hash FROM out_documents WHERE state = 'queued' AND doc_type_code = ?"
            " ORDER BY seq LIMIT ?",
            (code, max_docs),
        )
        return code, [r[0] for r in rows], oldest

    def prepare_batch(
        self, root: str, doc_type_code: int, doc_hashes: Sequence[str], *, salt: bytes = b""
    ) -> None:
        """Fix a batch's membership and leaf order before anything is sent.

        The leaves (document hashes in order) are kept once per batch; proofs are derived
        from them when a receipt is asked for, instead of storing one proof per document.
        Durable: the root is broadcast right after, and a batch lost to a power cut would
        be rebuilt under a new root and anchored a second time.
        """
        now = utc_now()
        leaves = b"".join(bytes.fromhex(h[2:]) for h in doc_hashes) + salt
        with self.db.transaction(durable=True) as tx:
            tx.execute(
                "INSERT INTO out_batches (root, doc_type_code, count, leaves, state, created_at)"
                " VALUES (?,?,?,?, 'prepared', ?)",
                (root, doc_type_code, len(doc_hashes), leaves, now),
            )
            tx.executemany(
                "UPDATE out_documents SET state = 'batched', batch_root = ?, leaf_index = ?"
                " WHERE doc_hash = ? AND state = 'queued'",
                [(root, i, h) for i, h in enumerate(doc_hashes)],
            )

    def abandon_batch(self, root: str) -> None:
        """Give up a prepared batch (its root was taken): documents go back to the queue."""
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE out_batches SET state = 'abandoned' WHERE root = ? AND state = 'prepared'",
                (root,),
            )
            tx.execute(
                "UPDATE out_documents SET state = 'queued', batch_root = NULL,"
                " leaf_index = NULL WHERE batch_root = ? AND state = 'batched'",
                (root,),
            )

    def proof(self, root: str, leaf_index: int) -> list[str]:
        """The Merkle proof of leaf `leaf_index` of batch `root` (trees cached per root)."""
        tree = self._tree(root)
        return [hex0x(p) for p in tree.proof(leaf_index)]

    def _tree(self, root: str) -> MerkleTree:
        tree = self._trees.get(root)
        if tree is None:
            rows = self.db.query("SELECT leaves FROM out_batches WHERE root = ?", (root,))
            if not rows:
                raise KeyError(f"no batch {root} in the outbox")
            raw = bytes(rows[0][0])
            tree = MerkleTree([leaf_hash(raw[i : i + 32]) for i in range(0, len(raw), 32)])
            if hex0x(tree.root) != root:
                raise ValueError(f"stored leaves of batch {root} do not rebuild its root")
            if len(self._trees) >= 64:
                self._trees.pop(next(iter(self._trees)))
            self._trees[root] = tree
        return tree

    def batch_hashes(self, root: str) -> list[tuple[str, int]]:
        """(doc_hash, leaf_index) of a batch, in leaf order."""
        rows = self.db.query(
            "SELECT doc_hash, leaf_index FROM out_documents WHERE batch_root = ?"
            " ORDER BY leaf_index",
            (root,),
        )
        return [(r[0], r[1]) for r in rows]

    def prepared_batches(self) -> list[Batch]:
        rows = self.db.query("SELECT * FROM out_batches WHERE state = 'prepared' ORDER BY rowid")
        return [Batch(**dict(r)) for r in rows]

    def batch(self, root: str) -> Batch | None:
        hit = self._anchored.get(root)
        if hit is not None:
            return hit
        rows = self.db.query("SELECT * FROM out_batches WHERE root = ?", (root,))
        if not rows:
            return None
        batch = Batch(**dict(rows[0]))
        if batch.state == "anchored":  # never changes again: receipts read it per document
            if len(self._anchored) >= 256:
                self._anchored.pop(next(iter(self._anchored)))
            self._anchored[root] = batch
        return batch

    def anchored_documents(self, root: str) -> list[tuple[str, int, str, str, str]]:
        """(doc_hash, leaf_index, doc_type, cid_recipient, recipient) of an anchored batch,
        in leaf order: what its receipts need, in one query."""
        rows = self.db.query(
            "SELECT doc_hash, leaf_index, doc_type, cid_recipient, recipient FROM out_documents"
            " WHERE batch_root = ? AND state = 'anchored' ORDER BY leaf_index",
            (root,),
        )
        return [tuple(r) for r in rows]

    def proofs(self, root: str) -> list[list[str]]:
        """The Merkle proof of every leaf of batch `root`, in leaf order."""
        return [[hex0x(p) for p in proof] for proof in self._tree(root).proofs()]

    def batch_documents(self, root: str) -> list[OutDocument]:
        rows = self.db.query(
            f"SELECT {_DOC_COLUMNS} FROM out_documents WHERE batch_root = ? ORDER BY leaf_index",
            (root,),
        )
        return [_doc(r) for r in rows]

    def mark_anchored(
        self,
        root: str,
        *,
        tx_hash: str,
        block: int,
        anchored_at: int,
        issuer: str,
        issuer_member: str,
        first_delivery_at: float | None = None,
        then: Callable[[sqlite3.Connection], None] | None = None,
    ) -> bool:
        """Record the anchoring and schedule one delivery per document, atomically.

        False when it was already recorded (idempotent).  `then(tx)` runs in the same
        transaction when it records (the node's event log).
        """
        due = time.time() if first_delivery_at is None else first_delivery_at
        with self.db.transaction() as tx:
            cur = tx.execute(
                "UPDATE out_batches SET state = 'anchored', tx = ?, block = ?, anchored_at = ?,"
                " issuer = ?, issuer_member = ? WHERE root = ? AND state = 'prepared'",
                (tx_hash, block, anchored_at, issuer, issuer_member, root),
            )
            if cur.rowcount != 1:
                return False  # already recorded: idempotent
            tx.execute("UPDATE out_documents SET state = 'anchored' WHERE batch_root = ?", (root,))
            tx.execute(
                "INSERT OR IGNORE INTO out_deliveries (doc_hash, recipient, state,"
                " next_attempt_at) SELECT doc_hash, recipient, 'pending', ? FROM out_documents"
                " WHERE batch_root = ?",
                (due, root),
            )
            if then is not None:
                then(tx)
        return True

    # --- delivery -----------------------------------------------------------------------

    def due_deliveries(self, now: float, limit: int = 100) -> list[Delivery]:
        rows = self.db.query(
            "SELECT * FROM out_deliveries WHERE state = 'pending' AND next_attempt_at <= ?"
            " ORDER BY next_attempt_at LIMIT ?",
            (now, limit),
        )
        return [_delivery(r) for r in rows]

    def delivery(self, doc_hash: str) -> Delivery | None:
        rows = self.db.query("SELECT * FROM out_deliveries WHERE doc_hash = ?", (doc_hash,))
        return _delivery(rows[0]) if rows else None

    def pending_deliveries(self) -> int:
        return self.db.query("SELECT COUNT(*) FROM out_deliveries WHERE state = 'pending'")[0][0]

    def mark_delivered(self, doc_hash: str, recipient: str, verdict: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE out_deliveries SET state = 'delivered', delivered_at = ?, verdict = ?,"
            " attempts = attempts + 1, last_error = NULL WHERE doc_hash = ? AND recipient = ?",
            (utc_now(), json.dumps(verdict), doc_hash, recipient),
        )

    def mark_attempt_failed(
        self, doc_hash: str, recipient: str, error: str, retry_at: float
    ) -> None:
        self.db.execute(
            "UPDATE out_deliveries SET attempts = attempts + 1, last_error = ?,"
            " next_attempt_at = ? WHERE doc_hash = ? AND recipient = ? AND state = 'pending'",
            (error[:500], retry_at, doc_hash, recipient),
        )

    def counts(self) -> dict[str, int]:
        """Documents per state and pending deliveries, for /health and the console."""
        out = {s: 0 for s in ("queued", "batched", "anchored")}
        for row in self.db.query("SELECT state, COUNT(*) FROM out_documents GROUP BY state"):
            out[row[0]] = row[1]
        out["delivery_pending"] = self.pending_deliveries()
        return out


def _delivery(row: Any) -> Delivery:
    d = dict(row)
    d["verdict"] = json.loads(d["verdict"]) if d["verdict"] else None
    return Delivery(**d)


def backoff_s(attempts: int, base_s: float = 1.0, cap_s: float = 300.0) -> float:
    """Exponential backoff for delivery retries: 1, 2, 4, ... seconds, capped."""
    return min(cap_s, base_s * (2 ** max(0, attempts)))


def iter_chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
