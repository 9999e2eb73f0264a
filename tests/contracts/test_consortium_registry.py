"""ConsortiumRegistry: genesis state, views, roles, ERC-165, and members' self-service.

Governance (proposals and votes) is in test_governance.py, Besu permissioning in
test_permissioning.py.
"""

from __future__ import annotations

import pytest
from eth_utils import function_abi_to_4byte_selector, function_signature_to_4byte_selector, keccak
from web3 import Web3

from chain.events import read_events
from chain.ids import member_id_bytes, role_id
from chain.registry import ConsortiumRegistry
from chain.sender import call
from offchain.settings import ROLE_NAMES

pytestmark = pytest.mark.contract

GENESIS = ("TW", "SG", "NZ")
ZERO_ID = b"\0" * 32
ZERO_ADDRESS = "0x" + "00" * 20

# Every external function of the contract, and so of this suite: a function added to the
# contract fails test_abi_lists_exactly_the_functions_under_test until it gets tests.
FUNCTIONS_UNDER_TEST = frozenset(
    {
        "AUDITOR_ROLE",
        "DEFAULT_ADMIN_ROLE",
        "ISSUER_ROLE",
        "ORACLE_OPERATOR_ROLE",
        "PERMIT_AGENCY_ROLE",
        "VERIFIER_ROLE",
        "accountsOf",
        "activeMemberCount",
        "activeMemberIds",
        "getMember",
        "isActiveMember",
        "memberIds",
        "memberOf",
        "nodesOf",
        "getRoleAdmin",
        "grantRole",
        "hasRole",
        "memberRole",
        "renounceRole",
        "revokeRole",
        "supportsInterface",
        "addNode",
        "removeNode",
        "setMemberAdmin",
        "setX25519Key",
        "proposeAddMember",
        "proposeGrantRole",
        "proposeRemoveMember",
        "proposeRevokeRole",
        "proposeCall",  # tested in test_governance_call.py
        "proposalCall",
        "vote",
        "execute",
        "getProposal",
        "hasVoted",
        "proposalCount",
        "proposalState",
        "votingPeriod",
        "connectionAllowed",
        "transactionAllowed",
    }
)


def view(registry: ConsortiumRegistry, name: str, *args):
    return call(getattr(registry.contract.functions, name)(*args), registry.decoder)


def interface_id(selectors: list[bytes]) -> bytes:
    """ERC-165: the XOR of the interface's function selectors."""
    acc = 0
    for selector in selectors:
        acc ^= int.from_bytes(selector, "big")
    return acc.to_bytes(4, "big")


def abi_interface_id(abi: list[dict]) -> bytes:
    return interface_id([function_abi_to_4byte_selector(f) for f in abi if f["type"] == "function"])


def signatures_interface_id(*signatures: str) -> bytes:
    return interface_id([function_signature_to_4byte_selector(s) for s in signatures])


# ------------------------------------------------------------------ the ABI and constants


def test_abi_lists_exactly_the_functions_under_test(registry):
    names = {f["name"] for f in registry.contract.abi if f["type"] == "function"}
    assert names == FUNCTIONS_UNDER_TEST


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_role_constant_is_keccak_of_role_name(registry, role):
    assert view(registry, f"{role}_ROLE") == keccak(text=role) == role_id(role)


def test_default_admin_role_is_zero_and_admin_of_every_role(registry):
    assert view(registry, "DEFAULT_ADMIN_ROLE") == ZERO_ID
    for role in ROLE_NAMES:
        assert view(registry, "getRoleAdmin", role_id(role)) == ZERO_ID


def test_nobody_holds_default_admin_role(registry, deployment, admin, role_account):
    holders = [deployment.deployer, *(admin(m).address for m in GENESIS)]
    holders += [role_account(m, r).address for m in GENESIS for r in ROLE_NAMES]
    assert not any(view(registry, "hasRole", ZERO_ID, a) for a in holders)


