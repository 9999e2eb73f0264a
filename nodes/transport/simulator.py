"""A fleet of simulated on-board units driving bonded trips between the example zones.

Why it exists: a new user (and the demo of `make run`) should see live trips and alerts
without trucks; tests and the benchmark drive the same code.  Each simulated device has its
own Ed25519 key, is registered with the node (`POST /devices`), its trip is started on chain
(`POST /trips`), and it publishes signed messages with QoS 1 on the trip's topic, like a real
unit would.

Realism: positions follow the approved corridor with GPS noise (about 5 m), the speed varies
around a cruising speed, fixes come every `interval_s` of device time.  Trips are *replayed*:
a trip of two hours is published in seconds, with device timestamps ending at "now" (the
node judges silence on each trip's own clock, see nodes/transport/monitor.py), so nothing is
ever timestamped in the future.

Scenarios (injected on demand, each raises exactly the alert it names, besides the trip's
arrival; tests/nodes/test_simulator_scenarios.py holds every scenario to it):
- `deviation`   drives off the corridor at road speed, about 2 km away for ten minutes,
                and back                                              -> left_corridor
- `long_stop`   stops 40 minutes outside any zone                     -> long_stop
- `seal_open`   seal OPEN for a few fixes in the middle of the trip    -> seal_open_outside_zone
- `swapped_key` a few messages signed by another key (swapped unit)   -> device_bad_signature
- `replay`      re-publishes earlier messages byte for byte           -> dropped as duplicates
- `gps_jump`    one fix teleported a quarter of the route back along the corridor (a
                spoofed position no truck could reach in one interval) -> gps_jump
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from nacl.signing import SigningKey

from offchain.devices import encode, topic_for
from offchain.geo import Corridor, GeoIndex

SCENARIOS = ("deviation", "long_stop", "seal_open", "swapped_key", "replay", "gps_jump")
EXPECTED_ALERT = {
    "deviation": "left_corridor",
    "long_stop": "long_stop",
    "seal_open": "seal_open_outside_zone",
    "swapped_key": "device_bad_signature",
    "replay": None,
    "gps_jump": "gps_jump",
}
_M_PER_DEG = 111_320.0


@dataclass
class SimTrip:
    """One simulated trip: its ids, corridor, key, and the messages it will publish."""

    trip: str
    device: str
    seal_id: str
    vehicle_id: str
    corridor: Corridor
    key: SigningKey
    scenario: str | None = None
    payloads: list[bytes] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return self.corridor.from_zone

    @property
    def destination(self) -> str:
        return self.corridor.to_zone


def _track(
    corridor: Corridor, rng: np.random.Generator, interval_s: float, cruise_kmh: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions every `interval_s` along the whole corridor, with speed and GPS noise."""
    length = corridor.line.length
    fracs, speeds = [0.0], [0.0]
    while fracs[-1] < 1.0:
        v = float(np.clip(rng.normal(cruise_kmh, 8.0), 35.0, 105.0))
        fracs.append(min(1.0, fracs[-1] + v / 3.6 * interval_s / length))
        speeds.append(v)
    speeds[-1] = 12.0  # slowing into the destination zone
    lons, lats = corridor.points_along(np.asarray(fracs))
    noise = rng.normal(0.0, 5.0 / _M_PER_DEG, (2, len(fracs)))
    return lons + noise[0], lats + noise[1], np.asarray(speeds)


