"""Each user's main task, end to end in headless Chromium against real nodes on a real chain:
the exporter submits and gets the receipt; the officer verifies a good and a tampered
document; an alert appears live; the auditor traces a document and a trip.

Each test saves a screenshot in its tmp_path and fails on any JavaScript console error.
"""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.contract, pytest.mark.integration]

if not (Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists()):
    pytest.skip(
        "browser tests need Debian's chromium and chromium-driver; `make test` installs them",
        allow_module_level=True,
    )

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from nodes.transport.simulator import simulate  # noqa: E402
from offchain.geo import default_index  # noqa: E402

WAIT_S = 60
_trips: dict[str, str] = {}


def wait(drv, timeout: float = WAIT_S) -> WebDriverWait:
    return WebDriverWait(drv, timeout, poll_frequency=0.2)


def sign_in(drv, base: str, key: str) -> None:
    drv.get(f"{base}/ui/signin")
    field = wait(drv).until(EC.element_to_be_clickable((By.ID, "api_key")))
    assert drv.switch_to.active_element == field  # focused on arrival: paste and press Enter
    field.send_keys(key, Keys.ENTER)
    wait(drv).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".who")))


def anchored(web_nodes, xml: bytes) -> dict:
    r = httpx.post(
        f"{web_nodes.tw}/documents",
        params={"type": "packing-list", "to": "SG", "wait": 20},
        content=xml,
        headers={"X-API-Key": web_nodes.key("TW", "exporter"), "Content-Type": "application/xml"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return r.json()["receipt"]


def test_exporter_submits_a_document_and_gets_its_receipt(browser, web_nodes, sample_xml, tmp_path):
    doc = tmp_path / "certificate.xml"
    doc.write_bytes(sample_xml("certificate-of-origin"))
    sign_in(browser, web_nodes.tw, web_nodes.key("TW", "exporter"))
    browser.get(f"{web_nodes.tw}/ui/documents")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)  # keyboard users first
    assert browser.switch_to.active_element.text == "Skip to content"  # meet the skip link
    browser.find_element(By.ID, "document").send_keys(str(doc))
    Select(browser.find_element(By.ID, "doc_type")).select_by_value("certificate-of-origin")
    Select(browser.find_element(By.ID, "recipient")).select_by_value("SG")
    browser.find_element(By.CSS_SELECTOR, "#submit-form button[type=submit]").click()

    link = wait(browser).until(EC.presence_of_element_located((By.ID, "receipt-download")))
    doc_hash = browser.current_url.rsplit("/", 1)[-1]
    assert doc_hash.startswith("0x") and len(doc_hash) == 66
    assert link.get_attribute("href").endswith(f"/ui/documents/{doc_hash}/receipt")
    receipt = browser.find_element(By.ID, "receipt-json").get_attribute("textContent")
    assert doc_hash in receipt and '"recipient": "SG"' in receipt
    # The page follows the document to the importer, which verifies it.
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "doc-state"), "verified by SG"))
    browser.save_screenshot(str(tmp_path / "document.png"))
    browser.get(f"{web_nodes.tw}/ui/documents")
    row = browser.find_element(By.ID, "submissions").text
    assert "verified by SG" in row


