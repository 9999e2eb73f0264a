"""The crypto helpers: sealed boxes for documents, signed envelopes between member nodes.

Sealed boxes (libsodium `crypto_box_seal` through PyNaCl): a document is encrypted for one
member's X25519 public key (published in ConsortiumRegistry) and only that member's box key
opens it.  The sender stays anonymous in the ciphertext — who sent a document is proven by
the envelope and the chain anchor, not by the encryption.  Documents submitted together for
one member are sealed with one ephemeral key for all of them (`seal_many`: one X25519
exchange per batch instead of two per document); `unseal` opens either form.

Envelopes: when a member node sends a document or receipt to another member node over
HTTP, the request carries an `Envelope` — sender and recipient member ids, time, a random
nonce and the body's sha256 — signed as EIP-712 typed data by an Ethereum account of the
sending member.  The receiver recovers the signer and asks the chain (through the
`is_member_account` callback: ConsortiumRegistry `memberOf(signer) == sender` and the
member active) whether that account speaks for the sender; the time window and the
`seen_nonce` callback make a captured request useless to replay.  The signature is over
typed data with a domain bound to the chain id, so it can never be mistaken for (or
replayed as) a transaction or a signature of another contract or network.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from nacl.exceptions import CryptoError as NaclCryptoError
from nacl.public import Box, PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox
from nacl.utils import random as nacl_random

from offchain.errors import OffchainError
from offchain.hexbytes import hex0x


class CryptoError(OffchainError):
    """Base of everything this module raises on purpose (`code`, `detail`)."""

    code: str = "crypto_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)


class DecryptionFailed(CryptoError):
    """A sealed box that this key cannot open: sealed for another key, or altered."""

    code = "decryption_failed"


# Why an envelope is refused (statuses: offchain.errors.HTTP_STATUS["envelope_rejected"]).
ENVELOPE_REJECTIONS = frozenset(
    {
        "malformed",  # missing or unparsable X-SC-Envelope header, unknown version
        "bad_signature",  # signature does not match the envelope and its claimed signer
        "not_a_member",  # the signer does not speak for the sending member (registry)
        "wrong_recipient",  # addressed to another member node (421 Misdirected Request)
        "stale",  # issued outside the allowed clock skew
        "replayed",  # this sender's nonce was seen before
        "body_mismatch",  # the body is not the one whose sha256 was signed
    }
)


class EnvelopeRejected(CryptoError):
    """A node-to-node message the receiver must refuse; `code` says why, `detail` how."""

    code = "envelope_rejected"

    def __init__(self, code: str, detail: str) -> None:
        if code not in ENVELOPE_REJECTIONS:
            raise ValueError(f"unknown envelope rejection code {code!r}")
        super().__init__(detail)
        self.code = code

    def __str__(self) -> str:
        return f"envelope rejected ({self.code}): {self.detail}"


# ---- sealed boxes ------------------------------------------------------------------------

SEAL_OVERHEAD = 48  # ephemeral public key (32) + Poly1305 tag (16)

# A batch-sealed box (`seal_many`): magic, the batch's ephemeral public key, a random nonce,
# then XSalsa20-Poly1305 under the X25519 key the ephemeral and recipient keys share.
BATCH_MAGIC = b"SCb1"
BATCH_OVERHEAD = len(BATCH_MAGIC) + 32 + 24 + 16  # magic, ephemeral key, nonce, tag
_SHARED_CACHE = 1024  # ephemeral keys whose shared key an opener remembers (one per batch)


def _public_key(recipient_x25519_public: bytes) -> PublicKey:
    if len(recipient_x25519_public) != 32:
        raise CryptoError(
            f"an X25519 public key is 32 bytes, got {len(recipient_x25519_public)}; "
            "use the member's x25519Key from ConsortiumRegistry"
        )
    return PublicKey(bytes(recipient_x25519_public))


def seal(recipient_x25519_public: bytes, plaintext: bytes) -> bytes:
    """Encrypt `plaintext` so only the holder of the matching X25519 private key can read it."""
    return SealedBox(_public_key(recipient_x25519_public)).encrypt(plaintext)


def seal_many(recipient_x25519_public: bytes, plaintexts: Sequence[bytes]) -> list[bytes]:
    """Seal each plaintext for one recipient, with one X25519 exchange for all of them.

    Why: a sealed box (`seal`) costs two X25519 operations per message (about 45 µs, the
    largest cost of accepting a document after XML validation); documents submitted
    together for one partner share one ephemeral key instead, and each is encrypted under
    the key it shares with the recipient with a random 24-byte nonce (libsodium's
    `crypto_box` construction: XSalsa20-Poly1305, about 5 µs for a certificate).  Each
    output is still opened on its own by the recipient's private key alone (`unseal`), and
    says nothing about its sender; what it does reveal is that copies sealed in the same
    call belong together (they carry the same ephemeral key).  The ephemeral private key is
    dropped when this returns.
    """
    if not plaintexts:
        return []
    ephemeral = PrivateKey.generate()
    box = Box(ephemeral, _public_key(recipient_x25519_public))
    head = BATCH_MAGIC + bytes(ephemeral.public_key)
    return [head + bytes(box.encrypt(p, nacl_random(Box.NONCE_SIZE))) for p in plaintexts]


def unseal(private: PrivateKey, ciphertext: bytes) -> bytes:
    """Open a sealed box (`seal` or `seal_many`) with our private key.

    `DecryptionFailed` says what to check.  A batch-sealed box is recognised by its magic;
    one that does not open as such is tried as a plain sealed box (whose random ephemeral
    key may begin with the same four bytes) before it is refused.
    """
    ciphertext = bytes(ciphertext)
    if len(ciphertext) < SEAL_OVERHEAD:
        raise DecryptionFailed(
            f"ciphertext of {len(ciphertext)} bytes is shorter than a sealed box's "
            f"{SEAL_OVERHEAD}-byte overhead: it is truncated or not a sealed box"
        )
    if ciphertext.startswith(BATCH_MAGIC) and len(ciphertext) >= BATCH_OVERHEAD:
        start = len(BATCH_MAGIC)
        try:
            box = _shared_box(private, ciphertext[start : start + 32])
            return box.decrypt(ciphertext[start + 32 :])
        except NaclCryptoError:
            pass  # not for us, altered, or a plain sealed box starting with the magic
    try:
        return SealedBox(private).decrypt(ciphertext)
    except NaclCryptoError:
        raise DecryptionFailed(
            "cannot open the sealed box: it was sealed for another key (ours is "
            f"{bytes(private.public_key).hex()}; check the sender used our x25519Key from "
            "ConsortiumRegistry) or it was altered in transit or storage"
        ) from None


_shared_lock = threading.Lock()
_shared: OrderedDict[tuple[bytes, bytes], Box] = OrderedDict()


def _shared_box(private: PrivateKey, ephemeral_public: bytes) -> Box:
    """The Box our key shares with a batch's ephemeral key (one X25519 per batch, cached)."""
    key = (bytes(private.public_key), ephemeral_public)
    with _shared_lock:
        box = _shared.get(key)
        if box is not None:
            _shared.move_to_end(key)
            return box
    box = Box(private, PublicKey(ephemeral_public))
    with _shared_lock:
        _shared[key] = box
        while len(_shared) > _SHARED_CACHE:
            _shared.popitem(last=False)
    return box


