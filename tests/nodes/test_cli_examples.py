"""The options that let the README's example files be used again on a running consortium
(issue #20 items 2 and 4): example files carry the dates they were written with, and
`make run` lodged some of them already."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
from typer.testing import CliRunner

from nodes.cli import app
from nodes.commands.manifest import redated
from offchain.manifests import load_manifest
from offchain.settings import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"


def test_a_manifest_is_redated_to_arrive_soon_with_its_voyage_length():
    raw = (EXAMPLES / "manifests" / "air-import-nzakl-twtpe.json").read_bytes()
    before = load_manifest(raw).manifest.to_json()
    after = json.loads(redated(raw, "1d"))
    arrival = dt.datetime.fromisoformat(after["arrival"])
    now = dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=23) < arrival - now <= dt.timedelta(days=1)

    def voyage(d: dict) -> dt.timedelta:
        return dt.datetime.fromisoformat(d["arrival"]) - dt.datetime.fromisoformat(d["departure"])

    assert voyage(after) == voyage(before)
    assert {k: v for k, v in after.items() if k not in ("arrival", "departure")} == {
        k: v for k, v in before.items() if k not in ("arrival", "departure")
    }


def test_audit_synth_writes_a_history_and_its_later_period(tmp_path):
    history, later = tmp_path / "history.csv", tmp_path / "later.csv"
    result = CliRunner().invoke(
        app,
        ["audit", "synth", "--rows", "2000", "--out", str(history), "--later", str(later),
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    early, late = pd.read_csv(history), pd.read_csv(later)
    assert len(early) + len(late) == 2000 and len(late) > 0
    assert early["Date"].max() < late["Date"].min()  # the same world, later dates
    assert [f["file"] for f in body["files"]] == [str(history), str(later)]


def test_every_sample_file_the_readme_names_exists():
    """The README's commands name these; a missing one was a dead end (issue #20 item 4)."""
    for name in (
        "certificate-of-origin.xml",
        "declarations/01-machinery-parts-sg.xml",
        "permits/lithium-batteries-tw.json",
        "manifests/air-import-nzakl-twtpe.json",
        "manifests/declaration-bearings-bl.json",
        "payments/guarantee-formosa-spindle.json",
        "tariff/rulings.csv",
        "xray/bag1.png",
        "xray/bag2.jpg",
    ):
        assert (EXAMPLES / name).is_file(), name


def test_make_run_says_how_to_type_smartcustoms_when_it_is_not_on_path(monkeypatch):
    """Issue #20 item 4: `smartcustoms` is in .venv/bin, which `make run` does not put on
    the user's PATH; its summary says how, and the README's first lines do too."""
    from nodes.launcher import command_line_hint

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    hint = command_line_hint()
    assert hint is not None and "activate" in hint and "smartcustoms --help" in hint
    monkeypatch.setenv("PATH", str(REPO_ROOT / ".venv" / "bin") + ":/usr/bin:/bin")
    assert command_line_hint() is None
    assert ". .venv/bin/activate" in (REPO_ROOT / "README.md").read_text()[:2500]
