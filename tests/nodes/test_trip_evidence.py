"""Trip events anchored in Merkle batches on a real TransportLedger, and proofs of single events.

Events are verified with the real device decoder and stored in the real `trip_events` schema
(migrated by constructing an Ingester, never started), as the ingester stores them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from eth_utils import keccak
from nacl.signing import SigningKey

from chain.context import Chain
from chain.devnet import free_port
from chain.errors import ChainUnavailable
from chain.transport import trip_id_bytes
from nodes.transport.evidence import EvidenceError, TripEvidence
from offchain.db import Database
from offchain.devices import DeviceRegistry, decode_and_verify, encode
from offchain.hexbytes import to_bytes32
from offchain.ingest import Ingester
from offchain.merkle import MerkleTree

pytestmark = pytest.mark.contract

MEMBER = "TW"
DEVICE = "obu-evidence-1"
KEY = SigningKey(b"\x07" * 32)
ROUTE = keccak(text="corridor TW-KEL -> TW-KHH v1")


class Trip:
    """A started trip whose device events are stored like the ingester stores them."""

    def __init__(self, db: Database, trip_id: str) -> None:
        self.db = db
        self.id = trip_id
        self.seq = 0
        self.t0 = time.time() - 3600
        self.payloads: dict[int, bytes] = {}

    def add(self, n: int) -> list[int]:
        ids = []
        for _ in range(n):
            self.seq += 1
            payload = encode(
                {
                    "device": DEVICE,
                    "trip": self.id,
                    "seq": self.seq,
                    "ts": self.t0 + 10 * self.seq + 0.25,
                    "lat": 25.13 - 0.01 * self.seq,
                    "lon": 121.74 - 0.005 * self.seq,
                    "speed_kmh": 55.0,
                    "seal": {"id": "SEAL-1", "state": "CLOSED"},
                },
                KEY,
            )
            m = decode_and_verify(payload, lambda _d: KEY.verify_key)
            cur = self.db.execute(
                "INSERT INTO trip_events (trip, device, seq, ts, lat, lon, speed, seal_id,"
                " seal_state, payload_hash, flag, received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    m.trip,
                    m.device,
                    m.seq,
                    m.ts,
                    m.lat,
                    m.lon,
                    m.speed_kmh,
                    m.seal_id,
                    m.seal_state,
                    m.payload_hash,
                    None,
                    time.time(),
                ),
            )
            self.payloads[cur.lastrowid] = payload
            ids.append(cur.lastrowid)
        return ids


@pytest.fixture
def db(tmp_path) -> Iterator[Database]:
    database = Database(tmp_path / "node.db")
    Ingester(database, "127.0.0.1", 1, MEMBER, DeviceRegistry(database), "unused")  # migrates
    yield database
    database.close()


@pytest.fixture
def evidence(db: Database, chain: Chain) -> TripEvidence:
    return TripEvidence(db, chain, MEMBER)


@pytest.fixture
def trip(db: Database, chain: Chain, role_account: Callable, w3, snapshot) -> Trip:
    trip_id = f"TRIP-EVID-{uuid.uuid4().hex[:10]}"
    now = w3.eth.get_block("latest")["timestamp"]
    chain.transport.start_trip(
        chain.sender(role_account(MEMBER, "VERIFIER")),
        trip_id,
        "SEAL-1",
        "VEH-1",
        "TW-KEL",
        "TW-KHH",
        ROUTE,
        now + 86400,
    )
    return Trip(db, trip_id)


def states(db: Database) -> list[str]:
    return [r[0] for r in db.query("SELECT state FROM trip_batches ORDER BY rowid")]


def anchored_logs(chain: Chain, root: str) -> list:
    event = chain.transport.contract.events.EventsAnchored()
    return event.get_logs(argument_filters={"root": to_bytes32(root, "root")}, from_block=0)


def test_anchor_due_anchors_one_batch_and_proves_each_event(evidence, trip, chain):
    ids = trip.add(10)
    roots = evidence.anchor_due(trip.id)
    assert len(roots) == 1
    batch = chain.transport.batch(roots[0])
    assert batch is not None and batch.count == 10 and batch.trip_id == trip_id_bytes(trip.id)
    assert chain.transport.trip(trip.id).event_count == 10
    for event_id in ids:
        doc = evidence.prove(event_id)
        assert doc["root"] == roots[0]
        assert doc["verified_on_chain"] is True
        assert doc["event"]["id"] == event_id and doc["tx"].startswith("0x")
        assert doc["block"] == anchored_logs(chain, roots[0])[0]["blockNumber"]


def test_batch_respects_ts_order_and_max_events(evidence, trip, chain, db):
    trip.add(5)
    roots = evidence.anchor_due(trip.id, max_events=2)
    assert len(roots) == 3
    assert [chain.transport.batch(r).count for r in roots] == [2, 2, 1]
    leaf_order = [
        r[0]
        for r in db.query(
            "SELECT e.seq FROM trip_batch_events m JOIN trip_events e ON e.id = m.event_id"
            " ORDER BY m.rowid"
        )
    ]
    assert leaf_order == [1, 2, 3, 4, 5]


def test_verify_payload_fails_on_a_changed_byte(evidence, trip):
    event_id = trip.add(10)[3]
    evidence.anchor_due(trip.id)
    doc = evidence.prove(event_id)
    payload = trip.payloads[event_id]
    assert evidence.verify_payload(payload, doc) is True
    changed = payload.replace(b'"speed_kmh":55.0', b'"speed_kmh":56.0')
    assert changed != payload
    assert evidence.verify_payload(changed, doc) is False
    other = trip.payloads[event_id + 1]
    assert evidence.verify_payload(other, doc) is False


def test_verify_checks_hash_proof_and_trip(evidence, trip):
    event_id = trip.add(4)[1]
    evidence.anchor_due(trip.id)
    doc = evidence.prove(event_id)
    assert evidence.verify(doc["event"], doc) is True
    forged = {**doc["event"], "payload_hash": "0x" + "11" * 32}
    assert evidence.verify(forged, doc) is False
    assert evidence.verify({**doc["event"], "trip": "TRIP-OTHER"}, doc) is False
    bad_proof = {**doc, "proof": list(reversed(doc["proof"]))}
    assert evidence.verify(doc["event"], bad_proof) is False
    assert evidence.verify(doc["event"], {**doc, "root": "0x" + "22" * 32}) is False


def test_second_call_anchors_nothing_then_new_events_get_a_new_root(evidence, trip, chain):
    trip.add(10)
    first = evidence.anchor_due(trip.id)
    assert evidence.anchor_due(trip.id) == []
    new_ids = trip.add(3)
    second = evidence.anchor_due(trip.id)
    assert len(second) == 1 and second != first
    assert chain.transport.batch(second[0]).count == 3
    assert chain.transport.trip(trip.id).event_count == 13
    assert evidence.prove(new_ids[0])["root"] == second[0]


def test_unknown_and_not_anchored_events_are_clear_errors(evidence, trip):
    with pytest.raises(EvidenceError) as unknown:
        evidence.prove(987654)
    assert unknown.value.code == "unknown_event" and unknown.value.http_status == 404
    (event_id,) = trip.add(1)
    with pytest.raises(EvidenceError) as pending:
        evidence.prove(event_id)
    assert pending.value.code == "not_anchored" and pending.value.http_status == 409


def test_chain_down_keeps_the_batch_prepared_and_sends_it_later(db, chain, settings, trip):
    ids = trip.add(6)
    port = free_port()
    down_settings = settings.model_copy(
        update={
            "chain": settings.chain.model_copy(
                update={"anvil_port": port, "rpc_url": f"http://127.0.0.1:{port}"}
            )
        }
    )
    down = TripEvidence(db, Chain(down_settings, deployment=chain.deployment), MEMBER)
    with pytest.raises(ChainUnavailable):
        down.anchor_due(trip.id)
    assert states(db) == ["prepared"]
    with pytest.raises(EvidenceError) as pending:
        down.prove(ids[0])
    assert pending.value.code == "not_anchored"

    roots = TripEvidence(db, chain, MEMBER).anchor_due(trip.id)
    assert len(roots) == 1 and states(db) == ["anchored"]
    assert len(anchored_logs(chain, roots[0])) == 1
    assert chain.transport.batch(roots[0]).count == 6


def test_batch_mined_before_a_lost_answer_is_recorded_as_anchored(evidence, trip, chain, db):
    """The send reached the chain but the node never saw the receipt (crash, timeout)."""
    trip.add(4)
    leaves = [
        bytes(r[0])
        for r in db.query(
            "SELECT payload_hash FROM trip_events WHERE trip = ? ORDER BY ts, id", (trip.id,)
        )
    ]
    root = MerkleTree.from_values(leaves).root
    rows = db.query("SELECT MIN(ts), MAX(ts) FROM trip_events WHERE trip = ?", (trip.id,))[0]
    sender = chain.sender(evidence.sender_name)
    sent = chain.transport.anchor_events(sender, trip.id, root, 4, int(rows[0]), int(rows[1]) + 1)
    roots = evidence.anchor_due(trip.id)  # prepares the same root; the contract refuses
    assert roots == ["0x" + root.hex()]
    assert states(db) == ["anchored"]
    doc = evidence.prove(db.query("SELECT MIN(id) FROM trip_events")[0][0])
    assert doc["tx"] == sent.tx_hash and doc["verified_on_chain"] is True
    assert len(anchored_logs(chain, roots[0])) == 1