# ---- node-to-node envelopes ---------------------------------------------------------------

ENVELOPE_VERSION = 1
ENVELOPE_HEADER = "X-SC-Envelope"
EIP712_DOMAIN_NAME = "SmartCustoms Envelope"
EIP712_DOMAIN_VERSION = "1"
_MAX_HEADER_CHARS = 2048

_EIP712_TYPES = {
    "Envelope": [
        {"name": "version", "type": "uint8"},
        {"name": "sender", "type": "string"},
        {"name": "recipient", "type": "string"},
        {"name": "issuedAt", "type": "uint64"},
        {"name": "nonce", "type": "bytes16"},
        {"name": "bodySha256", "type": "bytes32"},
        {"name": "signer", "type": "address"},
    ]
}

_MEMBER_ID = re.compile(r"[A-Z][A-Z0-9_-]{0,30}")  # as MemberConfig.id in settings
_INT_FIELDS = ("version", "issued_at")
_TEXT_FIELDS = {
    "sender": _MEMBER_ID,
    "recipient": _MEMBER_ID,
    "nonce": re.compile(r"[0-9a-f]{32}"),
    "body_sha256": re.compile(r"[0-9a-f]{64}"),
    "signer": re.compile(r"0x[0-9a-fA-F]{40}"),
    "signature": re.compile(r"0x[0-9a-f]{130}"),
}
_FIELDS = {*_INT_FIELDS, *_TEXT_FIELDS}


