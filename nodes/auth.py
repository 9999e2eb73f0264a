"""API keys of a node's users, stored hashed in the node's SQLite database.

Why hashed with SHA-256 and not a slow password hash: keys are 256-bit random tokens we
generate, so a fast hash is as safe as a slow one, and verification stays cheap per
request.  The full key is shown once, when created; afterwards only its prefix is known.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from offchain.db import Database
from offchain.errors import CodedError

USER_ROLES = ("admin", "exporter", "officer", "auditor", "agency", "carrier")

MIGRATIONS = [
    """
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        user TEXT NOT NULL,
        role TEXT NOT NULL,
        prefix TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE INDEX api_keys_user ON api_keys (user)
    """,
]


class AuthError(CodedError):
    """Missing, unknown or revoked API key."""

    code = "unauthorized"


class ForbiddenError(CodedError):
    """A valid key whose role may not do this."""

    code = "forbidden"


@dataclass(frozen=True)
class NodeUser:
    id: int
    user: str
    role: str
    prefix: str
    created_at: str
    revoked_at: str | None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """Create, check and revoke the API keys of one node."""

    def __init__(self, db: Database, member_id: str) -> None:
        self.db = db
        self.member_id = member_id
        db.migrate("nodes.auth", MIGRATIONS)

    def create(self, user: str, role: str) -> tuple[str, NodeUser]:
        """A new key for `user`; the returned key string is never stored."""
        if role not in USER_ROLES:
            raise ValueError(f"unknown role {role!r}; roles are {', '.join(USER_ROLES)}")
        if not user or len(user) > 100:
            raise ValueError("user name must be 1-100 characters")
        key = f"sc_{self.member_id.lower()}_{secrets.token_urlsafe(32)}"
        prefix = key[: len(self.member_id) + 12]
        now = datetime.now(UTC).isoformat(timespec="seconds")
        cur = self.db.execute(
            "INSERT INTO api_keys (user, role, prefix, key_hash, created_at) VALUES (?,?,?,?,?)",
            (user, role, prefix, _hash(key), now),
        )
        assert cur.lastrowid is not None  # sqlite3 sets it after every successful INSERT
        return key, NodeUser(cur.lastrowid, user, role, prefix, now, None)

    def verify(self, key: str | None) -> NodeUser:
        """The user a key belongs to; AuthError when missing, unknown or revoked."""
        if not key:
            raise AuthError("missing API key: send it in the X-API-Key header")
        rows = self.db.query("SELECT * FROM api_keys WHERE key_hash = ?", (_hash(key),))
        if not rows:
            raise AuthError("unknown API key")
        user = NodeUser(**{k: rows[0][k] for k in rows[0].keys() if k != "key_hash"})
        if user.revoked_at:
            raise AuthError(f"API key {user.prefix}… was revoked at {user.revoked_at}")
        return user

    def revoke(self, key_id: int) -> bool:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        cur = self.db.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now, key_id)
        )
        return cur.rowcount == 1

    def list(self) -> list[NodeUser]:
        rows = self.db.query("SELECT * FROM api_keys ORDER BY id")
        return [NodeUser(**{k: r[k] for k in r.keys() if k != "key_hash"}) for r in rows]
