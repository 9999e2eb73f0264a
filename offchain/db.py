"""The local database: one SQLite file per node, migrated by each component that uses it.

Why SQLite with WAL: a node's records (API keys, outbox, received documents, device events)
must survive a crash and be readable while being written, with no server to run.  Each
component declares its own numbered migrations; `schema_migrations` records which ran, so a
node upgraded in place picks up new tables without losing data.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Database:
    """A thread-safe handle on one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30
        )
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " component TEXT NOT NULL, version INTEGER NOT NULL,"
                " applied_at TEXT NOT NULL DEFAULT (datetime('now')),"
                " PRIMARY KEY (component, version))"
            )

    def migrate(self, component: str, migrations: Sequence[str]) -> int:
        """Apply the not-yet-applied migrations of `component`, each in a transaction.

        The applied version is read inside the write transaction, so two processes opening
        the same file at once apply each migration exactly once.
        """
        for version, script in enumerate(migrations, start=1):
            with self.transaction() as tx:
                done = tx.execute(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?",
                    (component,),
                ).fetchone()[0]
                if version <= done:
                    continue
                for statement in split_sql(script):
                    tx.execute(statement)
                tx.execute(
                    "INSERT INTO schema_migrations (component, version) VALUES (?, ?)",
                    (component, version),
                )
        return len(migrations)

    @contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception.

        `durable`: the commit is flushed to disk (the WAL fsynced) before this returns, so
        it survives a power cut, not only a killed process.  The node runs WAL with
        `synchronous=NORMAL`, where a commit is only flushed at the next checkpoint; a
        promise made to someone outside (a document accepted, a batch fixed before its
        root is broadcast) needs the flush, and pays one fsync per transaction for it.
        """
        with self._lock:
            if durable:
                self._conn.execute("PRAGMA synchronous=FULL")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            finally:
                if durable:
                    self._conn.execute("PRAGMA synchronous=NORMAL")

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def split_sql(script: str) -> list[str]:
    """Split a script into complete statements (`;` inside triggers or strings stays)."""
    statements, current = [], ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip().rstrip(";").strip():
                statements.append(current.strip())
            current = ""
    rest = current.rstrip(";").strip()
    if rest:
        raise ValueError(f"incomplete SQL statement in migration: {rest[:80]!r}")
    return statements
