"""Customs declarations: examples, XML/JSON equivalence and hash, every rejection path."""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offchain import merkle
from offchain.declarations import (
    COUNTRY_CODES,
    CURRENCY_CODES,
    DECLARATION,
    UNIT_CODES,
    Declaration,
    DeclarationRejected,
    canonical_json,
    declaration_hash,
    declaration_to_xml,
    load_declaration_json,
    load_declaration_xml,
)
from offchain.documents import prepare
from offchain.errors import OffchainError
from offchain.tariff import TariffTable
from offchain.xmlsafe import XmlLimits

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "declarations"
XML_EXAMPLES = sorted(EXAMPLES.glob("[0-9][0-9]-*.xml"))
TWINS = sorted(p.stem for p in EXAMPLES.glob("[0-9][0-9]-*.json"))
CO_HASH = "0x10fd9c5e21bbd6168301a51b604a7a46b49d87d6d6782bb21a632eb82df0ea17"


def example_json(stem: str = "01-machinery-parts-sg") -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{stem}.json").read_text(encoding="utf-8"))


def example_xml(stem: str = "01-machinery-parts-sg") -> bytes:
    return (EXAMPLES / f"{stem}.xml").read_bytes()


def rejected_json(obj: Any) -> DeclarationRejected:
    with pytest.raises(DeclarationRejected) as info:
        load_declaration_json(obj)
    return info.value


def rejected_xml(data: bytes, limits: XmlLimits | None = None) -> DeclarationRejected:
    with pytest.raises(DeclarationRejected) as info:
        load_declaration_xml(data, limits)
    return info.value


# -- the examples ----------------------------------------------------------------------------


def test_there_are_at_least_six_examples_and_three_json_twins():
    assert len(XML_EXAMPLES) >= 6
    assert TWINS == [
        "01-machinery-parts-sg",
        "02-frozen-beef-nz-permit",
        "03-preference-astep-sg",
    ]
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for path in XML_EXAMPLES:
        assert path.name in readme


@pytest.mark.parametrize("path", XML_EXAMPLES, ids=lambda p: p.stem)
def test_every_example_loads_and_is_priced_by_the_tariff(path):
    decl = load_declaration_xml(path.read_bytes())
    assert isinstance(decl, Declaration)
    assert decl.totals.item_count == len(decl.items)
    table = TariffTable.load()
    for item in decl.items:
        table.lookup(item.hs_code)  # every declared code is a tariff line


@pytest.mark.parametrize("path", XML_EXAMPLES, ids=lambda p: p.stem)
def test_every_example_is_valid_for_an_independent_xsd_validator(path):
    schema = xmlschema.XMLSchema(str(DECLARATION.xsd))
    schema.validate(str(path))


def test_the_examples_cover_the_intended_channels():
    decls = {p.stem[:2]: load_declaration_xml(p.read_bytes()) for p in XML_EXAMPLES}
    table = TariffTable.load()

    def regs(d: Declaration) -> set[str]:
        return {c for i in d.items for c in table.lookup(i.hs_code).regulations}

    assert regs(decls["01"]) == set()
    assert decls["01"].origin_country == "SG"
    beef = decls["02"]
    assert {i.hs_code[:6] for i in beef.items} == {"020230"}
    assert all(i.permits == ("IP-TW-2025-0042",) for i in beef.items)
    assert "IMP_PERMIT" in regs(beef)
    pref = decls["03"]
    assert {i.preference.agreement for i in pref.items} == {"ASTEP"}
    assert pref.documents[0].receipt is not None
    assert "DANGEROUS_GOODS" in regs(decls["04"])
    unit_values = [i.customs_value / i.quantity for i in decls["05"].items]
    assert max(unit_values) < Decimal("0.20")
    assert "PROHIBITED" in regs(decls["06"])
    assert decls["07"].type == "EX"


