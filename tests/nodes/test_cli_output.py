"""One output convention for every `smartcustoms` command (issue #20 items 5 and 6).

- Messages are printed literally: Rich markup swallowed `[train]` in "pip install
  '.[train]'" and any `[...]` of an error or of user text.
- Human output never wraps or cuts an identifier: piped to a file, hashes were broken across
  lines at column 80 and tables cut ids and outcomes with "…".
- Times are ISO 8601 in UTC with the zone, not Unix seconds.
- Data is JSON, never a Python repr (`'…'`, `True`); `--json` is valid JSON, errors too.
- `--help` of every command fits an 80-column terminal without cutting a word.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import pytest
import typer.main
from rich.table import Table
from typer.testing import CliRunner

from nodes.cli import app
from nodes.cliutil import CliConsole, escape_unknown_tags, iso, out, print_json, rows_or, say
from nodes.commands.clearance import _permit_lines
from nodes.commands.members import _member_lines, _proposal_line
from offchain.settings import REPO_ROOT, Settings

HASH = "0x" + "3a68202a3278c412971abf74aa75f6a3f1426b4e88865d6556d46accdc0cde49"[:64]


def _console(**kw) -> tuple[CliConsole, io.StringIO]:
    buf = io.StringIO()
    kw.setdefault("width", 80)
    return CliConsole(file=buf, color_system=None, **kw), buf


@pytest.fixture
def captured(monkeypatch):
    """Point the shared consoles at buffers (as a pipe: not a terminal, 80 columns)."""
    import nodes.cli as cli_module
    import nodes.cliutil as cliutil
    from nodes.commands import clearance, members

    con, buf = _console()
    for module in (cliutil, cli_module, clearance, members):
        monkeypatch.setattr(module, "console", con)
    return buf


# --- item 5: markup does not eat brackets ------------------------------------------------------


def test_brackets_that_are_not_styles_are_printed():
    con, buf = _console()
    # What `xray retrain --activate` prints without PyTorch (nodes/commands/xray.py).
    con.print("[red]error:[/] PyTorch is missing: install it with pip install '.[train]'")
    con.print("[yellow]skipped[/] scan.png: bad_image ([x] at offset [/etc])")
    assert buf.getvalue().splitlines() == [
        "error: PyTorch is missing: install it with pip install '.[train]'",
        "skipped scan.png: bad_image ([x] at offset [/etc])",
    ]
    assert escape_unknown_tags("[dim]a[/] [train]") == "[dim]a[/] \\[train]"


def test_say_prints_user_text_literally():
    con, buf = _console()
    import nodes.cliutil as cliutil

    saved = cliutil.console
    cliutil.console = con
    try:
        say("reason: [red]not red[/] [b]not bold[/b] :smile:")
    finally:
        cliutil.console = saved
    assert buf.getvalue() == "reason: [red]not red[/] [b]not bold[/b] :smile:\n"


# --- item 6: nothing wraps or is cut -----------------------------------------------------------


def test_a_long_line_is_not_wrapped_when_piped():
    con, buf = _console()
    line = f"ok   anchored     leaf 0 of root {HASH}, anchored by transaction {HASH} in block 18"
    con.print(line)
    assert buf.getvalue() == line + "\n"


def test_tables_keep_every_id_whole_piped_and_in_a_narrow_terminal():
    def table() -> Table:
        t = Table(title="Trips")
        for col in ("trip", "route", "outcome", "detail"):
            t.add_column(col)
        t.add_row("LIVE1796597-001", "TW-KEL -> TW-TPP", "ARRIVED_WITH_ALERTS", HASH)
        t.add_row("DEMO-002", "TW-KEL -> TW-TPP", "SEAL_BROKEN", "a few words that may wrap")
        return t

    piped, buf = _console()
    piped.print(table())
    text = buf.getvalue()
    assert "…" not in text and HASH in text and "ARRIVED_WITH_ALERTS" in text
    assert "a few words that may wrap" in text  # one line per row when piped

    term, buf = _console(force_terminal=True, width=60)
    term.print(table())
    text = buf.getvalue()
    assert "…" not in text and HASH in text and "LIVE1796597-001" in text
    assert "ARRIVED_WITH_ALERTS" in text


# --- item 6: times and data ---------------------------------------------------------------------


def test_times_are_iso_8601_utc_with_the_zone():
    assert iso(1796598757) == "2026-12-06T23:12:37Z"
    assert iso("1796598757.5") == "2026-12-06T23:12:37Z"
    assert iso("2026-12-06T22:50:47.516+08:00") == "2026-12-06T14:50:47Z"
    assert iso(None) == "-"


def test_permit_member_and_proposal_lines_show_numbers_and_utc_times(captured):
    _permit_lines(
        {
            "permit_number": "IP-TW-2025-0042",
            "permit_id": HASH,
            "holder_hash": HASH,
            "document_hash": HASH,
            "issuer_member": "TW",
            "hs_codes": ["020230"],
            "quantity": "30000",
            "remaining": "6000",
            "unit": "KGM",
            "valid_from": 1796428800,
            "valid_to": 1828137599,
            "issued_at": 1796597438,
            "revoked_at": None,
            "revocation_reason": None,
            "revoked": False,
        }
    )
    _proposal_line(
        {
            "id": 1,
            "kind": "grant_role",
            "member_id": "TW",
            "role": "AUDITOR",
            "account": "0x" + "ab" * 20,
            "state": "Rejected",
            "yes": 1,
            "no": 2,
            "expires_at": 1797202245,
        }
    )
    _member_lines(
        {
            "id": "NZ",
            "name": "New Zealand Customs Service",
            "admin": "0x" + "0a" * 20,
            "active": True,
            "x25519_key": HASH,
            "joined_at": 1796596745,
            "nodes": ["1a" * 64],
            "accounts": ["0x" + "0a" * 20, "0x" + "e9" * 20],
            "roles": {"0x" + "0a" * 20: [], "0x" + "e9" * 20: ["ISSUER"]},
        }
    )
    text = captured.getvalue()
    assert "permit IP-TW-2025-0042 (in force)" in text and f"on-chain id {HASH}" in text
    assert "valid 2026-12-05T00:00:00Z to 2027-12-06T23:59:59Z" in text
    assert "expires 2026-12-13T22:50:45Z" in text
    assert "joined 2026-12-06T22:39:05Z" in text and "1a" * 64 in text
    assert not re.search(r"\b1[78]\d{8}\b", text), text  # no Unix seconds left
    assert "'" not in text and "True" not in text


def test_a_list_renderer_says_when_there_is_nothing(captured):
    """`rows_or` (manifest list, members proposals, trip alerts): one line per row, and a
    sentence rather than a blank answer for an empty list."""
    out(["a", "b"], False, rows_or(lambda r: say(f"row {r}"), "no rows"))
    out([], False, rows_or(lambda r: say(f"row {r}"), "no rows"))
    assert captured.getvalue().splitlines() == ["row a", "row b", "no rows"]


def test_data_without_a_renderer_is_json_not_a_python_repr(capsys):
    out({"ok": True, "name": "台灣", "nan": float("nan")}, as_json=False)
    text = capsys.readouterr().out
    assert json.loads(text) == {"ok": True, "name": "台灣", "nan": None}
    print_json([1, float("inf")])
    assert json.loads(capsys.readouterr().out) == [1, None]


# --- real runs, piped as a program reads them (80 columns) -------------------------------------


def _run(s: Settings, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SMARTCUSTOMS_HOME": str(s.home),
        "SMARTCUSTOMS_CHAIN__ANVIL_PORT": str(s.chain.anvil_port),
        "SMARTCUSTOMS_MEMBERS": json.dumps([m.model_dump() for m in s.members]),
        "COLUMNS": "80",
    }
    env.pop("NO_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "nodes.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
    )


@pytest.mark.contract
def test_members_show_piped_is_readable_whole_and_json_with_json(settings, deployment):
    human = _run(settings, "members", "show", "NZ")
    assert human.returncode == 0, human.stderr
    assert "'" not in human.stdout and "True" not in human.stdout  # not a Python dict
    data = json.loads(_run(settings, "members", "show", "NZ", "--json").stdout)
    for account in data["accounts"]:
        assert any(account in line for line in human.stdout.splitlines())
    for enode in data["nodes"]:  # 128 hex digits, on one line
        assert enode in human.stdout
    assert re.search(r"joined \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", human.stdout)


@pytest.mark.contract
def test_an_error_with_brackets_is_printed_as_written(settings, deployment):
    result = _run(settings, "permit", "show", "A[b]C")
    assert result.returncode == 1
    assert "got 'A[b]C'" in result.stderr, result.stderr


def test_usage_errors_under_json_still_print_json(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "nodes.cli", "trip", "close", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "SMARTCUSTOMS_HOME": str(tmp_path)},
        timeout=60,
    )
    assert result.returncode == 2 and "Usage:" in result.stderr
    assert json.loads(result.stdout)["error"] == "usage"


# --- every --help in 80 columns -----------------------------------------------------------------


def _commands():
    root = typer.main.get_command(app)

    def walk(cmd, path, parent):
        ctx = type(parent)(cmd, parent=parent, info_name=path[-1]) if path else parent
        yield path, cmd
        if hasattr(cmd, "list_commands"):
            for name in cmd.list_commands(ctx):
                yield from walk(cmd.get_command(ctx, name), (*path, name), ctx)

    return dict(walk(root, (), root.context_class(root, info_name="smartcustoms")))


COMMANDS = _commands()


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: " ".join(p) or "smartcustoms")
def test_help_fits_80_columns_without_cutting_a_word(path):
    result = CliRunner().invoke(
        app, [*path, "--help"], prog_name="smartcustoms", env={"COLUMNS": "80"}
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(len(line) <= 80 for line in lines), [ln for ln in lines if len(ln) > 80]
    assert "…" not in result.output
    text = " ".join(result.output.split())
    for param in COMMANDS[path].params:
        for opt in param.opts:
            if opt.startswith("-"):
                assert opt in text, (opt, result.output)


def test_contract_errors_and_verification_details_show_times_in_utc():
    """`trip close` answered `NotOverdue(deadline=1796598757)`; `doc verify` said "anchored
    ... at unix time 1796597434"."""
    from chain.errors import ContractReverted
    from chain.verification import _utc

    exc = ContractReverted("TransportLedger", "closeTrip", "NotOverdue", {"deadline": 1796598757})
    assert (
        str(exc) == "TransportLedger.closeTrip reverted: NotOverdue(deadline=2026-12-06T23:12:37Z)"
    )
    counts = ContractReverted("PermitRegistry", "drawDown", "Exceeds", {"remaining": 1796598757})
    assert "remaining=1796598757" in str(counts)  # not a time: left as it is
    assert _utc(1796597434) == "2026-12-06T22:50:34Z"
