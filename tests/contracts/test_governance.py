"""ConsortiumRegistry governance: proposals, strict-majority votes, expiry, membership changes.

Three genesis members (TW, SG, NZ): two yes votes pass a proposal, and the proposer's yes
is cast with the proposal. Tests that need four members take `jp_admin`, which admits JP.
"""

from __future__ import annotations

import pytest
from eth_utils import event_abi_to_log_topic, keccak
from web3 import Web3

from chain.ids import member_id_bytes, role_id
from chain.registry import ConsortiumRegistry
from chain.sender import call
from offchain.settings import ROLE_NAMES

pytestmark = pytest.mark.contract

ZERO_ID = b"\0" * 32
ZERO_ADDRESS = "0x" + "00" * 20
EXECUTED, REJECTED = 1, 2  # ProposalState values in revert arguments
JP_KEY = b"\x09" * 32


def fresh_account(n: int) -> str:
    """An address no member knows (a role grant does not need the account's key)."""
    return Web3.to_checksum_address("0x" + f"{n:02x}" * 20)


def block_time(w3: Web3, receipt) -> int:
    return w3.eth.get_block(receipt["blockNumber"])["timestamp"]


def vote(registry: ConsortiumRegistry, sender, proposal_id: int, support: bool = True):
    """Vote through the contract function, returning the receipt (the facade returns state)."""
    return sender.transact(registry.contract.functions.vote(proposal_id, support))


def propose_grant(registry, sender, role: str, account: str, member: str) -> int:
    return registry.propose_grant_role(sender, role, account, member).id


def event_names(registry: ConsortiumRegistry, receipt) -> list[str]:
    """The names of the registry's events in the receipt, in the order they were emitted."""
    abis = [e for e in registry.contract.abi if e["type"] == "event"]
    by_topic = {event_abi_to_log_topic(e): e["name"] for e in abis}
    return [by_topic[bytes(log["topics"][0])] for log in receipt["logs"]]


# ------------------------------------------------------------------ proposing


def test_propose_add_member_emits_created_and_proposer_yes(
    registry, admin, funded, w3, snapshot, logs
):
    jp = funded("JP/admin").address
    receipt = admin("TW").transact(
        registry.contract.functions.proposeAddMember(
            member_id_bytes("JP"), "Japan Customs", jp, JP_KEY
        )
    )
    now = block_time(w3, receipt)
    period = registry.contract.functions.votingPeriod().call()
    assert logs(receipt, "ProposalCreated") == [
        {
            "id": 1,
            "kind": 0,
            "proposerMember": member_id_bytes("TW"),
            "expiresAt": now + period,
            "memberId": member_id_bytes("JP"),
            "role": ZERO_ID,
            "account": jp,
            "name": "Japan Customs",
            "x25519Key": JP_KEY,
        }
    ]
    assert logs(receipt, "Voted") == [
        {"id": 1, "memberId": member_id_bytes("TW"), "support": True, "yes": 1, "no": 0}
    ]
    assert logs(receipt, "MemberAdded") == []


def test_new_proposal_reads_pending_with_proposer_vote(registry, admin, funded, snapshot):
    jp = funded("JP/admin").address
    p = registry.propose_add_member(admin("TW"), "JP", "Japan Customs", jp, JP_KEY)
    assert (p.id, p.kind, p.state) == (1, "add_member", "pending")
    assert (p.proposer_member, p.proposer) == ("TW", admin("TW").address)
    assert p.expires_at - p.created_at == registry.contract.functions.votingPeriod().call()
    assert (p.member_id, p.account, p.name, p.x25519_key) == (
        "JP",
        jp,
        "Japan Customs",
        "0x" + JP_KEY.hex(),
    )
    assert (p.yes, p.no) == (1, 0)
    assert registry.proposal_count() == 1
    assert registry.has_voted(p.id, "TW") is True
    assert registry.has_voted(p.id, "SG") is False
    assert registry.is_active_member("JP") is False
    assert registry.contract.functions.proposalState(p.id).call() == 0


def test_propose_revoke_role_records_the_accounts_member(registry, admin, role_account, snapshot):
    account = role_account("SG", "ISSUER").address
    p = registry.propose_revoke_role(admin("TW"), "ISSUER", account)
    assert (p.kind, p.role, p.account, p.member_id) == ("revoke_role", "ISSUER", account, "SG")


