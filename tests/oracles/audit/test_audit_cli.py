"""`smartcustoms audit ...`: the commands, their JSON, and errors as one line with exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from nodes.commands import audit
from oracles.audit.errors import AuditError
from oracles.audit.model import AuditModel

ROOT = Path(__file__).resolve().parents[3]
runner = CliRunner()
cli = typer.Typer()
cli.add_typer(audit.app, name="audit")


def run(*args: str) -> dict:
    res = runner.invoke(cli, ["audit", *args])
    assert res.exit_code == 0, (res.output, res.exception)
    return json.loads(res.stdout)


def test_synth_train_score_companies_evaluate(tmp_path: Path, later_csv: Path) -> None:
    data = tmp_path / "h.csv"
    made = run(
        "synth", "--rows", "2500", "--seed", "5", "--days", "300", "--out", str(data), "--json"
    )
    assert made["rows"] == 2500 and 0.02 < made["fraud_rate"] < 0.12
    trained = run(
        "train", "--data", str(data), "--out", str(tmp_path / "m"), "--no-baselines", "--json"
    )
    assert trained["model_version"].startswith("audit-")
    assert set(trained["metrics"]) == {"oracle"}
    ranked_file = tmp_path / "ranked.csv"
    scored = run(
        "score",
        "--model",
        str(tmp_path / "m"),
        "--data",
        str(later_csv),
        "--out",
        str(ranked_file),
        "--json",
    )
    ranked = pd.read_csv(ranked_file)
    assert scored["rows"] == len(ranked) == 1000
    assert ranked["score"].is_monotonic_decreasing and ranked["rank"].tolist()[:3] == [1, 2, 3]
    assert ranked["reasons"].head(50).notna().all()  # the least risky may have none
    # another seed: a different world, so most ids are unseen; still scored
    assert scored["unseen"]["importer"] > 0
    comp = run(
        "companies",
        "--model",
        str(tmp_path / "m"),
        "--data",
        str(data),
        "--top",
        "5",
        "--by",
        "revenue",
        "--json",
    )
    assert len(comp["companies"]) == 5
    revs = [c["expected_revenue"] for c in comp["companies"]]
    assert revs == sorted(revs, reverse=True) and comp["companies"][0]["reasons"]


def test_evaluate_json_keys(model: AuditModel, later_csv: Path) -> None:
    out = run("evaluate", "--model", str(model.path), "--data", str(later_csv), "--json")
    assert {
        "n",
        "precision_at_1pct",
        "precision_at_5pct",
        "recall_at_5pct",
        "revenue_at_5pct",
        "auc",
    } <= set(out)
    assert set(out["baselines"]) == {"logistic", "plain_gbm"} and out["n"] == 1000


def test_errors_raise_audit_errors(
    model: AuditModel, tmp_path: Path, history: pd.DataFrame
) -> None:
    nolabel = tmp_path / "nolabel.csv"
    history.drop(columns="Fraud").head(100).to_csv(nolabel, index=False)
    res = runner.invoke(
        cli, ["audit", "evaluate", "--model", str(model.path), "--data", str(nolabel)]
    )
    assert res.exit_code != 0 and isinstance(res.exception, AuditError)
    assert res.exception.code == "missing_column"


@pytest.mark.slow
def test_main_prints_one_line_and_exits_1(tmp_path: Path) -> None:
    """Through nodes/cli.py main(), as the installed command runs."""
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code = (
        "from nodes import cli; from nodes.commands import audit; "
        "cli.app.add_typer(audit.app, name='audit'); cli.main()"
    )
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "audit",
            "train",
            "--data",
            str(empty),
            "--out",
            str(tmp_path / "m"),
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["error"] == "empty_data"