def test_voting_period_is_the_configured_one(registry, chain):
    assert view(registry, "votingPeriod") == chain.settings.chain.voting_period_s == 3600


def test_proposal_count_starts_at_zero(registry):
    assert registry.proposal_count() == 0


# ------------------------------------------------------------------ ERC-165


@pytest.mark.parametrize(
    "interface", ["IConsortiumRegistry", "IAccountPermissioning", "INodePermissioning"]
)
def test_supports_registry_and_besu_interfaces(registry, chain, interface):
    iid = abi_interface_id(chain.artifacts[interface].abi)
    assert view(registry, "supportsInterface", iid) is True


@pytest.mark.parametrize(
    "signatures",
    [
        ("supportsInterface(bytes4)",),  # IERC165
        (  # IAccessControl
            "hasRole(bytes32,address)",
            "getRoleAdmin(bytes32)",
            "grantRole(bytes32,address)",
            "revokeRole(bytes32,address)",
            "renounceRole(bytes32,address)",
        ),
    ],
    ids=["IERC165", "IAccessControl"],
)
def test_supports_inherited_interfaces(registry, signatures):
    assert view(registry, "supportsInterface", signatures_interface_id(*signatures)) is True


@pytest.mark.parametrize("iid", [b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x12\x34\x56\x78"])
def test_does_not_support_other_interfaces(registry, iid):
    assert view(registry, "supportsInterface", iid) is False


# ------------------------------------------------------------------ genesis members and views


def test_genesis_members_in_order_of_admission(registry):
    assert [m.id for m in registry.members()] == list(GENESIS)
    assert view(registry, "memberIds") == [member_id_bytes(m) for m in GENESIS]
    assert view(registry, "activeMemberIds") == [member_id_bytes(m) for m in GENESIS]
    assert registry.active_member_count() == 3


@pytest.mark.parametrize("member", GENESIS)
def test_genesis_member_record(registry, keys, admin, role_account, chain, member):
    m = registry.member(member)
    assert m.id == member
    assert m.name == chain.settings.member(member).name
    assert m.active is True
    assert m.admin == admin(member).address
    assert m.x25519_key == "0x" + bytes(keys.box_key(member).public_key).hex()
    assert m.joined_at > 0
    assert m.nodes == (keys.enode_id(member),)
    expected = {admin(member).address, *(role_account(member, r).address for r in ROLE_NAMES)}
    assert set(m.accounts) == expected


def test_accounts_of_and_nodes_of_match_get_member(registry, keys):
    raw = member_id_bytes("SG")
    member = registry.member("SG")
    assert sorted(view(registry, "accountsOf", raw)) == sorted(member.accounts)
    assert view(registry, "nodesOf", raw) == [bytes.fromhex(keys.enode_id("SG"))]


@pytest.mark.parametrize("function", ["getMember", "accountsOf", "nodesOf"])
def test_views_of_never_admitted_member_revert_unknown_member(registry, reverts, function):
    with reverts("UnknownMember", id=member_id_bytes("XX")):
        view(registry, function, member_id_bytes("XX"))


def test_is_active_member(registry):
    assert registry.is_active_member("TW") is True
    assert registry.is_active_member("XX") is False
    assert view(registry, "isActiveMember", ZERO_ID) is False


def test_member_of_each_account(registry, admin, role_account):
    for member in GENESIS:
        assert registry.member_of(admin(member).address) == member
        for role in ROLE_NAMES:
            assert registry.member_of(role_account(member, role).address) == member


def test_member_of_unbound_account_is_zero(registry, deployment):
    assert view(registry, "memberOf", deployment.deployer) == ZERO_ID
    assert registry.member_of(ZERO_ADDRESS) is None


# ------------------------------------------------------------------ roles


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_role_account_holds_exactly_its_role(registry, role_account, role):
    account = role_account("NZ", role).address
    assert registry.roles_of(account) == [role]


def test_member_admin_holds_no_role(registry, admin):
    assert registry.roles_of(admin("TW").address) == []


def test_has_role_of_unknown_role_is_false(registry, role_account):
    account = role_account("TW", "ISSUER").address
    assert view(registry, "hasRole", keccak(text="CAPTAIN"), account) is False


def member_role(registry: ConsortiumRegistry, role: str, account: str) -> tuple[bool, bytes]:
    result = view(registry, "memberRole", role_id(role), account)
    assert (result.ok, result.memberId) == tuple(result)  # the ABI names both outputs
    return tuple(result)


def test_member_role_of_role_holder_is_ok_with_its_member(registry, role_account):
    issuer = role_account("SG", "ISSUER").address
    assert member_role(registry, "ISSUER", issuer) == (True, member_id_bytes("SG"))


def test_member_role_of_other_role_is_not_ok_but_names_the_member(registry, admin, role_account):
    issuer = role_account("SG", "ISSUER").address
    assert member_role(registry, "AUDITOR", issuer) == (False, member_id_bytes("SG"))
    assert member_role(registry, "ISSUER", admin("SG").address) == (False, member_id_bytes("SG"))


def test_member_role_of_unbound_account_is_not_ok_and_zero(registry, deployment):
    assert member_role(registry, "ISSUER", deployment.deployer) == (False, ZERO_ID)


def test_roles_of_removed_member_are_gone(registry, role_account, remove_member, snapshot):
    issuer = role_account("NZ", "ISSUER").address
    remove_member("NZ")
    assert registry.roles_of(issuer) == []
    assert member_role(registry, "ISSUER", issuer) == (False, ZERO_ID)
    # Other members keep theirs.
    assert registry.has_role("ISSUER", role_account("TW", "ISSUER").address) is True


@pytest.mark.parametrize("function", ["grantRole", "revokeRole"])
@pytest.mark.parametrize("caller", ["member admin", "role holder", "outsider"])
def test_access_control_grant_and_revoke_are_disabled(
    registry, chain, admin, role_account, outsider, reverts, function, caller, snapshot
):
    sender = {
        "member admin": admin("TW"),
        "role holder": chain.sender(role_account("TW", "ISSUER")),
        "outsider": outsider,
    }[caller]
    target = role_account("TW", "ISSUER").address if function == "revokeRole" else outsider.address
    fn = getattr(registry.contract.functions, function)(role_id("ISSUER"), target)
    with reverts("GovernanceOnly"):
        sender.transact(fn)
    assert registry.has_role("ISSUER", target) is (function == "revokeRole")


def test_renounce_role_drops_role_and_unbinds_idle_account(
    registry, chain, role_account, snapshot, logs
):
    account = role_account("TW", "VERIFIER")
    receipt = chain.sender(account).transact(
        registry.contract.functions.renounceRole(role_id("VERIFIER"), account.address)
    )
    assert registry.has_role("VERIFIER", account.address) is False
    assert registry.member_of(account.address) is None
    assert account.address not in registry.member("TW").accounts
    assert logs(receipt, "RoleRevoked") == [
        {"role": role_id("VERIFIER"), "account": account.address, "sender": account.address}
    ]
    assert logs(receipt, "AccountUnbound") == [
        {"account": account.address, "memberId": member_id_bytes("TW")}
    ]
    assert logs(receipt, "AccountPermissionsUpdated") == [{"addsRestrictions": True}]


def test_renounce_one_of_two_roles_keeps_account_bound(
    registry, chain, admin, role_account, decide, snapshot
):
    account = role_account("TW", "ISSUER")
    proposal = registry.propose_grant_role(admin("TW"), "AUDITOR", account.address, "TW")
    decide(proposal.id, "SG")
    chain.sender(account).transact(
        registry.contract.functions.renounceRole(role_id("ISSUER"), account.address)
    )
    assert registry.roles_of(account.address) == ["AUDITOR"]
    assert registry.member_of(account.address) == "TW"


def test_renounce_by_member_admin_keeps_admin_bound(registry, admin, snapshot, logs):
    sender = admin("SG")
    receipt = sender.transact(
        registry.contract.functions.renounceRole(role_id("ISSUER"), sender.address)
    )
    assert registry.member_of(sender.address) == "SG"
    assert logs(receipt, "AccountUnbound") == []


def test_renounce_role_for_another_account_reverts(
    registry, role_account, outsider, reverts, snapshot
):
    victim = role_account("TW", "ISSUER").address
    with reverts("AccessControlBadConfirmation"):
        outsider.transact(registry.contract.functions.renounceRole(role_id("ISSUER"), victim))
    assert registry.has_role("ISSUER", victim) is True


# ------------------------------------------------------------------ self-service: X25519 key


def test_set_x25519_key_updates_member_and_emits(registry, admin, snapshot, logs):
    key = bytes(range(100, 132))
    receipt = registry.set_x25519_key(admin("SG"), "SG", key)
    assert registry.member("SG").x25519_key == "0x" + key.hex()
    assert logs(receipt, "X25519KeyChanged") == [{"id": member_id_bytes("SG"), "key": key}]


def test_set_x25519_key_to_zero_clears_it(registry, admin, snapshot):
    registry.set_x25519_key(admin("SG"), "SG", ZERO_ID)
    assert registry.member("SG").x25519_key == "0x" + "00" * 32


# ------------------------------------------------------------------ self-service: nodes


def test_add_node_registers_it_and_emits(registry, admin, keys, snapshot, logs):
    enode = keys.enode_id("spare-node")
    receipt = registry.add_node(admin("TW"), "TW", enode)
    assert set(registry.member("TW").nodes) == {keys.enode_id("TW"), enode}
    assert registry.connection_allowed(enode) is True
    pubkey = bytes.fromhex(enode)
    assert logs(receipt, "NodeAdded") == [
        {"id": member_id_bytes("TW"), "enodeHash": keccak(pubkey), "enodePubkey": pubkey}
    ]
    assert logs(receipt, "NodePermissionsUpdated") == [{"addsRestrictions": False}]


@pytest.mark.parametrize("length", [0, 33, 63, 65, 128])
def test_add_node_with_wrong_key_length_reverts_invalid_enode(registry, admin, reverts, length):
    pubkey = b"\x11" * length
    with reverts("InvalidEnode", enodePubkey=pubkey):
        admin("TW").transact(registry.contract.functions.addNode(member_id_bytes("TW"), pubkey))


def test_add_node_of_another_member_reverts_node_taken(registry, admin, keys, reverts):
    pubkey = bytes.fromhex(keys.enode_id("SG"))
    with reverts("NodeTaken", enodeHash=keccak(pubkey), memberId=member_id_bytes("SG")):
        registry.add_node(admin("TW"), "TW", keys.enode_id("SG"))


def test_add_own_node_twice_reverts_node_taken(registry, admin, keys, reverts):
    with reverts("NodeTaken", memberId=member_id_bytes("TW")):
        registry.add_node(admin("TW"), "TW", keys.enode_id("TW"))


def test_remove_node_unregisters_it_and_emits(registry, admin, keys, snapshot, logs):
    enode = keys.enode_id("NZ")
    receipt = registry.remove_node(admin("NZ"), "NZ", enode)
    assert registry.member("NZ").nodes == ()
    assert registry.connection_allowed(enode) is False
    assert logs(receipt, "NodeRemoved") == [
        {"id": member_id_bytes("NZ"), "enodeHash": keccak(bytes.fromhex(enode))}
    ]
    assert logs(receipt, "NodePermissionsUpdated") == [{"addsRestrictions": True}]


def test_removed_node_can_be_registered_by_another_member(registry, admin, keys, snapshot):
    enode = keys.enode_id("NZ")
    registry.remove_node(admin("NZ"), "NZ", enode)
    registry.add_node(admin("TW"), "TW", enode)
    assert registry.connection_allowed(enode) is True
    assert enode in registry.member("TW").nodes


def test_remove_node_of_another_member_reverts_unknown_node(registry, admin, keys, reverts):
    pubkey = bytes.fromhex(keys.enode_id("SG"))
    with reverts("UnknownNode", enodeHash=keccak(pubkey), memberId=member_id_bytes("TW")):
        registry.remove_node(admin("TW"), "TW", keys.enode_id("SG"))
    assert registry.connection_allowed(keys.enode_id("SG")) is True


def test_remove_unregistered_node_reverts_unknown_node(registry, admin, keys, reverts):
    with reverts("UnknownNode", memberId=member_id_bytes("TW")):
        registry.remove_node(admin("TW"), "TW", keys.enode_id("spare-node"))


# ------------------------------------------------------------------ self-service: admin rotation


def test_set_member_admin_rotates_and_emits(registry, admin, funded, snapshot, logs):
    old = admin("SG")
    new = funded("SG/admin-2")
    receipt = registry.set_member_admin(old, "SG", new.address)
    sg = member_id_bytes("SG")
    assert registry.member("SG").admin == new.address
    assert registry.member_of(new.address) == "SG"
    assert registry.member_of(old.address) is None
    assert logs(receipt, "MemberAdminChanged") == [
        {"id": sg, "oldAdmin": old.address, "newAdmin": new.address}
    ]
    assert logs(receipt, "AccountBound") == [{"account": new.address, "memberId": sg}]
    assert logs(receipt, "AccountUnbound") == [{"account": old.address, "memberId": sg}]


def test_rotated_admin_governs_and_old_admin_no_longer_does(
    registry, admin, funded, reverts, snapshot
):
    old = admin("SG")
    new = funded("SG/admin-2")
    registry.set_member_admin(old, "SG", new.address)
    proposal = registry.propose_remove_member(new, "NZ")
    assert proposal.proposer_member == "SG"
    with reverts("NotActiveMemberAdmin", caller=old.address):
        registry.vote(old, proposal.id, True)
    with reverts("NotMemberAdmin", caller=old.address, memberId=member_id_bytes("SG")):
        registry.set_x25519_key(old, "SG", ZERO_ID)


def test_set_member_admin_to_own_role_account_keeps_it_bound(
    registry, admin, role_account, snapshot, logs
):
    auditor = role_account("TW", "AUDITOR").address
    receipt = registry.set_member_admin(admin("TW"), "TW", auditor)
    assert registry.member("TW").admin == auditor
    assert logs(receipt, "AccountBound") == []  # already bound to TW
    assert registry.member_of(admin("TW").address) is None
    assert registry.has_role("AUDITOR", auditor) is True


def test_rotated_out_admin_holding_a_role_stays_bound(registry, admin, funded, decide, snapshot):
    old = admin("SG")
    decide(registry.propose_grant_role(old, "AUDITOR", old.address, "SG").id, "TW")
    registry.set_member_admin(old, "SG", funded("SG/admin-2").address)
    assert registry.member_of(old.address) == "SG"
    assert registry.roles_of(old.address) == ["AUDITOR"]
    assert registry.transaction_allowed(old.address) is True


def test_set_member_admin_to_current_admin_changes_nothing(registry, admin, snapshot, logs):
    receipt = registry.set_member_admin(admin("TW"), "TW", admin("TW").address)
    assert receipt["logs"] == []
    assert registry.member("TW").admin == admin("TW").address


def test_set_member_admin_to_another_members_account_reverts_admin_in_use(
    registry, admin, role_account, reverts
):
    for taken in (admin("SG").address, role_account("SG", "ISSUER").address):
        with reverts("AdminInUse", admin=taken):
            registry.set_member_admin(admin("TW"), "TW", taken)


def test_set_member_admin_to_zero_reverts_zero_address(registry, admin, reverts):
    with reverts("ZeroAddress"):
        registry.set_member_admin(admin("TW"), "TW", ZERO_ADDRESS)


# ------------------------------------------------------------------ self-service: who may call

SELF_SERVICE = ("addNode", "removeNode", "setMemberAdmin", "setX25519Key")


def self_service(registry, keys, function: str, member: str):
    """A call of `function` about `member` that the member's own admin could make."""
    raw = member_id_bytes(member)
    fns = registry.contract.functions
    if function == "addNode":
        return fns.addNode(raw, bytes.fromhex(keys.enode_id("spare-node")))
    if function == "removeNode":
        return fns.removeNode(raw, bytes.fromhex(keys.enode_id(member)))
    if function == "setMemberAdmin":
        return fns.setMemberAdmin(raw, keys.account("spare-admin").address)
    return fns.setX25519Key(raw, b"\x01" * 32)


@pytest.mark.parametrize("function", SELF_SERVICE)
@pytest.mark.parametrize("caller", ["outsider", "other member's admin", "own role account"])
def test_self_service_by_non_admin_reverts_not_member_admin(
    registry, keys, chain, admin, role_account, outsider, reverts, function, caller, snapshot
):
    sender = {
        "outsider": outsider,
        "other member's admin": admin("SG"),
        "own role account": chain.sender(role_account("TW", "ISSUER")),
    }[caller]
    before = registry.member("TW")
    with reverts("NotMemberAdmin", caller=sender.address, memberId=member_id_bytes("TW")):
        sender.transact(self_service(registry, keys, function, "TW"))
    assert registry.member("TW") == before


@pytest.mark.parametrize("function", SELF_SERVICE)
def test_self_service_for_unknown_member_reverts_unknown_member(
    registry, keys, admin, reverts, function
):
    with reverts("UnknownMember", id=member_id_bytes("XX")):
        admin("TW").transact(self_service(registry, keys, function, "XX"))


@pytest.mark.parametrize("function", SELF_SERVICE)
def test_self_service_by_removed_members_admin_reverts_member_not_active(
    registry, keys, admin, remove_member, reverts, function, snapshot
):
    remove_member("NZ")
    with reverts("MemberNotActive", id=member_id_bytes("NZ")):
        admin("NZ").transact(self_service(registry, keys, function, "NZ"))


# ------------------------------------------------------------------ history from logs alone


def test_registry_state_can_be_rebuilt_from_its_events(
    registry,
    chain,
    w3,
    admin,
    role_account,
    keys,
    funded,
    deployment,
    decide,
    remove_member,
    snapshot,
):
    # A history touching every kind of change: admission, removal, grant, revoke, renounce,
    # admin rotation, node added and removed.
    jp = funded("JP/admin")
    decide(registry.propose_add_member(admin("TW"), "JP", "Japan", jp.address, b"\1" * 32).id, "SG")
    remove_member("NZ")
    decide(
        registry.propose_grant_role(jp, "ISSUER", keys.account("JP/issuer").address, "JP").id, "TW"
    )
    revoke = registry.propose_revoke_role(
        admin("TW"), "AUDITOR", role_account("SG", "AUDITOR").address
    )
    decide(revoke.id, "SG")
    issuer = role_account("TW", "ISSUER")
    chain.sender(issuer).transact(
        registry.contract.functions.renounceRole(role_id("ISSUER"), issuer.address)
    )
    registry.set_member_admin(admin("SG"), "SG", funded("SG/admin-2").address)
    registry.add_node(jp, "JP", keys.enode_id("JP"))
    registry.remove_node(admin("TW"), "TW", keys.enode_id("TW"))

    active, bound, nodes, roles = {}, {}, {}, set()
    start = deployment.contracts["ConsortiumRegistry"].block
    for e in read_events(w3, registry.contract, "ConsortiumRegistry", from_block=start):
        a = e.args
        match e.event:
            case "MemberAdded":
                active[a["id"]] = True
            case "MemberRemoved":
                active[a["id"]] = False
            case "AccountBound":
                bound[a["account"]] = a["memberId"]
            case "AccountUnbound":
                assert bound.pop(a["account"]) == a["memberId"]
            case "NodeAdded":
                nodes[a["enodeHash"]] = (a["id"], bytes(a["enodePubkey"]).hex())
            case "NodeRemoved":
                assert nodes.pop(a["enodeHash"])[0] == a["id"]
            case "RoleGranted":
                roles.add((a["role"], a["account"]))
            case "RoleRevoked":
                roles.remove((a["role"], a["account"]))

    members = registry.members()
    assert active == {member_id_bytes(m.id): m.active for m in members}
    assert bound == {acct: member_id_bytes(m.id) for m in members for acct in m.accounts}
    assert sorted(nodes.values()) == sorted(
        (member_id_bytes(m.id), n) for m in members for n in m.nodes
    )
    assert roles == {
        (role_id(r), acct) for acct in bound for r in ROLE_NAMES if registry.has_role(r, acct)
    }


# ------------------------------------------------------------------ the constructor


@pytest.fixture
def deploy_registry(chain, funded, snapshot):
    """Deploy a fresh ConsortiumRegistry with the given genesis; returns its facade."""
    artifact = chain.artifacts["ConsortiumRegistry"]
    deployer = funded("deployer-2")

    def deploy(voting_period: int, members: list, grants: list) -> ConsortiumRegistry:
        factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = deployer.transact(factory.constructor(voting_period, members, grants))
        contract = chain.w3.eth.contract(
            address=receipt["contractAddress"], abi=artifact.abi, decode_tuples=True
        )
        return ConsortiumRegistry(contract, chain.decoder)

    return deploy


def genesis_member(member_id: str, admin_address: str) -> tuple:
    return (member_id_bytes(member_id), f"{member_id} Customs", admin_address, b"\x07" * 32)


def test_constructor_rejects_zero_voting_period(deploy_registry, admin, reverts, snapshot):
    with reverts("InvalidVotingPeriod", votingPeriod=0):
        deploy_registry(0, [genesis_member("AA", admin("TW").address)], [])


def test_constructor_rejects_empty_genesis(deploy_registry, reverts, snapshot):
    with reverts("NoMembers"):
        deploy_registry(3600, [], [])


def test_constructor_rejects_duplicate_member(deploy_registry, keys, reverts, snapshot):
    a, b = keys.account("AA/admin").address, keys.account("AA/admin-2").address
    with reverts("MemberExists", id=member_id_bytes("AA")):
        deploy_registry(3600, [genesis_member("AA", a), genesis_member("AA", b)], [])


def test_constructor_rejects_shared_admin(deploy_registry, keys, reverts, snapshot):
    a = keys.account("AA/admin").address
    with reverts("AdminInUse", admin=a):
        deploy_registry(3600, [genesis_member("AA", a), genesis_member("BB", a)], [])


def test_constructor_rejects_grant_to_non_genesis_member(deploy_registry, keys, reverts, snapshot):
    a, issuer = keys.account("AA/admin").address, keys.account("AA/issuer").address
    with reverts("UnknownMember", id=member_id_bytes("BB")):
        deploy_registry(
            3600, [genesis_member("AA", a)], [(role_id("ISSUER"), issuer, member_id_bytes("BB"))]
        )


def test_constructor_rejects_unknown_role(deploy_registry, keys, reverts, snapshot):
    a, issuer = keys.account("AA/admin").address, keys.account("AA/issuer").address
    with reverts("UnknownRole", role=keccak(text="CAPTAIN")):
        deploy_registry(
            3600,
            [genesis_member("AA", a)],
            [(keccak(text="CAPTAIN"), issuer, member_id_bytes("AA"))],
        )


def test_single_member_consortium_decides_alone(deploy_registry, funded, snapshot):
    aa_admin = funded("AA/admin")
    solo = deploy_registry(60, [genesis_member("AA", aa_admin.address)], [])
    account = Web3.to_checksum_address("0x" + "42" * 20)
    proposal = solo.propose_grant_role(aa_admin, "ISSUER", account, "AA")
    assert proposal.state == "executed"
    assert solo.has_role("ISSUER", account) is True
    assert solo.member_of(account) == "AA"