def test_propose_remove_and_grant_record_their_parameters(registry, admin, snapshot):
    removal = registry.propose_remove_member(admin("TW"), "NZ")
    grant = registry.propose_grant_role(admin("SG"), "AUDITOR", fresh_account(1), "SG")
    assert (removal.kind, removal.member_id, removal.role) == ("remove_member", "NZ", None)
    assert (grant.kind, grant.role, grant.account, grant.member_id, grant.proposer_member) == (
        "grant_role",
        "AUDITOR",
        fresh_account(1),
        "SG",
        "SG",
    )
    assert [p.id for p in registry.proposals()] == [removal.id, grant.id] == [1, 2]


# ------------------------------------------------------------------ deciding


def test_majority_yes_executes_add_member_and_emits(registry, admin, funded, snapshot, logs):
    jp = funded("JP/admin").address
    p = registry.propose_add_member(admin("TW"), "JP", "Japan Customs", jp, JP_KEY)
    receipt = vote(registry, admin("SG"), p.id)
    assert logs(receipt, "Voted") == [
        {"id": p.id, "memberId": member_id_bytes("SG"), "support": True, "yes": 2, "no": 0}
    ]
    assert logs(receipt, "MemberAdded") == [
        {
            "id": member_id_bytes("JP"),
            "name": "Japan Customs",
            "admin": jp,
            "x25519Key": JP_KEY,
        }
    ]
    assert logs(receipt, "AccountBound") == [{"account": jp, "memberId": member_id_bytes("JP")}]
    assert logs(receipt, "AccountPermissionsUpdated") == [{"addsRestrictions": False}]
    assert logs(receipt, "ProposalExecuted") == [{"id": p.id}]
    assert registry.proposal(p.id).state == "executed"
    member = registry.member("JP")
    assert (member.active, member.admin, member.accounts, member.nodes) == (True, jp, (jp,), ())
    assert registry.active_member_count() == 4
    assert registry.members(active_only=True)[-1].id == "JP"


def test_majority_no_rejects_and_emits(registry, admin, funded, decide, snapshot, logs):
    p = registry.propose_add_member(admin("TW"), "JP", "Japan", funded("JP/admin").address, JP_KEY)
    assert decide(p.id, "SG", support=False).state == "pending"  # 1 yes, 1 no of 3
    receipt = vote(registry, admin("NZ"), p.id, False)
    assert logs(receipt, "ProposalRejected") == [{"id": p.id}]
    assert logs(receipt, "ProposalExecuted") == []
    assert (registry.proposal(p.id).state, registry.proposal(p.id).no) == ("rejected", 2)
    assert registry.is_active_member("JP") is False


def test_tie_of_four_members_rejects(registry, admin, jp_admin, decide, snapshot, logs):
    p = propose_grant(registry, admin("TW"), "AUDITOR", fresh_account(1), "TW")
    assert decide(p, "SG").state == "pending"  # 2 yes of 4 is not a strict majority
    assert decide(p, "NZ", support=False).state == "pending"
    receipt = vote(registry, jp_admin, p, False)
    assert logs(receipt, "Voted") == [
        {"id": p, "memberId": member_id_bytes("JP"), "support": False, "yes": 2, "no": 2}
    ]
    assert logs(receipt, "ProposalRejected") == [{"id": p}]
    assert registry.proposal(p).state == "rejected"
    assert registry.has_role("AUDITOR", fresh_account(1)) is False


def test_three_of_four_yes_executes(registry, admin, jp_admin, decide, snapshot):
    p = propose_grant(registry, admin("TW"), "AUDITOR", fresh_account(1), "TW")
    assert decide(p, "SG").state == "pending"
    assert decide(p, "JP").state == "executed"
    assert registry.has_role("AUDITOR", fresh_account(1)) is True


def test_vote_twice_reverts_already_voted(registry, admin, decide, reverts, snapshot):
    p = propose_grant(registry, admin("TW"), "AUDITOR", fresh_account(1), "TW")
    decide(p, "SG", support=False)
    with reverts("AlreadyVoted", id=p, memberId=member_id_bytes("SG")):
        registry.vote(admin("SG"), p, True)
    with reverts("AlreadyVoted", id=p, memberId=member_id_bytes("TW")):
        registry.vote(admin("TW"), p, True)  # the proposer voted when proposing
    assert (registry.proposal(p).yes, registry.proposal(p).no) == (1, 1)


def test_vote_on_executed_proposal_reverts_not_pending(registry, admin, decide, reverts, snapshot):
    p = propose_grant(registry, admin("TW"), "AUDITOR", fresh_account(1), "TW")
    assert decide(p, "SG").state == "executed"
    with reverts("ProposalNotPending", id=p, state=EXECUTED):
        registry.vote(admin("NZ"), p, False)
    with reverts("ProposalNotPending", id=p, state=EXECUTED):
        registry.execute(admin("NZ"), p)


