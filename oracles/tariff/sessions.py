"""Dialogue sessions kept in memory, with expiry.

Why in memory: a classification dialogue lives for minutes and is cheap to start again, so
a node restart losing it is acceptable and no table is needed.  Sessions expire
`ttl_s` after their last use (an expired id answers `session_expired`, an id never issued
`unknown_session`); beyond `max_sessions` the least recently used is dropped.  States are
kept as compact JSON text (about 1.5 KB for a dialogue, ~2 KB with the store's own
overhead, against ~5 KB as Python objects), so the default cap of 10,000 dialogues holds
in about 20 MB.  Ids are 128
random bits, so one user cannot guess another's session.  Thread-safe (FastAPI runs sync
endpoints in a thread pool).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from oracles.tariff.errors import TariffInputError

EXPIRED_MEMORY = 10_000  # how many expired ids are remembered to say "expired", not "unknown"


class SessionStore:
    """session id -> JSON-able state, expiring `ttl_s` after the last use."""

    def __init__(
        self, ttl_s: float, max_sessions: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self.clock = clock
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._expired: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, state: dict[str, Any]) -> str:
        sid = secrets.token_hex(16)
        with self._lock:
            self._sweep()
            self._items[sid] = (self.clock(), _pack(state))
            while len(self._items) > self.max_sessions:
                old, _ = self._items.popitem(last=False)
                self._forget(old)
        return sid

    def get(self, sid: str) -> dict[str, Any]:
        """The state of a live session; TariffInputError when unknown or expired."""
        with self._lock:
            self._sweep()
            item = self._items.get(sid)
            if item is None:
                if sid in self._expired:
                    raise TariffInputError(
                        "session_expired",
                        f"dialogue {sid} expired after {self.ttl_s:.0f} s without an answer; "
                        "classify the description again",
                    )
                raise TariffInputError("unknown_session", f"no dialogue {sid!r} on this node")
            self._items.move_to_end(sid)
            self._items[sid] = (self.clock(), item[1])
            return json.loads(item[1])

    def put(self, sid: str, state: dict[str, Any]) -> None:
        with self._lock:
            if sid in self._items:
                self._items[sid] = (self.clock(), _pack(state))
                self._items.move_to_end(sid)

    def __len__(self) -> int:
        with self._lock:
            self._sweep()
            return len(self._items)

    def _sweep(self) -> None:
        now = self.clock()
        while self._items:
            sid, (t, _) = next(iter(self._items.items()))
            if now - t < self.ttl_s:
                break
            self._items.popitem(last=False)
            self._forget(sid)

    def _forget(self, sid: str) -> None:
        self._expired[sid] = None
        while len(self._expired) > EXPIRED_MEMORY:
            self._expired.popitem(last=False)


def _pack(state: dict[str, Any]) -> str:
    return json.dumps(state, separators=(",", ":"), ensure_ascii=False)
