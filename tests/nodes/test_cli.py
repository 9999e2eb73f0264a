"""The `smartcustoms` command as a user runs it: a real process against the session chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from chain.devnet import free_port
from offchain.settings import Settings

pytestmark = pytest.mark.contract


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SMARTCUSTOMS_HOME": str(settings.home),
        "SMARTCUSTOMS_CHAIN__ANVIL_PORT": str(settings.chain.anvil_port),
        "SMARTCUSTOMS_CHAIN__VOTING_PERIOD_S": str(settings.chain.voting_period_s),
        "NO_COLOR": "1",
        "COLUMNS": "120",
        **extra,
    }


def sc(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nodes.cli", *args],
        capture_output=True,
        text=True,
        env=_env(settings, **env),
        timeout=120,
    )


def test_members_list_json(settings, deployment):
    out = sc(settings, "members", "list", "--json")
    assert out.returncode == 0, out.stderr
    members = json.loads(out.stdout)
    assert [m["id"] for m in members] == ["TW", "SG", "NZ"]


def test_members_list_is_readable(settings, deployment):
    out = sc(settings, "members", "list")
    assert out.returncode == 0, out.stderr
    assert "Taiwan Customs Administration" in out.stdout
    assert "Consortium members" in out.stdout


def test_unknown_member_is_one_clear_line(settings, deployment):
    out = sc(settings, "members", "show", "XX")
    assert out.returncode == 1
    assert "UnknownMember(id='XX')" in out.stderr
    assert "Traceback" not in out.stderr


def test_acting_as_unconfigured_member_names_the_configured_ones(settings, deployment):
    out = sc(settings, "members", "vote", "1", "--as", "QQ", "--json")
    assert out.returncode == 1
    err = json.loads(out.stdout)
    assert err["error"] == "unknown_member"  # the code the API answers too
    assert "TW, SG, NZ" in err["detail"]


def test_propose_and_vote_through_the_cli(settings, deployment, snapshot):
    proposed = sc(
        settings, "members", "propose", "remove", "--as", "TW", "--member", "NZ", "--json"
    )
    assert proposed.returncode == 0, proposed.stderr
    pid = json.loads(proposed.stdout)["id"]
    dup = sc(settings, "members", "vote", str(pid), "--as", "TW")
    assert dup.returncode == 1 and "AlreadyVoted" in dup.stderr
    voted = sc(settings, "members", "vote", str(pid), "--as", "SG", "--json")
    assert voted.returncode == 0, voted.stderr
    assert json.loads(voted.stdout)["state"] == "executed"


def test_propose_missing_option_is_usage_error(settings, deployment):
    out = sc(settings, "members", "propose", "grant", "--as", "TW", "--role", "ISSUER")
    assert out.returncode == 2
    assert "--account" in out.stderr


def test_chain_down_is_a_clear_error(settings, tmp_path):
    out = sc(
        settings,
        "members",
        "list",
        SMARTCUSTOMS_CHAIN__ANVIL_PORT=str(free_port()),
        SMARTCUSTOMS_HOME=str(tmp_path),
    )
    assert out.returncode == 1
    assert "no chain answers at http://127.0.0.1:" in out.stderr
    assert "smartcustoms devnet up" in out.stderr


def test_devnet_status_on_closed_port_exits_1(settings, tmp_path):
    out = sc(
        settings,
        "devnet",
        "status",
        "--json",
        SMARTCUSTOMS_CHAIN__ANVIL_PORT=str(free_port()),
        SMARTCUSTOMS_HOME=str(tmp_path),
    )
    assert out.returncode == 1
    assert json.loads(out.stdout)["answering"] is False


def test_deploy_reuses_the_session_deployment(settings, deployment):
    out = sc(settings, "deploy", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["reused"] is True
    assert data["contracts"]["ConsortiumRegistry"]["address"] == deployment.address(
        "ConsortiumRegistry"
    )


def test_apikey_create_prints_key_once(settings):
    out = sc(
        settings, "node", "apikey", "--member", "SG", "--user", "ana", "--role", "officer", "--json"
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["key"].startswith("sc_sg_") and data["role"] == "officer"
    bad = sc(settings, "node", "apikey", "--member", "SG", "--user", "x", "--role", "king")
    assert bad.returncode == 1 and "unknown role" in bad.stderr
