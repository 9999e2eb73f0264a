"""Declarations and permits over real HTTP: TW's node asks three oracle instance processes.

A consortium of its own (fresh home, node ports, oracle ports) on the session chain: the
three members' clearance instances are served by uvicorn on `instance_url`'s ports, TW's
node reaches them with `HttpInstance` as in production, and the CLI talks to that node.
The chain is not rewound under these nodes (their databases would not follow): every
declaration and permit here has an id no other test uses, and the chain is rewound only
when the module ends and its nodes are gone.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from offchain import attestation as att
from offchain.declarations import declaration_hash, load_declaration_json, load_declaration_xml
from offchain.permits import permit_id_bytes
from offchain.procs import free_port_run
from offchain.settings import REPO_ROOT, Settings
from oracles.audit.service import train_demo
from oracles.instances import instance_url, member_instances
from oracles.service import create_instance_app

_spec = importlib.util.spec_from_file_location(
    "_aci_support", Path(__file__).with_name("aci_support.py")
)
aci = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(aci)

pytestmark = [
    pytest.mark.contract,
    # offchain/declarations/'s date field warns when serialised (model_dump_json)
    pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning"),
]

MEMBERS = ("TW", "SG", "NZ")
CLEARANCE = int(att.CLEARANCE)
DECLARATIONS = REPO_ROOT / "examples" / "declarations"
PERMITS = REPO_ROOT / "examples" / "permits"
TODAY = dt.date.today()
RESPONSE_KEYS = {"declaration", "channel", "duties", "reasons", "attestation"}


# --- a consortium with its own oracle instances --------------------------------------------


@contextmanager
def serve_app(app: Any, port: int) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"app on port {port} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module", autouse=True)
def rewound_after_module(rewinding) -> Iterator[None]:
    """Once this module's nodes have stopped, rewind the chain to where the module found it:
    later tests see neither its permits and attestations nor the fees it paid (TxSender's
    doubled gas price feeds anvil's price oracle, so fees grow with every transaction)."""
    with rewinding():
        yield


@pytest.fixture(scope="module")
def cs(settings: Settings, deployment, make_fresh_settings, tmp_path_factory) -> Settings:
    """Settings of this module's consortium: own home and node ports, 3 free oracle ports."""
    new = make_fresh_settings(settings, tmp_path_factory.mktemp("clearance") / "home")
    clearance = new.clearance.model_copy(
        update={"oracle_base_port": free_port_run(3), "oracle_timeout_s": 30.0}
    )
    train_demo(new.home / "audit" / "model", rows=6000)  # the AUDIT oracle's model
    return new.model_copy(update={"clearance": clearance})


@pytest.fixture(scope="module")
def oracle_urls(cs: Settings, chain) -> Iterator[dict[str, str]]:
    """The three members' clearance instances, served where the node looks for them."""
    with ExitStack() as stack:
        yield {
            m: stack.enter_context(
                serve_app(
                    create_instance_app(m, member_instances(cs, m, chain)),
                    int(instance_url(cs, m).rsplit(":", 1)[1]),
                )
            )
            for m in MEMBERS
        }


@pytest.fixture(scope="module")
def tw(cs: Settings, oracle_urls, serve_node) -> Iterator[str]:
    """TW's node on this consortium."""
    with serve_node(cs, "TW", start_workers=False) as url:
        yield url


@pytest.fixture(scope="module")
def keys(cs: Settings, make_api_key) -> dict[str, str]:
    return {
        role: make_api_key(cs, "TW", role) for role in ("exporter", "officer", "agency", "auditor")
    }


@pytest.fixture(scope="module")
def api(tw: str, keys: dict[str, str]) -> Iterator[Callable[..., httpx.Response]]:
    """`api("officer", "POST", "/declarations", json=...)`: a request as that user of TW."""
    with httpx.Client(base_url=tw, timeout=90) as client:

        def call(role: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
            headers = {**({"X-API-Key": keys[role]} if role else {}), **kw.pop("headers", {})}
            return client.request(method, path, headers=headers, **kw)

        yield call


@pytest.fixture(scope="module")
def new_id(cs: Settings, chain) -> Callable[[str], str]:
    """`new_id("C1")`: a declaration id no one used, never picked by random selection (the
    sampling draw the instances use: their seed is the session keystore's)."""
    make = aci.unsampled_ids(cs, chain)
    return lambda prefix: make(f"T-API-{prefix}")


def example_json(name: str, declaration_id: str, **fields: Any) -> dict[str, Any]:
    """An example declaration as a JSON body, dated today, under a new id."""
    path = DECLARATIONS / name
    raw = path.read_bytes()
    decl = load_declaration_xml(raw) if path.suffix == ".xml" else load_declaration_json(raw)
    return {**decl.to_json(), "date": TODAY.isoformat(), "declaration_id": declaration_id, **fields}


def example_xml(name: str, declaration_id: str) -> bytes:
    """An example XML file as a user sends it, with a new id and today's date."""
    raw = (DECLARATIONS / name).read_text()
    old_id = raw.split("<DeclarationID>")[1].split("</DeclarationID>")[0]
    old_date = raw.split("<DeclarationDate>")[1].split("</DeclarationDate>")[0]
    return (
        raw.replace(f"<DeclarationID>{old_id}<", f"<DeclarationID>{declaration_id}<")
        .replace(f"<DeclarationDate>{old_date}<", f"<DeclarationDate>{TODAY}<")
        .encode()
    )


def beef_permit(permit_id: str, **fields: Any) -> dict[str, Any]:
    permit = json.loads((PERMITS / "frozen-beef-tw.json").read_text())
    return {
        **permit,
        "permit_id": permit_id,
        "valid_from": (TODAY - dt.timedelta(days=1)).isoformat(),
        "valid_to": (TODAY + dt.timedelta(days=365)).isoformat(),
        **fields,
    }


def beef_declaration(declaration_id: str, permit_id: str) -> dict[str, Any]:
    body = example_json("02-frozen-beef-nz-permit.json", declaration_id)
    for item in body["items"]:
        item["permits"] = [permit_id]
    return body


def assert_decision(body: dict[str, Any], chain, declaration_id: str) -> None:
    """A decision as the API answers it, attested on chain with the result it reports."""
    assert set(body) >= RESPONSE_KEYS, body
    assert body["declaration"] == declaration_id
    assert body["channel"] in ("C1", "C2", "C3")
    assert {"duty", "tax", "total", "items"} <= set(body["duties"])
    a = body["attestation"]
    assert a["tx"].startswith("0x") and len(a["tx"]) == 66
    assert len(a["signers"]) == len(set(a["signers"])) >= 2
    latest = chain.attestations.latest(body["declaration_hash"], CLEARANCE)
    assert latest is not None
    assert "0x" + latest.result_hash.hex() == a["result_hash"]


# --- declarations ----------------------------------------------------------------------------


def test_post_json_declaration_answers_the_attested_decision(api, chain, new_id):
    did = new_id("JSON")
    resp = api(
        "exporter", "POST", "/declarations", json=example_json("01-machinery-parts-sg.json", did)
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert_decision(body, chain, did)
    assert body["channel"] == "C1" and body["reasons"] == []
    assert Decimal(body["duties"]["duty"]) == 0 and Decimal(body["duties"]["tax"]) > 0
    assert set(body["attestation"]["instances"]) <= set(MEMBERS)


def test_post_xml_declaration_answers_the_attested_decision(api, chain, new_id):
    did = new_id("XML")
    resp = api(
        "officer",
        "POST",
        "/declarations",
        content=example_xml("04-lithium-batteries-cn.xml", did),
        headers={"Content-Type": "application/xml"},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert_decision(body, chain, did)
    assert body["channel"] == "C2"
    assert [r["rule"] for r in body["reasons"]] == ["DANGEROUS-GOODS"]
    assert body["duties"]["items"][0]["rate"] == "4"


def test_xml_and_json_twins_get_the_same_decision(api, new_id):
    """Same declaration, two forms: one subject, so the second is the first's duplicate."""
    did = new_id("TWIN")
    first = api(
        "exporter",
        "POST",
        "/declarations",
        content=example_xml("01-machinery-parts-sg.xml", did),
        headers={"Content-Type": "application/xml"},
    )
    assert first.status_code == 201, first.text
    twin = api(
        "exporter", "POST", "/declarations", json=example_json("01-machinery-parts-sg.json", did)
    )
    assert twin.status_code == 200, twin.text
    assert twin.json()["duplicate"] is True
    assert twin.json()["declaration_hash"] == first.json()["declaration_hash"]


def test_the_example_set_lands_in_c1_c2_and_c3(api, chain, new_id):
    expected = {
        "01-machinery-parts-sg.json": ("C1", set()),
        "04-lithium-batteries-cn.xml": ("C2", {"DANGEROUS-GOODS"}),
        "05-undervalued-apparel-vn.xml": ("C2", {"UNDERVALUE-APPAREL"}),
        "06-arms-prohibited-hr.xml": ("C3", {"PROHIBITED", "ARMS-CH93", "PERMIT-INVALID"}),
    }
    seen = set()
    for name, (channel, must) in expected.items():
        did = new_id(name[:2])
        resp = api("exporter", "POST", "/declarations", json=example_json(name, did))
        assert resp.status_code == 201, (name, resp.text)
        body = resp.json()
        assert_decision(body, chain, did)
        assert body["channel"] == channel, (name, body["reasons"])
        assert must <= {r["rule"] for r in body["reasons"]}, (name, body["reasons"])
        seen.add(body["channel"])
    assert seen == {"C1", "C2", "C3"}


def test_list_and_get_declarations(api, new_id):
    did = new_id("GET")
    posted = api(
        "exporter", "POST", "/declarations", json=example_json("01-machinery-parts-sg.json", did)
    ).json()
    listed = api("auditor", "GET", "/declarations", params={"limit": 500})
    assert listed.status_code == 200
    assert did in [d["declaration"] for d in listed.json()]
    one = api("auditor", "GET", f"/declarations/{did}")
    assert one.status_code == 200
    rec = one.json()
    assert rec["declaration_hash"] == posted["declaration_hash"]
    assert rec["channel"] == rec["engine_channel"] == posted["channel"]
    assert rec["attestation"]["tx"] == posted["attestation"]["tx"]
    assert rec["reroutes"] == [] and rec["created_by"].startswith("test-exporter")
    assert (
        api("auditor", "GET", "/declarations", params={"limit": 1}).json()[0]["declaration"] == did
    )  # newest first


def test_unknown_declaration_is_404(api):
    resp = api("officer", "GET", "/declarations/T-NEVER-LODGED")
    assert resp.status_code == 404
    assert resp.json()["error"] == "unknown_declaration"
    resp = api(
        "officer",
        "POST",
        "/declarations/T-NEVER-LODGED/reroute",
        json={"channel": "C3", "reason": "intelligence report 42"},
    )
    assert resp.status_code == 404
    assert resp.json()["error"] == "unknown_declaration"


def test_declarations_need_a_key_and_a_lodging_role(api, new_id):
    body = example_json("01-machinery-parts-sg.json", new_id("AUTH"))
    assert api(None, "POST", "/declarations", json=body).status_code == 401
    resp = api("auditor", "POST", "/declarations", json=body)
    assert resp.status_code == 403
    assert api("auditor", "GET", f"/declarations/{body['declaration_id']}").status_code == 404


def test_an_officer_reroutes_and_the_engine_channel_stays(api, chain, new_id):
    did = new_id("REROUTE")
    decided = api(
        "exporter", "POST", "/declarations", json=example_json("01-machinery-parts-sg.json", did)
    ).json()
    resp = api(
        "officer",
        "POST",
        f"/declarations/{did}/reroute",
        json={"channel": "C3", "reason": "tip-off from the port police"},
    )
    assert resp.status_code == 200, resp.text
    rec = resp.json()
    assert (rec["channel"], rec["engine_channel"]) == ("C3", "C1")
    (entry,) = rec["reroutes"]
    assert (entry["from"], entry["to"]) == ("C1", "C3")
    assert entry["reason"] == "tip-off from the port police"
    assert entry["officer"].startswith("test-officer")
    # the re-route is attested too, on top of the decision
    assert len(entry["attestation"]["signers"]) >= 2
    assert entry["attestation"]["tx"] != decided["attestation"]["tx"]
    latest = chain.attestations.latest(decided["declaration_hash"], CLEARANCE)
    assert "0x" + latest.result_hash.hex() == entry["attestation"]["result_hash"]
    again = api("officer", "GET", f"/declarations/{did}").json()
    assert again["channel"] == "C3" and again["reroutes"] == rec["reroutes"]


def test_a_reroute_by_an_exporter_is_403_and_changes_nothing(api, new_id):
    did = new_id("NOREROUTE")
    api("exporter", "POST", "/declarations", json=example_json("01-machinery-parts-sg.json", did))
    resp = api(
        "exporter",
        "POST",
        f"/declarations/{did}/reroute",
        json={"channel": "C1", "reason": "please release"},
    )
    assert resp.status_code == 403
    assert resp.json()["error"] == "forbidden"
    rec = api("officer", "GET", f"/declarations/{did}").json()
    assert rec["channel"] == "C1" and rec["reroutes"] == []


def test_a_reroute_to_the_same_or_no_channel_is_refused(api, new_id):
    did = new_id("SAME")
    api("exporter", "POST", "/declarations", json=example_json("01-machinery-parts-sg.json", did))
    same = api(
        "officer",
        "POST",
        f"/declarations/{did}/reroute",
        json={"channel": "C1", "reason": "no change"},
    )
    assert same.status_code == 409 and same.json()["error"] == "same_channel"
    bad = api(
        "officer",
        "POST",
        f"/declarations/{did}/reroute",
        json={"channel": "C9", "reason": "no such lane"},
    )
    assert bad.status_code == 422


def test_the_same_declaration_twice_is_200_duplicate_and_one_attestation(api, chain, new_id):
    did = new_id("DUP")
    body = example_json("01-machinery-parts-sg.json", did)
    first = api("exporter", "POST", "/declarations", json=body)
    start = chain.w3.eth.block_number
    again = api("exporter", "POST", "/declarations", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["duplicate"] is True
    assert again.json()["attestation"] == first.json()["attestation"]
    assert chain.w3.eth.block_number == start  # nothing sent the second time


def test_the_same_id_with_other_content_is_409(api, chain, new_id):
    did = new_id("CONFLICT")
    body = example_json("01-machinery-parts-sg.json", did)
    assert api("exporter", "POST", "/declarations", json=body).status_code == 201
    other = {**body, "office": "TWTPE"}
    start = chain.w3.eth.block_number
    resp = api("exporter", "POST", "/declarations", json=other)
    assert resp.status_code == 409
    assert resp.json()["error"] == "declaration_exists"
    assert chain.w3.eth.block_number == start
    subject = declaration_hash(load_declaration_json(other))
    assert chain.attestations.latest(subject, CLEARANCE) is None


@pytest.mark.parametrize(
    ("where", "value", "code"),
    [
        ("customs_value", "-1.00", "negative_value"),
        ("customs_value", "NaN", "not_finite"),
        ("net_mass_kg", "Infinity", "not_finite"),
        ("currency", "XYZ", "invalid_currency"),
        ("currency", "usd", "invalid_currency"),
    ],
)
def test_bad_values_are_422_and_nothing_is_stored_or_attested(
    api, chain, new_id, where, value, code
):
    did = new_id("BAD")
    body = example_json("01-machinery-parts-sg.json", did)
    if where == "currency":
        body["currency"] = value
    else:
        body["items"][0][where] = value
    start = chain.w3.eth.block_number
    resp = api(
        "exporter",
        "POST",
        "/declarations",
        content=json.dumps(body),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == code
    assert api("officer", "GET", f"/declarations/{did}").status_code == 404
    assert chain.w3.eth.block_number == start


def test_a_raw_nan_literal_in_json_is_422(api, chain, new_id):
    did = new_id("NAN")
    text = json.dumps(example_json("01-machinery-parts-sg.json", did))
    text = text.replace('"customs_value": "6250"', '"customs_value": NaN', 1)
    assert "NaN" in text
    resp = api(
        "exporter",
        "POST",
        "/declarations",
        content=text,
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "not_finite"
    assert api("officer", "GET", f"/declarations/{did}").status_code == 404


def test_a_negative_value_in_xml_is_422(api, new_id):
    did = new_id("XMLNEG")
    xml = example_xml("01-machinery-parts-sg.xml", did).replace(
        b"<CustomsValue>6250.00</CustomsValue>", b"<CustomsValue>-6250.00</CustomsValue>"
    )
    resp = api(
        "exporter",
        "POST",
        "/declarations",
        content=xml,
        headers={"Content-Type": "application/xml"},
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] in ("schema_invalid", "negative_value")
    assert api("officer", "GET", f"/declarations/{did}").status_code == 404


def test_an_unknown_hs_code_is_422_and_nothing_is_stored_or_attested(api, chain, new_id):
    did = new_id("HS")
    body = example_json("01-machinery-parts-sg.json", did)
    body["items"][0]["hs_code"] = "999999"
    start = chain.w3.eth.block_number
    resp = api("exporter", "POST", "/declarations", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "unknown_hs_code"
    assert api("officer", "GET", f"/declarations/{did}").status_code == 404
    assert chain.w3.eth.block_number == start


def test_oracle_instances_going_down_one_then_all(
    settings, deployment, chain, make_fresh_settings, make_api_key, serve_node, tmp_path, new_id
):
    """Two of three instances answer: attested by those two.  None answers: 503, the node
    keeps nothing and nothing goes on chain."""
    own = make_fresh_settings(settings, tmp_path / "home")
    own = own.model_copy(
        update={
            "clearance": own.clearance.model_copy(
                update={"oracle_base_port": free_port_run(3), "oracle_timeout_s": 10.0}
            )
        }
    )
    key = make_api_key(own, "TW", "exporter")
    headers = {"X-API-Key": key}

    def instance(m: str):
        app = create_instance_app(m, member_instances(own, m, chain))
        return serve_app(app, int(instance_url(own, m).rsplit(":", 1)[1]))

    with serve_node(own, "TW", start_workers=False) as url, httpx.Client(timeout=60) as http:
        with instance("TW"), instance("SG"):  # NZ's instance never started
            did = new_id("ONEDOWN")
            body = example_json("01-machinery-parts-sg.json", did)
            resp = http.post(f"{url}/declarations", json=body, headers=headers)
            assert resp.status_code == 201, resp.text
            assert resp.json()["attestation"]["instances"] == ["TW", "SG"]
            assert len(resp.json()["attestation"]["signers"]) == 2

        did = new_id("ALLDOWN")
        body = example_json("01-machinery-parts-sg.json", did)
        start = chain.w3.eth.block_number
        resp = http.post(f"{url}/declarations", json=body, headers=headers)
        assert resp.status_code == 503, resp.text
        assert resp.json()["error"] == "oracle_unavailable"
        assert "nothing was submitted" in resp.json()["detail"]
        assert http.get(f"{url}/declarations/{did}", headers=headers).status_code == 404
        assert chain.w3.eth.block_number == start
        subject = declaration_hash(load_declaration_json(body))
        assert chain.attestations.latest(subject, CLEARANCE) is None


# --- permits -------------------------------------------------------------------------------------


def test_issue_a_permit_and_clear_against_it(api, chain, new_id):
    pid = f"IP-TW-T{uuid.uuid4().hex[:10]}"
    resp = api("agency", "POST", "/permits", json=beef_permit(pid))
    assert resp.status_code == 201, resp.text
    issued = resp.json()
    assert issued["issuer_member"] == "TW"

    view = api("auditor", "GET", f"/permits/{pid}")
    assert view.status_code == 200
    assert Decimal(str(view.json()["remaining"])) == Decimal(30000)

    did = new_id("BEEF")
    resp = api("exporter", "POST", "/declarations", json=beef_declaration(did, pid))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert [p["ok"] for p in body["permits"]] == [True, True]
    assert body["channel"] == "C3"  # quarantine, not the permit
    assert "PERMIT-INVALID" not in {r["rule"] for r in body["reasons"]}
    assert body["permit_draws"] == [{"permit": pid, "hs_code": "020230", "quantity": "24000"}]
    after = api("auditor", "GET", f"/permits/{pid}").json()
    assert Decimal(str(after["remaining"])) == Decimal(6000)
    assert chain.permits.remaining(permit_id_bytes(pid)) == Decimal(6000)


def test_a_declaration_citing_an_unknown_permit_goes_to_c3(api, new_id):
    did = new_id("NOPERMIT")
    resp = api(
        "exporter",
        "POST",
        "/declarations",
        json=beef_declaration(did, f"IP-TW-NONE-{uuid.uuid4().hex[:8]}"),
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["channel"] == "C3"
    assert "PERMIT-INVALID" in {r["rule"] for r in body["reasons"]}
    assert all("does not exist on chain" in p["reason"] for p in body["permits"])
    assert body["permit_draws"] == []


def test_a_permit_for_another_members_agency_is_403(api, chain):
    pid = f"SG-T{uuid.uuid4().hex[:10]}"
    body = beef_permit(pid, agency="SG", holder="SG-UEN-201912345K")
    resp = api("agency", "POST", "/permits", json=body)
    assert resp.status_code == 403
    assert resp.json()["error"] == "wrong_agency"
    assert chain.permits.permit(permit_id_bytes(pid)) is None


def test_permits_need_the_agency_role(api):
    pid = f"IP-TW-T{uuid.uuid4().hex[:10]}"
    resp = api("exporter", "POST", "/permits", json=beef_permit(pid))
    assert resp.status_code == 403
    assert api("auditor", "GET", f"/permits/{pid}").status_code == 404


def test_an_invalid_permit_is_refused_with_its_problems(api):
    pid = f"IP-TW-T{uuid.uuid4().hex[:10]}"
    resp = api("agency", "POST", "/permits", json=beef_permit(pid, quantity=-1))
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "invalid_permit"


def test_an_unknown_permit_is_404(api):
    resp = api("auditor", "GET", "/permits/NO-SUCH-PERMIT-1")
    assert resp.status_code == 404
    assert resp.json()["error"] == "unknown_permit"


# --- the command line ------------------------------------------------------------------------------


def sc(cs: Settings, *args: str, api_key: str | None = None) -> subprocess.CompletedProcess:
    members = [m.model_dump() for m in cs.members]
    env = {
        **os.environ,
        "SMARTCUSTOMS_HOME": str(cs.home),
        "SMARTCUSTOMS_CHAIN__ANVIL_PORT": str(cs.chain.anvil_port),
        "SMARTCUSTOMS_CHAIN__VOTING_PERIOD_S": str(cs.chain.voting_period_s),
        "SMARTCUSTOMS_MEMBERS": json.dumps(members),
        "SMARTCUSTOMS_CLEARANCE__ORACLE_BASE_PORT": str(cs.clearance.oracle_base_port),
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
        timeout=120,
        cwd=REPO_ROOT,
    )


def test_cli_declare_json_prints_the_decision(cs, tw, keys, chain, new_id, tmp_path: Path):
    did = new_id("CLI")
    path = tmp_path / "declaration.xml"
    path.write_bytes(example_xml("01-machinery-parts-sg.xml", did))
    out = sc(cs, "declare", str(path), "--member", "TW", "--json", api_key=keys["exporter"])
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert_decision(body, chain, did)
    assert body["channel"] == "C1"

    readable = sc(cs, "declare", str(path), "--member", "TW", api_key=keys["exporter"])
    assert readable.returncode == 0, readable.stderr
    assert f"declaration {did}: C1 (already lodged)" in readable.stdout
    assert "attested in tx" in readable.stdout


def test_cli_declare_a_bad_file_is_one_line_and_exit_1(cs, tw, keys, tmp_path: Path, new_id):
    body = example_json("01-machinery-parts-sg.json", new_id("CLIBAD"), currency="XYZ")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(body))
    out = sc(cs, "declare", str(path), "--member", "TW", api_key=keys["exporter"])
    assert out.returncode == 1
    assert "invalid_currency" in out.stderr
    assert "Traceback" not in out.stderr


def test_cli_declare_an_example_file_again_under_a_new_id(cs, tw, keys, new_id):
    """Issue #20 item 2: `make run` lodges the example files (dated today), so lodging
    `examples/declarations/01-machinery-parts-sg.xml` as the README says failed
    (`declaration_exists`, or `date_too_old` for its 2025 date) with no way out."""
    example = str(DECLARATIONS / "01-machinery-parts-sg.xml")
    did = new_id("CLIX")
    first = sc(cs, "declare", example, "--id", did, "--today", api_key=keys["exporter"])
    assert first.returncode == 0, first.stderr
    assert f"declaration {did}: " in first.stdout
    assert re.search(r"duty \S+ TWD, tax \S+ TWD, total \S+ TWD", first.stdout), first.stdout

    as_written = sc(cs, "declare", example, "--id", did, api_key=keys["exporter"])
    assert as_written.returncode == 1
    assert "--today" in as_written.stderr or "--new-id" in as_written.stderr, as_written.stderr

    again = sc(cs, "declare", example, "--new-id", "--today", "--json", api_key=keys["exporter"])
    assert again.returncode == 0, again.stderr
    body = json.loads(again.stdout)
    assert body["declaration"].startswith("TW-IM-2025-000101-") and not body.get("duplicate")
    assert body["duties"]["currency"] == "TWD"


def test_cli_permit_issue_from_today(cs, tw, keys, tmp_path: Path):
    pid = f"IP-TW-F{uuid.uuid4().hex[:10]}"
    path = tmp_path / "permit.json"
    path.write_text(json.dumps({**beef_permit(pid), "valid_from": "2020-01-01",
                                "valid_to": "2020-12-30"}))  # fmt: skip
    issued = sc(cs, "permit", "issue", str(path), "--from-today", api_key=keys["agency"])
    assert issued.returncode == 0, issued.stderr
    today = dt.datetime.now(dt.UTC).date()
    assert f"permit {pid} issued by TW" in issued.stdout, issued.stdout
    assert f"valid {today.isoformat()}T00:00:00Z to " in issued.stdout, issued.stdout
    shown = sc(cs, "permit", "show", pid)
    assert f"permit {pid} (in force)" in shown.stdout, shown.stdout


def test_cli_permit_issue_and_show_json(cs, tw, keys, tmp_path: Path):
    pid = f"IP-TW-T{uuid.uuid4().hex[:10]}"
    path = tmp_path / "permit.json"
    path.write_text(json.dumps(beef_permit(pid)))
    issued = sc(cs, "permit", "issue", str(path), "--json", api_key=keys["agency"])
    assert issued.returncode == 0, issued.stderr
    assert json.loads(issued.stdout)["issuer_member"] == "TW"

    shown = sc(cs, "permit", "show", pid, "--json")
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    assert Decimal(str(view["remaining"])) == Decimal(30000)
    assert view["hs_codes"] == ["020230"]
    assert view["issuer_member"] == "TW"

    missing = sc(cs, "permit", "show", "NO-SUCH-PERMIT-2")
    assert missing.returncode == 1
    assert "unknown_permit" in missing.stderr


# --- the TARIFF oracle before the decision ------------------------------------------------


def test_tariff_oracle_result_is_attested_and_feeds_selectivity(api, chain, new_id):
    """Men's cotton T-shirts declared as ball bearings (0 % duty instead of 12 %): the TARIFF
    oracle disputes the code, its result is attested on chain before the decision, and the
    TARIFF-MISCLASSIFIED rule routes the declaration to C2."""
    did = new_id("TARIFF")
    body = example_json("01-machinery-parts-sg.json", did)
    body["items"] = [
        {
            **body["items"][0],
            "description": "men's cotton knitted T-shirts",
            "hs_code": "848210",
            "customs_value": 40000,
            "quantity": 20000,
        }
    ]
    body["totals"] = {
        **body["totals"],
        "item_count": 1,
        "customs_value": 40000,
        "net_mass_kg": body["items"][0]["net_mass_kg"],
    }
    resp = api("exporter", "POST", "/declarations", json=body)
    assert resp.status_code == 201, resp.text
    out = resp.json()
    tariff = out["oracles"]["tariff"]
    assert tariff["mismatch"] is True and tariff["duty_gap"] > 5000
    assert tariff["items"][0]["predicted"].startswith("6109")
    receipt = chain.w3.eth.get_transaction_receipt(tariff["attestation"]["tx"])
    assert receipt["status"] == 1
    assert tariff["attestation"]["model_version"].startswith("tariff-")
    assert "TARIFF-MISCLASSIFIED" in [r["rule"] for r in out["reasons"]]
    assert out["channel"] in ("C2", "C3")


def test_audit_oracle_scores_the_declaration_on_chain(api, chain, new_id):
    resp = api(
        "exporter",
        "POST",
        "/declarations",
        json=example_json("01-machinery-parts-sg.json", new_id("AUDIT")),
    )
    assert resp.status_code == 201, resp.text
    audit = resp.json()["oracles"]["audit"]
    assert 0.0 <= audit["score"] <= 1.0 and audit["reasons"]
    assert chain.w3.eth.get_transaction_receipt(audit["attestation"]["tx"])["status"] == 1
    assert audit["attestation"]["model_version"] == audit["model_version"]


def test_a_small_duty_gap_does_not_reroute(api, new_id):
    """The model suggests other machinery headings for two items (its known weakness on
    parts of machines), but with no material duty difference selectivity leaves it alone."""
    resp = api(
        "exporter",
        "POST",
        "/declarations",
        json=example_json("01-machinery-parts-sg.json", new_id("TARIFFOK")),
    )
    assert resp.status_code == 201, resp.text
    tariff = resp.json()["oracles"]["tariff"]
    bearings = tariff["items"][0]
    assert bearings["predicted"] == "848210" and bearings["mismatch"] is False
    assert tariff["duty_gap"] <= 5000
    assert "TARIFF-MISCLASSIFIED" not in [r["rule"] for r in resp.json()["reasons"]]


# --- the XRAY oracle: a scan judged, attested, alerted, and used by clearance --------------


def _firearm_png() -> bytes:
    import io

    from PIL import Image

    from oracles.xray import synth

    buf = io.BytesIO()
    Image.fromarray(synth.scan(7, 0, threats={"firearm": 1}).image).save(buf, "PNG")
    return buf.getvalue()


def _scanned(api, did: str, png: bytes) -> dict:
    """An officer's upload of `png` for declaration `did`, judged and attested (201)."""
    resp = api(
        "officer",
        "POST",
        "/xray/scans",
        params={"declaration_id": did},
        content=png,
        headers={"Content-Type": "image/png"},
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def _lodged(api, did: str) -> dict:
    """The exporter lodges the machinery-parts example as declaration `did` (201)."""
    lodged = api(
        "exporter", "POST", "/declarations", json=example_json("01-machinery-parts-sg.json", did)
    )
    assert lodged.status_code == 201, lodged.text
    return lodged.json()


def test_xray_verdict_is_attested_alerted_and_sends_the_declaration_to_c3(api, chain, new_id):
    did = new_id("XRAY")
    scan = _scanned(api, did, _firearm_png())
    assert scan["verdict"] == "threat" and "firearm" in {t["class"] for t in scan["threats"]}
    attestation = scan["attestation"]
    assert attestation["kind"] == "XRAY" and attestation["subject"] == "0x" + scan["sha256"]
    assert chain.w3.eth.get_transaction_receipt(attestation["tx"])["status"] == 1
    alerts = api(
        "officer", "GET", "/alerts", params={"source": "xray", "subject": scan["scan_id"]}
    ).json()
    kinds = [a["kind"] for a in alerts]  # one per flagged class; the firearm among them
    assert "xray_firearm" in kinds and len(kinds) == len(scan["threats"])
    assert all(did in a["detail"] for a in alerts)

    out = _lodged(api, did)
    assert out["oracles"]["xray"]["threat"] is True
    assert out["oracles"]["xray"]["attestation"]["tx"] == attestation["tx"]
    assert out["channel"] == "C3"
    assert "XRAY-THREAT" in [r["rule"] for r in out["reasons"]]


def test_an_uncertain_xray_verdict_is_attested_and_sends_the_declaration_to_c2(
    api, chain, new_id, uncertain_scan_png
):
    """The review band end to end: the members' instances agree the scan is `uncertain`,
    that is attested, no alert opens a bag, and clearance asks for a look (XRAY-SUSPECT)."""
    did = new_id("XRAYLOOK")
    scan = _scanned(api, did, uncertain_scan_png)
    assert scan["verdict"] == "uncertain" and scan["review"] and scan["alerts"] == []
    assert chain.w3.eth.get_transaction_receipt(scan["attestation"]["tx"])["status"] == 1
    out = _lodged(api, did)
    xray = out["oracles"]["xray"]
    assert xray["uncertain"] is True and xray["threat"] is False
    rules = [r["rule"] for r in out["reasons"]]
    assert "XRAY-SUSPECT" in rules and "XRAY-THREAT" not in rules
    assert out["channel"] in ("C2", "C3")
