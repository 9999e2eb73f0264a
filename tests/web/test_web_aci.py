"""Console pages of issue #18: the officer's pre-arrival risk, unmatched lines and release
board with the check form; the trader's payable orders, paying through the gateway and
receipts; the auditor's declaration trace showing what was paid.

A node of its own (TW with the three members' oracle instances and the payment gateway
stand-in, all real HTTP services on the session chain).  The chain is not rewound: the
session's web nodes live on it; every id here is new.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chain.devnet import free_port
from nodes.gateway.app import create_gateway_app, register_with_node
from offchain.procs import free_port_run
from offchain.settings import Settings

_spec = importlib.util.spec_from_file_location(
    "_aci_support", Path(__file__).resolve().parents[1] / "nodes" / "aci_support.py"
)
aci = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(aci)

pytestmark = [
    pytest.mark.contract,
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning"),
    # one site, walked in order: the trace test reads what the payment test paid, so the
    # module stays on one worker (`--dist loadgroup`)
    pytest.mark.xdist_group("web_aci"),
]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def site(settings: Settings, deployment, chain, make_fresh_settings, make_api_key,
         tmp_path_factory) -> Iterator[dict[str, Any]]:  # fmt: skip
    s = make_fresh_settings(settings, tmp_path_factory.mktemp("web-aci") / "home")
    s = s.model_copy(
        update={
            "clearance": s.clearance.model_copy(
                update={
                    "oracle_base_port": free_port_run(3),
                    "oracle_timeout_s": 30.0,
                    "oracles": [],
                }
            ),
            "payments": s.payments.model_copy(update={"gateway_port": free_port()}),
        }
    )
    from nodes.app import create_app

    keys = {r: make_api_key(s, "TW", r) for r in ("carrier", "officer", "auditor", "exporter",
                                                  "admin", "agency")}  # fmt: skip
    keys["exporter2"] = make_api_key(s, "TW", "exporter")
    with (
        aci.oracle_instances(s, chain),
        aci.serve_app(create_app("TW", s), s.member("TW").api_port) as tw,
        aci.serve_app(create_gateway_app(s), s.payments.gateway_port),
    ):
        register_with_node(s, "TW", keys["admin"])
        api = httpx.Client(base_url=tw, timeout=120)
        doc = aci.manifest("sea", arrival_in=dt.timedelta(days=1))
        assert (
            api.post("/manifests", json=doc, headers={"X-API-Key": keys["carrier"]}).status_code
            == 201
        )
        old = aci.manifest("air", arrival_in=-dt.timedelta(days=6))
        assert (
            api.post("/manifests", json=old, headers={"X-API-Key": keys["carrier"]}).status_code
            == 201
        )
        decls, new_id = {}, aci.unsampled_ids(s, chain)
        for name, cites in (
            ("paid", [aci.citation(aci.td_number(doc))]),
            ("held", [aci.citation("NO-SUCH-" + aci.tag())]),
        ):
            did = new_id(f"T-WEB-{name.upper()}")
            r = api.post("/declarations", json=aci.declaration(did, cites),
                         headers={"X-API-Key": keys["exporter"]})  # fmt: skip
            assert r.status_code == 201, r.text
            decls[name] = r.json()
        yield {"url": tw, "keys": keys, "manifest": doc, "old": old, "decls": decls, "api": api}
        api.close()


def form_post(client, page_path: str, action: str, data: dict[str, str]) -> httpx.Response:
    token = client.csrf(page_path)
    return client.http.post(action, data={"csrf_token": token, **data})


def test_the_officer_sees_pre_arrival_risk_and_a_manifest(site, console_at):
    c = console_at(site["url"], site["keys"]["officer"])
    r = c.http.get("/ui/manifests")
    assert r.status_code == 200
    flagged = aci.td_number(site["manifest"], 1)
    assert flagged in r.text and "WATCHLIST-IMPORTER" in r.text
    assert (
        aci.td_number(site["manifest"], 0)
        not in r.text.split('id="pre-arrival"')[1].split("</table>")[0]
    )
    one = c.http.get(f"/ui/manifests/{site['manifest']['manifest_id']}")
    assert one.status_code == 200 and 'id="lines"' in one.text
    assert site["decls"]["paid"]["declaration"] in one.text  # what declared the first line
    assert "Pre-arrival risk" in c.http.get("/ui/").text  # in the navigation


def test_the_officer_sees_unmatched_lines(site, console_at):
    c = console_at(site["url"], site["keys"]["officer"])
    r = c.http.get("/ui/manifests/followup", params={"days": 3})
    assert r.status_code == 200
    table = r.text.split('id="undeclared"')[1].split("</table>")[0]
    assert aci.td_number(site["old"], 0) in table
    assert aci.td_number(site["manifest"], 0) not in table


def test_the_trader_pays_through_the_gateway_and_gets_an_anchored_receipt(site, console_at):
    did = site["decls"]["paid"]["declaration"]
    ref = site["decls"]["paid"]["payment"]["reference"]
    c = console_at(site["url"], site["keys"]["exporter"])
    page = c.http.get("/ui/payments")
    assert page.status_code == 200 and ref in page.text and did in page.text
    done = form_post(c, "/ui/payments", f"/ui/payments/{ref}/pay", {})
    assert done.status_code == 303, done.text
    after = c.http.get("/ui/payments")
    assert "applied" in after.text and ref not in after.text.split('id="receipts"')[0].split(
        'id="payable"')[-1]  # fmt: skip
    receipt = re.search(r"/ui/payments/receipts/(PR-TW-[0-9A-F]+)", after.text).group(1)

    def anchored() -> bool:
        return "Download the receipt" in c.http.get(f"/ui/payments/receipts/{receipt}").text

    aci.wait_for(anchored, 30, "the receipt to be anchored")
    download = c.http.get(f"/ui/payments/receipts/{receipt}/receipt.json")
    assert (
        download.status_code == 200 and download.json()["receipt"]["doc_type"] == "payment-receipt"
    )
    # released: C1 and paid
    officer = console_at(site["url"], site["keys"]["officer"])
    assert 'id="release-state">released' in officer.http.get(f"/ui/releases/{did}").text.replace(
        "\n", "")  # fmt: skip
    decl_page = officer.http.get(f"/ui/declarations/{did}")
    assert "Release: released" in decl_page.text


def test_a_trader_cannot_pay_or_see_another_traders_order(site, console_at):
    held = site["decls"]["held"]
    other = console_at(site["url"], site["keys"]["exporter2"])
    assert held["payment"]["reference"] not in other.http.get("/ui/payments").text
    r = form_post(other, "/ui/payments", f"/ui/payments/{held['payment']['reference']}/pay", {})
    assert r.status_code == 403
    no_csrf = other.http.post(f"/ui/payments/{held['payment']['reference']}/pay", data={})
    assert no_csrf.status_code == 403 and "csrf_rejected" in no_csrf.text
    api = site["api"]
    paid = api.get(f"/declarations/{held['declaration']}/payment",
                   headers={"X-API-Key": site["keys"]["officer"]}).json()  # fmt: skip
    assert paid["payments"] == [] and paid["order"]["state"] == "open"


def test_the_officer_records_the_inspection_and_the_goods_are_released(site, console_at):
    held = site["decls"]["held"]
    did = held["declaration"]
    trader = console_at(site["url"], site["keys"]["exporter"])
    assert form_post(trader, "/ui/payments", f"/ui/payments/{held['payment']['reference']}/pay",
                     {}).status_code == 303  # fmt: skip
    c = console_at(site["url"], site["keys"]["officer"])
    board = c.http.get("/ui/releases", params={"state": "held"})
    assert board.status_code == 200 and did in board.text
    page = c.http.get(f"/ui/releases/{did}")
    assert "physical inspection" in page.text and 'id="inspection-form"' in page.text
    bad = form_post(c, f"/ui/releases/{did}", f"/ui/releases/{did}/inspection",
                    {"outcome": "perhaps", "note": "x"})  # fmt: skip
    assert bad.status_code == 422 and "invalid_inspection" in bad.text
    ok = form_post(c, f"/ui/releases/{did}", f"/ui/releases/{did}/inspection",
                   {"outcome": "passed", "note": "container opened, goods as declared"})  # fmt: skip
    assert ok.status_code == 303
    assert "Release: released" in c.http.get(f"/ui/releases/{did}").text
    auditor = console_at(site["url"], site["keys"]["auditor"])
    assert 'id="inspection-form"' not in auditor.http.get(f"/ui/releases/{did}").text


def test_the_auditors_declaration_trace_shows_what_was_paid_and_re_verifies_it(site, console_at):
    did = site["decls"]["paid"]["declaration"]
    api = site["api"]

    def anchored() -> bool:
        paid = api.get(
            "/payments", params={"declaration": did}, headers={"X-API-Key": site["keys"]["officer"]}
        ).json()
        assert paid, "nothing was paid: the payment test runs first, on this worker"
        return all(p["receipt_state"] == "anchored" for p in paid)

    aci.wait_for(anchored, 30, "the receipt to be anchored")
    c = console_at(site["url"], site["keys"]["auditor"])
    r = c.http.get(f"/ui/trace/declarations/{did}")
    assert r.status_code == 200
    assert "PAID" in r.text and "verifies on chain" in r.text
    assert "RELEASE: released" in r.text


def test_pages_are_for_their_roles(site, console_at):
    carrier = console_at(site["url"], site["keys"]["carrier"])
    assert carrier.http.get("/ui/manifests").status_code == 403
    assert carrier.http.get("/ui/payments").status_code == 403
    agency = console_at(site["url"], site["keys"]["agency"])
    assert agency.http.get("/ui/releases").status_code == 403
    officer = console_at(site["url"], site["keys"]["officer"])
    assert officer.http.get("/ui/manifests/MF-NONE").status_code == 404
