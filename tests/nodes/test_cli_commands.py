"""Every `smartcustoms` command, found by walking the CLI's command tree (issue #16 item 6).

`network besu --out DIR` crashed because its `out` option shadowed the `out` output helper;
no test ran the command.  So, for every command, including those added later:

- its `--help` exits 0 and prints its usage line;
- called without its required arguments it is a usage error (exit 2), not a traceback;
- none of its parameters is called as a function in its body (the bug class of `out`);

and the commands that can run against the session chain and nodes are run for real, each
checked on what it printed.
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from nodes.cli import app
from offchain.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.contract

ROOT_COMMAND = typer.main.get_command(app)


def _walk(
    command: Any, path: tuple[str, ...], parent: Any
) -> Iterator[tuple[tuple[str, ...], Any]]:
    ctx = type(parent)(command, parent=parent, info_name=path[-1]) if path else parent
    yield path, command
    if hasattr(command, "list_commands"):  # a group (typer vendors its own click)
        for name in command.list_commands(ctx):
            yield from _walk(command.get_command(ctx, name), (*path, name), ctx)


def _context() -> Any:
    return typer.main.get_command(app).context_class(ROOT_COMMAND, info_name="smartcustoms")


COMMANDS = dict(_walk(ROOT_COMMAND, (), _context()))
LEAVES = {p: c for p, c in COMMANDS.items() if not hasattr(c, "list_commands")}


def _id(path: tuple[str, ...]) -> str:
    return " ".join(path) or "smartcustoms"


def test_the_tree_has_every_command_group():
    groups = {p[0] for p in COMMANDS if p}
    assert {"devnet", "members", "node", "network", "doc", "trip", "classify", "xray"} <= groups
    assert ("network", "besu") in LEAVES and len(LEAVES) >= 40


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=_id)
def test_help_exits_0_and_prints_the_usage(path):
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="smartcustoms")
    assert result.exit_code == 0, result.output
    usage = " ".join(("smartcustoms", *path))
    assert f"Usage: {usage}" in " ".join(result.output.split()), result.output
    doc = (COMMANDS[path].help or "").strip().splitlines()
    if doc:  # the first line of the docstring is shown
        assert " ".join(doc[0].split()[:4]) in " ".join(result.output.split())


REQUIRED = sorted(p for p, c in LEAVES.items() if any(x.required for x in c.params))


@pytest.mark.parametrize("path", REQUIRED, ids=_id)
def test_missing_required_arguments_are_a_usage_error(path):
    result = CliRunner().invoke(app, list(path), prog_name="smartcustoms")
    assert result.exit_code == 2, result.output
    assert "Usage:" in result.output and "Traceback" not in result.output


def _parameters_called(fn: Any) -> set[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    fdef = tree.body[0]
    assert isinstance(fdef, ast.FunctionDef | ast.AsyncFunctionDef)
    args = fdef.args
    params = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    called = {
        n.func.id
        for n in ast.walk(fdef)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    return params & called


@pytest.mark.parametrize("path", sorted(LEAVES), ids=_id)
def test_no_parameter_is_called_like_a_helper(path):
    callback = LEAVES[path].callback
    assert callback is not None
    shadowed = _parameters_called(inspect.unwrap(callback))
    assert not shadowed, (
        f"`{_id(path)}`: parameter(s) {sorted(shadowed)} are called as functions in the "
        "command's body; a parameter shadows the helper of the same name (rename it, e.g. "
        "out_dir with typer.Option('--out'))"
    )


def test_the_shadow_check_catches_the_besu_bug():
    def network_besu(out: Path, as_json: bool = False) -> None:
        out({"out": str(out)}, as_json)  # type: ignore[operator]

    assert _parameters_called(network_besu) == {"out"}


# --- real runs against the session chain and nodes -----------------------------------------


@pytest.fixture(scope="module")
def sc(settings: Settings, deployment, cli):
    """`sc("members", "list", "--json")`: the command as a user runs it; returns the result."""

    def run(*args: str, api_key: str | None = None, ok: bool = True):
        result = cli(settings, *args, api_key=api_key)
        if ok:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return run


def _json(result) -> Any:
    return json.loads(result.stdout)


def test_network_besu_writes_the_network(sc, tmp_path):
    out_dir = tmp_path / "besu-net"
    data = _json(sc("network", "besu", "--out", str(out_dir), "--json"))
    assert data["out"] == str(out_dir) and len(data["validators"]) == 3
    assert (out_dir / "genesis.json").is_file() and (out_dir / "README.md").is_file()
    readable = sc("network", "besu", "--out", str(tmp_path / "again"))
    assert "validators written to" in readable.stdout
    refused = sc("network", "besu", "--out", str(out_dir), ok=False)
    assert refused.returncode == 1 and refused.stderr.startswith("error:")


def test_chain_commands_run(sc):
    assert _json(sc("devnet", "status", "--json"))["answering"] is True
    members = _json(sc("members", "list", "--json"))
    assert [m["id"] for m in members] == ["TW", "SG", "NZ"]
    assert _json(sc("members", "show", "SG", "--json"))["id"] == "SG"
    assert isinstance(_json(sc("members", "proposals", "--json")), list)
    missing = sc("permit", "show", "NO-SUCH-PERMIT", "--json", ok=False)
    assert missing.returncode == 1 and "unknown_permit" in missing.stdout


def test_document_commands_run_against_the_nodes(sc, settings, node_url, tmp_path, sample_xml):
    for member in ("TW", "SG"):
        node_url(member)  # started: the CLI reads their admin keys from the session home
    xml, receipt_file = tmp_path / "co.xml", tmp_path / "receipt.json"
    xml.write_bytes(sample_xml("certificate-of-origin"))
    receipt = _json(
        sc(*f"doc submit {xml} --type certificate-of-origin --to SG --wait 20 --json".split())
    )
    doc_hash = receipt["doc_hash"]
    receipt_file.write_text(json.dumps(receipt))
    verdict = _json(sc(*f"doc verify {xml} --receipt {receipt_file} --json".split()))
    assert verdict["valid"] is True
    assert _json(sc("doc", "status", doc_hash, "--json"))["doc_hash"] == doc_hash
    assert isinstance(_json(sc("doc", "inbox", "--member", "SG", "--json")), list)
    trace = _json(sc("trace", "doc", doc_hash, "--json"))
    assert trace["doc_hash"] == doc_hash and trace["timeline"]
    revoked = _json(sc("doc", "revoke", doc_hash, "--reason", "cli test", "--json"))
    assert revoked["doc_hash"] == doc_hash
    again = sc(*f"doc verify {xml} --receipt {receipt_file}".split(), ok=False)
    assert again.returncode == 1 and "INVALID" in again.stdout


def test_node_and_trip_commands_run(sc, settings, node_url):
    node_url("TW")
    made = sc(
        *["node", "apikey", "--member", "TW", "--user", "cli-walk", "--role", "officer", "--json"]
    )
    key = _json(made)["key"]
    assert key.startswith("sc_")
    zones = _json(sc("trip", "zones", "--json"))
    assert zones["zones"] and zones["corridors"]
    assert isinstance(_json(sc("trip", "alerts", "--json", api_key=key)), list)


def test_offline_model_commands_run(sc, tmp_path):
    classified = _json(sc("classify", "frozen boneless beef cuts", "--json"))
    assert classified["candidates"][0]["hs6"].startswith("0202")
    assert "[columns]" in sc("audit", "mapping").stdout
    synth = _json(sc(*f"audit synth --rows 200 --out {tmp_path / 'h.csv'} --json".split()))
    assert synth["rows"] == 200 and (tmp_path / "h.csv").is_file()
    info = _json(sc("xray", "info", "--json"))
    assert info["model_version"] and len(info["sha256"]) == 64


def test_the_installed_entry_point_answers():
    import subprocess

    exe = REPO_ROOT / ".venv" / "bin" / "smartcustoms"
    if not exe.exists():
        pytest.skip("smartcustoms is not installed in .venv")
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "Usage: smartcustoms" in result.stdout
