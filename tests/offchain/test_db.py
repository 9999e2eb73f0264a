"""The node database: per-component migrations, transactions, concurrent writers."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from offchain.db import Database

OUTBOX = [
    "CREATE TABLE outbox (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
    "ALTER TABLE outbox ADD COLUMN sent_at TEXT; CREATE INDEX outbox_sent ON outbox (sent_at)",
]
DEVICES = ["CREATE TABLE devices (id TEXT PRIMARY KEY)"]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    handle = Database(tmp_path / "node" / "node.sqlite")
    yield handle
    handle.close()


def _tables(db: Database) -> set[str]:
    return {r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _applied(db: Database, component: str) -> list[int]:
    rows = db.query(
        "SELECT version FROM schema_migrations WHERE component = ? ORDER BY version", (component,)
    )
    return [r["version"] for r in rows]


def test_file_is_created_in_wal_mode_with_foreign_keys(db: Database, tmp_path: Path) -> None:
    assert (tmp_path / "node" / "node.sqlite").exists()
    assert db.query("PRAGMA journal_mode")[0][0] == "wal"
    assert db.query("PRAGMA foreign_keys")[0][0] == 1


def test_migrations_apply_once_and_are_recorded(db: Database) -> None:
    assert db.migrate("outbox", OUTBOX) == 2
    assert "outbox" in _tables(db)
    assert _applied(db, "outbox") == [1, 2]
    # CREATE TABLE without IF NOT EXISTS would fail if anything ran again
    db.migrate("outbox", OUTBOX)
    assert _applied(db, "outbox") == [1, 2]
    db.migrate("outbox", [*OUTBOX, "ALTER TABLE outbox ADD COLUMN tries INTEGER DEFAULT 0"])
    assert _applied(db, "outbox") == [1, 2, 3]
    columns = [r["name"] for r in db.query("PRAGMA table_info(outbox)")]
    assert columns == ["id", "body", "sent_at", "tries"]


def test_migrations_survive_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite"
    first = Database(path)
    first.migrate("outbox", OUTBOX)
    first.execute("INSERT INTO outbox (body) VALUES ('kept')")
    first.close()
    second = Database(path)
    second.migrate("outbox", OUTBOX)  # nothing to do, must not fail
    assert [r["body"] for r in second.query("SELECT body FROM outbox")] == ["kept"]
    second.close()


def test_components_are_versioned_independently(db: Database) -> None:
    db.migrate("outbox", OUTBOX)
    db.migrate("devices", DEVICES)
    assert _applied(db, "outbox") == [1, 2]
    assert _applied(db, "devices") == [1]
    assert {"outbox", "devices"} <= _tables(db)


def test_failing_migration_rolls_back_entirely_and_is_not_recorded(db: Database) -> None:
    broken = [
        DEVICES[0],
        "CREATE TABLE half (x INTEGER); INSERT INTO half VALUES (1); INSERT INTO nowhere VALUES (1)",
    ]
    with pytest.raises(sqlite3.OperationalError, match="nowhere"):
        db.migrate("devices", broken)
    assert "half" not in _tables(db)
    assert _applied(db, "devices") == [1]  # the migration before it stays applied
    # once fixed, the same version applies
    db.migrate("devices", [DEVICES[0], "CREATE TABLE half (x INTEGER)"])
    assert _applied(db, "devices") == [1, 2]
    assert "half" in _tables(db)


def test_migration_with_a_trigger_applies(db: Database) -> None:
    db.migrate(
        "audit",
        [
            """
            CREATE TABLE doc (id INTEGER PRIMARY KEY);
            CREATE TABLE log (doc_id INTEGER);
            CREATE TRIGGER doc_log AFTER INSERT ON doc BEGIN
                INSERT INTO log (doc_id) VALUES (new.id);
            END;
            """
        ],
    )
    db.execute("INSERT INTO doc (id) VALUES (7)")
    assert [r[0] for r in db.query("SELECT doc_id FROM log")] == [7]


def test_migration_with_a_semicolon_in_a_literal_applies(db: Database) -> None:
    db.migrate(
        "config",
        ["CREATE TABLE config (k TEXT, v TEXT); INSERT INTO config VALUES ('sep', 'a;b')"],
    )
    assert db.query("SELECT v FROM config")[0][0] == "a;b"


def test_two_handles_migrating_at_once_apply_each_version_once(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite"
    blocker, first, second = Database(path), Database(path), Database(path)
    errors: list[BaseException] = []

    def migrate(handle: Database) -> None:
        try:
            handle.migrate("devices", DEVICES)
        except BaseException as exc:
            errors.append(exc)

    # Hold the write lock so both migrators read "nothing applied" and then queue for it,
    # as two processes of one node starting together would.
    with blocker.transaction():
        threads = [threading.Thread(target=migrate, args=(h,)) for h in (first, second)]
        for t in threads:
            t.start()
        time.sleep(0.5)
    for t in threads:
        t.join(timeout=60)
    for h in (blocker, first, second):
        h.close()
    assert errors == []


def test_transaction_commits_on_success(db: Database) -> None:
    db.migrate("devices", DEVICES)
    with db.transaction() as tx:
        tx.execute("INSERT INTO devices VALUES ('obu-1')")
        tx.execute("INSERT INTO devices VALUES ('obu-2')")
    assert len(db.query("SELECT id FROM devices")) == 2


def test_transaction_rolls_back_on_exception(db: Database) -> None:
    db.migrate("devices", DEVICES)
    with pytest.raises(RuntimeError, match="halfway"), db.transaction() as tx:
        tx.execute("INSERT INTO devices VALUES ('obu-1')")
        raise RuntimeError("halfway")
    assert db.query("SELECT id FROM devices") == []
    with pytest.raises(sqlite3.IntegrityError), db.transaction() as tx:
        tx.execute("INSERT INTO devices VALUES ('obu-2')")
        tx.execute("INSERT INTO devices VALUES ('obu-2')")
    assert db.query("SELECT id FROM devices") == []
    db.execute("INSERT INTO devices VALUES ('obu-3')")  # the handle is usable afterwards
    assert [r["id"] for r in db.query("SELECT id FROM devices")] == ["obu-3"]


def test_concurrent_writes_from_threads_all_land(db: Database, tmp_path: Path) -> None:
    db.migrate("outbox", OUTBOX)
    other = Database(tmp_path / "node" / "node.sqlite")  # a second connection to the same file
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        target = db if n % 2 else other
        try:
            start.wait()
            for i in range(50):
                if i % 2:
                    target.execute("INSERT INTO outbox (body) VALUES (?)", (f"{n}-{i}",))
                else:
                    with target.transaction() as tx:
                        tx.execute("INSERT INTO outbox (body) VALUES (?)", (f"{n}-{i}",))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    other.close()
    assert errors == []
    bodies = {r["body"] for r in db.query("SELECT body FROM outbox")}
    assert bodies == {f"{n}-{i}" for n in range(8) for i in range(50)}


def test_in_memory_database_works() -> None:
    mem = Database(":memory:")
    mem.migrate("devices", DEVICES)
    assert _applied(mem, "devices") == [1]
    mem.close()


def test_a_durable_transaction_flushes_its_commit_and_leaves_the_rest_as_it_was(tmp_path):
    db = Database(tmp_path / "d.sqlite")
    db.execute("CREATE TABLE t (x INTEGER)")
    seen = []
    with db.transaction(durable=True) as tx:
        seen.append(tx.execute("PRAGMA synchronous").fetchone()[0])
        tx.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(RuntimeError), db.transaction(durable=True) as tx:
        tx.execute("INSERT INTO t VALUES (2)")
        raise RuntimeError("rolled back")
    assert seen == [2]  # FULL: the WAL is fsynced at commit
    assert db.query("PRAGMA synchronous")[0][0] == 1  # NORMAL again, even after a rollback
    assert [r[0] for r in db.query("SELECT x FROM t")] == [1]
    db.close()
