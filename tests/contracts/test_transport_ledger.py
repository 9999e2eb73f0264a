"""TransportLedger: trips started, anchored and closed by customs officers (VERIFIER), proofs, gas.

The ledger is deployed once for this module against the session's ConsortiumRegistry (three
genesis members TW, SG, NZ, each with one account per role); every state-changing test takes
`snapshot`.  Times are relative to the chain's clock (the latest block), never the wall clock.
"""

from __future__ import annotations

import itertools

import pytest
from eth_utils import keccak
from web3.logs import DISCARD

from chain.transport import MAX_REASON_BYTES, Outcome, TransportLedger, deploy, trip_id_bytes
from offchain.merkle import MerkleTree, leaf_hash

pytestmark = pytest.mark.contract

HOUR = 3600
ROUTE = keccak(text="corridor KEELUNG-PORT -> TAIPEI-PORT v1")
EVENTS = [keccak(text=f"event {i}") for i in range(5)]

# Every external function of the contract: a new one fails the ABI test until it gets tests.
FUNCTIONS_UNDER_TEST = frozenset(
    {
        "registry",
        "tripCount",
        "MAX_REASON_BYTES",
        "startTrip",
        "anchorEvents",
        "closeTrip",
        "trip",
        "isOpen",
        "batchOf",
        "eventLeaf",
        "verifyEvent",
    }
)

_serial = itertools.count(1)


# ------------------------------------------------------------------ fixtures and helpers


@pytest.fixture(scope="module")
def ledger(chain) -> TransportLedger:
    """The session deployment's TransportLedger (tests rewind their changes with `snapshot`)."""
    return chain.transport


@pytest.fixture(scope="module")
def customs(chain, role_account):
    """`customs("TW")`: the sender of TW's VERIFIER account, the customs officer's role."""
    return lambda member_id: chain.sender(role_account(member_id, "VERIFIER"))


@pytest.fixture
def now(w3):
    return lambda: w3.eth.get_block("latest")["timestamp"]


@pytest.fixture
def start(ledger, customs, now, snapshot):
    """`start(member="TW", **changes)`: start a fresh Keelung -> Taipei trip; returns its id."""

    def run(member: str = "TW", **changes) -> str:
        args = {
            "trip_id": f"TRIP-TEST-{next(_serial):06d}",
            "seal_id": "SEAL-0001",
            "vehicle_id": "ABC-1234",
            "origin": "KEELUNG-PORT",
            "destination": "TAIPEI-PORT",
            "route_hash": ROUTE,
            "deadline": now() + 6 * HOUR,
        }
        args.update(changes)
        ledger.start_trip(customs(member), **args)
        return args["trip_id"]

    return run


def logs(ledger, receipt, name: str) -> list[dict]:
    found = getattr(ledger.contract.events, name)().process_receipt(receipt, errors=DISCARD)
    return [dict(e["args"]) for e in found]


# ------------------------------------------------------------------ deployment and ABI


def test_abi_lists_exactly_the_functions_under_test(ledger):
    names = {f["name"] for f in ledger.contract.abi if f["type"] == "function"}
    assert names == FUNCTIONS_UNDER_TEST


def test_is_deployed_against_the_consortium_registry(ledger, registry):
    assert ledger._call("registry") == registry.address
    assert ledger.trip("TRIP-NEVER") is None
    assert ledger.is_open("TRIP-NEVER") is False


def test_zero_registry_is_refused(chain, funded, reverts, snapshot):
    with reverts("ZeroRegistry"):
        deploy(funded("x"), chain.artifacts["TransportLedger"], "0x" + "00" * 20, chain.decoder)


# ------------------------------------------------------------------ starting trips


def test_a_customs_officer_starts_a_trip(ledger, customs, now, w3, snapshot):
    deadline = now() + 6 * HOUR
    result = ledger.start_trip(
        customs("TW"),
        "TRIP-1",
        "SEAL-1",
        "ABC-1234",
        "KEELUNG-PORT",
        "TAIPEI-PORT",
        ROUTE,
        deadline,
    )
    assert (result.member, result.by) == ("TW", customs("TW").address)
    event = logs(ledger, w3.eth.get_transaction_receipt(result.tx_hash), "TripStarted")[0]
    assert event["tripId"] == trip_id_bytes("TRIP-1")
    assert event["originZone"] == keccak(text="KEELUNG-PORT")
    assert event["deadline"] == deadline

    trip = ledger.trip("TRIP-1")
    assert trip.member == "TW" and trip.open and trip.outcome is Outcome.NONE
    assert trip.seal_id == trip_id_bytes("SEAL-1")
    assert trip.destination_zone == trip_id_bytes("TAIPEI-PORT")
    assert (trip.route_hash, trip.deadline, trip.event_count) == (ROUTE, deadline, 0)
    assert trip.started_at == w3.eth.get_block(result.block)["timestamp"]
    assert ledger.is_open("TRIP-1")
    assert ledger.trip(trip_id_bytes("TRIP-1")) == trip  # the id as bytes is the same trip
    assert ledger._call("tripCount") == 1


