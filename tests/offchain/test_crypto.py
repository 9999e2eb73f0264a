"""Sealed boxes for documents and signed envelopes between member nodes: every rejection path."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import given
from hypothesis import strategies as st
from nacl.public import PrivateKey, SealedBox

from offchain import crypto as crypto_module
from offchain.crypto import (
    BATCH_OVERHEAD,
    ENVELOPE_HEADER,
    CryptoError,
    DecryptionFailed,
    Envelope,
    EnvelopeRejected,
    seal,
    seal_many,
    sign_envelope,
    unseal,
    verify_envelope,
)
from offchain.errors import OffchainError
from offchain.keystore import Keystore

# ---- sealed boxes -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def box_keys(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    return Keystore(tmp_path_factory.mktemp("keys"))


@pytest.mark.parametrize("plaintext", [b"", b"<CertificateOfOrigin/>", bytes(range(256)) * 64])
def test_seal_round_trip(box_keys: Keystore, plaintext: bytes) -> None:
    sg = box_keys.box_key("SG")
    sealed = seal(bytes(sg.public_key), plaintext)
    assert len(sealed) == len(plaintext) + 48
    assert unseal(sg, sealed) == plaintext
    assert seal(bytes(sg.public_key), plaintext) != sealed, "fresh ephemeral key every time"


def test_sealed_boxes_are_libsodium_sealed_boxes(box_keys: Keystore) -> None:
    """Interoperable with any libsodium `crypto_box_seal` implementation, both ways."""
    nz = box_keys.box_key("NZ")
    assert SealedBox(nz).decrypt(seal(bytes(nz.public_key), b"x")) == b"x"
    assert unseal(nz, SealedBox(nz.public_key).encrypt(b"y")) == b"y"


def test_wrong_key_cannot_unseal(box_keys: Keystore) -> None:
    sealed = seal(bytes(box_keys.box_key("SG").public_key), b"for SG only")
    nz = box_keys.box_key("NZ")
    with pytest.raises(DecryptionFailed, match="sealed for another key") as err:
        unseal(nz, sealed)
    assert bytes(nz.public_key).hex() in str(err.value), "names our key, so it can be compared"
    assert err.value.code == "decryption_failed"


@pytest.mark.parametrize("where", [0, 31, 32, 47, 48, -1], ids=lambda i: f"byte{i}")
def test_tampered_ciphertext_cannot_unseal(box_keys: Keystore, where: int) -> None:
    """Flipping any bit (ephemeral key, tag or body) makes the box unopenable."""
    sg = box_keys.box_key("SG")
    sealed = bytearray(seal(bytes(sg.public_key), b"payload of some length"))
    sealed[where] ^= 0x01
    with pytest.raises(DecryptionFailed, match="altered"):
        unseal(sg, bytes(sealed))


@pytest.mark.parametrize("length", [0, 1, 47])
def test_truncated_ciphertext_is_named(box_keys: Keystore, length: int) -> None:
    with pytest.raises(DecryptionFailed, match="shorter than a sealed box"):
        unseal(box_keys.box_key("SG"), b"\0" * length)


def test_seal_needs_a_32_byte_key() -> None:
    with pytest.raises(CryptoError, match="32 bytes, got 31"):
        seal(b"\1" * 31, b"x")
    assert not issubclass(CryptoError, DecryptionFailed)
    assert issubclass(DecryptionFailed, CryptoError) and issubclass(EnvelopeRejected, CryptoError)


def test_unseal_with_a_fresh_key_fails_cleanly() -> None:
    with pytest.raises(DecryptionFailed):
        unseal(PrivateKey.generate(), seal(bytes(PrivateKey.generate().public_key), b"x"))


# ---- envelopes ----------------------------------------------------------------------------

CHAIN_ID = 31337
NOW = 1_760_000_000
BODY = b'{"document": "bafkrei...", "receipt": {...}}'


@pytest.fixture(scope="module")
def tw() -> LocalAccount:
    return Account.create()


@pytest.fixture(scope="module")
def sg() -> LocalAccount:
    return Account.create()


@pytest.fixture(scope="module")
def members(tw: LocalAccount, sg: LocalAccount) -> dict[str, str]:
    """What ConsortiumRegistry says: account -> member (memberOf), active members only."""
    return {tw.address: "TW", sg.address: "SG"}


class Nonces:
    """A replay cache: check-and-insert, as a node's database would do it."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()
        self.calls = 0

    def __call__(self, sender: str, nonce: str) -> bool:
        self.calls += 1
        if (sender, nonce) in self.seen:
            return True
        self.seen.add((sender, nonce))
        return False


