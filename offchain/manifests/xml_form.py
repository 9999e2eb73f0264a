"""A manifest in XML: element paths and lines for refusals, the tree to the model's JSON
form, and the model back to XML.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from lxml import etree

from offchain.doctypes import CARGO_MANIFEST
from offchain.manifests.fields import _plain
from offchain.manifests.model import Manifest, Party

NAMESPACE = CARGO_MANIFEST.namespace


_NS = {"d": NAMESPACE}
_ELEMENT = {
    "manifest_id": "ManifestID",
    "type": "TypeCode",
    "carrier": "Carrier",
    "transport": "TransportMeans",
    "mode": "ModeCode",
    "means_id": "MeansID",
    "means_name": "MeansName",
    "journey": "JourneyID",
    "loading_port": "LoadingPortID",
    "discharge_port": "DischargePortID",
    "departure": "DepartureDateTime",
    "arrival": "ArrivalDateTime",
    "lines": "Lines/Line",
    "transport_document": "TransportDocument",
    "number": "ID",
    "line": "LineNumeric",
    "consignor": "Consignor",
    "consignee": "Consignee",
    "name": "Name",
    "country": "CountryCode",
    "id": "ID",
    "id_scheme": "ID/@schemeID",
    "description": "GoodsDescription",
    "hs_code": "HSCode",
    "packages": "Packages/Quantity",
    "package_type": "Packages/TypeCode",
    "gross_mass_kg": "GrossWeight",
    "containers": "Containers/Container",
    "seals": "SealID",
    "totals": "Totals",
    "line_count": "LineCount",
}


def _xml_path(loc: tuple[Any, ...]) -> str:
    """`("lines", 2, "containers", 0, "number")` -> `/CargoManifest/Lines/Line[3]/...`."""
    parts = ["", "CargoManifest"]
    previous = None
    for part in loc:
        if isinstance(part, int):
            parts[-1] += f"[{part + 1}]"
        elif previous == "totals" and part == "packages":
            parts.append("PackageQuantity")
        elif part in _ELEMENT:
            parts.append(_ELEMENT[part])
        previous = part if not isinstance(part, int) else previous
    return "/".join(parts)


def _xml_line(root: etree._Element, loc: tuple[Any, ...]) -> int | None:
    steps = [s for s in _xml_path(loc).split("/@")[0].split("/") if s]
    try:
        found = root.getroottree().xpath("/" + "/".join(f"d:{s}" for s in steps), namespaces=_NS)
    except etree.XPathError:
        return None
    return found[0].sourceline if found else root.sourceline


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _strip(text: str | None) -> str:
    return (text or "").strip(" \t\n\r")


def _text(parent: etree._Element | None, name: str) -> str | None:
    if parent is None:
        return None
    el = parent.find(_q(name))
    return None if el is None else _strip(el.text)


def _party(el: etree._Element | None) -> dict[str, Any] | None:
    if el is None:
        return None
    out: dict[str, Any] = {"name": _text(el, "Name"), "country": _text(el, "CountryCode")}
    id_el = el.find(_q("ID"))
    if id_el is not None:
        out["id"] = _strip(id_el.text)
        out["id_scheme"] = id_el.get("schemeID")
    return out


def _from_xml(root: etree._Element) -> dict[str, Any]:
    """The JSON form of an XSD-valid manifest tree (numbers as text: the model parses)."""
    d: dict[str, Any] = {}
    for f in ("manifest_id", "type", "loading_port", "discharge_port", "departure", "arrival"):
        value = _text(root, _ELEMENT[f])
        if value is not None:
            d[f] = value
    carrier = root.find(_q("Carrier"))
    if carrier is not None:
        cid = carrier.find(_q("ID"))
        d["carrier"] = {
            "id": _strip(cid.text) if cid is not None else None,
            "id_scheme": cid.get("schemeID") if cid is not None else None,
            "name": _text(carrier, "Name"),
        }
    transport = root.find(_q("TransportMeans"))
    if transport is not None:
        d["transport"] = {
            k: v
            for k, v in (
                ("mode", _text(transport, "ModeCode")),
                ("means_id", _text(transport, "MeansID")),
                ("means_name", _text(transport, "MeansName")),
                ("journey", _text(transport, "JourneyID")),
            )
            if v is not None
        }
    d["lines"] = [_line_from_xml(el) for el in root.iterfind("d:Lines/d:Line", _NS)]
    totals = root.find(_q("Totals"))
    if totals is not None:
        d["totals"] = {
            "line_count": int(_text(totals, "LineCount") or 0),
            "packages": int(_text(totals, "PackageQuantity") or 0),
            "gross_mass_kg": _text(totals, "GrossWeight"),
        }
    return d


def _line_from_xml(el: etree._Element) -> dict[str, Any]:
    td = el.find(_q("TransportDocument"))
    packages = el.find(_q("Packages"))
    line: dict[str, Any] = {
        "transport_document": {
            "type": _text(td, "TypeCode"),
            "number": _text(td, "ID"),
            "line": int(_text(td, "LineNumeric") or 0),
        },
        "consignor": _party(el.find(_q("Consignor"))),
        "consignee": _party(el.find(_q("Consignee"))),
        "description": _text(el, "GoodsDescription"),
        "packages": int(_text(packages, "Quantity") or 0),
        "package_type": _text(packages, "TypeCode"),
        "gross_mass_kg": _text(el, "GrossWeight"),
    }
    hs = _text(el, "HSCode")
    if hs is not None:
        line["hs_code"] = hs
    containers = [
        {
            "number": _text(c, "ID"),
            "seals": [_strip(s.text) for s in c.iterfind("d:SealID", _NS)],
        }
        for c in el.iterfind("d:Containers/d:Container", _NS)
    ]
    if containers:
        line["containers"] = containers
    return line


def manifest_to_xml(m: Manifest) -> bytes:
    """The XML form of a manifest (UTF-8); it loads back to an equal model."""
    root = etree.Element(_q("CargoManifest"), nsmap={None: NAMESPACE})
    sub = etree.SubElement

    def add(parent: etree._Element, name: str, value: Any = None, **attrs: str) -> etree._Element:
        el = sub(parent, _q(name), **attrs)
        if value is not None:
            el.text = _plain(value) if isinstance(value, Decimal) else str(value)
        return el

    def party(parent: etree._Element, name: str, p: Party) -> None:
        el = add(parent, name)
        add(el, "Name", p.name)
        add(el, "CountryCode", p.country)
        if p.id is not None and p.id_scheme is not None:  # together or neither (validated)
            add(el, "ID", p.id, schemeID=p.id_scheme)

    add(root, "ManifestID", m.manifest_id)
    add(root, "TypeCode", m.type)
    carrier = add(root, "Carrier")
    add(carrier, "ID", m.carrier.id, schemeID=m.carrier.id_scheme)
    add(carrier, "Name", m.carrier.name)
    transport = add(root, "TransportMeans")
    add(transport, "ModeCode", m.transport.mode)
    add(transport, "MeansID", m.transport.means_id)
    if m.transport.means_name is not None:
        add(transport, "MeansName", m.transport.means_name)
    add(transport, "JourneyID", m.transport.journey)
    add(root, "LoadingPortID", m.loading_port)
    add(root, "DischargePortID", m.discharge_port)
    if m.departure is not None:
        add(root, "DepartureDateTime", m.departure.isoformat())
    add(root, "ArrivalDateTime", m.arrival.isoformat())
    lines = add(root, "Lines")
    for line in m.lines:
        root_line = add(lines, "Line")
        td = add(root_line, "TransportDocument")
        add(td, "TypeCode", line.transport_document.type)
        add(td, "ID", line.transport_document.number)
        add(td, "LineNumeric", line.transport_document.line)
        party(root_line, "Consignor", line.consignor)
        party(root_line, "Consignee", line.consignee)
        add(root_line, "GoodsDescription", line.description)
        if line.hs_code is not None:
            add(root_line, "HSCode", line.hs_code)
        packages = add(root_line, "Packages")
        add(packages, "Quantity", line.packages)
        add(packages, "TypeCode", line.package_type)
        add(root_line, "GrossWeight", line.gross_mass_kg, unitCode="KGM")
        if line.containers:
            containers = add(root_line, "Containers")
            for c in line.containers:
                cel = add(containers, "Container")
                add(cel, "ID", c.number)
                for seal in c.seals:
                    add(cel, "SealID", seal)
    totals = add(root, "Totals")
    add(totals, "LineCount", m.totals.line_count)
    add(totals, "PackageQuantity", m.totals.packages)
    add(totals, "GrossWeight", m.totals.gross_mass_kg, unitCode="KGM")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
