"""Bonded trips end to end: a real node (HTTP), real mosquitto, real chain (TransportLedger).

The simulator drives a fleet with every scenario; the node ingests, runs the rules, streams
alerts, anchors events, closes arrived trips on chain; proofs verify against the chain and
an edited event does not.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from chain.devnet import free_port
from chain.transport import Outcome
from nodes.transport.service import TransportService
from nodes.transport.simulator import SCENARIOS, simulate
from offchain.broker import Broker, free_broker
from offchain.db import Database
from offchain.geo import default_index
from offchain.settings import Settings

pytestmark = [pytest.mark.contract, pytest.mark.integration]

MEMBER = "TW"


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Iterator[Broker]:
    with free_broker(tmp_path_factory.mktemp("mqtt")) as b:
        yield b


@pytest.fixture(scope="module")
def trip_settings(
    settings: Settings, deployment, broker: Broker, tmp_path_factory, make_fresh_settings
) -> Settings:
    s = make_fresh_settings(settings, tmp_path_factory.mktemp("transport") / "home")
    return s.model_copy(
        update={
            "transport": s.transport.model_copy(
                update={
                    "ingest": True,
                    "broker_port": broker.port,
                    "anchor_every_events": 64,
                    "anchor_interval_s": 1.0,
                    "tick_s": 0.2,
                }
            )
        }
    )


@pytest.fixture(scope="module")
def node(hdr, trip_settings: Settings, serve_node) -> Iterator[str]:
    with serve_node(trip_settings, MEMBER) as url:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if (
                httpx.get(f"{url}/trips/ingest", headers=hdr(trip_settings, "auditor"))
                .json()
                .get("connected")
            ):
                break
            time.sleep(0.1)
        yield url


@pytest.fixture(scope="module")
def hdr(make_api_key) -> Callable[[Settings, str], dict[str, str]]:
    """`hdr(settings, "officer")`: headers with an API key of that role on the TW node."""
    made: dict[tuple[str, str], str] = {}

    def get(s: Settings, role: str) -> dict[str, str]:
        if (str(s.home), role) not in made:
            made[str(s.home), role] = make_api_key(s, MEMBER, role)
        return {"X-API-Key": made[str(s.home), role]}

    return get


def _caller(url: str, headers: dict[str, str]) -> Callable:
    def call(method: str, path: str, **kw):
        r = httpx.request(method, url + path, headers=headers, timeout=30, **kw)
        assert r.status_code < 400, r.text
        return r.json()

    return call


def _wait(pred: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def fleet(hdr, node: str, trip_settings: Settings, broker: Broker) -> dict:
    """Seven trips: one per scenario and one clean, all on short corridors, until closed."""
    officer = hdr(trip_settings, "officer")
    out = simulate(
        _caller(node, officer),
        MEMBER,
        default_index(),
        (broker.host, broker.port),
        trips=len(SCENARIOS) + 1,
        rate=0,
        scenarios=SCENARIOS,
        prefix="FLEET",
        corridors=["TPP-TPE", "KEL-TPP"],
        seed=5,
    )
    auditor = hdr(trip_settings, "auditor")

    def all_closed() -> bool:
        trips = httpx.get(f"{node}/trips", headers=auditor).json()
        mine = [t for t in trips if t["trip"].startswith("FLEET")]
        return len(mine) == len(out["trips"]) and all(t["state"] == "closed" for t in mine)

    _wait(all_closed, 120, "every simulated trip to arrive and close")
    return out


def _alert_kinds(url: str, hdr: dict, trip: str) -> dict[str, int]:
    return httpx.get(f"{url}/trips/{trip}", headers=hdr).json()["alerts"]


def test_each_scenario_raises_its_alert_and_the_clean_trip_none(hdr, fleet, node, trip_settings):
    hdr = hdr(trip_settings, "auditor")
    for t in fleet["trips"]:
        kinds = _alert_kinds(node, hdr, t["trip"])
        assert kinds.get("arrived") == 1, (t, kinds)
        if t["expect"]:
            assert kinds.get(t["expect"], 0) >= 1, (t, kinds)
        if t["scenario"] is None or t["scenario"] == "replay":
            assert set(kinds) <= {"arrived", "closed"}, (t, kinds)


def test_replayed_messages_are_dropped_not_stored_twice(hdr, fleet, node, trip_settings):
    hdr = hdr(trip_settings, "auditor")
    replay = next(t for t in fleet["trips"] if t["scenario"] == "replay")
    status = httpx.get(f"{node}/trips/{replay['trip']}", headers=hdr).json()
    replayed = replay["messages"] - status["events"]
    assert replayed > 0
    assert httpx.get(f"{node}/trips/ingest", headers=hdr).json()["duplicates"] >= replayed


def test_closed_trips_carry_their_outcome_on_chain(hdr, fleet, node, trip_settings, chain):
    hdr = hdr(trip_settings, "auditor")
    want = {
        None: "ARRIVED_INTACT",
        "replay": "ARRIVED_INTACT",
        "seal_open": "SEAL_BROKEN",
        "deviation": "ARRIVED_WITH_ALERTS",
        "gps_jump": "ARRIVED_WITH_ALERTS",
    }
    for t in fleet["trips"]:
        status = httpx.get(f"{node}/trips/{t['trip']}", headers=hdr).json()
        view = chain.transport.trip(t["trip"])
        assert view is not None and not view.open
        assert Outcome(view.outcome).name == status["outcome"]
        if t["scenario"] in want:
            assert status["outcome"] == want[t["scenario"]], t
        assert status["anchored"]["anchored"]["events"] == status["events"]
        assert "prepared" not in status["anchored"]


def test_event_proof_verifies_and_an_edited_event_does_not(hdr, fleet, node, trip_settings):
    hdr = hdr(trip_settings, "auditor")
    trip = fleet["trips"][-1]["trip"]
    events = httpx.get(f"{node}/trips/{trip}/events", headers=hdr).json()
    proof = httpx.get(f"{node}/trips/events/{events[7]['id']}/proof", headers=hdr).json()
    assert proof["verified_on_chain"] is True
    assert proof["tx"].startswith("0x") and len(proof["proof"]) >= 1
    ok = httpx.post(f"{node}/trips/proofs/verify", headers=hdr, json=proof).json()
    assert ok["valid"] is True
    assert {c["check"] for c in ok["checks"]} >= {
        "payload_hash",
        "event_matches_payload",
        "device_signature",
        "anchored",
        "merkle_proof",
    }

    edited = json.loads(json.dumps(proof))
    edited["event"]["lat"] += 0.001
    bad = httpx.post(f"{node}/trips/proofs/verify", headers=hdr, json=edited).json()
    assert bad["valid"] is False
    assert [c["check"] for c in bad["checks"] if not c["ok"]] == ["event_matches_payload"]

    forged = json.loads(json.dumps(proof))
    forged["payload"] = forged["payload"].replace('"speed_kmh":', '"speed_kmh":1')
    bad = httpx.post(f"{node}/trips/proofs/verify", headers=hdr, json=forged).json()
    assert bad["valid"] is False
    failed = {c["check"] for c in bad["checks"] if not c["ok"]}
    assert "payload_hash" in failed


def test_alert_stream_resumes_from_last_event_id(hdr, fleet, node, trip_settings):
    hdr = hdr(trip_settings, "auditor")
    first = httpx.get(f"{node}/alerts", headers=hdr, params={"limit": 3}).json()
    assert len(first) == 3
    got = []
    with httpx.stream(
        "GET",
        f"{node}/alerts/stream",
        headers={**hdr, "Last-Event-ID": str(first[0]["id"])},
        timeout=10,
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                got.append(json.loads(line[6:]))
                if len(got) == 2:
                    break
    assert [a["id"] for a in got] == [first[1]["id"], first[2]["id"]]
    assert got[0]["source"] == "transport" and got[0]["kind"]


def test_officer_acknowledges_an_alert(hdr, fleet, node, trip_settings):
    officer, auditor = hdr(trip_settings, "officer"), hdr(trip_settings, "auditor")
    alert = httpx.get(f"{node}/alerts", headers=auditor, params={"kind": "gps_jump"}).json()[0]
    r = httpx.post(f"{node}/alerts/{alert['id']}/ack", headers=officer, json={"note": "seen"})
    assert r.status_code == 200 and r.json()["acked_at"] is not None
    assert httpx.post(f"{node}/alerts/{alert['id']}/ack", headers=auditor).status_code == 403
    r = httpx.post(f"{node}/alerts/999999/ack", headers=officer)
    assert r.status_code == 404 and r.json()["error"] == "unknown_alert"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"device": "nobody"}, 404, "unknown_device"),
        ({"origin": "TW-XXX"}, 400, "unknown_zone"),
        ({"origin": "TW-TPP", "destination": "TW-KHH"}, 400, "no_corridor"),
        ({"destination": "TW-TPP"}, 400, "invalid_trip"),
        ({"deadline": 1_000}, 400, "invalid_trip"),
        ({"deadline": "2030-01-01T00:00"}, 422, "invalid_request"),
        ({"trip": "has space"}, 422, "invalid_request"),
    ],
)
def test_bad_trip_requests_are_refused_clearly(hdr, node, trip_settings, change, status, code):
    officer = hdr(trip_settings, "officer")
    httpx.post(
        f"{node}/devices", headers=officer, json={"device": "obu-bad", "public_key": "ab" * 32}
    ).raise_for_status()
    body = {
        "trip": "BAD-1",
        "device": "obu-bad",
        "seal_id": "S",
        "vehicle_id": "V",
        "origin": "TW-TPP",
        "destination": "TW-TPE",
        "deadline": time.time() + 3600,
        **change,
    }
    r = httpx.post(f"{node}/trips", headers=officer, json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == code and r.json()["detail"]


def test_trip_ids_are_used_once_and_roles_are_checked(hdr, node, trip_settings):
    officer, exporter = hdr(trip_settings, "officer"), hdr(trip_settings, "exporter")
    httpx.post(
        f"{node}/devices", headers=officer, json={"device": "obu-once", "public_key": "cd" * 32}
    ).raise_for_status()
    body = {
        "trip": "ONCE-1",
        "device": "obu-once",
        "seal_id": "S1",
        "vehicle_id": "V1",
        "origin": "TW-KEL",
        "destination": "TW-TPP",
        "deadline": time.time() + 3600,
    }
    assert httpx.post(f"{node}/trips", headers=exporter, json=body).status_code == 403
    assert httpx.post(f"{node}/trips", headers=officer, json=body).status_code == 201
    r = httpx.post(f"{node}/trips", headers=officer, json=body)
    assert r.status_code == 409 and r.json()["error"] == "trip_exists"


def test_bad_device_keys_and_unknown_ids(hdr, node, trip_settings):
    officer = hdr(trip_settings, "officer")
    for key in ("zz" * 32, "ab" * 31):
        r = httpx.post(f"{node}/devices", headers=officer, json={"device": "d1", "public_key": key})
        assert r.status_code == 400 and r.json()["error"] == "invalid_device"
    r = httpx.get(f"{node}/trips/NOPE", headers=officer)
    assert r.status_code == 404 and r.json()["error"] == "unknown_trip"
    r = httpx.get(f"{node}/trips/events/987654/proof", headers=officer)
    assert r.status_code == 404 and r.json()["error"] == "unknown_event"
    r = httpx.post(f"{node}/trips/proofs/verify", headers=officer, json={"nothing": 1})
    assert r.status_code == 200 and r.json()["valid"] is False


def test_node_waits_for_a_broker_that_is_down_then_ingests(
    hdr, settings, deployment, serve_node, make_fresh_settings, tmp_path: Path
):
    port = free_port()
    s = make_fresh_settings(settings, tmp_path / "home")
    s = s.model_copy(
        update={
            "transport": s.transport.model_copy(
                update={"ingest": True, "broker_port": port, "tick_s": 0.2}
            )
        }
    )
    with serve_node(s, MEMBER) as url:
        hdr = hdr(s, "auditor")
        _wait(
            lambda: "error" in httpx.get(f"{url}/trips/ingest", headers=hdr).json(),
            15,
            "the node to report the missing broker",
        )
        body = httpx.get(f"{url}/trips/ingest", headers=hdr).json()
        assert body["connected"] is False and str(port) in body["error"]
        with Broker(port, tmp_path / "mqtt"):
            _wait(
                lambda: httpx.get(f"{url}/trips/ingest", headers=hdr).json()["connected"],
                20,
                "the node to connect once the broker is up",
            )


def test_a_node_that_does_not_ingest_answers_its_trip_pages(
    fresh_consortium, serve_node, make_api_key
):
    """`transport.ingest = false` (no broker at all): trips are still started, listed and
    shown, events and proofs answered, from tables made with the node."""
    s = fresh_consortium()
    assert s.transport.ingest is False
    with serve_node(s, MEMBER) as url:
        officer = {"X-API-Key": make_api_key(s, MEMBER, "officer")}
        r = httpx.get(f"{url}/trips", headers=officer)
        assert r.status_code == 200 and r.json() == [], r.text
        httpx.post(
            f"{url}/devices", headers=officer, json={"device": "obu-quiet", "public_key": "ef" * 32}
        ).raise_for_status()
        body = {
            "trip": f"QUIET-{uuid.uuid4().hex[:12]}",
            "device": "obu-quiet",
            "seal_id": "S1",
            "vehicle_id": "V1",
            "origin": "TW-KEL",
            "destination": "TW-TPP",
            "deadline": time.time() + 3600,
        }
        r = httpx.post(f"{url}/trips", headers=officer, json=body)
        assert r.status_code == 201, r.text
        listed = httpx.get(f"{url}/trips", headers=officer)
        assert listed.status_code == 200, listed.text
        assert [(t["trip"], t["events"]) for t in listed.json()] == [(body["trip"], 0)]
        status = httpx.get(f"{url}/trips/{body['trip']}", headers=officer)
        assert status.status_code == 200 and status.json()["events"] == 0, status.text
        events = httpx.get(f"{url}/trips/{body['trip']}/events", headers=officer)
        assert events.status_code == 200 and events.json() == [], events.text
        r = httpx.get(f"{url}/trips/events/1/proof", headers=officer)
        assert r.status_code == 404 and r.json()["error"] == "unknown_event", r.text
        ingest = httpx.get(f"{url}/trips/ingest", headers=officer).json()
        assert ingest["enabled"] is False and ingest["connected"] is False


def test_the_transport_worker_of_a_node_that_does_not_ingest_works(
    settings: Settings, chain, tmp_path: Path
):
    """What the worker does every tick (rules, anchoring, arrivals) on a node that never
    connected an ingester: nothing to do, and no error."""
    db = Database(tmp_path / "node.sqlite")
    service = TransportService(settings, MEMBER, chain, db)
    try:
        assert service.ingester is None
        service.work_once()
        assert service.anchor_due() == [] and service.close_arrived() == []
    finally:
        service.close_db()
        db.close()


def _started(node: str, officer: dict, trip: str, deadline: float | None = None) -> None:
    device = f"obu-{trip.lower()}"
    httpx.post(
        f"{node}/devices", headers=officer, json={"device": device, "public_key": "ab" * 32}
    ).raise_for_status()
    body = {
        "trip": trip,
        "device": device,
        "seal_id": "S1",
        "vehicle_id": "V1",
        "origin": "TW-KEL",
        "destination": "TW-TPE",
        "deadline": deadline or time.time() + 3 * 3600,
    }
    httpx.post(f"{node}/trips", headers=officer, json=body).raise_for_status()


def test_a_trip_that_has_not_arrived_is_cancelled_or_closed_early_with_a_reason(
    hdr, node, trip_settings, chain
):
    """Issue #20 item 3: `trip close` right after `trip start` answered the chain's
    NotOverdue(deadline=<unix seconds>); a trip could not be ended before its deadline."""
    officer = hdr(trip_settings, "officer")
    trip = f"EARLY-{uuid.uuid4().hex[:8]}"
    _started(node, officer, trip)
    r = httpx.post(f"{node}/trips/{trip}/close", headers=officer, json={})
    assert r.status_code == 409 and r.json()["error"] == "not_arrived", r.text
    assert "Z" in r.json()["detail"] and "reason" in r.json()["detail"]  # deadline in UTC
    r = httpx.post(f"{node}/trips/{trip}/close", headers=officer, json={"outcome": "OVERDUE"})
    assert r.status_code == 409 and r.json()["error"] == "not_overdue", r.text
    r = httpx.post(f"{node}/trips/{trip}/close", headers=officer, json={"outcome": "SEAL_BROKEN"})
    assert r.status_code == 400 and r.json()["error"] == "reason_required", r.text
    r = httpx.post(f"{node}/trips/{trip}/cancel", headers=officer, json={"reason": ""})
    assert r.status_code == 422, r.text
    assert chain.transport.is_open(trip)

    r = httpx.post(
        f"{node}/trips/{trip}/cancel", headers=officer, json={"reason": "truck broke down"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["outcome"], r.json()["reason"]) == ("CANCELLED", "truck broke down")
    view = chain.transport.trip(trip)
    assert view.outcome.name == "CANCELLED"
    event = chain.transport.contract.events.TripClosed().process_receipt(
        chain.w3.eth.get_transaction_receipt(r.json()["tx"])
    )[0]["args"]
    assert event["reason"] == "truck broke down"
    status = httpx.get(f"{node}/trips/{trip}", headers=officer).json()
    assert (status["state"], status["outcome"]) == ("closed", "CANCELLED")
    assert status["close_reason"] == "truck broke down"

    early = f"EARLY-{uuid.uuid4().hex[:8]}"
    _started(node, officer, early)
    r = httpx.post(
        f"{node}/trips/{early}/close",
        headers=officer,
        json={"outcome": "SEAL_BROKEN", "reason": "seal cut, found at km 12"},
    )
    assert r.status_code == 200 and r.json()["outcome"] == "SEAL_BROKEN", r.text
    assert chain.transport.trip(early).outcome.name == "SEAL_BROKEN"


# --- the command line ---------------------------------------------------------------------


def test_cli_device_new_start_status_and_cancel(hdr, node, trip_settings, cli):
    """Issue #20 item 4: `trip device` wanted a public key with no hint how to make one,
    and event ids appeared nowhere `trip prove` could take them from."""
    key = hdr(trip_settings, "officer")["X-API-Key"]
    device, trip = f"OBU-{uuid.uuid4().hex[:6]}", f"T-{uuid.uuid4().hex[:6]}"
    out = cli(trip_settings, "trip", "device", device, "--new", api_key=key)
    assert out.returncode == 0, out.stderr
    key_file = trip_settings.home / "devices" / f"{device}.key"
    assert str(key_file) in out.stdout and (key_file.stat().st_mode & 0o777) == 0o600
    from nacl.signing import SigningKey

    public = bytes(SigningKey(bytes.fromhex(key_file.read_text().strip())).verify_key).hex()
    assert f"public key {public}" in out.stdout
    again = cli(trip_settings, "trip", "device", device, "--new", api_key=key)
    assert again.returncode == 1 and "exists already" in again.stderr
    neither = cli(trip_settings, "trip", "device", device, api_key=key)
    assert neither.returncode == 2 and "--new" in neither.stderr

    out = cli(trip_settings, "trip", "start", trip, "--device", device, "--seal", "SEAL-9",
              "--vehicle", "KLA-1234", "--from", "TW-KEL", "--to", "TW-TPE", "--deadline", "+3h",
              api_key=key)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert re.search(r"deadline \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", out.stdout), out.stdout
    out = cli(trip_settings, "trip", "close", trip, api_key=key)
    assert out.returncode == 1 and "not_arrived" in out.stderr and "NotOverdue" not in out.stderr
    out = cli(trip_settings, "trip", "cancel", trip, "--reason", "driver ill [sent home]",
              api_key=key)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "CANCELLED (driver ill [sent home])" in out.stdout


def test_cli_status_shows_event_ids_that_prove_takes(hdr, fleet, node, trip_settings, cli):
    key = hdr(trip_settings, "auditor")["X-API-Key"]
    trip = fleet["trips"][0]["trip"]
    out = cli(trip_settings, "trip", "status", trip, api_key=key)
    last = re.search(r"prove one with smartcustoms trip prove (\d+)", out.stdout)
    assert last, out.stdout
    proved = cli(trip_settings, "trip", "prove", last.group(1), api_key=key)
    assert proved.returncode == 0 and proved.stdout.rstrip().endswith("valid"), proved.stdout
    listed = cli(trip_settings, "trip", "events", trip, "--limit", "2", api_key=key)
    assert listed.returncode == 0 and len(re.findall(r"^event \d+ ", listed.stdout, re.M)) == 2
    assert "more with --after-id" in listed.stderr


def test_cli_prove_verify_and_a_tampered_proof_file(
    hdr, fleet, node, trip_settings, cli, tmp_path: Path
):
    key = hdr(trip_settings, "auditor")["X-API-Key"]
    trip = fleet["trips"][0]["trip"]
    events = httpx.get(f"{node}/trips/{trip}/events", headers={"X-API-Key": key}).json()
    out = cli(trip_settings, "trip", "prove", str(events[3]["id"]), "--json", api_key=key)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["verification"]["valid"] is True and doc["event"]["id"] == events[3]["id"]
    good = tmp_path / "proof.json"
    good.write_text(out.stdout)
    ok = cli(trip_settings, "trip", "verify", str(good), api_key=key)
    assert ok.returncode == 0 and "valid" in ok.stdout and "FAIL" not in ok.stdout
    doc["event"]["seal_state"] = "OPEN" if doc["event"]["seal_state"] == "CLOSED" else "CLOSED"
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(doc))
    failed = cli(trip_settings, "trip", "verify", str(bad), api_key=key)
    assert failed.returncode == 1
    assert "FAIL event_matches_payload" in failed.stdout and "NOT valid" in failed.stdout


def test_cli_status_alerts_and_errors(hdr, fleet, node, trip_settings, cli):
    key = hdr(trip_settings, "auditor")["X-API-Key"]
    seal = next(t for t in fleet["trips"] if t["scenario"] == "seal_open")
    out = cli(trip_settings, "trip", "status", seal["trip"], api_key=key)
    assert out.returncode == 0, out.stderr
    assert "outcome SEAL_BROKEN" in out.stdout and "seal_open_outside_zone x1" in out.stdout
    out = cli(trip_settings, "trip", "alerts", seal["trip"], "--json", api_key=key)
    kinds = {a["kind"] for a in json.loads(out.stdout)}
    assert {"seal_open_outside_zone", "arrived", "closed"} <= kinds
    out = cli(trip_settings, "trip", "status", "NO-SUCH-TRIP", "--json", api_key=key)
    assert out.returncode == 1
    err = json.loads(out.stdout)
    assert err["error"] == "unknown_trip" and "NO-SUCH-TRIP" in err["detail"]
    assert not err["detail"].startswith("unknown_trip")  # the code is not repeated


def test_cli_simulate_drives_trips_and_reports_them(hdr, node, trip_settings, cli):
    key = hdr(trip_settings, "officer")["X-API-Key"]
    out = cli(
        trip_settings,
        "trip",
        "simulate",
        "--trips",
        "2",
        "--rate",
        "0",
        "--scenario",
        "gps_jump",
        "--corridor",
        "TPP-TPE",
        "--json",
        api_key=key,
    )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert len(body["trips"]) == 2 and body["published"] == sum(
        t["messages"] for t in body["trips"]
    )
    jump = next(t for t in body["trips"] if t["scenario"] == "gps_jump")
    _wait(
        lambda: (
            "gps_jump"
            in httpx.get(f"{node}/trips/{jump['trip']}", headers={"X-API-Key": key}).json()[
                "alerts"
            ]
        ),
        30,
        "the simulated GPS jump to raise its alert",
    )
    out = cli(trip_settings, "trip", "simulate", "--scenario", "teleport", api_key=key)
    assert out.returncode == 1 and "unknown scenarios ['teleport']" in out.stderr
