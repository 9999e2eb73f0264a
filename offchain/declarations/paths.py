"""Where a field is: its JSON path (`items[1].hs_code`) and XML element path
(`/Declaration/Items/Item[2]/HSCode`) and line.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from offchain.declarations.doctype import NAMESPACE


def _json_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# JSON field -> XML element (or element/@attribute), relative to the parent element.
_ELEMENT = {
    "declaration_id": "DeclarationID",
    "date": "DeclarationDate",
    "office": "CustomsOfficeID",
    "type": "TypeCode",
    "declarant": "Declarant",
    "importer": "Importer",
    "exporter": "Exporter",
    "origin_country": "OriginCountryCode",
    "departure_country": "DepartureCountryCode",
    "transport": "TransportMeans",
    "currency": "CurrencyCode",
    "exchange_rate": "ExchangeRate",
    "items": "Items/Item",
    "documents": "DocumentReferences/DocumentReference",
    "totals": "Totals",
    "id": "ID",
    "id_scheme": "ID/@schemeID",
    "name": "Name",
    "country": "CountryCode",
    "mode": "ModeCode",
    "means_id": "MeansID",
    "means_name": "MeansName",
    "sequence": "SequenceNumeric",
    "description": "Description",
    "hs_code": "HSCode",
    "quantity": "Quantity",
    "unit": "Quantity/@unitCode",
    "customs_value": "CustomsValue",
    "net_mass_kg": "NetWeight",
    "permits": "PermitReferences/PermitID",
    "preference": "PreferenceClaim",
    "agreement": "AgreementCode",
    "certificate": "CertificateHash",
    "doc_type": "DocumentTypeCode",
    "doc_hash": "DocumentHash",
    "receipt": "Receipt",
    "item_count": "ItemCount",
    "transport_documents": "TransportDocuments/TransportDocument",
    "number": "ID",
    "line": "LineNumeric",
    "packages": "PackageQuantity",
    "gross_mass_kg": "GrossWeight",
}
_NS = {"d": NAMESPACE}


def _xml_path(loc: tuple[Any, ...]) -> str:
    """`("items", 1, "hs_code")` -> `/Declaration/Items/Item[2]/HSCode`."""
    parts = ["", "Declaration"]
    for part in loc:
        if isinstance(part, int):
            parts[-1] += f"[{part + 1}]"
        elif part in _ELEMENT:
            parts.append(_ELEMENT[part])
    return "/".join(parts)


def _xml_line(root: etree._Element, loc: tuple[Any, ...]) -> int | None:
    path = _xml_path(loc).split("/@")[0]
    steps = [s for s in path.split("/") if s]
    xpath = "/" + "/".join(f"d:{s}" for s in steps)
    try:
        found = root.getroottree().xpath(xpath, namespaces=_NS)
    except etree.XPathError:
        return None
    return found[0].sourceline if found else root.sourceline
