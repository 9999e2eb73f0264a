"""Fixtures for the web console: two real nodes (TW exporting, SG importing) on the session
chain, a real mosquitto for TW's trips, and a console client that signs in like a browser.

The node fixtures are defined once, in tests/nodes/conftest.py; pytest reads a conftest only
for the tests under its folder, so this one loads that file and re-exports what it uses.
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from nodes.app import create_app
from offchain.broker import Broker, free_broker
from offchain.settings import Settings

_spec = importlib.util.spec_from_file_location(
    "_node_fixtures", Path(__file__).resolve().parents[1] / "nodes" / "conftest.py"
)
_node_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_node_fixtures)

make_api_key = _node_fixtures.make_api_key
sample_xml = _node_fixtures.sample_xml
make_fresh_settings = _node_fixtures.make_fresh_settings

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def serve_app(app: FastAPI, port: int) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread (like tests/nodes' serve, keeping the app)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("node did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class WebNodes:
    settings: Settings
    tw: str
    sg: str
    tw_app: FastAPI
    sg_app: FastAPI
    broker: Broker
    keys: dict[tuple[str, str], str]

    def key(self, member: str, role: str) -> str:
        if (member, role) not in self.keys:
            self.keys[member, role] = _node_fixtures.api_key(self.settings, member, role)
        return self.keys[member, role]

    def url(self, member: str) -> str:
        return {"TW": self.tw, "SG": self.sg}[member]


@pytest.fixture(scope="session")
def web_nodes(settings: Settings, deployment, tmp_path_factory) -> Iterator[WebNodes]:
    """TW and SG nodes with their own state; TW ingests trips from its own mosquitto."""
    with free_broker(tmp_path_factory.mktemp("web-mqtt")) as broker:
        s = _node_fixtures.fresh_settings(settings, tmp_path_factory.mktemp("web") / "home")
        s = s.model_copy(
            update={
                "transport": s.transport.model_copy(
                    update={
                        "ingest": True,
                        "broker_port": broker.port,
                        "anchor_every_events": 64,
                        "anchor_interval_s": 1.0,
                        "tick_s": 0.2,
                    }
                )
            }
        )
        tw_app, sg_app = create_app("TW", s), create_app("SG", s)
        with (
            serve_app(tw_app, s.member("TW").api_port) as tw,
            serve_app(sg_app, s.member("SG").api_port) as sg,
        ):
            nodes = WebNodes(s, tw, sg, tw_app, sg_app, broker, {})
            _wait(
                lambda: (
                    httpx.get(
                        f"{tw}/trips/ingest", headers={"X-API-Key": nodes.key("TW", "auditor")}
                    )
                    .json()
                    .get("connected")
                ),
                20,
                "TW's ingester to connect to mosquitto",
            )
            yield nodes


def _wait(pred: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class ConsoleClient:
    """An httpx client that signs in to a node's console like a browser does."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=30, follow_redirects=False)

    def csrf(self, path: str) -> str:
        r = self.http.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:500])
        m = CSRF.search(r.text)
        assert m, f"no CSRF token on {path}"
        return m.group(1)

    def sign_in(self, key: str) -> httpx.Response:
        token = self.csrf("/ui/signin")
        r = self.http.post("/ui/signin", data={"csrf_token": token, "api_key": key, "next": "/ui/"})
        assert r.status_code == 303, r.text[:500]
        return r

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def console(web_nodes: WebNodes) -> Iterator[Callable[[str, str | None], ConsoleClient]]:
    """`console("TW", "exporter")`: a client signed in with a new key of that role."""
    made: list[ConsoleClient] = []

    def make(member: str, role: str | None = None) -> ConsoleClient:
        c = ConsoleClient(web_nodes.url(member))
        if role:
            c.sign_in(web_nodes.key(member, role))
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture(scope="session")
def serve_web_app() -> Callable[[FastAPI, int], object]:
    """`serve_app` itself, for modules that serve a node (or oracle instances) of their own."""
    return serve_app


@pytest.fixture
def console_at() -> Iterator[Callable[[str, str | None], ConsoleClient]]:
    """`console_at(base_url, api_key)`: a console client of any served node, signed in."""
    made: list[ConsoleClient] = []

    def make(base: str, key: str | None = None) -> ConsoleClient:
        c = ConsoleClient(base)
        if key:
            c.sign_in(key)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


# --- one headless Chromium per module, shared by the browser tests ------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    """Debian's chromium, headless, with its console log captured (skips if absent).

    Its temporary files (profile, singleton socket) go under pytest's tmp, not /tmp, which
    otherwise kept one `org.chromium.Chromium.*` folder per run."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(
            f"browser tests need Debian's chromium ({CHROMIUM}) and chromium-driver "
            f"({CHROMEDRIVER}); `make test` installs them"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1366,900",
        "--disable-extensions",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    scratch = tmp_path_factory.mktemp("chromium")
    env = {**os.environ, "TMPDIR": str(scratch)}
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER, env=env), options=opts)
    drv.set_page_load_timeout(60)
    try:
        yield drv
    finally:
        drv.quit()


@pytest.fixture
def browser(driver, tmp_path: Path, request):
    """The shared browser, its console log emptied; after the test: a screenshot, and no
    JavaScript errors allowed."""
    driver.get_log("browser")
    yield driver
    shot = tmp_path / f"{request.node.name}.png"
    driver.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"JavaScript console errors: {errors}"
