"""offchain.attestation: EIP-712 digests, signing and recovery, batch leaves, value checks.

The hand-made digest is checked against eth-account's generic `encode_typed_data` here; that
it equals the deployed contract's `hashAttestation` / `hashBatch` is shown in
tests/contracts/test_attestation_hub.py.
"""

from __future__ import annotations

import os
import time

import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain import merkle
from offchain.attestation import (
    AUDIT,
    CLEARANCE,
    TARIFF,
    XRAY,
    Attestation,
    BadSignature,
    BatchAttestation,
    Domain,
    Kind,
    digest,
    domain,
    model_version,
    model_version_str,
    recover,
    recover_digest,
    result_leaf,
    results_tree,
    sign,
    typed_data,
)
from offchain.merkle import pair_leaf_hash

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HUB = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DOM = domain(31337, HUB)
ORACLE = Account.from_key(keccak(text="test oracle"))

b32 = st.binary(min_size=32, max_size=32)
u64 = st.integers(min_value=0, max_value=2**64 - 1)
kinds = st.sampled_from(list(Kind))
attestations = st.builds(Attestation, b32, kinds, b32, b32, u64, u64)
batches = st.builds(
    BatchAttestation, b32, kinds, st.integers(min_value=0, max_value=2**32 - 1), b32, u64, u64
)
domains = st.builds(
    Domain,
    st.integers(min_value=1, max_value=2**64),
    st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex()),
)


def eth_account_digest(dom: Domain, item) -> bytes:
    """The digest by eth-account's generic EIP-712 encoder, the reference we must match."""
    return _hash_eip191_message(encode_typed_data(full_message=typed_data(dom, item)))


def att(**overrides) -> Attestation:
    fields = dict(
        subject=b"\x01" * 32,
        kind=TARIFF,
        result_hash=b"\x02" * 32,
        model_version=model_version("tariff-1"),
        issued_at=1_700_000_000,
        nonce=7,
    )
    fields.update(overrides)
    return Attestation(**fields)


# ------------------------------------------------------------------ digests


def test_kinds_are_the_contracts_numbers():
    assert (TARIFF, XRAY, AUDIT, CLEARANCE) == (1, 2, 3, 4)
    assert [k.name for k in Kind] == ["TARIFF", "XRAY", "AUDIT", "CLEARANCE"]


@settings(max_examples=60)
@given(domains, attestations)
def test_attestation_digest_equals_eth_account_typed_data(dom, a):
    assert digest(dom, a) == eth_account_digest(dom, a)


@settings(max_examples=60)
@given(domains, batches)
def test_batch_digest_equals_eth_account_typed_data(dom, b):
    assert digest(dom, b) == eth_account_digest(dom, b)


def test_domain_separator_is_eip712_hash_of_the_domain():
    expected = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                keccak(
                    text="EIP712Domain(string name,string version,uint256 chainId,"
                    "address verifyingContract)"
                ),
                keccak(text="SmartCustoms AttestationHub"),
                keccak(text="1"),
                31337,
                HUB,
            ],
        )
    )
    assert DOM.separator == expected
    assert DOM.to_json() == {
        "name": "SmartCustoms AttestationHub",
        "version": "1",
        "chainId": 31337,
        "verifyingContract": HUB,
    }


def test_digest_binds_chain_contract_and_every_field():
    base = digest(DOM, att())
    assert digest(domain(1, HUB), att()) != base
    assert digest(domain(31337, "0x" + "11" * 20), att()) != base
    for change in (
        {"subject": b"\x03" * 32},
        {"kind": XRAY},
        {"result_hash": b"\x03" * 32},
        {"model_version": model_version("tariff-2")},
        {"issued_at": 1_700_000_001},
        {"nonce": 8},
    ):
        assert digest(DOM, att(**change)) != base, change


def test_single_and_batch_digests_differ_for_the_same_words():
    a = att()
    b = BatchAttestation(a.subject, a.kind, 1, a.model_version, a.issued_at, a.nonce)
    assert digest(DOM, a) != digest(DOM, b)


