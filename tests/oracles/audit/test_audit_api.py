"""The audit API over real HTTP: a member node (no chain needed) with the audit router."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
import uvicorn

from chain.devnet import free_port
from nodes.app import create_app
from nodes.auth import ApiKeys
from offchain.db import Database
from offchain.settings import MemberConfig, Settings
from oracles.audit.model import AuditModel


@pytest.fixture(scope="module")
def node(model: AuditModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    home = tmp_path_factory.mktemp("audit-node")
    settings = Settings(
        home=home, members=[MemberConfig(id="TW", name="Taiwan Customs", api_port=free_port())]
    )
    shutil.copytree(model.path, home / "audit" / "model")
    app = create_app("TW", settings, start_workers=False)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=settings.members[0].api_port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "node did not start"
        time.sleep(0.02)
    db = Database(settings.node_dir("TW") / "node.sqlite")
    keys = {
        role: ApiKeys(db, "TW").create(f"t-{role}-{uuid.uuid4().hex[:4]}", role)[0]
        for role in ("auditor", "officer", "exporter")
    }
    db.close()
    try:
        yield f"http://127.0.0.1:{settings.members[0].api_port}", keys, home
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def later_bytes(later_csv: Path) -> bytes:
    return later_csv.read_bytes()


def post(node: tuple, path: str, body: bytes, role: str = "auditor", **params) -> httpx.Response:
    url, keys, _ = node
    return httpx.post(
        f"{url}/audit/{path}",
        content=body,
        params=params,
        timeout=60,
        headers={"X-API-Key": keys[role], "Content-Type": "text/csv"},
    )


def test_score_upload(node: tuple, later_bytes: bytes, model: AuditModel) -> None:
    r = post(node, "score", later_bytes, top=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == model.version and body["rows"] == 1000
    assert len(body["ranking"]) == 10 and body["ranking"][0]["rank"] == 1
    assert body["ranking"][0]["score"] >= body["ranking"][-1]["score"]
    assert body["ranking"][0]["reasons"]
    r = post(node, "score", later_bytes, role="officer", format="csv")
    assert r.status_code == 200 and r.headers["x-model-version"] == model.version
    assert r.text.splitlines()[0].startswith("rank,declaration_id")


def test_companies_and_evaluate(node: tuple, later_bytes: bytes) -> None:
    r = post(node, "companies", later_bytes, top=3)
    assert r.status_code == 200, r.text
    assert [c["rank"] for c in r.json()["companies"]] == [1, 2, 3]
    r = post(node, "evaluate", later_bytes)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["n"] == 1000 and 0 <= out["precision_at_5pct"] <= 1
    assert set(out["baselines"]) == {"logistic", "plain_gbm"}
    url, keys, _ = node
    info = httpx.get(f"{url}/audit/model", headers={"X-API-Key": keys["auditor"]}).json()
    assert info["backend"] == "onnxruntime" and "oracle" in info["metrics"]


def test_errors(node: tuple, later_bytes: bytes, history: pd.DataFrame) -> None:
    r = post(node, "score", later_bytes, role="exporter")
    assert r.status_code == 403
    r = httpx.post(f"{node[0]}/audit/score", content=later_bytes)
    assert r.status_code == 401
    r = post(node, "score", b"")
    assert r.status_code == 400 and r.json()["error"] == "empty_data"
    nolabel = history.drop(columns="Fraud").head(50).to_csv(index=False).encode()
    r = post(node, "evaluate", nolabel)
    assert r.status_code == 400 and r.json()["error"] == "missing_column"
    bad = history.head(50).copy()
    bad.loc[2, "Item Price"] = "abc"
    r = post(node, "score", bad.to_csv(index=False).encode())
    assert r.status_code == 422 and r.json()["error"] == "bad_number"
    assert "line 4" in r.json()["detail"]
    r = post(node, "score", later_bytes, model="nope")
    assert r.status_code == 404 and r.json()["error"] == "model_missing"
    r = post(node, "score", later_bytes, model="../x")
    assert r.status_code == 422
    renamed = history.head(50).rename(columns={"Importer ID": "IMP"}).to_csv(index=False)
    r = post(node, "score", renamed.encode())
    assert r.status_code == 400 and r.json()["error"] == "missing_column"
    r = post(node, "score", renamed.encode(), map="importer=IMP")
    assert r.status_code == 200, r.text


def test_model_of_another_version_refused(
    node: tuple, later_bytes: bytes, model: AuditModel
) -> None:
    home = node[2]
    target = home / "audit" / "models" / "old"
    shutil.copytree(model.path, target)
    card = target / "card.json"
    card.write_text(card.read_text().replace('"format_version": 1', '"format_version": 99'))
    r = post(node, "score", later_bytes, model="old")
    assert r.status_code == 409 and r.json()["error"] == "model_incompatible"
