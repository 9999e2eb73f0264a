"""Real HTTP: a member node served by uvicorn on a free port, in a thread of the test process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from nodes.app import create_app
from offchain.settings import Settings


@contextmanager
def serve(
    settings: Settings, member_id: str, *, port: int | None = None, start_workers: bool = True
) -> Iterator[str]:
    """Serve one node on its configured port (or `port`); yields its base URL; stops it."""
    port = port or settings.member(member_id).api_port
    config = uvicorn.Config(
        create_app(member_id, settings, start_workers=start_workers),
        host="127.0.0.1", port=port, log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"node {member_id} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def node_url(settings: Settings, deployment) -> Iterator[Callable[[str], str]]:
    """`node_url("TW")`: base URL of TW's node on the session chain (started once)."""
    started: dict[str, str] = {}
    stack = []

    def get(member_id: str) -> str:
        if member_id not in started:
            cm = serve(settings, member_id)
            started[member_id] = cm.__enter__()
            stack.append(cm)
        return started[member_id]

    yield get
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def serve_node() -> Callable:
    """The `serve(settings, member_id)` context manager, for nodes with their own settings."""
    return serve