def test_vote_on_rejected_proposal_reverts_not_pending(
    registry, admin, jp_admin, decide, reverts, snapshot
):
    p = propose_grant(registry, admin("TW"), "AUDITOR", fresh_account(1), "TW")
    assert decide(p, "SG", "NZ", support=False).state == "rejected"  # 2 no of 4: a tie at best
    with reverts("ProposalNotPending", id=p, state=REJECTED):
        registry.vote(jp_admin, p, True)
    with reverts("ProposalNotPending", id=p, state=REJECTED):
        registry.execute(jp_admin, p)


def test_revert_message_names_contract_function_and_error(registry, admin, reverts, snapshot):
    p = propose_grant(registry, admin("TW"), "AUDITOR", fresh_account(1), "TW")
    with reverts("AlreadyVoted") as caught:
        registry.vote(admin("TW"), p, True)
    assert (caught.value.contract, caught.value.function) == ("ConsortiumRegistry", "vote")
    assert (
        str(caught.value)
        == f"ConsortiumRegistry.vote reverted: AlreadyVoted(id={p}, memberId='TW')"
    )


@pytest.mark.parametrize(
    "function", ["vote", "execute", "getProposal", "proposalState", "hasVoted"]
)
@pytest.mark.parametrize("proposal_id", [0, 1])
def test_unknown_proposal_reverts(registry, admin, reverts, function, proposal_id):
    fns = registry.contract.functions
    fn = {
        "vote": lambda: fns.vote(proposal_id, True),
        "execute": lambda: fns.execute(proposal_id),
        "getProposal": lambda: fns.getProposal(proposal_id),
        "proposalState": lambda: fns.proposalState(proposal_id),
        "hasVoted": lambda: fns.hasVoted(proposal_id, member_id_bytes("TW")),
    }[function]()
    with reverts("UnknownProposal", id=proposal_id):
        if function in ("vote", "execute"):
            admin("TW").transact(fn)
        else:
            call(fn, registry.decoder)


# ------------------------------------------------------------------ expiry


def test_vote_after_voting_period_reverts_expired(registry, admin, advance_time, reverts, snapshot):
    p = registry.propose_grant_role(admin("TW"), "AUDITOR", fresh_account(1), "TW")
    advance_time(registry.contract.functions.votingPeriod().call())
    assert registry.proposal(p.id).state == "expired"
    assert registry.contract.functions.proposalState(p.id).call() == 3
    with reverts("ProposalExpired", id=p.id, expiresAt=p.expires_at):
        registry.vote(admin("SG"), p.id, True)
    with reverts("ProposalExpired", id=p.id, expiresAt=p.expires_at):
        registry.execute(admin("SG"), p.id)
    assert registry.has_role("AUDITOR", fresh_account(1)) is False


def test_voting_closes_exactly_at_expires_at(registry, admin, w3, reverts, snapshot):
    p = registry.propose_grant_role(admin("TW"), "AUDITOR", fresh_account(1), "TW")
    w3.provider.make_request("evm_setNextBlockTimestamp", [p.expires_at - 1])
    registry.vote(admin("SG"), p.id, False)  # the last second still counts
    assert registry.proposal(p.id).state == "pending"
    w3.provider.make_request("evm_setNextBlockTimestamp", [p.expires_at])
    w3.provider.make_request("evm_mine", [])
    assert registry.proposal(p.id).state == "expired"
    with reverts("ProposalExpired", id=p.id):
        registry.vote(admin("NZ"), p.id, True)


# ------------------------------------------------------------------ who may govern

PROPOSE = {
    "proposeAddMember": lambda fns, acct: fns.proposeAddMember(
        member_id_bytes("JP"), "Japan", acct, JP_KEY
    ),
    "proposeRemoveMember": lambda fns, acct: fns.proposeRemoveMember(member_id_bytes("NZ")),
    "proposeGrantRole": lambda fns, acct: fns.proposeGrantRole(
        role_id("AUDITOR"), acct, member_id_bytes("TW")
    ),
    "proposeRevokeRole": lambda fns, acct: fns.proposeRevokeRole(role_id("ISSUER"), acct),
}


