"""AttestationHub: the oracle registry, k-of-n EIP-712 results, batches under Merkle roots, gas.

The hub is deployed once for this module against the session's ConsortiumRegistry, with a
quorum of 2 for every kind.  TW, SG and NZ each register one TARIFF oracle with their
ORACLE_OPERATOR account; TW also runs an XRAY oracle and a second TARIFF oracle.  Digests
and signatures come from offchain/attestation.py, so these tests also prove that what the
oracles sign off chain is what the contract checks.
"""

from __future__ import annotations

import json
import os
import random
import time

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3.logs import DISCARD

from chain.attestations import AttestationHub, Kind, deploy
from chain.ids import member_id_bytes
from chain.sender import call
from offchain import merkle
from offchain.attestation import (
    MAX_AGE_S,
    MAX_CLOCK_SKEW_S,
    TARIFF,
    XRAY,
    Attestation,
    BatchAttestation,
    digest,
    domain,
    model_version,
    recover,
    result_leaf,
    results_tree,
    sign,
)

pytestmark = pytest.mark.contract

QUORUM = 2
SINGLE_GAS_LIMIT = 120_000
BATCH_GAS_PER_RESULT_LIMIT = 200
MODEL = model_version("tariff-gbt-2025.1")
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

# Every external function of the contract: a function added to the contract fails
# test_abi_lists_exactly_the_functions_under_test until it gets tests.
FUNCTIONS_UNDER_TEST = frozenset(
    {
        "TARIFF",
        "XRAY",
        "AUDIT",
        "CLEARANCE",
        "MAX_AGE",
        "MAX_CLOCK_SKEW",
        "MAX_SIGNATURES",
        "registry",
        "eip712Domain",
        "registerOracle",
        "deactivateOracle",
        "setQuorum",
        "submit",
        "submitBatch",
        "hashAttestation",
        "hashBatch",
        "latest",
        "batchOf",
        "resultLeaf",
        "verifyResult",
        "isAttested",
        "isBatchAttested",
        "quorum",
        "oracle",
        "oraclesOf",
    }
)


def oracle_key(name: str) -> LocalAccount:
    """A deterministic oracle signing key; oracles sign, they never send transactions."""
    return Account.from_key(keccak(text=f"smartcustoms test oracle {name}"))


@pytest.fixture(scope="module")
def hub(chain, registry, funded) -> AttestationHub:
    deployer = funded("attestation-tests/deployer")
    deployed, _ = deploy(
        deployer,
        chain.artifacts["AttestationHub"],
        registry.address,
        {kind: QUORUM for kind in Kind},
        chain.decoder,
    )
    return deployed


@pytest.fixture(scope="session")
def operator(chain, role_account):
    """`operator("TW")`: the sender of TW's ORACLE_OPERATOR account."""
    return lambda member_id: chain.sender(role_account(member_id, "ORACLE_OPERATOR"))


@pytest.fixture(scope="module")
def oracles(hub, operator) -> dict[str, LocalAccount]:
    """Oracle keys by name: "TW", "SG", "NZ" (TARIFF), "TW-xray" (XRAY), "TW-2" (TARIFF)."""
    plan = [("TW", TARIFF), ("SG", TARIFF), ("NZ", TARIFF), ("TW-xray", XRAY), ("TW-2", TARIFF)]
    keys = {}
    for name, kind in plan:
        keys[name] = oracle_key(name)
        hub.register_oracle(operator(name.split("-")[0]), keys[name].address, kind)
    return keys


@pytest.fixture(scope="module")
def submitter(funded):
    """Anyone may submit signed results; this account is no member's."""
    return funded("attestation-tests/submitter")


@pytest.fixture
def events(hub):
    """`events(receipt, "Attested")`: decoded arguments of each such event in the receipt."""

    def read(receipt, name: str) -> list[dict]:
        found = getattr(hub.contract.events, name)().process_receipt(receipt, errors=DISCARD)
        return [dict(e["args"]) for e in found]

    return read


@pytest.fixture
def now(w3):
    """The chain's clock: the latest block's timestamp."""
    return lambda: w3.eth.get_block("latest")["timestamp"]


@pytest.fixture
def attestation(now):
    """`attestation(**overrides)`: a fresh TARIFF result issued at the chain's time."""

    def make(**overrides) -> Attestation:
        fields = dict(
            subject=os.urandom(32),
            kind=TARIFF,
            result_hash=os.urandom(32),
            model_version=MODEL,
            issued_at=now(),
            nonce=random.getrandbits(64),
        )
        fields.update(overrides)
        return Attestation(**fields)

    return make


@pytest.fixture
def signed(hub, oracles):
    """`signed(item, "TW", "SG")`: the signatures of those oracles over the item's digest."""
    return lambda item, *names: [sign(oracles[n], hub.domain, item) for n in names]