@pytest.mark.parametrize("stem", TWINS)
def test_xml_and_json_twins_are_the_same_declaration_and_hash(stem):
    from_xml = load_declaration_xml(example_xml(stem))
    from_json = load_declaration_json(example_json(stem))
    assert from_xml == from_json
    assert canonical_json(from_xml) == canonical_json(from_json)
    assert declaration_hash(from_xml) == declaration_hash(from_json)
    assert len(declaration_hash(from_xml)) == 32


def test_distinct_examples_hash_differently():
    hashes = {declaration_hash(load_declaration_xml(p.read_bytes())) for p in XML_EXAMPLES}
    assert len(hashes) == len(XML_EXAMPLES)


def test_the_example_receipt_matches_its_certificate_and_merkle_proof():
    co = (EXAMPLES / "documents" / "certificate-of-origin-astep.xml").read_bytes()
    doc = prepare(co, "certificate-of-origin", limits=XmlLimits())
    assert "0x" + doc.doc_hash.hex() == CO_HASH
    receipt = load_declaration_xml(example_xml("03-preference-astep-sg")).documents[0].receipt
    assert receipt is not None and receipt.doc_hash == CO_HASH
    proof = [bytes.fromhex(p[2:]) for p in receipt.proof]
    assert merkle.verify(proof, bytes.fromhex(receipt.root[2:]), merkle.leaf_hash(doc.doc_hash))


# -- the hash --------------------------------------------------------------------------------


def test_hash_ignores_number_spelling_key_order_and_xml_form():
    base = declaration_hash(load_declaration_json(example_json()))
    respelled = example_json()
    respelled["items"][0]["customs_value"] = "6250.000"
    respelled["items"][0]["quantity"] = "5000.0"
    respelled["exchange_rate"] = "32.150000"
    respelled["transport"]["mode"] = "1"
    reordered = dict(reversed(list(respelled.items())))
    assert declaration_hash(load_declaration_json(reordered)) == base

    xml = example_xml()
    variant = (
        xml.replace(b"<CustomsValue>6250.00</CustomsValue>", b"<CustomsValue> 6250 </CustomsValue>")
        .replace(b"<Declaration xmlns=", b"<!-- lodged by EDI -->\n<x:Declaration xmlns:x=")
        .replace(b"</Declaration>", b"</x:Declaration>")
    )
    variant = variant.replace(b"<x:Declaration xmlns:x=", b"<x:Declaration  xmlns:x=")
    # Rename every element of the default namespace to the x: prefix.
    variant = re.sub(rb"<(/?)(?!x:|!|\?)([A-Za-z]+)", rb"<\1x:\2", variant)
    assert declaration_hash(load_declaration_xml(variant)) == base


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("items", 0, "customs_value"), "6250.01"),
        (("items", 0, "hs_code"), "848220"),
        (("items", 0, "description"), "Deep-groove ball bearings 6204-2RS, sealed."),
        (("importer", "id"), "42751894"),
        (("exchange_rate",), "32.16"),
        (("date",), "2025-04-13"),
    ],
)
def test_any_change_of_content_changes_the_hash(path, value):
    base = declaration_hash(load_declaration_json(example_json()))
    obj = example_json()
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    if path[-1] == "customs_value":
        obj["totals"]["customs_value"] = "34250.01"
    assert declaration_hash(load_declaration_json(obj)) != base


def test_item_order_is_content():
    obj = example_json()
    base = declaration_hash(load_declaration_json(obj))
    obj["items"].reverse()
    assert declaration_hash(load_declaration_json(obj)) != base


@pytest.mark.parametrize("path", XML_EXAMPLES, ids=lambda p: p.stem)
def test_to_xml_and_to_json_round_trip(path):
    decl = load_declaration_xml(path.read_bytes())
    again = load_declaration_xml(declaration_to_xml(decl))
    assert again == decl
    assert declaration_hash(again) == declaration_hash(decl)
    via_json = load_declaration_json(json.dumps(decl.to_json()))
    assert declaration_hash(via_json) == declaration_hash(decl)


