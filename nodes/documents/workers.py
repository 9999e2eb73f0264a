"""Background threads of a node: the batcher and the deliverer.

Why threads in the node process: one node is one process (embedded default); the work is
I/O-bound (chain and HTTP round trips) and the durable outbox makes every step restartable,
so a crash or restart loses nothing — the next loop picks up where the last one stopped.
A chain or partner node that is down only delays the work; the loops back off and retry.
"""

from __future__ import annotations

import logging
import threading
import time

import httpx

from chain.errors import ChainError
from nodes.documents.service import DocumentService
from offchain.errors import OffchainError

log = logging.getLogger(__name__)

POLL_S = 0.2
MAX_BACKOFF_S = 10.0
PRUNE_EVERY_S = 60.0


class DocumentWorkers:
    def __init__(self, service: DocumentService) -> None:
        self.service = service
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for name, fn in (("batcher", self._batch_loop), ("deliverer", self._deliver_loop)):
            t = threading.Thread(target=fn, name=f"{self.service.member_id}-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self.service.wake.set()
        for t in self._threads:
            t.join(timeout_s)
        self._threads = []

    def _batch_loop(self) -> None:
        delay = POLL_S
        while not self._stop.is_set():
            self.service.wake.wait(delay)
            self.service.wake.clear()
            if self._stop.is_set():
                break
            try:
                self.service.anchor_pending()
                delay = POLL_S
            except (ChainError, OffchainError) as exc:
                delay = min(MAX_BACKOFF_S, max(delay * 2, 1.0))
                log.warning("anchoring deferred (%s); retrying in %.0f s", exc, delay)
            except Exception:
                delay = MAX_BACKOFF_S
                log.exception("batcher failed; retrying in %.0f s", delay)

    def _deliver_loop(self) -> None:
        skew = self.service.settings.documents.envelope_max_skew_s
        last_prune = 0.0
        with httpx.Client(timeout=10.0) as client:
            while not self._stop.wait(POLL_S * 2):
                try:
                    if time.monotonic() - last_prune > PRUNE_EVERY_S:
                        # Envelopes older than twice the clock skew are refused by time anyway.
                        self.service.inbox.prune_nonces(2 * skew)
                        last_prune = time.monotonic()
                    self.service.deliver_due(client)
                except (ChainError, OffchainError) as exc:
                    log.warning("delivery deferred: %s", exc)
                    self._stop.wait(1.0)
                except Exception:
                    log.exception("deliverer failed")
                    self._stop.wait(MAX_BACKOFF_S)
