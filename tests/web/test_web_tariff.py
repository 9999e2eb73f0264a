"""The tariff classification assistant in the console: a description gets ranked HS codes,
a close call gets a question whose answer narrows them; refusals are readable on the page.
HTTP-level against TW's served node, plus one walk through it in headless Chromium."""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.contract, pytest.mark.integration]

SESSION = re.compile(r'name="session" value="([0-9a-f]{32})"')
BEST = re.compile(r'<tr data-hs6="(\d{6})" class="best"')


def _classify(client, description: str):
    token = client.csrf("/ui/tariff")
    return client.http.post("/ui/tariff", data={"csrf_token": token, "description": description})


def _answer(client, session: str, question: str, option: str):
    token = client.csrf("/ui/tariff")
    return client.http.post(
        "/ui/tariff/answer",
        data={"csrf_token": token, "session": session, "question": question, "option": option},
    )


def _session(page: str) -> str:
    m = SESSION.search(page)
    assert m, "no dialogue session on the page"
    return m.group(1)


def test_a_question_narrows_beef_to_frozen_boneless(web_nodes, console):
    exporter = console("TW", "exporter")
    page = exporter.http.get("/ui/tariff")
    assert page.status_code == 200 and 'id="classify-form"' in page.text
    r = _classify(exporter, "beef boneless")
    assert r.status_code == 200, r.text[:2000]
    assert 'id="question-text"' in r.text and "fresh or chilled" in r.text.lower()
    assert 'data-option="frozen"' in r.text
    assert BEST.search(r.text).group(1) == "020130"  # fresh leads before the answer
    assert "IMP_PERMIT" in r.text and "words: boneless, beef" in r.text  # regulations, why
    session = _session(r.text)
    r = _answer(exporter, session, "q1", "frozen")
    assert r.status_code == 200, r.text[:2000]
    assert BEST.search(r.text).group(1) == "020230"
    assert "Best: <strong>0202.30</strong>" in r.text
    assert "→ <strong>Frozen</strong>" in r.text  # the answer is listed
    assert 'id="question-form"' not in r.text  # confident: no more questions
    # The dialogue lives in the API's own service object (one per app, shared).
    svc = web_nodes.tw_app.state.tariff
    assert svc.sessions.get(session)["dialogue"]["asked"][0]["answer"] == "frozen"


def test_an_officer_stops_the_dialogue_and_keeps_the_candidates(console):
    officer = console("TW", "officer")
    r = _classify(officer, "beef boneless")
    session = _session(r.text)
    token = officer.csrf("/ui/tariff")
    r = officer.http.post("/ui/tariff/stop", data={"csrf_token": token, "session": session})
    assert r.status_code == 200
    assert "stopped by the user" in r.text and 'id="question-form"' not in r.text
    assert BEST.search(r.text)


def test_a_chinese_description_gets_chinese_texts_and_questions(console):
    exporter = console("TW", "exporter")
    r = _classify(exporter, "藍牙耳機")
    assert r.status_code == 200, r.text[:2000]
    assert BEST.search(r.text).group(1) == "851830"
    assert (
        '<span lang="zh-Hant" class="zh"' in r.text and "頭戴耳機及耳機" in r.text
    )  # Taiwan's text
    assert "Headphones and earphones" in r.text  # and the English one
    # a close call asks its question in the user's language
    r = _classify(exporter, "去骨牛肉")
    assert r.status_code == 200, r.text[:2000]
    question = re.search(r'id="question-text"[^>]*>([^<]+)<', r.text)
    assert question and re.search(r"[\u4e00-\u9fff]", question.group(1)), question


def test_bad_descriptions_are_readable_refusals(console):
    exporter = console("TW", "exporter")
    r = _classify(exporter, "   ")
    assert r.status_code == 422 and 'id="tariff-error"' in r.text
    assert "the description is empty" in r.text
    r = _classify(exporter, "x" * 6000)
    assert r.status_code == 413 and "at most 5000" in r.text
    r = _classify(exporter, "beef " * 20_480)  # 100 KB: refused before it is read
    assert r.status_code == 413 and 'id="tariff-error"' in r.text
    assert "description too long" in r.text and "Nothing was classified" in r.text
    r = _classify(exporter, "8482.10.00")
    assert r.status_code == 422 and "looks like an HS code" in r.text


