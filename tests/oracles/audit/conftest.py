"""A small synthetic history and a model trained on it once per session (a few seconds)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from oracles.audit.data import load_table, prepare
from oracles.audit.mapping import ColumnMapping
from oracles.audit.model import AuditModel, TrainConfig, train
from oracles.audit.synth import generate

ROWS = 4000
TRAIN_ROWS = 3000


@pytest.fixture(scope="session")
def history() -> pd.DataFrame:
    """4,000 synthetic declarations over a year, as text (as a CSV reads)."""
    return generate(ROWS, seed=3, days=365).astype(str)


@pytest.fixture(scope="session")
def audit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit")


@pytest.fixture(scope="session")
def train_csv(history: pd.DataFrame, audit_dir: Path) -> Path:
    path = audit_dir / "train.csv"
    history.iloc[:TRAIN_ROWS].to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def later_csv(history: pd.DataFrame, audit_dir: Path) -> Path:
    """The 1,000 declarations after the training period (labelled)."""
    path = audit_dir / "later.csv"
    history.iloc[TRAIN_ROWS:].to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def model(train_csv: Path, audit_dir: Path) -> AuditModel:
    prep = prepare(load_table(train_csv), ColumnMapping(), need_label=True)
    train(
        prep.frame,
        audit_dir / "model",
        mapping=ColumnMapping(),
        extras=prep.extras,
        data_report=prep.report,
        config=TrainConfig(),
        source=str(train_csv),
    )
    return AuditModel.load(audit_dir / "model")
