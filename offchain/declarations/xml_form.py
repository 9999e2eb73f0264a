"""A declaration in XML: loading through the hardened loader and the XSD, and writing it back."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from lxml import etree

from offchain import documents
from offchain.declarations.doctype import DECLARATION, NAMESPACE
from offchain.declarations.errors import DeclarationRejected
from offchain.declarations.fields import _plain
from offchain.declarations.json_form import _no_repeated_keys
from offchain.declarations.model import Declaration
from offchain.declarations.paths import _ELEMENT, _NS, _xml_path
from offchain.declarations.validation import _validate
from offchain.errors import DocumentRejected
from offchain.xmlsafe import XmlLimits, load_xml


def load_declaration_xml(data: bytes, limits: XmlLimits | None = None) -> Declaration:
    """Load a declaration in XML through the one hardened loader and the declaration XSD.

    `limits` are the node's XML caps (`XmlLimits()` defaults).  Raises `DeclarationRejected`
    with an `offchain.xmlsafe` code (hostile or malformed XML: DTDs, entities, processing
    instructions, too large or deep, not UTF-8), `wrong_root`, `schema_invalid` (with line
    and element path), or any code of the package docstring.
    """
    limits = limits or XmlLimits()
    try:
        root = load_xml(data, max_bytes=limits.max_bytes, max_depth=limits.max_depth)
        documents.validate(root, DECLARATION)
    except DocumentRejected as exc:
        raise DeclarationRejected(exc.code, exc.detail, line=exc.line, issues=exc.issues) from None
    return _validate(_from_xml(root), lambda loc: _xml_path(loc), root)


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _text_of(parent: etree._Element, name: str) -> str | None:
    """The element's text; XML whitespace around it is dropped, as the XSD's decimal and
    date types do (free text and codes cannot have any: their patterns refuse it)."""
    el = parent.find(_q(name))
    return None if el is None else _strip(el.text)


def _strip(text: str | None) -> str:
    return (text or "").strip(" \t\n\r")


def _party(el: etree._Element | None, *fields: str) -> dict[str, Any] | None:
    if el is None:
        return None
    out: dict[str, Any] = {}
    for f in fields:
        if f == "id_scheme":
            id_el = el.find(_q("ID"))
            if id_el is not None:
                out["id_scheme"] = id_el.get("schemeID")
        else:
            value = _text_of(el, _ELEMENT[f])
            if value is not None:
                out[f] = value
    return out


def _from_xml(root: etree._Element) -> dict[str, Any]:
    """The JSON form of an XSD-valid declaration tree (values still text: the model parses)."""
    d: dict[str, Any] = {}
    for f in ("declaration_id", "date", "office", "type", "origin_country", "departure_country",
              "currency", "exchange_rate"):  # fmt: skip
        value = _text_of(root, _ELEMENT[f])
        if value is not None:
            d[f] = value
    d["declarant"] = _party(root.find(_q("Declarant")), "id", "id_scheme", "name")
    d["importer"] = _party(root.find(_q("Importer")), "id", "id_scheme", "name", "country")
    d["exporter"] = _party(root.find(_q("Exporter")), "name", "country", "id", "id_scheme")
    d["transport"] = _party(root.find(_q("TransportMeans")), "mode", "means_id", "means_name")
    d["items"] = [_item_from_xml(el) for el in root.iterfind("d:Items/d:Item", _NS)]
    d["documents"] = [
        {
            k: v
            for k, v in (
                ("doc_type", _text_of(el, "DocumentTypeCode")),
                ("doc_hash", _text_of(el, "DocumentHash")),
                ("receipt", _receipt_from_xml(_text_of(el, "Receipt"))),
            )
            if v is not None
        }
        for el in root.iterfind("d:DocumentReferences/d:DocumentReference", _NS)
    ]
    refs = root.findall("d:TransportDocuments/d:TransportDocument", _NS)
    if refs:
        d["transport_documents"] = [
            {
                "type": _text_of(el, "TypeCode"),
                "number": _text_of(el, "ID"),
                "line": int(_text_of(el, "LineNumeric") or 0),
                "packages": int(_text_of(el, "PackageQuantity") or 0),
                "gross_mass_kg": _text_of(el, "GrossWeight"),
            }
            for el in refs
        ]
    totals = root.find(_q("Totals"))
    d["totals"] = {
        "item_count": int(_text_of(totals, "ItemCount") or 0),
        "customs_value": _text_of(totals, "CustomsValue"),
        "net_mass_kg": _text_of(totals, "NetWeight"),
    }
    return {k: v for k, v in d.items() if v is not None}


def _item_from_xml(el: etree._Element) -> dict[str, Any]:
    quantity = el.find(_q("Quantity"))
    item: dict[str, Any] = {
        "sequence": int(_text_of(el, "SequenceNumeric") or 0),
        "description": _text_of(el, "Description"),
        "hs_code": _text_of(el, "HSCode"),
        "quantity": _strip(quantity.text) if quantity is not None else None,
        "unit": quantity.get("unitCode") if quantity is not None else None,
        "customs_value": _text_of(el, "CustomsValue"),
        "net_mass_kg": _text_of(el, "NetWeight"),
        "origin_country": _text_of(el, "OriginCountryCode"),
        "permits": [_strip(p.text) for p in el.iterfind("d:PermitReferences/d:PermitID", _NS)],
    }
    claim = el.find(_q("PreferenceClaim"))
    if claim is not None:
        item["preference"] = {
            k: v
            for k, v in (
                ("agreement", _text_of(claim, "AgreementCode")),
                ("certificate", _text_of(claim, "CertificateHash")),
            )
            if v is not None
        }
    return item


def _receipt_from_xml(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text, object_pairs_hook=_no_repeated_keys)
    except (ValueError, RecursionError) as exc:
        return f"not JSON: {exc}"  # the model's receipt check reports it as invalid_receipt


def declaration_to_xml(decl: Declaration) -> bytes:
    """The XML form of a declaration (UTF-8, indented); it loads back to an equal model."""
    root = etree.Element(_q("Declaration"), nsmap={None: NAMESPACE})

    def add(parent: etree._Element, name: str, value: Any, **attrs: str) -> etree._Element:
        el = etree.SubElement(parent, _q(name), **attrs)
        if value is not None:
            el.text = _plain(value) if isinstance(value, Decimal) else str(value)
        return el

    def party(name: str, p: Any, with_country: bool, id_last: bool) -> None:
        el = add(root, name, None)
        if not id_last:
            add(el, "ID", p.id, schemeID=p.id_scheme)
        add(el, "Name", p.name)
        if with_country:
            add(el, "CountryCode", p.country)
        if id_last and p.id is not None:
            add(el, "ID", p.id, schemeID=p.id_scheme)

    add(root, "DeclarationID", decl.declaration_id)
    add(root, "DeclarationDate", decl.date.isoformat())
    add(root, "CustomsOfficeID", decl.office)
    add(root, "TypeCode", decl.type)
    party("Declarant", decl.declarant, with_country=False, id_last=False)
    party("Importer", decl.importer, with_country=True, id_last=False)
    party("Exporter", decl.exporter, with_country=True, id_last=True)
    add(root, "OriginCountryCode", decl.origin_country)
    add(root, "DepartureCountryCode", decl.departure_country)
    transport = add(root, "TransportMeans", None)
    add(transport, "ModeCode", decl.transport.mode)
    if decl.transport.means_id is not None:
        add(transport, "MeansID", decl.transport.means_id)
    if decl.transport.means_name is not None:
        add(transport, "MeansName", decl.transport.means_name)
    if decl.transport_documents:
        refs = add(root, "TransportDocuments", None)
        for ref in decl.transport_documents:
            el = add(refs, "TransportDocument", None)
            add(el, "TypeCode", ref.type)
            add(el, "ID", ref.number)
            add(el, "LineNumeric", ref.line)
            add(el, "PackageQuantity", ref.packages)
            add(el, "GrossWeight", ref.gross_mass_kg, unitCode="KGM")
    add(root, "CurrencyCode", decl.currency)
    if decl.exchange_rate is not None:
        add(root, "ExchangeRate", decl.exchange_rate)
    items = add(root, "Items", None)
    for item in decl.items:
        el = add(items, "Item", None)
        add(el, "SequenceNumeric", item.sequence)
        add(el, "Description", item.description)
        add(el, "HSCode", item.hs_code)
        add(el, "Quantity", item.quantity, unitCode=item.unit)
        add(el, "CustomsValue", item.customs_value)
        add(el, "NetWeight", item.net_mass_kg, unitCode="KGM")
        add(el, "OriginCountryCode", item.origin_country)
        if item.permits:
            permits = add(el, "PermitReferences", None)
            for permit in item.permits:
                add(permits, "PermitID", permit)
        if item.preference is not None:
            claim = add(el, "PreferenceClaim", None)
            add(claim, "AgreementCode", item.preference.agreement)
            if item.preference.certificate is not None:
                add(claim, "CertificateHash", item.preference.certificate)
    if decl.documents:
        refs = add(root, "DocumentReferences", None)
        for doc in decl.documents:
            el = add(refs, "DocumentReference", None)
            add(el, "DocumentTypeCode", doc.doc_type)
            add(el, "DocumentHash", doc.doc_hash)
            if doc.receipt is not None:
                add(el, "Receipt", json.dumps(doc.receipt.to_json(), sort_keys=True))
    totals = add(root, "Totals", None)
    add(totals, "ItemCount", decl.totals.item_count)
    add(totals, "CustomsValue", decl.totals.customs_value)
    add(totals, "NetWeight", decl.totals.net_mass_kg, unitCode="KGM")
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8") + b"\n"
