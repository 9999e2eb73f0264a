"""Bulk intake: many documents for one partner, prepared, sealed and stored on worker processes.

Why processes: validating against the XSD, canonicalising, hashing and sealing a certificate
costs a few hundred microseconds of CPU, most of it holding the GIL, so threads would run it
on one core.  `BulkIntake` runs those steps for chunks of documents on a pool of worker
processes (one per core by default), each with its own XML parsers, compiled schemas and
content store handle; the node's process keeps the one writer of the outbox and the batcher.

The promise of a single submission holds for every document of a bulk one: when `submit`
answers a document as accepted, its sealed copy is in the content store (fsynced) and its row
is in the outbox (a durable commit), so a killed node or a power cut loses nothing and the
batcher anchors it exactly once.  Each chunk is committed in one transaction.

Unlike `DocumentService.submit_many`, one bad document does not refuse the others: each
input gets its own outcome, `Submitted` (accepted or duplicate) or `Refused` (why).
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from nodes.documents.service import DocumentError, DocumentService, Submitted, seal_documents
from offchain.cas.local import LocalStore
from offchain.dates import DateWindow
from offchain.doctypes import ANCHORED_TYPES
from offchain.documents import prepare
from offchain.errors import DocumentRejected
from offchain.hexbytes import hex0x
from offchain.outbox import QueuedDocument
from offchain.xmlsafe import XmlLimits

DEFAULT_CHUNK = 256


@dataclass(frozen=True)
class Refused:
    """A document of a bulk submission that was not accepted, and why (nothing was stored)."""

    index: int
    code: str
    detail: str
    http_status: int = 400

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "error": self.code, "detail": self.detail}


@dataclass(frozen=True)
class _Known:
    """A document already in the outbox: answered from its row, never sealed again."""

    doc_hash: str
    doc_type: str
    summary: dict[str, Any]


class BulkIntake:
    """A pool of intake workers for one node's `DocumentService`; close it when done."""

    def __init__(
        self, service: DocumentService, *, workers: int = 2, chunk: int = DEFAULT_CHUNK
    ) -> None:
        if workers < 1 or chunk < 1:
            raise ValueError("a bulk intake needs at least one worker and one document a chunk")
        self.service = service
        self.workers = workers
        self.chunk = chunk
        st = service.settings.store
        # cast: for store kind "local" the service opened a LocalStore (DocumentService.__init__)
        store = (
            {"kind": "local", "root": str(cast(LocalStore, service.store).root), "fsync": st.fsync}
            if st.kind == "local"
            else {"kind": "ipfs", "api_url": st.ipfs_api, "timeout_s": st.ipfs_timeout_s}
        )
        store["max_object_bytes"] = st.max_object_bytes
        # spawn, not fork: the node's process runs threads (batcher, deliverer, web server)
        # whose locks a forked child would inherit held.
        self._pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init,
            initargs=(
                store,
                str(service.outbox.db.path),
                service.limits,
                service.settings.dates.documents,
                service.rest_key,
            ),
        )
        # Start every worker now (schemas compiled, modules loaded), not on the first chunk.
        for f in [self._pool.submit(_ready, 0.05) for _ in range(workers)]:
            f.result()

    def submit(
        self, xmls: Sequence[bytes], doc_type: str, recipient: str, user: str
    ) -> list[Submitted | Refused]:
        """Accept documents of one type for one recipient; one outcome per input, in order.

        The recipient is checked once (an active member with an encryption key:
        `DocumentError` otherwise, and nothing is stored).  At most two chunks per worker
        are in flight, so memory stays bounded whatever the number of documents.
        """
        key = self.service.recipient_key(recipient)
        out: list[Submitted | Refused] = []
        flight: deque[tuple[int, Future]] = deque()
        starts = range(0, len(xmls), self.chunk)
        for start in starts:
            part = list(xmls[start : start + self.chunk])
            flight.append((start, self._pool.submit(_intake, part, doc_type, key, recipient, user)))
            if len(flight) >= 2 * self.workers:
                out += self._accept(*flight.popleft(), recipient)
        while flight:
            out += self._accept(*flight.popleft(), recipient)
        return out

    def _accept(self, start: int, future: Future, recipient: str) -> list[Submitted | Refused]:
        results = future.result()
        queued = [r for r in results if isinstance(r, QueuedDocument)]
        accepted = iter(self.service.queue(queued) if queued else [])
        out: list[Submitted | Refused] = []
        for i, r in enumerate(results):
            if isinstance(r, QueuedDocument):
                out.append(next(accepted))
            elif isinstance(r, Refused):
                out.append(Refused(start + i, r.code, r.detail, r.http_status))
            else:
                out.append(self._known(start + i, r, recipient))
        return out

    def _known(self, index: int, known: _Known, recipient: str) -> Submitted | Refused:
        doc = self.service.outbox.document(known.doc_hash)
        try:
            self.service._same_recipient(doc, recipient)
        except DocumentError as exc:
            return Refused(index, exc.code, exc.detail, exc.http_status)
        state = doc.state if doc is not None else "queued"
        return Submitted(known.doc_hash, known.doc_type, recipient, state, True, known.summary)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> BulkIntake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- in the worker processes ---------------------------------------------------------------

