"""The auditor's trip trace re-verifies every entry against the chain: a clean trip traces
clean, and an event edited in the node's database afterwards is caught and named."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

from nodes.transport.simulator import simulate
from offchain.geo import default_index

pytestmark = [pytest.mark.contract, pytest.mark.integration]


@pytest.fixture(scope="module")
def clean_trip(web_nodes) -> str:
    headers = {"X-API-Key": web_nodes.key("TW", "officer")}

    def call(method: str, path: str, **kw):
        r = httpx.request(method, web_nodes.tw + path, headers=headers, timeout=30, **kw)
        assert r.status_code < 400, r.text
        return r.json()

    out = simulate(
        call,
        "TW",
        default_index(),
        (web_nodes.broker.host, web_nodes.broker.port),
        trips=1,
        rate=0,
        prefix=f"TRC{uuid.uuid4().hex[:6]}",
        corridors=["TPP-TPE"],
        seed=11,
    )
    trip = out["trips"][0]["trip"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if call("GET", f"/trips/{trip}")["state"] == "closed":
            return trip
        time.sleep(0.2)
    raise AssertionError(f"trip {trip} did not close")


def test_a_clean_trip_traces_clean_then_an_edited_event_is_caught(web_nodes, console, clean_trip):
    auditor = console("TW", "auditor")
    page = auditor.http.get(f"/ui/trace/trips/{clean_trip}")
    assert page.status_code == 200
    assert re.search(r"All \d+ entries re-verified", page.text), page.text[:3000]
    assert "every event re-proved against the chain" in page.text
    assert "ARRIVED_INTACT" in page.text

    db = web_nodes.tw_app.state.node.db
    row = db.query(
        "SELECT id, lat FROM trip_events WHERE trip = ? ORDER BY ts LIMIT 1 OFFSET 3", (clean_trip,)
    )[0]
    db.execute("UPDATE trip_events SET lat = ? WHERE id = ?", (row["lat"] + 0.01, row["id"]))
    try:
        page = auditor.http.get(f"/ui/trace/trips/{clean_trip}")
    finally:
        db.execute("UPDATE trip_events SET lat = ? WHERE id = ?", (row["lat"], row["id"]))
    assert "1 of" in page.text and "entries failed re-verification" in page.text
    assert f"event {row['id']}: event_matches_payload" in page.text
