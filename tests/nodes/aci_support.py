"""Helpers of the advance cargo information and e-payment tests (issue #18).

Not a test module: test modules load it by path (as tests/web/conftest.py loads the node
fixtures), since the tests folder is not a package.  It builds manifests and declarations
from the examples, dated relative to now and under fresh numbers, and serves the real apps
these tests need — nodes, the members' oracle instances, the payment gateway stand-in — on
free ports with uvicorn.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import uvicorn

from offchain.declarations import load_declaration_json
from offchain.manifests import load_manifest, manifest_to_xml
from offchain.payments import sign_request
from offchain.settings import REPO_ROOT, Settings

EXAMPLES = REPO_ROOT / "examples" / "manifests"
_SEA = load_manifest((EXAMPLES / "sea-import-sgsin-twkel.xml").read_bytes()).manifest.to_json()
_AIR = json.loads((EXAMPLES / "air-import-nzakl-twtpe.json").read_text())
_EXPORT = load_manifest((EXAMPLES / "sea-export-twkel-sgsin.xml").read_bytes()).manifest.to_json()
_BEARINGS = json.loads((EXAMPLES / "declaration-bearings-bl.json").read_text())
TEMPLATES = {"sea": _SEA, "air": _AIR, "export": _EXPORT}


def unsampled_ids(settings: Settings, chain: Any) -> Callable[[str], str]:
    """`make(prefix)`: a declaration id no one used that the clearance oracle's random selection
    never picks: by default 2.5 % of ids are drawn into C2 / C3 (keyed on the id, with the
    instances' seed, `[sampling]` in the rules), so a test that expects a declaration to
    stay C1 -- and be released once paid -- must not leave that to chance."""
    from oracles.instances import clearance_oracle

    selectivity = clearance_oracle(settings, chain).selectivity
    cut = sum(selectivity.rules.sampling.values())

    def make(prefix: str) -> str:
        while True:
            candidate = f"{prefix}-{uuid.uuid4().hex[:10]}"
            if selectivity.draw(candidate) >= cut:
                return candidate

    return make


def tag() -> str:
    return uuid.uuid4().hex[:8].upper()


def manifest(
    kind: str = "sea", *, arrival_in: dt.timedelta = dt.timedelta(days=2), suffix: str | None = None
) -> dict[str, Any]:
    """An example manifest as JSON with a new id and transport document numbers (`suffix`),
    arriving `arrival_in` from now (negative: already arrived)."""
    doc = copy.deepcopy(TEMPLATES[kind])
    suffix = suffix or tag()
    arrival = dt.datetime.now(dt.UTC).replace(microsecond=0) + arrival_in
    doc["arrival"] = arrival.isoformat()
    doc["departure"] = (arrival - dt.timedelta(days=3)).isoformat()
    doc["manifest_id"] = f"MF-{suffix}"
    for line in doc["lines"]:
        td = line["transport_document"]
        td["number"] = f"{td['number'][:20]}{suffix}"
    return doc


def manifest_xml(doc: dict[str, Any]) -> bytes:
    return manifest_to_xml(load_manifest(json.dumps(doc).encode(), "application/json").manifest)


def td_number(doc: dict[str, Any], line: int = 0) -> str:
    return doc["lines"][line]["transport_document"]["number"]


def declaration(
    declaration_id: str,
    citations: list[dict[str, Any]] | None,
    **fields: Any,
) -> dict[str, Any]:
    """The bearings declaration (three items of HS chapter 84), dated today, citing lines."""
    body = {**copy.deepcopy(_BEARINGS), "declaration_id": declaration_id,
            "date": dt.date.today().isoformat(), **fields}  # fmt: skip
    if citations is None:
        body.pop("transport_documents", None)
    else:
        body["transport_documents"] = citations
    load_declaration_json(body)  # a malformed helper call fails here, not in the node
    return body


def citation(number: str, packages: int = 46, mass: str = "4450", line: int = 1) -> dict:
    return {"type": "BL", "number": number, "line": line, "packages": packages,
            "gross_mass_kg": mass}  # fmt: skip


@contextmanager
def serve_app(app: Any, port: int) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"app on port {port} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def oracle_instances(settings: Settings, chain: Any, members=("TW", "SG", "NZ")) -> Iterator[None]:
    """Each member's CLEARANCE oracle instance (what these tests' declarations need: they
    set `clearance.oracles = []`), served where the nodes look for them."""
    from offchain import attestation as att
    from offchain.keystore import oracle_account_name
    from oracles.base import OracleInstance
    from oracles.instances import clearance_oracle, instance_url
    from oracles.service import create_instance_app

    with ExitStack() as stack:
        for m in members:
            port = int(instance_url(settings, m).rsplit(":", 1)[1])
            instance = OracleInstance(
                name=m,
                oracle=clearance_oracle(settings, chain),
                account=chain.keys.account(oracle_account_name(m, "CLEARANCE")),
                chain_id=chain.deployment.chain_id,
                hub_address=chain.attestations.address,
            )
            app = create_instance_app(m, {int(att.CLEARANCE): instance})
            stack.enter_context(serve_app(app, port))
        yield


def wait_for(pred, timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def signed_post(
    base_url: str, key, gateway: str, member: str, path: str, payload: dict[str, Any], **kw: Any
) -> httpx.Response:
    """A request signed like the gateway signs it (the key given: real, or a forger's)."""
    body = json.dumps(payload).encode()
    headers = sign_request(key, gateway, member, "POST", path, body, **kw)
    return httpx.post(
        base_url + path, content=body, headers={**headers, "Content-Type": "application/json"},
        timeout=60,
    )  # fmt: skip
