"""Errors of the content-addressed store: one family, each naming the object and the fix.

Each carries the `code` and `detail` every off-chain error has; the HTTP status of each
class is in `offchain.errors.HTTP_STATUS`.
"""

from __future__ import annotations

from offchain.errors import OffchainError


class StoreError(OffchainError):
    """Base of everything the content store raises on purpose."""

    code = "store_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)


class InvalidCid(StoreError, ValueError):
    """A string that is not a CIDv1 / raw / sha2-256 / base32 address."""

    code = "invalid_cid"

    def __init__(self, cid: object, reason: str) -> None:
        self.cid = cid
        self.reason = reason
        super().__init__(f"invalid content id {cid!r}: {reason}")


class ContentNotFound(StoreError, LookupError):
    """No object with this CID is held by the store."""

    code = "content_not_found"

    def __init__(self, cid: str, where: str) -> None:
        self.cid = cid
        super().__init__(f"content {cid} is not in {where}")


class ContentCorrupted(StoreError):
    """The stored bytes no longer hash to their CID: the copy is damaged, never returned."""

    code = "content_corrupted"

    def __init__(self, cid: str, where: str) -> None:
        self.cid = cid
        super().__init__(
            f"content {cid} in {where} does not match its hash (damaged copy); "
            "restore it from a partner node or a backup, or put the original bytes again"
        )


class ContentTooLarge(StoreError, ValueError):
    """An object above the store's per-object size cap."""

    code = "content_too_large"

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"object of {size} bytes exceeds the store's limit of {limit} bytes; "
            "split the document or raise the limit"
        )


class StoreUnavailable(StoreError):
    """The backing service (an IPFS daemon) does not answer or answers nonsense."""

    code = "store_unavailable"
