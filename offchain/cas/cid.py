"""Content ids: CIDv1, raw codec, sha2-256, base32 lower-case — exactly what IPFS gives a block.

Why this one form: the chain anchors sha256 digests and the store is addressed by CIDs, so a
CID must be nothing but a sha256 digest with a fixed, IPFS-compatible wrapping.  The same
bytes get the same address from `ipfs block put --cid-codec raw` (or `ipfs add
--cid-version 1 --raw-leaves` of a file that fits in one block), from `LocalStore` and from
`cid_of`, so documents can move between the embedded store and a Kubo node untouched.

Layout of the 36 binary bytes: 0x01 (CIDv1) 0x55 (raw) 0x12 (sha2-256) 0x20 (32 bytes) +
digest; as text: 'b' (multibase base32) + RFC 4648 base32, lower case, no padding (59 chars,
always starting with `bafkrei`).  Every other CID form is rejected with `InvalidCid` saying
what it is, rather than silently converted: a second spelling of one digest would give one
document two addresses.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from offchain.cas.errors import InvalidCid

_HEADER = bytes([0x01, 0x55, 0x12, 0x20])  # CIDv1, raw, sha2-256, 32-byte digest
CID_LENGTH = 59
_BASE32 = re.compile(r"[a-z2-7]*")

# Multicodec names for the values we can meet, only to make rejections readable.
_CODECS = {0x55: "raw", 0x70: "dag-pb", 0x71: "dag-cbor", 0x0129: "dag-json", 0x0200: "json"}
_HASHES = {
    0x12: "sha2-256",
    0x13: "sha2-512",
    0x16: "sha3-256",
    0x1B: "keccak-256",
    0x1E: "blake3",
    0xB220: "blake2b-256",
    0x00: "identity",
}
_BASES = {
    "z": "base58btc",
    "B": "base32 upper-case",
    "f": "base16",
    "F": "base16 upper-case",
    "m": "base64",
    "u": "base64url",
    "k": "base36",
}


def cid_of(data: bytes) -> str:
    """The CID of `data` as one raw block (what Kubo answers for `block put --cid-codec raw`)."""
    return cid_from_digest(hashlib.sha256(data).digest())


def cid_from_digest(digest: bytes) -> str:
    """The CID for a sha256 digest computed elsewhere (e.g. read from a chain anchor)."""
    if len(digest) != 32:
        raise ValueError(f"a sha256 digest is 32 bytes, got {len(digest)}")
    return "b" + base64.b32encode(_HEADER + digest).decode("ascii").rstrip("=").lower()


def parse_cid(cid: str) -> bytes:
    """The sha256 digest inside `cid`; `InvalidCid` says what is wrong with anything else."""
    if not isinstance(cid, str):
        raise InvalidCid(cid, f"expected a string, got {type(cid).__name__}")
    if len(cid) == CID_LENGTH and cid.startswith("bafkrei") and _BASE32.fullmatch(cid):
        raw = _b32decode(cid)  # the common case: a well-formed id, checked in one step below
        if raw is not None and raw[:4] == _HEADER and cid_from_digest(raw[4:]) == cid:
            return raw[4:]
    raise InvalidCid(cid, _diagnose(cid))


def _b32decode(cid: str) -> bytes | None:
    body = cid[1:].upper()
    try:
        return base64.b32decode(body + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError):
        return None


def _diagnose(cid: str) -> str:
    """Why `cid` is not a valid id (only called on the slow path, for the error message)."""
    want = "expected a CIDv1 raw sha2-256 id in base32 ('bafkrei...', 59 characters)"
    if not cid:
        return f"empty string; {want}"
    if cid.startswith("Qm") and len(cid) == 46:
        return (
            "CIDv0 ('Qm...', dag-pb) is not supported; "
            f"{want}, e.g. from `ipfs add --cid-version 1 --raw-leaves`"
        )
    if cid[0] != "b":
        base = _BASES.get(cid[0], f"unknown multibase prefix {cid[0]!r}")
        return f"multibase {base} is not supported; {want}"
    if not _BASE32.fullmatch(cid[1:]):
        return f"not lower-case base32 (only a-z and 2-7 may follow 'b'); {want}"
    raw = _b32decode(cid)
    if raw is None:
        return f"{len(cid)} characters cannot be base32 of a CID (wrong length); {want}"
    try:
        version, rest = _varint(raw)
        if version != 1:
            return f"CID version {version} is not supported; {want}"
        codec, rest = _varint(rest)
        if codec != 0x55:
            name = _CODECS.get(codec, hex(codec))
            return f"codec {name} is not supported, only raw (0x55); {want}"
        mh, rest = _varint(rest)
        if mh != 0x12:
            name = _HASHES.get(mh, hex(mh))
            return f"hash function {name} is not supported, only sha2-256; {want}"
        length, rest = _varint(rest)
    except ValueError as exc:
        return f"truncated CID ({exc}); {want}"
    if length != 32 or len(rest) != 32:
        return (
            f"a sha2-256 digest is 32 bytes; the header says {length} and {len(rest)} follow "
            "(truncated or extended id)"
        )
    return f"non-canonical base32 (stray trailing bits); {want}"


def _varint(buf: bytes) -> tuple[int, bytes]:
    """One unsigned LEB128 varint (multiformats allow at most 9 bytes) and the rest."""
    value = 0
    for i, byte in enumerate(buf[:9]):
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, buf[i + 1 :]
    raise ValueError("varint runs past the end")
