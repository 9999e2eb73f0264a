"""The receipt an exporter gets for an anchored document, and the verdict of a verification.

A receipt is everything a partner customs (or anyone) needs, with the document, to check it
against the chain without trusting the exporter's node: the document hash, its leaf index
and Merkle proof, the batch root, where and when the root was anchored (chain id, contract,
transaction, block), who anchored it, and the content id of the encrypted copy.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from offchain.errors import DocumentRejected

RECEIPT_VERSION = 1
_HASH = re.compile(r"^0x[0-9a-f]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@dataclass(frozen=True)
class Receipt:
    doc_hash: str
    doc_type: str
    leaf_index: int
    proof: list[str]
    root: str
    tx: str
    block: int
    anchored_at: int
    chain_id: int
    registry: str  # DocumentRegistry address
    issuer: str
    issuer_member: str
    cid: str  # ciphertext sealed for the recipient
    recipient: str
    version: int = RECEIPT_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)

    @classmethod
    def from_json(cls, data: Any) -> Receipt:
        """Parse and check a receipt; DocumentRejected('invalid_receipt') says what is wrong."""
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise DocumentRejected("invalid_receipt", f"receipt is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise DocumentRejected("invalid_receipt", "receipt must be a JSON object")
        problems = []
        names = {f for f in cls.__dataclass_fields__}
        missing = sorted(names - set(data) - {"version"})
        if missing:
            problems.append(f"missing field(s) {', '.join(missing)}")
        unknown = sorted(set(data) - names)
        if unknown:
            problems.append(f"unknown field(s) {', '.join(unknown)}")
        if problems:
            raise DocumentRejected("invalid_receipt", "; ".join(problems))
        for name in ("doc_hash", "root", "tx"):
            if not isinstance(data[name], str) or not _HASH.match(data[name]):
                problems.append(f"{name} must be 0x followed by 64 lower-case hex digits")
        if not isinstance(data["proof"], list) or not all(
            isinstance(p, str) and _HASH.match(p) for p in data["proof"]
        ):
            problems.append("proof must be a list of 0x-prefixed 32-byte hex hashes")
        elif len(data["proof"]) > 64:
            problems.append("proof is longer than any tree we build (64)")
        for name in ("leaf_index", "block", "anchored_at", "chain_id"):
            if not isinstance(data[name], int) or isinstance(data[name], bool) or data[name] < 0:
                problems.append(f"{name} must be a non-negative integer")
        for name in ("registry", "issuer"):
            if not isinstance(data[name], str) or not _ADDRESS.match(data[name]):
                problems.append(f"{name} must be a 0x-prefixed 20-byte address")
        for name in ("doc_type", "issuer_member", "cid", "recipient"):
            if not isinstance(data[name], str) or not data[name] or len(data[name]) > 100:
                problems.append(f"{name} must be a non-empty string")
        if data.get("version", RECEIPT_VERSION) != RECEIPT_VERSION:
            problems.append(f"unsupported receipt version {data.get('version')!r}")
        if problems:
            raise DocumentRejected("invalid_receipt", "; ".join(problems))
        return cls(**data)


@dataclass(frozen=True)
class Check:
    """One line of a verdict."""

    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Verdict:
    """The result of verifying a document against its receipt and the chain."""

    doc_hash: str | None
    checks: list[Check] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def reason(self) -> str | None:
        """The first failing check, as a sentence (for lists and alerts)."""
        for c in self.checks:
            if not c.ok:
                return f"{c.name}: {c.detail}"
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "doc_hash": self.doc_hash,
            "reason": self.reason,
            "checks": [c.to_json() for c in self.checks],
        }