def view(hub: AttestationHub, name: str, *args):
    return call(getattr(hub.contract.functions, name)(*args), hub.decoder)


def submit_raw(hub, sender, args: tuple, signatures: list[bytes]):
    """Submit through the contract function, bypassing the dataclass checks."""
    return sender.transact(hub.contract.functions.submit(args, signatures))


# ------------------------------------------------------------------ ABI, constants, digests


def test_abi_lists_exactly_the_functions_under_test(hub):
    names = {f["name"] for f in hub.contract.abi if f["type"] == "function"}
    assert names == FUNCTIONS_UNDER_TEST


def test_hub_implements_its_interface(hub, chain):
    def selectors(abi):
        return {
            (f["name"], tuple(i["type"] for i in f["inputs"]))
            for f in abi
            if f["type"] == "function"
        }

    interface = selectors(chain.artifacts["IAttestationHub"].abi)
    assert interface <= selectors(hub.contract.abi)
    assert {name for name, _ in interface} >= {"submit", "latest", "verifyResult", "isAttested"}


def test_constants_and_initial_quorums(hub, registry):
    assert [view(hub, k) for k in ("TARIFF", "XRAY", "AUDIT", "CLEARANCE")] == [1, 2, 3, 4]
    assert [int(k) for k in Kind] == [1, 2, 3, 4]
    assert view(hub, "MAX_CLOCK_SKEW") == MAX_CLOCK_SKEW_S == 300
    assert view(hub, "MAX_AGE") == MAX_AGE_S == 3600
    assert view(hub, "MAX_SIGNATURES") == 32
    assert view(hub, "registry") == registry.address
    assert hub.quorums() == {kind: QUORUM for kind in Kind}


def test_eip712_domain_is_the_one_oracles_sign_under(hub, w3):
    fields, name, version, chain_id, contract, salt, extensions = view(hub, "eip712Domain")
    assert (name, version) == ("SmartCustoms AttestationHub", "1")
    assert chain_id == w3.eth.chain_id == hub.domain.chain_id
    assert contract == hub.address == hub.domain.verifying_contract
    assert (fields, salt, extensions) == (b"\x0f", b"\0" * 32, [])


def test_offchain_digest_equals_contract_digest_for_random_attestations(hub):
    rng = random.Random(7)
    for i in range(12):
        att = Attestation(
            subject=rng.randbytes(32),
            kind=Kind(1 + i % 4),
            result_hash=rng.randbytes(32),
            model_version=rng.randbytes(32),
            issued_at=rng.choice([0, 1, 2**64 - 1, rng.getrandbits(64)]),
            nonce=rng.choice([0, 2**64 - 1, rng.getrandbits(64)]),
        )
        assert digest(hub.domain, att) == hub.hash_attestation(att), att


def test_offchain_digest_equals_contract_digest_for_batches(hub):
    rng = random.Random(8)
    for count in (1, 3, 1024, 2**32 - 1):
        batch = BatchAttestation(
            root=rng.randbytes(32),
            kind=Kind(rng.randint(1, 4)),
            count=count,
            model_version=MODEL,
            issued_at=rng.getrandbits(64),
            nonce=rng.getrandbits(64),
        )
        assert digest(hub.domain, batch) == hub.hash_batch(batch), batch


def test_batch_and_single_digests_differ_for_the_same_words(hub):
    """Different type hashes: a single result's signature can never pass as a batch's."""
    att = Attestation(b"\1" * 32, TARIFF, b"\2" * 32, MODEL, 5, 6)
    batch = BatchAttestation(b"\1" * 32, TARIFF, 1, MODEL, 5, 6)
    assert hub.hash_attestation(att) != hub.hash_batch(batch)


def test_result_leaf_equals_contract_leaf(hub):
    for _ in range(5):
        subject, result = os.urandom(32), os.urandom(32)
        assert result_leaf(subject, result) == view(hub, "resultLeaf", subject, result)


# ------------------------------------------------------------------ accepted submissions


def test_two_of_three_is_accepted_with_event_and_latest(
    hub, oracles, submitter, attestation, signed, events, snapshot
):
    att = attestation()
    result = hub.submit(submitter, att, signed(att, "TW", "SG"))
    receipt = hub.contract.w3.eth.get_transaction_receipt(result.tx_hash)
    assert events(receipt, "Attested") == [
        {
            "subject": att.subject,
            "kind": TARIFF,
            "resultHash": att.result_hash,
            "modelVersion": MODEL,
            "issuedAt": att.issued_at,
            "signers": [oracles["TW"].address, oracles["SG"].address],
        }
    ]
    assert result.signers == (oracles["TW"].address, oracles["SG"].address)
    assert result.digest == digest(hub.domain, att)
    assert hub.is_attested(att) is True
    latest = hub.latest(att.subject, TARIFF)
    assert (latest.result_hash, latest.model_version) == (att.result_hash, MODEL)
    assert (latest.issued_at, latest.nonce, latest.signer_count) == (att.issued_at, att.nonce, 2)
    assert latest.attestation == att
    assert hub.latest(att.subject, XRAY) is None  # per kind
    assert hub.is_attested(attestation(subject=att.subject)) is False


