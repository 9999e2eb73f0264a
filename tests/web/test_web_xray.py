"""X-ray scans in the console: an officer uploads a synthetic scan, sees the threat boxed on
the overlay (served through the console), confirms or rejects the alerts; bad images, a
missing CSRF token, another role and an unknown scan are readable refusals.  HTTP-level
against TW's served node, plus one walk through it in headless Chromium.

The web nodes run no oracle instances: the tests switch XRAY attestation off on TW (or
replace the shared `attest_scan` by a stand-in) so no upload waits for a quorum."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import nodes.api.xray
import nodes.web.xray
from offchain.settings import Settings
from oracles.xray import synth

pytestmark = [pytest.mark.contract, pytest.mark.integration]

SCAN_URL = re.compile(r"^/ui/xray/([0-9a-f]{32})$")


def png(seed: int, index: int, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(synth.scan(seed, index, **kw).image).save(buf, "PNG")
    return buf.getvalue()


def _only_firearm(skip: int = 0) -> bytes:
    """A synthetic bag with a firearm that the shipped model flags as exactly one threat
    (a firearm), so the pages' one-alert flows do not depend on the model version."""
    from oracles.xray.config import load_model

    model = load_model(Settings(home=Path("/nonexistent")))
    found = 0
    for i in range(40):
        data = png(777, i, threats={"firearm": 1})
        det = model.detect(Image.open(io.BytesIO(data)).convert("RGB"))
        if [t["class"] for t in det.threats] == ["firearm"]:
            if found == skip:
                return data
            found += 1
    raise AssertionError("no synthetic bag with exactly one flagged firearm in 40 tries")


@pytest.fixture(scope="module")
def firearm() -> bytes:
    return _only_firearm(0)


@pytest.fixture(scope="module")
def firearm2() -> bytes:
    return _only_firearm(1)


def _with_oracles(monkeypatch, web_nodes, oracles: list[str]):
    ctx = web_nodes.tw_app.state.node
    s = ctx.settings
    clearance = s.clearance.model_copy(update={"oracles": oracles})
    monkeypatch.setattr(ctx, "settings", s.model_copy(update={"clearance": clearance}))
    return ctx


@pytest.fixture
def unattested(web_nodes, monkeypatch):
    """TW judges scans without attesting them (it has no XRAY instances to ask here)."""
    kinds = web_nodes.tw_app.state.node.settings.clearance.oracles
    return _with_oracles(monkeypatch, web_nodes, [k for k in kinds if k != "XRAY"])


def _upload(client, data: bytes, name: str = "bag.png", declaration_id: str = "", **extra):
    token = client.csrf("/ui/xray")
    return client.http.post(
        "/ui/xray",
        data={"csrf_token": token, "declaration_id": declaration_id, **extra},
        files={"file": (name, data, "image/png")},
    )


def _uploaded(client, data: bytes, **kw) -> str:
    r = _upload(client, data, **kw)
    assert r.status_code == 303, r.text[:2000]
    m = SCAN_URL.match(r.headers["location"])
    assert m, r.headers["location"]
    return m.group(1)


def _alert_ids(page: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-alert-id="(\d+)" data-status="open"', page)]


def _decide(client, scan_id: str, alert_id: int, decision: str, note: str = ""):
    token = client.csrf(f"/ui/xray/{scan_id}")
    return client.http.post(
        f"/ui/xray/{scan_id}/alerts/{alert_id}",
        data={"csrf_token": token, "decision": decision, "note": note},
    )


def _scan_count(web_nodes) -> int:
    # the node builds its X-ray service on first use: before that, TW's fresh node holds none
    svc = getattr(web_nodes.tw_app.state, "xray", None)
    return 0 if svc is None else len(svc.list(500))


def test_upload_shows_the_threat_and_the_overlay(web_nodes, console, unattested, firearm):
    officer = console("TW", "officer")
    page = officer.http.get("/ui/xray")
    assert page.status_code == 200 and 'id="xray-upload"' in page.text
    assert 'enctype="multipart/form-data"' in page.text
    scan_id = _uploaded(officer, firearm, name="bag-777.png", declaration_id="D-XR-1")

    r = officer.http.get(f"/ui/xray/{scan_id}")
    assert r.status_code == 200, r.text[:2000]
    assert "bag-777.png judged threat with 1 alert." in r.text  # the flash after upload
    assert 'data-verdict="threat"' in r.text and "Threat: firearm (" in r.text
    assert '<tr data-class="firearm" class="row-bad">' in r.text  # per-class scores, boxed
    assert re.search(r"<code>\[\d+, \d+, \d+, \d+\]</code>", r.text)  # the box
    assert "D-XR-1" in r.text and "Not attested" in r.text
    assert f'src="/ui/xray/{scan_id}/overlay.png"' in r.text
    assert len(_alert_ids(r.text)) == 1 and 'data-decision="confirm"' in r.text

    img = officer.http.get(f"/ui/xray/{scan_id}/overlay.png")
    assert img.status_code == 200 and img.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(img.content)).size == (512, 512)

    # The same record the JSON API answers, with its alert on the node's alert stream.
    rec = web_nodes.tw_app.state.xray.get(scan_id)
    assert rec["declaration_id"] == "D-XR-1" and "officer" in rec["created_by"]
    assert rec["attestation"] is None
    listing = officer.http.get("/ui/xray").text
    assert f'data-scan-id="{scan_id}"' in listing and "not attested" in listing
    assert f'href="/ui/xray/{scan_id}#alert-{rec["alerts"][0]["alert_id"]}"' in listing
    stream = web_nodes.tw_app.state.node.transport.alerts
    assert stream.counts("xray", scan_id) == {"xray_firearm": 1}


