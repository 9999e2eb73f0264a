"""QBFT ``extraData``: the RLP structure in a Besu QBFT block header that names the validators.

The genesis block's extraData is how a new QBFT network learns its first validator set, so an
encoding mistake here means a network that never produces a block. The layout follows Besu's
``QbftExtraDataCodec`` (hyperledger/besu,
consensus/qbft/src/main/java/org/hyperledger/besu/consensus/qbft/QbftExtraDataCodec.java)::

    RLP([ vanity,        32 bytes
          validators,    list of 20-byte addresses
          vote,          empty list, or [recipient address, 0xff (add) | empty string (drop)]
          round,         RLP scalar (writeIntScalar: minimal big-endian, so round 0 is 0x80)
          seals ])       list of 65-byte committed seals (r || s || recovery id)

For a genesis block the vote is the empty list, the round 0 and the seal list empty, which is
exactly what Besu's ``QbftExtraDataCodec.encodeFromAddresses`` (used by
``besu operator generate-blockchain-config``) writes. This differs from IBFT 2.0, whose codec
writes an absent vote as an empty string and the round as 4 fixed bytes (``...808400000000c0``);
the decoder below refuses that shape so an IBFT genesis cannot be mistaken for a QBFT one.

Validators are sorted in ascending byte order: Besu tracks them in a ``TreeSet<Address>`` and its
``BftValidatorsValidationRule`` rejects headers whose validators are "not sorted in ascending
order", so the genesis lists them the same way the chain will.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import rlp
from eth_utils import is_address, to_canonical_address, to_checksum_address

from nodes.network.errors import NetworkConfigError

EXTRA_VANITY_LENGTH = 32
"""Besu ``BftExtraData.EXTRA_VANITY_LENGTH``: free bytes at the start, zero in a genesis."""

ADDRESS_LENGTH = 20
COMMITTED_SEAL_LENGTH = 65
"""A committed seal is an encoded SECP signature: r (32) || s (32) || recovery id (1)."""

VOTE_ADD = b"\xff"
"""Besu ``Vote.ADD_BYTE_VALUE``; a drop vote is written as an empty string (``writeNull``)."""

VOTE_DROP = b""

MAX_ROUND = 2**31 - 1
"""Besu keeps the round in a Java ``int`` and reads it with ``readIntScalar``."""

_MIN_ITEMS = 5


@dataclass(frozen=True)
class QbftVote:
    """A validator vote carried in a block header: add or drop ``recipient``."""

    recipient: str
    add: bool


@dataclass(frozen=True)
class QbftExtraData:
    """The decoded extraData of a QBFT header; validators are checksummed, in header order."""

    vanity: bytes
    validators: tuple[str, ...]
    vote: QbftVote | None
    round: int
    seals: tuple[bytes, ...]


def besu_validator_order(addresses: Sequence[str]) -> list[str]:
    """Checksummed ``addresses`` in the ascending byte order Besu requires in headers."""
    return [to_checksum_address(raw) for raw in sorted(to_canonical_address(a) for a in addresses)]


def encode_qbft_extra_data(
    validators: Sequence[str],
    *,
    vanity: bytes = bytes(EXTRA_VANITY_LENGTH),
    vote: QbftVote | None = None,
    round_number: int = 0,
    seals: Sequence[bytes] = (),
) -> bytes:
    """RLP-encode a QBFT extraData, keeping ``validators`` in the order given.

    The order is the caller's so that this function can reproduce any header byte for byte;
    a genesis should pass ``besu_validator_order(...)``. Raises NetworkConfigError for values
    Besu could not decode (wrong vanity or seal length, bad address, round out of range).
    """
    if len(vanity) != EXTRA_VANITY_LENGTH:
        raise NetworkConfigError(
            f"QBFT vanity must be {EXTRA_VANITY_LENGTH} bytes, got {len(vanity)}"
        )
    if not 0 <= round_number <= MAX_ROUND:
        raise NetworkConfigError(
            f"QBFT round must be between 0 and {MAX_ROUND}, got {round_number}"
        )
    for seal in seals:
        if len(seal) != COMMITTED_SEAL_LENGTH:
            raise NetworkConfigError(
                f"QBFT committed seal must be {COMMITTED_SEAL_LENGTH} bytes, got {len(seal)}"
            )
    return rlp.encode(
        [
            bytes(vanity),
            [_address_bytes(v) for v in validators],
            _encode_vote(vote),
            _scalar(round_number),
            [bytes(seal) for seal in seals],
        ]
    )


def decode_qbft_extra_data(extra_data_hex: str) -> QbftExtraData:
    """Decode a QBFT extraData hex string (with or without 0x) the way Besu's codec reads it.

    Like Besu it tolerates items after the seals (``leaveListLenient``); unlike Besu it also
    insists on a 32-byte vanity and 65-byte seals, since this decoder exists to check what we
    generate. Raises NetworkConfigError naming the field that does not fit.
    """
    items = _decode_rlp_list(extra_data_hex)
    vanity, validators, vote, round_item, seals = items[:_MIN_ITEMS]
    return QbftExtraData(
        vanity=_decode_vanity(vanity),
        validators=tuple(
            _decode_address(v, "validator") for v in _as_list(validators, "validators")
        ),
        vote=_decode_vote(vote),
        round=_decode_round(round_item),
        seals=tuple(_decode_seal(s) for s in _as_list(seals, "committed seals")),
    )


def _address_bytes(address: str) -> bytes:
    if not isinstance(address, str) or not is_address(address):
        raise NetworkConfigError(f"QBFT validator {address!r} is not an Ethereum address")
    return to_canonical_address(address)


def _encode_vote(vote: QbftVote | None) -> list[bytes]:
    if vote is None:
        return []
    return [_address_bytes(vote.recipient), VOTE_ADD if vote.add else VOTE_DROP]


def _scalar(value: int) -> bytes:
    """Minimal big-endian bytes, as Besu's ``writeIntScalar`` writes them (0 is empty)."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _decode_rlp_list(extra_data_hex: str) -> list:
    text = extra_data_hex.strip() if isinstance(extra_data_hex, str) else ""
    text = text[2:] if text[:2].lower() == "0x" else text
    try:
        raw = bytes.fromhex(text)
    except ValueError as exc:
        raise NetworkConfigError(f"extraData is not hex: {extra_data_hex!r}") from exc
    if not raw:
        raise NetworkConfigError("extraData is empty; a QBFT genesis needs the RLP validator list")
    try:
        items = rlp.decode(raw)
    except rlp.exceptions.DecodingError as exc:
        raise NetworkConfigError(f"extraData is not valid RLP: {exc}") from exc
    if not isinstance(items, list) or len(items) < _MIN_ITEMS:
        raise NetworkConfigError(
            "extraData is not a QBFT structure: expected an RLP list of "
            "[vanity, validators, vote, round, seals]"
        )
    return items


