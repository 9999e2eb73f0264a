"""Every result an oracle instance signed, kept off chain in full (SQLite).

Why: the chain holds only a hash of each result; an auditor who wants to know why a
declaration went to C3 needs the full output, the input hash and the model version, and
must be able to check them against the attested hash.
"""

from __future__ import annotations

import json
from typing import Any

from offchain.db import Database
from oracles.base import canonical_json

MIGRATIONS = [
    """
    CREATE TABLE oracle_results (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind INTEGER NOT NULL,
        subject TEXT NOT NULL,
        model_version TEXT NOT NULL,
        input_hash TEXT NOT NULL,
        result_hash TEXT NOT NULL,
        output TEXT NOT NULL,
        issued_at INTEGER NOT NULL,
        nonce INTEGER NOT NULL,
        signer TEXT NOT NULL,
        signature TEXT NOT NULL,
        batch_root TEXT,
        created_at TEXT NOT NULL DEFAULT (datetime('now'))
    );
    CREATE INDEX oracle_results_subject ON oracle_results (subject, kind, id)
    """,
]


class ResultStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate("oracles.store", MIGRATIONS)

    def save(
        self, result, attestation, signature: bytes, signer: str, batch_root: str | None = None
    ) -> None:
        self.save_many([(result, attestation, signature, signer, batch_root)])

    def save_many(self, rows: list[tuple[Any, Any, bytes, str, str | None]]) -> None:
        """Keep signed results in one transaction, flushed to disk before it returns: a
        signature leaves the instance only for a result it can still show after a crash."""
        with self.db.transaction(durable=True) as tx:
            tx.executemany(
                "INSERT INTO oracle_results (kind, subject, model_version, input_hash,"
                " result_hash, output, issued_at, nonce, signer, signature, batch_root)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        int(r.kind),
                        "0x" + r.subject.hex(),
                        r.model_version,
                        "0x" + r.input_hash.hex(),
                        "0x" + r.result_hash.hex(),
                        (r.output_json or canonical_json(r.output)).decode(),
                        a.issued_at,
                        a.nonce,
                        signer,
                        "0x" + sig.hex(),
                        root,
                    )
                    for r, a, sig, signer, root in rows
                ],
            )

    def results(self, subject: str, kind: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM oracle_results WHERE subject = ?"
        params: list[Any] = [subject]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        rows = self.db.query(sql + " ORDER BY id", params)
        return [{**dict(r), "output": json.loads(r["output"])} for r in rows]