_worker: dict[str, Any] = {}


def _init(
    store: dict[str, Any], db_path: str, limits: XmlLimits, dates: DateWindow, rest_key: bytes
) -> None:
    from offchain.cas import open_store
    from offchain.documents import _schema_at

    kind = store.pop("kind")
    _worker.update(
        store=open_store(kind, **store),
        db_path=db_path,
        limits=limits,
        dates=dates,
        rest_key=rest_key,
    )
    for dt in ANCHORED_TYPES:
        _schema_at(dt.xsd)


def _ready(wait_s: float) -> bool:
    import time

    time.sleep(wait_s)  # holds this worker so the next warm-up goes to another
    return True


def _known_hashes(hashes: list[str]) -> set[str]:
    """Which of `hashes` the outbox already holds (read-only: the parent is the writer)."""
    if not hashes or not Path(_worker["db_path"]).exists():
        return set()
    conn = _worker.get("db")
    if conn is None:
        uri = f"file:{_worker['db_path']}?mode=ro"
        conn = _worker["db"] = sqlite3.connect(uri, uri=True, timeout=30)
    found: set[str] = set()
    try:
        for i in range(0, len(hashes), 500):
            part = hashes[i : i + 500]
            marks = ",".join("?" * len(part))
            found.update(
                r[0]
                for r in conn.execute(
                    f"SELECT doc_hash FROM out_documents WHERE doc_hash IN ({marks})", part
                )
            )
    except sqlite3.OperationalError:  # no outbox table yet: nothing is known
        return set()
    return found


def _intake(
    xmls: list[bytes], doc_type: str, recipient_key: bytes, recipient: str, user: str
) -> list[QueuedDocument | Refused | _Known]:
    """Prepare, seal and store one chunk (fsynced); what the parent queues, per input."""
    out: list[QueuedDocument | Refused | _Known | None] = [None] * len(xmls)
    fresh, seen = [], set()
    prepared = []
    for i, xml in enumerate(xmls):
        try:
            d = prepare(xml, doc_type, limits=_worker["limits"], dates=_worker["dates"])
        except DocumentRejected as exc:
            out[i] = Refused(i, exc.code, exc.detail, exc.http_status)
            continue
        prepared.append((i, d, hex0x(d.doc_hash)))
    known = _known_hashes([h for _, _, h in prepared])
    for i, d, h in prepared:
        if h in known or h in seen:
            out[i] = _Known(h, d.doc_type.name, d.summary)
        else:
            seen.add(h)
            fresh.append((i, d, h))
    if fresh:
        docs = [d for _, d, _ in fresh]
        sealed = seal_documents(docs, recipient_key, _worker["rest_key"])
        cids = _worker["store"].put_many([s for s, _ in sealed])
        for (i, d, h), (_, own), cid in zip(fresh, sealed, cids, strict=True):
            out[i] = QueuedDocument(
                doc_hash=h,
                doc_type=d.doc_type.name,
                doc_type_code=d.doc_type.code,
                recipient=recipient,
                submitted_by=user,
                cid_recipient=cid,
                own_copy=own,
                summary=d.summary,
            )
    return out  # type: ignore[return-value]