_amount = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False)
_measure = st.decimals(min_value=Decimal("0.001"), max_value=10**6, places=3, allow_nan=False)
_XML_CHAR = re.compile("^[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]+$")
_text = (
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)
    .map(lambda s: " ".join(s.split()) or "x")
    .filter(lambda s: bool(_XML_CHAR.match(s)))
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.lists(
        st.tuples(_text, st.from_regex(r"[0-9]{6,10}", fullmatch=True), _measure, _amount,
                  _measure, st.sampled_from(sorted(UNIT_CODES)),
                  st.sampled_from(sorted(COUNTRY_CODES))),
        min_size=1, max_size=5,
    ),
    currency=st.sampled_from(sorted(CURRENCY_CODES)),
    numbers_as_strings=st.booleans(),
)  # fmt: skip
def test_any_valid_json_declaration_has_an_equal_xml_twin(items, currency, numbers_as_strings):
    obj = example_json()
    obj["currency"] = currency

    def num(d: Decimal) -> Any:
        return str(d) if numbers_as_strings else float(d) if d == d.to_integral() else str(d)

    obj["items"] = [
        {"sequence": n + 1, "description": desc, "hs_code": hs, "quantity": num(q),
         "unit": unit, "customs_value": num(v), "net_mass_kg": num(m), "origin_country": c}
        for n, (desc, hs, q, v, m, unit, c) in enumerate(items)
    ]  # fmt: skip
    obj["totals"] = {
        "item_count": len(items),
        "customs_value": str(sum(i[3] for i in items)),
        "net_mass_kg": str(sum(i[4] for i in items)),
    }
    decl = load_declaration_json(obj)
    twin = load_declaration_xml(declaration_to_xml(decl))
    assert twin == decl
    assert declaration_hash(twin) == declaration_hash(decl)


# -- rejections: JSON --------------------------------------------------------------------------


