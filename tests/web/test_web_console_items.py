"""Console details of issue #20 item 7, over HTTP with a signed-in console session.

- A re-routed declaration was listed with its engine's reasons only ("no rule matched" for
  a C1 sent to C3 on a tip-off): the re-route is in the list now.
- Duties had no currency.
- Every info alert ("arrived", "closed") had to be acknowledged one by one, and there was
  no severity filter: officers filter by severity and acknowledge one severity at once.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from offchain.alerts import NewAlert

pytestmark = [pytest.mark.contract, pytest.mark.integration]


def _decision(did: str, channel: str) -> dict:
    return {
        "channel": channel,
        "declaration": {"declaration_id": did},
        "duties": {
            "items": [
                {
                    "sequence": 1,
                    "hs_code": "848210",
                    "amount": "0.00",
                    "vat_amount": "5.00",
                    "total": "5.00",
                    "currency": None,
                }
            ],
            "duty": "0.00",
            "tax": "5.00",
            "total": "5.00",
            "exchange_rate": "32.15",
        },
        "reasons": [],
        "permits": [],
        "documents": [],
    }


def test_a_rerouted_declaration_is_listed_with_its_reroute_and_duties_with_currency(
    web_nodes, console
):
    did = f"TW-IM-RR-{uuid.uuid4().hex[:6]}"
    reroute = {"from": "C1", "to": "C3", "officer": "lin", "reason": "tip-off from the port",
               "at": "2026-11-25T10:05:00.000+00:00", "attestation": {"tx": "0x" + "56" * 32}}  # fmt: skip
    db = web_nodes.tw_app.state.node.db
    db.execute(
        "INSERT INTO declarations (declaration_id, declaration_hash, channel, decision,"
        " attestation, draws, created_at, created_by, reroutes) VALUES (?,?,?,?,?,?,?,?,?)",
        (did, "0x" + "ab" * 32, "C3", json.dumps(_decision(did, "C1")),
         json.dumps({"tx": "0x" + "34" * 32}), "[]", "2026-11-25T10:00:00.000+00:00", "web",
         json.dumps([reroute])),
    )  # fmt: skip
    officer = console("TW", "officer")
    listing = officer.http.get("/ui/declarations").text
    row = listing.split(f">{did}</a>")[1].split("</tr>")[0]
    assert "re-routed C1 → C3" in row and "tip-off from the port" in row and "lin" in row
    assert "no rule matched" not in row
    assert "(engine C1)" in row
    assert "5.00 TWD" in row
    one = officer.http.get(f"/ui/declarations/{did}").text
    assert "5.00 TWD" in one and "Total (TWD)" in one


def test_officers_filter_alerts_by_severity_and_acknowledge_every_info_alert_at_once(
    web_nodes, console
):
    store = web_nodes.tw_app.state.node.transport.alerts
    subject = f"TRIP-SEV-{uuid.uuid4().hex[:6]}"
    now = time.time()
    store.add(
        [
            NewAlert("transport", subject, "arrived", "info", now, "entered destination zone"),
            NewAlert("transport", subject, "closed", "info", now + 1, "trip closed on chain"),
            NewAlert("transport", subject, "gps_jump", "critical", now + 2, "2 km in 20 s"),
        ]
    )
    officer = console("TW", "officer")
    critical = officer.http.get("/ui/alerts", params={"severity": "critical"})
    assert critical.status_code == 200
    table = critical.text.split('id="alerts"')[1]
    assert "gps_jump" in table and "entered destination zone" not in table
    assert "severity=critical" in critical.text  # the live stream is filtered the same way
    bad = officer.http.get("/ui/alerts", params={"severity": "loud"})
    assert bad.status_code == 400 and "invalid_severity" in bad.text

    token = officer.csrf("/ui/alerts")
    up_to = store.last_id()
    r = officer.http.post(
        "/ui/alerts/ack",
        data={"csrf_token": token, "up_to_id": str(up_to), "severity": "info",
              "back": "/ui/alerts?severity=info"},
    )  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/ui/alerts?severity=info"
    mine = {a["kind"]: a for a in store.list(subject=subject, limit=10)}
    assert mine["arrived"]["acked_by"] and mine["closed"]["acked_by"]
    assert mine["gps_jump"]["acked_by"] is None  # only the chosen severity
    assert not [a for a in store.list(severity="info", unacked=True, limit=10_000)
                if a["id"] <= up_to]  # fmt: skip

    auditor = console("TW", "auditor")
    token = auditor.csrf("/ui/alerts")
    denied = auditor.http.post(
        "/ui/alerts/ack", data={"csrf_token": token, "up_to_id": str(up_to), "severity": "info"}
    )
    assert denied.status_code == 403


def test_the_api_acknowledges_by_severity_too(web_nodes):
    import httpx

    store = web_nodes.tw_app.state.node.transport.alerts
    subject = f"TRIP-API-{uuid.uuid4().hex[:6]}"
    store.add([NewAlert("transport", subject, "arrived", "info", time.time(), "arrived")])
    key = {"X-API-Key": web_nodes.key("TW", "officer")}
    listed = httpx.get(
        f"{web_nodes.tw}/alerts", params={"subject": subject, "severity": "warning,critical"},
        headers=key,
    )  # fmt: skip
    assert listed.status_code == 200 and listed.json() == []
    r = httpx.post(f"{web_nodes.tw}/alerts/ack", json={"severity": "info", "subject": subject},
                   headers=key)  # fmt: skip
    assert r.status_code == 200 and r.json()["acknowledged"] == 1, r.text
