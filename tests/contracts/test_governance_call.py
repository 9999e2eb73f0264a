"""ConsortiumRegistry Call proposals: the members decide a call the registry then makes.

This is how settings of other contracts that obey only the registry change, for example the
AttestationHub quorum per oracle kind.  An AttestationHub is deployed for this module (quorum
2 for every kind) as the usual target.  Three genesis members (TW, SG, NZ): the proposer's yes
plus one more passes a proposal.
"""

from __future__ import annotations

import pytest
from eth_utils import event_abi_to_log_topic
from web3.logs import DISCARD

from chain.attestations import AttestationHub, Kind, deploy
from offchain.attestation import TARIFF, XRAY

pytestmark = pytest.mark.contract

ZERO_ADDRESS = "0x" + "00" * 20
ZERO_ID = b"\0" * 32
QUORUM = 2

# Init code that deploys a contract whose code is an endless loop (JUMPDEST PUSH1 0 JUMP):
# any call to it burns all the gas it is given.
GAS_SINK_INIT = "0x6004600c60003960046000f3" + "5b600056"


@pytest.fixture(scope="module")
def hub(chain, registry, funded) -> AttestationHub:
    deployed, _ = deploy(
        funded("governance-call-tests/deployer"),
        chain.artifacts["AttestationHub"],
        registry.address,
        {kind: QUORUM for kind in Kind},
        chain.decoder,
    )
    return deployed


@pytest.fixture
def hub_logs(hub):
    def read(receipt, name: str) -> list[dict]:
        found = getattr(hub.contract.events, name)().process_receipt(receipt, errors=DISCARD)
        return [dict(e["args"]) for e in found]

    return read


def event_names(receipt, *contracts) -> list[str]:
    """The names of the given contracts' events in the receipt, in emission order."""
    by_topic = {
        event_abi_to_log_topic(e): e["name"]
        for c in contracts
        for e in c.abi
        if e["type"] == "event"
    }
    return [by_topic[bytes(log["topics"][0])] for log in receipt["logs"]]


def vote(registry, sender, proposal_id: int, support: bool = True):
    return sender.transact(registry.contract.functions.vote(proposal_id, support))


# ------------------------------------------------------------------ proposing


def test_propose_call_emits_created_call_and_proposer_vote(registry, hub, admin, logs, snapshot):
    data = hub.quorum_call(TARIFF, 3)
    receipt = admin("TW").transact(registry.contract.functions.proposeCall(hub.address, data))
    [created] = logs(receipt, "ProposalCreated")
    assert created["kind"] == 4
    assert (created["memberId"], created["role"], created["account"]) == (
        ZERO_ID,
        ZERO_ID,
        hub.address,
    )
    assert (created["name"], created["x25519Key"]) == ("", ZERO_ID)
    assert logs(receipt, "CallProposed") == [
        {"id": created["id"], "target": hub.address, "data": data}
    ]
    assert event_names(receipt, registry.contract) == ["ProposalCreated", "CallProposed", "Voted"]
    proposal = registry.proposal(created["id"])
    assert (proposal.kind, proposal.state, proposal.account) == ("call", "pending", hub.address)
    assert (proposal.yes, proposal.no, proposal.role, proposal.member_id) == (1, 0, None, "")
    assert registry.proposal_call(proposal.id) == (hub.address, data)
    assert hub.quorum(TARIFF) == QUORUM  # nothing called yet


def test_proposal_call_of_other_kinds_is_empty(registry, admin, snapshot):
    p = registry.propose_grant_role(admin("TW"), "AUDITOR", "0x" + "42" * 20, "TW")
    assert registry.proposal_call(p.id) == (ZERO_ADDRESS, b"")


def test_proposal_call_of_unknown_proposal_reverts(registry, reverts):
    with reverts("UnknownProposal", id=99):
        registry.proposal_call(99)


def test_propose_call_needs_an_active_member_admin(
    registry, hub, chain, role_account, outsider, reverts
):
    operator = chain.sender(role_account("TW", "ORACLE_OPERATOR"))
    for sender in (operator, outsider):
        with reverts("NotActiveMemberAdmin", caller=sender.address):
            registry.propose_call(sender, hub.address, hub.quorum_call(TARIFF, 1))


def test_propose_call_refuses_targets_without_code(registry, hub, admin, reverts):
    for target in (ZERO_ADDRESS, admin("SG").address, registry.address):
        with reverts("InvalidCallTarget", target=target):
            registry.propose_call(admin("TW"), target, hub.quorum_call(TARIFF, 1))


# ------------------------------------------------------------------ deciding