def test_officer_verifies_a_good_and_a_tampered_document(browser, web_nodes, sample_xml, tmp_path):
    number = f"PL-GOOD-{uuid.uuid4().hex[:10]}"
    xml = sample_xml("packing-list", number)
    receipt = anchored(web_nodes, xml)
    good, tampered, rfile = (
        tmp_path / "good.xml",
        tmp_path / "tampered.xml",
        tmp_path / "receipt.json",
    )
    good.write_bytes(xml)
    tampered.write_bytes(xml.replace(number.encode(), number.replace("GOOD", "EVIL").encode()))
    rfile.write_text(json.dumps(receipt))

    sign_in(browser, web_nodes.sg, web_nodes.key("SG", "officer"))
    for path, expect in ((good, None), (tampered, "integrity")):
        browser.get(f"{web_nodes.sg}/ui/verify")
        browser.find_element(By.ID, "document").send_keys(str(path))
        browser.find_element(By.ID, "receipt_file").send_keys(str(rfile))
        browser.find_element(By.CSS_SELECTOR, "#verify-form button[type=submit]").click()
        verdict = wait(browser).until(EC.presence_of_element_located((By.ID, "verdict")))
        checks = browser.find_elements(By.CSS_SELECTOR, "#checks tbody tr")
        assert [c.get_attribute("data-check") for c in checks] == [
            "schema",
            "integrity",
            "anchored",
            "issuer",
            "not revoked",
            "attestations",
        ]
        if expect is None:
            assert "all six checks passed" in verdict.text
            if path == good:
                browser.save_screenshot(str(tmp_path / "verify-good.png"))
        else:
            assert browser.find_element(By.ID, "failing-check").text == expect
            assert "the document was altered" in verdict.text
    # The same document arrived in SG's inbox by delivery, verified on arrival.
    node = web_nodes.sg_app.state.node
    wait(browser, 30).until(lambda _: node.documents.inbox.get(receipt["doc_hash"]) is not None)
    browser.get(f"{web_nodes.sg}/ui/inbox")
    row = browser.find_element(
        By.XPATH, f"//table[@id='inbox']//tr[td[4]/code[@title='{receipt['doc_hash']}']]"
    )
    assert "valid" in row.text and "6/6 passed" in row.text


def _simulate_seal_trip(web_nodes) -> str:
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
        scenarios=["seal_open"],
        prefix=f"WEB{uuid.uuid4().hex[:6]}",
        corridors=["TPP-TPE"],
        seed=7,
    )
    return out["trips"][0]["trip"]


def test_an_alert_appears_live_and_the_trip_is_drawn(browser, web_nodes, tmp_path):
    sign_in(browser, web_nodes.tw, web_nodes.key("TW", "officer"))
    browser.get(f"{web_nodes.tw}/ui/alerts")
    wait(browser).until(
        lambda d: "live" in d.find_element(By.ID, "live-status").get_attribute("class").split()
    )
    browser.execute_script("window.__sameDocument = true;")
    result: dict[str, str] = {}
    sim = threading.Thread(target=lambda: result.update(trip=_simulate_seal_trip(web_nodes)))
    sim.start()
    sim.join(90)
    trip = result["trip"]
    _trips["seal"] = trip
    row = wait(browser).until(
        EC.presence_of_element_located(
            (
                By.XPATH,
                f"//table[@id='alerts']//tr[td[5]='{trip}' and td[6]='seal_open_outside_zone']",
            )
        )
    )
    assert "critical" in row.text
    assert browser.execute_script("return window.__sameDocument === true;"), "page reloaded"
    browser.save_screenshot(str(tmp_path / "alerts-live.png"))

    row.find_element(By.LINK_TEXT, trip).click()
    svg = wait(browser).until(EC.presence_of_element_located((By.ID, "trip-map")))
    assert svg.find_elements(By.CSS_SELECTOR, "polyline.track")
    assert svg.find_elements(By.CSS_SELECTOR, "polyline.corridor-band")
    assert len(svg.find_elements(By.CSS_SELECTOR, "polygon.zone")) >= 2
    assert svg.find_elements(By.CSS_SELECTOR, "path.alert-mark.sev-critical")
    assert svg.find_elements(By.CSS_SELECTOR, "circle.seal-open")
    assert "seal_open_outside_zone" in browser.find_element(By.ID, "alerts").text


