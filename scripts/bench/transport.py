#!/usr/bin/env python3
"""Transport benchmark: rules on batches of points, MQTT ingestion against raw pub/sub.

Starts its own mosquitto on a free port (persistence on, as make run will) and prints one
JSON line:
  rule_points_per_s      the rule pipeline (projection, zones, corridor distance, every rule)
                         over synthetic trips along the example corridors, batches of 1,000
  ingest_msgs_per_s      --messages signed device messages of a simulated fleet (10 trips
                         along the example corridors, with incidents) published with QoS 1
                         until every one is verified, judged by the rules (alerts written in
                         the same transaction) and committed to SQLite (acked after commit)
  broker_raw_msgs_per_s  the same payloads published QoS 1 to a plain subscriber, same broker,
                         same run (in both, the fleet publishes from another process)
  ingest_vs_raw          their ratio
  lost                   messages published but neither stored nor refused
  alerts                 alerts the rules raised during ingestion
"""

from __future__ import annotations

import _benchpath  # noqa: F401  (must come first: bench/chain.py shadows `chain`)
import argparse
import multiprocessing as mp
import json
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType

import paho.mqtt.client as mqtt

from nodes.transport.monitor import TripMonitor
from nodes.transport.simulator import interleave, make_trips, plan, sign_all
from nodes.transport.trips import OPEN, Trip, TripBook
from offchain.alerts import AlertStore
from offchain.broker import free_broker
from offchain.db import Database
from offchain.devices import DeviceRegistry, topic_for
from offchain.geo import default_index
from offchain.ingest import Ingester
from offchain.transport_rules import RulePipeline


def _sibling(name: str) -> ModuleType:
    """A module next to this script (scripts/bench is not on sys.path: see _benchpath)."""
    import importlib.util

    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a module")
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


def _publish(
    host: str, port: int, client_id: str, messages: list[tuple[str, bytes]], ready, go
) -> None:
    """Child process: the fleet's side of the broker (devices are other machines)."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect(host, port)
    c.loop_start()
    ready.set()
    go.wait()
    infos = [c.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(120)
    c.loop_stop()
    c.disconnect()


class Publisher:
    """Publishes `messages` from another process once `start()` is called."""

    def __init__(
        self, host: str, port: int, client_id: str, messages: list[tuple[str, bytes]]
    ) -> None:
        ctx = mp.get_context("fork")
        self.ready, self.go = ctx.Event(), ctx.Event()
        self.proc = ctx.Process(
            target=_publish,
            args=(host, port, client_id, messages, self.ready, self.go),
            daemon=True,
        )
        self.proc.start()
        if not self.ready.wait(10):
            raise RuntimeError("publisher process did not connect")

    def start(self) -> float:
        t0 = time.perf_counter()
        self.go.set()
        return t0

    def join(self) -> None:
        self.proc.join(120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=5_000)
    args = ap.parse_args()
    geo = default_index()
    fleet = make_trips(geo, 10, prefix="BENCH", scenarios=("seal_open", "deviation", "gps_jump"))
    end = time.time() - 5
    for i, t in enumerate(fleet):
        t.payloads = sign_all(t, plan(t, end_ts=end, interval_s=5.0, seed=i))
    items = interleave(fleet)[: args.messages]
    n = len(items)
    payloads = [p for _, p in items]
    tmp = Path(tempfile.mkdtemp(prefix="sc-bench-transport-"))
    with free_broker(tmp / "mqtt") as broker:
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
        pub = Publisher(broker.host, broker.port, "pub-raw", [("raw/x", p) for p in payloads])
        start = pub.start()
        done.wait(120)
        raw = got[0] / (time.perf_counter() - start)
        pub.join()
        sub.loop_stop()
        sub.disconnect()

        db = Database(tmp / "node.sqlite")
        registry = DeviceRegistry(db)
        trips, alerts = TripBook(db), AlertStore(db)
        for t in fleet:
            registry.register_device(t.device, bytes(t.key.verify_key))
            registry.bind(t.device, t.trip)
            trips.add(
                Trip(
                    t.trip,
                    t.device,
                    t.seal_id,
                    t.vehicle_id,
                    t.origin,
                    t.destination,
                    t.corridor.id,
                    "0x" + "00" * 32,
                    end + 86400,
                    OPEN,
                    None,
                    "bench",
                    time.time(),
                    None,
                    None,
                    None,
                    None,
                )
            )
        monitor = TripMonitor(trips, RulePipeline(geo), alerts)
        ingester = Ingester(
            db,
            broker.host,
            broker.port,
            "TW",
            registry,
            "bench-ingester",
            on_batch=monitor.on_batch,
            on_hook_error=monitor.on_hook_error,
        ).start()
        pub = Publisher(
            broker.host, broker.port, "pub-ingest", [(topic_for("TW", t.trip), p) for t, p in items]
        )
        start = pub.start()
        deadline = start + 120
        while time.perf_counter() < deadline:
            stored = db.query("SELECT COUNT(*) FROM trip_events")[0][0]
            refused = db.query("SELECT COUNT(*) FROM rejected_messages")[0][0]
            if stored + refused >= n:
                break
            time.sleep(0.005)
        rate = stored / (time.perf_counter() - start)
        stats = ingester.stats()
        ingester.stop()
        pub.join()
    print(
        json.dumps(
            {
                "rule_points_per_s": round(rule_rate()),
                "ingest_msgs_per_s": round(rate),
                "broker_raw_msgs_per_s": round(raw),
                "ingest_vs_raw": round(rate / raw, 2),
                "lost": n - stored - refused,
                "messages": n,
                "alerts": alerts.last_id(),
                "hook_errors": stats["hook_errors"],
            }
        )
    )


if __name__ == "__main__":
    main()