def _set(obj: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    target = obj
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return obj


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "code", "where"),
    [
        (("items", 0, "customs_value"), -1, "negative_value", "items[0].customs_value"),
        (("items", 0, "customs_value"), "-0.01", "negative_value", "items[0].customs_value"),
        (("items", 1, "quantity"), -40, "negative_value", "items[1].quantity"),
        (("exchange_rate",), -32.15, "negative_value", "exchange_rate"),
        (("items", 0, "customs_value"), float("nan"), "not_finite", "items[0].customs_value"),
        (("items", 0, "customs_value"), "NaN", "not_finite", "items[0].customs_value"),
        (("items", 0, "net_mass_kg"), float("inf"), "not_finite", "items[0].net_mass_kg"),
        (("items", 0, "net_mass_kg"), "-Infinity", "not_finite", "items[0].net_mass_kg"),
        (("totals", "customs_value"), "sNaN", "not_finite", "totals.customs_value"),
        (("items", 0, "quantity"), 0, "invalid_number", "items[0].quantity"),
        (("items", 0, "customs_value"), "6250.001", "invalid_number", "items[0].customs_value"),
        (("items", 0, "customs_value"), "1e3", "invalid_number", "items[0].customs_value"),
        (("items", 0, "customs_value"), "12,5", "invalid_number", "items[0].customs_value"),
        (("items", 0, "customs_value"), True, "invalid_number", "items[0].customs_value"),
        (("items", 0, "customs_value"), "1" * 19, "invalid_number", "items[0].customs_value"),
        (("currency",), "XYZ", "invalid_currency", "currency"),
        (("currency",), "usd", "invalid_currency", "currency"),
        (("currency",), "XXX", "invalid_currency", "currency"),
        (("currency",), "XAU", "invalid_currency", "currency"),
        (("currency",), 840, "invalid_currency", "currency"),
        (("origin_country",), "XX", "invalid_country", "origin_country"),
        (("importer", "country"), "Taiwan", "invalid_country", "importer.country"),
        (("items", 2, "origin_country"), "sg", "invalid_country", "items[2].origin_country"),
        (("items", 0, "hs_code"), "84821", "invalid_hs_code", "items[0].hs_code"),
        (("items", 0, "hs_code"), "84821000001", "invalid_hs_code", "items[0].hs_code"),
        (("items", 0, "hs_code"), "8482.10", "invalid_hs_code", "items[0].hs_code"),
        (("items", 0, "hs_code"), 848210, "invalid_hs_code", "items[0].hs_code"),
        (("items",), [], "no_items", "items"),
        (("items", 1, "sequence"), 1, "duplicate_item_sequence", "items"),
        (("items", 0, "unit"), "KG", "unknown_unit", "items[0].unit"),
        (("items", 0, "unit"), "pcs", "unknown_unit", "items[0].unit"),
        (("totals", "item_count"), 4, "totals_mismatch", ""),
        (("totals", "customs_value"), "34250.01", "totals_mismatch", ""),
        (("totals", "net_mass_kg"), 4069, "totals_mismatch", ""),
        (("date",), "2025-02-30", "invalid_date", "date"),
        (("date",), "14/04/2025", "invalid_date", "date"),
        (("date",), 1744588800, "invalid_date", "date"),
        (("type",), "IMPORT", "invalid_declaration", "type"),
        (("transport", "mode"), 0, "invalid_declaration", "transport.mode"),
        (("items", 0, "description"), " Bearings", "invalid_declaration", "items[0].description"),
        (("items", 0, "description"), "", "invalid_declaration", "items[0].description"),
        (("items", 0, "description"), "x" * 513, "invalid_declaration", "items[0].description"),
        (("items", 0, "description"), "Bearings\x01", "invalid_declaration", "items[0].description"),
        (("items", 0, "description"), "Bearings \ufffe", "invalid_declaration", "items[0].description"),
        (("importer", "name"), "ACME\x00 Ltd", "invalid_declaration", "importer.name"),
        (("office",), "TW KEL", "invalid_declaration", "office"),
        (("items", 0, "permits"), ["P-1", "P-1"], "invalid_declaration", "items[0].permits"),
        (("items", 0, "surprise"), 1, "invalid_declaration", "items[0].surprise"),
        (("declarant",), _DELETE, "invalid_declaration", "declarant"),
        (("exporter", "id_scheme"), _DELETE, "invalid_declaration", "exporter"),
        (("items", 0, "sequence"), "1", "invalid_declaration", "items[0].sequence"),
        (("items", 0, "preference"), {"agreement": "anztec"}, "invalid_declaration",
         "items[0].preference.agreement"),
    ],
)  # fmt: skip
def test_json_rejections(path, value, code, where):
    err = rejected_json(_set(example_json(), path, value))
    assert err.code == code, err.detail
    assert err.path == where
    assert err.http_status == 422
    assert isinstance(err, OffchainError)
    assert err.issues and err.issues[0]["code"] == code


def test_a_preference_certificate_must_be_a_referenced_certificate_of_origin():
    obj = example_json("03-preference-astep-sg")
    obj["items"][1]["preference"]["certificate"] = "0x" + "ab" * 32
    err = rejected_json(obj)
    assert err.code == "unknown_document_reference"
    assert "item 2" in err.detail
    obj = example_json("03-preference-astep-sg")
    obj["documents"][0]["doc_type"] = "packing-list"
    obj["documents"][0]["receipt"]["doc_type"] = "packing-list"
    assert rejected_json(obj).code == "unknown_document_reference"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda o: o["documents"][0]["receipt"].update(doc_hash="0x" + "cd" * 32), "receipt_mismatch"),
        (lambda o: o["documents"][0]["receipt"].update(doc_type="packing-list"), "receipt_mismatch"),
        (lambda o: o["documents"][0]["receipt"].pop("root"), "invalid_receipt"),
        (lambda o: o["documents"][0]["receipt"].update(tx="0x1234"), "invalid_receipt"),
        (lambda o: o["documents"][0].update(receipt="not a receipt"), "invalid_receipt"),
        (lambda o: o["documents"][1].update(doc_hash=CO_HASH), "duplicate_document"),
        (lambda o: o["documents"][1].update(doc_type="bill-of-lading"), "unknown_doc_type"),
        (lambda o: o["documents"][1].update(doc_hash="0X" + "AB" * 32), "invalid_declaration"),
    ],
)  # fmt: skip
def test_document_reference_rejections(change, code):
    obj = example_json("03-preference-astep-sg")
    change(obj)
    assert rejected_json(obj).code == code


