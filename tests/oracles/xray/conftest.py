"""Fixtures shared by the X-ray tests."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest

from offchain.settings import REPO_ROOT


@pytest.fixture(scope="module")
def train_script() -> ModuleType:
    """scripts/train/xray.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "train_xray", REPO_ROOT / "scripts" / "train" / "xray.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script
