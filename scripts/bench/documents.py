#!/usr/bin/env python3
"""Trade-document benchmark: end-to-end anchoring and verification throughput, gas per document.

Starts its own anvil on a free port with a throw-away home, deploys, and drives TW's
DocumentService in process (no HTTP) for N distinct certificates of origin addressed to SG:

  anchor_docs_per_s    validate + canonicalise + hash, seal for SG and at-rest copy, store by
                       CID with fsync (2 worker processes); queue in the SQLite outbox, anchor
                       Merkle batches of 1,024 as they fill (a batcher thread, as on a node),
                       build every receipt; from the first document to the last receipt
  verify_docs_per_s    full verdicts (schema, integrity, proof, anchored, issuer, revocation)
                       for every document with its receipt; the chain-free part in 2 worker
                       processes, the chain asked once per root
  gas_per_doc          gas of one anchorBatch / documents in it (batch of 1,024)
  baseline_docs_per_s  the same preparation, but one anchoring transaction per document
                       (sent one at a time), on a subset of --baseline documents
  speedup              anchor_docs_per_s / baseline_docs_per_s

Prints one JSON line, plus `stages_s` (where the time goes).
"""

from __future__ import annotations

import _benchpath  # noqa: F401  (must come first: bench/chain.py shadows `chain`)
import argparse
import json
import os
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from lxml import etree

from chain.client import connect
from chain.context import Chain
from chain.deploy import ensure_deployed
from chain.devnet import Devnet, free_port
from chain.verification import verify_many
from nodes.documents.service import DocumentService, seal_documents
from offchain.cas import LocalStore
from offchain.db import Database
from offchain.documents import prepare
from offchain.merkle import leaf_hash
from offchain.settings import REPO_ROOT, MemberConfig, Settings
from offchain.xmlsafe import XmlLimits

EXAMPLE = REPO_ROOT / "examples" / "certificate-of-origin.xml"
NS = "urn:smartcustoms:doc:certificate-of-origin:1"


def make_docs(n: int) -> list[bytes]:
    """N distinct, valid certificates: the example with its certificate id varied."""
    tree = etree.fromstring(EXAMPLE.read_bytes())
    cert_id = tree.find(f"{{{NS}}}CertificateID")
    out = []
    for i in range(n):
        cert_id.text = f"CO-TW-2025-{i:07d}"
        out.append(etree.tostring(tree, xml_declaration=True, encoding="UTF-8"))
    return out


_limits = XmlLimits()
_worker: dict = {}


def _init(recipient_key: bytes, rest_key: bytes, store_root: str, fsync: bool) -> None:
    _worker.update(keys=(recipient_key, rest_key), store=LocalStore(Path(store_root), fsync=fsync))


