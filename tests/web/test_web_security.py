"""The console refuses bad input with a readable page and does nothing: non-XML, oversized and
hostile files, forged receipts, expired or forged sessions, forms without their CSRF token,
pages asked for by a role that may not see them.  HTTP-level, against real served nodes."""

from __future__ import annotations

import json
import re
import time
import uuid

import httpx
import pytest

pytestmark = [pytest.mark.contract, pytest.mark.integration]

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<lolz>&lol3;</lolz>
"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<CertificateOfOrigin>&xxe;</CertificateOfOrigin>
"""
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


def _count(web_nodes) -> int:
    return sum(web_nodes.tw_app.state.node.documents.outbox.counts().values())


def _submit(client, path: str, files: dict, data: dict, with_csrf: bool = True):
    if with_csrf:
        data = {**data, "csrf_token": client.csrf(path)}
    return client.http.post(path, data=data, files=files)


def _anchored(web_nodes, sample_xml) -> tuple[bytes, dict]:
    """A document submitted through TW's API and anchored, with its receipt."""
    xml = sample_xml("packing-list")
    r = httpx.post(
        f"{web_nodes.tw}/documents",
        params={"type": "packing-list", "to": "SG", "wait": 20},
        content=xml,
        headers={"X-API-Key": web_nodes.key("TW", "exporter"), "Content-Type": "application/xml"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return xml, r.json()["receipt"]


def test_browsers_are_sent_to_the_console_and_the_api_is_unchanged(web_nodes):
    r = httpx.get(web_nodes.tw + "/", headers={"Accept": "text/html"})
    assert r.status_code == 307 and r.headers["location"] == "/ui/"
    assert httpx.get(web_nodes.tw + "/").json()["console"] == "/ui/"
    assert httpx.get(web_nodes.tw + "/health").json()["member"] == "TW"
    r = httpx.get(web_nodes.tw + "/ui/inbox")
    assert r.status_code == 303 and r.headers["location"].startswith(
        "/ui/signin?next=%2Fui%2Finbox"
    )
    assert httpx.get(web_nodes.tw + "/ui/static/console.css").status_code == 200
    missing = httpx.get(web_nodes.tw + "/ui/no-such-page")
    assert missing.status_code == 404 and "No such page" in missing.text


def test_session_cookie_is_httponly_samelax_and_the_key_never_reaches_the_browser(
    web_nodes, console
):
    c = console("TW")
    key = web_nodes.key("TW", "officer")
    r = c.sign_in(key)
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("sc_console_tw=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/ui" in cookie
    assert key not in cookie
    page = c.http.get("/ui/")
    assert page.status_code == 200 and key not in page.text
    assert "Content-Security-Policy" in page.headers


def test_a_wrong_key_is_refused_on_the_signin_page(console):
    c = console("TW")
    token = c.csrf("/ui/signin")
    r = c.http.post("/ui/signin", data={"csrf_token": token, "api_key": "sc_tw_nope"})
    assert r.status_code == 401
    assert "That key was not accepted" in r.text and "unknown API key" in r.text
    assert "sc_console_tw" not in r.headers.get("set-cookie", "")


def test_pages_of_another_role_answer_403_with_a_readable_page(console, sample_xml):
    exporter = console("TW", "exporter")
    for path in ("/ui/inbox", "/ui/verify", "/ui/trace", "/ui/alerts", "/ui/xray"):
        r = exporter.http.get(path)
        assert r.status_code == 403, path
        assert "Not for your role" in r.text and "role exporter" in r.text
    auditor = console("TW", "auditor")
    r = auditor.http.get("/ui/documents")
    assert r.status_code == 403 and "This page is for: exporter, officer" in r.text
    token = auditor.csrf("/ui/trace")
    r = auditor.http.post(
        "/ui/documents",
        data={"csrf_token": token, "doc_type": "packing-list", "recipient": "SG"},
        files={"document": ("p.xml", sample_xml("packing-list"))},
    )
    assert r.status_code == 403


def test_a_form_without_its_csrf_token_is_refused_and_nothing_happens(
    web_nodes, console, sample_xml
):
    exporter = console("TW", "exporter")
    before = _count(web_nodes)
    files = {"document": ("p.xml", sample_xml("packing-list"), "application/xml")}
    data = {"doc_type": "packing-list", "recipient": "SG"}
    r = exporter.http.post("/ui/documents", data=data, files=files)
    assert r.status_code == 403 and "security token" in r.text
    r = exporter.http.post("/ui/documents", data={**data, "csrf_token": "forged"}, files=files)
    assert r.status_code == 403
    assert _count(web_nodes) == before
    # Sign-out and sign-in are forms too.
    assert exporter.http.post("/ui/signout").status_code == 403
    assert exporter.http.get("/ui/documents").status_code == 200  # still signed in
    other = console("TW")
    r = other.http.post("/ui/signin", data={"api_key": web_nodes.key("TW", "exporter")})
    assert r.status_code == 403 and "sc_console_tw" not in r.headers.get("set-cookie", "")


def test_an_expired_session_sends_the_user_to_sign_in_again(web_nodes, console):
    officer = console("TW", "officer")
    assert officer.http.get("/ui/inbox").status_code == 200
    store = web_nodes.tw_app.state.console_sessions
    real = store.clock
    store.clock = lambda: real() + store.ttl_s + 1
    try:
        r = officer.http.get("/ui/inbox")
    finally:
        store.clock = real
    assert r.status_code == 303
    assert "why=Your%20session%20expired" in r.headers["location"]
    page = officer.http.get(r.headers["location"])
    assert "Your session expired; sign in again." in page.text
    # The session is gone for good, not only while the clock was ahead.
    assert officer.http.get("/ui/inbox").status_code == 303
    assert officer.http.get("/ui/alerts/stream").status_code == 401


def test_a_forged_or_foreign_session_cookie_is_refused(web_nodes, console):
    officer = console("TW", "officer")
    cookie = officer.http.cookies.get("sc_console_tw")
    forged = httpx.Client(base_url=web_nodes.tw, cookies={"sc_console_tw": cookie[:-3] + "abc"})
    r = forged.get("/ui/inbox")
    assert r.status_code == 303 and "not%20issued%20by%20this%20node" in r.headers["location"]
    # TW's cookie means nothing to SG (another node, another secret, another cookie name).
    foreign = httpx.Client(base_url=web_nodes.sg, cookies={"sc_console_sg": cookie})
    assert foreign.get("/ui/inbox").status_code == 303


def test_a_revoked_key_ends_its_console_session(web_nodes, console):
    ctx = web_nodes.tw_app.state.node
    key, user = ctx.api_keys.create("soon-gone", "officer")
    c = console("TW")
    c.sign_in(key)
    assert c.http.get("/ui/inbox").status_code == 200
    ctx.api_keys.revoke(user.id)
    r = c.http.get("/ui/inbox")
    assert r.status_code == 303 and "no%20longer%20works" in r.headers["location"]


def test_non_xml_upload_is_refused_and_nothing_is_stored(web_nodes, console):
    exporter = console("TW", "exporter")
    before = _count(web_nodes)
    r = _submit(
        exporter,
        "/ui/documents",
        {"document": ("scan.png", PNG, "image/png")},
        {"doc_type": "certificate-of-origin", "recipient": "SG"},
    )
    assert r.status_code == 400
    assert "xml_not_utf8" in r.text or "xml_malformed" in r.text
    r = _submit(
        exporter,
        "/ui/documents",
        {"document": ("empty.xml", b"", "application/xml")},
        {"doc_type": "certificate-of-origin", "recipient": "SG"},
    )
    assert r.status_code == 400 and "is empty" in r.text
    assert _count(web_nodes) == before


def test_oversized_uploads_are_refused(web_nodes, console):
    exporter = console("TW", "exporter")
    cap = web_nodes.settings.documents.max_xml_bytes
    before = _count(web_nodes)
    just_over = b"<a>" + b"x" * (cap - 6) + b"</a>"
    r = _submit(
        exporter,
        "/ui/documents",
        {"document": ("big.xml", just_over)},
        {"doc_type": "packing-list", "recipient": "SG"},
    )
    assert r.status_code == 413 and "limit" in r.text
    huge = b"<a>" + b"x" * (cap + 1024 * 1024) + b"</a>"
    r = _submit(
        exporter,
        "/ui/documents",
        {"document": ("huge.xml", huge)},
        {"doc_type": "packing-list", "recipient": "SG"},
    )
    assert r.status_code == 413 and "File too large" in r.text
    assert _count(web_nodes) == before


@pytest.mark.parametrize("hostile", [BILLION_LAUGHS, XXE], ids=["entity-bomb", "xxe"])
def test_hostile_xml_is_refused_before_parsing(web_nodes, console, hostile):
    exporter = console("TW", "exporter")
    before = _count(web_nodes)
    r = _submit(
        exporter,
        "/ui/documents",
        {"document": ("evil.xml", hostile)},
        {"doc_type": "certificate-of-origin", "recipient": "SG"},
    )
    assert r.status_code == 400 and "xml_forbidden_dtd" in r.text
    assert "root:" not in r.text  # nothing of /etc/passwd
    assert _count(web_nodes) == before
    officer = console("SG", "officer")
    receipt = json.dumps({"doc_hash": "0x" + "0" * 64})
    r = _submit(
        officer, "/ui/verify", {"document": ("evil.xml", hostile)}, {"receipt_text": receipt}
    )
    assert r.status_code == 400  # the receipt is refused first, the file never parsed


def test_forged_receipts_are_refused_or_fail_the_anchored_check(web_nodes, console, sample_xml):
    xml, receipt = _anchored(web_nodes, sample_xml)
    officer = console("SG", "officer")
    # Not a receipt at all.
    r = _submit(
        officer,
        "/ui/verify",
        {"document": ("p.xml", xml)},
        {"receipt_text": '{"doc_hash": "0x12", "proof": "nope"}'},
    )
    assert r.status_code == 400 and "invalid_receipt" in r.text
    # Well-formed, but its root was never anchored: the proof no longer leads there.
    forged = {**receipt, "root": "0x" + "ab" * 32}
    r = _submit(
        officer, "/ui/verify", {"document": ("p.xml", xml)}, {"receipt_text": json.dumps(forged)}
    )
    assert r.status_code == 200
    assert re.search(r'id="failing-check">anchored<', r.text), r.text[:2000]
    # Another issuer claimed.
    forged = {**receipt, "issuer_member": "NZ"}
    r = _submit(
        officer,
        "/ui/verify",
        {"document": ("p.xml", xml), "receipt_file": ("r.json", json.dumps(forged).encode())},
        {},
    )
    assert r.status_code == 200 and 'id="failing-check">issuer<' in r.text


def test_a_good_receipt_verifies_and_the_exporter_can_download_it(web_nodes, console, sample_xml):
    xml, receipt = _anchored(web_nodes, sample_xml)
    officer = console("SG", "officer")
    r = _submit(
        officer,
        "/ui/verify",
        {"document": ("p.xml", xml), "receipt_file": ("r.json", json.dumps(receipt).encode())},
        {},
    )
    assert r.status_code == 200 and "all six checks passed" in r.text
    exporter = console("TW", "exporter")
    r = exporter.http.get(f"/ui/documents/{receipt['doc_hash']}/receipt")
    assert r.status_code == 200 and r.json() == receipt
    assert "attachment" in r.headers["content-disposition"]


def test_every_role_page_renders(web_nodes, console):
    admin = console("TW", "admin")
    for path in (
        "/ui/",
        "/ui/node",
        "/ui/documents",
        "/ui/inbox",
        "/ui/verify",
        "/ui/declarations",
        "/ui/alerts",
        "/ui/trips",
        "/ui/trace",
        "/ui/xray",
        "/ui/tariff",
        "/ui/audit",
    ):
        r = admin.http.get(path)
        assert r.status_code == 200, (path, r.text[:1000])
        assert "<main" in r.text
    assert 'id="xray-upload"' in admin.http.get("/ui/xray").text
    assert "Taiwan Customs Administration" in admin.http.get("/ui/node").text
    r = admin.http.get("/ui/trace?doc=0x" + "1" * 64)
    assert r.status_code == 303
    r = admin.http.get(r.headers["location"])
    assert r.status_code == 404 and "no record of document" in r.text
    assert admin.http.get("/ui/trace/trips/NOPE").status_code == 404
    start = time.monotonic()
    assert admin.http.get("/ui/trace?trip=bad%20id").status_code == 200
    assert time.monotonic() - start < 10


def test_declarations_show_channel_duties_and_reasons(web_nodes, console):
    """Rendering only: the decision is written as the clearance service keeps it (the
    attested path itself is tested in tests/nodes/test_clearance_api.py)."""
    decision = {
        "channel": "C3",
        "declaration": {"declaration_id": "TW-IM-WEB-1"},
        "duties": {
            "items": [
                {
                    "sequence": 1,
                    "hs_code": "930190",
                    "amount": "120.00",
                    "vat_amount": "56.00",
                    "total": "176.00",
                    "currency": "TWD",
                }
            ],
            "duty": "120.00",
            "tax": "56.00",
            "total": "176.00",
            "exchange_rate": "1",
        },
        "reasons": [{"rule": "ARMS-CH93", "channel": "C3", "text": "arms and ammunition"}],
        "permits": [{"item": 1, "permit": None, "ok": False, "reason": "HS 930190 needs a permit"}],
        "documents": [],
    }
    web_nodes.tw_app.state.node.db.execute(
        "INSERT OR IGNORE INTO declarations (declaration_id, declaration_hash, channel, decision,"
        " attestation, draws, created_at, created_by) VALUES (?,?,?,?,?,?,?,?)",
        (
            "TW-IM-WEB-1",
            "0x" + "12" * 32,
            "C3",
            json.dumps(decision),
            json.dumps({"tx": "0x" + "34" * 32}),
            "[]",
            "2026-11-25T10:00:00.000+00:00",
            "web",
        ),
    )
    officer = console("TW", "officer")
    listing = officer.http.get("/ui/declarations")
    assert listing.status_code == 200
    assert (
        "TW-IM-WEB-1" in listing.text and "ARMS-CH93" in listing.text and "176.00" in listing.text
    )
    one = officer.http.get("/ui/declarations/TW-IM-WEB-1")
    assert one.status_code == 200 and 'class="badge ch-C3"' in one.text
    assert "needs a permit" in one.text
    assert officer.http.get("/ui/declarations/NOPE").status_code == 404


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/docs", "/ui\\x"])
def test_sign_in_never_redirects_off_the_console(web_nodes, console, target):
    c = console("TW")
    token = c.csrf("/ui/signin")
    r = c.http.post(
        "/ui/signin",
        data={"csrf_token": token, "api_key": web_nodes.key("TW", "officer"), "next": target},
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui/"


def test_an_officer_acknowledges_an_alert_with_the_form(web_nodes, console):
    from offchain.alerts import NewAlert

    store = web_nodes.tw_app.state.node.transport.alerts
    store.add([NewAlert("xray", f"IMG-{time.time()}", "meat_product", "warning", time.time(), "x")])
    alert_id = store.last_id()
    officer = console("TW", "officer")
    token = officer.csrf("/ui/alerts")
    r = officer.http.post(
        f"/ui/alerts/{alert_id}/ack", data={"csrf_token": token, "back": "//evil.example"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui/alerts"
    assert store.list(after_id=alert_id - 1, limit=1)[0]["acked_by"].startswith("test-officer")
    assert "seen by test-officer" in officer.http.get("/ui/alerts").text
    auditor = console("TW", "auditor")
    token = auditor.csrf("/ui/alerts")
    assert (
        auditor.http.post(f"/ui/alerts/{alert_id}/ack", data={"csrf_token": token}).status_code
        == 403
    )


@pytest.mark.parametrize("bad_id", ["-1", str(2**63), str(10**30)])
def test_alert_ids_out_of_range_answer_the_console_4xx_page(web_nodes, console, bad_id):
    """The API's bounds (nodes/api/deps.py) hold in the console too: an id SQLite cannot
    hold is a 422 page naming the field, not a 500 from deep inside."""
    officer = console("TW", "officer")
    token = officer.csrf("/ui/alerts")
    for path, field in (
        (f"/ui/alerts/{bad_id}/ack", "alert_id"),
        (f"/ui/xray/IMG-1/alerts/{bad_id}", "alert_id"),
    ):
        r = officer.http.post(path, data={"csrf_token": token, "decision": "confirm"})
        assert r.status_code == 422, (path, r.status_code, r.text[:300])
        assert "invalid_request" in r.text and field in r.text
        assert r.headers["content-type"].startswith("text/html")
    r = officer.http.get(f"/ui/alerts/stream?after_id={bad_id}")
    assert r.status_code == 422, r.text[:300]
    assert "invalid_request" in r.text and "after_id" in r.text


def test_the_console_alert_stream_uses_the_session_and_renews_itself(web_nodes, console):
    from offchain.alerts import NewAlert

    store = web_nodes.tw_app.state.node.transport.alerts
    last = store.last_id()
    subject = f"IMG-{uuid.uuid4().hex[:8]}"
    store.add([NewAlert("xray", subject, "firearm", "critical", time.time(), "test")])
    officer = console("TW", "officer")
    start = time.monotonic()
    with officer.http.stream("GET", f"/ui/alerts/stream?after_id={last}") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    assert time.monotonic() - start < 20  # the response ended by itself
    assert text.startswith("retry: 250") and "event: alert" in text and subject in text
    assert httpx.get(f"{web_nodes.tw}/ui/alerts/stream").status_code == 401