def test_single_submit_gas(hub, submitter, attestation, signed, events, snapshot):
    """2-of-3 about a new subject with a model version seen before: the everyday case."""
    first = attestation(model_version=model_version("gas-probe-model"))
    first_use = hub.submit(submitter, first, signed(first, "TW", "SG"))
    receipt = hub.contract.w3.eth.get_transaction_receipt(first_use.tx_hash)
    assert len(events(receipt, "ModelVersionRecorded")) == 1
    gas = {}
    for n, names in ((2, ("TW", "SG")), (3, ("TW", "SG", "NZ"))):
        att = attestation(model_version=first.model_version)
        gas[n] = hub.submit(submitter, att, signed(att, *names)).gas_used
    again = attestation(subject=first.subject, model_version=first.model_version)
    replacing = hub.submit(submitter, again, signed(again, "SG", "NZ")).gas_used
    print(
        f"\nsingle submit gas: 2-of-3 {gas[2]}, 3-of-3 {gas[3]}, 2-of-3 with a new model "
        f"version {first_use.gas_used}, 2-of-3 replacing a latest result {replacing}"
    )
    assert gas[2] <= SINGLE_GAS_LIMIT
    assert gas[3] <= SINGLE_GAS_LIMIT + 15_000
    assert first_use.gas_used <= SINGLE_GAS_LIMIT + 25_000


def test_two_oracles_of_one_member_are_two_signers(
    hub, oracles, submitter, attestation, signed, snapshot
):
    """Quorum counts distinct oracles (keys), as specified; each member may run several."""
    att = attestation()
    result = hub.submit(submitter, att, signed(att, "TW", "TW-2"))
    assert result.signers == (oracles["TW"].address, oracles["TW-2"].address)


def test_a_newer_result_replaces_latest_and_an_older_one_is_refused(
    hub, submitter, attestation, signed, reverts, snapshot, now
):
    t = now()
    first = attestation(issued_at=t - 10)
    hub.submit(submitter, first, signed(first, "TW", "SG"))
    second = attestation(subject=first.subject, issued_at=t - 5)
    hub.submit(submitter, second, signed(second, "SG", "NZ"))
    assert hub.latest(first.subject, TARIFF).attestation == second
    assert hub.is_attested(first) is True  # superseded, still attested
    assert hub.is_attested(second) is True
    older = attestation(subject=first.subject, issued_at=t - 8)
    with reverts(
        "OlderThanLatest", subject=first.subject, kind=TARIFF, issuedAt=t - 8, latestIssuedAt=t - 5
    ):
        hub.submit(submitter, older, signed(older, "TW", "NZ"))
    assert hub.is_attested(older) is False


def test_a_result_of_the_same_second_replaces_latest(
    hub, submitter, attestation, signed, reverts, snapshot
):
    first = attestation()
    hub.submit(submitter, first, signed(first, "TW", "SG"))
    correction = attestation(subject=first.subject, issued_at=first.issued_at)
    hub.submit(submitter, correction, signed(correction, "TW", "SG"))
    assert hub.latest(first.subject, TARIFF).attestation == correction
    with reverts("AlreadyAttested", digest=digest(hub.domain, first)):  # no flip-flopping back
        hub.submit(submitter, first, signed(first, "TW", "SG"))


def test_a_model_version_is_recorded_once(hub, submitter, attestation, signed, events, snapshot):
    version = model_version("xray-resnet-7")
    ids = []
    for _ in range(2):
        att = attestation(model_version=version)
        result = hub.submit(submitter, att, signed(att, "TW", "SG"))
        ids += events(
            hub.contract.w3.eth.get_transaction_receipt(result.tx_hash), "ModelVersionRecorded"
        )
        assert hub.latest(att.subject, TARIFF).model_version == version
    expected_id = int.from_bytes(keccak(version)[-8:], "big")
    assert ids == [{"id": expected_id, "modelVersion": version}]


def test_anyone_may_submit_signed_results(hub, admin, attestation, signed, snapshot):
    att = attestation()
    assert hub.submit(admin("NZ"), att, signed(att, "TW", "NZ")).signers


# ------------------------------------------------------------------ quorum and duplicates


def test_below_quorum_reverts(hub, submitter, attestation, signed, reverts):
    att = attestation()
    with reverts("BelowQuorum", kind=TARIFF, got=1, need=QUORUM):
        hub.submit(submitter, att, signed(att, "TW"))