def test_auditor_traces_a_document_and_a_trip(browser, web_nodes, sample_xml):
    receipt = anchored(web_nodes, sample_xml("packing-list"))
    doc_hash = receipt["doc_hash"]
    node = web_nodes.tw_app.state.node
    wait(browser, 30).until(
        lambda _: (
            (d := node.documents.outbox.delivery(doc_hash)) is not None and d.state == "delivered"
        )
    )
    sign_in(browser, web_nodes.tw, web_nodes.key("TW", "auditor"))
    browser.get(f"{web_nodes.tw}/ui/trace")
    field = browser.find_element(By.ID, "doc")
    field.send_keys(doc_hash)
    field.submit()
    summary = wait(browser).until(EC.presence_of_element_located((By.ID, "trace-summary")))
    assert "entries re-verified" in summary.text and "failed" not in summary.text
    timeline = browser.find_element(By.CSS_SELECTOR, "ol.timeline").text
    for kind in ("submitted", "anchored", "delivered"):
        assert kind in timeline
    assert "BatchAnchored" in timeline and receipt["tx"] in timeline

    trip = _trips.get("seal") or _simulate_seal_trip(web_nodes)

    def state() -> str:
        headers = {"X-API-Key": web_nodes.key("TW", "auditor")}
        return httpx.get(f"{web_nodes.tw}/trips/{trip}", headers=headers).json()["state"]

    wait(browser, 90).until(lambda _: state() == "closed")
    browser.get(f"{web_nodes.tw}/ui/trace")
    field = browser.find_element(By.ID, "trip")
    field.send_keys(trip)
    field.submit()
    summary = wait(browser).until(EC.presence_of_element_located((By.ID, "trace-summary")))
    assert "entries re-verified" in summary.text, summary.text
    timeline = browser.find_element(By.CSS_SELECTOR, "ol.timeline").text
    for kind in ("trip started", "events anchored", "alert: seal_open_outside_zone", "trip closed"):
        assert kind in timeline
    assert "SEAL_BROKEN" in timeline


def _glyphs_differ(browser, element, a: str, b: str) -> bool:
    """Draw `a` and `b` in the element's own font on a canvas: two different Chinese
    characters come out identical only when both are the font's empty box (no CJK font)."""
    return browser.execute_script(
        """
        const font = getComputedStyle(arguments[0]).font;
        function draw(text) {
          const c = document.createElement("canvas");
          c.width = 48; c.height = 48;
          const g = c.getContext("2d");
          g.font = font.replace(/\\d+(\\.\\d+)?px/, "32px");
          g.fillText(text, 4, 38);
          return c.toDataURL();
        }
        return draw(arguments[1]) !== draw(arguments[2]);
        """,
        element,
        a,
        b,
    )


def test_a_chinese_goods_description_renders_as_text(browser, web_nodes, tmp_path):
    """Issue #20 item 7: Chinese rendered as empty boxes in the browser tests (no CJK font
    on the machine); scripts/install-system.sh installs Debian's fonts-noto-cjk."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_aci_support", Path(__file__).resolve().parents[1] / "nodes" / "aci_support.py"
    )
    aci = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(aci)
    doc = aci.manifest("sea")
    chinese = "冷凍無骨牛肉塊（真空包裝）"
    doc["lines"][0]["description"] = chinese
    r = httpx.post(
        f"{web_nodes.tw}/manifests",
        json=doc,
        headers={"X-API-Key": web_nodes.key("TW", "carrier")},
        timeout=60,
    )
    assert r.status_code == 201, r.text
    sign_in(browser, web_nodes.tw, web_nodes.key("TW", "officer"))
    browser.get(f"{web_nodes.tw}/ui/manifests/{doc['manifest_id']}")
    cell = wait(browser).until(
        EC.presence_of_element_located(
            (By.XPATH, f"//table[@id='lines']//td[contains(., '{chinese}')]")
        )
    )
    assert chinese in cell.text
    browser.save_screenshot(str(tmp_path / "chinese-description.png"))
    assert _glyphs_differ(browser, cell, "牛", "肉"), (
        "Chinese characters render as empty boxes: install a CJK font (Debian fonts-noto-cjk, "
        "scripts/install-system.sh)"
    )
