#!/usr/bin/env python3
"""Merkle benchmark: building a batch tree, making every proof, verifying proofs.

Pure Python, no chain.  Prints one JSON line:
  leaves        leaves per tree (default 1,024, the largest batch DocumentRegistry takes)
  build_ms      MerkleTree.from_values over random 32-byte document hashes (leaf hashing
                included), median of --rounds
  proofs_ms     MerkleTree.proofs() for every leaf, median of --rounds
  verify_per_s  offchain.merkle.verify calls per second over all proofs of one tree (leaf
                hash included, as a verifier computes it from the document hash)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from offchain.merkle import MerkleTree, leaf_hash, verify


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leaves", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=21)
    args = ap.parse_args()
    if args.leaves < 1 or args.rounds < 1:
        raise SystemExit("--leaves and --rounds must be at least 1")

    values = [os.urandom(32) for _ in range(args.leaves)]
    build, proofs = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        tree = MerkleTree.from_values(values)
        t1 = time.perf_counter()
        all_proofs = tree.proofs()
        t2 = time.perf_counter()
        build.append(t1 - t0)
        proofs.append(t2 - t1)

    t0 = time.perf_counter()
    for value, proof in zip(values, all_proofs, strict=True):
        if not verify(proof, tree.root, leaf_hash(value)):
            raise SystemExit("a proof did not verify: offchain.merkle is broken")
    verify_s = time.perf_counter() - t0

    print(
        json.dumps(
            {
                "leaves": args.leaves,
                "build_ms": round(statistics.median(build) * 1e3, 3),
                "proofs_ms": round(statistics.median(proofs) * 1e3, 3),
                "verify_per_s": round(args.leaves / verify_s),
            }
        )
    )


if __name__ == "__main__":
    main()