def test_no_signatures_reverts_below_quorum(hub, submitter, attestation, reverts):
    with reverts("BelowQuorum", kind=TARIFF, got=0, need=QUORUM):
        hub.submit(submitter, attestation(), [])


def test_duplicate_signer_counts_once(hub, submitter, attestation, signed, reverts):
    att = attestation()
    sigs = signed(att, "TW")
    with reverts("BelowQuorum", kind=TARIFF, got=1, need=QUORUM):
        hub.submit(submitter, att, sigs + sigs)


def test_duplicate_signer_is_ignored_when_quorum_is_met_otherwise(
    hub, oracles, submitter, attestation, signed, snapshot
):
    att = attestation()
    tw, sg = signed(att, "TW", "SG")
    result = hub.submit(submitter, att, [tw, tw, sg, tw])
    assert result.signers == (oracles["TW"].address, oracles["SG"].address)
    assert hub.latest(att.subject, TARIFF).signer_count == 2


def test_too_many_signatures_reverts(hub, submitter, attestation, signed, reverts):
    att = attestation()
    with reverts("TooManySignatures", count=33):
        hub.submit(submitter, att, signed(att, "TW") * 33)


# ------------------------------------------------------------------ bad signatures


def test_signature_over_another_subject_recovers_an_unknown_signer(
    hub, oracles, submitter, attestation, signed, reverts
):
    att = attestation()
    other = attestation(subject=os.urandom(32))
    [stolen] = signed(other, "NZ")
    stranger = recover(hub.domain, att, stolen)  # what the contract will recover
    assert stranger not in {k.address for k in oracles.values()}
    with reverts("UnknownOracle", signer=stranger):
        hub.submit(submitter, att, [*signed(att, "TW"), stolen])


def test_signature_for_another_contract_recovers_an_unknown_signer(
    hub, oracles, submitter, attestation, reverts
):
    att = attestation()
    elsewhere = domain(hub.domain.chain_id, "0x" + "11" * 20)
    sigs = [sign(oracles[n], elsewhere, att) for n in ("TW", "SG")]
    with reverts("UnknownOracle", signer=recover(hub.domain, att, sigs[0])):
        hub.submit(submitter, att, sigs)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda sig: os.urandom(64) + b"\x00", id="random-v0"),
        pytest.param(lambda sig: os.urandom(64) + b"\x1d", id="random-v29"),
        pytest.param(lambda sig: sig[:64], id="64-bytes"),
        pytest.param(lambda sig: sig + b"\x00", id="66-bytes"),
        pytest.param(lambda sig: b"", id="empty"),
        pytest.param(
            lambda sig: (
                sig[:32]
                + (SECP256K1_N - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big")
                + bytes([55 - sig[64]])
            ),
            id="malleated-high-s",
        ),
        pytest.param(lambda sig: b"\0" * 64 + sig[64:], id="zero-r-s"),
    ],
)
def test_forged_signature_reverts_invalid_signature(
    hub, submitter, attestation, signed, reverts, forge
):
    att = attestation()
    tw, sg = signed(att, "TW", "SG")
    with reverts("InvalidSignature", index=1):
        hub.submit(submitter, att, [tw, forge(sg), sg])


def test_replayed_attestation_reverts(hub, submitter, attestation, signed, reverts, snapshot):
    att = attestation()
    sigs = signed(att, "TW", "SG")
    hub.submit(submitter, att, sigs)
    with reverts("AlreadyAttested", digest=digest(hub.domain, att)):
        hub.submit(submitter, att, sigs)
    with reverts("AlreadyAttested", digest=digest(hub.domain, att)):
        hub.submit(submitter, att, signed(att, "NZ", "TW-2"))  # other signers, same digest


def test_replayed_superseded_attestation_reverts(
    hub, submitter, attestation, signed, reverts, snapshot, now
):
    old = attestation(issued_at=now() - 20)
    old_sigs = signed(old, "TW", "SG")
    hub.submit(submitter, old, old_sigs)
    new = attestation(subject=old.subject)
    hub.submit(submitter, new, signed(new, "TW", "SG"))
    with reverts("AlreadyAttested", digest=digest(hub.domain, old)):
        hub.submit(submitter, old, old_sigs)
    assert hub.latest(old.subject, TARIFF).attestation == new


# ------------------------------------------------------------------ which oracles count


def test_unregistered_oracle_reverts(hub, submitter, attestation, signed, reverts):
    att = attestation()
    outsider = oracle_key("never registered")
    with reverts("UnknownOracle", signer=outsider.address):
        hub.submit(submitter, att, [*signed(att, "TW", "SG"), sign(outsider, hub.domain, att)])


