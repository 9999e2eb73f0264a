#!/usr/bin/env python3
"""Clearance benchmark: off-chain decision rate, attestation gas, batched attestation rate.

Starts its own anvil with a throw-away home and deploys; three oracle instances (TW, SG, NZ
keys), quorum 2: in this process for the single attestation, as three separate instance
processes (`smartcustoms oracle serve`, as `make run` starts them) for the batches.  Declarations are the examples without permits or document
references (so the decision is pure computation: parse, duties, selectivity), each copy
with its own id, dated today.

  declarations_per_s      ClearanceOracle.evaluate (one instance, one thread)
  gas_per_attestation     one 2-of-3 AttestationHub.submit of a decision
  attested_results_per_s  decisions computed by every instance process, signed once per
                          batch of --batch under a Merkle root, submitted with submitBatch
                          (Aggregator.attest_batches: the next batch is collected while the
                          previous one is submitted)
  gas_per_result_batched  submitBatch gas / results in the batch
  instances_cpu_ms_per_result   CPU the three instance processes spent per batched result
  aggregator_cpu_ms_per_result  CPU this process (the aggregator) spent per batched result
  (the CPU figures hold still on a shared machine where the rates do not)
"""

from __future__ import annotations

import _benchpath  # noqa: F401  (must come first: bench/chain.py shadows `chain`)
import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from chain.client import connect
from chain.context import Chain
from chain.deploy import ensure_deployed
from chain.devnet import Devnet, free_port, port_is_free
from offchain import attestation as att
from offchain.declarations import load_declaration_json, load_declaration_xml
from offchain.keystore import role_account_name
from offchain.settings import REPO_ROOT, MemberConfig, Settings
from oracles.aggregator import Aggregator, LocalInstance
from offchain.procs import die_with_parent
from oracles.instances import instance_url, member_instances
from oracles.service import HttpInstance

EXAMPLES = REPO_ROOT / "examples" / "declarations"
PURE = (
    "01-machinery-parts-sg.json",
    "04-lithium-batteries-cn.xml",
    "05-undervalued-apparel-vn.xml",
)


def requests(n: int) -> list[dict]:
    today = dt.date.today()
    bases = []
    for name in PURE:
        p = EXAMPLES / name
        d = (
            load_declaration_xml(p.read_bytes())
            if p.suffix == ".xml"
            else load_declaration_json(p.read_bytes())
        )
        bases.append(d.model_copy(update={"date": today}).to_json())
    out = []
    for i in range(n):
        body = dict(bases[i % len(bases)])
        body["declaration_id"] = f"BENCH-{i:08d}"
        out.append({"declaration": body, "oracles": {}})
    return out


def start_instances(settings: Settings, members: list[MemberConfig]) -> list:
    """One `smartcustoms oracle serve` process per member, as make run starts them."""
    env = {
        **os.environ,
        "SMARTCUSTOMS_HOME": str(settings.home),
        "SMARTCUSTOMS_CHAIN__ANVIL_PORT": str(settings.chain.anvil_port),
        "SMARTCUSTOMS_MEMBERS": json.dumps([m.model_dump() for m in members]),
        "SMARTCUSTOMS_CLEARANCE__ORACLE_BASE_PORT": str(settings.clearance.oracle_base_port),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "nodes.cli", "oracle", "serve", "--member", m.id],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        for m in members
    ]
    deadline = time.monotonic() + 60
    for m in members:
        while True:
            try:
                if httpx.get(f"{instance_url(settings, m.id)}/health", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"oracle instance {m.id} did not start")
            time.sleep(0.2)
    return procs


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_run(n: int) -> int:
    for _ in range(50):
        base = free_port()
        if all(port_is_free("127.0.0.1", base + i) for i in range(n)):
            return base
    raise SystemExit("no run of free ports")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--declarations", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--batches", type=int, default=2)
    ap.add_argument(
        "--sequential",
        action="store_true",
        help="collect and submit one batch after another (attest_batch), not overlapped",
    )
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="sc-bench-clearance-"))
    members = [MemberConfig(id=m, name=m, api_port=free_port()) for m in ("TW", "SG", "NZ")]
    settings = Settings(
        home=home,
        chain={"anvil_port": free_port()},
        members=members,
        clearance={"oracle_base_port": _free_run(len(members))},
    )
    reqs = requests(max(args.declarations, args.batch * args.batches) + 8)
    with Devnet.from_settings(settings):
        w3 = connect(settings)
        dep, _ = ensure_deployed(settings, w3)
        chain = Chain(settings, w3=w3, deployment=dep)
        instances = {m.id: member_instances(settings, m.id, chain, store=False) for m in members}
        oracle = instances["TW"][int(att.CLEARANCE)].oracle
        oracle.evaluate(reqs[0])  # warm caches (tariff, rules)

        t0 = time.perf_counter()
        for r in reqs[: args.declarations]:
            oracle.evaluate(r)
        decl_rate = args.declarations / (time.perf_counter() - t0)

        agg = Aggregator(
            [LocalInstance(m, i) for m, i in instances.items()],
            chain.attestations,
            chain.sender(role_account_name("TW", "ORACLE_OPERATOR")),
            quorum=chain.attestations.quorum,
            timeout_s=120,
        )
        first = agg.attest(int(att.CLEARANCE), reqs[0])  # records the model version once
        single = agg.attest(int(att.CLEARANCE), reqs[1])

        procs = start_instances(settings, members)
        agg = Aggregator(
            [HttpInstance(m.id, instance_url(settings, m.id)) for m in members],
            chain.attestations,
            chain.sender(role_account_name("TW", "ORACLE_OPERATOR")),
            quorum=chain.attestations.quorum,
            timeout_s=120,
        )
        agg.attest_batch(int(att.CLEARANCE), reqs[-8:])  # connections, caches, first model
        inst_cpu0, own_cpu0 = sum(cpu_s(p.pid) for p in procs), time.process_time()
        t0 = time.perf_counter()
        parts = [reqs[b * args.batch : (b + 1) * args.batch] for b in range(args.batches)]
        if args.sequential:
            attested = [agg.attest_batch(int(att.CLEARANCE), p) for p in parts]
        else:
            attested = list(agg.attest_batches(int(att.CLEARANCE), parts))
        gas = [done.gas_used / args.batch for done in attested]
        n_batched = args.batch * args.batches
        batched_rate = n_batched / (time.perf_counter() - t0)
        inst_cpu = sum(cpu_s(p.pid) for p in procs) - inst_cpu0
        own_cpu = time.process_time() - own_cpu0
        quorum = chain.attestations.quorum(att.CLEARANCE)
        agg.close()
        for p in procs:
            p.terminate()
            p.wait(10)

    print(
        json.dumps(
            {
                "declarations_per_s": round(decl_rate),
                "attested_results_per_s": round(batched_rate),
                "gas_per_attestation": single.gas_used,
                "gas_first_attestation_of_model": first.gas_used,
                "gas_per_result_batched": round(sum(gas) / len(gas), 1),
                "instances_cpu_ms_per_result": round(1000 * inst_cpu / n_batched, 3),
                "aggregator_cpu_ms_per_result": round(1000 * own_cpu / n_batched, 3),
                "load_avg": round(os.getloadavg()[0], 1),
                "batch": args.batch,
                "overlapped": not args.sequential,
                "instances": len(members),
                "quorum": quorum,
            }
        )
    )


if __name__ == "__main__":
    main()
