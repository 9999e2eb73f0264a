"""The audit ranking in the console: an uploaded history is scored with the node's model (the
API's cached one), declarations and importers ranked with reasons, the model card shown;
no model, bad files and oversized uploads are readable refusals."""

from __future__ import annotations

import csv
import io
import shutil

import pytest

from oracles.audit.service import train_demo
from oracles.audit.settings import model_dir
from oracles.audit.synth import generate

pytestmark = [pytest.mark.contract, pytest.mark.integration]


@pytest.fixture(scope="module")
def audit_model(web_nodes) -> str:
    """A demo model where TW's node looks for it (trained once per test session)."""
    folder = model_dir(web_nodes.settings)
    if not (folder / "card.json").exists():
        train_demo(folder, rows=3000, seed=1)
    return folder


@pytest.fixture(scope="module")
def history() -> bytes:
    return generate(400, seed=5).to_csv(index=False).encode()


def _upload(client, content: bytes, name: str = "history.csv", csrf: bool = True):
    data = {"csrf_token": client.csrf("/ui/audit")} if csrf else {}
    return client.http.post("/ui/audit", data=data, files={"history": (name, content, "text/csv")})


def test_an_auditor_ranks_declarations_and_importers(console, audit_model, history):
    auditor = console("TW", "auditor")
    page = auditor.http.get("/ui/audit")
    assert page.status_code == 200
    assert 'id="model-version">audit-' in page.text and 'id="model-metrics"' in page.text
    r = _upload(auditor, history)
    assert r.status_code == 200, r.text[:3000]
    assert "Ranked: history.csv" in r.text and "400 declarations scored" in r.text
    ranking = r.text[r.text.index('id="ranking"') :]
    rows = ranking.count("<tr data-declaration=")
    assert rows == 100
    assert 'id="companies"' in r.text and r.text.count("<tr data-importer=") == 20
    assert "(+0." in ranking or "(+1." in ranking  # reasons with weights
    # Kept for the next visit, and downloadable.
    again = auditor.http.get("/ui/audit")
    assert "Last file scored on this node: history.csv" in again.text
    assert "uploaded by test-auditor" in again.text
    down = auditor.http.get("/ui/audit/ranking.csv")
    assert down.status_code == 200 and down.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(down.text)))
    assert len(table) == 100 and table[0]["rank"] == "1"
    assert float(table[0]["score"]) >= float(table[-1]["score"])
    assert table[0]["reasons"]


def test_an_officer_may_rank_an_exporter_may_not(console, audit_model, history):
    officer = console("TW", "officer")
    assert officer.http.get("/ui/audit").status_code == 200
    exporter = console("TW", "exporter")
    r = exporter.http.get("/ui/audit")
    assert r.status_code == 403 and "This page is for: auditor, officer" in r.text
    assert exporter.http.get("/ui/audit/ranking.csv").status_code == 403


def test_an_upload_without_its_csrf_token_is_refused(console, audit_model, history):
    auditor = console("TW", "auditor")
    r = _upload(auditor, history, csrf=False)
    assert r.status_code == 403 and "security token" in r.text


def test_bad_files_show_the_oracles_reason(console, audit_model):
    auditor = console("TW", "auditor")
    r = _upload(auditor, b"", "empty.csv")
    assert r.status_code == 400 and 'id="audit-error"' in r.text and "empty" in r.text
    r = _upload(auditor, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "scan.png")
    assert r.status_code == 400 and "unreadable file" in r.text
    r = _upload(auditor, b"colour,size\nred,3\n", "other.csv")
    assert r.status_code == 400 and "missing column" in r.text
    assert "the file has no column for declaration_id" in r.text
    token = auditor.csrf("/ui/audit")
    r = auditor.http.post("/ui/audit", data={"csrf_token": token})
    assert r.status_code == 400 and "choose the declaration history file" in r.text


def test_an_oversized_upload_is_refused_before_it_is_read(
    web_nodes, console, audit_model, history, monkeypatch
):
    monkeypatch.setattr(web_nodes.tw_app.state.node.settings.audit, "max_upload_bytes", 4096)
    auditor = console("TW", "auditor")
    r = _upload(auditor, history)
    assert r.status_code == 413 and "upload too large" in r.text
    assert "4,096 bytes" in r.text


def test_without_a_model_the_page_says_how_to_train_one(web_nodes, console, audit_model):
    moved = audit_model.with_name("model-aside")
    shutil.move(audit_model, moved)
    try:
        auditor = console("TW", "auditor")
        r = auditor.http.get("/ui/audit")
        assert r.status_code == 200 and 'id="no-model"' in r.text
        assert f"smartcustoms audit train --data history.csv --out {audit_model}" in r.text
        r = _upload(auditor, b"Declaration ID\nD1\n")
        assert r.status_code == 404 and "no audit model" in r.text
    finally:
        shutil.move(moved, audit_model)
