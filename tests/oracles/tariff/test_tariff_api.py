"""Tariff classification over real HTTP: a node app (uvicorn, free port) with the router.

The node is TW's app from `nodes.app.create_app` with `nodes.api.tariff.router` included
here (no chain needed: the classifier never touches it).  The service is put on
`app.state.tariff` by the test so its session clock can be moved.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from chain.devnet import free_port
from nodes.app import create_app
from nodes.auth import ApiKeys
from offchain.db import Database
from offchain.settings import Settings
from oracles.tariff.config import SHIPPED_MODEL_DIR, TariffSettings
from oracles.tariff.service import TariffService


@dataclass
class Node:
    url: str
    key: str
    service: TariffService
    clock: list[float]

    def post(self, path: str, **kw) -> httpx.Response:
        headers = {"X-API-Key": self.key, **kw.pop("headers", {})}
        return httpx.post(self.url + path, headers=headers, timeout=30, **kw)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    home = tmp_path_factory.mktemp("tariff-api")
    settings = Settings(home=home)
    member = settings.members[0].id
    db = Database(settings.node_dir(member) / "node.sqlite")
    key, _ = ApiKeys(db, member).create(f"test-{uuid.uuid4().hex[:6]}", "officer")
    db.close()
    app = create_app(member, settings, start_workers=False)
    clock = [1000.0]
    svc = TariffService(TariffSettings.from_settings(settings, SHIPPED_MODEL_DIR))
    svc.sessions.clock = lambda: clock[0]
    app.state.tariff = svc
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "node did not start"
        time.sleep(0.02)
    yield Node(f"http://127.0.0.1:{port}", key, svc, clock)
    server.should_exit = True
    thread.join(timeout=10)


def _error(resp: httpx.Response, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == code, body
    return body["detail"]


def test_classify_answers_candidates_with_tariff_facts(node: Node) -> None:
    r = node.post("/classify", json={"description": "frozen boneless beef cuts", "top": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["candidates"][0]["hs6"] == "020230"
    assert body["candidates"][0]["duty"]["duty_pct"] == "0"
    assert body["question"] is None and body["session"] is None


def test_dialogue_session_to_the_answer(node: Node) -> None:
    body = node.post("/classify", json={"description": "beef boneless"}).json()
    sid, q = body["session"], body["question"]
    assert sid and q["kind"] == "state"
    _error(
        node.post(f"/classify/{sid}/answer", json={"question": "q9", "option": "frozen"}),
        409,
        "question_not_asked",
    )
    _error(
        node.post(f"/classify/{sid}/answer", json={"question": "q1", "option": "woven"}),
        422,
        "invalid_option",
    )
    got = httpx.get(f"{node.url}/classify/{sid}", headers={"X-API-Key": node.key}).json()
    assert got["question"]["id"] == "q1"
    r = node.post(f"/classify/{sid}/answer", json={"question": "q1", "option": "fresh"})
    assert r.status_code == 200, r.text
    assert r.json()["candidates"][0]["hs6"] == "020130" and r.json()["done"] is True
    _error(
        node.post(f"/classify/{sid}/answer", json={"question": "q1", "option": "fresh"}),
        409,
        "no_pending_question",
    )


def test_expired_and_unknown_sessions(node: Node) -> None:
    sid = node.post("/classify", json={"description": "beef boneless"}).json()["session"]
    node.clock[0] += node.service.settings.session_ttl_s + 1
    _error(
        node.post(f"/classify/{sid}/answer", json={"question": "q1", "option": "frozen"}),
        410,
        "session_expired",
    )
    _error(
        node.post(
            "/classify/" + "ab" * 16 + "/answer", json={"question": "q1", "option": "frozen"}
        ),
        404,
        "unknown_session",
    )


@pytest.mark.parametrize(
    ("description", "status", "code"),
    [
        ("", 422, "empty_description"),
        ("   ", 422, "empty_description"),
        ("9" * 12, 422, "no_words"),
        ("cotton shirt " * 8000, 413, "description_too_long"),
    ],
)
def test_bad_descriptions(node: Node, description: str, status: int, code: str) -> None:
    _error(node.post("/classify", json={"description": description}), status, code)


def test_untrained_language_is_marked_unsure(node: Node) -> None:
    body = node.post("/classify", json={"description": "Gefrorenes Rindfleisch ohne Knochen"})
    assert body.status_code == 200
    assert body.json()["low_confidence"] is True and body.json()["confidence"] < 0.2


def test_check_a_declared_code(node: Node) -> None:
    r = node.post(
        "/classify/check",
        json={"description": "Men's cotton knitted T-shirts", "hs_code": "5201.00"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["mismatch"] is True and r.json()["predicted"] == "610910"
    _error(
        node.post("/classify/check", json={"description": "beef", "hs_code": "999999"}),
        404,
        "unknown_hs_code",
    )


def test_evaluate_a_csv_body(node: Node) -> None:
    csv_text = (
        "description,hs_code\nFrozen boneless beef cuts,0202300090\n"
        "Men's cotton knitted T-shirts,610910\n"
    )
    r = node.post(
        "/classify/evaluate", content=csv_text.encode(), headers={"Content-Type": "text/csv"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["n"] == 2 and body["hs6_acc"] == 1.0 and "p95_ms" in body
    _error(
        node.post(
            "/classify/evaluate?label_col=code",
            content=csv_text.encode(),
            headers={"Content-Type": "text/csv"},
        ),
        422,
        "missing_column",
    )


def test_an_api_key_is_needed(node: Node) -> None:
    r = httpx.post(node.url + "/classify", json={"description": "beef"}, timeout=10)
    assert r.status_code == 401


def test_shipped_model_untouched(node: Node) -> None:
    assert node.service.settings.active_model_dir() == Path(SHIPPED_MODEL_DIR)


def test_an_oversized_upload_is_refused(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    monkeypatch.setattr(
        node.service, "settings", replace(node.service.settings, max_upload_bytes=100)
    )
    _error(
        node.post(
            "/classify/evaluate",
            content=b"description,hs_code\n" + b"x" * 200,
            headers={"Content-Type": "text/csv"},
        ),
        413,
        "upload_too_large",
    )
