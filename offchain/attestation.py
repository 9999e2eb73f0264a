"""Attested oracle results: the EIP-712 typed data AttestationHub checks, and signing it.

An oracle (tariff, X-ray, audit, clearance) signs each result as typed data

    Attestation(bytes32 subject,uint8 kind,bytes32 resultHash,bytes32 modelVersion,
                uint64 issuedAt,uint64 nonce)

or, for many results at once, the Merkle root of their leaves as

    BatchAttestation(bytes32 root,uint8 kind,uint32 count,bytes32 modelVersion,
                     uint64 issuedAt,uint64 nonce)

under the domain `{name: "SmartCustoms AttestationHub", version: "1", chainId,
verifyingContract}`.  The domain binds a signature to one hub on one chain, so it cannot be
replayed on another network or contract, nor mistaken for a transaction.

Why the digest is computed here by hand: oracles sign thousands of results, and the
generic `eth_account.messages.encode_typed_data` costs far more per message than the few
keccak256 calls the fixed types need.  `typed_data` gives the same message as EIP-712 JSON
(for wallets and other signers); the tests prove the hand-made digest equals both
`encode_typed_data`'s and the deployed contract's `hashAttestation` / `hashBatch`.

A result in a batch is the Merkle leaf `keccak256(keccak256(subject ++ resultHash))`
(`result_leaf`, OZ StandardMerkleTree's leaf for `(bytes32, bytes32)`); trees come from
`offchain.merkle`.

Nothing here talks to the chain: `chain/attestations.py` submits what this module signs.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_keys import KeyAPI
from eth_keys.exceptions import BadSignature as _EthKeysBadSignature
from eth_typing import Hash32
from eth_utils import to_checksum_address

from offchain.errors import OffchainError
from offchain.hexbytes import Bytes32, hex0x, to_bytes32
from offchain.merkle import HASH_SIZE, MerkleTree, keccak256, pair_leaf_hash

DOMAIN_NAME = "SmartCustoms AttestationHub"
DOMAIN_VERSION = "1"

# Mirrors of the contract's constants (AttestationHub.MAX_CLOCK_SKEW / MAX_AGE): a result
# issued further ahead of the chain's clock, or longer ago, is refused on submission.
MAX_CLOCK_SKEW_S = 300
MAX_AGE_S = 3600
SIGNATURE_SIZE = 65


class Kind(IntEnum):
    """Oracle kinds as AttestationHub numbers them."""

    TARIFF = 1
    XRAY = 2
    AUDIT = 3
    CLEARANCE = 4


TARIFF, XRAY, AUDIT, CLEARANCE = Kind.TARIFF, Kind.XRAY, Kind.AUDIT, Kind.CLEARANCE

ATTESTATION_TYPE = (
    "Attestation(bytes32 subject,uint8 kind,bytes32 resultHash,bytes32 modelVersion,"
    "uint64 issuedAt,uint64 nonce)"
)
BATCH_TYPE = (
    "BatchAttestation(bytes32 root,uint8 kind,uint32 count,bytes32 modelVersion,"
    "uint64 issuedAt,uint64 nonce)"
)
_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
_ATTESTATION_TYPEHASH = keccak256(ATTESTATION_TYPE.encode())
_BATCH_TYPEHASH = keccak256(BATCH_TYPE.encode())
_DOMAIN_TYPEHASH = keccak256(_DOMAIN_TYPE.encode())

_SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


class BadSignature(OffchainError, ValueError):
    """A signature that AttestationHub would refuse as `InvalidSignature`."""

    code = "bad_signature"


# ---- values --------------------------------------------------------------------------------


def model_version(name: str) -> bytes:
    """A model version name as `bytes32`: ASCII, right-padded with zeros, readable on chain.

    Raises ValueError for an empty name, non-ASCII text or more than 32 characters.
    """
    raw = name.encode("ascii", errors="strict") if name.isascii() else b""
    if not raw or len(raw) > HASH_SIZE:
        raise ValueError(f"a model version is 1-32 ASCII characters, got {name!r}")
    return raw.ljust(HASH_SIZE, b"\0")


def model_version_str(raw: bytes) -> str:
    """The text of a model version made by `model_version` (hex if it is not text)."""
    text = bytes(raw).rstrip(b"\0")
    if text and all(32 <= b < 127 for b in text):
        return text.decode("ascii")
    return hex0x(raw)


def new_nonce() -> int:
    """A random 64-bit nonce: two otherwise equal attestations get different digests."""
    return secrets.randbits(64)


def result_leaf(subject: Bytes32, result_hash: Bytes32) -> bytes:
    """The Merkle leaf of one result in a batch (AttestationHub.resultLeaf)."""
    return pair_leaf_hash(to_bytes32(subject, "subject"), to_bytes32(result_hash, "result_hash"))


def results_tree(results: Sequence[tuple[Bytes32, Bytes32]]) -> MerkleTree:
    """The Merkle tree over `(subject, result_hash)` results, leaves in the order given."""
    return MerkleTree([result_leaf(s, r) for s, r in results])


# ---- typed data ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain of one AttestationHub on one chain."""

    chain_id: int
    verifying_contract: str
    separator: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.chain_id, int) or self.chain_id <= 0:
            raise ValueError(f"chain id must be a positive integer, got {self.chain_id!r}")
        contract = to_checksum_address(self.verifying_contract)
        object.__setattr__(self, "verifying_contract", contract)
        object.__setattr__(
            self,
            "separator",
            keccak256(
                _DOMAIN_TYPEHASH
                + keccak256(DOMAIN_NAME.encode())
                + keccak256(DOMAIN_VERSION.encode())
                + _word(self.chain_id)
                + bytes(12)
                + bytes.fromhex(contract[2:])
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


def domain(chain_id: int, verifying_contract: str) -> Domain:
    """The domain oracles sign under for the hub at `verifying_contract` on `chain_id`."""
    return Domain(chain_id, verifying_contract)


@dataclass(frozen=True)
class Attestation:
    """One result about one subject, as oracles sign it and AttestationHub.submit takes it.

    `subject` identifies what the result is about (e.g. the declaration hash), `result_hash`
    is the hash of the full result kept off chain, `model_version` names the model
    (`model_version("tariff-2025.1")`).  Values may be given as bytes or 0x-hex; they are
    stored as bytes.  Raises ValueError for a value of the wrong size or range.
    """

    subject: bytes
    kind: Kind
    result_hash: bytes
    model_version: bytes
    issued_at: int
    nonce: int

    def __post_init__(self) -> None:
        _set(self, "subject", to_bytes32(self.subject, "subject"))
        _set(self, "kind", _kind(self.kind))
        _set(self, "result_hash", to_bytes32(self.result_hash, "result_hash"))
        _set(self, "model_version", to_bytes32(self.model_version, "model_version"))
        _check_uint(self.issued_at, 64, "issued_at")
        _check_uint(self.nonce, 64, "nonce")

    @classmethod
    def create(
        cls,
        subject: Bytes32,
        kind: Kind | int,
        result_hash: Bytes32,
        model_version: Bytes32,
        *,
        issued_at: int | None = None,
        nonce: int | None = None,
    ) -> Attestation:
        """An attestation issued now (unix seconds) with a random nonce, unless given."""
        return cls(
            subject,  # type: ignore[arg-type]
            kind,  # type: ignore[arg-type]
            result_hash,  # type: ignore[arg-type]
            model_version,  # type: ignore[arg-type]
            int(time.time()) if issued_at is None else issued_at,
            new_nonce() if nonce is None else nonce,
        )

    def struct_hash(self) -> bytes:
        return keccak256(
            _ATTESTATION_TYPEHASH
            + self.subject
            + _word(self.kind)
            + self.result_hash
            + self.model_version
            + _word(self.issued_at)
            + _word(self.nonce)
        )

    def as_args(self) -> tuple[bytes, int, bytes, bytes, int, int]:
        """The struct as a tuple for the contract call."""
        return (
            self.subject,
            int(self.kind),
            self.result_hash,
            self.model_version,
            self.issued_at,
            self.nonce,
        )

    def message(self) -> dict[str, Any]:
        """The EIP-712 message fields, named as in the type."""
        return {
            "subject": self.subject,
            "kind": int(self.kind),
            "resultHash": self.result_hash,
            "modelVersion": self.model_version,
            "issuedAt": self.issued_at,
            "nonce": self.nonce,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": hex0x(self.subject),
            "kind": self.kind.name,
            "result_hash": hex0x(self.result_hash),
            "model_version": model_version_str(self.model_version),
            "issued_at": self.issued_at,
            "nonce": self.nonce,
        }


@dataclass(frozen=True)
class BatchAttestation:
    """Many results of one kind under one Merkle root (`results_tree(...).root`).

    `count` is the number of leaves, so a verifier may refuse a proof index beyond it.
    Raises ValueError for a value of the wrong size or range.
    """

    root: bytes
    kind: Kind
    count: int
    model_version: bytes
    issued_at: int
    nonce: int

    def __post_init__(self) -> None:
        _set(self, "root", to_bytes32(self.root, "root"))
        _set(self, "kind", _kind(self.kind))
        _check_uint(self.count, 32, "count")
        _set(self, "model_version", to_bytes32(self.model_version, "model_version"))
        _check_uint(self.issued_at, 64, "issued_at")
        _check_uint(self.nonce, 64, "nonce")

    @classmethod
    def create(
        cls,
        root: Bytes32,
        kind: Kind | int,
        count: int,
        model_version: Bytes32,
        *,
        issued_at: int | None = None,
        nonce: int | None = None,
    ) -> BatchAttestation:
        """A batch attestation issued now with a random nonce, unless given."""
        return cls(
            root,  # type: ignore[arg-type]
            kind,  # type: ignore[arg-type]
            count,
            model_version,  # type: ignore[arg-type]
            int(time.time()) if issued_at is None else issued_at,
            new_nonce() if nonce is None else nonce,
        )

    def struct_hash(self) -> bytes:
        return keccak256(
            _BATCH_TYPEHASH
            + self.root
            + _word(self.kind)
            + _word(self.count)
            + self.model_version
            + _word(self.issued_at)
            + _word(self.nonce)
        )

    def as_args(self) -> tuple[bytes, int, int, bytes, int, int]:
        return (
            self.root,
            int(self.kind),
            self.count,
            self.model_version,
            self.issued_at,
            self.nonce,
        )

    def message(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "kind": int(self.kind),
            "count": self.count,
            "modelVersion": self.model_version,
            "issuedAt": self.issued_at,
            "nonce": self.nonce,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "root": hex0x(self.root),
            "kind": self.kind.name,
            "count": self.count,
            "model_version": model_version_str(self.model_version),
            "issued_at": self.issued_at,
            "nonce": self.nonce,
        }


Signed = Attestation | BatchAttestation


def digest(dom: Domain, item: Signed) -> bytes:
    """The 32-byte EIP-712 digest oracles sign: `keccak256(0x1901 ++ separator ++ structHash)`."""
    return keccak256(b"\x19\x01" + dom.separator + item.struct_hash())


def typed_data(dom: Domain, item: Signed) -> dict[str, Any]:
    """The full EIP-712 message (for `eth_signTypedData_v4` or `encode_typed_data`)."""
    primary, spec = (
        ("Attestation", ATTESTATION_TYPE)
        if isinstance(item, Attestation)
        else ("BatchAttestation", BATCH_TYPE)
    )
    fields = spec[spec.index("(") + 1 : -1].split(",")
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            primary: [{"name": name, "type": typ} for typ, name in (f.split(" ") for f in fields)],
        },
        "primaryType": primary,
        "domain": dom.to_json(),
        "message": item.message(),
    }


