"""Property-based fuzzing of a real node's HTTP API from its own OpenAPI schema.

Schemathesis reads `/openapi.json` from a node served by uvicorn (real chain, real SQLite,
real mosquitto ingestion) and, for every operation, sends cases that fit the schema and
cases that break it (wrong types, out-of-range numbers, missing and extra fields, odd
strings and bodies), authenticated as the node's administrator so every handler is reached.
Every answer must be below 500, carry no traceback, and every error must be
`{"error": code, "detail": text}`; every answer must also match the response schema the
node publishes for its status (the models of nodes/api/responses.py) and media type.  The examples per operation are bounded so the module
stays within its share of CI; the number of requests sent is checked at the end.

`GET /alerts/stream` is left out: it streams until the client leaves (its parameters are
covered by tests/nodes/test_out_of_range.py).  The chain is rewound when the module ends.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from offchain.broker import free_broker
from offchain.settings import Settings

from .conftest import api_key, fresh_settings, serve

pytestmark = [pytest.mark.contract, pytest.mark.integration]

EXAMPLES_PER_OPERATION = 30


@dataclass
class FuzzNode:
    url: str
    key: str
    sent: Counter = field(default_factory=Counter)


@pytest.fixture(scope="module")
def fuzz_node(settings: Settings, deployment, rewinding, tmp_path_factory) -> Iterator[FuzzNode]:
    with rewinding(), free_broker(tmp_path_factory.mktemp("fuzz-mqtt")) as broker:
        s = fresh_settings(settings, tmp_path_factory.mktemp("fuzz") / "home")
        s = s.model_copy(
            update={
                "transport": s.transport.model_copy(
                    update={"ingest": True, "broker_port": broker.port, "tick_s": 0.5}
                )
            }
        )
        with serve(s, "TW") as url:
            node = FuzzNode(url, api_key(s, "TW", "admin"))
            yield node
    total = sum(node.sent.values())
    print(f"API fuzz: {total} requests over {len(node.sent)} operations")
    assert len(node.sent) >= 50, f"only {len(node.sent)} operations were fuzzed"
    assert total >= 20 * len(node.sent), f"only {total} requests were sent"


def _operations(url: str) -> list:
    loaded = schemathesis.openapi.from_url(f"{url}/openapi.json")
    ops = [r.ok() for r in loaded.get_all_operations()]
    return [op for op in ops if (op.method.upper(), op.path) not in SKIPPED]


SKIPPED = {("GET", "/alerts/stream")}


def _cases(op) -> st.SearchStrategy:
    """Cases that fit the operation's schema and cases that break it."""
    return st.one_of(
        op.as_strategy(GenerationMode.POSITIVE), op.as_strategy(GenerationMode.NEGATIVE)
    )


def _check(node: FuzzNode, case) -> None:
    response = case.call(base_url=node.url, headers={"X-API-Key": node.key}, timeout=60)
    node.sent[f"{case.method} {case.path}"] += 1
    repro = case.as_curl_command(headers={"X-API-Key": "<admin key>"})
    text = response.text
    assert response.status_code < 500, f"{response.status_code} {text[:500]}\n{repro}"
    assert "Traceback (most recent call last)" not in text, repro
    if response.status_code >= 400:
        try:
            body = json.loads(text)
        except ValueError:
            pytest.fail(f"{response.status_code} error is not JSON: {text[:300]}\n{repro}")
        assert isinstance(body, dict), repro
        assert isinstance(body.get("error"), str) and body["error"], (body, repro)
        assert isinstance(body.get("detail"), str) and body["detail"], (body, repro)
    case.validate_response(response, checks=[response_schema_conformance, content_type_conformance])


def test_no_hostile_request_gets_a_server_error(fuzz_node: FuzzNode, subtests):
    for op in _operations(fuzz_node.url):

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
            derandomize=True,
            database=None,
        )
        @given(case=_cases(op))
        def fuzz(case) -> None:
            _check(fuzz_node, case)

        with subtests.test(msg=f"{op.method.upper()} {op.path}"):
            fuzz()