def test_inactive_oracle_reverts(
    hub, oracles, operator, submitter, attestation, signed, reverts, snapshot
):
    hub.deactivate_oracle(operator("NZ"), oracles["NZ"].address)
    att = attestation()
    with reverts("InactiveOracle", signer=oracles["NZ"].address):
        hub.submit(submitter, att, signed(att, "TW", "SG", "NZ"))
    assert hub.submit(submitter, att, signed(att, "TW", "SG")).signers


def test_wrong_kind_oracle_reverts(hub, oracles, submitter, attestation, signed, reverts):
    att = attestation()  # TARIFF
    with reverts("WrongKind", signer=oracles["TW-xray"].address, oracleKind=XRAY, kind=TARIFF):
        hub.submit(submitter, att, signed(att, "SG", "TW-xray"))


def test_oracle_of_a_removed_member_reverts(
    hub, oracles, submitter, attestation, signed, remove_member, reverts, snapshot
):
    remove_member("NZ")
    att = attestation()
    with reverts(
        "OracleMemberInactive", signer=oracles["NZ"].address, member=member_id_bytes("NZ")
    ):
        hub.submit(submitter, att, signed(att, "TW", "NZ"))
    assert hub.oracle(oracles["NZ"].address).active is True  # the hub's flag; the member decides
    assert hub.submit(submitter, att, signed(att, "TW", "SG")).signers  # the others still can


# ------------------------------------------------------------------ time window and inputs


def test_issued_in_the_future_beyond_skew_reverts(
    hub, submitter, attestation, signed, reverts, now
):
    att = attestation(issued_at=now() + MAX_CLOCK_SKEW_S + 60)
    with reverts("IssuedInFuture", issuedAt=att.issued_at):
        hub.submit(submitter, att, signed(att, "TW", "SG"))


def test_issued_slightly_ahead_within_skew_is_accepted(
    hub, submitter, attestation, signed, now, snapshot
):
    att = attestation(issued_at=now() + 60)
    assert hub.submit(submitter, att, signed(att, "TW", "SG")).signers


def test_older_than_max_age_reverts(hub, submitter, attestation, signed, reverts, now):
    att = attestation(issued_at=now() - MAX_AGE_S - 60)
    with reverts("AttestationTooOld", issuedAt=att.issued_at):
        hub.submit(submitter, att, signed(att, "TW", "SG"))


def test_unknown_kind_reverts(hub, submitter, attestation, reverts):
    att = attestation()
    for kind in (0, 5):
        args = (att.subject, kind, att.result_hash, MODEL, att.issued_at, att.nonce)
        with reverts("UnknownKind", kind=kind):
            submit_raw(hub, submitter, args, [])


def test_zero_subject_reverts(hub, submitter, attestation, signed, reverts):
    att = attestation(subject=b"\0" * 32)
    with reverts("ZeroSubject"):
        hub.submit(submitter, att, signed(att, "TW", "SG"))


# ------------------------------------------------------------------ the oracle registry


def test_register_oracle_records_and_emits(hub, operator, events, now, snapshot):
    signer = oracle_key("new audit oracle").address
    receipt = hub.register_oracle(operator("SG"), signer, Kind.AUDIT)
    assert events(receipt, "OracleRegistered") == [
        {
            "signer": signer,
            "kind": Kind.AUDIT,
            "member": member_id_bytes("SG"),
            "operator": operator("SG").address,
        }
    ]
    info = hub.oracle(signer)
    assert (info.kind, info.member, info.active) == (Kind.AUDIT, "SG", True)
    assert info.registered_at == now()
    assert [o.signer for o in hub.oracles(Kind.AUDIT)] == [signer]


def test_oracles_of_kind_in_registration_order(hub, oracles):
    assert [o.signer for o in hub.oracles(TARIFF)] == [
        oracles[n].address for n in ("TW", "SG", "NZ", "TW-2")
    ]
    assert [(o.signer, o.member) for o in hub.oracles(XRAY)] == [(oracles["TW-xray"].address, "TW")]
    assert hub.oracle(oracle_key("nobody").address) is None


def test_register_needs_oracle_operator_role(hub, chain, role_account, admin, reverts):
    signer = oracle_key("x").address
    for sender in (chain.sender(role_account("TW", "ISSUER")), admin("TW")):
        with reverts("NotOracleOperator", account=sender.address):
            hub.register_oracle(sender, signer, TARIFF)


def test_register_by_operator_of_removed_member_reverts(
    hub, operator, remove_member, reverts, snapshot
):
    remove_member("SG")
    with reverts("NotOracleOperator", account=operator("SG").address):
        hub.register_oracle(operator("SG"), oracle_key("y").address, TARIFF)


