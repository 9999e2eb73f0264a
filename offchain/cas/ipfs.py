"""The content store on an IPFS (Kubo) node, through Kubo's RPC API over plain HTTP.

Why not `ipfshttpclient`: its last release (0.7.0, 2021) refuses to talk to any Kubo from
0.8 on (it raises `VersionMismatch` at connect), and Kubo is far past that.  The four RPC
calls this store needs are small, stable and easy to speak with `httpx` directly:

  POST /api/v0/block/put?cid-codec=raw&mhtype=sha2-256&mhlen=32&pin=true   (multipart body)
  POST /api/v0/block/get?arg=<cid>&offline=true
  POST /api/v0/block/stat?arg=<cid>&offline=true
  POST /api/v0/version

Objects are single raw blocks, so Kubo's CID for them is exactly `cid_of(data)`; the store
checks that, and checks every block it reads against its CID, so neither a misconfigured
daemon nor a damaged repo can hand back wrong bytes.  Blocks are pinned on put (an
unpinned block disappears at Kubo's next garbage collection).  Reads are `offline` by
default: a block this node does not hold is `ContentNotFound` at once rather than a wait
while Kubo searches the network; pass `offline=False` to let it fetch from peers.  Kubo
refuses blocks over 1 MiB unless asked; larger objects are put with `allow-big-block`,
which Kubo warns do not travel over bitswap — share those by other means or keep
documents under 1 MiB.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import httpx

from offchain.cas.cid import cid_of, parse_cid
from offchain.cas.errors import (
    ContentCorrupted,
    ContentNotFound,
    ContentTooLarge,
    StoreError,
    StoreUnavailable,
)
from offchain.cas.local import DEFAULT_MAX_OBJECT_BYTES

DEFAULT_API_URL = "http://127.0.0.1:5001"
KUBO_BLOCK_LIMIT = 1024 * 1024


class IpfsStore:
    """Objects as raw blocks on a Kubo node reached at `api_url` (its RPC API, port 5001)."""

    kind = "ipfs"

    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        *,
        timeout_s: float = 30.0,
        offline: bool = True,
        pin: bool = True,
        max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
        client: httpx.Client | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.offline = offline
        self.pin = pin
        self.max_object_bytes = max_object_bytes
        self._client = client or httpx.Client(timeout=timeout_s)

    def __repr__(self) -> str:
        return f"IpfsStore({self.api_url!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> IpfsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def version(self) -> str:
        """Kubo's version string; `StoreUnavailable` if no Kubo answers."""
        body = self._call("version", {}).json()
        return str(body.get("Version", "?"))

    def put(self, data: bytes) -> str:
        """Store `data` as one pinned raw block; its CID (checked against Kubo's answer)."""
        if len(data) > self.max_object_bytes:
            raise ContentTooLarge(len(data), self.max_object_bytes)
        expected = cid_of(data)
        params = {"cid-codec": "raw", "mhtype": "sha2-256", "mhlen": "32"}
        if self.pin:
            params["pin"] = "true"
        if len(data) > KUBO_BLOCK_LIMIT:
            params["allow-big-block"] = "true"
        resp = self._call("block/put", params, files={"file": ("blob", bytes(data))})
        got = _json(resp, "block/put").get("Key")
        if got != expected:
            raise StoreError(
                f"IPFS node at {self.api_url} stored the block as {got!r}, expected {expected}; "
                "it must support CIDv1 raw blocks with sha2-256 (Kubo 0.13 or later)"
            )
        return expected

    def put_many(self, items: Sequence[bytes]) -> list[str]:
        """Store every item over one kept-alive connection; their CIDs in order."""
        return [self.put(data) for data in items]

    def get(self, cid: str) -> bytes:
        """The block `cid`, verified against it (`ContentNotFound`, `ContentCorrupted`)."""
        digest = parse_cid(cid)
        data = self._call("block/get", self._arg(cid), cid=cid).content
        if hashlib.sha256(data).digest() != digest:
            raise ContentCorrupted(cid, f"IPFS node {self.api_url}")
        return data

    def has(self, cid: str) -> bool:
        try:
            self.size(cid)
        except ContentNotFound:
            return False
        return True

    def size(self, cid: str) -> int:
        parse_cid(cid)
        body = _json(self._call("block/stat", self._arg(cid), cid=cid), "block/stat")
        size = body.get("Size")
        if not isinstance(size, int):
            raise StoreUnavailable(f"IPFS node answered block/stat without a size: {body!r}")
        return size

    def _arg(self, cid: str) -> dict[str, str]:
        params = {"arg": cid}
        if self.offline:
            params["offline"] = "true"
        return params

    def _call(
        self, command: str, params: dict[str, str], *, cid: str | None = None, **kw: Any
    ) -> httpx.Response:
        url = f"{self.api_url}/api/v0/{command}"
        try:
            resp = self._client.post(url, params=params, **kw)
        except httpx.TransportError as exc:
            raise StoreUnavailable(
                f"no IPFS (Kubo) RPC API answers at {self.api_url} ({exc.__class__.__name__}: "
                f"{exc}); start it with `ipfs daemon` or point SMARTCUSTOMS_IPFS_API at it"
            ) from exc
        if resp.status_code == 200:
            return resp
        message = _error_message(resp)
        if cid is not None and _means_not_found(message):
            raise ContentNotFound(cid, f"IPFS node {self.api_url}")
        raise StoreUnavailable(
            f"IPFS node at {self.api_url} failed {command} with HTTP {resp.status_code}: {message}"
        )


def _json(resp: httpx.Response, command: str) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise StoreUnavailable(f"IPFS node answered {command} with non-JSON: {resp.text[:200]!r}")
    return body


def _error_message(resp: httpx.Response) -> str:
    """Kubo answers errors as JSON `{"Message": ..., "Code": ..., "Type": "error"}`."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200]
    if isinstance(body, dict) and "Message" in body:
        return str(body["Message"])
    return resp.text[:200]


def _means_not_found(message: str) -> bool:
    text = message.lower()
    return "not found" in text or "could not find" in text
