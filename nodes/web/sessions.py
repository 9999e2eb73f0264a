"""Console sessions: the user's API key kept server-side, behind a signed session cookie.

Why this shape: the API key is the user's credential for the whole node, so it never goes
back to the browser after sign-in.  The cookie holds only a random session id, signed with a
secret from the node's keystore (itsdangerous, with a timestamp), so a forged or edited
cookie is refused before any lookup.  Sessions live in memory: a restarted node forgets
them and its users sign in again, which is the safe default for a customs console.

Each session carries its CSRF token (session-bound: a form posted from another site cannot
know it).  Before sign-in, the sign-in form is protected by a signed double-submit cookie.

Memory is bounded: at most `max_sessions` live sessions (the oldest is ended to make room)
and at most `max_per_user` per user (that user's oldest is ended first, so one account
signing in in a loop pushes out only its own sessions, not its colleagues').  A session
costs about 0.8 KB (measured with tracemalloc: tests/nodes/test_console_sessions.py), so the
default cap of 10,000 holds the store under ~8 MB.  Expired sessions are dropped as new
ones come (they expire in the order they were made, so pruning looks only at the front).

What can go wrong: `SignInRequired` (no cookie, a bad signature, an unknown or expired
session, a revoked key) — the console answers with the sign-in page and says why.
"""

from __future__ import annotations

import hmac
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

DEFAULT_TTL_S = 8 * 3600
MAX_SESSIONS = 10_000
MAX_PER_USER = 32
MAX_FLASH = 20


class SignInRequired(Exception):
    """No usable session; `reason` is shown on the sign-in page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRejected(Exception):
    """A form arrived without the token of the session (or of the sign-in page)."""


class Flash(list):
    """A session's pending messages, at most `MAX_FLASH` (the oldest are dropped): a script
    posting forms without ever reading a page cannot grow its session."""

    def append(self, item: tuple[str, str]) -> None:
        super().append(item)
        del self[:-MAX_FLASH]


@dataclass
class Session:
    sid: str
    api_key: str = field(repr=False)
    user: str
    role: str
    csrf: str = field(repr=False)
    created_at: float
    expires_at: float
    flash: list[tuple[str, str]] = field(default_factory=Flash)


class SessionStore:
    """Sessions of one node's console, in memory; `clock` is replaceable for tests."""

    def __init__(
        self,
        secret: bytes,
        member_id: str,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        max_sessions: int = MAX_SESSIONS,
        max_per_user: int = MAX_PER_USER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_sessions < 1 or max_per_user < 1:
            raise ValueError("max_sessions and max_per_user must be at least 1")
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self.max_per_user = max_per_user
        self.clock = clock
        # Cookies are per host, not per port: nodes on one machine need distinct names.
        self.cookie_name = f"sc_console_{member_id.lower()}"
        self.pre_cookie_name = f"sc_signin_{member_id.lower()}"
        self._session_signer = URLSafeTimedSerializer(secret, salt="console-session")
        self._signin_signer = URLSafeTimedSerializer(secret, salt="console-signin")
        # Both in creation order (dicts keep insertion order): the first entry is the oldest.
        self._sessions: dict[str, Session] = {}
        self._by_user: dict[str, dict[str, None]] = {}
        self._lock = threading.Lock()

    # -- sessions ----------------------------------------------------------------------------

    def create(self, api_key: str, user: str, role: str) -> tuple[Session, str]:
        """A new session and its signed cookie value (a fresh id: no session fixation)."""
        now = self.clock()
        s = Session(
            sid=secrets.token_urlsafe(32),
            api_key=api_key,
            user=user,
            role=role,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + self.ttl_s,
        )
        with self._lock:
            self._make_room(now, user)
            self._sessions[s.sid] = s
            self._by_user.setdefault(user, {})[s.sid] = None
        return s, self._session_signer.dumps(s.sid)

    def __len__(self) -> int:
        return len(self._sessions)

    def lookup(self, cookie: str | None) -> Session:
        """The session a cookie names; SignInRequired says why there is none."""
        if not cookie:
            raise SignInRequired("Sign in to use the console.")
        try:
            # The signature's own age limit backs up the server-side expiry.  Its age is
            # whole seconds, so `age > floor(limit)` is the same test as `age > limit`.
            sid = self._session_signer.loads(cookie, max_age=math.floor(self.ttl_s + 60))
        except SignatureExpired:
            raise SignInRequired("Your session expired; sign in again.") from None
        except BadSignature:
            raise SignInRequired(
                "Your session cookie was not issued by this node; sign in again."
            ) from None
        with self._lock:
            s = self._sessions.get(sid)
            if s is not None and s.expires_at <= self.clock():
                self._drop(sid)
                raise SignInRequired("Your session expired; sign in again.")
        if s is None:
            raise SignInRequired(
                "Your session ended (signed out, or the node restarted); sign in again."
            )
        return s

    def end(self, sid: str) -> None:
        with self._lock:
            self._drop(sid)

    def _make_room(self, now: float, user: str) -> None:
        """Drop expired sessions, then the user's oldest beyond its cap, then the oldest."""
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if oldest.expires_at > now:
                break
            self._drop(oldest.sid)
        mine = self._by_user.get(user, {})
        while len(mine) >= self.max_per_user:
            self._drop(next(iter(mine)))
        while len(self._sessions) >= self.max_sessions:
            self._drop(next(iter(self._sessions)))

    def _drop(self, sid: str) -> None:
        s = self._sessions.pop(sid, None)
        if s is None:
            return
        mine = self._by_user.get(s.user)
        if mine is not None:
            mine.pop(sid, None)
            if not mine:
                del self._by_user[s.user]

    # -- CSRF --------------------------------------------------------------------------------

    @staticmethod
    def check_csrf(session: Session, token: str | None) -> None:
        if not token or not hmac.compare_digest(session.csrf, token):
            raise CsrfRejected()

    def signin_token(self) -> tuple[str, str]:
        """(token for the sign-in form, signed cookie value carrying the same token)."""
        token = secrets.token_urlsafe(32)
        return token, self._signin_signer.dumps(token)

    def check_signin_token(self, cookie: str | None, token: str | None) -> None:
        """Double submit: the form's token must be the one the signed cookie carries."""
        try:
            expected = self._signin_signer.loads(cookie or "", max_age=3600)
        except BadSignature:
            raise CsrfRejected() from None
        if not token or not hmac.compare_digest(str(expected), token):
            raise CsrfRejected()
