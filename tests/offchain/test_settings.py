"""The one Settings object: defaults, environment (nested with `__`), TOML file, validation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from offchain.settings import REPO_ROOT, ROLE_NAMES, Settings, UnknownMemberError

TOML = """
node_host = "10.0.0.9"

[chain]
anvil_port = 9100
chain_id = 1337

[[members]]
id = "JP"
name = "Japan Customs"
api_port = 8100
roles = ["ISSUER", "VERIFIER"]
"""


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SMARTCUSTOMS_* variables, and a working directory without smartcustoms.toml."""
    for name in list(os.environ):
        if name.startswith("SMARTCUSTOMS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults_run_three_members_on_one_machine(clean_env: Path) -> None:
    s = Settings()
    assert [(m.id, m.api_port) for m in s.members] == [("TW", 8000), ("SG", 8001), ("NZ", 8002)]
    assert all(m.roles == list(ROLE_NAMES) for m in s.members)
    assert s.chain.rpc_url == "http://127.0.0.1:8545"
    assert s.chain.chain_id == 31337
    assert s.home == REPO_ROOT / "var"
    assert s.keys_dir == REPO_ROOT / "var" / "keys"
    assert s.deployment_file == REPO_ROOT / "var" / "deployments" / "devnet.json"
    assert s.node_dir("SG") == REPO_ROOT / "var" / "nodes" / "SG"


def test_rpc_url_follows_anvil_host_and_port_unless_given(clean_env: Path) -> None:
    derived = Settings(chain={"anvil_host": "0.0.0.0", "anvil_port": 9545})
    assert derived.chain.rpc_url == "http://0.0.0.0:9545"
    explicit = Settings(chain={"anvil_port": 9545, "rpc_url": "http://10.0.0.5:8545"})
    assert explicit.chain.rpc_url == "http://10.0.0.5:8545"


def test_instances_do_not_share_the_chain_section(clean_env: Path) -> None:
    a, b = Settings(), Settings()
    a.chain.anvil_port = 1
    assert b.chain.anvil_port == 8545


def test_environment_overrides_defaults_including_nested_sections(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTCUSTOMS_HOME", str(clean_env / "state"))
    monkeypatch.setenv("SMARTCUSTOMS_NODE_HOST", "0.0.0.0")
    monkeypatch.setenv("SMARTCUSTOMS_CHAIN__ANVIL_PORT", "9999")
    monkeypatch.setenv("SMARTCUSTOMS_CHAIN__RECEIPT_TIMEOUT_S", "2.5")
    s = Settings()
    assert s.home == clean_env / "state"
    assert s.keys_dir == clean_env / "state" / "keys"
    assert s.node_host == "0.0.0.0"
    assert s.chain.anvil_port == 9999
    assert s.chain.rpc_url == "http://127.0.0.1:9999"
    assert s.chain.receipt_timeout_s == 2.5
    assert s.chain.chain_id == 31337  # untouched siblings keep their defaults


def test_members_can_be_given_as_json_in_the_environment(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = [{"id": "JP", "name": "Japan Customs", "api_port": 8100, "roles": ["AUDITOR"]}]
    monkeypatch.setenv("SMARTCUSTOMS_MEMBERS", json.dumps(members))
    s = Settings()
    assert [(m.id, m.api_port, m.roles) for m in s.members] == [("JP", 8100, ["AUDITOR"])]


def test_smartcustoms_toml_in_the_working_directory_is_read(clean_env: Path) -> None:
    (clean_env / "smartcustoms.toml").write_text(TOML)
    s = Settings()
    assert s.node_host == "10.0.0.9"
    assert s.chain.rpc_url == "http://127.0.0.1:9100"
    assert s.chain.chain_id == 1337
    assert [m.id for m in s.members] == ["JP"]
    assert s.members[0].roles == ["ISSUER", "VERIFIER"]


def test_environment_wins_over_toml_and_merges_into_its_sections(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_env / "smartcustoms.toml").write_text(TOML)
    monkeypatch.setenv("SMARTCUSTOMS_NODE_HOST", "192.168.1.1")
    monkeypatch.setenv("SMARTCUSTOMS_CHAIN__CHAIN_ID", "5")
    s = Settings()
    assert s.node_host == "192.168.1.1"
    assert s.chain.chain_id == 5
    assert s.chain.anvil_port == 9100  # from the file, same section as the env override


def test_smartcustoms_config_names_the_file_when_set_before_start(clean_env: Path) -> None:
    config = clean_env / "elsewhere.toml"
    config.write_text(TOML)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCUSTOMS_")}
    env["SMARTCUSTOMS_CONFIG"] = str(config)
    code = (
        "from offchain.settings import Settings; s = Settings(); "
        "print(s.node_host, s.chain.rpc_url, [m.id for m in s.members])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split() == ["10.0.0.9", "http://127.0.0.1:9100", "['JP']"]


def test_smartcustoms_config_set_at_runtime_is_read(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = clean_env / "elsewhere.toml"
    config.write_text(TOML)
    monkeypatch.setenv("SMARTCUSTOMS_CONFIG", str(config))
    assert Settings().node_host == "10.0.0.9"


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        (
            [
                {"id": "TW", "name": "a", "api_port": 8000},
                {"id": "TW", "name": "b", "api_port": 8001},
            ],
            "member ids must be unique",
        ),
        (
            [
                {"id": "TW", "name": "a", "api_port": 8000},
                {"id": "SG", "name": "b", "api_port": 8000},
            ],
            "member api ports must be unique",
        ),
        ([], "at least one member"),
        ([{"id": "tw", "name": "a", "api_port": 8000}], "pattern"),
        ([{"id": "TW", "name": "a", "api_port": 70000}], "less than or equal to 65535"),
    ],
    ids=["duplicate-id", "duplicate-port", "no-members", "lowercase-id", "port-range"],
)
def test_invalid_member_lists_are_rejected(
    clean_env: Path, members: list[dict], expected: str
) -> None:
    with pytest.raises(ValidationError, match=expected):
        Settings(members=members)


def test_unknown_role_is_rejected_naming_the_known_ones(clean_env: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(members=[{"id": "TW", "name": "a", "api_port": 8000, "roles": ["ISSUER", "KING"]}])
    text = str(caught.value)
    assert "unknown role(s) ['KING']" in text
    assert "PERMIT_AGENCY" in text


def test_invalid_environment_value_is_rejected(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTCUSTOMS_CHAIN__ANVIL_PORT", "not-a-port")
    with pytest.raises(ValidationError, match="anvil_port"):
        Settings()


def test_member_lookup(clean_env: Path) -> None:
    s = Settings()
    assert s.member("SG").name == "Singapore Customs"
    with pytest.raises(UnknownMemberError) as caught:
        s.member("XX")
    assert "'XX'" in str(caught.value)
    assert "TW, SG, NZ" in str(caught.value)
    assert isinstance(caught.value, LookupError)
