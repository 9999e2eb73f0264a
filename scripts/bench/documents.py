#!/usr/bin/env python3
"""Trade-document benchmark: anchoring and verification throughput against OpenAttestation.

Starts its own anvil on a free port with a throw-away home, deploys, and drives TW's
DocumentService in process (no HTTP) for N distinct certificates of origin addressed to SG:

  anchor_docs_per_s    BulkIntake (2 worker processes: validate + canonicalise + hash, seal
                       for SG and at-rest copy, store by CID with fsync) and the outbox
                       (durable commit per chunk of 256), a batcher thread anchoring Merkle
                       batches of 1,024 as they fill, then every receipt; from the first
                       document to the last receipt
  verify_docs_per_s    full verdicts (schema, integrity, proof, anchored, issuer, revocation)
                       of every document with its receipt; the chain-free part in 2 worker
                       processes, the chain asked once per root and once per transaction
  peer_*_docs_per_s    the peer, right before and right after (mean of the two runs):
                       @govtechsg/open-attestation `wrapDocuments` (batches of 1,024) and
                       `verifySignature` on the same certificate as JSON, field for field
                       (scripts/bench/peer/open-attestation.js, one Node thread)
  anchor_vs_peer       anchor_docs_per_s / peer_wrap_docs_per_s; verify_vs_peer likewise:
                       the figures of record on a shared machine
  gas_per_doc          gas of one anchorBatch / documents in it (batch of 1,024)
  baseline_docs_per_s  one anchoring transaction per document, each waited for, on
                       --baseline documents prepared, sealed and stored as above (naive);
  pipelined_...        the same transactions signed first and sent in one JSON-RPC batch
  speedup              anchor_docs_per_s / baseline_docs_per_s (and over the pipelined one)

Prints one JSON line, plus `stages_s` (where the time goes).  `--profile` instead runs the
same work in this one process under cProfile (intake and anchoring, then verification) and
prints the top functions by own time to stderr.
"""

from __future__ import annotations

import contextlib

with contextlib.suppress(ModuleNotFoundError):  # a spawned worker re-imports this script
    import _benchpath  # noqa: F401  (must come first: bench/chain.py shadows `chain`)
import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from eth_typing import HexStr
from lxml import etree

from chain.client import connect
from chain.context import Chain
from chain.deploy import ensure_deployed
from chain.devnet import Devnet, free_port
from chain.verification import verify_many
from nodes.documents.intake import BulkIntake
from nodes.documents.service import DocumentService, Submitted, seal_documents
from offchain.db import Database
from offchain.documents import prepare
from offchain.merkle import leaf_hash
from offchain.settings import REPO_ROOT, MemberConfig, Settings
from offchain.xmlsafe import XmlLimits
from offchain.hexbytes import hex0x

EXAMPLE = REPO_ROOT / "examples" / "certificate-of-origin.xml"
NS = "urn:smartcustoms:doc:certificate-of-origin:1"
PEER = REPO_ROOT / "scripts" / "bench" / "peer" / "open-attestation.js"
CO = "certificate-of-origin"


def make_docs(n: int) -> list[bytes]:
    """N distinct, valid certificates: the example with its certificate id varied."""
    tree = etree.fromstring(EXAMPLE.read_bytes())
    cert_id = tree.find(f"{{{NS}}}CertificateID")
    out = []
    for i in range(n):
        cert_id.text = f"CO-TW-2025-{i:07d}"
        out.append(etree.tostring(tree, xml_declaration=True, encoding="UTF-8"))
    return out


def peer_document() -> dict:
    """The example certificate as an OpenAttestation v2 document: every element a field
    (repeated ones a list, attributes beside a `value`), plus the issuer block OA needs."""

    def field(el: etree._Element):
        kids = [c for c in el if isinstance(c.tag, str)]
        if not kids:
            text = (el.text or "").strip()
            return {**el.attrib, "value": text} if el.attrib else text
        out: dict = dict(el.attrib)
        for c in kids:
            name, value = etree.QName(c).localname, field(c)
            if name not in out:
                out[name] = value
            elif isinstance(out[name], list):
                out[name].append(value)
            else:
                out[name] = [out[name], value]
        return out

    issuer = {
        "name": "Bureau of Foreign Trade",
        "documentStore": "0x9178F546D3FF57D7A6352bD61B80cCCD46199C2d",
        "identityProof": {"type": "DNS-TXT", "location": "example.tw"},
    }
    return {"issuers": [issuer], **field(etree.parse(str(EXAMPLE)).getroot())}


