"""The oracle base: one canonical serialisation of an output serves its hash, store and wire.

`Oracle.evaluate` serialises an output once and splices those bytes into the result it
hashes, the row it stores and the answer it sends; each of those must be exactly what
serialising the whole object would give, or instances and auditors would disagree.
"""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from offchain import attestation as att
from offchain.db import Database
from oracles.base import Oracle, OracleError, canonical_json, hash_json, result_json
from oracles.service import result_body
from oracles.store import ResultStore


class EchoOracle(Oracle):
    """Answers its request's `output` as is."""

    kind: ClassVar[int] = int(att.CLEARANCE)
    model_version = "echo-1 ü"

    def subject(self, request: dict[str, Any]) -> bytes:
        return bytes(32)

    def compute(self, request: dict[str, Any]) -> dict[str, Any]:
        return request["output"]


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(output=st.dictionaries(st.text(), JSON, max_size=6), version=st.text())
def test_the_spliced_result_is_the_canonical_json_of_the_whole(output, version):
    full = {"output": output, "model_version": version}
    assert result_json(canonical_json(output), version) == canonical_json(full)


def test_evaluate_hashes_the_result_as_an_auditor_recomputes_it():
    output = {"channel": "C1", "duty": "12.50", "note": "冷凍牛肉", "n": [1, 2.5, None]}
    r = EchoOracle().evaluate({"output": output})
    assert r.output_json == canonical_json(output)
    assert r.result_hash == hash_json({"output": output, "model_version": "echo-1 ü"})
    assert r.input_hash == hash_json({"output": output})


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_output_is_refused_naming_where(bad):
    with pytest.raises(OracleError) as caught:
        EchoOracle().evaluate({"output": {"duties": {"items": [1.0, bad]}}})
    assert caught.value.code == "non_finite"
    assert "output.duties.items[1]" in caught.value.detail


def test_the_wire_form_of_a_result_is_its_json(tmp_path):
    output = {"b": [1, {"z": "ü"}], "a": None}
    r = EchoOracle().evaluate({"output": output})
    assert json.loads(result_body(r)) == r.to_json()
    read_back = r.__class__(r.kind, r.subject, r.model_version, r.input_hash, output, r.result_hash)
    assert read_back.output_json == b""  # a result from elsewhere is serialised on demand
    assert result_body(read_back) == result_body(r)


def test_the_store_keeps_the_output_it_hashed(tmp_path):
    output = {"channel": "C3", "reasons": [{"code": "x", "score": 0.25}]}
    r = EchoOracle().evaluate({"output": output})
    a = att.Attestation(r.subject, r.kind, r.result_hash, att.model_version("echo-1"), 1, 2)
    store = ResultStore(Database(tmp_path / "results.sqlite"))
    store.save(r, a, b"\x01" * 65, "0xsigner")
    (row,) = store.results("0x" + r.subject.hex())
    assert row["output"] == output
    assert hash_json({"output": row["output"], "model_version": r.model_version}) == r.result_hash
