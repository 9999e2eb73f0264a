"""Node identities: the secp256k1 key of a Besu node, its enode public key and its address.

A QBFT validator is named by its *node* key (not by an account key): the enode id other
nodes dial is the 64-byte public key, and the validator address written into the genesis
``extraData`` is the Ethereum address of that same key. Deriving both here, from one key,
keeps the genesis, the permissioning allowlist and the key files in agreement.
"""

from __future__ import annotations

from eth_keys import keys
from eth_keys.datatypes import PrivateKey
from eth_utils.exceptions import ValidationError

from nodes.network.errors import NetworkConfigError

NODE_KEY_LENGTH = 32
"""A node private key is a 32-byte secp256k1 scalar (Besu's ``key`` file holds it as hex)."""

ENODE_PUBKEY_HEX_LENGTH = 128
"""An enode id is the uncompressed public key without the 0x04 prefix: 64 bytes, 128 hex digits."""

_SECP256K1_P = 2**256 - 2**32 - 977
_SECP256K1_B = 7


def node_private_key(node_key: bytes, *, owner: str = "node key") -> PrivateKey:
    """Return the secp256k1 key for ``node_key`` or explain why Besu would reject it.

    ``owner`` names whose key it is (for example ``"member TW"``) so the message points at
    the registry entry to fix.
    """
    if not isinstance(node_key, bytes | bytearray):
        raise NetworkConfigError(
            f"{owner}: node key must be bytes, got {type(node_key).__name__}; "
            "decode a hex key with bytes.fromhex(...) first"
        )
    if len(node_key) != NODE_KEY_LENGTH:
        raise NetworkConfigError(
            f"{owner}: node key must be {NODE_KEY_LENGTH} bytes (a secp256k1 private key), "
            f"got {len(node_key)} bytes"
        )
    try:
        return keys.PrivateKey(bytes(node_key))
    except ValidationError as exc:
        raise NetworkConfigError(
            f"{owner}: node key is not a valid secp256k1 private key "
            "(it must be between 1 and the curve order minus 1); generate a new node key"
        ) from exc


def enode_of(node_key: bytes) -> str:
    """The enode id (128 lowercase hex digits, no 0x) that peers use to reach this node."""
    return node_private_key(node_key).public_key.to_bytes().hex()


def address_of_node_key(node_key: bytes) -> str:
    """The checksummed address of the node key: the validator address in QBFT extraData."""
    return node_private_key(node_key).public_key.to_checksum_address()


def normalise_enode_pubkey(value: str, *, owner: str = "enode") -> str:
    """Return ``value`` as 128 lowercase hex digits, refusing anything that is not a curve point.

    Checking the point (not only the length) catches a pasted key with one digit wrong, which
    Besu would otherwise accept into the allowlist and never match.
    """
    text = value.strip().lower() if isinstance(value, str) else ""
    text = text.removeprefix("0x")
    if len(text) != ENODE_PUBKEY_HEX_LENGTH or not _is_hex(text):
        raise NetworkConfigError(
            f"{owner}: enode public key must be {ENODE_PUBKEY_HEX_LENGTH} hex digits "
            f"(64-byte uncompressed key without the 04 prefix), got {value!r}"
        )
    if not _on_secp256k1(bytes.fromhex(text)):
        raise NetworkConfigError(
            f"{owner}: {text[:16]}... is not a secp256k1 public key; re-read it from the node "
            "(besu public-key export) or from ConsortiumRegistry"
        )
    return text


def _is_hex(text: str) -> bool:
    return all(ch in "0123456789abcdef" for ch in text)


def _on_secp256k1(public_key: bytes) -> bool:
    x = int.from_bytes(public_key[:32], "big")
    y = int.from_bytes(public_key[32:], "big")
    if not (0 <= x < _SECP256K1_P and 0 <= y < _SECP256K1_P):
        return False
    return (y * y - x * x * x - _SECP256K1_B) % _SECP256K1_P == 0
