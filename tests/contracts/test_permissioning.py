"""ConsortiumRegistry as Besu's account and node allowlist.

Besu calls `transactionAllowed` and `connectionAllowed` as views and treats a revert as a
failed check, so besides the answers these tests check that odd input never reverts.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from chain.sender import call
from offchain.settings import ROLE_NAMES

pytestmark = pytest.mark.contract

GENESIS = ("TW", "SG", "NZ")
ZERO_ADDRESS = "0x" + "00" * 20


def transaction_allowed(registry, sender: str, **tx) -> bool:
    fn = registry.contract.functions.transactionAllowed(
        Web3.to_checksum_address(sender),
        tx.get("target", ZERO_ADDRESS),
        tx.get("value", 0),
        tx.get("gas_price", 0),
        tx.get("gas_limit", 0),
        tx.get("payload", b""),
    )
    return call(fn, registry.decoder)


def member_accounts(admin, role_account, member: str) -> list[str]:
    return [admin(member).address, *(role_account(member, r).address for r in ROLE_NAMES)]


# ------------------------------------------------------------------ transactionAllowed


@pytest.mark.parametrize("member", GENESIS)
@pytest.mark.parametrize("account", ["admin", *ROLE_NAMES])
def test_transaction_allowed_for_member_accounts(registry, admin, role_account, member, account):
    address = admin(member).address if account == "admin" else role_account(member, account).address
    assert registry.transaction_allowed(address) is True


def test_transaction_allowed_ignores_target_value_gas_and_payload(registry, role_account):
    issuer = role_account("TW", "ISSUER").address
    assert (
        transaction_allowed(
            registry,
            issuer,
            target=registry.address,
            value=10**18,
            gas_price=2**255,
            gas_limit=2**256 - 1,
            payload=b"\xde\xad" * 500,
        )
        is True
    )


def test_transaction_not_allowed_for_non_members(registry, deployment, keys):
    for account in (keys.account("stranger").address, deployment.deployer, ZERO_ADDRESS):
        assert registry.transaction_allowed(account) is False


def test_transaction_not_allowed_for_any_account_of_removed_member(
    registry, admin, role_account, remove_member, snapshot
):
    remove_member("SG")
    assert [
        registry.transaction_allowed(a) for a in member_accounts(admin, role_account, "SG")
    ] == [False] * 6
    assert all(registry.transaction_allowed(a) for a in member_accounts(admin, role_account, "TW"))


def test_transaction_allowed_for_new_member_admin_after_admission(registry, jp_admin, snapshot):
    assert registry.transaction_allowed(jp_admin.address) is True


def test_transaction_not_allowed_for_rotated_out_admin(registry, admin, funded, snapshot):
    old = admin("NZ").address
    new = funded("NZ/admin-2").address
    registry.set_member_admin(admin("NZ"), "NZ", new)
    assert registry.transaction_allowed(old) is False
    assert registry.transaction_allowed(new) is True


# ------------------------------------------------------------------ connectionAllowed


@pytest.mark.parametrize("member", GENESIS)
@pytest.mark.parametrize(
    "spelling",
    [str.lower, str.upper, lambda e: "0x" + e, lambda e: "0X" + e.upper()],
    ids=["lower", "upper", "0x", "0X-upper"],
)
def test_connection_allowed_for_member_node_in_any_spelling(registry, keys, member, spelling):
    assert registry.connection_allowed(spelling(keys.enode_id(member))) is True


@pytest.mark.parametrize("host, port", [("", 0), ("10.0.0.1", 65535), ("node.example.org", 1)])
def test_connection_allowed_ignores_host_and_port(registry, keys, host, port):
    assert registry.connection_allowed(keys.enode_id("TW"), host, port) is True


def test_connection_not_allowed_for_unknown_node(registry, keys):
    assert registry.connection_allowed(keys.enode_id("stranger")) is False


def test_connection_not_allowed_for_removed_members_node(registry, keys, remove_member, snapshot):
    remove_member("SG")
    assert registry.connection_allowed(keys.enode_id("SG")) is False
    assert registry.connection_allowed(keys.enode_id("TW")) is True


def test_connection_allowed_for_node_added_by_member(registry, admin, keys, snapshot):
    enode = keys.enode_id("TW/node-2")
    assert registry.connection_allowed(enode) is False
    registry.add_node(admin("TW"), "TW", enode)
    assert registry.connection_allowed(enode) is True


def _malformed(enode: str) -> dict[str, str]:
    return {
        "empty": "",
        "127 digits": enode[:-1],
        "129 digits": enode + "0",
        "130 digits without 0x": enode + "00",
        "0x with 126 digits": "0x" + enode[:-2],
        "0x with 130 digits": "0x" + enode + "00",
        "non-hex digit": "g" + enode[1:],
        "space inside": enode[:64] + " " + enode[65:],
        "enode url": f"enode://{enode}@127.0.0.1:30303",
        "x without 0": "xx" + enode,
        "multibyte character": "é" + enode[2:],
        "0x only": "0x",
    }


@pytest.mark.parametrize("case", sorted(_malformed("ab" * 64)))
def test_connection_not_allowed_for_malformed_id_without_reverting(registry, keys, case):
    # Built from a registered node's id, so only the malformation can make it false.
    enode_id = _malformed(keys.enode_id("TW"))[case]
    assert registry.connection_allowed(enode_id) is False


@settings(max_examples=30, deadline=None)
@given(
    upper=st.lists(st.booleans(), min_size=128, max_size=128),
    prefix=st.sampled_from(["", "0x", "0X"]),
)
def test_connection_allowed_for_member_node_in_mixed_case(registry, keys, upper, prefix):
    enode = keys.enode_id("SG")
    mixed = "".join(c.upper() if u else c for c, u in zip(enode, upper, strict=True))
    assert registry.connection_allowed(prefix + mixed) is True


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(enode_id=st.text(max_size=140), host=st.text(max_size=40), port=st.integers(0, 65535))
def test_connection_allowed_never_reverts_on_arbitrary_text(registry, enode_id, host, port):
    assert registry.connection_allowed(enode_id, host, port) is False


@settings(max_examples=30, deadline=None)
@given(pubkey=st.binary(min_size=64, max_size=64))
def test_connection_not_allowed_for_arbitrary_unregistered_key(registry, pubkey):
    assert registry.connection_allowed(pubkey.hex()) is False
