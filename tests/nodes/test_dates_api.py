"""Implausible dates over real HTTP: refused with a reason, nothing lodged, stored or started.

Issue #16 item 4: declarations dated 9999-12-31 or 2100-01-01 were lodged, cleared C1 and
attested.  The node now refuses them before any oracle is asked, and refuses trade
documents and trips with dates the rules rely on outside the `dates` window.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from nacl.signing import SigningKey

from offchain.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.contract

DECLARATION = REPO_ROOT / "examples" / "declarations" / "01-machinery-parts-sg.json"
TODAY = dt.datetime.now(dt.UTC).date()
FAR = {
    "9999-12-31": "date_in_future",
    "2100-01-01": "date_in_future",
    (TODAY + dt.timedelta(days=3)).isoformat(): "date_in_future",
    (TODAY - dt.timedelta(days=400)).isoformat(): "date_too_old",
    "1900-01-01": "date_too_old",
}


@pytest.fixture(scope="module")
def tw(settings: Settings, node_url, make_api_key) -> Iterator[httpx.Client]:
    """An officer of TW's session node (officers may lodge, submit and start trips)."""
    key = make_api_key(settings, "TW", "officer")
    with httpx.Client(base_url=node_url("TW"), headers={"X-API-Key": key}, timeout=30) as c:
        yield c


@pytest.mark.parametrize(("date", "code"), sorted(FAR.items()))
def test_a_declaration_dated_out_of_range_is_refused_and_not_lodged(tw, date, code):
    decl_id = f"T-DATE-{uuid.uuid4().hex[:10]}"
    body = {**json.loads(DECLARATION.read_text()), "declaration_id": decl_id, "date": date}
    resp = tw.post("/declarations", json=body)
    assert resp.status_code == 422, resp.text
    err = resp.json()
    assert err["error"] == code and date in err["detail"], err
    assert tw.get(f"/declarations/{decl_id}").status_code == 404


def test_an_xml_declaration_dated_9999_is_refused_too(tw):
    xml = (REPO_ROOT / "examples" / "declarations" / "01-machinery-parts-sg.xml").read_text()
    old = xml.split("<DeclarationDate>")[1].split("</DeclarationDate>")[0]
    resp = tw.post(
        "/declarations",
        content=xml.replace(f">{old}<", ">9999-12-31<"),
        headers={"content-type": "application/xml"},
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "date_in_future"


def _documents_held(tw: httpx.Client) -> int:
    """How many documents TW's node holds, whatever their state: its own threads batch,
    anchor and deliver documents between two reads (so the per-state and delivery counts
    move), while a refused submission would add one to the total."""
    counts = tw.get("/documents").json()["counts"]
    return sum(v for k, v in counts.items() if not k.startswith("delivery_"))


@pytest.mark.parametrize(
    ("date", "code"), [("9999-12-31", "date_in_future"), ("1900-01-01", "date_too_old")]
)
def test_a_document_with_an_implausible_issue_date_is_refused_and_stores_nothing(
    tw, sample_xml, date, code
):
    before = _documents_held(tw)
    xml = sample_xml("commercial-invoice").replace(
        b"<ci:IssueDate>2025-03-12</ci:IssueDate>", f"<ci:IssueDate>{date}</ci:IssueDate>".encode()
    )
    assert f"<ci:IssueDate>{date}<".encode() in xml
    resp = tw.post(
        "/documents",
        params={"type": "commercial-invoice", "to": "SG"},
        content=xml,
        headers={"content-type": "application/xml"},
    )
    assert resp.status_code == 422, resp.text
    err = resp.json()
    assert err["error"] == code and "/CommercialInvoice/IssueDate" in err["detail"], err
    assert _documents_held(tw) == before  # nothing stored


@pytest.mark.parametrize(
    "deadline",
    ["9999-12-31T00:00:00+00:00", "2100-01-01T00:00:00+00:00", "1970-01-02T00:00:00Z", 1e300, -1],
)
def test_a_trip_deadline_out_of_range_is_refused(tw, deadline):
    device = f"OBU-DATE-{uuid.uuid4().hex[:8]}"
    key = SigningKey.generate().verify_key.encode().hex()
    assert tw.post("/devices", json={"device": device, "public_key": key}).status_code == 201
    trip = f"T-DATE-{uuid.uuid4().hex[:8]}"
    resp = tw.post(
        "/trips",
        json={
            "trip": trip,
            "device": device,
            "seal_id": "SEAL-1",
            "vehicle_id": "KLA-1",
            "origin": "TW-KEL",
            "destination": "TW-TPE",
            "deadline": deadline,
        },
    )
    assert resp.status_code in (400, 422), resp.text
    assert resp.json()["error"] in ("invalid_trip", "invalid_request")
    assert "deadline" in resp.json()["detail"]
    assert tw.get(f"/trips/{trip}").status_code == 404
