"""From uploaded bytes to an anchorable trade document: load, check, validate, canonicalise, hash.

`prepare` is the whole pipeline an exporter's upload goes through before anything is stored
or anchored.  It either returns a `PreparedDocument` (canonical bytes, their SHA-256, a few
fields for lists) or raises `DocumentRejected`, and has no side effects either way.

Validation uses libxml2's XSD engine (`lxml.etree.XMLSchema`): on the example documents it is
about two orders of magnitude faster than the pure-Python `xmlschema` package (see
`scripts/bench/xml_pipeline.py --compare`), and its errors carry the line and node, which we
turn into readable paths like `/CertificateOfOrigin/Items/Item[3]/HSCode`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from offchain import doctypes
from offchain.canonical import NotCanonicalizable, canonicalize, document_hash
from offchain.dates import DateOutOfRange, DateWindow, utc_today
from offchain.doctypes import DocType
from offchain.errors import DocumentRejected
from offchain.xmlsafe import XmlLimits, load_xml

MAX_REPORTED_ISSUES = 5  # schema problems listed in the error; the rest are only counted


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A validated trade document in the form that is stored and anchored."""

    doc_type: DocType
    canonical: bytes  # C14N 2.0 bytes (see offchain.canonical)
    doc_hash: bytes  # SHA-256 of `canonical`, 32 bytes
    summary: dict[str, Any] = field(default_factory=dict)


def prepare(
    data: bytes,
    doc_type: str | int | DocType,
    *,
    limits: XmlLimits,
    dates: DateWindow | None = None,
    with_summary: bool = True,
) -> PreparedDocument:
    """Validate and canonicalise an uploaded trade document of the given type.

    `doc_type` is a type name (`"certificate-of-origin"`), its on-chain code or a `DocType`;
    `limits` come from the node settings; `dates`, when given (submission, not
    verification), is the window every date of the document must lie in.  Raises
    `DocumentRejected` with code `unknown_doc_type`, any `xmlsafe` code (hostile or
    malformed XML), `wrong_root` (another document type or namespace), `schema_invalid`
    (with the first problems, each with line and element path, in `detail` and `issues`),
    or `date_in_future` / `date_too_old`.  `with_summary=False` leaves `summary` empty (a
    verifier needs the hash, not the list fields).
    """
    dt = doctypes.doc_type(doc_type)
    root = load_xml(data, max_bytes=limits.max_bytes, max_depth=limits.max_depth)
    validate(root, dt)
    if dates is not None:
        check_dates(root, dt, dates)
    try:
        canonical = canonicalize(root)
    except NotCanonicalizable as exc:
        # Only XSD-instance attributes (xsi:schemaLocation, ...) get past the schemas: hints
        # for other tools, which would add a second namespace to the hashed form.
        raise DocumentRejected(
            "schema_invalid",
            f"{exc}: remove it; the node validates against its own schema and hashes only "
            "the document's data",
            line=exc.line,
        ) from None
    if len(canonical) > limits.max_bytes:
        # Escaping can make the canonical form larger than the upload; the receiving node
        # applies the same cap to what it receives, so refuse here rather than ship a
        # document the partner must reject.
        raise DocumentRejected(
            "xml_too_large",
            f"the canonical form is {len(canonical)} bytes, over the {limits.max_bytes}-byte "
            "cap (escaping made it larger than the upload)",
        )
    return PreparedDocument(
        doc_type=dt,
        canonical=canonical,
        doc_hash=document_hash(canonical),
        summary=summarize(root, dt) if with_summary else {},
    )


def summarize(root: etree._Element, dt: DocType) -> dict[str, Any]:
    """The list fields of a validated document (number, issue date, exporter, country, ...)."""
    out: dict[str, Any] = {}
    for key, xpath in _summary_xpaths(dt.name).items():
        value = xpath(root)
        out[key] = int(value) if isinstance(value, float) else str(value)
    return out


# -- checks ---------------------------------------------------------------------------------


def check_dates(
    root: etree._Element, dt: DocType, window: DateWindow, *, today: date | None = None
) -> None:
    """Refuse a schema-valid document with a date outside `window`.

    Every element the type's XSD declares as a date (xs:date or xs:dateTime, directly or
    through a derived simple type such as `DateType`) is checked, so a date element added
    to a schema later is covered without a change here.  Raises `DocumentRejected`
    `date_in_future` or `date_too_old` (422) with the element's line and path.
    """
    tags = _date_tags(dt.xsd)
    if not tags:
        return  # (`iter()` with no tag would walk every element)
    today = today or utc_today()
    for el in root.iter(*tags):
        text = (el.text or "").strip()
        try:
            value = date.fromisoformat(text[:10])
        except ValueError:
            continue  # an element of the same name that is not a date (the XSD decided)
        try:
            window.check(value, "", today=today)
        except DateOutOfRange:  # only now is the element's path worth working out
            try:
                window.check(value, _element_path(el), today=today)
            except DateOutOfRange as exc:
                raise ImplausibleDate(
                    exc.code, f"line {el.sourceline}: {exc.detail}", line=el.sourceline
                ) from None


class ImplausibleDate(DocumentRejected):
    """`date_in_future` / `date_too_old`: a well-formed document the node will not anchor."""

    code: str = "implausible_date"


def validate(root: etree._Element, dt: DocType) -> None:
    """Check a tree from `load_xml` against a type's root element and XSD.

    `dt` need not be one of `DOC_TYPES`: customs declarations (`offchain.declarations`) are
    validated here too, so there is one validator.  Raises `DocumentRejected` with
    `wrong_root` or `schema_invalid`.
    """
    _check_root(root, dt)
    _validate(root, dt)