def test_an_uncertain_upload_asks_the_officer_to_look(
    web_nodes, console, unattested, uncertain_scan_png
):
    """No alert and no red: an amber summary naming the classes in the review band, the
    flash says to look at the image, the listing's badge says uncertain, the overlay's
    banner is amber."""
    officer = console("TW", "officer")
    scan_id = _uploaded(officer, uncertain_scan_png, name="look-1.png")
    r = officer.http.get(f"/ui/xray/{scan_id}")
    assert r.status_code == 200, r.text[:2000]
    rec = web_nodes.tw_app.state.xray.get(scan_id)
    classes = ", ".join(x["class"] for x in rec["review"])
    assert (
        f"look-1.png judged uncertain: look at the image ({classes} in the review band)." in r.text
    )
    assert 'class="flash flash-warn"' in r.text
    assert 'class="summary summary-warn" id="xray-verdict"' in r.text
    assert 'data-verdict="uncertain"' in r.text and "Uncertain — look at the image:" in r.text
    assert _alert_ids(r.text) == [] and rec["alerts"] == []
    top = rec["review"][0]  # its row in the scores table: amber, the review threshold, where
    assert f'<tr data-class="{top["class"]}" class="row-warn">' in r.text
    assert f"(review from {top['threshold']:.4f})" in r.text
    box = top["regions"][0]["box"]
    assert f"look at <code>[{', '.join(map(str, box))}]</code>" in r.text
    listing = officer.http.get("/ui/xray").text
    row = listing[listing.index(f'data-scan-id="{scan_id}"') :]
    assert '<span class="badge state-open">uncertain</span>' in row[: row.index("</tr>")]
    img = Image.open(io.BytesIO(officer.http.get(f"/ui/xray/{scan_id}/overlay.png").content))
    rgb = np.asarray(img.convert("RGB")).reshape(-1, 3)
    assert ((rgb == (170, 95, 0)).all(axis=1)).sum() > 100  # the amber banner


def test_confirm_one_alert_and_reject_another(web_nodes, console, unattested, firearm, firearm2):
    officer = console("TW", "officer")
    first = _uploaded(officer, firearm)
    second = _uploaded(officer, firearm2, name="other.png")
    [a1] = _alert_ids(officer.http.get(f"/ui/xray/{first}").text)
    [a2] = _alert_ids(officer.http.get(f"/ui/xray/{second}").text)

    r = _decide(officer, first, a1, "confirm", "pistol under the clothes")
    assert r.status_code == 303 and r.headers["location"] == f"/ui/xray/{first}#alert-{a1}"
    page = officer.http.get(f"/ui/xray/{first}").text
    assert f"Alert {a1} (firearm) confirmed" in page
    assert 'data-decided="confirmed"' in page and "pistol under the clothes" in page
    assert _alert_ids(page) == []  # decided: no more buttons
    svc = web_nodes.tw_app.state.xray
    alert = svc.get(first)["alerts"][0]
    assert alert["status"] == "confirmed" and "officer" in alert["decided_by"]
    assert f"by <strong>{alert['decided_by']}</strong>" in page

    r = _decide(officer, second, a2, "reject")
    assert r.status_code == 303
    page = officer.http.get(f"/ui/xray/{second}").text
    assert 'data-decided="rejected"' in page and f"Alert {a2} (firearm) rejected" in page
    assert svc.get(second)["alerts"][0]["status"] == "rejected"
    assert a1 not in [a["alert_id"] for a in svc.alerts("open", 500)]

    # A class the model missed: confirmed without an alert, then no longer offered.
    assert 'id="missed-form"' in page and '<option value="knife">' in page
    token = officer.csrf(f"/ui/xray/{second}")
    r = officer.http.post(
        f"/ui/xray/{second}/missed",
        data={"csrf_token": token, "class": "knife", "note": "blade in the lining"},
    )
    assert r.status_code == 303
    page = officer.http.get(f"/ui/xray/{second}").text
    assert "missed by the model" in page and '<option value="knife">' not in page
    fb = [f for f in svc.get(second)["feedback"] if f["class"] == "knife"]
    assert fb and fb[0]["decision"] == "confirm" and fb[0]["alert_id"] is None

    # Wrong decisions and alerts of another scan are refused, readably.
    assert _decide(officer, first, a1, "maybe").status_code == 400
    r = _decide(officer, first, a2, "confirm")
    assert r.status_code == 404 and f"no alert {a2} on scan {first}" in r.text
    r = officer.http.get(f"/ui/xray/{first}/alerts/{a1}")  # a reload of a posted decision
    assert r.status_code == 303 and r.headers["location"] == f"/ui/xray/{first}"


