"""ensure_deployed: deploy once, reuse while the chain holds the code, redeploy saying why."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from web3 import Web3

from chain.client import connect
from chain.context import Chain
from chain.deploy import Deployment, ensure_deployed, load_deployment
from chain.devnet import Devnet, free_port
from chain.errors import ChainError
from offchain.keystore import Keystore, member_admin_name, role_account_name
from offchain.settings import ROLE_NAMES, Settings

pytestmark = pytest.mark.contract


class Env:
    """A private chain and installation home, so the session chain is left alone."""

    def __init__(self, settings: Settings, devnet: Devnet) -> None:
        self.settings = settings
        self.devnet = devnet
        self.messages: list[str] = []

    @property
    def w3(self) -> Web3:
        return connect(self.settings)

    def ensure(self, **kwargs: object) -> tuple[Deployment, bool]:
        self.messages.clear()
        return ensure_deployed(self.settings, self.w3, progress=self.messages.append, **kwargs)

    def reset_chain(self) -> None:
        self.devnet.stop()
        self.devnet.state_file.unlink()
        self.devnet.start()


@pytest.fixture
def env(tmp_path: Path, settings: Settings, deployment: Deployment) -> Iterator[Env]:
    home = tmp_path / "var"
    # reuse the session's compile cache: compiling the registry takes seconds
    shutil.copytree(settings.build_dir, home / "build")
    mine = Settings(home=home, chain={"anvil_port": free_port(), "voting_period_s": 3600})
    with Devnet.from_settings(mine) as dn:
        yield Env(mine, dn)


def test_first_run_deploys_and_records_the_deployment(env: Env) -> None:
    dep, reused = env.ensure()
    assert reused is False
    address = dep.address("ConsortiumRegistry")
    assert len(env.w3.eth.get_code(address)) > 0
    record = json.loads(env.settings.deployment_file.read_text())
    assert record["contracts"]["ConsortiumRegistry"]["address"] == address
    assert record["chain_id"] == 31337
    assert record["rpc_url"] == env.settings.chain.rpc_url
    assert record["contracts"]["ConsortiumRegistry"]["artifact_hash"].startswith("0x")
    assert set(record["members"]) == {"TW", "SG", "NZ"}
    assert load_deployment(env.settings.deployment_file) == dep
    assert "funded development accounts" in env.messages
    assert f"ConsortiumRegistry at {address}" in env.messages
    assert "registered 3 members and their nodes" in env.messages


def test_second_run_reuses_the_deployment(env: Env) -> None:
    first, _ = env.ensure()
    block = env.w3.eth.block_number
    second, reused = env.ensure()
    assert reused is True
    assert second == first
    assert env.messages == [f"reusing deployment from {first.deployed_at}"]
    assert env.w3.eth.block_number == block  # nothing was sent


def test_force_redeploys(env: Env) -> None:
    first, _ = env.ensure()
    second, reused = env.ensure(force=True)
    assert reused is False
    assert second.address("ConsortiumRegistry") != first.address("ConsortiumRegistry")
    saved = load_deployment(env.settings.deployment_file)
    assert saved.address("ConsortiumRegistry") == second.address("ConsortiumRegistry")


def test_reset_chain_is_redeployed_saying_why(env: Env) -> None:
    first, _ = env.ensure()
    address = first.address("ConsortiumRegistry")
    env.reset_chain()
    assert len(env.w3.eth.get_code(address)) == 0
    second, reused = env.ensure()
    assert reused is False
    assert (
        f"redeploying: no code at ConsortiumRegistry's address {address} (chain state was reset?)"
    ) in env.messages
    assert len(env.w3.eth.get_code(second.address("ConsortiumRegistry"))) > 0
    assert env.ensure()[1] is True


def test_restarted_chain_with_its_state_reuses_the_deployment(env: Env) -> None:
    first, _ = env.ensure()
    env.devnet.stop()
    env.devnet.start()
    second, reused = env.ensure()
    assert reused is True
    assert second == first


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda r: r.update(chain_id=1), "recorded for chain id 1, chain has 31337"),
        (
            lambda r: r["contracts"]["ConsortiumRegistry"].update(artifact_hash="0x00"),
            "ConsortiumRegistry changed since it was deployed",
        ),
        (lambda r: r["contracts"].clear(), "ConsortiumRegistry missing from the record"),
    ],
    ids=["other-chain", "changed-code", "missing-contract"],
)
def test_record_that_does_not_match_is_redeployed(
    env: Env, edit: Callable[[dict], object], why: str
) -> None:
    env.ensure()
    record = json.loads(env.settings.deployment_file.read_text())
    edit(record)
    env.settings.deployment_file.write_text(json.dumps(record))
    _, reused = env.ensure()
    assert reused is False
    assert f"redeploying: {why}" in env.messages
    assert env.ensure()[1] is True


@pytest.mark.parametrize(
    "content",
    [
        "",
        '{"chain_id": 31337, "contr',
        "[]",
        '"text"',
        "null",
        '{"chain_id": 1}',
        '{"contracts": {"ConsortiumRegistry": {"address": "0x1"}}}',
    ],
    ids=["empty", "truncated", "list", "string", "null", "missing-keys", "bad-contract"],
)
def test_corrupted_deployment_file_says_to_delete_it(env: Env, content: str) -> None:
    path = env.settings.deployment_file
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(ChainError) as caught:
        env.ensure()
    assert str(path) in str(caught.value)
    assert "is not a valid deployment record" in str(caught.value)
    assert "delete it to redeploy" in str(caught.value)
    assert path.read_text() == content  # left for the person to inspect


def test_deployment_file_with_contracts_as_a_list_says_to_delete_it(env: Env) -> None:
    path = env.settings.deployment_file
    path.parent.mkdir(parents=True)
    path.write_text('{"chain_id": 31337, "contracts": []}')
    with pytest.raises(ChainError, match="delete it to redeploy"):
        env.ensure()


def test_members_are_registered_with_their_nodes_and_roles(env: Env) -> None:
    dep, _ = env.ensure()
    keys = Keystore(env.settings.keys_dir)
    registry = Chain(env.settings).registry
    members = {m.id: m for m in registry.members()}
    assert list(members) == ["TW", "SG", "NZ"]
    for config in env.settings.members:
        member = members[config.id]
        assert member.active
        assert member.name == config.name
        assert member.admin == keys.account(member_admin_name(config.id)).address
        assert member.nodes == (keys.enode_id(config.id),)
        assert member.x25519_key == "0x" + bytes(keys.box_key(config.id).public_key).hex()
        assert dep.members[config.id]["enode"] == keys.enode_id(config.id)
        for role in ROLE_NAMES:
            account = keys.account(role_account_name(config.id, role)).address
            assert registry.has_role(role, account), (config.id, role)
            assert registry.member_of(account) == config.id
            assert dep.members[config.id]["accounts"][role] == account
    tw_issuer = keys.account(role_account_name("TW", "ISSUER")).address
    assert registry.roles_of(tw_issuer) == ["ISSUER"]  # one account per role
    assert registry.roles_of(keys.account(member_admin_name("TW")).address) == []