@pytest.mark.parametrize("function", sorted(PROPOSE))
@pytest.mark.parametrize("caller", ["outsider", "role account"])
def test_propose_by_non_admin_reverts_not_active_member_admin(
    registry, chain, role_account, outsider, reverts, function, caller, snapshot
):
    sender = outsider if caller == "outsider" else chain.sender(role_account("TW", "AUDITOR"))
    subject = (
        fresh_account(7)
        if function != "proposeRevokeRole"
        else role_account("SG", "ISSUER").address
    )
    with reverts("NotActiveMemberAdmin", caller=sender.address):
        sender.transact(PROPOSE[function](registry.contract.functions, subject))
    assert registry.proposal_count() == 0


@pytest.mark.parametrize("caller", ["outsider", "role account"])
def test_vote_by_non_admin_reverts_not_active_member_admin(
    registry, chain, admin, role_account, outsider, reverts, snapshot, caller
):
    p = propose_grant(registry, admin("TW"), "AUDITOR", fresh_account(1), "TW")
    sender = outsider if caller == "outsider" else chain.sender(role_account("SG", "ISSUER"))
    with reverts("NotActiveMemberAdmin", caller=sender.address):
        registry.vote(sender, p, True)
    assert registry.proposal(p).yes == 1


def test_vote_by_removed_member_reverts_not_active_member_admin(
    registry, admin, remove_member, reverts, snapshot
):
    p = propose_grant(registry, admin("TW"), "AUDITOR", fresh_account(1), "TW")
    remove_member("NZ")
    with reverts("NotActiveMemberAdmin", caller=admin("NZ").address):
        registry.vote(admin("NZ"), p, True)
    with reverts("NotActiveMemberAdmin", caller=admin("NZ").address):
        registry.propose_remove_member(admin("NZ"), "TW")


def test_execute_undecided_reverts_proposal_undecided(registry, admin, outsider, reverts, snapshot):
    p = propose_grant(registry, admin("TW"), "AUDITOR", fresh_account(1), "TW")
    with reverts("ProposalUndecided", id=p, yes=1, no=0, activeMembers=3):
        registry.execute(outsider, p)
    assert registry.proposal(p).state == "pending"


# ------------------------------------------------------------------ membership changes mid-vote


def test_removing_a_non_voter_lets_execute_pass_a_pending_proposal(
    registry, admin, jp_admin, outsider, decide, remove_member, reverts, logs, snapshot
):
    p = propose_grant(registry, admin("TW"), "AUDITOR", fresh_account(1), "TW")
    assert decide(p, "SG").state == "pending"  # 2 yes of 4
    remove_member("JP")  # JP had not voted on p
    assert registry.proposal(p).state == "pending"  # nobody re-counted yet
    assert (registry.proposal(p).yes, registry.active_member_count()) == (2, 3)
    receipt = outsider.transact(registry.contract.functions.execute(p))  # anyone may settle
    assert logs(receipt, "ProposalExecuted") == [{"id": p}]
    assert registry.proposal(p).state == "executed"
    assert registry.has_role("AUDITOR", fresh_account(1)) is True


def test_removed_members_yes_vote_stops_counting(
    registry, admin, jp_admin, decide, remove_member, reverts, snapshot
):
    p = propose_grant(registry, jp_admin, "AUDITOR", fresh_account(1), "TW")  # JP votes yes
    assert decide(p, "TW").state == "pending"  # 2 yes of 4
    remove_member("JP")
    assert registry.proposal(p).yes == 1
    with reverts("ProposalUndecided", id=p, yes=1, no=0, activeMembers=3):
        registry.execute(admin("TW"), p)
    assert decide(p, "SG").state == "executed"


def test_removing_members_can_make_execute_reject(
    registry, admin, jp_admin, decide, remove_member, snapshot
):
    p = propose_grant(registry, admin("TW"), "AUDITOR", fresh_account(1), "TW")
    decide(p, "SG", support=False)  # 1 yes, 1 no of 4
    remove_member("JP")
    remove_member("TW")  # the proposer: its yes stops counting; 0 yes, 1 no of 2
    assert registry.execute(admin("NZ"), p).state == "rejected"


def test_readmitted_member_votes_afresh(
    registry, admin, funded, decide, remove_member, admit_member, snapshot
):
    p = propose_grant(registry, admin("TW"), "AUDITOR", fresh_account(1), "TW")
    decide(p, "NZ", support=False)
    remove_member("NZ")
    admit_member("NZ", funded("NZ/admin-2").address)
    assert registry.has_voted(p, "NZ") is False  # its ballot belonged to the earlier membership
    assert (registry.proposal(p).yes, registry.proposal(p).no) == (1, 0)
    assert registry.vote(funded("NZ/admin-2"), p, True).state == "executed"


# ------------------------------------------------------------------ add member