@pytest.mark.parametrize(
    ("text", "code", "status"),
    [
        (b"not json", "invalid_json", 400),
        (b"[1, 2]", "invalid_json", 400),
        (b'{"currency": "USD", "currency": "EUR"}', "invalid_json", 400),
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json", 400),
        (b"{}", "invalid_declaration", 422),
    ],
)
def test_json_text_rejections(text, code, status):
    err = rejected_json(text)
    assert (err.code, err.http_status) == (code, status)


def test_json_text_with_nan_literals_is_refused():
    text = (EXAMPLES / "01-machinery-parts-sg.json").read_text().replace('"18400.00"', "NaN")
    assert rejected_json(text).code == "not_finite"


def test_oversized_json_is_refused_before_parsing():
    with pytest.raises(DeclarationRejected) as info:
        load_declaration_json(b" " * 2048 + b"{}", max_bytes=1024)
    assert (info.value.code, info.value.http_status) == ("declaration_too_large", 413)


def test_several_problems_are_listed():
    obj = example_json()
    obj["currency"] = "XYZ"
    obj["items"][0]["hs_code"] = "123"
    err = rejected_json(obj)
    assert err.code == "invalid_currency"
    assert [i["code"] for i in err.issues] == ["invalid_currency", "invalid_hs_code"]
    assert "items[0].hs_code" in err.detail


# -- rejections: XML -----------------------------------------------------------------------------


def line_with(xml: bytes, text: bytes) -> int:
    return xml[: xml.index(text)].count(b"\n") + 1


def test_xml_list_and_consistency_rules_give_the_same_codes_as_json():
    xml = example_xml()
    err = rejected_xml(xml.replace(b"<CurrencyCode>USD<", b"<CurrencyCode>XYZ<"))
    assert (err.code, err.path) == ("invalid_currency", "/Declaration/CurrencyCode")
    assert err.line == line_with(xml, b"<CurrencyCode>")
    err = rejected_xml(xml.replace(b'unitCode="C62">40<', b'unitCode="KG">40<'))
    assert (err.code, err.path) == ("unknown_unit", "/Declaration/Items/Item[2]/Quantity/@unitCode")
    assert err.line == line_with(xml, b'unitCode="C62">40<')
    err = rejected_xml(xml.replace(b"<CountryCode>SG<", b"<CountryCode>XX<"))
    assert (err.code, err.path) == ("invalid_country", "/Declaration/Exporter/CountryCode")
    err = rejected_xml(xml.replace(b"<ItemCount>3<", b"<ItemCount>2<"))
    assert err.code == "totals_mismatch"
    err = rejected_xml(xml.replace(b"<DeclarationDate>2025-04-14", b"<DeclarationDate>2025-02-29"))
    assert err.code in ("schema_invalid", "invalid_date")  # libxml2 checks the calendar too


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        (b"<CustomsValue>6250.00<", b"<CustomsValue>-6250.00<", "/Declaration/Items/Item[1]/CustomsValue"),
        (b"<CustomsValue>6250.00<", b"<CustomsValue>NaN<", "/Declaration/Items/Item[1]/CustomsValue"),
        (b"<CustomsValue>6250.00<", b"<CustomsValue>INF<", "/Declaration/Items/Item[1]/CustomsValue"),
        (b"<HSCode>848210<", b"<HSCode>84821<", "/Declaration/Items/Item[1]/HSCode"),
        (b"<SequenceNumeric>2<", b"<SequenceNumeric>1<", "/Declaration/Items/Item[2]"),
        (b'<Quantity unitCode="C62">5000<', b'<Quantity unitCode="C62">0<', "/Declaration/Items/Item[1]/Quantity"),
        (b"<TypeCode>IM<", b"<TypeCode>XX<", "/Declaration/TypeCode"),
        (b"<CurrencyCode>USD<", b"<CurrencyCode>usd<", "/Declaration/CurrencyCode"),
    ],
)  # fmt: skip
def test_xml_structure_and_ranges_are_the_schemas_job(old, new, where):
    xml = example_xml()
    assert old in xml
    err = rejected_xml(xml.replace(old, new, 1))
    assert err.code == "schema_invalid"
    assert err.http_status == 422
    assert err.issues[0]["path"] == where
    assert err.line is not None


