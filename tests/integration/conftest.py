"""Fixtures for integration tests that run trade-document nodes with their own state.

They are defined once, in tests/nodes/conftest.py; pytest reads a conftest only for the
tests under its folder, so this one loads that file and re-exports the fixtures used here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "_node_fixtures", Path(__file__).resolve().parents[1] / "nodes" / "conftest.py"
)
_node_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_node_fixtures)

fresh_consortium = _node_fixtures.fresh_consortium
make_api_key = _node_fixtures.make_api_key
sample_xml = _node_fixtures.sample_xml
serve_node = _node_fixtures.serve_node
http = _node_fixtures.http