def test_propose_add_existing_member_reverts_member_exists(
    registry, admin, funded, reverts, snapshot
):
    with reverts("MemberExists", id=member_id_bytes("SG")):
        registry.propose_add_member(admin("TW"), "SG", "Again", funded("x/admin").address, JP_KEY)


@pytest.mark.parametrize("holder", ["admin", "role account"])
def test_propose_add_member_with_bound_admin_reverts_admin_in_use(
    registry, admin, role_account, reverts, holder
):
    taken = admin("SG").address if holder == "admin" else role_account("SG", "ISSUER").address
    with reverts("AdminInUse", admin=taken):
        registry.propose_add_member(admin("TW"), "JP", "Japan", taken, JP_KEY)


def test_propose_add_member_with_zero_id_reverts_invalid_member_id(
    registry, admin, funded, reverts, snapshot
):
    fn = registry.contract.functions.proposeAddMember(
        ZERO_ID, "Nobody", funded("x/admin").address, JP_KEY
    )
    with reverts("InvalidMemberId"):
        admin("TW").transact(fn)


def test_propose_add_member_with_zero_admin_reverts_zero_address(registry, admin, reverts):
    with reverts("ZeroAddress"):
        registry.propose_add_member(admin("TW"), "JP", "Japan", ZERO_ADDRESS, JP_KEY)


# ------------------------------------------------------------------ remove member


def test_remove_member_drops_roles_accounts_nodes_and_emits(
    registry, admin, role_account, keys, snapshot, logs
):
    p = registry.propose_remove_member(admin("TW"), "NZ")
    receipt = vote(registry, admin("SG"), p.id)
    nz = member_id_bytes("NZ")
    role_accounts = {r: role_account("NZ", r).address for r in ROLE_NAMES}
    assert sorted(logs(receipt, "RoleRevoked"), key=lambda e: e["account"]) == sorted(
        (
            {"role": role_id(r), "account": a, "sender": admin("SG").address}
            for r, a in role_accounts.items()
        ),
        key=lambda e: e["account"],
    )
    unbound = {e["account"] for e in logs(receipt, "AccountUnbound") if e["memberId"] == nz}
    assert unbound == {admin("NZ").address, *role_accounts.values()}
    assert logs(receipt, "NodeRemoved") == [
        {"id": nz, "enodeHash": keccak(bytes.fromhex(keys.enode_id("NZ")))}
    ]
    assert logs(receipt, "MemberRemoved") == [{"id": nz}]
    assert logs(receipt, "ProposalExecuted") == [{"id": p.id}]
    assert logs(receipt, "AccountPermissionsUpdated") == [{"addsRestrictions": True}] * 6
    assert logs(receipt, "NodePermissionsUpdated") == [{"addsRestrictions": True}]
    # MemberRemoved comes after everything it dropped, as its documentation promises.
    assert event_names(registry, receipt)[-2:] == ["MemberRemoved", "ProposalExecuted"]
    member = registry.member("NZ")
    assert (member.active, member.accounts, member.nodes) == (False, (), ())
    assert registry.members(active_only=True)[-1].id == "SG"
    assert [m.id for m in registry.members()] == ["TW", "SG", "NZ"]  # history is kept
    assert registry.active_member_count() == 2


def test_propose_remove_unknown_member_reverts(registry, admin, reverts):
    with reverts("UnknownMember", id=member_id_bytes("XX")):
        registry.propose_remove_member(admin("TW"), "XX")
    with reverts("InvalidMemberId"):
        admin("TW").transact(registry.contract.functions.proposeRemoveMember(ZERO_ID))


def test_propose_remove_removed_member_reverts_member_not_active(
    registry, admin, remove_member, reverts, snapshot
):
    remove_member("NZ")
    with reverts("MemberNotActive", id=member_id_bytes("NZ")):
        registry.propose_remove_member(admin("TW"), "NZ")


def test_propose_removing_the_last_member_reverts_last_member(
    registry, admin, remove_member, reverts, snapshot
):
    remove_member("NZ")
    remove_member("SG")
    assert registry.active_member_count() == 1
    with reverts("LastMember", id=member_id_bytes("TW")):
        registry.propose_remove_member(admin("TW"), "TW")


