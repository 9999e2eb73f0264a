"""Real HTTP: a member node served by uvicorn on a free port, in a thread of the test process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from chain.devnet import free_port
from nodes.app import create_app
from nodes.auth import ApiKeys
from offchain.db import Database
from offchain.settings import REPO_ROOT, Settings


@contextmanager
def serve(
    settings: Settings, member_id: str, *, port: int | None = None, start_workers: bool = True
) -> Iterator[str]:
    """Serve one node on its configured port (or `port`); yields its base URL; stops it."""
    port = port or settings.member(member_id).api_port
    config = uvicorn.Config(
        create_app(member_id, settings, start_workers=start_workers),
        host="127.0.0.1",
        port=port,
        log_level="warning",
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


# --- trade documents: sample documents, API keys, fresh consortia on the session chain -------

EXAMPLES = REPO_ROOT / "examples"
# The document number of each example: replacing it gives a new document (a new hash).
_SAMPLE_NUMBERS = {
    "certificate-of-origin": b"CO-TW-2025-004711",
    "commercial-invoice": b"FCC-INV-2025-0318",
    "packing-list": b"FCC-PL-2025-0318",
}


def sample_document(doc_type: str, number: str | None = None) -> bytes:
    """The example document of `doc_type` under a new (by default random) document number."""
    xml = (EXAMPLES / f"{doc_type}.xml").read_bytes()
    old = _SAMPLE_NUMBERS[doc_type]
    assert xml.count(old) == 1, f"examples/{doc_type}.xml no longer carries {old!r} once"
    return xml.replace(old, (number or f"T-{uuid.uuid4().hex[:20]}").encode())


def api_key(settings: Settings, member_id: str, role: str) -> str:
    """A new API key with `role` on the node of `member_id` (running or not)."""
    db = Database(settings.node_dir(member_id) / "node.sqlite")
    try:
        key, _ = ApiKeys(db, member_id).create(f"test-{role}-{uuid.uuid4().hex[:6]}", role)
    finally:
        db.close()
    return key


def fresh_settings(
    base: Settings,
    home: Path,
    *,
    chain: dict | None = None,
    copy_deployment: bool = True,
    **documents: object,
) -> Settings:
    """`base` with its own `home` (fresh node databases and stores) and new node ports.

    The member keys and the compiled contracts are copied so the nodes act with the accounts
    registered on chain; with `copy_deployment` they use the same deployed contracts.
    `chain` and `documents` override fields of those sections.
    """
    new = base.model_copy(
        update={
            "home": home,
            "members": [m.model_copy(update={"api_port": free_port()}) for m in base.members],
            "chain": base.chain.model_copy(update=chain or {}),
            "documents": base.documents.model_copy(update=documents),
        }
    )
    home.mkdir(parents=True)
    shutil.copytree(base.keys_dir, new.keys_dir)
    if base.build_dir.exists():
        shutil.copytree(base.build_dir, new.build_dir)
    if copy_deployment:
        new.deployment_file.parent.mkdir(parents=True)
        shutil.copy2(base.deployment_file, new.deployment_file)
    return new


@pytest.fixture
def fresh_consortium(settings: Settings, deployment, tmp_path: Path) -> Callable[..., Settings]:
    """`fresh_consortium(max_xml_bytes=2048)`: settings for nodes with their own state.

    Keyword arguments are those of `fresh_settings` (`chain={...}`, `copy_deployment=False`)
    and fields of the documents section.

    Same chain and contracts as the session, so nothing is redeployed; never rewind the
    chain (`snapshot`) under nodes made from these: their databases would not follow.
    """
    made: list[Settings] = []

    def make(**overrides: object) -> Settings:
        new = fresh_settings(settings, tmp_path / f"consortium-{len(made)}", **overrides)
        made.append(new)
        return new

    return make


@pytest.fixture(scope="session")
def sample_xml() -> Callable[..., bytes]:
    """`sample_xml("packing-list")`: a valid, never seen packing list (see sample_document)."""
    return sample_document


@pytest.fixture(scope="session")
def make_api_key() -> Callable[[Settings, str, str], str]:
    """`make_api_key(settings, "TW", "exporter")`: a new key for that role on TW's node."""
    return api_key


@pytest.fixture(scope="session")
def make_fresh_settings() -> Callable[..., Settings]:
    """`fresh_settings` itself, for module-scoped fixtures (fresh_consortium is per test)."""
    return fresh_settings


def run_cli(
    s: Settings, *args: str, api_key: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """`smartcustoms ARGS` in a subprocess, configured (by env) like settings `s`."""
    env = {
        **os.environ,
        "SMARTCUSTOMS_HOME": str(s.home),
        "SMARTCUSTOMS_CHAIN__ANVIL_PORT": str(s.chain.anvil_port),
        "SMARTCUSTOMS_CHAIN__VOTING_PERIOD_S": str(s.chain.voting_period_s),
        "SMARTCUSTOMS_MEMBERS": json.dumps([m.model_dump() for m in s.members]),
        "SMARTCUSTOMS_CLEARANCE__ORACLE_BASE_PORT": str(s.clearance.oracle_base_port),
        "SMARTCUSTOMS_TRANSPORT__BROKER_PORT": str(s.transport.broker_port),
        "NO_COLOR": "1",
        "COLUMNS": "160",
    }
    if api_key:
        env["SMARTCUSTOMS_API_KEY"] = api_key
    return subprocess.run(
        [sys.executable, "-m", "nodes.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=REPO_ROOT,
    )


@pytest.fixture(scope="session")
def cli() -> Callable[..., subprocess.CompletedProcess]:
    """`cli(settings, "trip", "list", "--json", api_key=...)`: the real command line."""
    return run_cli
