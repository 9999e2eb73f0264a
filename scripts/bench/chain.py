#!/usr/bin/env python3
"""Chain benchmark: deploy time, transactions per second from Python, gas per governance vote.

Starts its own anvil on a free port with a throw-away state directory, so it never touches
a running consortium.  Prints one JSON line:
  deploy_s         compile (cached) + deploy ConsortiumRegistry + register the members' nodes
  tx_per_s         mined transactions per second, N concurrent senders (threads, one account
                   each), each pipelining its transactions through TxSender.send_many
  tx_per_s_serial  the same work one transaction at a time (send, wait), one sender
  gas_vote         gas of a governance vote that does not decide the proposal
  gas_vote_exec    gas of the deciding vote that executes a remove-member proposal
"""

from __future__ import annotations

import _benchpath  # noqa: F401  (must come first: this file's name shadows `chain`)
import argparse
import json
import os
import tempfile
from pathlib import Path
import threading
import time

from chain.client import connect
from chain.compiler import compile_contracts
from chain.context import Chain
from chain.deploy import ensure_deployed, fund_dev_accounts
from chain.devnet import Devnet, free_port
from chain.ids import member_id_bytes
from offchain.keystore import member_admin_name
from offchain.settings import MemberConfig, Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--senders", type=int, default=4)
    ap.add_argument("--txs", type=int, default=100, help="transactions per sender")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="sc-bench-"))
    members = [
        MemberConfig(id=m, name=f"{m} customs", api_port=9000 + i)
        for i, m in enumerate(["TW", "SG", "NZ", "JP"])
    ]
    settings = Settings(home=home, chain={"anvil_port": free_port()}, members=members)
    with Devnet.from_settings(settings):
        w3 = connect(settings)
        compile_contracts(settings)  # measured separately: the cache makes this ~0 s later
        t0 = time.perf_counter()
        dep, _ = ensure_deployed(settings, w3)
        deploy_s = time.perf_counter() - t0
        chain = Chain(settings, w3=w3, deployment=dep)
        reg = chain.registry

        # Throughput: each sender is an admin setting its own member's X25519 key (a real
        # state-changing registry call with an event).
        if not 1 <= args.senders <= len(members):
            raise SystemExit(f"--senders must be 1..{len(members)} (one per member admin)")
        senders = [chain.sender(member_admin_name(m.id)) for m in members][: args.senders]
        fund_dev_accounts(w3, [s.address for s in senders], 10**24)
        calls = {
            s.address: [
                reg.contract.functions.setX25519Key(member_id_bytes(m.id), os.urandom(32))
                for _ in range(args.txs)
            ]
            for s, m in zip(senders, members, strict=False)
        }
        gas = 80_000
        errors: list[BaseException] = []

        def work(sender):
            try:
                sender.send_many(calls[sender.address], gas=gas)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(s,)) for s in senders]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        par_s = time.perf_counter() - t0
        if errors:
            raise errors[0]
        total = args.senders * args.txs

        serial_n = min(args.txs, 100)
        one = senders[0]
        fn = reg.contract.functions.setX25519Key(member_id_bytes(members[0].id), os.urandom(32))
        t0 = time.perf_counter()
        for _ in range(serial_n):
            one.wait(one.send(fn, gas=gas))
        serial_s = time.perf_counter() - t0

        # Gas per governance vote: 4 members, so the 2nd vote does not decide, the 3rd does.
        tw, sg, nz = (chain.sender(member_admin_name(m)) for m in ("TW", "SG", "NZ"))
        p = reg.propose_remove_member(tw, "JP")
        r_vote = sg.transact(reg.contract.functions.vote(p.id, True))
        r_exec = nz.transact(reg.contract.functions.vote(p.id, True))
        assert reg.proposal(p.id).state == "executed"

    print(
        json.dumps(
            {
                "deploy_s": round(deploy_s, 3),
                "tx_per_s": round(total / par_s, 1),
                "senders": args.senders,
                "txs": total,
                "tx_per_s_serial": round(serial_n / serial_s, 1),
                "gas_vote": r_vote["gasUsed"],
                "gas_vote_exec": r_exec["gasUsed"],
            }
        )
    )


if __name__ == "__main__":
    main()