def at_rest_key(private: PrivateKey) -> bytes:
    """A symmetric key for our own copies, derived from our X25519 key (BLAKE2b, keyed).

    Why: an exporting node keeps its own copy of each document it sent (to resend or
    re-verify later).  Sealing it to our own public key would cost a second X25519 operation
    per document; a SecretBox under a key only we can derive costs a few microseconds.
    """
    return hashlib.blake2b(
        b"smartcustoms at-rest copy v1", key=bytes(private), digest_size=32
    ).digest()


def encrypt_at_rest(key: bytes, plaintext: bytes) -> bytes:
    """XSalsa20-Poly1305 with a random nonce (prepended), for our own copies."""
    return bytes(SecretBox(key).encrypt(plaintext))


def encrypt_at_rest_many(key: bytes, plaintexts: Sequence[bytes]) -> list[bytes]:
    """`encrypt_at_rest` of each plaintext, one cipher object for all (a random nonce each)."""
    box = SecretBox(key)
    return [bytes(box.encrypt(p)) for p in plaintexts]


def decrypt_at_rest(key: bytes, ciphertext: bytes) -> bytes:
    try:
        return SecretBox(key).decrypt(bytes(ciphertext))
    except NaclCryptoError:
        raise DecryptionFailed(
            "cannot open our own stored copy: it was altered, or the node's box key changed "
            "since it was written"
        ) from None