def verify(env: Envelope, members: dict[str, str], nonces: Nonces | None = None, **kw) -> None:
    args = {
        "recipient": "SG",
        "chain_id": CHAIN_ID,
        "is_member_account": lambda member, account: members.get(account) == member,
        "seen_nonce": nonces or Nonces(),
        "now": NOW,
    }
    verify_envelope(env, kw.pop("body", BODY), **{**args, **kw})


def signed(account: LocalAccount, sender: str = "TW", recipient: str = "SG", **kw) -> Envelope:
    body, chain_id, now = kw.pop("body", BODY), kw.pop("chain_id", CHAIN_ID), kw.pop("now", NOW)
    return sign_envelope(account, sender, recipient, body, chain_id=chain_id, now=now)


def rejected(code: str, env: Envelope, members: dict[str, str], **kw) -> EnvelopeRejected:
    with pytest.raises(EnvelopeRejected) as err:
        verify(env, members, **kw)
    assert err.value.code == code, err.value
    assert err.value.detail and code in str(err.value)
    return err.value


def test_envelope_from_a_member_is_accepted(tw: LocalAccount, members: dict[str, str]) -> None:
    env = signed(tw)
    assert (env.version, env.sender, env.recipient, env.issued_at) == (1, "TW", "SG", NOW)
    assert env.signer == tw.address and len(env.nonce) == 32
    assert signed(tw).nonce != env.nonce
    verify(env, members)


def test_envelope_survives_http_headers(tw: LocalAccount, members: dict[str, str]) -> None:
    env = signed(tw)
    headers = env.to_headers()
    assert list(headers) == [ENVELOPE_HEADER]
    value = headers[ENVELOPE_HEADER]
    assert "=" not in value and value.isascii()
    assert Envelope.from_headers(headers) == env
    assert Envelope.from_headers({k.lower(): v for k, v in headers.items()}) == env
    assert Envelope.from_headers(httpx.Headers(headers)) == env
    verify(Envelope.from_headers(httpx.Headers(headers)), members)


def test_forged_signature_is_rejected(tw: LocalAccount, members: dict[str, str]) -> None:
    mallory = Account.create()
    forged = signed(mallory)
    claim = replace(forged, signer=tw.address)  # signed by mallory, claiming TW's account
    err = rejected("bad_signature", claim, members)
    assert tw.address in err.detail
    garbage = replace(signed(tw), signature="0x" + "11" * 65)
    rejected("bad_signature", garbage, members)


OTHER_BODY = b'{"document": "swapped"}'


@pytest.mark.parametrize(
    "change",
    [
        {"sender": "NZ"},
        {"issued_at": NOW + 1},
        {"nonce": "00" * 16},
        {"body_sha256": hashlib.sha256(OTHER_BODY).hexdigest()},
    ],
    ids=lambda c: next(iter(c)),
)
def test_any_altered_field_breaks_the_signature(
    tw: LocalAccount, members: dict[str, str], change: dict
) -> None:
    """Even when the altered envelope is otherwise consistent (body swapped with its hash)."""
    env = replace(signed(tw), **change)
    body = OTHER_BODY if "body_sha256" in change else BODY
    rejected("bad_signature", env, members, body=body)


def test_signature_is_bound_to_the_chain(tw: LocalAccount, members: dict[str, str]) -> None:
    env = signed(tw, chain_id=CHAIN_ID + 1)
    err = rejected("bad_signature", env, members)
    assert str(CHAIN_ID) in err.detail


def test_redirected_to_another_recipient_breaks_the_signature(
    tw: LocalAccount, members: dict[str, str]
) -> None:
    env = replace(signed(tw, recipient="NZ"), recipient="SG")
    rejected("bad_signature", env, members)


def test_signer_of_another_member_is_not_a_member(
    sg: LocalAccount, members: dict[str, str]
) -> None:
    """SG's own account signs a message claiming to come from TW."""
    env = signed(sg, sender="TW", recipient="NZ")
    err = rejected("not_a_member", env, members, recipient="NZ")
    assert sg.address in err.detail and "'TW'" in err.detail


