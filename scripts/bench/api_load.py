#!/usr/bin/env python3
"""API load benchmark: a bounded load on two real nodes over HTTP on 127.0.0.1.

Starts its own anvil on a free port, mosquitto on another, a throw-away home, deploys the
contracts, and runs TW's and SG's nodes as `smartcustoms node serve` processes (as
`make run` does).  Then two clients (threads, one keep-alive connection each) send, one
phase after the other:

  health       `GET /health` (chain reachable, block, contracts)        --health requests
  classify     `POST /classify` with varied goods descriptions            --classify requests
  documents    a burst of distinct certificates of origin TW -> SG       --docs submissions

and prints one JSON line:

  health_rps, classify_rps   requests per second over the phase (both clients)
  docs_per_s                 accepted (202) submissions per second over the burst
  p95_ms                     95th-percentile latency per phase, in milliseconds
  errors                     answers that were not 2xx, and requests that failed
  lost                       accepted documents not anchored and delivered to SG (its
                             verdict received) within 60 s of the end of the burst
"""

from __future__ import annotations

import _benchpath  # noqa: F401  (must come first: bench/chain.py shadows `chain`)
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from chain.client import connect
from chain.deploy import ensure_deployed
from chain.devnet import Devnet, free_port
from offchain.broker import Broker
from offchain.settings import REPO_ROOT, MemberConfig, Settings

EXAMPLE = (REPO_ROOT / "examples" / "certificate-of-origin.xml").read_bytes()
NUMBER = b"CO-TW-2025-004711"
GOODS = [
    "frozen boneless beef cuts",
    "men's cotton knitted t-shirts",
    "lithium-ion battery packs for laptops",
    "aluminium bicycle frames",
    "red wine in bottles of 750 ml",
    "leather shoes with rubber soles",
    "steel bolts and nuts",
    "fresh apples",
]
DELIVERY_WINDOW_S = 60.0


def _node_env(s: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "SMARTCUSTOMS_CONFIG": str(s.home / "none.toml"),  # no smartcustoms.toml of the cwd
        "SMARTCUSTOMS_HOME": str(s.home),
        "SMARTCUSTOMS_CHAIN__ANVIL_PORT": str(s.chain.anvil_port),
        "SMARTCUSTOMS_MEMBERS": json.dumps([m.model_dump() for m in s.members]),
        "SMARTCUSTOMS_TRANSPORT__BROKER_PORT": str(s.transport.broker_port),
        "SMARTCUSTOMS_CLEARANCE__ORACLE_BASE_PORT": str(s.clearance.oracle_base_port),
    }


def start_node(s: Settings, member: str) -> subprocess.Popen:
    log = open(s.home / f"node-{member}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "nodes.cli", "node", "serve", "--member", member],
        cwd=REPO_ROOT,
        env=_node_env(s),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(s: Settings, member: str, proc: subprocess.Popen, timeout_s: float = 60) -> str:
    """The node's admin key, once it answers /health with the chain reachable."""
    url, key_file = s.node_url(member), s.node_dir(member) / "admin.apikey"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"node {member} exited; see {s.home}/node-{member}.log")
        try:
            if key_file.exists() and httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return key_file.read_text().strip()
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"node {member} did not come up in {timeout_s:.0f} s")