def test_removing_the_last_member_at_execution_is_invalidated(
    registry, admin, remove_member, logs, snapshot
):
    remove_member("NZ")
    remove_tw = registry.propose_remove_member(admin("TW"), "TW").id  # 1 yes of 2
    remove_sg = registry.propose_remove_member(admin("SG"), "SG").id
    registry.vote(admin("TW"), remove_sg, True)  # SG is gone; TW is alone
    receipt = admin("TW").transact(registry.contract.functions.execute(remove_tw))
    [invalidated] = logs(receipt, "ProposalInvalidated")
    assert invalidated["id"] == remove_tw
    assert registry.decoder.decode(invalidated["reason"]) == (
        "LastMember",
        {"id": member_id_bytes("TW")},
    )
    assert logs(receipt, "ProposalRejected") == [{"id": remove_tw}]
    assert registry.proposal(remove_tw).state == "rejected"
    assert registry.is_active_member("TW") is True
    assert registry.active_member_count() == 1


def test_sole_member_decides_alone(registry, admin, remove_member, snapshot):
    remove_member("NZ")
    remove_member("SG")
    p = registry.propose_grant_role(admin("TW"), "AUDITOR", fresh_account(1), "TW")
    assert p.state == "executed"


def test_readmitted_member_starts_clean(
    registry, admin, role_account, keys, funded, remove_member, admit_member, snapshot
):
    remove_member("NZ")
    new_admin = funded("NZ/admin-2").address
    admit_member("NZ", new_admin, name="NZ Customs", key=b"\x05" * 32)
    member = registry.member("NZ")
    assert (member.active, member.admin, member.name) == (True, new_admin, "NZ Customs")
    assert (member.accounts, member.nodes) == ((new_admin,), ())
    assert member.x25519_key == "0x" + "05" * 32
    for role in ROLE_NAMES:
        old = role_account("NZ", role).address
        assert registry.roles_of(old) == []
        assert registry.member_of(old) is None
    assert registry.member_of(admin("NZ").address) is None
    assert registry.connection_allowed(keys.enode_id("NZ")) is False
    assert [m.id for m in registry.members()] == ["TW", "SG", "NZ"]  # not listed twice


def test_removed_member_can_be_readmitted_with_its_old_admin(
    registry, admin, remove_member, admit_member, snapshot
):
    remove_member("NZ")
    admit_member("NZ", admin("NZ").address)
    assert registry.member("NZ").admin == admin("NZ").address
    assert registry.propose_remove_member(admin("NZ"), "TW").proposer_member == "NZ"


# ------------------------------------------------------------------ grant role


def test_grant_role_binds_account_and_emits(registry, admin, snapshot, logs):
    account = fresh_account(1)
    p = registry.propose_grant_role(admin("TW"), "ORACLE_OPERATOR", account, "TW")
    receipt = vote(registry, admin("NZ"), p.id)
    tw = member_id_bytes("TW")
    assert logs(receipt, "AccountBound") == [{"account": account, "memberId": tw}]
    assert logs(receipt, "AccountPermissionsUpdated") == [{"addsRestrictions": False}]
    assert logs(receipt, "RoleGranted") == [
        {"role": role_id("ORACLE_OPERATOR"), "account": account, "sender": admin("NZ").address}
    ]
    assert logs(receipt, "ProposalExecuted") == [{"id": p.id}]
    assert registry.roles_of(account) == ["ORACLE_OPERATOR"]
    assert registry.member_of(account) == "TW"
    assert account in registry.member("TW").accounts


def test_grant_second_role_to_bound_account_does_not_rebind(
    registry, admin, role_account, snapshot, logs
):
    account = role_account("TW", "ISSUER").address
    p = propose_grant(registry, admin("SG"), "VERIFIER", account, "TW")
    receipt = vote(registry, admin("NZ"), p)
    assert logs(receipt, "AccountBound") == []
    assert logs(receipt, "AccountPermissionsUpdated") == []
    assert registry.roles_of(account) == ["ISSUER", "VERIFIER"]
    assert registry.member_of(account) == "TW"


def test_grant_role_to_member_admin_is_allowed(registry, admin, decide, snapshot):
    p = propose_grant(registry, admin("TW"), "AUDITOR", admin("TW").address, "TW")
    decide(p, "SG")
    assert registry.roles_of(admin("TW").address) == ["AUDITOR"]


@pytest.mark.parametrize("holder", ["admin", "role account"])
def test_grant_role_to_account_of_other_member_reverts(
    registry, admin, role_account, reverts, holder
):
    account = admin("SG").address if holder == "admin" else role_account("SG", "ISSUER").address
    with reverts("AccountOfOtherMember", account=account, boundTo=member_id_bytes("SG")):
        registry.propose_grant_role(admin("TW"), "AUDITOR", account, "TW")


@pytest.mark.parametrize(
    "role", [keccak(text="CAPTAIN"), ZERO_ID], ids=["CAPTAIN", "DEFAULT_ADMIN"]
)
def test_grant_unknown_role_reverts_unknown_role(registry, admin, reverts, role):
    fn = registry.contract.functions.proposeGrantRole(role, fresh_account(1), member_id_bytes("TW"))
    with reverts("UnknownRole", role=role):
        admin("TW").transact(fn)


