"""AuditOracle: deterministic scores and selections with their Merkle root (kind AUDIT)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from offchain import attestation as att
from offchain.merkle import MerkleTree, keccak256, leaf_hash, verify
from oracles.audit.model import AuditModel
from oracles.audit.oracle import AuditOracle, selection_proof, selection_tree
from oracles.base import OracleError


@pytest.fixture(scope="module")
def rows(history: pd.DataFrame) -> list[dict]:
    return history.iloc[3000:3200].to_dict("records")


@pytest.fixture(scope="module")
def oracle(model: AuditModel) -> AuditOracle:
    return AuditOracle(model)


def test_one_declaration_score_for_clearance(oracle: AuditOracle, rows: list[dict]) -> None:
    res = oracle.evaluate({"declaration": rows[0]})
    assert res.kind == att.AUDIT
    out = res.output
    assert out["declaration_id"] == rows[0]["Declaration ID"]
    assert 0.0 <= out["score"] <= 1.0
    assert out["model_version"] == oracle.model_version
    others = {"audit": out}  # what the clearance oracle receives
    assert others["audit"]["score"] == out["score"]
    assert all({"factor", "weight", "text"} == set(r) for r in out["reasons"])
    # numbers sent as JSON numbers score the same as the strings of a CSV
    typed = dict(
        rows[0],
        **{"Item Price": float(rows[0]["Item Price"]), "Net Mass": float(rows[0]["Net Mass"])},
    )
    assert oracle.compute({"declaration": typed})["score"] == out["score"]


def test_selection_root_and_proofs(oracle: AuditOracle, rows: list[dict]) -> None:
    res = oracle.evaluate({"declarations": rows, "select_pct": 5})
    out = res.output
    assert out["count"] == 10 == len(out["selected"])  # 5 % of 200
    ids = [s["declaration_id"] for s in out["selected"]]
    scores = [s["score"] for s in out["selected"]]
    assert scores == sorted(scores, reverse=True)
    assert min(scores) >= max(v for k, v in out["scores"].items() if k not in ids)
    tree = MerkleTree.from_values([keccak256(i.encode()) for i in ids])
    assert out["merkle_root"] == "0x" + tree.root.hex() == "0x" + selection_tree(ids).root.hex()
    assert res.subject == tree.root
    leaf = leaf_hash(keccak256(ids[3].encode()))
    assert verify(selection_proof(ids, ids[3]), tree.root, leaf)
    assert not verify(selection_proof(ids, ids[3]), tree.root, leaf_hash(keccak256(b"other")))
    top3 = oracle.compute({"declarations": rows, "top": 3})
    assert [s["declaration_id"] for s in top3["selected"]] == ids[:3]


def test_attest_a_given_list(oracle: AuditOracle) -> None:
    out = oracle.compute({"selected": ["D1", "D2", "D3"]})
    assert out["selected"] == ["D1", "D2", "D3"] and out["count"] == 3
    assert out["merkle_root"] != oracle.compute({"selected": ["D1", "D2", "D4"]})["merkle_root"]
    for bad in (
        {"selected": []},
        {"selected": ["D1", "D1"]},
        {"selected": [1]},
        {},
        {"declarations": []},
        {"declarations": [{"x": 1}, {"x": 2}]},
    ):
        with pytest.raises(OracleError) as info:
            oracle.compute(bad)
        assert info.value.code in ("invalid_request", "missing_column")


def test_same_result_on_every_instance_and_backend(
    model: AuditModel, rows: list[dict], tmp_path: Path
) -> None:
    """A second instance scoring with scikit-learn instead of onnxruntime signs the same."""
    other = tmp_path / "sk"
    shutil.copytree(model.path, other)
    card = json.loads((other / "card.json").read_text())
    card["onnx"]["exported"] = False
    (other / "card.json").write_text(json.dumps(card))
    sk = AuditModel.load(other)
    assert sk.backend == "scikit-learn" and model.backend == "onnxruntime"
    for req in ({"declarations": rows, "select_pct": 10}, {"declaration": rows[5]}):
        a, b = AuditOracle(model).evaluate(req), AuditOracle(sk).evaluate(req)
        assert a.result_hash == b.result_hash and a.subject == b.subject


def test_bad_declaration_data_is_an_oracle_error(oracle: AuditOracle, rows: list[dict]) -> None:
    bad = dict(rows[0], **{"Item Price": "ten"})
    with pytest.raises(OracleError) as info:
        oracle.compute({"declaration": bad})
    assert info.value.code == "bad_number" and info.value.http_status == 422


def test_items_of_one_declaration(oracle: AuditOracle, rows: list[dict]) -> None:
    """Rows are items: a declaration of several items scores as its riskiest one."""
    scores = [oracle.compute({"declaration": r})["score"] for r in rows[:3]]
    items = [dict(r, **{"Declaration ID": "MULTI-1"}) for r in rows[:3]]
    out = oracle.compute({"declaration": items})
    assert out["declaration_id"] == "MULTI-1" and out["score"] == pytest.approx(max(scores))
    sel = oracle.compute({"declarations": items + rows[3:20], "top": 50})
    ids = [s["declaration_id"] for s in sel["selected"]]
    assert ids.count("MULTI-1") == 1 and sel["count"] == 18
    with pytest.raises(OracleError, match="different ids"):
        oracle.compute({"declaration": rows[:2]})
