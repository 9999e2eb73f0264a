#!/usr/bin/env python3
"""Advance cargo information and e-payment benchmark: manifest lines ingested with risk rules,
declarations matched against manifest lines, payments confirmed through the gateway.

Starts its own anvil on a free port with a throw-away home, deploys, and runs TW's node and
the payment gateway stand-in as separate processes (`smartcustoms node serve`,
`smartcustoms gateway serve`), talking to them over HTTP as carriers and banks do:

  manifest_lines_per_s        POST /manifests (JSON) of --lines-per-manifest lines each: model,
                              XML rendering, XSD, canonical hash, sealed at-rest copy, queued
                              for anchoring, every line judged by the selectivity rules, stored
  baseline_lines_per_s        the same with one line per manifest, one manifest per request
  anchored_lines_per_s        lines whose manifest's receipt is anchored, from the first request
                              until the last receipt (batched anchoring through the records
                              outbox)
  matches_per_s               declarations citing a manifest line: the node's findings (line,
                              earlier declarations, flags; the share recorded in the same
                              transaction) and the oracles' matching, in process, one at a time
  payments_per_s              orders paid through the gateway stand-in in batches of --batch
                              (one signed check and one signed callback per batch): from the
                              first request until every payment is confirmed and recorded, its
                              receipt queued for anchoring
  baseline_payments_per_s     one payment per request (one check and one callback each)
  receipts_anchored_per_s     receipts of those payments anchored on chain, end to end

Orders are written for synthetic decided declarations before the node starts: clearance and
attestation are measured by scripts/bench/clearance.py.  Prints one JSON line.
"""

from __future__ import annotations

import _benchpath  # noqa: F401  (must come first: bench/chain.py shadows `chain`)
import argparse
import copy
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from chain.client import connect
from chain.deploy import ensure_deployed
from chain.devnet import Devnet, free_port
from nodes.auth import ApiKeys
from nodes.context import NodeContext
from nodes.gateway.app import register_with_node
from offchain.db import Database
from offchain.declarations import load_declaration_json
from offchain.manifests import load_manifest, match_citations
from offchain.settings import REPO_ROOT, MemberConfig, Settings

EXAMPLES = REPO_ROOT / "examples" / "manifests"
SEA = load_manifest((EXAMPLES / "sea-import-sgsin-twkel.xml").read_bytes()).manifest.to_json()
BEARINGS = json.loads((EXAMPLES / "declaration-bearings-bl.json").read_text())


def manifest(n: int, lines: int, arrival: dt.datetime) -> dict[str, Any]:
    """Manifest n with `lines` lines cycling through the example's three lines."""
    doc = copy.deepcopy(SEA)
    doc["manifest_id"] = f"MF-BENCH-{n:06d}"
    doc["arrival"] = arrival.isoformat()
    doc["departure"] = (arrival - dt.timedelta(days=3)).isoformat()
    out = []
    for i in range(lines):
        line = copy.deepcopy(SEA["lines"][i % 3])
        line["transport_document"] = {"type": "BL", "number": f"XB{n:06d}{i:05d}", "line": 1}
        line["containers"] = []
        out.append(line)
    doc["lines"] = out
    doc["totals"] = {
        "line_count": lines,
        "packages": sum(x["packages"] for x in out),
        "gross_mass_kg": str(sum(Decimal(x["gross_mass_kg"]) for x in out)),
    }
    return doc


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "nodes.cli", *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=REPO_ROOT,
    )


