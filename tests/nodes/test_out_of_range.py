"""Out-of-range ids over real HTTP: a 4xx `{"error", "detail"}`, never a 500, and the
connection stays usable (issue #16 item 3).

Path and query ids are bounded at the edge (`nodes.api.deps`: row ids fit SQLite's
INTEGER, proposal ids a uint256); whatever still overflows deeper down is a 400, and an
unexpected error answers 500 without dropping the keep-alive connection.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from chain.devnet import free_port
from nodes.errors import install_error_handlers
from offchain.settings import Settings

pytestmark = pytest.mark.contract

HUGE = "99999999999999999999999"
CASES = [
    ("GET", "/proposals/-1", None),
    ("GET", f"/proposals/{2**256}", None),
    ("GET", f"/proposals/{2**256 + 12345}", None),
    ("POST", "/proposals/-1/votes", {"support": True}),
    ("POST", f"/proposals/{2**256}/votes", {"support": False}),
    ("POST", "/proposals/-1/execute", None),
    ("POST", f"/proposals/{2**256}/execute", None),
    ("GET", f"/trips/events/{HUGE}/proof", None),
    ("GET", "/trips/events/-1/proof", None),
    ("POST", f"/alerts/{HUGE}/ack", {"note": "x"}),
    ("POST", "/alerts/-1/ack", None),
    ("POST", f"/xray/alerts/{HUGE}/feedback", {"decision": "confirm"}),
    ("POST", "/xray/alerts/-5/feedback", {"decision": "reject"}),
    (
        "POST",
        "/xray/scans/nope/feedback",
        {"class": "knife", "decision": "confirm", "alert_id": int(HUGE)},
    ),
    ("GET", f"/alerts?after_id={HUGE}", None),
    ("GET", "/alerts?after_id=-1", None),
    ("GET", f"/alerts?limit={HUGE}", None),
    ("GET", f"/trips/T-1/events?after_id={HUGE}", None),
    ("GET", f"/alerts/stream?after_id={HUGE}", None),
    ("GET", f"/declarations?limit={HUGE}", None),
]


@pytest.fixture(scope="module")
def admin(settings: Settings, node_url, make_api_key) -> Iterator[httpx.Client]:
    key = make_api_key(settings, "TW", "admin")
    with httpx.Client(base_url=node_url("TW"), headers={"X-API-Key": key}, timeout=30) as c:
        yield c


@pytest.mark.parametrize(("method", "path", "body"), CASES, ids=[f"{m} {p}" for m, p, _ in CASES])
def test_an_out_of_range_id_is_a_4xx_json_error_and_the_connection_lives(admin, method, path, body):
    resp = admin.request(method, path, json=body)
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text)
    err = resp.json()
    assert set(err) >= {"error", "detail"} and err["error"] and err["detail"], err
    assert "Traceback" not in resp.text
    again = admin.get("/health")  # the same keep-alive connection still answers
    assert again.status_code == 200


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/proposals/0", 404, "unknown_proposal"),
        (f"/proposals/{2**256 - 1}", 404, "unknown_proposal"),
        (f"/alerts?after_id={2**63 - 1}", 200, None),
    ],
)
def test_ids_at_the_edges_of_the_range_are_just_unknown(admin, path, status, code):
    resp = admin.get(path)
    assert resp.status_code == status, resp.text
    if code:
        assert resp.json()["error"] == code


def test_an_unexpected_error_is_a_json_500_and_keeps_the_connection(serve_app):
    """Two requests on one raw socket: the second is answered after the first one's 500."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> dict:
        raise RuntimeError("a bug")

    @app.get("/big")
    def big() -> dict:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    @app.get("/ok")
    def ok() -> dict:
        return {"ok": True}

    with serve_app(app) as port, socket.create_connection(("127.0.0.1", port), 10) as sock:
        reader = sock.makefile("rb")
        answers = []
        for path in ("/boom", "/big", "/ok"):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            status = int(reader.readline().split()[1])
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            answers.append((status, json.loads(reader.read(length))))
    assert answers[0] == (
        500,
        {"error": "internal_error", "detail": "RuntimeError: the node logged the details"},
    )
    assert answers[1][0] == 400 and answers[1][1]["error"] == "invalid_input"
    assert answers[2] == (200, {"ok": True})


@pytest.fixture
def serve_app():
    @contextmanager
    def run(app: FastAPI) -> Iterator[int]:
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            assert thread.is_alive(), "the app did not start"
            time.sleep(0.02)
        try:
            yield port
        finally:
            server.should_exit = True
            thread.join(timeout=10)

    return run