def test_grant_role_already_held_reverts_role_already_granted(
    registry, admin, role_account, reverts
):
    account = role_account("TW", "ISSUER").address
    with reverts("RoleAlreadyGranted", role=role_id("ISSUER"), account=account):
        registry.propose_grant_role(admin("SG"), "ISSUER", account, "TW")


def test_grant_role_to_zero_address_reverts_zero_address(registry, admin, reverts):
    with reverts("ZeroAddress"):
        registry.propose_grant_role(admin("TW"), "ISSUER", ZERO_ADDRESS, "TW")


def test_grant_role_for_unknown_member_reverts_unknown_member(registry, admin, reverts):
    with reverts("UnknownMember", id=member_id_bytes("XX")):
        registry.propose_grant_role(admin("TW"), "ISSUER", fresh_account(1), "XX")


def test_grant_role_for_removed_member_reverts_member_not_active(
    registry, admin, remove_member, reverts, snapshot
):
    remove_member("NZ")
    with reverts("MemberNotActive", id=member_id_bytes("NZ")):
        registry.propose_grant_role(admin("TW"), "ISSUER", fresh_account(1), "NZ")


# ------------------------------------------------------------------ revoke role


def test_revoke_last_role_unbinds_account_and_emits(registry, admin, role_account, snapshot, logs):
    account = role_account("SG", "PERMIT_AGENCY").address
    p = registry.propose_revoke_role(admin("TW"), "PERMIT_AGENCY", account)
    receipt = vote(registry, admin("NZ"), p.id)
    assert logs(receipt, "RoleRevoked") == [
        {"role": role_id("PERMIT_AGENCY"), "account": account, "sender": admin("NZ").address}
    ]
    assert logs(receipt, "AccountUnbound") == [
        {"account": account, "memberId": member_id_bytes("SG")}
    ]
    assert logs(receipt, "AccountPermissionsUpdated") == [{"addsRestrictions": True}]
    assert registry.has_role("PERMIT_AGENCY", account) is False
    assert registry.member_of(account) is None
    assert registry.transaction_allowed(account) is False


def test_revoke_one_of_two_roles_keeps_account_bound(
    registry, admin, role_account, decide, snapshot
):
    account = role_account("TW", "ISSUER").address
    decide(propose_grant(registry, admin("TW"), "VERIFIER", account, "TW"), "SG")
    p = registry.propose_revoke_role(admin("TW"), "ISSUER", account)
    decide(p.id, "SG")
    assert registry.roles_of(account) == ["VERIFIER"]
    assert registry.member_of(account) == "TW"


def test_revoke_role_of_member_admin_keeps_admin_bound(registry, admin, decide, snapshot):
    tw_admin = admin("TW").address
    decide(propose_grant(registry, admin("TW"), "AUDITOR", tw_admin, "TW"), "SG")
    decide(registry.propose_revoke_role(admin("TW"), "AUDITOR", tw_admin).id, "SG")
    assert registry.roles_of(tw_admin) == []
    assert registry.member_of(tw_admin) == "TW"


def test_revoke_role_not_held_reverts_role_not_granted(registry, admin, role_account, reverts):
    account = role_account("TW", "ISSUER").address
    with reverts("RoleNotGranted", role=role_id("AUDITOR"), account=account):
        registry.propose_revoke_role(admin("SG"), "AUDITOR", account)


def test_revoke_unknown_role_reverts_unknown_role(registry, admin, role_account, reverts):
    fn = registry.contract.functions.proposeRevokeRole(
        keccak(text="CAPTAIN"), role_account("TW", "ISSUER").address
    )
    with reverts("UnknownRole", role=keccak(text="CAPTAIN")):
        admin("SG").transact(fn)


# ------------------------------------------------------------------ invalidated at execution


def assert_invalidated(registry, logs, receipt, proposal_id, error: str, args: dict) -> None:
    """The deciding vote went through; the proposal was rejected with `error` as reason."""
    [invalidated] = logs(receipt, "ProposalInvalidated")
    assert invalidated["id"] == proposal_id
    name, decoded = registry.decoder.decode(invalidated["reason"])
    assert name == error
    assert {k: _lower(v) for k, v in decoded.items()} == {k: _lower(v) for k, v in args.items()}
    assert logs(receipt, "ProposalRejected") == [{"id": proposal_id}]
    assert event_names(registry, receipt)[-2:] == ["ProposalInvalidated", "ProposalRejected"]
    assert logs(receipt, "ProposalExecuted") == []
    assert len(logs(receipt, "Voted")) == 1
    assert registry.proposal(proposal_id).state == "rejected"