def wait_health(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer /health in {timeout} s")


def synthetic_orders(ctx: NodeContext, n: int) -> list[dict[str, Any]]:
    """Decided import declarations that levy duties, and their payment orders."""
    now = dt.datetime.now(dt.UTC).isoformat()
    importer = BEARINGS["importer"]
    rows = []
    for i in range(n):
        did = f"BENCH-PAY-{i:07d}"
        decision = {
            "declaration": {"type": "IM", "importer": importer, "declaration_id": did},
            "duties": {"total": f"{1000 + i % 977}.50"},
            "channel": "C1",
            "reasons": [],
        }
        rows.append((did, "0x" + f"{i:064x}", "C1", json.dumps(decision), "{}", "[]", now, "bench"))
    with ctx.db.transaction() as tx:
        tx.executemany(
            "INSERT INTO declarations (declaration_id, declaration_hash, channel, decision,"
            " attestation, draws, created_at, created_by) VALUES (?,?,?,?,?,?,?,?)",
            rows,
        )
    orders = []
    for r in rows:
        order = ctx.payments.ensure_order(r[0])
        assert order is not None, f"{r[0]} levies duties, so it must get a payment order"
        orders.append(order)
    return orders


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifests", type=int, default=20)
    ap.add_argument("--lines-per-manifest", type=int, default=500)
    ap.add_argument("--baseline-lines", type=int, default=300)
    ap.add_argument("--matches", type=int, default=2000)
    ap.add_argument("--payments", type=int, default=5000)
    ap.add_argument("--baseline-payments", type=int, default=200)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--clients", type=int, default=2, help="concurrent client connections")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="sc-bench-aci-"))
    members = [MemberConfig(id=m, name=m, api_port=free_port()) for m in ("TW", "SG", "NZ")]
    settings = Settings(
        home=home,
        chain={"anvil_port": free_port()},
        members=members,
        transport={"ingest": False},
        payments={"gateway_port": free_port()},
    )
    env = {
        **os.environ,
        "SMARTCUSTOMS_HOME": str(home),
        "SMARTCUSTOMS_CHAIN__ANVIL_PORT": str(settings.chain.anvil_port),
        "SMARTCUSTOMS_MEMBERS": json.dumps([m.model_dump() for m in members]),
        "SMARTCUSTOMS_TRANSPORT__INGEST": "false",
        "SMARTCUSTOMS_PAYMENTS__GATEWAY_PORT": str(settings.payments.gateway_port),
    }
    n_orders = args.payments + args.baseline_payments
    out: dict[str, Any] = {}
    with Devnet.from_settings(settings):
        dep, _ = ensure_deployed(settings, connect(settings))
        ctx = NodeContext.open(settings, "TW")
        orders = synthetic_orders(ctx, n_orders)
        ctx.close()
        db = Database(settings.node_dir("TW") / "node.sqlite")
        carrier, _ = ApiKeys(db, "TW").create("bench-carrier", "carrier")
        officer, _ = ApiKeys(db, "TW").create("bench-officer", "officer")
        db.close()
        node_url, gw_url = settings.node_url("TW"), settings.payments.gateway_url
        procs = [
            spawn(["node", "serve", "--member", "TW"], env, home / "node.log"),
            spawn(["gateway", "serve"], env, home / "gateway.log"),
        ]
        try:
            wait_health(node_url)
            wait_health(gw_url)
            admin = (settings.node_dir("TW") / "admin.apikey").read_text().strip()
            register_with_node(settings, "TW", admin)
            arrival = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
            headers = {"X-API-Key": carrier}
            pool = ThreadPoolExecutor(args.clients)
            clients = [httpx.Client(base_url=node_url, timeout=300, headers=headers)
                       for _ in range(args.clients)]  # fmt: skip

            def post_manifest(i_doc: tuple[int, dict]) -> dict:
                i, doc = i_doc
                r = clients[i % args.clients].post("/manifests", json=doc)
                if r.status_code != 201:
                    raise RuntimeError(r.text[:300])
                return r.json()

            # warm-up (first request compiles schemas, loads rules) outside the timing
            post_manifest((0, manifest(999_999, 3, arrival)))

            # --- manifests, batched ---------------------------------------------------------
            docs = [manifest(i, args.lines_per_manifest, arrival) for i in range(args.manifests)]
            t0 = time.perf_counter()
            lodged = list(pool.map(post_manifest, enumerate(docs)))
            t_ingest = time.perf_counter() - t0
            lines = args.manifests * args.lines_per_manifest
            flagged = sum(m["pre_arrival"]["C2"] + m["pre_arrival"]["C3"] for m in lodged)

            def all_anchored() -> bool:
                r = clients[0].get("/manifests", params={"limit": 500}).json()
                mine = [m for m in r if m["manifest"].startswith("MF-BENCH-0")]
                return len(mine) >= args.manifests and all(m["state"] == "anchored" for m in mine)

            while not all_anchored():
                time.sleep(0.1)
            t_anchored = time.perf_counter() - t0
            out.update(
                manifest_lines_per_s=round(lines / t_ingest),
                anchored_lines_per_s=round(lines / t_anchored),
                lines=lines,
                lines_flagged=flagged,
            )

            # --- manifests, baseline: one line per request --------------------------------------
            singles = [manifest(100_000 + i, 1, arrival) for i in range(args.baseline_lines)]
            t0 = time.perf_counter()
            list(pool.map(post_manifest, enumerate(singles)))
            out["baseline_lines_per_s"] = round(args.baseline_lines / (time.perf_counter() - t0))
            out["ingest_speedup"] = round(
                out["manifest_lines_per_s"] / out["baseline_lines_per_s"], 1
            )

            # --- payments through the gateway, batched ---------------------------------------------
            gw = [httpx.Client(base_url=gw_url, timeout=300) for _ in range(args.clients)]
            payer = {"name": BEARINGS["importer"]["name"]}
            view = httpx.Client(base_url=node_url, timeout=60, headers={"X-API-Key": officer})
            amounts = {o["reference"]: (o["amount"], o["currency"]) for o in orders}

            def order_amount(ref: str) -> tuple[str, str]:
                return amounts[ref]

            def pay_batch(i_refs: tuple[int, list[str]]) -> list[dict]:
                i, refs = i_refs
                body = {"member": "TW", "payments": [
                    {"order": r, "amount": order_amount(r)[0], "currency": order_amount(r)[1],
                     "payer": payer} for r in refs]}  # fmt: skip
                resp = gw[i % args.clients].post("/pay", json=body)
                if resp.status_code != 200:
                    raise RuntimeError(resp.text[:300])
                return resp.json()["results"]

            def pay_one(i_ref: tuple[int, str]) -> dict:
                i, ref = i_ref
                amount, currency = order_amount(ref)
                resp = gw[i % args.clients].post("/pay", json={
                    "member": "TW", "order": ref, "amount": amount, "currency": currency,
                    "payer": payer})  # fmt: skip
                if resp.status_code != 200:
                    raise RuntimeError(resp.text[:300])
                return resp.json()

            refs = [o["reference"] for o in orders]
            main_refs, base_refs = refs[: args.payments], refs[args.payments :]
            batches = [main_refs[i : i + args.batch] for i in range(0, len(main_refs), args.batch)]
            t0 = time.perf_counter()
            results = [r for part in pool.map(pay_batch, enumerate(batches)) for r in part]
            t_pay = time.perf_counter() - t0
            applied = sum(1 for r in results if r["status"] == "applied")
            assert applied == args.payments, f"{applied} of {args.payments} applied"

            def receipts_anchored() -> bool:
                rows = view.get("/payments", params={"limit": 1000, "status": "applied"}).json()
                return bool(rows) and all(r["receipt_state"] == "anchored" for r in rows)

            while not receipts_anchored():
                time.sleep(0.2)
            t_receipts = time.perf_counter() - t0
            t0 = time.perf_counter()
            singles_done = list(pool.map(pay_one, enumerate(base_refs)))
            t_single = time.perf_counter() - t0
            assert all(r["status"] == "applied" for r in singles_done)
            out.update(
                payments_per_s=round(args.payments / t_pay),
                baseline_payments_per_s=round(args.baseline_payments / t_single, 1),
                payments_speedup=round(
                    args.payments / t_pay / (args.baseline_payments / t_single), 1
                ),
                receipts_anchored_per_s=round(args.payments / t_receipts),
                payments=args.payments,
                batch=args.batch,
            )
            for c in (*clients, *gw, view):
                c.close()
            pool.shutdown()
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(30)

        # --- matching, in process (the node is stopped; its database stays) -----------------
        ctx = NodeContext.open(settings, "TW")
        tolerances = {"packages": 0, "weight_pct": "5"}
        decls = []
        for i in range(args.matches):
            # every third line of a bench manifest is the bearings line the declaration fits
            m, line = divmod(3 * i, args.lines_per_manifest - args.lines_per_manifest % 3)
            body = {**BEARINGS, "declaration_id": f"BENCH-M-{i:07d}",
                    "date": dt.date.today().isoformat(),
                    "transport_documents": [{"type": "BL", "number": f"XB{m:06d}{line:05d}",
                                             "line": 1, "packages": 46, "gross_mass_kg": "4450"}]}  # fmt: skip
            decls.append(load_declaration_json(body))
        hs = [it.hs_code for it in decls[0].items]
        t0 = time.perf_counter()
        statuses: dict[str, int] = {}
        for d in decls:
            found = ctx.manifests.findings(d)
            cited = d.transport_documents
            assert cited is not None and found is not None, (
                f"{d.declaration_id} cites a transport document, so it has findings"
            )
            merged = [{**c, "packages": r.packages, "gross_mass_kg": str(r.gross_mass_kg)}
                      for r, c in zip(cited, found["citations"], strict=True)]  # fmt: skip
            result = match_citations(hs, merged, tolerances)
            ctx.manifests.decided(d.declaration_id)
            s = result["lines"][0]["status"]
            statuses[s] = statuses.get(s, 0) + 1
        t_match = time.perf_counter() - t0
        ctx.close()
        out.update(matches_per_s=round(args.matches / t_match), match_statuses=statuses)

    print(json.dumps({**out, "chain_id": dep.chain_id, "clients": args.clients}))


if __name__ == "__main__":
    main()
