"""Records a node keeps for its own users — cargo manifests lodged here, payment receipts —
anchored through the same DocumentRegistry batching, receipts and verification as trade
documents, but never sent to a partner.

Why a second `DocumentService` rather than new anchoring code: the outbox state machine
(queued -> batched -> anchored, crash-safe, each root anchored once), the batcher, the
receipts, the verifier and the auditor's trace are the ones trade documents use.  The only
difference is the recipient: a record is sealed for this member itself and kept in an outbox
of its own (`records.sqlite` next to `node.sqlite`), so the partner deliverer never sees it.
When a batch is anchored the outbox schedules a "delivery" per document; for a record there
is none to make, and the worker marks it archived at this node.

`RecordWorker` runs the node's periodic jobs for issue #18 in one thread: anchoring records,
reading in export manifests received from partners, pruning gateway nonces.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chain.context import Chain
from chain.errors import ChainError
from nodes.documents.service import DocumentService, Submitted, seal_documents
from nodes.documents.trace import trace_document
from offchain.db import Database
from offchain.documents import PreparedDocument
from offchain.errors import OffchainError
from offchain.hexbytes import hex0x
from offchain.receipt import Receipt
from offchain.settings import Settings

log = logging.getLogger(__name__)

POLL_S = 0.2
MAX_BACKOFF_S = 10.0
ARCHIVED = {"valid": None, "archived": True, "reason": "a record kept at this node"}


class RecordService:
    """Seal, keep and anchor this node's own records; receipts and traces for them."""

    def __init__(self, settings: Settings, member_id: str, chain: Chain) -> None:
        self.member_id = member_id
        self.db = Database(settings.node_dir(member_id) / "records.sqlite")
        self.documents = DocumentService(settings, member_id, chain, self.db)
        self.own_key = bytes(self.documents.box_key.public_key)

    @property
    def wake(self) -> threading.Event:
        return self.documents.wake

    def keep(self, prepared: Sequence[PreparedDocument], user: str) -> list[Submitted]:
        """Queue records for anchoring (one transaction); a record kept before is answered
        as it stands (`duplicate`), without sealing or storing it again."""
        known = self.documents.outbox.known(hex0x(p.doc_hash) for p in prepared)
        fresh, seen = [], set()
        for p in prepared:
            h = hex0x(p.doc_hash)
            if h not in known and h not in seen:
                fresh.append(p)
                seen.add(h)
        accepted = {}
        if fresh:
            sealed = seal_documents(fresh, self.own_key, self.documents.rest_key)
            for s in self.documents.accept(fresh, sealed, self.member_id, user):
                accepted[s.doc_hash] = s
        out = []
        for p in prepared:
            h = hex0x(p.doc_hash)
            if h in accepted:
                out.append(accepted.pop(h))
            else:
                doc = self.documents.document(h)  # kept before: in the outbox
                out.append(Submitted(h, p.doc_type.name, self.member_id, doc.state, True, {}))
        return out

    def state(self, doc_hash: str) -> str | None:
        doc = self.documents.outbox.document(doc_hash)
        return None if doc is None else doc.state

    def receipt(self, doc_hash: str) -> Receipt | None:
        """The anchoring receipt of a record, once its batch is anchored (else None)."""
        doc = self.documents.outbox.document(doc_hash)
        return None if doc is None else self.documents.receipt(doc)

    def wait_anchored(self, doc_hash: str, timeout_s: float) -> Receipt | None:
        self.documents.wait_anchored(doc_hash, timeout_s)
        return self.receipt(doc_hash)

    def open(self, doc_hash: str) -> bytes:
        """The record's canonical XML (our at-rest copy, decrypted)."""
        return self.documents.open_own(doc_hash)

    def trace(self, doc_hash: str) -> dict:
        return trace_document(self.documents, doc_hash)

    def anchor_due(self, *, force: bool = False) -> int:
        """Anchor what is due (as the document batcher does) and archive what was anchored."""
        done = self.documents.anchor_pending(force=force)
        self._archive()
        return done

    def _archive(self) -> None:
        outbox = self.documents.outbox
        while True:
            due = outbox.due_deliveries(time.time() + 3600, limit=1000)
            if not due:
                return
            with self.db.transaction() as tx:
                tx.executemany(
                    "UPDATE out_deliveries SET state = 'delivered', delivered_at = datetime('now'),"
                    " verdict = ? WHERE doc_hash = ? AND recipient = ?",
                    [('{"archived": true}', d.doc_hash, d.recipient) for d in due],
                )

    def counts(self) -> dict[str, int]:
        c = self.documents.outbox.counts()
        c.pop("delivery_pending", None)
        return c

    def close(self) -> None:
        self.db.close()


@dataclass
class Job:
    name: str
    run: Callable[[], object]
    every_s: float
    last: float = 0.0


class RecordWorker:
    """One thread for the periodic jobs of manifests and payments (records first)."""

    def __init__(self, records: RecordService, jobs: Sequence[Job] = ()) -> None:
        self.records = records
        self.jobs = list(jobs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._loop, name=f"{self.records.member_id}-records", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self.records.wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _loop(self) -> None:
        delay = POLL_S
        while not self._stop.is_set():
            self.records.wake.wait(delay)
            self.records.wake.clear()
            if self._stop.is_set():
                break
            try:
                self.records.anchor_due()
                delay = POLL_S
            except (ChainError, OffchainError) as exc:
                delay = min(MAX_BACKOFF_S, max(delay * 2, 1.0))
                log.warning("record anchoring deferred (%s); retrying in %.0f s", exc, delay)
            except Exception:
                delay = MAX_BACKOFF_S
                log.exception("record anchoring failed; retrying in %.0f s", delay)
            now = time.monotonic()
            for job in self.jobs:
                if now - job.last < job.every_s:
                    continue
                job.last = now
                try:
                    job.run()
                except (ChainError, OffchainError) as exc:
                    log.warning("%s deferred: %s", job.name, exc)
                except Exception:
                    log.exception("%s failed", job.name)