def test_unknown_account_is_not_a_member(members: dict[str, str]) -> None:
    rejected("not_a_member", signed(Account.create()), members)


def test_wrong_recipient(tw: LocalAccount, members: dict[str, str]) -> None:
    err = rejected("wrong_recipient", signed(tw, recipient="NZ"), members)
    assert "'NZ'" in err.detail and "'SG'" in err.detail


@pytest.mark.parametrize("offset", [-301, 301, -10_000, 10_000])
def test_stale_outside_the_window(tw: LocalAccount, members: dict[str, str], offset: int) -> None:
    err = rejected("stale", signed(tw, now=NOW + offset), members)
    assert "NTP" in err.detail


@pytest.mark.parametrize("offset", [-300, 300, 0])
def test_fresh_at_the_window_edges(tw: LocalAccount, members: dict[str, str], offset: int) -> None:
    verify(signed(tw, now=NOW + offset), members)


def test_skew_is_configurable(tw: LocalAccount, members: dict[str, str]) -> None:
    env = signed(tw, now=NOW - 60)
    rejected("stale", env, members, max_skew_s=30)
    verify(env, members, max_skew_s=60)


def test_replay_is_rejected(tw: LocalAccount, members: dict[str, str]) -> None:
    nonces = Nonces()
    env = signed(tw)
    verify(env, members, nonces)
    err = rejected("replayed", env, members, nonces=nonces)
    assert env.nonce in err.detail


def test_rejected_envelopes_never_reach_the_nonce_cache(
    tw: LocalAccount, members: dict[str, str]
) -> None:
    """A forged or stale copy must not burn the nonce of a genuine message."""
    nonces = Nonces()
    env = signed(tw)
    rejected("stale", env, members, nonces=nonces, now=NOW + 1000)
    rejected("body_mismatch", env, members, nonces=nonces, body=b"other")
    rejected("bad_signature", replace(env, signature="0x" + "22" * 65), members, nonces=nonces)
    rejected("not_a_member", env, {}, nonces=nonces)
    assert nonces.calls == 0
    verify(env, members, nonces)


def test_tampered_body(tw: LocalAccount, members: dict[str, str]) -> None:
    rejected("body_mismatch", signed(tw), members, body=BODY + b" ")


def test_sign_refuses_bad_member_ids(tw: LocalAccount) -> None:
    for sender, recipient in [("tw", "SG"), ("TW", ""), ("TW", "A" * 32), ("TW\n", "SG")]:
        with pytest.raises(ValueError, match="not a member id"):
            sign_envelope(tw, sender, recipient, b"", chain_id=CHAIN_ID)


def test_rejection_codes_are_a_closed_set_with_http_statuses() -> None:
    with pytest.raises(ValueError, match="unknown envelope rejection code"):
        EnvelopeRejected("nope", "x")
    err = EnvelopeRejected("replayed", "nonce seen")
    assert (err.code, err.detail, err.http_status) == ("replayed", "nonce seen", 409)
    assert str(err) == "envelope rejected (replayed): nonce seen"
    assert issubclass(CryptoError, OffchainError)
    assert DecryptionFailed("x").code == "decryption_failed" != CryptoError.code


# ---- malformed headers --------------------------------------------------------------------


def header_of(obj: object) -> dict[str, str]:
    raw = json.dumps(obj).encode()
    return {ENVELOPE_HEADER: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}


def good_fields(tw: LocalAccount) -> dict:
    return asdict(signed(tw))