def run_peer(n: int, workdir: Path) -> dict:
    """One run of the Node peer on n documents; {} with the reason when Node cannot run it."""
    node = shutil.which("node")
    if (
        node is None
        or not (REPO_ROOT / "node_modules" / "@govtechsg" / "open-attestation").is_dir()
    ):
        return {"error": "node or @govtechsg/open-attestation missing (make node)"}
    template = workdir / "peer-document.json"
    template.write_text(json.dumps(peer_document()))
    done = subprocess.run(
        [node, str(PEER), "--template", str(template), "--docs", str(n), "--batch", "1024"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-300:]}
    return json.loads(done.stdout)


def _consortium(home: Path, fsync: bool) -> Settings:
    members = [MemberConfig(id=m, name=m, api_port=free_port()) for m in ("TW", "SG", "NZ")]
    return Settings(
        home=home, chain={"anvil_port": free_port()}, members=members, store={"fsync": fsync}
    )


class Batcher:
    """The node's batcher loop (DocumentWorkers), on a thread of this process."""

    def __init__(self, svc: DocumentService) -> None:
        self.svc = svc
        self.anchored = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="batcher")

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.svc.wake.wait(0.05)
            self.svc.wake.clear()
            self.anchored += self.svc.anchor_pending()

    def __enter__(self) -> Batcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.svc.wake.set()
        self._thread.join()


def anchor_all(svc: DocumentService, xmls: list[bytes], intake: BulkIntake | None) -> dict:
    """Submit, anchor and collect receipts; the stage times and the receipts."""
    t0 = time.perf_counter()
    with Batcher(svc) as batcher:
        if intake is not None:
            outcomes = intake.submit(xmls, CO, "SG", "bench")
        else:  # one process (profiling): the same steps, chunk by chunk
            outcomes = []
            for i in range(0, len(xmls), 256):
                outcomes += svc.submit_many(xmls[i : i + 256], CO, "SG", "bench")
        t1 = time.perf_counter()
    anchored = batcher.anchored + svc.anchor_pending(force=True)
    t2 = time.perf_counter()
    roots = [
        r[0]
        for r in svc.outbox.db.query(
            "SELECT root FROM out_batches WHERE state = 'anchored' ORDER BY rowid"
        )
    ]
    receipts = [r for root in roots for r in svc.batch_receipts(root)]
    t3 = time.perf_counter()
    assert all(isinstance(o, Submitted) and not o.duplicate for o in outcomes), outcomes[:3]
    assert anchored == len(xmls) == len(receipts), (anchored, len(xmls), len(receipts))
    return {
        "seconds": t3 - t0,
        "receipts": receipts,
        "roots": roots,
        "stages": {
            "intake_with_concurrent_anchoring": t1 - t0,
            "anchor_rest": t2 - t1,
            "receipts": t3 - t2,
        },
    }


def with_receipts(xmls: list[bytes], receipts: list) -> list[tuple[bytes, object]]:
    """Each document with its receipt, as a verifier receives them."""
    limits = XmlLimits()
    by_hash = {r.doc_hash: r for r in receipts}
    return [(x, by_hash[hex0x(prepare(x, CO, limits=limits).doc_hash)]) for x in xmls]


def verify_all(chain: Chain, items: list, pool) -> float:
    limits = XmlLimits()
    t0 = time.perf_counter()
    verdicts = verify_many(
        items,
        documents=chain.documents,
        registry=chain.registry,
        chain_id=chain.deployment.chain_id,
        limits=limits,
        pool=pool,
    )
    seconds = time.perf_counter() - t0
    assert all(v.valid for v in verdicts), next(v.reason for v in verdicts if not v.valid)
    return seconds


def baselines(svc: DocumentService, chain: Chain, xmls: list[bytes]) -> tuple[float, float]:
    """(naive, pipelined) documents per second with one anchoring transaction per document."""
    half = len(xmls) // 2
    limits = XmlLimits()
    key = svc.recipient_key("SG")
    sender = chain.sender(svc.issuer_key)

    def prepared(part: list[bytes]):
        docs = [prepare(x, CO, limits=limits) for x in part]
        sealed = seal_documents(docs, key, svc.rest_key)
        svc.store.put_many([s for s, _ in sealed])
        return docs

    t0 = time.perf_counter()
    for d in prepared(xmls[:half]):
        chain.documents.anchor_batch(sender, leaf_hash(d.doc_hash), 1, 1)
    naive = half / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    docs = prepared(xmls[half:])
    chain.documents.anchor_many(sender, [(leaf_hash(d.doc_hash), 1, 1) for d in docs])
    pipelined = (len(xmls) - half) / (time.perf_counter() - t0)
    return naive, pipelined