def _prepare_seal_store(chunk: list[bytes]):
    """Worker: the CPU- and file-bound part, in parallel; the outbox stays in the main process."""
    docs = [prepare(x, "certificate-of-origin", limits=_limits) for x in chunk]
    sealed = seal_documents(docs, *_worker["keys"])
    return docs, sealed, _worker["store"].put_many([s[0] for s in sealed])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=10_240)
    ap.add_argument("--baseline", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-fsync", action="store_true", help="store without fsync (not durable)")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="sc-bench-docs-"))
    members = [MemberConfig(id=m, name=m, api_port=free_port()) for m in ("TW", "SG", "NZ")]
    settings = Settings(
        home=home,
        chain={"anvil_port": free_port()},
        members=members,
        store={"fsync": not args.no_fsync},
    )
    xmls = make_docs(args.docs + args.baseline)
    main_docs, base_docs = xmls[: args.docs], xmls[args.docs :]
    stages: dict[str, float] = {}
    with Devnet.from_settings(settings):
        w3 = connect(settings)
        dep, _ = ensure_deployed(settings, w3)
        chain = Chain(settings, w3=w3, deployment=dep)
        db = Database(settings.node_dir("TW") / "node.sqlite")
        svc = DocumentService(settings, "TW", chain, db)
        key = svc.recipient_key("SG")
        chain.documents  # noqa: B018 - warm the facade outside the timing
        svc.chain.sender(svc.issuer_key)

        # --- end to end, batched -------------------------------------------------------
        chunk = 256
        chunks = [main_docs[i : i + chunk] for i in range(0, len(main_docs), chunk)]
        t0 = time.perf_counter()
        store_root = str(svc.store.root)
        # As on a node, the batcher anchors full batches while documents keep arriving.
        anchored_count = [0]
        stop = threading.Event()

        def batcher() -> None:
            while not stop.is_set():
                svc.wake.wait(0.05)
                svc.wake.clear()
                anchored_count[0] += svc.anchor_pending()

        worker = threading.Thread(target=batcher)
        worker.start()
        with ProcessPoolExecutor(
            args.workers,
            initializer=_init,
            initargs=(key, svc.rest_key, store_root, not args.no_fsync),
        ) as pool:
            t_acc = 0.0
            for docs, sealed, cids in pool.map(_prepare_seal_store, chunks):
                ta = time.perf_counter()
                svc.accept(docs, sealed, "SG", "bench", cids=cids)
                t_acc += time.perf_counter() - ta
            t1 = time.perf_counter()
            stop.set()
            worker.join()
            anchored = anchored_count[0] + svc.anchor_pending(force=True)
            t2 = time.perf_counter()
            receipts = [svc.receipt(d) for d in svc.outbox.documents(limit=args.docs)]
            t3 = time.perf_counter()
        assert anchored == args.docs and all(receipts), (anchored, args.docs)
        stages.update(
            intake_with_concurrent_anchoring=t1 - t0,
            queue=t_acc,
            anchor_rest=t2 - t1,
            receipts=t3 - t2,
        )
        anchor_rate = args.docs / (t3 - t0)

        root = receipts[0].root
        batch_tx = svc.outbox.batch(root).tx
        gas = w3.eth.get_transaction_receipt(batch_tx)["gasUsed"]
        gas_per_doc = gas / svc.outbox.batch(root).count

        # --- verification ------------------------------------------------------------------
        by_hash = {r.doc_hash: r for r in receipts}
        limits = XmlLimits()
        items = []
        for x in main_docs:
            h = "0x" + prepare(x, "certificate-of-origin", limits=limits).doc_hash.hex()
            items.append((x, by_hash[h]))
        with ProcessPoolExecutor(args.workers) as vpool:
            vpool.submit(int).result()  # start the workers outside the timing
            t0 = time.perf_counter()
            verdicts = verify_many(
                items,
                documents=chain.documents,
                registry=chain.registry,
                chain_id=dep.chain_id,
                limits=limits,
                pool=vpool,
            )
            t_verify = time.perf_counter() - t0
        assert all(v.valid for v in verdicts), next(v.reason for v in verdicts if not v.valid)
        stages["verify"] = t_verify

        # --- baseline: one anchoring transaction per document ---------------------------------
        sender = chain.sender(svc.issuer_key)
        t0 = time.perf_counter()
        docs = [prepare(x, "certificate-of-origin", limits=limits) for x in base_docs]
        sealed = seal_documents(docs, key, svc.rest_key)
        svc.store.put_many([s[0] for s in sealed] + [s[1] for s in sealed])
        for d in docs:
            chain.documents.anchor_batch(sender, leaf_hash(d.doc_hash), 1, 1)
        baseline_rate = len(base_docs) / (time.perf_counter() - t0)
        db.close()

    print(
        json.dumps(
            {
                "docs": args.docs,
                "anchor_docs_per_s": round(anchor_rate),
                "verify_docs_per_s": round(args.docs / t_verify),
                "gas_per_doc": round(gas_per_doc, 1),
                "baseline_docs_per_s": round(baseline_rate, 1),
                "speedup": round(anchor_rate / baseline_rate, 1),
                "batches": len({r.root for r in receipts}),
                "fsync": not args.no_fsync,
                "workers": args.workers,
                "cpus": os.cpu_count(),
                "stages_s": {k: round(v, 3) for k, v in stages.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