def plan(
    trip: SimTrip,
    *,
    end_ts: float,
    interval_s: float = 20.0,
    seed: int = 0,
    cruise_kmh: float = 75.0,
) -> list[dict[str, Any]]:
    """The messages (unsigned) of a trip whose last fix is at `end_ts`, scenario included."""
    rng = np.random.default_rng(seed)
    lons, lats, speeds = _track(trip.corridor, rng, interval_s, cruise_kmh)
    n = len(lons)
    seal = ["CLOSED"] * n
    rows = [[float(lo), float(la), float(v)] for lo, la, v in zip(lons, lats, speeds, strict=True)]
    mid = n // 2
    s = trip.scenario
    if s == "deviation":
        # Off the road and back at road speed (a step of 2 km in one fix would be a GPS jump):
        # the offset grows by ~330 m a fix, holds ~2 km for ten minutes, then shrinks.
        # Short trips hold it shorter: the truck is back on the road before it arrives.
        ramp = 6
        hold = max(1, min(int(600 / interval_s), n - 4 - 2 * ramp))
        steps = [*range(1, ramp + 1), *[ramp] * hold, *range(ramp - 1, 0, -1)]
        first = max(1, min(mid - len(steps) // 2, n - 3 - len(steps)))
        for j, step in enumerate(steps):
            i = first + j
            if 1 <= i < n - 2:
                rows[i][1] += 2_000 / _M_PER_DEG * step / ramp  # north of the corridor
    elif s == "gps_jump":
        # On the corridor (so not also a corridor departure), but a quarter of the route
        # away from where the truck is: kilometres in one interval.
        lon, lat = trip.corridor.points_along(np.asarray([0.25]))
        rows[mid][0], rows[mid][1] = float(lon[0]), float(lat[0])
    elif s == "seal_open":
        for i in range(mid, min(n - 2, mid + 3)):
            seal[i] = "OPEN"
    out_rows: list[list[float]] = []
    out_seal: list[str] = []
    for i, r in enumerate(rows):
        out_rows.append(r)
        out_seal.append(seal[i])
        if s == "long_stop" and i == mid:
            for _ in range(int(40 * 60 / interval_s)):
                jitter = rng.normal(0.0, 2.0 / _M_PER_DEG, 2)
                out_rows.append([r[0] + jitter[0], r[1] + jitter[1], 0.0])
                out_seal.append("CLOSED")
    m = len(out_rows)
    t0 = end_ts - (m - 1) * interval_s
    return [
        {
            "device": trip.device,
            "trip": trip.trip,
            "seq": i + 1,
            "ts": round(t0 + i * interval_s + float(rng.uniform(-0.4, 0.4)), 3),
            "lat": round(r[1], 7),
            "lon": round(r[0], 7),
            "speed_kmh": round(r[2], 1),
            "seal": {"id": trip.seal_id, "state": out_seal[i]},
        }
        for i, r in enumerate(out_rows)
    ]


def sign_all(trip: SimTrip, messages: Sequence[dict[str, Any]], seed: int = 0) -> list[bytes]:
    """Sign each message with the trip's key; scenarios that tamper with bytes apply here."""
    payloads = [encode(m, trip.key) for m in messages]
    if trip.scenario == "swapped_key":
        rogue = SigningKey(bytes(range(32)))
        mid = len(messages) // 2
        for i in range(mid, min(len(messages), mid + 3)):
            payloads[i] = encode(messages[i], rogue)
    elif trip.scenario == "replay":
        payloads += payloads[: max(1, len(payloads) // 10)]
    return payloads


def make_trips(
    geo: GeoIndex,
    n: int,
    *,
    prefix: str,
    scenarios: Sequence[str] = (),
    corridors: Sequence[str] | None = None,
    seed: int = 0,
) -> list[SimTrip]:
    """`n` trips over the corridors in turn; `scenarios` go to the first trips, one each."""
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        raise ValueError(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}")
    pool = (
        [geo.corridor(c) for c in corridors]
        if corridors
        else sorted(geo.corridors.values(), key=lambda c: c.line.length)
    )
    if not pool:
        raise ValueError("no corridors to drive")
    n = max(n, len(scenarios))
    trips = []
    for i in range(n):
        key = SigningKey(np.random.default_rng([seed, i]).bytes(32))
        trips.append(
            SimTrip(
                trip=f"{prefix}-{i + 1:03d}",
                device=f"{prefix}-OBU-{i + 1:03d}",
                seal_id=f"{prefix}-SEAL-{i + 1:03d}",
                vehicle_id=f"{prefix}-TRUCK-{i + 1:03d}",
                corridor=pool[i % len(pool)],
                key=key,
                scenario=scenarios[i] if i < len(scenarios) else None,
            )
        )
    return trips


def interleave(trips: Iterable[SimTrip]) -> list[tuple[SimTrip, bytes]]:
    """Round-robin over the trips, as a fleet's messages arrive at a broker."""
    queues = [[(t, p) for p in t.payloads] for t in trips]
    out: list[tuple[SimTrip, bytes]] = []
    for i in range(max((len(q) for q in queues), default=0)):
        out.extend(q[i] for q in queues if i < len(q))
    return out


class Publisher:
    """A paho client publishing QoS 1 at a steady rate; `publish_all` waits for every PUBACK."""

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        try:
            self.client.connect(host, port, keepalive=30)
        except OSError as exc:
            raise ConnectionError(
                f"MQTT broker at {host}:{port} does not answer ({exc}); "
                "start it with `make run` or `mosquitto -p PORT`"
            ) from exc
        self.client.loop_start()

    def publish_all(
        self,
        member: str,
        items: Sequence[tuple[SimTrip, bytes]],
        rate: float,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Publish at `rate` messages per second (0: as fast as possible); returns the count."""
        start = time.monotonic()
        infos = []
        for i, (trip, payload) in enumerate(items, 1):
            infos.append(self.client.publish(topic_for(member, trip.trip), payload, qos=1))
            if rate > 0:
                ahead = i / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
            if progress is not None and i % 100 == 0:
                progress(100)
        for info in infos:
            info.wait_for_publish(timeout=60)
        if progress is not None:
            progress(len(items) % 100)
        return sum(1 for info in infos if info.is_published())

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def trip_duration_s(trip: SimTrip, interval_s: float = 20.0, cruise_kmh: float = 75.0) -> float:
    """Rough device-time length of a trip (for deadlines)."""
    extra = 40 * 60 if trip.scenario == "long_stop" else 0
    return math.ceil(trip.corridor.line.length / (cruise_kmh / 3.6)) + extra + interval_s


NodeCall = Callable[..., Any]
"""`call(method, path, json=...)` -> the node's JSON answer (raises on an error answer)."""


def simulate(
    call: NodeCall,
    member: str,
    geo: GeoIndex,
    broker: tuple[str, int],
    *,
    trips: int = 3,
    rate: float = 200.0,
    scenarios: Sequence[str] = (),
    prefix: str | None = None,
    interval_s: float = 20.0,
    seed: int = 0,
    corridors: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Register devices, start the trips on chain through the node, publish every message.

    Returns what was driven: per trip its id, corridor, scenario, expected alert and message
    count, and the number of messages the broker acknowledged.
    """
    if rate < 0 or interval_s <= 0:
        raise ValueError("rate must be >= 0 and interval_s > 0")
    prefix = prefix or f"SIM{int(time.time()) % 1_000_000:06d}"
    fleet = make_trips(
        geo, trips, prefix=prefix, scenarios=scenarios, corridors=corridors, seed=seed
    )
    now = time.time()
    for i, t in enumerate(fleet):
        call(
            "POST",
            "/devices",
            json={"device": t.device, "public_key": bytes(t.key.verify_key).hex()},
        )
        call(
            "POST",
            "/trips",
            json={
                "trip": t.trip,
                "device": t.device,
                "seal_id": t.seal_id,
                "vehicle_id": t.vehicle_id,
                "origin": t.origin,
                "destination": t.destination,
                "corridor": t.corridor.id,
                "deadline": now + 4 * 3600,
            },
        )
        msgs = plan(t, end_ts=now - 1.0, interval_s=interval_s, seed=seed * 1000 + i)
        t.payloads = sign_all(t, msgs)
    pub = Publisher(broker[0], broker[1], f"smartcustoms-sim-{prefix}")
    try:
        acked = pub.publish_all(member, interleave(fleet), rate, progress)
    finally:
        pub.close()
    return {
        "prefix": prefix,
        "published": acked,
        "trips": [
            {
                "trip": t.trip,
                "device": t.device,
                "corridor": t.corridor.id,
                "origin": t.origin,
                "destination": t.destination,
                "scenario": t.scenario,
                "expect": EXPECTED_ALERT.get(t.scenario or ""),
                "messages": len(t.payloads),
            }
            for t in fleet
        ],
    }
