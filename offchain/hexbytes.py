"""The one place 32-byte values are read from bytes or 0x-hex, and written as 0x-hex."""

from __future__ import annotations

HASH_SIZE = 32
Bytes32 = bytes | bytearray | memoryview | str
"""A 32-byte value (hash, Merkle root, proof element, id) as bytes or 0x-hex: the one type."""


def to_bytes32(value: Bytes32, what: str) -> bytes:
    """32 bytes from bytes or 0x-hex; ValueError naming `what` otherwise."""
    if isinstance(value, str):
        try:
            raw = bytes.fromhex(value.removeprefix("0x"))
        except ValueError:
            raise ValueError(f"{what} must be 32 bytes of hex, got {value!r}") from None
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    else:
        raise ValueError(f"{what} must be 32 bytes, got {type(value).__name__}")
    if len(raw) != HASH_SIZE:
        raise ValueError(f"{what} must be 32 bytes, got {len(raw)}")
    return raw


def hex0x(raw: bytes) -> str:
    """`0x`-prefixed lower-case hex, as receipts, APIs and logs show hashes."""
    return "0x" + bytes(raw).hex()
