"""`smartcustoms classify`: the description as first argument, subcommands, JSON, questions."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nodes.commands import tariff as cli
from offchain.settings import Settings
from oracles.tariff.config import SHIPPED_MODEL_DIR

runner = CliRunner()


@pytest.fixture(autouse=True)
def _shipped_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every CLI test uses the shipped model and a temporary home (never the real var/)."""
    home = Settings(home=tmp_path / "var", tariff={"model_dir": SHIPPED_MODEL_DIR})
    monkeypatch.setattr(cli, "settings", lambda: home)


def _json(args: list[str]) -> dict:
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_description_is_the_default_command() -> None:
    out = _json(["frozen boneless beef cuts", "--top", "3", "--json"])
    assert out["candidates"][0]["hs6"] == "020230"
    assert len(out["candidates"]) == 3
    first = out["candidates"][0]
    assert first["duty"]["specific"] == "10 TWD/KGM"
    assert "IMP_PERMIT" in [r["code"] for r in first["regulations"]]
    assert [n["code"] for n in first["national_lines"]] == ["0202300010", "0202300090"]
    assert "boneless" in first["explanation"]


def test_options_may_come_before_the_description() -> None:
    out = _json(["--json", "men's cotton knitted T-shirt"])
    assert out["candidates"][0]["hs6"] == "610910"


def test_a_description_starting_with_a_command_name_is_a_description() -> None:
    out = _json(["train wheels for children's bicycles", "--json"])
    assert out["description"] == "train wheels for children's bicycles"
    assert out["candidates"][0]["hs6"].startswith("87")
    out = _json(["predict", "evaluate", "--json"])  # the bare word, through `predict`
    assert out["description"] == "evaluate"


def test_json_carries_the_pending_question_and_answers_apply() -> None:
    out = _json(["beef boneless", "--json"])
    q = out["question"]
    assert q["kind"] == "state" and {"fresh", "frozen"} <= {o["id"] for o in q["options"]}
    assert out["done"] is False
    out = _json(["beef boneless", "--json", "--answer", "frozen"])
    assert out["question"] is None and out["candidates"][0]["hs6"] == "020230"


def test_interactive_questions_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_is_tty", lambda: True)
    result = runner.invoke(cli.app, ["beef boneless"], input="1\n")  # 1 = fresh or chilled
    assert result.exit_code == 0, result.output
    assert "Is it fresh or chilled" in result.output
    assert "020130" in result.output.split("Answer")[-1]


def test_bad_input_exits_1_with_the_error_code() -> None:
    result = runner.invoke(cli.app, ["   ", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["error"] == "empty_description"
    result = runner.invoke(cli.app, ["frozen boneless beef cuts", "--json", "--answer", "frozen"])
    assert result.exit_code == 1
    assert json.loads(result.output)["error"] == "no_pending_question"


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["desc", "code"])
        w.writerows(rows)
    return path


def test_evaluate_reports_the_metrics_and_the_bad_rows(tmp_path: Path) -> None:
    data = _write_csv(
        tmp_path / "rulings.csv",
        [
            ("Frozen boneless beef striploin", "0202.30.00.90"),
            ("Men's cotton knitted T-shirts", "610910"),
            ("Lithium-ion battery for e-bike", "85076000"),
            ("Mystery goods", "999999"),
            ("", "020230"),
        ],
    )
    out = _json(
        ["evaluate", "--data", str(data), "--text-col", "desc", "--label-col", "code", "--json"]
    )
    for key in ("n", "hs2_acc", "hs4_acc", "hs6_acc", "top5_hs6", "p95_ms"):
        assert key in out
    assert out["n"] == 3 and out["hs6_acc"] == 1.0 and out["skipped"] == 2
    assert any("999999 is not an HS 2022 subheading" in p for p in out["problems"])
    assert 0 <= out["accusable"] <= out["answered"] <= 1  # the oracle's bar is stricter
    human = runner.invoke(
        cli.app, ["evaluate", "--data", str(data), "--text-col", "desc", "--label-col", "code"]
    )
    assert human.exit_code == 0 and "sure enough for the oracle to call a mismatch" in human.output


def test_evaluate_names_a_missing_column(tmp_path: Path) -> None:
    data = _write_csv(tmp_path / "r.csv", [("beef", "020230")])
    result = runner.invoke(cli.app, ["evaluate", "--data", str(data), "--json"])
    assert result.exit_code == 1
    err = json.loads(result.output)
    assert err["error"] == "missing_column" and "desc, code" in err["detail"]


def test_train_learns_rulings_into_a_new_version(tmp_path: Path) -> None:
    shipped = (SHIPPED_MODEL_DIR / "model.json").read_bytes()
    data = _write_csv(
        tmp_path / "rulings.csv",
        [
            ("zorblax gizmo power cell", "8507600010"),
            ("zorblax gizmo energy module", "850760"),
            ("quembly frozen boneless meat", "020230"),
            ("bad label", "12"),
        ],
    )
    root = tmp_path / "models"
    out = _json(
        [
            "train",
            "--data",
            str(data),
            "--text-col",
            "desc",
            "--label-col",
            "code",
            "--model-root",
            str(root),
            "--chapters",
            "2,85",
            "--retrieval-only",
            "--json",
        ]
    )
    assert out["rulings"] == 3 and out["skipped"] == 1 and out["active"] is True
    new_dir = Path(out["model_dir"])
    assert new_dir.parent == root and (root / "CURRENT").read_text().strip() == new_dir.name
    assert (SHIPPED_MODEL_DIR / "model.json").read_bytes() == shipped
    pred = _json(["zorblax gizmo", "--json", "--model-dir", str(new_dir)])
    assert pred["candidates"][0]["hs6"] == "850760"
    assert pred["model_version"] == out["model_version"] != json.loads(shipped)["version"]


def test_registered_under_a_parent_app_like_smartcustoms() -> None:
    import typer

    parent = typer.Typer()

    @parent.command()
    def version() -> None:  # a second command, so "classify" is a real subgroup
        """Print nothing."""

    parent.add_typer(cli.app, name="classify")
    result = runner.invoke(parent, ["classify", "frozen boneless beef cuts", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["candidates"][0]["hs6"] == "020230"
    result = runner.invoke(parent, ["classify", "--help"])
    assert "predict" in result.output and "evaluate" in result.output