def _check_root(root: etree._Element, dt: DocType) -> None:
    if root.tag == dt.root_tag:
        return
    qname = etree.QName(root)
    if qname.localname == dt.root and qname.namespace != dt.namespace:
        got = f"namespace {qname.namespace!r}" if qname.namespace else "no namespace"
        detail = (
            f"the root element {dt.root} is in {got}; a {dt.name} must use namespace "
            f"{dt.namespace!r}"
        )
    else:
        detail = (
            f"the root element is {qname.localname} (namespace {qname.namespace or 'none'}); "
            f"a {dt.name} starts with {dt.root} in namespace {dt.namespace!r}"
        )
        other = next((t for t in doctypes.DOC_TYPES if t.root_tag == root.tag), None)
        if other is not None:
            detail += f" (this looks like a {other.name}: submit it as that type)"
    raise DocumentRejected("wrong_root", detail, line=root.sourceline)


def _validate(root: etree._Element, dt: DocType) -> None:
    schema, lock = _schema_at(dt.xsd)
    with lock:  # an XMLSchema object keeps the errors of its last run
        if schema.validate(root):
            return
        errors = list(schema.error_log)
    raise _schema_rejection(root, dt, errors)


def _schema_rejection(
    root: etree._Element, dt: DocType, errors: list[etree._LogEntry]
) -> DocumentRejected:
    issues = []
    for entry in errors[:MAX_REPORTED_ISSUES]:
        el = _node_at(root, entry.path)
        path = _element_path(el) if el is not None else ""
        message = entry.message.replace(f"{{{dt.namespace}}}", "").rstrip(". ")
        issues.append({"line": entry.line, "path": path, "message": message})
    detail = "; ".join(f"line {i['line']} {i['path']}: {i['message']}" for i in issues)
    if len(errors) > MAX_REPORTED_ISSUES:
        detail += f"; and {len(errors) - MAX_REPORTED_ISSUES} more problem(s)"
    return DocumentRejected(
        "schema_invalid",
        f"the {dt.name} does not match its schema: {detail}",
        line=issues[0]["line"],
        issues=issues,
    )


def _node_at(root: etree._Element, libxml2_path: str | None) -> etree._Element | None:
    """The element libxml2 names by a path like `/ci:CommercialInvoice/ci:Items/*[2]`."""
    if not libxml2_path:
        return None
    namespaces = {prefix: uri for prefix, uri in root.xpath("//namespace::*") if prefix}
    try:
        found = root.getroottree().xpath(libxml2_path, namespaces=namespaces)
    except etree.XPathError:  # e.g. a prefix bound to two namespaces in the document
        return None
    return found[0] if found and isinstance(found[0], etree._Element) else None


def _element_path(el: etree._Element) -> str:
    """`/CertificateOfOrigin/Items/Item[3]/HSCode`: local names, index only where repeated."""
    parts = []
    while el is not None:
        step = etree.QName(el).localname
        parent = el.getparent()
        if parent is not None:
            same = [sibling for sibling in parent if sibling.tag == el.tag]
            if len(same) > 1:
                step += f"[{same.index(el) + 1}]"
        parts.append(step)
        el = parent
    return "/" + "/".join(reversed(parts))


# -- compiled once per process --------------------------------------------------------------


def _schema(name: str) -> tuple[etree.XMLSchema, threading.Lock]:
    """The compiled XSD of a document type and the lock that serialises its use."""
    return _schema_at(doctypes.doc_type(name).xsd)


@cache
def _schema_at(xsd: Path) -> tuple[etree.XMLSchema, threading.Lock]:
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(xsd), parser)), threading.Lock()


_XS = "{http://www.w3.org/2001/XMLSchema}"
_XSD_DATES = frozenset({"date", "dateTime"})


@cache
def _date_elements(xsd: Path) -> frozenset[str]:
    """Local names of the elements an XSD (and what it includes) declares as dates."""
    trees: list[tuple[Path, Any]] = []  # (path, lxml tree)
    todo = [xsd]
    while todo:
        path = todo.pop()
        if any(p == path for p, _ in trees):
            continue
        parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
        tree = etree.parse(str(path), parser)
        trees.append((path, tree))
        for inc in tree.iter(f"{_XS}include", f"{_XS}import"):
            if inc.get("schemaLocation"):
                todo.append(path.parent / inc.get("schemaLocation"))

    def local(qname: str | None) -> str:
        return (qname or "").rpartition(":")[2]

    date_types = set(_XSD_DATES)
    grew = True
    while grew:  # simple types restricting a date type, however deep
        grew = False
        for _, tree in trees:
            for st in tree.iter(f"{_XS}simpleType"):
                base = st.find(f"{_XS}restriction")
                name = st.get("name")
                restricts_date = base is not None and local(base.get("base")) in date_types
                if name and restricts_date and name not in date_types:
                    date_types.add(name)
                    grew = True
    return frozenset(
        el.get("name")
        for _, tree in trees
        for el in tree.iter(f"{_XS}element")
        if el.get("name") and local(el.get("type")) in date_types
    )


@cache
def _date_tags(xsd: Path) -> tuple[str, ...]:
    """`_date_elements` as tag filters for `iter` (`{*}IssueDate`: any namespace), so the
    walk over the document's elements stays in C."""
    return tuple(sorted("{*}" + name for name in _date_elements(xsd)))


@cache
def _summary_xpaths(name: str) -> dict[str, etree.XPath]:
    dt = doctypes.doc_type(name)
    return {
        key: etree.XPath(expr, namespaces={"d": dt.namespace}) for key, expr in dt.summary.items()
    }
