"""Training, the model directory, scoring backends, calibration and quality on later data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oracles.audit import service
from oracles.audit.data import load_table, prepare
from oracles.audit.errors import AuditError
from oracles.audit.mapping import ColumnMapping
from oracles.audit.model import FORMAT_VERSION, AuditModel, TrainConfig, train
from oracles.audit.onnx_export import OnnxMargin


@pytest.fixture(scope="module")
def later(model: AuditModel, later_csv: Path):
    return service.prepare_for(model, later_csv, need_label=True).frame


def test_model_dir_and_card(model: AuditModel) -> None:
    card = model.card
    assert card["format_version"] == FORMAT_VERSION
    assert model.version.startswith("audit-") and len(model.version) <= 32
    assert card["data"]["rows_used"] == 3000 and card["data"]["validation_rows"] > 300
    assert set(card["metrics"]) == {"oracle", "logistic", "plain_gbm"}
    assert {"te_importer", "uv_ratio", "imp_n_prev", "hs4"} <= set(card["features"])
    md = (model.path / "MODEL_CARD.md").read_text()
    assert model.version in md and "| plain_gbm |" in md and "precision@5%" in md
    assert set(card["files"]) >= {"model.onnx", "model.joblib", "baselines.joblib"}


def test_onnx_export_is_exact(model: AuditModel, later: pd.DataFrame) -> None:
    assert model.backend == "onnxruntime" and model.card["onnx"]["exported"]
    X = model.matrix(later)
    onnx = OnnxMargin((model.path / "model.onnx").read_bytes())
    np.testing.assert_allclose(onnx.margin(X), model.sk.decision_function(X), rtol=0, atol=1e-9)


def test_contributions_add_up_to_the_margin(model: AuditModel, later: pd.DataFrame) -> None:
    X = model.matrix(later)[:200]
    c = model.contributions(X)
    base = float(np.ravel(model.sk._baseline_prediction)[0])
    np.testing.assert_allclose(c.sum(axis=1) + base, model.sk.decision_function(X), atol=1e-9)


def test_scores_are_calibrated_probabilities(model: AuditModel, later: pd.DataFrame) -> None:
    _, s = model.score(later)
    assert ((s >= 0) & (s <= 1)).all()
    rate = later["label"].mean()
    assert abs(s.mean() - rate) < 0.5 * rate  # calibrated on the held-out period, roughly
    again = AuditModel.load(model.path).score(later)[1]
    np.testing.assert_array_equal(s, again)


def test_quality_on_a_later_period(model: AuditModel, later: pd.DataFrame) -> None:
    """Trained on 3,000 declarations; measured on the 1,000 after them."""
    r = service.evaluate(model, later)
    for key in (
        "n",
        "precision_at_1pct",
        "precision_at_5pct",
        "recall_at_5pct",
        "revenue_at_5pct",
        "auc",
    ):
        assert r[key] is not None
    assert r["n"] == 1000
    assert r["auc"] > 0.8
    assert r["precision_at_5pct"] > 4 * r["fraud_rate"]
    assert r["precision_at_5pct"] >= r["baselines"]["plain_gbm"]["precision_at_5pct"]


def test_unseen_categories_at_scoring(model: AuditModel, history: pd.DataFrame) -> None:
    rows = history.iloc[3000:3010].copy()
    rows["Importer ID"] = "NEWCO-1"
    rows["Seller ID"] = "NEW-SELLER"
    rows["HS6 Code"] = "999999"
    rows["Country of Origin"] = "ZZ"
    rows["Office ID"] = "999"
    frame = service.prepare_for(model, rows, need_label=False).frame
    ranked = service.score_frame(model, frame)
    assert np.isfinite(ranked["score"]).all() and ranked["score"].between(0, 1).all()
    assert service.unseen(model, frame) == {"importer": 10, "declarant": 0, "seller": 10, "hs6": 10}
    assert ranked["reasons"].str.len().gt(0).any()


def test_one_class_refused(history: pd.DataFrame, tmp_path: Path) -> None:
    clean = history.head(1000).assign(Fraud="0")
    prep = prepare(clean, ColumnMapping(), need_label=True)
    with pytest.raises(AuditError) as info:
        train(
            prep.frame, tmp_path / "m", mapping=ColumnMapping(), extras=[], data_report=prep.report
        )
    assert info.value.code == "one_class" and "clean" in info.value.detail
    assert not (tmp_path / "m").exists()


def test_too_little_history_refused(history: pd.DataFrame, tmp_path: Path) -> None:
    prep = prepare(history.head(150), ColumnMapping(), need_label=True)
    with pytest.raises(AuditError) as info:
        train(
            prep.frame,
            tmp_path / "m",
            mapping=ColumnMapping(),
            extras=[],
            data_report=prep.report,
            config=TrainConfig(baselines=False),
        )
    assert info.value.code == "too_few_rows"


def _copy(model: AuditModel, tmp_path: Path) -> Path:
    dest = tmp_path / "copy"
    shutil.copytree(model.path, dest)
    return dest


def _edit_card(path: Path, **changes) -> None:
    card = json.loads((path / "card.json").read_text())
    for k, v in changes.items():
        if isinstance(v, dict):
            card[k] |= v
        else:
            card[k] = v
    (path / "card.json").write_text(json.dumps(card))


def test_model_dir_from_another_version_refused(model: AuditModel, tmp_path: Path) -> None:
    path = _copy(model, tmp_path)
    assert AuditModel.load(path).version == model.version
    _edit_card(path, format_version=FORMAT_VERSION + 1)
    with pytest.raises(AuditError) as info:
        AuditModel.load(path)
    assert info.value.code == "model_incompatible" and "Retrain" in info.value.detail
    _edit_card(path, format_version=FORMAT_VERSION, library={"scikit-learn": "0.24.2"})
    with pytest.raises(AuditError) as info:
        AuditModel.load(path)
    assert info.value.code == "model_incompatible" and "0.24.2" in info.value.detail


def test_changed_or_missing_model_refused(model: AuditModel, tmp_path: Path) -> None:
    path = _copy(model, tmp_path)
    table = next((path / "state").glob("*.parquet"))
    table.write_bytes(table.read_bytes() + b"x")
    with pytest.raises(AuditError) as info:
        AuditModel.load(path)
    assert info.value.code == "model_corrupt" and table.name in info.value.detail
    with pytest.raises(AuditError) as info:
        AuditModel.load(tmp_path / "nothing")
    assert info.value.code == "model_missing"


def test_sklearn_backend_when_no_onnx(
    model: AuditModel, later: pd.DataFrame, tmp_path: Path
) -> None:
    path = _copy(model, tmp_path)
    card = json.loads((path / "card.json").read_text())
    card["onnx"] = {"exported": False, "why_not": "test"}
    del card["files"]["model.onnx"]
    (path / "model.onnx").unlink()
    (path / "card.json").write_text(json.dumps(card))
    sk = AuditModel.load(path)
    assert sk.backend == "scikit-learn"
    np.testing.assert_allclose(sk.score(later)[1], model.score(later)[1], atol=1e-12)


def test_extra_columns_follow_the_model(history: pd.DataFrame, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    h = history.head(2500).copy()
    h["Container"] = rng.choice(["20", "40"], len(h))
    path = tmp_path / "h.csv"
    h.to_csv(path, index=False)
    m = service.train_file(
        path, tmp_path / "m", mapping=ColumnMapping(), config=TrainConfig(baselines=False)
    )
    assert m.features[-1] == "x_Container"
    assert m.card["extras"] == [
        {"column": "Container", "kind": "category", "categories": ["20", "40"]}
    ]
    # scoring a file without that column works (missing), and with it too
    for frame in (history.iloc[2500:2600], h.tail(100)):
        _, s = AuditModel.load(tmp_path / "m").score(
            service.prepare_for(m, frame, need_label=False).frame
        )
        assert np.isfinite(s).all()
    assert load_table(path).shape[1] == 24
