"""Fuzzing fixtures: the node fixtures of tests/nodes, shared rather than copied."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from hypothesis import HealthCheck, settings

_spec = importlib.util.spec_from_file_location(
    "_node_fixtures_for_fuzz", Path(__file__).resolve().parents[1] / "nodes" / "conftest.py"
)
_node_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_node_fixtures)

serve = _node_fixtures.serve
api_key = _node_fixtures.api_key
fresh_settings = _node_fixtures.fresh_settings
sample_document = _node_fixtures.sample_document


def fuzz_settings(examples: int) -> settings:
    """Bounded, reproducible Hypothesis runs: the same cases on every machine and in CI."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
