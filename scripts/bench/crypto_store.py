#!/usr/bin/env python3
"""Crypto + content store benchmark: seal, store, read back — per document costs.

Works on N synthetic certificates of ~3 KB in a throw-away directory.  Prints one JSON line:
  docs                       N
  seal_us                    sealed box for one member (X25519 + XSalsa20-Poly1305), per doc
  put_us                     LocalStore.put of one sealed doc, fsync off (hash, temp file,
                             rename), per doc
  put_many_docs_per_s        LocalStore.put_many of all sealed docs in one batch, fsync off
  get_verify_us              LocalStore.get (read + sha256 check against the CID), per doc
and where the time goes:
  cid_us                     sha256 + CID text alone, per doc (part of put_us)
  unseal_us                  opening one sealed doc
  put_fsync_us               put with fsync on (file + directory flushed), per doc, measured
                             on --fsync-docs documents (each costs milliseconds)
  put_many_fsync_docs_per_s  put_many with fsync on (flushes overlapped), on all N docs
  envelope_sign_us / envelope_verify_us   one node-to-node envelope (EIP-712, secp256k1)
  loadavg                    1-minute load average at the end (others' work skews figures)
Each figure is the best of --repeat runs, to filter out noise from other processes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from eth_account import Account
from nacl.public import PrivateKey

from offchain.cas import LocalStore, cid_of
from offchain.crypto import seal, sign_envelope, unseal, verify_envelope


def payloads(n: int) -> list[bytes]:
    """~3 KB certificate-like XML, each unique (a serial and some random filler)."""
    filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 40
    docs = []
    for i in range(n):
        doc = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<CertificateOfOrigin id="CO-TW-{i:08d}" exporter="TW-EXP-{i % 97:04d}">'
            f"<Goods hs='0201.30' qty='{i % 500 + 1}'/><Nonce>{os.urandom(16).hex()}</Nonce>"
            f"<Remarks>{filler}</Remarks></CertificateOfOrigin>"
        )
        docs.append(doc.encode()[:3072])
    return docs


def best(repeat: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeat))


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--fsync-docs", type=int, default=200, help="docs for the fsync put figure")
    ap.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir)")
    args = ap.parse_args()

    n = args.docs
    docs = payloads(n)
    key = PrivateKey.generate()
    pub = bytes(key.public_key)
    sealed = [seal(pub, d) for d in docs]
    base = Path(tempfile.mkdtemp(prefix="sc-bench-cas-", dir=args.dir))
    runs = iter(range(10**6))

    def fresh(fsync: bool) -> LocalStore:
        return LocalStore(base / f"run{next(runs)}", fsync=fsync)

    def put_each(store: LocalStore, items: list[bytes]) -> float:
        return timed(lambda: [store.put(d) for d in items])

    try:
        out: dict[str, object] = {"docs": n}
        per_doc = 1e6 / n
        out["seal_us"] = best(args.repeat, lambda: timed(lambda: [seal(pub, d) for d in docs]))
        out["seal_us"] *= per_doc
        out["put_us"] = best(args.repeat, lambda: put_each(fresh(False), sealed)) * per_doc
        t = best(args.repeat, lambda: timed(lambda: fresh(False).put_many(sealed)))
        out["put_many_docs_per_s"] = n / t
        store = fresh(False)
        cids = store.put_many(sealed)
        out["get_verify_us"] = best(
            args.repeat, lambda: timed(lambda: [store.get(c) for c in cids])
        )
        out["get_verify_us"] *= per_doc

        out["cid_us"] = best(args.repeat, lambda: timed(lambda: [cid_of(s) for s in sealed]))
        out["cid_us"] *= per_doc
        out["unseal_us"] = best(
            args.repeat, lambda: timed(lambda: [unseal(key, s) for s in sealed])
        )
        out["unseal_us"] *= per_doc
        k = min(args.fsync_docs, n)
        out["put_fsync_us"] = best(args.repeat, lambda: put_each(fresh(True), sealed[:k])) * (
            1e6 / k
        )
        t = best(args.repeat, lambda: timed(lambda: fresh(True).put_many(sealed)))
        out["put_many_fsync_docs_per_s"] = n / t

        acct = Account.create()
        body = sealed[0]
        m = 200
        out["envelope_sign_us"] = (
            timed(lambda: [sign_envelope(acct, "TW", "SG", body, chain_id=1) for _ in range(m)])
            * 1e6
            / m
        )
        env = sign_envelope(acct, "TW", "SG", body, chain_id=1)

        def verify_m() -> None:
            for _ in range(m):
                verify_envelope(
                    env,
                    body,
                    recipient="SG",
                    chain_id=1,
                    is_member_account=lambda _m, _a: True,
                    seen_nonce=lambda _s, _n: False,
                )

        out["envelope_verify_us"] = timed(verify_m) * 1e6 / m
        out["loadavg"] = os.getloadavg()[0]
    finally:
        shutil.rmtree(base, ignore_errors=True)

    print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in out.items()}))


if __name__ == "__main__":
    main()