def test_bad_images_are_readable_refusals(web_nodes, console, unattested, firearm, monkeypatch):
    officer = console("TW", "officer")
    before = _scan_count(web_nodes)
    r = _upload(officer, b"this is not an image at all", name="notes.txt")
    assert r.status_code == 400 and 'id="xray-error"' in r.text
    assert "not an image" in r.text and "notes.txt" in r.text
    r = _upload(officer, firearm[: len(firearm) // 2], name="cut.png")
    assert r.status_code == 400 and "truncated image" in r.text
    token = officer.csrf("/ui/xray")
    r = officer.http.post("/ui/xray", data={"csrf_token": token, "declaration_id": "D-1"})
    assert r.status_code == 400 and "choose the scan image" in r.text
    r = _upload(officer, firearm, declaration_id="x" * 101)
    assert r.status_code == 422 and "bad declaration id" in r.text

    # Over the service's cap: refused from its declared length, before the body is read.
    svc = web_nodes.tw_app.state.xray
    monkeypatch.setattr(svc, "limits", dataclasses.replace(svc.limits, max_bytes=100_000))
    r = _upload(officer, firearm)
    assert r.status_code == 413 and "upload too large" in r.text
    assert "up to 100,000 bytes" in r.text and "Nothing was read" in r.text
    # Within the form's slack but over the image cap: refused once read.
    r = _upload(officer, b"\x89PNG" + b"\0" * 100_500, name="big.png")
    assert r.status_code == 413 and "over the 100,000-byte cap" in r.text
    assert _scan_count(web_nodes) == before


def test_a_picture_that_is_not_a_scan_is_refused_and_nothing_kept(
    web_nodes, console, unattested, firearm
):
    officer = console("TW", "officer")
    before = _scan_count(web_nodes)
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), (0, 0, 0)).save(buf, "PNG")
    r = _upload(officer, buf.getvalue(), name="black.png", declaration_id="D-BLANK")
    assert r.status_code == 422 and 'id="xray-error"' in r.text, r.text[:2000]
    assert "not a scan" in r.text and "black.png" in r.text and "flat colour" in r.text
    assert _scan_count(web_nodes) == before  # not kept, so never alerted or attested


def test_csrf_roles_and_unknown_scans(web_nodes, console, unattested, firearm):
    officer = console("TW", "officer")
    before = _scan_count(web_nodes)
    r = officer.http.post("/ui/xray", files={"file": ("bag.png", firearm, "image/png")})
    assert r.status_code == 403 and "security token" in r.text
    r = officer.http.post(
        "/ui/xray",
        data={"csrf_token": "forged"},
        files={"file": ("bag.png", firearm, "image/png")},
    )
    assert r.status_code == 403
    assert _scan_count(web_nodes) == before

    scan_id = _uploaded(officer, firearm)
    [alert_id] = _alert_ids(officer.http.get(f"/ui/xray/{scan_id}").text)
    r = officer.http.post(f"/ui/xray/{scan_id}/alerts/{alert_id}", data={"decision": "confirm"})
    assert r.status_code == 403 and "security token" in r.text
    assert web_nodes.tw_app.state.xray.get(scan_id)["alerts"][0]["status"] == "open"

    exporter = console("TW", "exporter")
    for path in ("/ui/xray", f"/ui/xray/{scan_id}", f"/ui/xray/{scan_id}/overlay.png"):
        r = exporter.http.get(path)
        assert r.status_code == 403 and "This page is for: officer" in r.text, path
    assert "/ui/xray" not in exporter.http.get("/ui/").text  # not in the exporter's menu
    signed_out = console("TW")
    r = signed_out.http.get(f"/ui/xray/{scan_id}/overlay.png")
    assert r.status_code == 303 and "/ui/signin" in r.headers["location"]

    for bad in ("0" * 32, "not-a-scan"):
        r = officer.http.get(f"/ui/xray/{bad}")
        assert r.status_code == 404 and "no X-ray scan" in r.text, bad
        assert officer.http.get(f"/ui/xray/{bad}/overlay.png").status_code == 404
    admin = console("TW", "admin")
    assert admin.http.get(f"/ui/xray/{scan_id}").status_code == 200


