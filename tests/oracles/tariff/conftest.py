"""Fixtures of the tariff classifier tests: the shipped model and a service around it.

The service gets its own model root under tmp_path, so a test that trains never touches the
shipped model or another test's versions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from offchain.settings import REPO_ROOT
from oracles.tariff.config import SHIPPED_MODEL_DIR, TariffSettings
from oracles.tariff.model import TariffModel
from oracles.tariff.service import TariffService, load_model


@pytest.fixture(scope="session")
def tariff_model() -> TariffModel:
    return load_model(SHIPPED_MODEL_DIR)


@pytest.fixture
def tariff_settings(tmp_path: Path) -> TariffSettings:
    return TariffSettings(
        model_root=tmp_path / "models",
        tariff_dir=REPO_ROOT / "data" / "tariff",
        model_dir=SHIPPED_MODEL_DIR,
    )


@pytest.fixture
def tariff_service(tariff_settings: TariffSettings) -> TariffService:
    return TariffService(tariff_settings)