@pytest.mark.parametrize("who", ["outsider", "issuer", "admin"])
def test_only_customs_officers_start_trips(
    who, ledger, role_account, chain, admin, outsider, now, reverts
):
    sender = {
        "outsider": lambda: outsider,
        "issuer": lambda: chain.sender(role_account("TW", "ISSUER")),
        "admin": lambda: admin("TW"),
    }[who]()
    with reverts("NotCustoms", account=sender.address):
        ledger.start_trip(sender, "TRIP-X", "S", "V", "A", "B", ROUTE, now() + HOUR)


def test_a_trip_id_is_used_once(ledger, customs, start, now, reverts):
    trip = start()
    ledger.close_trip(customs("TW"), trip, Outcome.ARRIVED_INTACT)
    with reverts("TripExists", tripId=trip_id_bytes(trip)):
        start(trip_id=trip)
    with reverts("TripExists", tripId=trip_id_bytes(trip)):
        start("SG", trip_id=trip)  # another member cannot take it either


def test_deadline_in_the_past_or_now_is_refused(start, now, reverts):
    with reverts("DeadlineInPast", deadline=now() - 1):
        start(deadline=now() - 1)


def test_same_origin_and_destination_is_refused(start, reverts):
    with reverts("SameZone", zone=trip_id_bytes("KEELUNG-PORT")):
        start(destination="KEELUNG-PORT")


def test_zero_ids_are_refused(start, reverts):
    with reverts("ZeroId", field=b"sealId".ljust(32, b"\0")):
        start(seal_id=b"\0" * 32)
    with reverts("ZeroId", field=b"routeHash".ljust(32, b"\0")):
        start(route_hash=b"\0" * 32)


def test_a_removed_member_can_no_longer_start_trips(
    ledger, customs, start, remove_member, now, reverts
):
    trip = start("NZ")
    remove_member("NZ")
    nz = customs("NZ")
    with reverts("NotCustoms", account=nz.address):
        start("NZ")
    with reverts("NotCustoms", account=nz.address):  # nor touch its open trips
        ledger.anchor_events(nz, trip, keccak(text="r"), 1, 1, 1)


# ------------------------------------------------------------------ anchoring and proofs


def test_anchored_events_are_provable_on_chain(ledger, customs, start, w3):
    trip = start()
    tree = MerkleTree([leaf_hash(e) for e in EVENTS])
    result = ledger.anchor_events(customs("TW"), trip, tree.root, len(EVENTS), 1_000, 1_400)

    event = logs(ledger, w3.eth.get_transaction_receipt(result.tx_hash), "EventsAnchored")[0]
    assert event == {
        "tripId": trip_id_bytes(trip),
        "root": tree.root,
        "count": 5,
        "firstTs": 1_000,
        "lastTs": 1_400,
    }
    batch = ledger.batch(tree.root)
    assert (batch.trip_id, batch.count, batch.first_ts, batch.last_ts) == (
        trip_id_bytes(trip),
        5,
        1_000,
        1_400,
    )
    assert batch.anchored_at == w3.eth.get_block(result.block)["timestamp"]
    for i, e in enumerate(EVENTS):
        assert ledger.verify_event(tree.root, e, tree.proof(i))
    assert ledger._call("eventLeaf", EVENTS[0]) == leaf_hash(EVENTS[0])

    changed = keccak(text="event 0, seal CLOSED -> OPEN")
    assert not ledger.verify_event(tree.root, changed, tree.proof(0))
    assert not ledger.verify_event(tree.root, EVENTS[1], tree.proof(0))  # someone else's proof


def test_a_proof_against_an_unanchored_root_fails(ledger):
    tree = MerkleTree([leaf_hash(e) for e in EVENTS])
    assert ledger.batch(tree.root) is None
    assert not ledger.verify_event(tree.root, EVENTS[0], tree.proof(0))