def _as_list(item: object, field: str) -> list:
    if not isinstance(item, list):
        raise NetworkConfigError(f"QBFT extraData field {field} must be an RLP list")
    return item


def _decode_vanity(item: object) -> bytes:
    if not isinstance(item, bytes) or len(item) != EXTRA_VANITY_LENGTH:
        raise NetworkConfigError(f"QBFT extraData vanity must be {EXTRA_VANITY_LENGTH} bytes")
    return item


def _decode_address(item: object, field: str) -> str:
    if not isinstance(item, bytes) or len(item) != ADDRESS_LENGTH:
        raise NetworkConfigError(f"QBFT extraData {field} must be a {ADDRESS_LENGTH}-byte address")
    return to_checksum_address(item)


def _decode_vote(item: object) -> QbftVote | None:
    if not isinstance(item, list):
        raise NetworkConfigError(
            "QBFT extraData vote must be an RLP list (empty when there is no vote); "
            "an empty string here is the IBFT 2.0 layout, not QBFT"
        )
    if not item:
        return None
    if len(item) != 2:
        raise NetworkConfigError("QBFT extraData vote must be [recipient, vote type]")
    recipient, vote_type = item
    if vote_type not in (VOTE_ADD, VOTE_DROP):
        raise NetworkConfigError(
            f"QBFT extraData vote type must be 0xff or empty, got {vote_type!r}"
        )
    return QbftVote(
        recipient=_decode_address(recipient, "vote recipient"), add=vote_type == VOTE_ADD
    )


def _decode_round(item: object) -> int:
    if not isinstance(item, bytes):
        raise NetworkConfigError("QBFT extraData round must be an RLP scalar, not a list")
    if item[:1] == b"\x00":
        raise NetworkConfigError(
            "QBFT extraData round has a leading zero byte; Besu reads it as a minimal scalar "
            "(a fixed 4-byte round is the IBFT 2.0 layout)"
        )
    value = int.from_bytes(item, "big")
    if value > MAX_ROUND:
        raise NetworkConfigError(f"QBFT extraData round {value} does not fit Besu's int round")
    return value


def _decode_seal(item: object) -> bytes:
    if not isinstance(item, bytes) or len(item) != COMMITTED_SEAL_LENGTH:
        raise NetworkConfigError(
            f"QBFT extraData committed seal must be {COMMITTED_SEAL_LENGTH} bytes"
        )
    return item