MALFORMED = {
    "missing header": lambda f: {"X-Other": "1"},
    "not base64": lambda f: {ENVELOPE_HEADER: "***"},
    "not json": lambda f: {ENVELOPE_HEADER: base64.urlsafe_b64encode(b"{nope").decode()},
    "json array": lambda f: header_of([f]),
    "missing field": lambda f: header_of({k: v for k, v in f.items() if k != "nonce"}),
    "extra field": lambda f: header_of({**f, "admin": True}),
    "bool version": lambda f: header_of({**f, "version": True}),
    "version 2": lambda f: header_of({**f, "version": 2}),
    "negative time": lambda f: header_of({**f, "issued_at": -1}),
    "huge time": lambda f: header_of({**f, "issued_at": 2**64}),
    "time as text": lambda f: header_of({**f, "issued_at": str(f["issued_at"])}),
    "upper nonce": lambda f: header_of({**f, "nonce": f["nonce"].upper() + "A"}),
    "short nonce": lambda f: header_of({**f, "nonce": "ab"}),
    "newline nonce": lambda f: header_of({**f, "nonce": f["nonce"] + "\n"}),
    "lower member": lambda f: header_of({**f, "sender": "tw"}),
    "bad signer": lambda f: header_of({**f, "signer": "0x1234"}),
    "short signature": lambda f: header_of({**f, "signature": f["signature"][:-2]}),
    "body hash": lambda f: header_of({**f, "body_sha256": "zz" * 32}),
    "too long": lambda f: {ENVELOPE_HEADER: "A" * 5000},
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_headers_are_rejected(tw: LocalAccount, case: str) -> None:
    headers = MALFORMED[case](good_fields(tw))
    with pytest.raises(EnvelopeRejected) as err:
        Envelope.from_headers(headers)
    assert err.value.code == "malformed"


def test_signer_address_case_is_normalised(tw: LocalAccount, members: dict[str, str]) -> None:
    fields = good_fields(tw)
    env = Envelope.from_headers(header_of({**fields, "signer": fields["signer"].lower()}))
    assert env.signer == tw.address
    verify(env, members)


@given(st.text(max_size=300))
def test_from_headers_never_fails_otherwise(value: str) -> None:
    try:
        Envelope.from_headers({ENVELOPE_HEADER: value})
    except EnvelopeRejected as exc:
        assert exc.code == "malformed"


@given(
    st.dictionaries(st.sampled_from(["version", "sender", "nonce", "x"]), st.integers() | st.text())
)
def test_from_dict_never_fails_otherwise(fields: dict) -> None:
    with pytest.raises(EnvelopeRejected):
        Envelope.from_dict(fields)


def test_keystore_box_keys_work_with_seal(tmp_path: Path) -> None:
    ks = Keystore(tmp_path)
    assert unseal(ks.box_key("TW"), seal(bytes(ks.box_key("TW").public_key), b"ok")) == b"ok"


# ---- batch-sealed boxes (issue #17) --------------------------------------------------------


def test_seal_many_each_opens_alone_with_one_ephemeral_key(box_keys: Keystore) -> None:
    sg = box_keys.box_key("SG")
    plaintexts = [b"first", b"", b"x" * 5000]
    sealed = seal_many(bytes(sg.public_key), plaintexts)
    assert [unseal(sg, s) for s in sealed] == plaintexts
    assert [len(s) - len(p) for s, p in zip(sealed, plaintexts, strict=True)] == [
        BATCH_OVERHEAD
    ] * 3
    assert len({s[4:36] for s in sealed}) == 1, "one ephemeral key for the call"
    assert len({s[36:60] for s in sealed}) == 3, "a random nonce each"
    assert seal_many(bytes(sg.public_key), plaintexts)[0][4:36] != sealed[0][4:36]
    assert seal_many(bytes(sg.public_key), []) == []


def test_batch_sealed_boxes_refuse_another_key_and_tampering(box_keys: Keystore) -> None:
    sg, nz = box_keys.box_key("SG"), box_keys.box_key("NZ")
    (sealed,) = seal_many(bytes(sg.public_key), [b"for SG only"])
    with pytest.raises(DecryptionFailed, match="sealed for another key"):
        unseal(nz, sealed)
    for where in (5, 40, len(sealed) - 1):
        tampered = bytearray(sealed)
        tampered[where] ^= 0x01
        with pytest.raises(DecryptionFailed):
            unseal(sg, bytes(tampered))
    with pytest.raises(CryptoError, match="32 bytes"):
        seal_many(b"\1" * 31, [b"x"])


def test_a_plain_sealed_box_that_starts_like_a_batch_one_still_opens(
    box_keys: Keystore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sealed box's ephemeral key is random: 1 in 2^32 begin with the batch magic."""
    sg = box_keys.box_key("SG")
    sealed = seal(bytes(sg.public_key), b"old format")
    monkeypatch.setattr(crypto_module, "BATCH_MAGIC", sealed[:4])
    assert unseal(sg, sealed) == b"old format"