def test_typed_data_names_the_types_of_the_contract():
    data = typed_data(DOM, att())
    assert data["primaryType"] == "Attestation"
    assert [(f["name"], f["type"]) for f in data["types"]["Attestation"]] == [
        ("subject", "bytes32"),
        ("kind", "uint8"),
        ("resultHash", "bytes32"),
        ("modelVersion", "bytes32"),
        ("issuedAt", "uint64"),
        ("nonce", "uint64"),
    ]
    batch = typed_data(DOM, BatchAttestation(b"\1" * 32, AUDIT, 5, b"\2" * 32, 1, 2))
    assert [f["type"] for f in batch["types"]["BatchAttestation"]] == [
        "bytes32",
        "uint8",
        "uint32",
        "bytes32",
        "uint64",
        "uint64",
    ]


def test_digests_of_distinct_attestations_are_distinct():
    """(Speed — about 3 us a digest against eth-account's ~100 us — is a benchmark figure.)"""
    assert len({digest(DOM, att(nonce=n)) for n in range(2_000)}) == 2_000


# ------------------------------------------------------------------ signing and recovery


def test_sign_and_recover_round_trip():
    a = att()
    sig = sign(ORACLE, DOM, a)
    assert len(sig) == 65 and sig[64] in (27, 28)
    assert int.from_bytes(sig[32:64], "big") <= SECP256K1_N // 2
    assert recover(DOM, a, sig) == ORACLE.address
    assert (
        Account.recover_message(encode_typed_data(full_message=typed_data(DOM, a)), signature=sig)
        == ORACLE.address
    )


def test_signature_of_another_subject_recovers_another_address():
    sig = sign(ORACLE, DOM, att(subject=b"\x09" * 32))
    assert recover(DOM, att(), sig) != ORACLE.address


@pytest.mark.parametrize(
    ("forge", "why"),
    [
        (lambda s: s[:64], "65 bytes"),
        (lambda s: s + b"\0", "65 bytes"),
        (lambda s: s[:64] + b"\x00", "27 or 28"),
        (lambda s: s[:64] + b"\x1d", "27 or 28"),
        (
            lambda s: (
                s[:32]
                + (SECP256K1_N - int.from_bytes(s[32:64], "big")).to_bytes(32, "big")
                + bytes([55 - s[64]])
            ),
            "upper half",
        ),
    ],
)
def test_recover_refuses_what_the_contract_refuses(forge, why):
    a = att()
    with pytest.raises(BadSignature, match=why):
        recover(DOM, a, forge(sign(ORACLE, DOM, a)))


def test_recover_refuses_unrecoverable_signature():
    with pytest.raises(BadSignature):
        recover_digest(b"\x05" * 32, b"\0" * 64 + b"\x1b")


def test_bad_signature_is_an_offchain_error_with_a_code():
    with pytest.raises(BadSignature) as caught:
        recover(DOM, att(), b"")
    assert caught.value.code == "bad_signature"
    assert isinstance(caught.value, ValueError)


# ------------------------------------------------------------------ batch leaves


@given(b32, b32)
def test_result_leaf_is_oz_standard_leaf_for_two_bytes32(subject, result):
    expected = keccak(keccak(encode(["bytes32", "bytes32"], [subject, result])))
    assert result_leaf(subject, result) == expected == pair_leaf_hash(subject, result)
    assert result_leaf("0x" + subject.hex(), "0x" + result.hex()) == expected


def test_pair_leaf_hash_refuses_values_that_are_not_32_bytes():
    with pytest.raises(ValueError, match="first value"):
        pair_leaf_hash(b"\0" * 31, b"\0" * 32)
    with pytest.raises(ValueError, match="second value"):
        pair_leaf_hash(b"\0" * 32, b"\0" * 64)