def _lower(value):
    """Addresses come back from the ABI decoder in lower case."""
    return value.lower() if isinstance(value, str) else value


def test_second_add_of_same_member_is_invalidated(registry, admin, funded, decide, snapshot, logs):
    first = registry.propose_add_member(
        admin("TW"), "JP", "Japan", funded("JP/admin").address, JP_KEY
    )
    second = registry.propose_add_member(
        admin("NZ"), "JP", "Japan bis", funded("JP/admin-2").address, JP_KEY
    )
    decide(first.id, "SG")
    decide(second.id, "TW")  # 2 yes of 4 now
    receipt = vote(registry, admin("SG"), second.id)
    assert_invalidated(
        registry, logs, receipt, second.id, "MemberExists", {"id": member_id_bytes("JP")}
    )
    assert registry.member("JP").admin == funded("JP/admin").address


def test_add_member_invalidated_when_admin_bound_meanwhile(
    registry, admin, funded, decide, snapshot, logs
):
    jp = funded("JP/admin").address
    add = registry.propose_add_member(admin("TW"), "JP", "Japan", jp, JP_KEY)
    decide(propose_grant(registry, admin("SG"), "AUDITOR", jp, "SG"), "NZ")
    receipt = vote(registry, admin("NZ"), add.id)
    assert_invalidated(registry, logs, receipt, add.id, "AdminInUse", {"admin": jp})
    assert registry.is_active_member("JP") is False


def test_grant_invalidated_when_account_bound_to_other_member_meanwhile(
    registry, admin, decide, snapshot, logs
):
    account = fresh_account(1)
    for_tw = propose_grant(registry, admin("TW"), "ISSUER", account, "TW")
    decide(propose_grant(registry, admin("SG"), "VERIFIER", account, "SG"), "NZ")
    receipt = vote(registry, admin("NZ"), for_tw)
    assert_invalidated(
        registry,
        logs,
        receipt,
        for_tw,
        "AccountOfOtherMember",
        {"account": account, "boundTo": member_id_bytes("SG")},
    )
    assert registry.roles_of(account) == ["VERIFIER"]


def test_grant_invalidated_when_member_removed_meanwhile(
    registry, admin, remove_member, logs, snapshot
):
    grant = propose_grant(registry, admin("TW"), "ISSUER", fresh_account(1), "NZ")
    remove_member("NZ")
    receipt = vote(registry, admin("SG"), grant)  # 2 yes of 2
    assert_invalidated(
        registry, logs, receipt, grant, "MemberNotActive", {"id": member_id_bytes("NZ")}
    )
    assert registry.member_of(fresh_account(1)) is None


def test_duplicate_grant_is_invalidated(registry, admin, decide, snapshot, logs):
    account = fresh_account(1)
    first = propose_grant(registry, admin("TW"), "ISSUER", account, "TW")
    second = propose_grant(registry, admin("SG"), "ISSUER", account, "TW")
    decide(first, "NZ")
    receipt = vote(registry, admin("NZ"), second)
    assert_invalidated(
        registry,
        logs,
        receipt,
        second,
        "RoleAlreadyGranted",
        {"role": role_id("ISSUER"), "account": account},
    )


def test_revoke_invalidated_when_role_renounced_meanwhile(
    registry, admin, chain, role_account, snapshot, logs
):
    holder = role_account("TW", "ISSUER")
    revoke = registry.propose_revoke_role(admin("SG"), "ISSUER", holder.address)
    chain.sender(holder).transact(
        registry.contract.functions.renounceRole(role_id("ISSUER"), holder.address)
    )
    receipt = vote(registry, admin("NZ"), revoke.id)
    assert_invalidated(
        registry,
        logs,
        receipt,
        revoke.id,
        "RoleNotGranted",
        {"role": role_id("ISSUER"), "account": holder.address},
    )


def test_second_removal_of_same_member_is_invalidated(registry, admin, decide, snapshot, logs):
    first = registry.propose_remove_member(admin("TW"), "NZ")
    second = registry.propose_remove_member(admin("SG"), "NZ")
    decide(first.id, "SG")
    receipt = vote(registry, admin("TW"), second.id)  # TW and SG: 2 yes of 2
    assert_invalidated(
        registry, logs, receipt, second.id, "MemberNotActive", {"id": member_id_bytes("NZ")}
    )