def test_register_refuses_bad_input(hub, oracles, operator, reverts):
    with reverts("ZeroSigner"):
        hub.register_oracle(operator("TW"), "0x" + "00" * 20, TARIFF)
    for kind in (0, 5):
        with reverts("UnknownKind", kind=kind):
            hub.register_oracle(operator("TW"), oracle_key("z").address, kind)
    with reverts("OracleExists", signer=oracles["SG"].address):
        hub.register_oracle(operator("SG"), oracles["SG"].address, TARIFF)
    with reverts("OracleExists", signer=oracles["SG"].address):  # not for another member either
        hub.register_oracle(operator("TW"), oracles["SG"].address, XRAY)


def test_deactivate_by_own_operator_emits(hub, oracles, operator, events, reverts, snapshot):
    signer = oracles["SG"].address
    receipt = hub.deactivate_oracle(operator("SG"), signer)
    assert events(receipt, "OracleDeactivated") == [
        {
            "signer": signer,
            "kind": TARIFF,
            "member": member_id_bytes("SG"),
            "by": operator("SG").address,
        }
    ]
    assert hub.oracle(signer).active is False
    assert signer in [o.signer for o in hub.oracles(TARIFF)]
    assert signer not in [o.signer for o in hub.oracles(TARIFF, active_only=True)]
    with reverts("InactiveOracle", signer=signer):
        hub.deactivate_oracle(operator("SG"), signer)
    with reverts("OracleExists", signer=signer):  # a retired key stays retired
        hub.register_oracle(operator("SG"), signer, TARIFF)


def test_deactivate_by_another_member_reverts(hub, oracles, operator, admin, reverts):
    for sender in (operator("TW"), admin("SG")):
        with reverts("NotOracleMember", account=sender.address, member=member_id_bytes("SG")):
            hub.deactivate_oracle(sender, oracles["SG"].address)


def test_deactivate_unknown_oracle_reverts(hub, operator, reverts):
    with reverts("UnknownOracle", signer=oracle_key("ghost").address):
        hub.deactivate_oracle(operator("TW"), oracle_key("ghost").address)


def test_deactivate_through_governance(hub, oracles, registry, admin, events, snapshot):
    signer = oracles["NZ"].address
    proposal = registry.propose_call(admin("TW"), hub.address, hub.deactivate_call(signer))
    receipt = admin("SG").transact(registry.contract.functions.vote(proposal.id, True))
    assert events(receipt, "OracleDeactivated") == [
        {"signer": signer, "kind": TARIFF, "member": member_id_bytes("NZ"), "by": registry.address}
    ]
    assert registry.proposal(proposal.id).state == "executed"
    assert hub.oracle(signer).active is False


# ------------------------------------------------------------------ quorum through governance


def test_set_quorum_directly_reverts_only_governance(hub, admin, operator, submitter, reverts):
    for sender in (admin("TW"), operator("TW"), submitter):
        with reverts("OnlyGovernance", caller=sender.address):
            sender.transact(hub.contract.functions.setQuorum(TARIFF, 1))


def test_quorum_change_through_governance_call(
    hub, registry, admin, submitter, attestation, signed, events, reverts, snapshot
):
    proposal = hub.propose_quorum(registry, admin("TW"), TARIFF, 3)
    assert (proposal.kind, proposal.state, proposal.account) == ("call", "pending", hub.address)
    assert hub.quorum(TARIFF) == QUORUM  # one yes of three: not yet
    receipt = admin("NZ").transact(registry.contract.functions.vote(proposal.id, True))
    assert events(receipt, "QuorumSet") == [{"kind": TARIFF, "previous": QUORUM, "quorum": 3}]
    assert hub.quorum(TARIFF) == 3
    assert hub.quorum(XRAY) == QUORUM
    att = attestation()
    with reverts("BelowQuorum", kind=TARIFF, got=2, need=3):
        hub.submit(submitter, att, signed(att, "TW", "SG"))
    assert len(hub.submit(submitter, att, signed(att, "TW", "SG", "NZ")).signers) == 3


def test_quorum_of_one_through_governance(
    hub, registry, admin, submitter, attestation, signed, snapshot
):
    proposal = hub.propose_quorum(registry, admin("SG"), TARIFF, 1)
    registry.vote(admin("TW"), proposal.id, True)
    att = attestation()
    assert hub.submit(submitter, att, signed(att, "NZ")).signers


# ------------------------------------------------------------------ batches


@pytest.fixture
def batch_of(now):
    """`batch_of(n)`: n random (subject, result) pairs, their tree and a BatchAttestation."""

    def make(n: int, **overrides):
        results = [(os.urandom(32), os.urandom(32)) for _ in range(n)]
        tree = results_tree(results)
        fields = dict(
            root=tree.root,
            kind=TARIFF,
            count=n,
            model_version=MODEL,
            issued_at=now(),
            nonce=random.getrandbits(64),
        )
        fields.update(overrides)
        return results, tree, BatchAttestation(**fields)

    return make


