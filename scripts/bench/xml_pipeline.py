#!/usr/bin/env python3
"""XML pipeline benchmark: load, validate, canonicalise and hash trade documents, one process.

Uses N copies of examples/certificate-of-origin.xml (4.4 kB, ~100 elements, 6 items) with
different certificate numbers and quantities.  Times are CPU time of this process
(`time.process_time`), so other load on the machine does not count, and each figure is the
best of --rounds runs over all N documents.  Prints one JSON line:
  docs                 number of documents per run
  prepare_docs_per_s   offchain.documents.prepare end to end (bytes in, hash out)
  parse_us             xmlsafe.load_xml per document (checks + libxml2 parse)
  validate_us          XSD validation per document (already parsed)
  canonicalize_us      canonical.canonicalize per document
  hash_us              SHA-256 of the canonical bytes per document
  validator            the validator on the hot path
  doc_bytes            size of one document
With --compare it adds xmlschema_validate_us: the pure-Python `xmlschema` package validating
the same (already parsed) documents, the alternative the hot path was measured against.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from offchain import documents
from offchain.canonical import canonicalize, document_hash
from offchain.doctypes import CERTIFICATE_OF_ORIGIN
from offchain.xmlsafe import XmlLimits, load_xml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "certificate-of-origin.xml"


def variants(n: int) -> list[bytes]:
    base = EXAMPLE.read_bytes()
    return [
        base.replace(b"CO-TW-2025-004711", f"CO-TW-2025-{i:06d}".encode()).replace(
            b'<Quantity unitCode="C62">120<', f'<Quantity unitCode="C62">{100 + i % 900}<'.encode()
        )
        for i in range(n)
    ]


def best_us(rounds: int, items: Sequence[Any], work: Callable[[Any], Any]) -> float:
    """Best-of-`rounds` CPU time per item, in microseconds."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for item in items:
            work(item)
        best = min(best, time.process_time() - started)
    return best / len(items) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--compare", action="store_true", help="also time the xmlschema package")
    args = ap.parse_args()

    limits = XmlLimits()
    docs = variants(args.docs)
    dt = CERTIFICATE_OF_ORIGIN
    documents.prepare(docs[0], dt, limits=limits)  # compile the schema outside the timing

    def load(data: bytes):
        return load_xml(data, max_bytes=limits.max_bytes, max_depth=limits.max_depth)

    roots = [load(d) for d in docs]
    canonicals = [canonicalize(r) for r in roots]
    assert len({document_hash(c) for c in canonicals}) == len(docs), "variants must differ"

    prepare_us = best_us(args.rounds, docs, lambda d: documents.prepare(d, dt, limits=limits))
    result: dict[str, Any] = {
        "docs": len(docs),
        "prepare_docs_per_s": round(1e6 / prepare_us),
        "validate_us": round(best_us(args.rounds, roots, lambda r: documents._validate(r, dt)), 1),
        "canonicalize_us": round(best_us(args.rounds, roots, canonicalize), 1),
        "hash_us": round(best_us(args.rounds, canonicals, document_hash), 2),
        "parse_us": round(best_us(args.rounds, docs, load), 1),
        "validator": "lxml.etree.XMLSchema (libxml2)",
        "doc_bytes": len(docs[0]),
    }
    if args.compare:
        import xmlschema

        schema = xmlschema.XMLSchema(str(dt.xsd))
        sample = roots[: max(1, min(len(roots), 50))]
        assert all(schema.is_valid(r) for r in sample)
        result["xmlschema_validate_us"] = round(best_us(1, sample, schema.is_valid), 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
