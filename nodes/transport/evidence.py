"""Merkle-anchored evidence of a trip's events, and proofs of single events against the chain.

Why: a stored GPS/seal event is only evidence if anyone can check later that it was not
changed or invented after the fact.  The ingester stores each event with `payload_hash`, the
SHA-256 of the exact signed bytes the device published; this module anchors the trip's events
in batches on TransportLedger (a Merkle root over `leaf_hash(payload_hash)`) and answers
`prove(event_id)` with the event, its proof and the anchoring transaction.

Crash and outage safety: a batch is first recorded as `prepared` (root, leaves, which events)
in one transaction, then sent, then marked `anchored`.  If the chain is down the batch stays
`prepared` and the next `anchor_due` sends it first; if it was in fact mined before the
crash, the contract answers RootAlreadyAnchored and the batch is recorded as anchored.  An
event therefore belongs to exactly one batch and is never anchored twice.

Tables (component "nodes.trip_evidence"): `trip_batches` (one row per root, `leaves` is the
concatenated payload hashes in leaf order) and `trip_batch_events` (event id -> root, leaf
index).  The ingester's `trip_events` table must exist in the same database.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import Any

from web3 import Web3

from chain.context import Chain
from chain.errors import ContractReverted
from chain.transport import trip_id_bytes
from offchain.db import Database
from offchain.errors import OffchainError
from offchain.hexbytes import hex0x, to_bytes32
from offchain.keystore import role_account_name
from offchain.merkle import HASH_SIZE, MerkleTree

COMPONENT = "nodes.trip_evidence"
PREPARED = "prepared"
ANCHORED = "anchored"

_MIGRATIONS = [
    """
    CREATE TABLE trip_batches (
        root BLOB PRIMARY KEY,
        trip TEXT NOT NULL,
        count INTEGER NOT NULL,
        first_ts INTEGER NOT NULL,
        last_ts INTEGER NOT NULL,
        leaves BLOB NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('prepared', 'anchored')),
        tx TEXT,
        block INTEGER,
        prepared_at REAL NOT NULL
    );
    CREATE INDEX trip_batches_trip_state ON trip_batches (trip, state);
    CREATE TABLE trip_batch_events (
        event_id INTEGER PRIMARY KEY,
        root BLOB NOT NULL REFERENCES trip_batches (root),
        leaf_index INTEGER NOT NULL,
        UNIQUE (root, leaf_index)
    );
    """
]


class EvidenceError(OffchainError):
    """A proof cannot be given: `unknown_event` (404) or `not_anchored` (409, try later)."""

    code: str = "evidence_error"


class TripEvidence:
    """Anchors one member's trip events in batches and proves single events; see module doc."""

    def __init__(self, db: Database, chain: Chain, member_id: str) -> None:
        self.db = db
        self.chain = chain
        self.member_id = member_id
        self.sender_name = role_account_name(member_id, "VERIFIER")
        db.migrate(COMPONENT, _MIGRATIONS)

    # -- anchoring ---------------------------------------------------------------------------

    def anchor_due(self, trip_id: str, *, max_events: int = 1024) -> list[str]:
        """Anchor the trip's events that are in no batch yet; returns the roots anchored (0x).

        Prepared batches left by an earlier failure are sent first.  Raises
        chain.errors.ChainUnavailable when the chain does not answer (the batch stays
        prepared and is sent by the next call), ContractReverted for other refusals
        (e.g. TripAlreadyClosed, NotTripMember: the batch stays prepared too).
        """
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        anchored = []
        for root in self._prepared_roots(trip_id):
            self._send(root)
            anchored.append(hex0x(root))
        while (new_root := self._prepare(trip_id, max_events)) is not None:
            self._send(new_root)
            anchored.append(hex0x(new_root))
        return anchored

    def _prepared_roots(self, trip_id: str) -> list[bytes]:
        rows = self.db.query(
            "SELECT root FROM trip_batches WHERE trip = ? AND state = ? ORDER BY prepared_at, rowid",
            (trip_id, PREPARED),
        )
        return [bytes(r["root"]) for r in rows]

    def _prepare(self, trip_id: str, max_events: int) -> bytes | None:
        """Record the next batch of unbatched events as prepared; None if there are none."""
        with self.db.transaction() as tx:
            rows = tx.execute(
                "SELECT e.id, e.ts, e.payload_hash FROM trip_events e"
                " LEFT JOIN trip_batch_events b ON b.event_id = e.id"
                " WHERE e.trip = ? AND b.event_id IS NULL ORDER BY e.ts, e.id LIMIT ?",
                (trip_id, max_events),
            ).fetchall()
            if not rows:
                return None
            hashes = [bytes(r["payload_hash"]) for r in rows]
            root = MerkleTree.from_values(hashes).root
            tx.execute(
                "INSERT INTO trip_batches (root, trip, count, first_ts, last_ts, leaves, state,"
                " prepared_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    root,
                    trip_id,
                    len(rows),
                    math.floor(min(r["ts"] for r in rows)),
                    math.ceil(max(r["ts"] for r in rows)),
                    b"".join(hashes),
                    PREPARED,
                    time.time(),
                ),
            )
            tx.executemany(
                "INSERT INTO trip_batch_events (event_id, root, leaf_index) VALUES (?, ?, ?)",
                [(r["id"], root, i) for i, r in enumerate(rows)],
            )
        return root

    def _send(self, root: bytes) -> None:
        """Send one prepared batch and mark it anchored (also when it already was)."""
        b = self.db.query("SELECT * FROM trip_batches WHERE root = ?", (root,))[0]
        transport = self.chain.transport
        tx_hash: str | None
        block: int | None
        try:
            result = transport.anchor_events(
                self.chain.sender(self.sender_name),
                b["trip"],
                root,
                b["count"],
                b["first_ts"],
                b["last_ts"],
            )
            tx_hash, block = result.tx_hash, result.block
        except ContractReverted as exc:
            if exc.error != "RootAlreadyAnchored":
                raise
            tx_hash, block = self._find_anchoring(b["trip"], root)
        self.db.execute(
            "UPDATE trip_batches SET state = ?, tx = ?, block = ? WHERE root = ?",
            (ANCHORED, tx_hash, block, root),
        )

    def _find_anchoring(self, trip_id: str, root: bytes) -> tuple[str | None, int | None]:
        """The transaction that anchored `root` before (sent, then the answer was lost)."""
        event = self.chain.transport.contract.events.EventsAnchored()
        logs = event.get_logs(
            argument_filters={"tripId": trip_id_bytes(trip_id), "root": root}, from_block=0
        )
        if not logs:
            return None, None
        return Web3.to_hex(logs[0]["transactionHash"]), logs[0]["blockNumber"]

    # -- proofs ------------------------------------------------------------------------------

    def prove(self, event_id: int) -> dict[str, Any]:
        """The stored event, its Merkle proof, the anchoring tx and the chain's verdict.

        Raises EvidenceError `unknown_event` if no such event is stored, `not_anchored` if it
        is not in an anchored batch yet; ChainUnavailable if the chain cannot be asked.
        """
        event = self.db.query("SELECT * FROM trip_events WHERE id = ?", (event_id,))
        if not event:
            raise EvidenceError("unknown_event", f"no trip event with id {event_id} is stored")
        found = self.db.query(
            "SELECT b.root, b.leaves, b.state, b.tx, b.block, m.leaf_index"
            " FROM trip_batch_events m JOIN trip_batches b ON b.root = m.root"
            " WHERE m.event_id = ?",
            (event_id,),
        )
        if not found or found[0]["state"] != ANCHORED:
            raise EvidenceError(
                "not_anchored",
                f"trip event {event_id} is not anchored yet; try again after the next batch",
            )
        batch = found[0]
        leaves = bytes(batch["leaves"])
        values = [leaves[i : i + HASH_SIZE] for i in range(0, len(leaves), HASH_SIZE)]
        proof = MerkleTree.from_values(values).proof(batch["leaf_index"])
        payload_hash = bytes(event[0]["payload_hash"])
        root = bytes(batch["root"])
        row = _row_json(event[0])
        payload = row.pop("payload", None)
        return {
            "event": row,
            "payload": bytes.fromhex(payload[2:]).decode() if payload else None,
            "payload_hash": hex0x(payload_hash),
            "root": hex0x(root),
            "leaf_index": batch["leaf_index"],
            "proof": [hex0x(p) for p in proof],
            "tx": batch["tx"],
            "block": batch["block"],
            "verified_on_chain": self.chain.transport.verify_event(root, payload_hash, proof),
        }

    def verify(self, event: Mapping[str, Any] | sqlite3.Row, proof_doc: Mapping[str, Any]) -> bool:
        """Whether the chain confirms `event` (by its payload hash) under the proof document.

        Checks that the event's payload hash is the one proven, that the root is anchored for
        the event's trip, and that the proof leads there; trusts nothing in `proof_doc` but
        the path.  The payload hash covers the signed bytes, not the stored columns: to check
        the content itself, use `verify_payload` with the exact bytes the device sent.
        """
        try:
            payload_hash = to_bytes32(event["payload_hash"], "payload_hash")
            if payload_hash != to_bytes32(proof_doc["payload_hash"], "payload_hash"):
                return False
            return self._on_chain(payload_hash, proof_doc, event["trip"])
        except (KeyError, TypeError, ValueError):
            return False

    def verify_payload(self, payload: bytes, proof_doc: Mapping[str, Any]) -> bool:
        """Whether the exact signed `payload` bytes are anchored as the proof document says.

        The payload is hashed here (SHA-256, as on ingestion), so one changed byte fails.
        """
        try:
            trip = proof_doc["event"]["trip"]
            return self._on_chain(hashlib.sha256(payload).digest(), proof_doc, trip)
        except (KeyError, TypeError, ValueError):
            return False

    def check_proof(self, proof_doc: Mapping[str, Any], device_key: Any = None) -> dict[str, Any]:
        """Re-check a proof document from `prove` against the chain, trusting nothing in it.

        Checks, each reported: the signed payload hashes to `payload_hash`; the event's fields
        are the payload's (so an edited column fails); the device signature (when the
        device's key is given); the root is anchored on TransportLedger for the event's trip;
        the Merkle proof leads from the payload hash to that root.
        """
        checks: list[dict[str, Any]] = []

        def add(name: str, ok: bool, detail: str) -> bool:
            checks.append({"check": name, "ok": ok, "detail": detail})
            return ok

        try:
            event = proof_doc["event"]
            payload = str(proof_doc["payload"]).encode()
            claimed = to_bytes32(proof_doc["payload_hash"], "payload_hash")
        except (KeyError, TypeError, ValueError) as exc:
            add("document", False, f"not a proof document: {exc}")
            return {"valid": False, "checks": checks}
        digest = hashlib.sha256(payload).digest()
        add(
            "payload_hash",
            digest == claimed,
            "sha256 of the payload" + (" matches" if digest == claimed else " differs"),
        )
        try:
            msg = json.loads(payload)
            fields = {
                "trip": msg["trip"],
                "device": msg["device"],
                "seq": msg["seq"],
                "ts": msg["ts"],
                "lat": msg["lat"],
                "lon": msg["lon"],
                "speed": msg["speed_kmh"],
                "seal_id": msg["seal"]["id"],
                "seal_state": msg["seal"]["state"],
            }
            differ = sorted(k for k, v in fields.items() if event.get(k) != v)
        except (ValueError, KeyError, TypeError) as exc:
            differ = [f"payload unreadable: {exc}"]
        add(
            "event_matches_payload",
            not differ,
            "every field as signed" if not differ else f"differs from the payload: {differ}",
        )
        if device_key is not None:
            try:
                body = {k: v for k, v in msg.items() if k != "sig"}
                device_key.verify(
                    json.dumps(
                        body, sort_keys=True, separators=(",", ":"), allow_nan=False
                    ).encode(),
                    bytes.fromhex(msg["sig"]),
                )
                add("device_signature", True, f"signed by device {msg['device']}")
            except Exception as exc:  # BadSignatureError, or a payload without sig
                add("device_signature", False, f"does not verify: {type(exc).__name__}")
        try:
            root = to_bytes32(proof_doc["root"], "root")
            proof = [to_bytes32(p, "proof element") for p in proof_doc["proof"]]
            batch = self.chain.transport.batch(root)
            trip_ok = batch is not None and batch.trip_id == trip_id_bytes(str(event["trip"]))
            add(
                "anchored",
                trip_ok,
                f"root anchored on TransportLedger for trip {event['trip']}"
                if trip_ok
                else "root not anchored for this trip",
            )
            on_chain = trip_ok and self.chain.transport.verify_event(root, claimed, proof)
            add(
                "merkle_proof",
                bool(on_chain),
                "proof leads to the anchored root" if on_chain else "proof does not lead there",
            )
        except (KeyError, TypeError, ValueError) as exc:
            add("merkle_proof", False, f"malformed proof: {exc}")
        return {"valid": all(c["ok"] for c in checks), "checks": checks}

    def _on_chain(self, payload_hash: bytes, proof_doc: Mapping[str, Any], trip: str) -> bool:
        root = to_bytes32(proof_doc["root"], "root")
        proof: Sequence[bytes] = [to_bytes32(p, "proof element") for p in proof_doc["proof"]]
        batch = self.chain.transport.batch(root)
        if batch is None or batch.trip_id != trip_id_bytes(trip):
            return False
        return self.chain.transport.verify_event(root, payload_hash, proof)


def _row_json(row: sqlite3.Row) -> dict[str, Any]:
    return {k: hex0x(row[k]) if isinstance(row[k], bytes) else row[k] for k in row.keys()}