def sign(account: LocalAccount, dom: Domain, item: Signed) -> bytes:
    """The oracle's 65-byte `(r, s, v)` signature (v = 27 or 28, low s) of the digest."""
    return bytes(account.unsafe_sign_hash(Hash32(digest(dom, item))).signature)


def recover(dom: Domain, item: Signed, signature: bytes) -> str:
    """The checksummed address that signed `item`, checked as the contract checks it.

    Raises BadSignature for what AttestationHub refuses as InvalidSignature: not 65 bytes,
    `v` not 27/28, `s` in the upper half of the curve order, or no recoverable key.  A valid
    signature of some other message recovers to some other address, as on chain.
    """
    return recover_digest(digest(dom, item), signature)


def recover_digest(message_digest: bytes, signature: bytes) -> str:
    """`recover` for a digest already computed."""
    sig = bytes(signature)
    if len(sig) != SIGNATURE_SIZE:
        raise BadSignature(f"a signature is {SIGNATURE_SIZE} bytes (r, s, v), got {len(sig)}")
    r, s, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
    if v not in (27, 28):
        raise BadSignature(f"signature v must be 27 or 28, got {v}")
    if s > _SECP256K1_HALF_N:
        raise BadSignature("signature s is in the upper half of the curve order (malleable)")
    try:
        public = KeyAPI.Signature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(
            bytes(message_digest)
        )
    except (_EthKeysBadSignature, ValueError) as exc:
        raise BadSignature(f"no public key recovers from this signature ({exc})") from None
    return public.to_checksum_address()


# ---- helpers -------------------------------------------------------------------------------


def _kind(value: Kind | int) -> Kind:
    try:
        return Kind(value)
    except ValueError:
        raise ValueError(
            f"kind must be one of {', '.join(f'{k.name}={k.value}' for k in Kind)}, got {value!r}"
        ) from None


def _check_uint(value: int, bits: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**bits:
        raise ValueError(f"{what} must be an integer in [0, 2**{bits}), got {value!r}")


def _set(obj: object, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def _word(value: int) -> bytes:
    return int(value).to_bytes(32, "big")
