#!/usr/bin/env python3
"""Transport benchmark: rules on batches of points, MQTT ingestion against raw pub/sub.

Starts its own mosquitto on a free port (persistence on, as make run will) and prints one
JSON line:
  rule_points_per_s      the rule pipeline (projection, zones, corridor distance, every rule)
                         over synthetic trips along the example corridors, batches of 1,000
  ingest_msgs_per_s      --messages signed device messages published with QoS 1 until every
                         one is verified and committed to SQLite (acked only after commit)
  broker_raw_msgs_per_s  the same payloads published QoS 1 to a plain subscriber, same broker,
                         same run
  ingest_vs_raw          their ratio
  lost                   messages published but neither stored nor refused
  ingest_includes_rules  false: ingestion does not run the rules yet (they are measured
                         separately above); wiring them in is the next step of issue 5
"""

from __future__ import annotations

import _benchpath  # noqa: F401  (must come first: bench/chain.py shadows `chain`)
import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from nacl.signing import SigningKey

from offchain.broker import Broker
from offchain.db import Database
from offchain.devices import DeviceRegistry, encode, topic_for
from offchain.ingest import Ingester
from offchain.procs import free_port
from offchain.transport_rules import RulePipeline


def _sibling(name: str):
    """A module next to this script (scripts/bench is not on sys.path: see _benchpath)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


synthetic_trips = _sibling("transport_rules").synthetic_trips


def rule_rate(trips: int = 40, points: int = 5_000, batch: int = 1_000) -> float:
    pipeline = RulePipeline()
    work = synthetic_trips(trips, points)
    t0 = time.perf_counter()
    for ctx, (ts, lat, lon, speed, seal) in work:
        for i in range(0, points, batch):
            j = i + batch
            pipeline.evaluate(ctx, ts[i:j], lat[i:j], lon[i:j], speed[i:j], seal[i:j])
    return trips * points / (time.perf_counter() - t0)


def _publisher(host: str, port: int, client_id: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect(host, port)
    c.loop_start()
    return c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=5_000)
    args = ap.parse_args()
    n = args.messages
    key = SigningKey.generate()
    t0 = time.time() - 10 * n
    payloads = [
        encode({"device": "obu-1", "trip": "T1", "seq": i, "ts": t0 + i, "lat": 25 + i * 1e-5,
                "lon": 121.5, "speed_kmh": 40.0, "seal": {"id": "S-1", "state": "CLOSED"}}, key)
        for i in range(n)
    ]
    tmp = Path(tempfile.mkdtemp(prefix="sc-bench-transport-"))
    with Broker(free_port(), tmp / "mqtt") as broker:
        got, done = [0], threading.Event()
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="raw", clean_session=False)

        def on_message(*_args) -> None:
            got[0] += 1
            if got[0] == n:
                done.set()

        sub.on_message = on_message
        sub.connect(broker.host, broker.port)
        sub.subscribe("raw/#", qos=1)
        sub.loop_start()
        time.sleep(0.3)
        pub = _publisher(broker.host, broker.port, "pub-raw")
        start = time.perf_counter()
        for p in payloads:
            pub.publish("raw/x", p, qos=1)
        done.wait(120)
        raw = got[0] / (time.perf_counter() - start)
        for c in (sub, pub):
            c.loop_stop()
            c.disconnect()

        db = Database(tmp / "node.sqlite")
        registry = DeviceRegistry(db)
        registry.register_device("obu-1", bytes(key.verify_key))
        registry.bind("obu-1", "T1")
        ingester = Ingester(db, broker.host, broker.port, "TW", registry, "bench-ingester").start()
        pub = _publisher(broker.host, broker.port, "pub-ingest")
        start = time.perf_counter()
        for p in payloads:
            pub.publish(topic_for("TW", "T1"), p, qos=1)
        deadline = start + 120
        while time.perf_counter() < deadline:
            stored = db.query("SELECT COUNT(*) FROM trip_events")[0][0]
            refused = db.query("SELECT COUNT(*) FROM rejected_messages")[0][0]
            if stored + refused >= n:
                break
            time.sleep(0.005)
        rate = stored / (time.perf_counter() - start)
        ingester.stop()
        pub.loop_stop()
        pub.disconnect()
    print(json.dumps({
        "rule_points_per_s": round(rule_rate()),
        "ingest_msgs_per_s": round(rate),
        "broker_raw_msgs_per_s": round(raw),
        "ingest_vs_raw": round(rate / raw, 2),
        "lost": n - stored - refused,
        "messages": n,
        "ingest_includes_rules": False,
    }))


if __name__ == "__main__":
    main()