@pytest.mark.parametrize("n", [1, 3, 1024])
def test_batch_results_verify_with_their_proofs(
    hub, oracles, submitter, batch_of, signed, events, snapshot, n
):
    results, tree, batch = batch_of(n)
    attested = hub.submit_batch(submitter, batch, signed(batch, "TW", "SG"))
    receipt = hub.contract.w3.eth.get_transaction_receipt(attested.tx_hash)
    [event] = events(receipt, "BatchAttested")
    assert event == {
        "root": tree.root,
        "kind": TARIFF,
        "count": n,
        "modelVersion": MODEL,
        "issuedAt": batch.issued_at,
        "signers": [oracles["TW"].address, oracles["SG"].address],
    }
    record = hub.batch(tree.root)
    assert (record.kind, record.count, record.model_version) == (TARIFF, n, MODEL)
    assert (record.issued_at, record.nonce, record.signer_count) == (
        batch.issued_at,
        batch.nonce,
        2,
    )
    assert hub.is_batch_attested(batch) is True
    assert attested.digest == digest(hub.domain, batch)
    proofs = tree.proofs()
    for i, (subject, result) in enumerate(results):  # every leaf, locally
        assert merkle.verify(proofs[i], tree.root, result_leaf(subject, result))
    for i in sorted({0, n - 1, *random.sample(range(n), min(n, 16))}):  # a sample, on chain
        subject, result = results[i]
        assert hub.verify_result(tree.root, subject, result, proofs[i]) is True
    subject, result = results[-1]
    assert hub.verify_result(tree.root, subject, os.urandom(32), proofs[-1]) is False
    assert hub.verify_result(tree.root, os.urandom(32), result, proofs[-1]) is False
    if proofs[-1]:
        tampered = [bytes([proofs[-1][0][0] ^ 1]) + proofs[-1][0][1:], *proofs[-1][1:]]
        assert hub.verify_result(tree.root, subject, result, tampered) is False
    assert hub.verify_result(os.urandom(32), subject, result, proofs[-1]) is False  # unknown root


def test_batch_gas_per_result_and_throughput(hub, submitter, batch_of, signed, snapshot):
    """1,024 results per root; several roots end to end (tree, signatures, tx) from Python."""
    batches, n = 4, 1024
    start = time.perf_counter()
    signed_batches = []
    for _ in range(batches):
        _, _, batch = batch_of(n)
        signed_batches.append((batch, signed(batch, "TW", "SG")))
    results = hub.submit_batches(submitter, signed_batches)
    elapsed = time.perf_counter() - start
    gas_per_result = max(r.gas_used for r in results) / n
    rate = batches * n / elapsed
    print(
        f"\nbatch of {n}: {results[0].gas_used} gas, {gas_per_result:.1f} gas per result; "
        f"{rate:,.0f} attested results/s end to end"
    )
    assert gas_per_result <= BATCH_GAS_PER_RESULT_LIMIT  # throughput: scripts/bench/clearance.py


def test_batch_below_quorum_and_bad_signer_revert(
    hub, oracles, submitter, batch_of, signed, reverts
):
    _, _, batch = batch_of(3)
    with reverts("BelowQuorum", kind=TARIFF, got=1, need=QUORUM):
        hub.submit_batch(submitter, batch, signed(batch, "TW"))
    with reverts("WrongKind", signer=oracles["TW-xray"].address, oracleKind=XRAY, kind=TARIFF):
        hub.submit_batch(submitter, batch, signed(batch, "TW", "TW-xray"))


def test_batch_replay_and_reused_root_revert(hub, submitter, batch_of, signed, reverts, snapshot):
    _, tree, batch = batch_of(3)
    sigs = signed(batch, "TW", "SG")
    hub.submit_batch(submitter, batch, sigs)
    with reverts("AlreadyAttested", digest=digest(hub.domain, batch)):
        hub.submit_batch(submitter, batch, sigs)
    again = BatchAttestation(batch.root, TARIFF, 3, MODEL, batch.issued_at, batch.nonce + 1)
    with reverts("BatchExists", root=tree.root):
        hub.submit_batch(submitter, again, signed(again, "SG", "NZ"))
    assert hub.is_batch_attested(batch) is True
    assert hub.is_batch_attested(again) is False


def test_batch_refuses_zero_root_and_empty_batch(hub, submitter, batch_of, signed, reverts):
    _, _, zero_root = batch_of(1, root=b"\0" * 32)
    with reverts("ZeroRoot"):
        hub.submit_batch(submitter, zero_root, signed(zero_root, "TW", "SG"))
    _, _, empty = batch_of(1, count=0)
    with reverts("EmptyBatch"):
        hub.submit_batch(submitter, empty, signed(empty, "TW", "SG"))


