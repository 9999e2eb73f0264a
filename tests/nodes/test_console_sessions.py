"""Console sessions are bounded in memory (issue #16 item 8, the console half).

At most `max_sessions` live sessions, the oldest ended to make room; at most `max_per_user`
per user, so one account signing in in a loop pushes out only its own sessions.  The
memory a session costs is measured here with tracemalloc; the README quotes the figure.
"""

from __future__ import annotations

import gc
import secrets
import tracemalloc

import pytest

from nodes.web.sessions import MAX_FLASH, MAX_SESSIONS, SessionStore, SignInRequired


def store(**kw) -> SessionStore:
    return SessionStore(secrets.token_bytes(32), "TW", **kw)


def sign_in(s: SessionStore, user: str = "alice") -> str:
    return s.create("sc_tw_" + secrets.token_urlsafe(32), user, "officer")[1]


def test_the_cap_holds_and_the_oldest_session_is_ended():
    s = store(max_sessions=5, max_per_user=100)
    cookies = [sign_in(s, f"user{i}") for i in range(12)]
    assert len(s) == 5
    for cookie in cookies[:7]:
        with pytest.raises(SignInRequired):
            s.lookup(cookie)
    assert [s.lookup(c).user for c in cookies[7:]] == [f"user{i}" for i in range(7, 12)]


def test_one_user_signing_in_in_a_loop_pushes_out_only_its_own_sessions():
    s = store(max_sessions=100, max_per_user=3)
    colleague = sign_in(s, "bob")
    flood = [sign_in(s, "mallory") for _ in range(50)]
    assert len(s) == 4
    assert s.lookup(colleague).user == "bob"
    assert [s.lookup(c).user for c in flood[-3:]] == ["mallory"] * 3
    with pytest.raises(SignInRequired):
        s.lookup(flood[-4])


def test_expired_sessions_are_dropped_as_new_ones_come():
    now = [1000.0]
    s = store(ttl_s=60, clock=lambda: now[0])
    for i in range(20):
        sign_in(s, f"u{i}")
    now[0] += 61
    sign_in(s, "late")
    assert len(s) == 1


def test_signing_out_frees_the_slot_and_its_user_entry():
    s = store(max_per_user=2)
    session, cookie = s.create("sc_tw_x", "carol", "officer")
    s.end(session.sid)
    with pytest.raises(SignInRequired):
        s.lookup(cookie)
    assert len(s) == 0 and not s._by_user


def test_memory_per_session_is_small_and_the_default_cap_bounds_the_store():
    s = store(max_sessions=MAX_SESSIONS)
    n = 5_000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for i in range(n):  # the key and user strings count: the store keeps them
            s.create("sc_tw_" + secrets.token_urlsafe(32), f"user-{i:05d}", "officer")
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    per_session = sum(d.size_diff for d in after.compare_to(before, "filename")) / n
    print(f"console session: {per_session:.0f} bytes each")  # the README's figure
    assert 200 < per_session < 2_000
    assert per_session * MAX_SESSIONS < 20 * 1024 * 1024


def test_pending_messages_of_a_session_are_bounded():
    s = store()
    session, _ = s.create("sc_tw_x", "dave", "officer")
    for i in range(1_000):
        session.flash.append(("ok", f"alert {i} acknowledged"))
    assert len(session.flash) == MAX_FLASH and session.flash[-1][1] == "alert 999 acknowledged"
    shown, session.flash[:] = list(session.flash), []  # how the pages consume them
    assert len(shown) == MAX_FLASH and session.flash == []
