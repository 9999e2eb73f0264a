"""The auditor's declaration and company traces: every oracle result attested before the
decision, the decision, permit draw-downs and a re-route, each re-verified against the chain;
an oracle result edited in the node's database afterwards is caught and named.

A node of its own (like tests/nodes/test_clearance_api.py): TW with the three members'
oracle instances served where it looks for them, and a demo AUDIT model.  The chain is not
rewound (the session's web nodes live on it); every id here is new.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from nodes.app import create_app
from offchain.declarations import load_declaration_json
from offchain.procs import free_port_run
from offchain.settings import REPO_ROOT, Settings
from oracles.audit.service import train_demo
from oracles.instances import instance_url, member_instances
from oracles.service import create_instance_app

pytestmark = [
    pytest.mark.contract,
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning"),
]

MEMBERS = ("TW", "SG", "NZ")
TODAY = dt.date.today()
EXAMPLES = REPO_ROOT / "examples"


@pytest.fixture(scope="module")
def lodged(
    settings: Settings,
    deployment,
    chain,
    make_fresh_settings,
    make_api_key,
    serve_web_app,
    tmp_path_factory,
) -> Iterator[dict[str, Any]]:
    """TW's node with oracle instances; a beef declaration cleared against a permit (so it is
    drawn down) and re-routed by an officer."""
    cs = make_fresh_settings(settings, tmp_path_factory.mktemp("decl-trace") / "home")
    cs = cs.model_copy(
        update={
            "clearance": cs.clearance.model_copy(
                update={"oracle_base_port": free_port_run(3), "oracle_timeout_s": 30.0}
            )
        }
    )
    train_demo(cs.home / "audit" / "model", rows=3000, seed=2)
    with ExitStack() as stack:
        for m in MEMBERS:
            port = int(instance_url(cs, m).rsplit(":", 1)[1])
            stack.enter_context(
                serve_web_app(create_instance_app(m, member_instances(cs, m, chain)), port)
            )
        app = create_app("TW", cs, start_workers=False)
        url = stack.enter_context(serve_web_app(app, cs.member("TW").api_port))
        keys = {r: make_api_key(cs, "TW", r) for r in ("exporter", "officer", "agency", "auditor")}

        def api(role: str, method: str, path: str, **kw: Any) -> dict[str, Any]:
            r = httpx.request(
                method, url + path, headers={"X-API-Key": keys[role]}, timeout=90, **kw
            )
            assert r.status_code < 400, r.text
            return r.json()

        pid = f"IP-TW-W{uuid.uuid4().hex[:10]}"
        permit = json.loads((EXAMPLES / "permits" / "frozen-beef-tw.json").read_text())
        api(
            "agency",
            "POST",
            "/permits",
            json={
                **permit,
                "permit_id": pid,
                "valid_from": (TODAY - dt.timedelta(days=1)).isoformat(),
                "valid_to": (TODAY + dt.timedelta(days=365)).isoformat(),
            },
        )
        did = f"T-WEB-TRACE-{uuid.uuid4().hex[:10]}"
        raw = (EXAMPLES / "declarations" / "02-frozen-beef-nz-permit.json").read_bytes()
        body = {
            **load_declaration_json(raw).to_json(),
            "declaration_id": did,
            "date": TODAY.isoformat(),
        }
        for item in body["items"]:
            item["permits"] = [pid]
        decided = api("exporter", "POST", "/declarations", json=body)
        assert decided["permit_draws"], decided
        to = "C1" if decided["channel"] != "C1" else "C2"
        api(
            "officer",
            "POST",
            f"/declarations/{did}/reroute",
            json={"channel": to, "reason": "documents checked at the quay"},
        )
        yield {
            "url": url,
            "app": app,
            "keys": keys,
            "id": did,
            "decided": decided,
            "importer": body["importer"]["id"],
            "permit": pid,
        }


@pytest.fixture
def as_role(lodged, console_at) -> Callable[[str], Any]:
    return lambda role: console_at(lodged["url"], lodged["keys"][role])


def test_the_declaration_traces_clean_with_every_step(lodged, as_role):
    auditor = as_role("auditor")
    r = auditor.http.get(f"/ui/trace/declarations/{lodged['id']}")
    assert r.status_code == 200, r.text[:3000]
    assert "All 8 entries re-verified." in r.text, r.text[-6000:]
    steps = (
        "LODGED",
        "TARIFF attested",
        "AUDIT attested",
        "CLEARANCE attested",
        "PERMIT drawn",
        "RE-ROUTED",
        "RELEASE: held",  # the re-route holds the goods, then duties are payable (#18)
        "RELEASE: awaiting_payment",
    )
    at = [r.text.index(f"<strong>{s}</strong>") for s in steps]
    assert at == sorted(at)  # in that order
    decided = lodged["decided"]
    for kind in ("tariff", "audit"):
        a = decided["oracles"][kind]["attestation"]
        assert a["tx"] in r.text and a["model_version"] in r.text
    assert decided["attestation"]["tx"] in r.text
    assert "hashes to the attested result hash" in r.text
    assert "superseded since by a later one" in r.text  # the decision, after the re-route
    assert "PermitRegistry holds the draw of 24000" in r.text
    assert "documents checked at the quay" in r.text
    # From the declaration page and the trace form.
    page = auditor.http.get(f"/ui/declarations/{lodged['id']}")
    assert f'/ui/trace/declarations/{lodged["id"]}" id="trace-link"' in page.text
    r = auditor.http.get("/ui/trace", params={"declaration": lodged["id"]})
    assert r.status_code == 303
    assert r.headers["location"] == f"/ui/trace/declarations/{lodged['id']}"


def test_an_edited_oracle_result_is_caught(lodged, as_role):
    db = lodged["app"].state.node.db
    (row,) = db.query("SELECT decision FROM declarations WHERE declaration_id = ?", (lodged["id"],))
    original = row["decision"]
    edited = json.loads(original)
    edited["oracles"]["audit"]["score"] = 0.0001  # someone lowers the risk score afterwards
    db.execute(
        "UPDATE declarations SET decision = ? WHERE declaration_id = ?",
        (json.dumps(edited), lodged["id"]),
    )
    try:
        r = as_role("auditor").http.get(f"/ui/trace/declarations/{lodged['id']}")
    finally:
        db.execute(
            "UPDATE declarations SET decision = ? WHERE declaration_id = ?",
            (original, lodged["id"]),
        )
    assert r.status_code == 200
    # the AUDIT result and the decision that embeds it both no longer hash as attested
    assert "2 of 8 entries failed re-verification" in r.text, r.text[-6000:]
    assert "the node&#39;s copy of the result hashes to" in r.text


def test_the_company_trace_lists_its_declarations(lodged, as_role):
    auditor = as_role("auditor")
    r = auditor.http.get("/ui/trace", params={"importer": lodged["importer"]})
    assert r.status_code == 303
    r = auditor.http.get(r.headers["location"])
    assert r.status_code == 200, r.text[:3000]
    assert f'data-declaration="{lodged["id"]}"' in r.text
    assert "Every decision is the chain's latest CLEARANCE result." in r.text
    score = lodged["decided"]["oracles"]["audit"]["score"]
    assert f"{score:.3f}" in r.text


def test_unknown_ids_roles_and_bad_input(lodged, as_role):
    auditor = as_role("auditor")
    r = auditor.http.get("/ui/trace/declarations/T-NEVER-LODGED")
    assert r.status_code == 404 and "no declaration T-NEVER-LODGED" in r.text
    r = auditor.http.get("/ui/trace/companies/NOBODY")
    assert r.status_code == 404 and "no declaration of importer NOBODY" in r.text
    r = auditor.http.get("/ui/trace", params={"declaration": "<script>"})
    assert r.status_code == 200 and "is not an id" in r.text and "<script>" not in r.text
    exporter = as_role("exporter")
    r = exporter.http.get(f"/ui/trace/declarations/{lodged['id']}")
    assert r.status_code == 403 and "Not for your role" in r.text
