"""The in-memory dialogue store: expiry after the last use, a cap, expired vs unknown."""

from __future__ import annotations

import pytest

from oracles.tariff.errors import TariffInputError
from oracles.tariff.sessions import SessionStore


def test_use_extends_life_and_silence_expires() -> None:
    now = [0.0]
    store = SessionStore(ttl_s=10, max_sessions=100, clock=lambda: now[0])
    sid = store.create({"n": 1})
    now[0] = 8
    assert store.get(sid) == {"n": 1}
    now[0] = 16  # 8 s after the last use
    store.put(sid, {"n": 2})
    now[0] = 25
    assert store.get(sid) == {"n": 2}
    now[0] = 36
    with pytest.raises(TariffInputError) as exc:
        store.get(sid)
    assert exc.value.code == "session_expired"
    assert len(store) == 0


def test_oldest_session_is_dropped_beyond_the_cap() -> None:
    store = SessionStore(ttl_s=100, max_sessions=2)
    a, b, c = (store.create({"i": i}) for i in range(3))
    assert len(store) == 2
    with pytest.raises(TariffInputError):
        store.get(a)
    assert store.get(b) == {"i": 1} and store.get(c) == {"i": 2}


def test_ids_are_unguessable_and_unknown_ids_say_so() -> None:
    store = SessionStore(ttl_s=100, max_sessions=10)
    ids = {store.create({}) for _ in range(5)}
    assert len(ids) == 5 and all(len(i) == 32 for i in ids)
    with pytest.raises(TariffInputError) as exc:
        store.get("nope")
    assert exc.value.code == "unknown_session"