def test_batches_add_up_on_the_trip(ledger, customs, start):
    trip = start()
    ledger.anchor_events(customs("TW"), trip, keccak(text="r1"), 3, 100, 200)
    ledger.anchor_events(customs("TW"), trip, keccak(text="r2"), 4, 150, 180)  # late events
    t = ledger.trip(trip)
    assert (t.event_count, t.last_event_ts) == (7, 200)


def test_a_root_is_anchored_once(ledger, customs, start, reverts):
    first, second = start(), start()
    root = keccak(text="root")
    ledger.anchor_events(customs("TW"), first, root, 1, 1, 1)
    with reverts("RootAlreadyAnchored", root=root, tripId=trip_id_bytes(first)):
        ledger.anchor_events(customs("TW"), second, root, 1, 1, 1)


@pytest.mark.parametrize(
    ("root", "count", "first", "last", "error"),
    [
        (b"\0" * 32, 1, 1, 1, "ZeroRoot"),
        (keccak(text="r"), 0, 1, 1, "ZeroCount"),
        (keccak(text="r"), 1, 2, 1, "InvalidTimeRange"),
    ],
)
def test_malformed_batches_are_refused(
    root, count, first, last, error, ledger, customs, start, reverts
):
    trip = start()
    with reverts(error):
        ledger.anchor_events(customs("TW"), trip, root, count, first, last)


def test_only_the_trips_member_anchors(ledger, customs, role_account, chain, start, reverts):
    trip = start("TW")
    sg = customs("SG")
    with reverts("NotTripMember", account=sg.address, tripId=trip_id_bytes(trip)):
        ledger.anchor_events(sg, trip, keccak(text="r"), 1, 1, 1)
    issuer = chain.sender(role_account("TW", "ISSUER"))
    with reverts("NotCustoms", account=issuer.address):
        ledger.anchor_events(issuer, trip, keccak(text="r"), 1, 1, 1)
    with reverts("UnknownTrip", tripId=trip_id_bytes("TRIP-NEVER")):
        ledger.anchor_events(customs("TW"), "TRIP-NEVER", keccak(text="r"), 1, 1, 1)


def test_nothing_is_anchored_on_a_closed_trip(ledger, customs, start, reverts):
    trip = start()
    ledger.close_trip(customs("TW"), trip, Outcome.ARRIVED_WITH_ALERTS)
    with reverts("TripAlreadyClosed", tripId=trip_id_bytes(trip), outcome=2):
        ledger.anchor_events(customs("TW"), trip, keccak(text="late"), 1, 1, 1)


# ------------------------------------------------------------------ closing


@pytest.mark.parametrize(
    "outcome", [Outcome.ARRIVED_INTACT, Outcome.ARRIVED_WITH_ALERTS, Outcome.SEAL_BROKEN]
)
def test_close_with_each_outcome(outcome, ledger, customs, start, w3):
    trip = start()
    result = ledger.close_trip(customs("TW"), trip, outcome)
    assert (result.outcome, result.by_member, result.by) == (outcome, "TW", customs("TW").address)
    event = logs(ledger, w3.eth.get_transaction_receipt(result.tx_hash), "TripClosed")[0]
    assert (event["tripId"], event["outcome"]) == (trip_id_bytes(trip), int(outcome))
    assert ledger.trip(trip).outcome is outcome
    assert not ledger.is_open(trip)


def test_overdue_only_after_the_deadline(ledger, customs, start, now, advance_time, reverts):
    deadline = now() + HOUR
    trip = start(deadline=deadline)
    with reverts("NotOverdue", deadline=deadline):
        ledger.close_trip(customs("TW"), trip, Outcome.OVERDUE)
    advance_time(HOUR + 1)
    assert ledger.close_trip(customs("TW"), trip, Outcome.OVERDUE).outcome is Outcome.OVERDUE
    assert ledger.trip(trip).outcome is Outcome.OVERDUE


def test_closing_twice_or_with_none_is_refused(ledger, customs, start, reverts):
    trip = start()
    with reverts("InvalidOutcome"):
        ledger.close_trip(customs("TW"), trip, Outcome.NONE)
    ledger.close_trip(customs("TW"), trip, Outcome.ARRIVED_INTACT)
    with reverts("TripAlreadyClosed", outcome=1):
        ledger.close_trip(customs("TW"), trip, Outcome.SEAL_BROKEN)
    assert ledger.trip(trip).outcome is Outcome.ARRIVED_INTACT


