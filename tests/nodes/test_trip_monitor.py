"""Rules inside ingestion: a real mosquitto, the real Ingester, TripMonitor writing alerts.

No chain here: the trip row is written directly into the TripBook (starting it on chain is
covered by test_transport_api.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from nacl.signing import SigningKey

from nodes.transport.monitor import TripMonitor
from nodes.transport.trips import ARRIVED, OPEN, Trip, TripBook
from offchain.alerts import AlertStore
from offchain.broker import Broker, free_broker
from offchain.db import Database
from offchain.devices import DeviceRegistry, encode, topic_for
from offchain.geo import default_index
from offchain.ingest import Ingester
from offchain.transport_rules import RulePipeline

MEMBER = "TW"
KEY = SigningKey(b"\x21" * 32)
ROGUE = SigningKey(b"\x22" * 32)
GEO = default_index()
CORRIDOR = GEO.corridor("TPP-TPE")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with free_broker(tmp_path / "mqtt") as b:
        yield b


class Rig:
    def __init__(self, tmp: Path, broker: Broker) -> None:
        self.db = Database(tmp / "node.sqlite")
        self.trips = TripBook(self.db)
        self.alerts = AlertStore(self.db)
        self.devices = DeviceRegistry(self.db)
        self.devices.register_device("obu-m", bytes(KEY.verify_key))
        self.monitor = TripMonitor(self.trips, RulePipeline(GEO), self.alerts)
        self.broker = broker
        self.ingester: Ingester | None = None
        self.pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="pub-m")
        self.pub.connect(broker.host, broker.port)
        self.pub.loop_start()

    def add_trip(self, trip_id: str, deadline: float | None = None) -> None:
        self.trips.add(
            Trip(
                trip_id,
                "obu-m",
                "SEAL-M",
                "TRUCK-M",
                CORRIDOR.from_zone,
                CORRIDOR.to_zone,
                CORRIDOR.id,
                "0x" + "11" * 32,
                deadline or time.time() + 7200,
                OPEN,
                None,
                "test",
                time.time(),
                None,
                None,
                None,
                None,
            )
        )
        self.devices.bind("obu-m", trip_id)

    def start(self, hook: bool = True) -> None:
        self.ingester = Ingester(
            self.db,
            self.broker.host,
            self.broker.port,
            MEMBER,
            self.devices,
            "ing-m",
            on_batch=self.monitor.on_batch if hook else None,
            on_hook_error=self.monitor.on_hook_error,
        ).start()

    def publish(self, trip: str, messages: list[dict], key: SigningKey = KEY) -> None:
        infos = [self.pub.publish(topic_for(MEMBER, trip), encode(m, key), qos=1) for m in messages]
        for i in infos:
            i.wait_for_publish(10)

    def wait_events(self, n: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stored = self.db.query("SELECT COUNT(*) FROM trip_events")[0][0]
            refused = self.db.query("SELECT COALESCE(SUM(times), 0) FROM rejected_messages")[0][0]
            if stored + refused >= n:
                return
            time.sleep(0.02)
        raise AssertionError(f"only {stored} stored + {refused} refused of {n}")

    def kinds(self, trip: str) -> dict[str, int]:
        return self.alerts.counts("transport", trip)

    def close(self) -> None:
        if self.ingester is not None:
            self.ingester.stop()
        self.pub.loop_stop()
        self.pub.disconnect()
        self.db.close()


@pytest.fixture
def rig(tmp_path: Path, broker: Broker) -> Iterator[Rig]:
    r = Rig(tmp_path, broker)
    yield r
    r.close()


def track(
    trip: str,
    n: int = 60,
    t0: float | None = None,
    seal_open_at: int | None = None,
    off_at: range | None = None,
) -> list[dict]:
    """n fixes along TPP-TPE, 20 s apart, ending in the destination zone."""
    lons, lats = CORRIDOR.points_along(np.linspace(0.0, 1.0, n))
    t0 = t0 if t0 is not None else time.time() - 20 * n - 60
    out = []
    for i in range(n):
        lat = float(lats[i]) + (0.02 if off_at and i in off_at else 0.0)
        state = "OPEN" if seal_open_at == i else "CLOSED"
        out.append(
            {
                "device": "obu-m",
                "trip": trip,
                "seq": i + 1,
                "ts": t0 + 20 * i,
                "lat": lat,
                "lon": float(lons[i]),
                "speed_kmh": 60.0,
                "seal": {"id": "SEAL-M", "state": state},
            }
        )
    return out


def test_rules_run_on_ingested_batches_and_alerts_commit_with_events(rig: Rig) -> None:
    rig.add_trip("TM-1")
    rig.start()
    rig.publish("TM-1", track("TM-1", seal_open_at=30, off_at=range(20, 26)))
    rig.wait_events(60)
    time.sleep(0.2)
    kinds = rig.kinds("TM-1")
    assert kinds.get("seal_open_outside_zone") == 1
    assert kinds.get("left_corridor") == 1
    assert kinds.get("arrived") == 1
    assert rig.trips.get("TM-1").state == ARRIVED


def test_clean_trip_raises_only_arrival(rig: Rig) -> None:
    rig.add_trip("TM-clean")
    rig.start()
    rig.publish("TM-clean", track("TM-clean"))
    rig.wait_events(60)
    time.sleep(0.2)
    assert rig.kinds("TM-clean") == {"arrived": 1}


def test_late_point_is_judged_and_marked_late(rig: Rig) -> None:
    rig.add_trip("TM-late")
    rig.start()
    msgs = track("TM-late", seal_open_at=10)
    held = msgs.pop(10)  # the seal-open fix arrives after everything else
    rig.publish("TM-late", msgs)
    rig.wait_events(59)
    rig.publish("TM-late", [held])
    rig.wait_events(60)
    time.sleep(0.2)
    alerts = rig.alerts.list(subject="TM-late", kind="seal_open_outside_zone")
    assert len(alerts) == 1
    assert "late point" in alerts[0]["detail"]
    assert alerts[0]["ts"] == pytest.approx(held["ts"])


def test_swapped_key_raises_one_critical_alert(rig: Rig) -> None:
    rig.add_trip("TM-swap")
    rig.start()
    msgs = track("TM-swap", n=10)
    rig.publish("TM-swap", msgs[:5])
    rig.publish("TM-swap", msgs[5:], key=ROGUE)
    rig.wait_events(10)
    time.sleep(0.2)
    alerts = rig.alerts.list(subject="TM-swap", kind="device_bad_signature")
    assert len(alerts) == 1  # five bad messages, one alert per reason and window
    assert alerts[0]["severity"] == "critical"
    assert rig.db.query("SELECT COUNT(*) FROM trip_events WHERE trip = 'TM-swap'")[0][0] == 5


def test_state_is_rebuilt_after_restart_without_repeating_alerts(rig: Rig) -> None:
    rig.add_trip("TM-restart")
    rig.start()
    msgs = track("TM-restart", off_at=range(20, 40))
    rig.publish("TM-restart", msgs[:30])  # the excursion is open when the node restarts
    rig.wait_events(30)
    rig.ingester.stop()
    rig.monitor.reset()  # a new process: no rule state in memory
    rig.start()
    rig.publish("TM-restart", msgs[30:])
    rig.wait_events(60)
    time.sleep(0.2)
    assert rig.kinds("TM-restart")["left_corridor"] == 1


def test_a_failing_rule_does_not_stop_ingestion(rig: Rig) -> None:
    """A hook that raises: events are stored anyway, counted, and the state is rebuilt."""
    rig.add_trip("TM-broken")
    calls = {"n": 0}
    real = rig.monitor.on_batch

    def flaky(tx, stored, refused):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("rule bug")
        real(tx, stored, refused)

    rig.ingester = Ingester(
        rig.db,
        rig.broker.host,
        rig.broker.port,
        MEMBER,
        rig.devices,
        "ing-flaky",
        on_batch=flaky,
        on_hook_error=rig.monitor.on_hook_error,
    ).start()
    msgs = track("TM-broken", seal_open_at=9)  # first fix outside the port zone
    rig.publish("TM-broken", msgs[:10])
    rig.wait_events(10)
    time.sleep(0.3)
    rig.publish("TM-broken", msgs[10:])
    rig.wait_events(60)
    time.sleep(0.2)
    assert rig.ingester.stats()["hook_errors"] == 1
    assert rig.db.query("SELECT COUNT(*) FROM trip_events")[0][0] == 60
    # the seal event stored without rules is judged when the state is rebuilt from the table
    assert rig.kinds("TM-broken").get("seal_open_outside_zone") == 1


def test_signal_lost_on_the_trips_own_clock(rig: Rig, monkeypatch) -> None:
    rig.add_trip("TM-quiet")
    rig.start()
    msgs = track("TM-quiet", n=20)[:10]  # stops halfway: never arrives
    rig.publish("TM-quiet", msgs)
    rig.wait_events(10)
    time.sleep(0.2)
    assert rig.monitor.tick() == []  # just heard from it
    now = time.time()
    rig.monitor.clock = lambda: now + 11 * 60
    lost = [a for a in rig.monitor.tick() if a.kind == "signal_lost"]
    assert len(lost) == 1 and lost[0].subject == "TM-quiet"
    assert rig.monitor.tick() == []  # once per silence