@pytest.mark.parametrize("n", [1, 2, 3, 1024])
def test_results_tree_proofs_verify_and_bind_the_pair(n):
    results = [(os.urandom(32), os.urandom(32)) for _ in range(n)]
    tree = results_tree(results)
    proofs = tree.proofs()
    for (subject, result), proof in zip(results, proofs, strict=True):
        assert merkle.verify(proof, tree.root, result_leaf(subject, result))
    subject, result = results[-1]
    assert not merkle.verify(proofs[-1], tree.root, result_leaf(subject, os.urandom(32)))
    assert not merkle.verify(proofs[-1], tree.root, result_leaf(result, subject))  # swapped


# ------------------------------------------------------------------ values


def test_values_may_be_hex_and_are_stored_as_bytes():
    a = Attestation("0x" + "01" * 32, 2, "0x" + "02" * 32, "0x" + "00" * 32, 5, 6)
    assert (a.subject, a.kind, a.result_hash) == (b"\x01" * 32, Kind.XRAY, b"\x02" * 32)
    assert a.as_args() == (b"\x01" * 32, 2, b"\x02" * 32, b"\0" * 32, 5, 6)


@pytest.mark.parametrize(
    ("overrides", "what"),
    [
        ({"subject": b"\0" * 31}, "subject"),
        ({"result_hash": "0x1234"}, "result_hash"),
        ({"model_version": "not hex"}, "model_version"),
        ({"subject": 5}, "subject"),
        ({"kind": 0}, "kind"),
        ({"kind": 5}, "kind"),
        ({"issued_at": -1}, "issued_at"),
        ({"issued_at": 2**64}, "issued_at"),
        ({"issued_at": 1.5}, "issued_at"),
        ({"nonce": 2**64}, "nonce"),
        ({"nonce": True}, "nonce"),
    ],
)
def test_attestation_refuses_out_of_range_values(overrides, what):
    with pytest.raises(ValueError, match=what):
        att(**overrides)


def test_batch_refuses_out_of_range_count():
    with pytest.raises(ValueError, match="count"):
        BatchAttestation(b"\0" * 32, TARIFF, 2**32, b"\0" * 32, 1, 1)


def test_domain_refuses_bad_values():
    with pytest.raises(ValueError, match="chain id"):
        domain(0, HUB)
    with pytest.raises(ValueError):
        domain(1, "0x1234")
    assert domain(1, HUB.lower()).verifying_contract == HUB  # checksummed


def test_model_version_is_padded_ascii():
    raw = model_version("tariff-gbt-2025.1")
    assert raw == b"tariff-gbt-2025.1".ljust(32, b"\0")
    assert model_version_str(raw) == "tariff-gbt-2025.1"
    assert model_version_str(b"\xff" * 32) == "0x" + "ff" * 32
    for bad in ("", "x" * 33, "modèle"):
        with pytest.raises(ValueError, match="model version"):
            model_version(bad)


def test_create_fills_in_now_and_a_random_nonce():
    before = int(time.time())
    a = Attestation.create(b"\1" * 32, TARIFF, b"\2" * 32, model_version("m"))
    b = Attestation.create(b"\1" * 32, TARIFF, b"\2" * 32, model_version("m"))
    assert before <= a.issued_at <= int(time.time())
    assert a.nonce != b.nonce
    batch = BatchAttestation.create(b"\1" * 32, AUDIT, 3, model_version("m"), issued_at=9, nonce=1)
    assert (batch.issued_at, batch.nonce) == (9, 1)


def test_to_json_is_readable():
    assert att().to_json() == {
        "subject": "0x" + "01" * 32,
        "kind": "TARIFF",
        "result_hash": "0x" + "02" * 32,
        "model_version": "tariff-1",
        "issued_at": 1_700_000_000,
        "nonce": 7,
    }
    batch = BatchAttestation(b"\3" * 32, CLEARANCE, 4, model_version("rules-3"), 1, 2)
    assert batch.to_json() == {
        "root": "0x" + "03" * 32,
        "kind": "CLEARANCE",
        "count": 4,
        "model_version": "rules-3",
        "issued_at": 1,
        "nonce": 2,
    }