def test_a_trip_is_cancelled_early_with_its_reason(ledger, customs, start, w3, reverts):
    """Issue #20: right after starting, a trip can be ended on chain (not only once overdue),
    and the reason is in the TripClosed event for an auditor rebuilding history."""
    trip = start()
    with reverts("ReasonRequired", tripId=trip_id_bytes(trip), outcome=int(Outcome.CANCELLED)):
        ledger.close_trip(customs("TW"), trip, Outcome.CANCELLED)
    result = ledger.close_trip(
        customs("TW"), trip, Outcome.CANCELLED, "truck broke down at the gate"
    )
    assert (result.outcome, result.reason) == (Outcome.CANCELLED, "truck broke down at the gate")
    event = logs(ledger, w3.eth.get_transaction_receipt(result.tx_hash), "TripClosed")[0]
    assert event["reason"] == "truck broke down at the gate"
    assert event["outcome"] == int(Outcome.CANCELLED) and event["by"] == customs("TW").address
    assert ledger.trip(trip).outcome is Outcome.CANCELLED and not ledger.is_open(trip)


def test_a_trip_is_closed_early_with_an_outcome_and_reason(ledger, customs, start, w3):
    trip = start()
    reason = "seal found cut at the roadside inspection, km 12"
    result = ledger.close_trip(customs("TW"), trip, Outcome.SEAL_BROKEN, reason)
    event = logs(ledger, w3.eth.get_transaction_receipt(result.tx_hash), "TripClosed")[0]
    assert (event["outcome"], event["reason"]) == (int(Outcome.SEAL_BROKEN), reason)


def test_a_reason_is_bounded_in_bytes(ledger, customs, start, reverts):
    trip = start()
    assert ledger._call("MAX_REASON_BYTES") == MAX_REASON_BYTES
    long = "貨" * (MAX_REASON_BYTES // 3 + 1)  # three UTF-8 bytes each
    with reverts("ReasonTooLong", length=len(long.encode()), max=MAX_REASON_BYTES):
        ledger.close_trip(customs("TW"), trip, Outcome.CANCELLED, long)
    fits = "x" * MAX_REASON_BYTES
    assert ledger.close_trip(customs("TW"), trip, Outcome.CANCELLED, fits).reason == fits


def test_only_the_trips_member_closes(ledger, customs, start, reverts):
    trip = start("SG")
    with reverts("NotTripMember", account=customs("NZ").address):
        ledger.close_trip(customs("NZ"), trip, Outcome.ARRIVED_INTACT)
    assert ledger.is_open(trip)


# ------------------------------------------------------------------ ids and gas


def test_ids_as_text_hex_or_bytes_agree():
    from chain.transport import _id

    raw = trip_id_bytes("TRIP-1")
    assert _id("TRIP-1", "t") == _id(raw, "t") == _id("0x" + raw.hex(), "t")
    with pytest.raises(ValueError):
        _id(b"short", "t")
    with pytest.raises(ValueError):
        trip_id_bytes("")


def test_gas_of_start_anchor_and_close(ledger, customs, now, w3, snapshot):
    def gas(tx_hash: str) -> int:
        return w3.eth.get_transaction_receipt(tx_hash)["gasUsed"]

    tw = customs("TW")
    deadline = now() + HOUR
    start = gas(ledger.start_trip(tw, "G", "S", "V", "A", "B", ROUTE, deadline).tx_hash)
    anchor = gas(ledger.anchor_events(tw, "G", keccak(text="g1"), 64, 1, 2).tx_hash)
    close = gas(ledger.close_trip(tw, "G", Outcome.ARRIVED_INTACT).tx_hash)
    ledger.start_trip(tw, "G2", "S", "V", "A", "B", ROUTE, deadline)
    cancel = gas(ledger.close_trip(tw, "G2", Outcome.CANCELLED, "r" * 64).tx_hash)
    print(
        f"\nTransportLedger gas (21k base included): startTrip {start}, "
        f"anchorEvents {anchor}, closeTrip {close}, closeTrip with a 64-byte reason {cancel}"
    )
    assert start < 245_000  # nine fresh slots: seven for the trip, its index, the counter
    assert anchor < 70_000  # one fresh slot per batch (not two: the trip is an index)
    assert close < 45_000
    assert cancel < 48_000  # the reason is event data only


def test_the_deployment_includes_the_transport_ledger(chain, deployment):
    """make run deploys TransportLedger with the others, bound to the session registry."""
    assert "TransportLedger" in deployment.contracts
    ledger = chain.transport
    assert ledger.address == deployment.address("TransportLedger")
    assert ledger.contract.functions.registry().call() == deployment.address("ConsortiumRegistry")