def test_passing_call_is_made_by_the_registry(registry, hub, admin, logs, hub_logs, snapshot):
    proposal = hub.propose_quorum(registry, admin("TW"), XRAY, 3)
    receipt = vote(registry, admin("SG"), proposal.id)
    assert event_names(receipt, registry.contract, hub.contract) == [
        "Voted",
        "QuorumSet",
        "ProposalExecuted",
    ]
    assert hub_logs(receipt, "QuorumSet") == [{"kind": XRAY, "previous": QUORUM, "quorum": 3}]
    assert logs(receipt, "ProposalExecuted") == [{"id": proposal.id}]
    assert registry.proposal(proposal.id).state == "executed"
    assert hub.quorum(XRAY) == 3
    assert hub.quorum(TARIFF) == QUORUM


def test_call_rejected_by_vote_is_never_made(registry, hub, admin, logs, snapshot):
    proposal = hub.propose_quorum(registry, admin("TW"), TARIFF, 1)
    vote(registry, admin("SG"), proposal.id, False)
    receipt = vote(registry, admin("NZ"), proposal.id, False)
    assert logs(receipt, "ProposalRejected") == [{"id": proposal.id}]
    assert registry.proposal(proposal.id).state == "rejected"
    assert hub.quorum(TARIFF) == QUORUM


def test_expired_call_is_never_made(registry, hub, chain, admin, advance_time, reverts, snapshot):
    proposal = hub.propose_quorum(registry, admin("TW"), TARIFF, 1)
    advance_time(chain.settings.chain.voting_period_s + 1)
    assert registry.proposal(proposal.id).state == "expired"
    with reverts("ProposalExpired", id=proposal.id):
        registry.vote(admin("SG"), proposal.id, True)
    assert hub.quorum(TARIFF) == QUORUM


def test_sole_member_call_executes_at_once(registry, hub, admin, remove_member, snapshot):
    remove_member("NZ")
    remove_member("SG")
    proposal = hub.propose_quorum(registry, admin("TW"), TARIFF, 1)
    assert proposal.state == "executed"
    assert hub.quorum(TARIFF) == 1


def test_each_passed_call_is_made_once(registry, hub, admin, reverts, snapshot):
    first = hub.propose_quorum(registry, admin("TW"), TARIFF, 3)
    second = hub.propose_quorum(registry, admin("SG"), TARIFF, 4)
    registry.vote(admin("NZ"), second.id, True)
    assert hub.quorum(TARIFF) == 4
    registry.vote(admin("SG"), first.id, True)
    assert hub.quorum(TARIFF) == 3  # the later decision wins
    with reverts("ProposalNotPending", id=first.id):
        registry.vote(admin("NZ"), first.id, True)


# ------------------------------------------------------------------ calls that fail


def assert_invalidated(registry, hub, logs, receipt, proposal_id: int) -> tuple[str, dict]:
    """The deciding vote went through, the proposal was rejected; returns the decoded reason."""
    [invalidated] = logs(receipt, "ProposalInvalidated")
    assert invalidated["id"] == proposal_id
    assert logs(receipt, "ProposalRejected") == [{"id": proposal_id}]
    assert logs(receipt, "ProposalExecuted") == []
    assert event_names(receipt, registry.contract, hub.contract) == [
        "Voted",
        "ProposalInvalidated",
        "ProposalRejected",
    ]
    assert registry.proposal(proposal_id).state == "rejected"
    return registry.decoder.decode(invalidated["reason"])


def test_call_that_reverts_rejects_with_the_targets_error(registry, hub, admin, logs, snapshot):
    proposal = hub.propose_quorum(registry, admin("TW"), TARIFF, 0)  # setQuorum refuses zero
    receipt = vote(registry, admin("SG"), proposal.id)
    reason = assert_invalidated(registry, hub, logs, receipt, proposal.id)
    assert reason == ("InvalidQuorum", {"kind": TARIFF, "quorum": 0})
    assert hub.quorum(TARIFF) == QUORUM


def test_call_of_unknown_function_rejects_with_empty_reason(registry, hub, admin, logs, snapshot):
    proposal = registry.propose_call(admin("TW"), hub.address, bytes.fromhex("deadbeef"))
    receipt = vote(registry, admin("NZ"), proposal.id)
    reason = assert_invalidated(registry, hub, logs, receipt, proposal.id)
    assert reason == ("EmptyRevert", {})


def test_call_that_burns_all_gas_reverts_the_vote_and_stays_open(
    registry, chain, admin, funded, reverts, snapshot
):
    sink = funded("governance-call-tests/sink-deployer").transact(
        chain.w3.eth.contract(abi=[], bytecode=GAS_SINK_INIT).constructor()
    )["contractAddress"]
    assert chain.w3.eth.get_code(sink) == bytes.fromhex("5b600056")
    proposal = registry.propose_call(admin("TW"), sink, b"")
    with reverts("InsufficientGasForCall", id=proposal.id):
        registry.vote(admin("SG"), proposal.id, True)
    after = registry.proposal(proposal.id)
    assert (after.state, after.yes) == ("pending", 1)


def test_registry_stays_under_the_contract_size_limit(chain):
    code = bytes.fromhex(chain.artifacts["ConsortiumRegistry"].deployed_bytecode.removeprefix("0x"))
    assert len(code) < 24_576