def test_an_attested_upload_uses_the_apis_attestation(web_nodes, console, firearm, monkeypatch):
    """The console attests through the API's own `attest_scan`; its outcome is shown."""
    assert nodes.web.xray.attest_scan is nodes.api.xray.attest_scan
    _with_oracles(monkeypatch, web_nodes, ["TARIFF", "AUDIT", "XRAY"])
    calls = []

    def down(ctx, svc, rec, data):
        calls.append((rec["scan_id"], rec["sha256"], len(data)))
        return {
            **rec,
            "attestation_error": {
                "error": "oracle_unavailable",
                "detail": "XRAY: 0 matching signature(s)",
            },
        }

    monkeypatch.setattr(nodes.web.xray, "attest_scan", down)
    officer = console("TW", "officer")
    scan_id = _uploaded(officer, firearm)
    assert calls == [(scan_id, web_nodes.tw_app.state.xray.get(scan_id)["sha256"], len(firearm))]
    page = officer.http.get(f"/ui/xray/{scan_id}").text
    assert "not attested on chain (oracle_unavailable)" in page and "The scan is kept" in page

    # Once attested, the page shows the transaction, its signers and the model version.
    svc = web_nodes.tw_app.state.xray
    rec = svc.get(scan_id)
    tx = "0x" + "ab" * 32
    signers = ["0x" + "11" * 20, "0x" + "22" * 20]
    svc.record_attestation(
        scan_id,
        {
            "tx": tx,
            "signers": signers,
            "block": 42,
            "model_version": rec["model_version"],
            "kind": "XRAY",
            "subject": "0x" + rec["sha256"],
        },
    )
    page = officer.http.get(f"/ui/xray/{scan_id}").text
    assert f'<code id="attestation-tx">{tx}</code> (block 42)' in page
    assert all(s in page for s in signers) and rec["model_version"] in page
    assert f'title="{tx}"' in officer.http.get("/ui/xray").text


# --- in a real browser -----------------------------------------------------------------------


@pytest.mark.browser
def test_browser_upload_see_the_overlay_and_confirm(
    browser, web_nodes, unattested, tmp_path, firearm
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    def wait(timeout: float = 60) -> WebDriverWait:
        return WebDriverWait(browser, timeout, poll_frequency=0.2)

    scan = tmp_path / "container-777.png"
    scan.write_bytes(firearm)

    browser.get(f"{web_nodes.tw}/ui/signin")
    field = wait().until(EC.element_to_be_clickable((By.ID, "api_key")))
    field.send_keys(web_nodes.key("TW", "officer"), Keys.ENTER)
    wait().until(EC.presence_of_element_located((By.CSS_SELECTOR, ".who")))

    browser.find_element(By.LINK_TEXT, "X-ray scans").click()
    wait().until(EC.presence_of_element_located((By.ID, "file"))).send_keys(str(scan))
    browser.find_element(By.ID, "declaration_id").send_keys("D-BROWSER-1")
    browser.find_element(By.CSS_SELECTOR, "#xray-upload button[type=submit]").click()

    verdict = wait().until(EC.presence_of_element_located((By.ID, "xray-verdict")))
    assert "firearm" in verdict.text
    img = browser.find_element(By.ID, "overlay")
    wait().until(
        lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img)
    )
    assert browser.execute_script("return arguments[0].naturalWidth", img) == 512
    assert "D-BROWSER-1" in browser.find_element(By.ID, "xray-declaration").text

    browser.find_element(By.CSS_SELECTOR, "#scan-alerts button[data-decision=confirm]").click()
    decided = wait().until(
        EC.presence_of_element_located((By.CSS_SELECTOR, "[data-decided=confirmed]"))
    )
    row = decided.find_element(By.XPATH, "./ancestor::tr")
    assert "by" in row.text and "officer" in row.text
    assert browser.find_elements(By.CSS_SELECTOR, "#scan-alerts button[data-decision]") == []