def test_xml_without_items_is_refused():
    xml = example_xml()
    start, end = xml.index(b"<Items>") + len(b"<Items>"), xml.index(b"</Items>")
    err = rejected_xml(xml[:start] + xml[end:])
    assert err.code == "schema_invalid"
    assert "Items" in err.detail


def test_xml_receipt_that_is_not_json_is_an_invalid_receipt():
    xml = example_xml("03-preference-astep-sg")
    bad = xml.replace(b'{"anchored_at": 1744186380,', b'{"anchored_at": 1744186380,,', 1)
    assert rejected_xml(bad).code == "invalid_receipt"


def test_another_document_type_is_the_wrong_root():
    err = rejected_xml((ROOT / "examples" / "certificate-of-origin.xml").read_bytes())
    assert (err.code, err.http_status) == ("wrong_root", 422)
    assert "Declaration" in err.detail


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE Declaration [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Declaration xmlns="urn:smartcustoms:doc:declaration:1"><DeclarationID>&lol9;</DeclarationID>
</Declaration>
"""


def test_billion_laughs_is_refused_by_the_one_xml_loader():
    err = rejected_xml(BILLION_LAUGHS)  # refused at the DOCTYPE: nothing is expanded
    assert (err.code, err.line, err.http_status) == ("xml_forbidden_dtd", 2, 400)


def test_xxe_never_reads_the_file(tmp_path):
    marker = "SC-MARKER-declaration-xxe"
    secret = tmp_path / "secret.txt"
    secret.write_text(marker)
    xml = (
        example_xml()
        .replace(
            b"<Declaration xmlns=",
            f'<!DOCTYPE Declaration [<!ENTITY x SYSTEM "file://{secret}">]>\n<Declaration xmlns='.encode(),
        )
        .replace(b"<CustomsOfficeID>TWKEL<", b"<CustomsOfficeID>&x;<")
    )
    err = rejected_xml(xml)
    assert err.code == "xml_forbidden_dtd"
    for text in (err.detail, str(err), repr(err.args)):
        assert marker not in text


@pytest.mark.parametrize(
    ("data", "code", "status"),
    [
        (b"<Declaration", "xml_malformed", 400),
        ("<?xml version='1.0' encoding='UTF-16'?><a/>".encode("utf-16"), "xml_not_utf8", 400),
        (b'<?xml-stylesheet href="x.xsl"?><Declaration/>', "xml_forbidden_pi", 400),
        (b"<a>&nbsp;</a>", "xml_entity", 400),
    ],
)
def test_malformed_xml_is_refused_with_the_loaders_codes(data, code, status):
    err = rejected_xml(data)
    assert (err.code, err.http_status) == (code, status)


def test_xml_size_and_depth_limits_come_from_the_caller():
    xml = example_xml()
    err = rejected_xml(xml, XmlLimits(max_bytes=1024))
    assert (err.code, err.http_status) == ("xml_too_large", 413)
    err = rejected_xml(xml, XmlLimits(max_depth=3))
    assert err.code == "xml_too_deep"
    assert load_declaration_xml(xml, XmlLimits(max_bytes=len(xml), max_depth=4))


def test_declaration_is_not_a_trade_document_type():
    from offchain.doctypes import DOC_TYPES

    assert DECLARATION not in DOC_TYPES
    assert DECLARATION.code == 0  # DocumentRegistry refuses type 0
    with pytest.raises(OffchainError):
        prepare(example_xml(), "declaration", limits=XmlLimits())
