"""The Besu QBFT export, checked by decoding what it writes (Besu itself cannot run here)."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
import rlp
from eth_keys import keys
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.network import (
    BesuMember,
    NetworkConfigError,
    QbftExtraData,
    QbftVote,
    address_of_node_key,
    decode_qbft_extra_data,
    encode_qbft_extra_data,
    enode_of,
    write_besu_network,
)

CHAIN_ID = 20250
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def node_key(label: str) -> bytes:
    return keccak(text=f"node key of {label}")


def account(label: str) -> str:
    return to_checksum_address(keccak(text=f"account of {label}")[-20:])


def independent_enode(key: bytes) -> str:
    """The enode id computed without the module under test."""
    return keys.PrivateKey(key).public_key.to_bytes().hex()


def independent_address(key: bytes) -> str:
    return keys.PrivateKey(key).public_key.to_checksum_address()


@pytest.fixture
def members() -> list[BesuMember]:
    admins = [
        ("TW", "Taiwan Customs Administration", "10.0.0.1"),
        ("SG", "Singapore Customs", "10.0.0.2"),
        ("NZ", "New Zealand Customs Service", "10.0.0.3"),
        ("AU", "Australian Border Force", "10.0.0.4"),
    ]
    return [
        BesuMember(
            member_id=mid,
            name=name,
            node_key=node_key(mid),
            accounts=(account(f"{mid}-issuer"), account(f"{mid}-oracle")),
            enodes=(),
            host=host,
        )
        for mid, name, host in admins
    ]


@pytest.fixture
def network(tmp_path: Path, members: list[BesuMember]):
    out = tmp_path / "besu"
    result = write_besu_network(
        out, members, chain_id=CHAIN_ID, registry_address=REGISTRY, registry_block=1234
    )
    return out, result


# --- genesis and extraData -------------------------------------------------------------


def test_genesis_extra_data_names_every_member_validator_in_ascending_order(network, members):
    out, result = network
    genesis = json.loads((out / "genesis.json").read_text())

    decoded = decode_qbft_extra_data(genesis["extraData"])

    expected = sorted(
        (independent_address(m.node_key) for m in members), key=lambda a: bytes.fromhex(a[2:])
    )
    assert list(decoded.validators) == expected
    assert list(result.validators) == expected
    assert decoded.vanity == bytes(32)
    assert decoded.vote is None
    assert decoded.round == 0
    assert decoded.seals == ()


def test_genesis_is_a_qbft_genesis_for_the_chain_id(network, members):
    out, _ = network
    genesis = json.loads((out / "genesis.json").read_text())

    config = genesis["config"]
    assert config["chainId"] == CHAIN_ID
    assert config["qbft"] == {
        "blockperiodseconds": 2,
        "epochlength": 30000,
        "requesttimeoutseconds": 10,
    }
    assert config["zeroBaseFee"] is True
    assert {config[k] for k in ("berlinBlock", "londonBlock", "shanghaiTime", "cancunTime")} == {0}
    assert (
        genesis["mixHash"] == "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
    )
    funded = {f"0x{addr}" for addr in genesis["alloc"]}
    assert funded == {a.lower() for m in members for a in m.accounts}
    assert all(int(entry["balance"], 16) > 0 for entry in genesis["alloc"].values())


def test_prefunded_balances_are_added_and_override(tmp_path, members):
    extra = "0x" + "42" * 20
    first_account = members[0].accounts[0]
    write_besu_network(
        tmp_path / "net",
        members,
        chain_id=CHAIN_ID,
        prefunded={extra: 7, first_account: 0},
    )
    alloc = json.loads((tmp_path / "net" / "genesis.json").read_text())["alloc"]
    assert alloc["42" * 20]["balance"] == "0x7"
    assert alloc[first_account[2:].lower()]["balance"] == "0x0"


def test_encoding_matches_besu_codec_known_vector():
    # RAW_HEX_ENCODING_STRING of Besu's QbftExtraDataCodecTest (hyperledger/besu,
    # consensus/qbft/src/test/.../QbftExtraDataCodecTest.java): vanity 0x01..0x20, validators
    # 0x..01 and 0x..02, an add vote for 0x..01, round 0xFEDCBA, seals (r=1,s=10,v=0), (r=10,s=1,v=0).
    besu_vector = (
        "0xf8f0a00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20ea940000000000000000"
        "000000000000000000000001940000000000000000000000000000000000000002d7940000000000000000"
        "00000000000000000000000181ff83fedcbaf886b841000000000000000000000000000000000000000000"
        "0000000000000000000001000000000000000000000000000000000000000000000000000000000000000a"
        "00b841000000000000000000000000000000000000000000000000000000000000000a0000000000000000"
        "00000000000000000000000000000000000000000000000100"
    )
    one, two = "0x" + "00" * 19 + "01", "0x" + "00" * 19 + "02"

    def seal(r: int, s: int) -> bytes:
        return r.to_bytes(32, "big") + s.to_bytes(32, "big") + b"\x00"

    encoded = encode_qbft_extra_data(
        [one, two],
        vanity=bytes(range(1, 33)),
        vote=QbftVote(recipient=one, add=True),
        round_number=0xFEDCBA,
        seals=[seal(1, 10), seal(10, 1)],
    )

    assert "0x" + encoded.hex() == besu_vector
    decoded = decode_qbft_extra_data(besu_vector)
    assert decoded == QbftExtraData(
        vanity=bytes(range(1, 33)),
        validators=(to_checksum_address(one), to_checksum_address(two)),
        vote=QbftVote(recipient=to_checksum_address(one), add=True),
        round=0xFEDCBA,
        seals=(seal(1, 10), seal(10, 1)),
    )


def test_besu_docs_qbft_genesis_extra_data_round_trips():
    # The extraData of the QBFT genesis example in Besu's documentation
    # (docs/private-networks/how-to/configure/consensus/qbft.md): empty vote c0, round 80, seals c0.
    docs_extra_data = (
        "0xf87aa00000000000000000000000000000000000000000000000000000000000000000f8549464a702e6263b"
        "7297a96638cac6ae65e6541f4169943923390ad55e90c237593b3b0e401f3b08a0318594aefdb9a738c9f433"
        "e5b6b212a6d62f6370c2f69294c7eeb9a4e00ce683cf93039b212648e01c6c6b78c080c0"
    )
    decoded = decode_qbft_extra_data(docs_extra_data)
    assert [v.lower() for v in decoded.validators] == [
        "0x64a702e6263b7297a96638cac6ae65e6541f4169",
        "0x3923390ad55e90c237593b3b0e401f3b08a03185",
        "0xaefdb9a738c9f433e5b6b212a6d62f6370c2f692",
        "0xc7eeb9a4e00ce683cf93039b212648e01c6c6b78",
    ]
    assert "0x" + encode_qbft_extra_data(decoded.validators).hex() == docs_extra_data


def test_ibft2_extra_data_is_not_taken_for_qbft():
    # IBFT 2.0 genesis example from Besu's docs: absent vote as 0x80, round as 4 fixed bytes.
    ibft2 = (
        "0xf83ea00000000000000000000000000000000000000000000000000000000000000000d5949811ebc35d7b"
        "06b3fa8dc5809a1f9c52751e1deb808400000000c0"
    )
    with pytest.raises(NetworkConfigError, match=r"IBFT 2\.0"):
        decode_qbft_extra_data(ibft2)


@pytest.mark.parametrize(
    ("extra_data", "names"),
    [
        ("0xzz", "not hex"),
        ("0x", "empty"),
        ("0x" + rlp.encode([b"\x00" * 32, [], []]).hex(), "QBFT structure"),
        ("0x" + rlp.encode([b"\x00" * 31, [], [], b"", []]).hex(), "vanity"),
        ("0x" + rlp.encode([b"\x00" * 32, [b"\x01" * 19], [], b"", []]).hex(), "address"),
        ("0x" + rlp.encode([b"\x00" * 32, [], [], b"\x00\x01", []]).hex(), "leading zero"),
        (
            "0x" + rlp.encode([b"\x00" * 32, [], [b"\x01" * 20, b"\x01"], b"", []]).hex(),
            "vote type",
        ),
        ("0x" + rlp.encode([b"\x00" * 32, [], [], b"", [b"\x01" * 64]]).hex(), "seal"),
    ],
)
def test_malformed_extra_data_is_rejected_naming_the_field(extra_data, names):
    with pytest.raises(NetworkConfigError, match=names):
        decode_qbft_extra_data(extra_data)


addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)


@settings(max_examples=200, deadline=None)
@given(
    validators=st.lists(addresses, min_size=1, max_size=16),
    vanity=st.binary(min_size=32, max_size=32),
    vote=st.none() | st.builds(QbftVote, recipient=addresses, add=st.booleans()),
    round_number=st.integers(min_value=0, max_value=2**31 - 1),
    seals=st.lists(st.binary(min_size=65, max_size=65), max_size=4),
)
def test_extra_data_round_trips(validators, vanity, vote, round_number, seals):
    encoded = encode_qbft_extra_data(
        validators, vanity=vanity, vote=vote, round_number=round_number, seals=seals
    )
    decoded = decode_qbft_extra_data("0x" + encoded.hex())
    assert decoded == QbftExtraData(vanity, tuple(validators), vote, round_number, tuple(seals))
    assert (
        encode_qbft_extra_data(
            decoded.validators,
            vanity=decoded.vanity,
            vote=decoded.vote,
            round_number=decoded.round,
            seals=decoded.seals,
        )
        == encoded
    )


# --- keys ------------------------------------------------------------------------------


def test_enode_of_the_key_one_is_the_curve_generator():
    one = (1).to_bytes(32, "big")
    generator_x = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    generator_y = "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"
    assert enode_of(one) == generator_x + generator_y
    assert address_of_node_key(one) == "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"


def test_enode_and_address_agree_with_eth_keys(members):
    for member in members:
        assert enode_of(member.node_key) == independent_enode(member.node_key)
        assert len(enode_of(member.node_key)) == 128
        assert address_of_node_key(member.node_key) == independent_address(member.node_key)


def test_key_files_hold_the_node_key_privately(network, members):
    out, _ = network
    for member in members:
        key_file = out / member.member_id / "key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        text = key_file.read_text()
        assert text.splitlines() == [text]  # one line, as Besu's KeyPairUtil requires
        assert bytes.fromhex(text.removeprefix("0x")) == member.node_key
        pub = (out / member.member_id / "key.pub").read_text()
        assert pub == "0x" + independent_enode(member.node_key)


# --- permissioning and node configuration ----------------------------------------------


def test_permissions_allowlists_equal_the_registry_inputs(network, members):
    out, result = network
    expected_accounts = [a.lower() for m in members for a in m.accounts]
    expected_nodes = [
        f"enode://{independent_enode(m.node_key)}@{m.host}:{m.p2p_port}" for m in members
    ]
    for member in members:
        permissions = tomllib.loads(
            (out / member.member_id / "permissions_config.toml").read_text()
        )
        assert permissions["accounts-allowlist"] == expected_accounts
        assert permissions["nodes-allowlist"] == expected_nodes
    assert list(result.nodes_allowlist) == expected_nodes
    assert list(result.accounts_allowlist) == expected_accounts


def test_extra_enodes_are_allowlisted_with_a_usable_endpoint(tmp_path, members):
    bare = independent_enode(node_key("TW-archive"))
    full = f"enode://{independent_enode(node_key('SG-rpc'))}@10.0.9.9:30400"
    members[0] = replace(members[0], enodes=(bare,))
    members[1] = replace(members[1], enodes=(full,))
    out = tmp_path / "net"
    write_besu_network(out, members, chain_id=CHAIN_ID)

    allowlist = tomllib.loads((out / "TW" / "permissions_config.toml").read_text())[
        "nodes-allowlist"
    ]
    assert f"enode://{bare}@10.0.0.1:30304" in allowlist  # next free port after TW's validator
    assert full in allowlist
    assert len(allowlist) == len(members) + 2
    assert "(*assigned*)" in (out / "README.md").read_text()


def test_node_config_points_at_the_exported_files(network, members):
    out, _ = network
    for member in members:
        config = tomllib.loads((out / member.member_id / "config.toml").read_text())
        for option in (
            "genesis-file",
            "node-private-key-file",
            "static-nodes-file",
            "permissions-nodes-config-file",
            "permissions-accounts-config-file",
        ):
            assert (out / config[option]).is_file(), option
        assert config["node-private-key-file"] == f"{member.member_id}/key"
        assert config["data-path"] == f"{member.member_id}/data"
        assert config["p2p-host"] == member.host
        assert config["p2p-port"] == member.p2p_port
        assert config["rpc-http-port"] == member.rpc_port
        assert config["rpc-http-enabled"] is True
        assert "QBFT" in config["rpc-http-api"]
        assert config["permissions-nodes-config-file-enabled"] is True
        assert config["permissions-accounts-config-file-enabled"] is True
        assert config["min-gas-price"] == 0


def test_static_nodes_list_every_validator(network, members):
    out, result = network
    static = json.loads((out / "static-nodes.json").read_text())
    assert static == [
        f"enode://{independent_enode(m.node_key)}@{m.host}:{m.p2p_port}" for m in members
    ]
    assert static == list(result.validator_enodes.values())


def test_readme_says_how_it_was_checked_and_when_to_reexport(network, members):
    out, _ = network
    readme = (out / "README.md").read_text()
    assert "not by running Besu" in readme
    assert "SMARTCUSTOMS_RPC_URL=http://127.0.0.1:8545" in readme
    assert f"SMARTCUSTOMS_CHAIN_ID={CHAIN_ID}" in readme
    assert f"{REGISTRY}, block 1234" in readme
    assert "24.12" in readme
    for member in members:
        assert f"besu --config-file={member.member_id}/config.toml" in readme


# --- files on disk ---------------------------------------------------------------------


def test_export_is_deterministic_and_overwrite_is_explicit(tmp_path, members):
    first, second = tmp_path / "a", tmp_path / "b"
    write_besu_network(first, members, chain_id=CHAIN_ID)
    write_besu_network(second, members, chain_id=CHAIN_ID)
    for path in first.rglob("*"):
        if path.is_file():
            assert path.read_bytes() == (second / path.relative_to(first)).read_bytes()

    with pytest.raises(NetworkConfigError, match="not empty"):
        write_besu_network(first, members, chain_id=CHAIN_ID)
    write_besu_network(first, members, chain_id=CHAIN_ID, overwrite=True)


def test_started_network_keeps_its_genesis(tmp_path, members):
    out = tmp_path / "net"
    write_besu_network(out, members, chain_id=CHAIN_ID)
    (out / "TW" / "data").mkdir()
    genesis = (out / "genesis.json").read_text()

    with pytest.raises(NetworkConfigError, match="qbft_proposeValidatorVote"):
        write_besu_network(out, members[:3], chain_id=CHAIN_ID, overwrite=True)
    more = [replace(members[0], accounts=(*members[0].accounts, account("TW-new"))), *members[1:]]
    with pytest.raises(NetworkConfigError, match="new directory"):
        write_besu_network(out, more, chain_id=CHAIN_ID, overwrite=True)
    assert (out / "genesis.json").read_text() == genesis

    # Re-exporting the same registry state over a started network is harmless.
    write_besu_network(out, members, chain_id=CHAIN_ID, overwrite=True)
    assert (out / "genesis.json").read_text() == genesis


def test_interrupted_write_leaves_the_previous_file_whole(tmp_path, members, monkeypatch):
    out = tmp_path / "net"
    write_besu_network(out, members, chain_id=CHAIN_ID)
    before = (out / "genesis.json").read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_besu_network(out, members, chain_id=CHAIN_ID + 1, overwrite=True)

    assert (out / "genesis.json").read_bytes() == before
    assert not [p for p in out.rglob("*.tmp")]


# --- validation ------------------------------------------------------------------------


def _bad(members: list[BesuMember], index: int, **changes) -> list[BesuMember]:
    changed = list(members)
    changed[index] = replace(changed[index], **changes)
    return changed


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda ms: [], "no members"),
        (lambda ms: _bad(ms, 1, member_id="tw"), "duplicate member id"),
        (lambda ms: _bad(ms, 1, member_id="../etc"), "directory name"),
        (lambda ms: _bad(ms, 1, node_key=ms[0].node_key), "duplicate node key"),
        (lambda ms: _bad(ms, 1, node_key=b"\x01" * 31), "must be 32 bytes"),
        (lambda ms: _bad(ms, 1, node_key=bytes(32)), "not a valid secp256k1 private key"),
        (lambda ms: _bad(ms, 1, node_key=(b"\x01" * 32).hex()), "must be bytes"),
        (lambda ms: _bad(ms, 2, accounts=("0x1234",)), "is not a valid address"),
        (lambda ms: _bad(ms, 2, accounts=ms[0].accounts[:1]), "listed by both members"),
        (lambda ms: _bad(ms, 2, accounts="0x" + "11" * 20), "not one string"),
        (lambda ms: _bad(ms, 3, host="customs.example.org"), "not an IP address"),
        (lambda ms: _bad(ms, 3, host=ms[0].host), "already used by member 'TW' p2p"),
        (lambda ms: _bad(ms, 3, rpc_port=70000), "between 1 and 65535"),
        (lambda ms: _bad(ms, 3, enodes=("ab" * 64,)), "not a secp256k1 public key"),
        (lambda ms: _bad(ms, 3, enodes=("enode://xyz@10.0.0.9:1",)), "not an enode URL"),
        (
            lambda ms: _bad(ms, 3, enodes=(independent_enode(ms[0].node_key),)),
            "already registered for member 'TW'",
        ),
        (lambda ms: [replace(m, accounts=()) for m in ms], "no member has an account"),
    ],
)
def test_bad_members_raise_a_network_config_error_naming_the_problem(
    tmp_path, members, mutate, message
):
    out = tmp_path / "net"
    with pytest.raises(NetworkConfigError, match=message):
        write_besu_network(out, mutate(members), chain_id=CHAIN_ID)
    assert not out.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"chain_id": 0}, "chain_id must be a positive integer"),
        ({"chain_id": True}, "chain_id must be a positive integer"),
        ({"chain_id": CHAIN_ID, "block_period_s": 0}, "block_period_s"),
        ({"chain_id": CHAIN_ID, "registry_address": "0xnope"}, "registry_address"),
        ({"chain_id": CHAIN_ID, "prefunded": {"0x" + "11" * 20: -1}}, "whole wei"),
    ],
)
def test_bad_settings_raise_a_network_config_error(tmp_path, members, options, message):
    with pytest.raises(NetworkConfigError, match=message):
        write_besu_network(tmp_path / "net", members, **options)


def test_every_problem_is_reported_at_once(tmp_path, members):
    broken = _bad(_bad(members, 1, node_key=b"\x01"), 2, accounts=("nope",))
    with pytest.raises(NetworkConfigError) as raised:
        write_besu_network(tmp_path / "net", broken, chain_id=CHAIN_ID)
    assert len(raised.value.problems) == 2
    assert "member 'SG'" in str(raised.value)
    assert "member 'NZ'" in str(raised.value)


def test_output_path_that_is_a_file_is_refused(tmp_path, members):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(NetworkConfigError, match="not a directory"):
        write_besu_network(target, members, chain_id=CHAIN_ID)