def test_unknown_expired_and_unasked_answers_say_why(web_nodes, console):
    exporter = console("TW", "exporter")
    r = _answer(exporter, "0" * 32, "q1", "frozen")
    assert r.status_code == 404 and "no dialogue" in r.text and "Start again" in r.text
    r = _answer(exporter, "not-a-session", "q1", "frozen")
    assert r.status_code == 404 and 'id="tariff-error"' in r.text

    session = _session(_classify(exporter, "beef boneless").text)
    r = _answer(exporter, session, "q7", "frozen")  # not the pending question
    assert r.status_code == 409 and "is not the pending one" in r.text
    assert 'id="question-text"' in r.text  # the pending question is shown again
    r = _answer(exporter, session, "q1", "purple")
    assert r.status_code == 422 and "is not an option of q1" in r.text
    r = exporter.http.get("/ui/tariff", params={"session": session})  # resume it
    assert r.status_code == 200 and 'data-option="frozen"' in r.text
    r = exporter.http.get("/ui/tariff/answer")  # a reload of a posted answer
    assert r.status_code == 303 and r.headers["location"] == "/ui/tariff"

    store = web_nodes.tw_app.state.tariff.sessions
    clock = store.clock
    store.clock = lambda: clock() + store.ttl_s + 1
    try:
        r = _answer(exporter, session, "q1", "frozen")
    finally:
        store.clock = clock
    assert r.status_code == 410 and "expired" in r.text and "Start again" in r.text


def test_roles_and_csrf(console):
    auditor = console("TW", "auditor")
    r = auditor.http.get("/ui/tariff")
    assert r.status_code == 403 and "This page is for: exporter, officer" in r.text
    exporter = console("TW", "exporter")
    r = exporter.http.post("/ui/tariff", data={"description": "beef boneless"})
    assert r.status_code == 403 and "security token" in r.text
    r = exporter.http.post(
        "/ui/tariff/answer", data={"session": "0" * 32, "question": "q1", "option": "frozen"}
    )
    assert r.status_code == 403
    signed_out = console("TW")
    r = signed_out.http.get("/ui/tariff")
    assert r.status_code == 303 and "/ui/signin" in r.headers["location"]


# --- in a real browser -----------------------------------------------------------------------


@pytest.mark.browser
def test_browser_the_assistant_asks_and_narrows(browser, web_nodes):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    def wait(timeout: float = 60) -> WebDriverWait:
        return WebDriverWait(browser, timeout, poll_frequency=0.2)

    browser.get(f"{web_nodes.tw}/ui/signin")
    field = wait().until(EC.element_to_be_clickable((By.ID, "api_key")))
    field.send_keys(web_nodes.key("TW", "exporter"), Keys.ENTER)
    wait().until(EC.presence_of_element_located((By.CSS_SELECTOR, ".who")))

    browser.find_element(By.LINK_TEXT, "Tariff assistant").click()
    box = wait().until(EC.element_to_be_clickable((By.ID, "description")))
    box.send_keys("beef boneless")
    browser.find_element(By.CSS_SELECTOR, "#classify-form button[type=submit]").click()
    question = wait().until(EC.presence_of_element_located((By.ID, "question-text")))
    assert "frozen" in question.text.lower()
    rows = browser.find_elements(By.CSS_SELECTOR, "#candidates tbody tr")
    assert len(rows) == 5 and rows[0].get_attribute("data-hs6") == "020130"

    browser.find_element(By.CSS_SELECTOR, "button[data-option=frozen]").click()
    verdict = wait().until(EC.presence_of_element_located((By.ID, "tariff-verdict")))
    assert "0202.30" in verdict.text
    best = browser.find_element(By.CSS_SELECTOR, "#candidates tbody tr.best")
    assert best.get_attribute("data-hs6") == "020230"
    assert "0202.30" in best.text and "boneless" in best.text.lower()
    assert browser.find_elements(By.ID, "question-form") == []