def test_batch_time_window(hub, submitter, batch_of, signed, reverts, now):
    _, _, old = batch_of(2, issued_at=now() - MAX_AGE_S - 1)
    with reverts("AttestationTooOld", issuedAt=old.issued_at):
        hub.submit_batch(submitter, old, signed(old, "TW", "SG"))


def test_unknown_batch(hub, reverts):
    root = os.urandom(32)
    assert hub.batch(root) is None
    with reverts("UnknownBatch", root=root):
        view(hub, "batchOf", root)


def test_batch_does_not_touch_latest(hub, submitter, batch_of, signed, snapshot):
    results, _, batch = batch_of(1)
    hub.submit_batch(submitter, batch, signed(batch, "TW", "SG"))
    assert hub.latest(results[0][0], TARIFF) is None


# ------------------------------------------------------------------ the constructor


@pytest.fixture
def deploy_hub(chain, registry, funded, snapshot):
    deployer = funded("attestation-tests/deployer-2")
    artifact = chain.artifacts["AttestationHub"]

    def run(kinds: list[int], quorums: list[int], registry_address: str | None = None):
        factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        return deployer.transact(
            factory.constructor(registry_address or registry.address, kinds, quorums)
        )

    return run


def test_constructor_emits_quorum_set_per_kind(deploy_hub, hub, events):
    receipt = deploy_hub([1, 2, 3, 4], [2, 3, 1, 2])
    assert events(receipt, "QuorumSet") == [
        {"kind": k, "previous": 0, "quorum": q} for k, q in ((1, 2), (2, 3), (3, 1), (4, 2))
    ]


@pytest.mark.parametrize(
    ("kinds", "quorums", "error", "args"),
    [
        ([1, 2, 3], [2, 2, 2], "InvalidQuorum", {"kind": 4, "quorum": 0}),
        ([1, 2, 3, 4], [2, 2, 0, 2], "InvalidQuorum", {"kind": 3, "quorum": 0}),
        ([1, 2, 3, 4], [2, 2, 33, 2], "InvalidQuorum", {"kind": 3, "quorum": 33}),
        ([1, 2, 3, 4, 5], [2, 2, 2, 2, 2], "UnknownKind", {"kind": 5}),
        ([1, 2, 3, 4], [2, 2, 2], "LengthMismatch", {"kinds": 4, "quorums": 3}),
    ],
)
def test_constructor_rejects_bad_quorums(deploy_hub, reverts, kinds, quorums, error, args):
    with reverts(error, **args):
        deploy_hub(kinds, quorums)


def test_constructor_rejects_zero_registry(deploy_hub, reverts):
    with reverts("ZeroRegistry"):
        deploy_hub([1, 2, 3, 4], [2, 2, 2, 2], "0x" + "00" * 20)


def test_deployed_size_is_under_the_limit(chain):
    for name in ("AttestationHub", "ConsortiumRegistry"):
        size = len(bytes.fromhex(chain.artifacts[name].deployed_bytecode.removeprefix("0x")))
        assert size < 24_576, (name, size)


def test_views_refuse_unknown_kinds(hub, reverts):
    for name in ("quorum", "oraclesOf"):
        with reverts("UnknownKind", kind=9):
            view(hub, name, 9)


def test_submit_batches_refuses_a_root_twice_before_sending(hub, submitter, batch_of, signed):
    _, _, batch = batch_of(2)
    with pytest.raises(ValueError, match="more than once"):
        hub.submit_batches(submitter, [(batch, signed(batch, "TW", "SG"))] * 2)
    assert hub.batch(batch.root) is None


def test_facade_records_are_json(hub, oracles, submitter, attestation, batch_of, signed, snapshot):
    att = attestation()
    attested = hub.submit(submitter, att, signed(att, "TW", "SG"))
    _, _, batch = batch_of(2)
    hub.submit_batch(submitter, batch, signed(batch, "TW", "SG"))
    records = [
        attested.to_json(),
        hub.latest(att.subject, TARIFF).to_json(),
        hub.batch(batch.root).to_json(),
        hub.oracle(oracles["TW"].address).to_json(),
    ]
    parsed = json.loads(json.dumps(records))
    assert parsed[0]["digest"] == "0x" + digest(hub.domain, att).hex()
    assert parsed[1]["model_version"] == "tariff-gbt-2025.1"
    assert (parsed[1]["kind"], parsed[1]["nonce"]) == ("TARIFF", att.nonce)
    assert (parsed[2]["root"], parsed[2]["count"]) == ("0x" + batch.root.hex(), 2)
    assert (parsed[3]["kind"], parsed[3]["member"]) == ("TARIFF", "TW")
