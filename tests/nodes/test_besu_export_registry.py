"""`smartcustoms network besu` reads ConsortiumRegistry: the files match the chain."""

from __future__ import annotations

import json
import tomllib

import pytest

from nodes.network import address_of_node_key, decode_qbft_extra_data
from nodes.network.export import export_besu

pytestmark = pytest.mark.contract


def test_export_matches_registry(chain, registry, keys, tmp_path):
    net = export_besu(chain, tmp_path / "besu", chain_id=1337886)
    genesis = json.loads((tmp_path / "besu" / "genesis.json").read_text())
    decoded = decode_qbft_extra_data(genesis["extraData"])
    members = registry.members(active_only=True)
    expected_validators = {address_of_node_key(keys.node_key(m.id)).lower() for m in members}
    assert {v.lower() for v in decoded.validators} == expected_validators
    assert len(decoded.validators) == 3

    perms = tomllib.loads((tmp_path / "besu" / "TW" / "permissions_config.toml").read_text())
    registry_accounts = {a.lower() for m in members for a in m.accounts}
    assert {a.lower() for a in perms["accounts-allowlist"]} == registry_accounts
    allowlisted_keys = {u.split("//")[1].split("@")[0] for u in perms["nodes-allowlist"]}
    assert allowlisted_keys == {n for m in members for n in m.nodes}
    # Every allowlisted account is one the registry's on-chain permissioning also allows.
    assert all(registry.transaction_allowed(a) for a in perms["accounts-allowlist"])
    assert net.chain_id == genesis["config"]["chainId"] == 1337886


def test_export_leaves_out_removed_members(chain, registry, admin, keys, tmp_path, snapshot):
    p = registry.propose_remove_member(admin("TW"), "NZ")
    registry.vote(admin("SG"), p.id, True)
    export_besu(chain, tmp_path / "besu", chain_id=1337886)
    genesis = json.loads((tmp_path / "besu" / "genesis.json").read_text())
    validators = {v.lower() for v in decode_qbft_extra_data(genesis["extraData"]).validators}
    assert address_of_node_key(keys.node_key("NZ")).lower() not in validators
    assert len(validators) == 2
    assert not (tmp_path / "besu" / "NZ").exists()
    perms = tomllib.loads((tmp_path / "besu" / "SG" / "permissions_config.toml").read_text())
    nz_accounts = set(registry.member("NZ").accounts)
    assert not nz_accounts & set(perms["accounts-allowlist"])