class Phase:
    """Two clients sharing `n` requests; latencies, errors and answers kept."""

    def __init__(self, url: str, key: str, clients: int) -> None:
        self.url, self.key, self.clients = url, key, clients
        self.lock = threading.Lock()

    def run(
        self, n: int, request: Callable[[httpx.Client, int], httpx.Response]
    ) -> tuple[float, list[float], int, list[httpx.Response]]:
        latencies: list[float] = []
        answers: list[httpx.Response] = []
        errors = [0]

        def client(first: int) -> None:
            with httpx.Client(
                base_url=self.url, headers={"X-API-Key": self.key}, timeout=60
            ) as http:
                for i in range(first, n, self.clients):
                    t = time.perf_counter()
                    try:
                        resp = request(http, i)
                    except httpx.HTTPError:
                        with self.lock:
                            errors[0] += 1
                        continue
                    took = time.perf_counter() - t
                    with self.lock:
                        latencies.append(took)
                        answers.append(resp)
                        if not 200 <= resp.status_code < 300:
                            errors[0] += 1

        threads = [threading.Thread(target=client, args=(c,)) for c in range(self.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - t0, latencies, errors[0], answers


def p95_ms(latencies: list[float]) -> float:
    if not latencies:
        return 0.0
    ordered = sorted(latencies)
    return round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 1)


def undelivered(http: httpx.Client, hashes: set[str]) -> set[str]:
    """Accepted documents not yet anchored and delivered (SG's verdict received)."""
    done: set[str] = set()
    offset = 0
    while True:
        page = http.get("/documents", params={"limit": 500, "offset": offset}).json()
        for d in page["documents"]:
            if d["state"] == "delivered" and (d["delivery"] or {}).get("verdict") is not None:
                done.add(d["doc_hash"])
        if len(page["documents"]) < 500:
            return hashes - done
        offset += 500


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--health", type=int, default=2000)
    ap.add_argument("--classify", type=int, default=600)
    ap.add_argument("--docs", type=int, default=500)
    ap.add_argument("--clients", type=int, default=2)
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="sc-bench-api-"))
    members = [MemberConfig(id=m, name=m, api_port=free_port(), url="") for m in ("TW", "SG", "NZ")]
    settings = Settings(
        home=home,
        chain={"anvil_port": free_port()},
        members=members,
        transport={"broker_port": free_port()},
        clearance={"oracle_base_port": free_port()},
    )
    procs: list[subprocess.Popen] = []
    with (
        Devnet.from_settings(settings),
        Broker(settings.transport.broker_port, home / "mqtt"),
    ):
        ensure_deployed(settings, connect(settings))
        try:
            procs = [start_node(settings, m) for m in ("TW", "SG")]
            key = wait_ready(settings, "TW", procs[0])
            wait_ready(settings, "SG", procs[1])
            phase = Phase(settings.node_url("TW"), key, args.clients)
            # Load the tariff model and open the first connections outside the timing.
            phase.run(
                args.clients, lambda http, i: http.post("/classify", json={"description": GOODS[i]})
            )

            t_health, lat_health, err_health, _ = phase.run(
                args.health, lambda http, i: http.get("/health")
            )
            t_cls, lat_cls, err_cls, _ = phase.run(
                args.classify,
                lambda http, i: http.post(
                    "/classify", json={"description": f"{GOODS[i % len(GOODS)]} lot {i}"}
                ),
            )
            docs = [
                EXAMPLE.replace(NUMBER, f"B-{uuid.uuid4().hex[:16]}".encode())
                for _ in range(args.docs)
            ]
            t_docs, lat_docs, err_docs, answers = phase.run(
                args.docs,
                lambda http, i: http.post(
                    "/documents",
                    params={"type": "certificate-of-origin", "to": "SG"},
                    content=docs[i],
                    headers={"Content-Type": "application/xml"},
                ),
            )
            accepted = {r.json()["doc_hash"] for r in answers if r.status_code == 202}
            with httpx.Client(
                base_url=settings.node_url("TW"), headers={"X-API-Key": key}, timeout=30
            ) as http:
                deadline = time.monotonic() + DELIVERY_WINDOW_S
                missing = undelivered(http, accepted)
                while missing and time.monotonic() < deadline:
                    time.sleep(0.5)
                    missing = undelivered(http, accepted)
        finally:
            for p in procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)

    print(
        json.dumps(
            {
                "health_rps": round(len(lat_health) / t_health),
                "classify_rps": round(len(lat_cls) / t_cls),
                "docs_per_s": round(len(accepted) / t_docs),
                "p95_ms": {
                    "health": p95_ms(lat_health),
                    "classify": p95_ms(lat_cls),
                    "documents": p95_ms(lat_docs),
                },
                "errors": err_health + err_cls + err_docs,
                "lost": len(missing),
                "accepted": len(accepted),
                "requests": {"health": args.health, "classify": args.classify, "docs": args.docs},
                "clients": args.clients,
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
