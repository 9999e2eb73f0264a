"""Plausible dates: declarations and trade documents dated far from today are refused.

The window is checked when something is lodged or submitted, never when it is loaded or
verified later: the same declaration and documents load whatever their date.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from offchain import doctypes
from offchain.dates import DateOutOfRange, DateWindow
from offchain.declarations import (
    DECLARATION,
    DeclarationRejected,
    _dates_in,
    check_dates,
    load_declaration_json,
    load_declaration_xml,
)
from offchain.documents import _date_elements, prepare
from offchain.errors import DocumentRejected
from offchain.settings import Settings
from offchain.xmlsafe import XmlLimits

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TODAY = dt.date(2026, 6, 15)
WINDOW = DateWindow(future_days=1, max_age_days=30)
DOC_WINDOW = DateWindow(future_days=1, max_age_days=3650)
FAR = ["9999-12-31", "2100-01-01", "0001-01-01", "1900-01-01"]


def declaration(date: str) -> dict:
    raw = json.loads((EXAMPLES / "declarations" / "01-machinery-parts-sg.json").read_text())
    return {**raw, "date": date}


@pytest.mark.parametrize(
    ("offset", "code"),
    [(-31, "date_too_old"), (-30, None), (0, None), (1, None), (2, "date_in_future")],
)
def test_the_window_edges_are_inclusive(offset, code):
    value = TODAY + dt.timedelta(days=offset)
    if code is None:
        WINDOW.check(value, "date", today=TODAY)
        return
    with pytest.raises(DateOutOfRange) as info:
        WINDOW.check(value, "date", today=TODAY)
    assert info.value.code == code and info.value.http_status == 422
    assert value.isoformat() in info.value.detail and "date" in info.value.detail


@pytest.mark.parametrize("date", FAR)
def test_a_declaration_dated_far_away_loads_but_is_refused_when_lodged(date):
    decl = load_declaration_json(declaration(date))  # loading judges form, not plausibility
    with pytest.raises(DeclarationRejected) as info:
        check_dates(decl, WINDOW, today=TODAY)
    exc = info.value
    expected = "date_in_future" if date > TODAY.isoformat() else "date_too_old"
    assert (exc.code, exc.path, exc.http_status) == (expected, "date", 422)
    assert date in exc.detail


def test_a_declaration_dated_today_or_tomorrow_is_lodged():
    for day in (TODAY, TODAY + dt.timedelta(days=1), TODAY - dt.timedelta(days=30)):
        decl = load_declaration_json(declaration(day.isoformat()))
        assert check_dates(decl, WINDOW, today=TODAY) is decl


def test_the_xml_form_is_judged_the_same():
    xml = (EXAMPLES / "declarations" / "01-machinery-parts-sg.xml").read_text()
    old = xml.split("<DeclarationDate>")[1].split("</DeclarationDate>")[0]
    decl = load_declaration_xml(xml.replace(old, "2100-01-01").encode())
    with pytest.raises(DeclarationRejected) as info:
        check_dates(decl, WINDOW, today=TODAY)
    assert info.value.code == "date_in_future"


def test_the_defaults_refuse_the_reported_dates_and_accept_today():
    windows = Settings().dates
    today = dt.datetime.now(dt.UTC).date()
    for date in ("9999-12-31", "2100-01-01"):
        with pytest.raises(DeclarationRejected):
            check_dates(load_declaration_json(declaration(date)), windows.declarations)
    check_dates(load_declaration_json(declaration(today.isoformat())), windows.declarations)


# -- trade documents ------------------------------------------------------------------------


def test_every_date_element_of_every_schema_is_found():
    found = {t.name: _date_elements(t.xsd) for t in (*doctypes.DOC_TYPES, DECLARATION)}
    assert found == {
        "certificate-of-origin": {"IssueDate", "DepartureDate", "Date"},
        "commercial-invoice": {"IssueDate"},
        "packing-list": {"IssueDate"},
        "declaration": {"DeclarationDate"},
    }


CO_DATES = {
    "IssueDate": "<IssueDate>2025-03-14</IssueDate>",
    "DepartureDate": "<DepartureDate>2025-03-18</DepartureDate>",
}


@pytest.mark.parametrize("element", sorted(CO_DATES))
@pytest.mark.parametrize("date", FAR)
def test_a_certificate_with_an_implausible_date_is_refused_on_submission(element, date):
    xml = (EXAMPLES / "certificate-of-origin.xml").read_text()
    assert xml.count(CO_DATES[element]) == 1
    xml = xml.replace(CO_DATES[element], f"<{element}>{date}</{element}>").encode()
    limits = XmlLimits()
    prepare(xml, "certificate-of-origin", limits=limits)  # verification: no window
    with pytest.raises(DocumentRejected) as info:
        prepare(
            xml,
            "certificate-of-origin",
            limits=limits,
            dates=DateWindow(1, 3650),
        )
    exc = info.value
    assert exc.code in ("date_in_future", "date_too_old") and exc.http_status == 422
    assert "/CertificateOfOrigin" in exc.detail and element in exc.detail and exc.line


@pytest.mark.parametrize("doc_type", [t.name for t in doctypes.DOC_TYPES])
def test_the_example_documents_pass_the_default_window(doc_type):
    xml = (EXAMPLES / f"{doc_type}.xml").read_bytes()
    prepare(xml, doc_type, limits=XmlLimits(), dates=Settings().dates.documents)


def test_date_and_time_values_are_judged_by_their_day():
    """Fields holding a date and time (added to declarations later) are checked too."""
    found = list(_dates_in([dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.UTC)], ()))
    assert found == [((0,), dt.date(9999, 12, 31))]