@dataclass(frozen=True)
class Envelope:
    """Who sends what to whom and when, signed by an account of the sending member."""

    version: int
    sender: str  # member id, e.g. "TW"
    recipient: str  # member id
    issued_at: int  # unix seconds
    nonce: str  # 16 random bytes, lower-case hex
    body_sha256: str  # lower-case hex
    signer: str  # checksummed 0x address of the signing account
    signature: str  # 0x + 65 bytes hex (r, s, v)

    def signable(self, chain_id: int) -> SignableMessage:
        """The EIP-712 message the signature is over (everything but the signature)."""
        return _signable(self, chain_id)

    def to_headers(self) -> dict[str, str]:
        """`{"X-SC-Envelope": base64url(JSON)}`: one header, no padding."""
        raw = json.dumps(asdict(self), separators=(",", ":"), sort_keys=True).encode()
        return {ENVELOPE_HEADER: base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")}

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Envelope:
        """The envelope in `headers` (any case of the name); `EnvelopeRejected("malformed")`."""
        value = headers.get(ENVELOPE_HEADER)
        if value is None:  # plain dicts are case-sensitive; HTTP header names are not
            wanted = ENVELOPE_HEADER.lower()
            value = next((v for k, v in headers.items() if k.lower() == wanted), None)
        if value is None:
            raise EnvelopeRejected(
                "malformed",
                f"missing {ENVELOPE_HEADER} header: sign the request with "
                "offchain.crypto.sign_envelope and send Envelope.to_headers()",
            )
        if not isinstance(value, str) or len(value) > _MAX_HEADER_CHARS:
            raise EnvelopeRejected("malformed", f"{ENVELOPE_HEADER} is not a short string")
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            fields = json.loads(raw)
        except (binascii.Error, ValueError) as exc:
            raise EnvelopeRejected(
                "malformed", f"{ENVELOPE_HEADER} is not base64url-encoded JSON ({exc})"
            ) from None
        return cls.from_dict(fields)

    @classmethod
    def from_dict(cls, fields: Any) -> Envelope:
        """Validate field by field; `EnvelopeRejected("malformed")` names the first bad one."""
        if not isinstance(fields, dict):
            raise EnvelopeRejected("malformed", "envelope must be a JSON object")
        missing = sorted(set(_FIELDS) - set(fields))
        extra = sorted(set(fields) - set(_FIELDS))
        if missing or extra:
            raise EnvelopeRejected(
                "malformed", f"envelope fields missing {missing} / unexpected {extra}"
            )
        for name in _INT_FIELDS:
            value = fields[name]
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**64:
                raise EnvelopeRejected("malformed", f"envelope field {name}={value!r} is invalid")
        for name, pattern in _TEXT_FIELDS.items():
            value = fields[name]
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise EnvelopeRejected("malformed", f"envelope field {name}={value!r} is invalid")
        if fields["version"] != ENVELOPE_VERSION:
            raise EnvelopeRejected(
                "malformed",
                f"envelope version {fields['version']} is not supported (this node speaks "
                f"{ENVELOPE_VERSION}); upgrade the older node",
            )
        return cls(**{**fields, "signer": to_checksum_address(fields["signer"])})


def sign_envelope(
    account: LocalAccount,
    sender: str,
    recipient: str,
    body: bytes,
    *,
    chain_id: int,
    now: float | None = None,
) -> Envelope:
    """An envelope for sending `body` from member `sender` to member `recipient`.

    `account` must be an account ConsortiumRegistry binds to `sender` (`memberOf`), or the
    receiver rejects the message as `not_a_member`.
    """
    for what, member in (("sender", sender), ("recipient", recipient)):
        if not _MEMBER_ID.fullmatch(member):
            raise ValueError(f"{what} {member!r} is not a member id (e.g. 'TW')")
    unsigned = Envelope(
        version=ENVELOPE_VERSION,
        sender=sender,
        recipient=recipient,
        issued_at=int(time.time() if now is None else now),
        nonce=secrets.token_hex(16),
        body_sha256=hashlib.sha256(body).hexdigest(),
        signer=account.address,
        signature="",
    )
    signed = account.sign_message(_signable(unsigned, chain_id))
    return Envelope(**{**asdict(unsigned), "signature": hex0x(signed.signature)})


def verify_envelope(
    env: Envelope,
    body: bytes,
    *,
    recipient: str,
    chain_id: int,
    is_member_account: Callable[[str, str], bool],
    seen_nonce: Callable[[str, str], bool],
    max_skew_s: int = 300,
    now: float | None = None,
) -> None:
    """Accept `env` + `body` as sent to us (`recipient`) by a member node, or raise.

    Raises `EnvelopeRejected` with code wrong_recipient, stale (issued more than
    `max_skew_s` from `now`), body_mismatch, bad_signature, not_a_member
    (`is_member_account(sender, signer)` is false) or replayed.  Cheap local checks run
    first, the chain lookup after the signature, and `seen_nonce(sender, nonce)` last, so
    it may record the nonce as it answers (check-and-insert) knowing only authentic,
    fresh messages reach it; it must remember nonces for at least 2 * `max_skew_s`.
    """
    if env.version != ENVELOPE_VERSION:
        raise EnvelopeRejected("malformed", f"envelope version {env.version} is not supported")
    if env.recipient != recipient:
        raise EnvelopeRejected(
            "wrong_recipient",
            f"message is addressed to {env.recipient!r}, this node is {recipient!r}",
        )
    current = time.time() if now is None else now
    if abs(current - env.issued_at) > max_skew_s:
        raise EnvelopeRejected(
            "stale",
            f"issued at {env.issued_at}, {current - env.issued_at:+.0f} s from this node's "
            f"clock (allowed ±{max_skew_s} s); check both clocks (NTP) or resend",
        )
    if hashlib.sha256(body).hexdigest() != env.body_sha256:
        raise EnvelopeRejected(
            "body_mismatch", "request body does not match the signed body_sha256"
        )
    try:
        recovered = Account.recover_message(_signable(env, chain_id), signature=env.signature)
    except Exception as exc:  # eth-account raises several types for unusable signatures
        raise EnvelopeRejected(
            "bad_signature", f"signature does not verify ({exc.__class__.__name__})"
        ) from None
    if recovered != env.signer:
        raise EnvelopeRejected(
            "bad_signature",
            f"signature does not match this envelope as signed by {env.signer} on chain "
            f"{chain_id} (forged or altered envelope, or signed for another chain id)",
        )
    if not is_member_account(env.sender, env.signer):
        raise EnvelopeRejected(
            "not_a_member",
            f"account {env.signer} does not speak for active member {env.sender!r} in "
            "ConsortiumRegistry",
        )
    if seen_nonce(env.sender, env.nonce):
        raise EnvelopeRejected(
            "replayed", f"nonce {env.nonce} from {env.sender!r} was already used"
        )


def _signable(env: Envelope, chain_id: int) -> SignableMessage:
    return encode_typed_data(
        domain_data={
            "name": EIP712_DOMAIN_NAME,
            "version": EIP712_DOMAIN_VERSION,
            "chainId": chain_id,
        },
        message_types=_EIP712_TYPES,
        message_data={
            "version": env.version,
            "sender": env.sender,
            "recipient": env.recipient,
            "issuedAt": env.issued_at,
            "nonce": bytes.fromhex(env.nonce),
            "bodySha256": bytes.fromhex(env.body_sha256),
            "signer": env.signer,
        },
    )