def top_lines(profile: cProfile.Profile, n: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(n)
    return out.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=10_240)
    ap.add_argument("--baseline", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-fsync", action="store_true", help="store without fsync (not durable)")
    ap.add_argument("--no-peer", action="store_true", help="skip the OpenAttestation runs")
    ap.add_argument("--profile", action="store_true", help="cProfile in one process instead")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="sc-bench-docs-"))
    settings = _consortium(home, fsync=not args.no_fsync)
    xmls = make_docs(args.docs + args.baseline)
    main_docs, base_docs = xmls[: args.docs], xmls[args.docs :]
    peer_runs = [] if args.no_peer or args.profile else [run_peer(args.docs, home)]
    with Devnet.from_settings(settings):
        w3 = connect(settings)
        dep, _ = ensure_deployed(settings, w3)
        chain = Chain(settings, w3=w3, deployment=dep)
        db = Database(settings.node_dir("TW") / "node.sqlite")
        svc = DocumentService(settings, "TW", chain, db)
        svc.recipient_key("SG")
        chain.documents  # noqa: B018 - warm the facade outside the timing
        chain.sender(svc.issuer_key)

        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            done = anchor_all(svc, main_docs, None)
            profile.disable()
            anchor_profile = top_lines(profile, 18)
            items = with_receipts(main_docs, done["receipts"])
            profile = cProfile.Profile()
            profile.enable()
            verify_s = verify_all(chain, items, None)
            profile.disable()
            print(
                f"one process, profiled: anchoring {args.docs / done['seconds']:.0f} docs/s\n"
                f"{anchor_profile}\nverification {args.docs / verify_s:.0f} docs/s\n"
                f"{top_lines(profile, 14)}",
                file=sys.stderr,
            )
            db.close()
            return

        with BulkIntake(svc, workers=args.workers) as intake:
            done = anchor_all(svc, main_docs, intake)
        stages = dict(done["stages"])
        anchor_rate = args.docs / done["seconds"]
        receipts = done["receipts"]
        # a full batch (a slow intake lets the 2 s interval close smaller ones too)
        batches = []
        for root in done["roots"]:
            found = svc.outbox.batch(root)
            assert found is not None, f"anchored root {root} has no outbox batch"
            batches.append(found)
        batch = max(batches, key=lambda b: b.count)
        assert batch.tx is not None, f"batch {batch.root} is anchored but has no transaction"
        gas = w3.eth.get_transaction_receipt(HexStr(batch.tx))["gasUsed"]
        gas_per_doc = gas / batch.count

        items = with_receipts(main_docs, receipts)
        with ProcessPoolExecutor(args.workers) as vpool:
            vpool.submit(int).result()  # start the workers outside the timing
            stages["verify"] = verify_all(chain, items, vpool)

        naive, pipelined = baselines(svc, chain, base_docs)
        db.close()
    if peer_runs:
        peer_runs.append(run_peer(args.docs, home))
    ok = [p for p in peer_runs if "wrap_docs_per_s" in p]
    peer_wrap = sum(p["wrap_docs_per_s"] for p in ok) / len(ok) if ok else None
    peer_verify = sum(p["verify_docs_per_s"] for p in ok) / len(ok) if ok else None
    verify_rate = args.docs / stages["verify"]
    print(
        json.dumps(
            {
                "docs": args.docs,
                "anchor_docs_per_s": round(anchor_rate),
                "verify_docs_per_s": round(verify_rate),
                "peer_wrap_docs_per_s": round(peer_wrap) if peer_wrap else None,
                "peer_verify_docs_per_s": round(peer_verify) if peer_verify else None,
                "anchor_vs_peer": round(anchor_rate / peer_wrap, 2) if peer_wrap else None,
                "verify_vs_peer": round(verify_rate / peer_verify, 2) if peer_verify else None,
                "gas_per_doc": round(gas_per_doc, 1),
                "baseline_docs_per_s": round(naive, 1),
                "pipelined_baseline_docs_per_s": round(pipelined, 1),
                "speedup": round(anchor_rate / naive, 1),
                "speedup_over_pipelined": round(anchor_rate / pipelined, 1),
                "batches": len(done["roots"]),
                "fsync": not args.no_fsync,
                "workers": args.workers,
                "cpus": os.cpu_count(),
                "load_avg": round(os.getloadavg()[0], 1),
                "doc_bytes": len(main_docs[0]),
                "peer_runs": [
                    {k: p.get(k) for k in ("wrap_docs_per_s", "verify_docs_per_s", "error")}
                    for p in peer_runs
                ],
                "peer": ok[0]["peer"] if ok else None,
                "peer_doc_bytes": ok[0]["doc_bytes"] if ok else None,
                "stages_s": {k: round(v, 3) for k, v in stages.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
