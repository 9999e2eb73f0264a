"""Console sessions: the user's API key kept server-side, behind a signed session cookie.

Why this shape: the API key is the user's credential for the whole node, so it never goes
back to the browser after sign-in.  The cookie holds only a random session id, signed with a
secret from the node's keystore (itsdangerous, with a timestamp), so a forged or edited
cookie is refused before any lookup.  Sessions live in memory: a restarted node forgets
them and its users sign in again, which is the safe default for a customs console.

Each session carries its CSRF token (session-bound: a form posted from another site cannot
know it).  Before sign-in, the sign-in form is protected by a signed double-submit cookie.

What can go wrong: `SignInRequired` (no cookie, a bad signature, an unknown or expired
session, a revoked key) — the console answers with the sign-in page and says why.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

DEFAULT_TTL_S = 8 * 3600
MAX_SESSIONS = 10_000


class SignInRequired(Exception):
    """No usable session; `reason` is shown on the sign-in page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRejected(Exception):
    """A form arrived without the token of the session (or of the sign-in page)."""


@dataclass
class Session:
    sid: str
    api_key: str = field(repr=False)
    user: str
    role: str
    csrf: str = field(repr=False)
    created_at: float
    expires_at: float
    flash: list[tuple[str, str]] = field(default_factory=list)


class SessionStore:
    """Sessions of one node's console, in memory; `clock` is replaceable for tests."""

    def __init__(
        self,
        secret: bytes,
        member_id: str,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        # Cookies are per host, not per port: nodes on one machine need distinct names.
        self.cookie_name = f"sc_console_{member_id.lower()}"
        self.pre_cookie_name = f"sc_signin_{member_id.lower()}"
        self._session_signer = URLSafeTimedSerializer(secret, salt="console-session")
        self._signin_signer = URLSafeTimedSerializer(secret, salt="console-signin")
        self._sessions: dict[str, Session] = {}
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
            self._prune(now)
            self._sessions[s.sid] = s
        return s, self._session_signer.dumps(s.sid)

    def lookup(self, cookie: str | None) -> Session:
        """The session a cookie names; SignInRequired says why there is none."""
        if not cookie:
            raise SignInRequired("Sign in to use the console.")
        try:
            # The signature's own age limit backs up the server-side expiry.
            sid = self._session_signer.loads(cookie, max_age=self.ttl_s + 60)
        except SignatureExpired:
            raise SignInRequired("Your session expired; sign in again.") from None
        except BadSignature:
            raise SignInRequired(
                "Your session cookie was not issued by this node; sign in again."
            ) from None
        with self._lock:
            s = self._sessions.get(sid)
            if s is not None and s.expires_at <= self.clock():
                del self._sessions[sid]
                raise SignInRequired("Your session expired; sign in again.")
        if s is None:
            raise SignInRequired(
                "Your session ended (signed out, or the node restarted); sign in again."
            )
        return s

    def end(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)

    def _prune(self, now: float) -> None:
        for sid in [k for k, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[sid]
        while len(self._sessions) >= MAX_SESSIONS:  # oldest first
            del self._sessions[min(self._sessions, key=lambda k: self._sessions[k].created_at)]

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
