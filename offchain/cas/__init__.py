"""The content-addressed store: documents live off chain, encrypted; the chain holds hashes.

One interface, two homes: `LocalStore` (files under a directory, the embedded default) and
`IpfsStore` (a Kubo node), chosen by `open_store`.  Both address an object by the same CID
(`cid_of`: CIDv1, raw, sha2-256, base32), so a document's address does not change when a
node moves from one to the other, and both verify every read against that address.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from offchain.cas.cid import CID_LENGTH, cid_from_digest, cid_of, parse_cid
from offchain.cas.errors import (
    ContentCorrupted,
    ContentNotFound,
    ContentTooLarge,
    InvalidCid,
    StoreError,
    StoreUnavailable,
)
from offchain.cas.ipfs import IpfsStore
from offchain.cas.local import DEFAULT_MAX_OBJECT_BYTES, LocalStore

__all__ = [
    "CID_LENGTH",
    "DEFAULT_MAX_OBJECT_BYTES",
    "ContentCorrupted",
    "ContentNotFound",
    "ContentStore",
    "ContentTooLarge",
    "InvalidCid",
    "IpfsStore",
    "LocalStore",
    "StoreError",
    "StoreUnavailable",
    "cid_from_digest",
    "cid_of",
    "open_store",
    "parse_cid",
]


@runtime_checkable
class ContentStore(Protocol):
    """What every store does.  Reads never return bytes that do not hash to their CID."""

    kind: str

    def put(self, data: bytes) -> str:
        """Store `data`; its CID.  Idempotent.  `ContentTooLarge` above the store's cap."""
        ...

    def put_many(self, items: Sequence[bytes]) -> list[str]:
        """Store a batch (the fast path); the CIDs in input order."""
        ...

    def get(self, cid: str) -> bytes:
        """The object; `ContentNotFound`, `ContentCorrupted`, `InvalidCid`."""
        ...

    def has(self, cid: str) -> bool: ...

    def size(self, cid: str) -> int:
        """Size in bytes; `ContentNotFound` if absent."""
        ...


STORE_KINDS = {"local": LocalStore, "ipfs": IpfsStore}


def open_store(kind: str, **kwargs: Any) -> ContentStore:
    """The store of `kind` ("local": `LocalStore(root, ...)`, "ipfs": `IpfsStore(api_url, ...)`)."""
    try:
        cls = STORE_KINDS[kind]
    except KeyError:
        raise StoreError(
            f"unknown content store kind {kind!r}; choose one of {', '.join(STORE_KINDS)}"
        ) from None
    return cls(**kwargs)
