"""The one hardened XML loader: every XML byte that enters Smart Customs goes through `load_xml`.

Trade documents come from outside the consortium, so the loader assumes hostile input and
refuses, with a `DocumentRejected` and before any entity is parsed, everything a trade
document does not need:

- more than `max_bytes` bytes (checked before anything else, code `xml_too_large`);
- any encoding but UTF-8 (`xml_not_utf8`): UTF-16/32 byte-order marks or NUL-interleaved text,
  an XML declaration naming another encoding, or bytes that do not decode as UTF-8.  A UTF-8
  byte-order mark and a missing declaration are fine;
- any DOCTYPE, with or without internal subset or external id (`xml_forbidden_dtd`), and any
  `<!ENTITY` (`xml_entity`).  This is a plain byte search done after the UTF-8 check, so it
  cannot be hidden by another encoding; it also catches the text inside a comment or CDATA
  section, which a trade document has no reason to contain.  Billion laughs, quadratic
  blow-up, XXE (file:// or http://) and external DTDs all need a DOCTYPE, so none of them
  ever reaches the parser.  References to undeclared entities are then parse errors
  (`xml_entity`);
- processing instructions other than the XML declaration (`xml_forbidden_pi`).  Decision: a
  PI is an instruction to some application (`<?xml-stylesheet?>` can make a browser show
  something other than the data), the XSD cannot constrain it and the canonical form would
  carry it into the hash; a trade document is data only, so we refuse rather than silently
  drop it;
- elements nested deeper than `max_depth` (`xml_too_deep`; libxml2 itself stops at 256);
- anything that is not well-formed XML 1.0 (`xml_malformed`, with line and column).

The parser never touches the network or the filesystem: entities are not resolved, no DTD is
loaded, `no_network` is set, and `huge_tree` stays off so libxml2 keeps its own size limits.
Comments are kept in the tree (they are dropped later by canonicalisation, not here).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from offchain.errors import DocumentRejected
from offchain.settings import DocumentSettings

LIBXML2_MAX_DEPTH = 255  # deeper documents fail inside libxml2 unless huge_tree is set
_DEFAULTS = DocumentSettings()


@dataclass(frozen=True, slots=True)
class XmlLimits:
    """Caps applied to every uploaded XML document; the defaults are the settings' defaults."""

    max_bytes: int = _DEFAULTS.max_xml_bytes
    max_depth: int = _DEFAULTS.max_xml_depth

    @classmethod
    def from_settings(cls, documents: DocumentSettings) -> XmlLimits:
        """The caps a node applies: `[documents] max_xml_bytes, max_xml_depth`."""
        return cls(documents.max_xml_bytes, documents.max_xml_depth)

    def __post_init__(self) -> None:
        if self.max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {self.max_bytes}")
        if not 1 <= self.max_depth <= LIBXML2_MAX_DEPTH:
            raise ValueError(f"max_depth must be in 1..{LIBXML2_MAX_DEPTH}, got {self.max_depth}")


def load_xml(data: bytes, *, max_bytes: int, max_depth: int) -> etree._Element:
    """Parse untrusted XML bytes into an lxml element tree, or raise `DocumentRejected`.

    Returns the root element.  Raises `DocumentRejected` (and nothing else) for any input that
    is too large, not UTF-8, carries a DTD, entity or processing instruction, is nested too
    deep or is not well-formed; see the module docstring for the codes.  Passing text instead
    of bytes is a programming error (`TypeError`): the encoding check needs the raw bytes.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"load_xml takes the raw bytes of the document, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise DocumentRejected(
            "xml_too_large",
            f"the document is {len(data):,} bytes; the limit is {max_bytes:,} bytes",
        )
    content_start = _check_utf8(data)
    _check_no_dtd(data)
    root = _parse(data)
    if _depth_exceeds(max_depth)(root):
        raise DocumentRejected(
            "xml_too_deep",
            f"elements are nested more than {max_depth} levels deep; "
            "trade documents never need that many",
            line=_first_too_deep_line(root, max_depth),
        )
    # `<?` after the declaration can only be a PI, or text in a comment / CDATA section:
    # the cheap byte test keeps the tree search off the hot path.
    if data.find(b"<?", content_start) != -1:
        _check_no_pi(root)
    return root


# -- encoding -------------------------------------------------------------------------------

_UTF8_BOM = b"\xef\xbb\xbf"
_XML_DECL = re.compile(
    rb"<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*([\"'])(?P<version>[^\"']*)\1"
    rb"(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*([\"'])(?P<encoding>[^\"']*)\3)?"
    rb"[^>]*?\?>"
)


def _check_utf8(data: bytes) -> int:
    """Refuse anything but UTF-8; return the offset just after the XML declaration (or 0)."""
    head = data[:4]
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        raise DocumentRejected(
            "xml_not_utf8",
            "the document starts with a UTF-16/UTF-32 byte-order mark; save it as UTF-8",
        )
    if len(head) >= 2 and b"\x00" in head:
        raise DocumentRejected(
            "xml_not_utf8",
            "the document looks like UTF-16 or UTF-32 (NUL bytes at the start); save it as UTF-8",
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DocumentRejected(
            "xml_not_utf8",
            f"byte {exc.start} (line {line}) is not valid UTF-8; documents must be UTF-8 encoded",
            line=line,
        ) from None
    decl = _XML_DECL.match(data, 3 if data.startswith(_UTF8_BOM) else 0)
    if decl is None:
        return 0  # no declaration (or a malformed one, which the parser reports)
    encoding = decl.group("encoding")
    if encoding is not None and encoding.lower() != b"utf-8":
        raise DocumentRejected(
            "xml_not_utf8",
            f"the XML declaration names encoding {encoding.decode()!r}; only UTF-8 is "
            'accepted: save the document as UTF-8 with encoding="UTF-8" (or no encoding)',
            line=1,
        )
    if decl.group("version") != b"1.0":
        raise DocumentRejected(
            "xml_malformed",
            f"XML version {decl.group('version').decode()!r} is not accepted; use version 1.0",
            line=1,
        )
    return decl.end()


# -- DTDs and entities ------------------------------------------------------------------------


def _check_no_dtd(data: bytes) -> None:
    at = data.find(b"<!DOCTYPE")
    if at != -1:
        raise DocumentRejected(
            "xml_forbidden_dtd",
            f"a DOCTYPE declaration (line {_line_of(data, at)}) is not accepted: documents are "
            "validated against the node's XSD; remove the DOCTYPE and any entities",
            line=_line_of(data, at),
        )
    at = data.find(b"<!ENTITY")
    if at != -1:
        raise DocumentRejected(
            "xml_entity",
            f"an entity declaration (line {_line_of(data, at)}) is not accepted; "
            "write the text itself instead of an entity",
            line=_line_of(data, at),
        )


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


# -- parsing --------------------------------------------------------------------------------

# lxml parsers must not be shared between threads, so each thread gets its own.
_local = threading.local()

_ENTITY_ERRORS = frozenset(
    getattr(etree.ErrorTypes, name)
    for name in (
        "ERR_UNDECLARED_ENTITY",
        "WAR_UNDECLARED_ENTITY",
        "ERR_UNPARSED_ENTITY",
        "ERR_ENTITY_IS_EXTERNAL",
        "ERR_ENTITY_IS_PARAMETER",
        "ERR_ENTITY_LOOP",
        "ERR_ENTITY_PROCESSING",
    )
)
_LXML_POSITION = re.compile(r", line \d+, column \d+$")


def _parser() -> etree.XMLParser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=False,
            remove_pis=False,
            collect_ids=False,
            attribute_defaults=False,
        )
    return parser


def _parse(data: bytes) -> etree._Element:
    try:
        return etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (exc.lineno, 0)
        message = _LXML_POSITION.sub("", exc.msg or "not well-formed XML")
        if exc.code in _ENTITY_ERRORS:
            code, hint = "xml_entity", "; only &amp; &lt; &gt; &quot; &apos; and &#...; are allowed"
        elif exc.code == etree.ErrorTypes.ERR_RESOURCE_LIMIT and "depth" in message.lower():
            code, hint = "xml_too_deep", ""
        else:
            code, hint = "xml_malformed", ""
        raise DocumentRejected(
            code, f"{message} (line {line}, column {column}){hint}", line=line
        ) from None
    except etree.LxmlError as exc:  # any other libxml2 failure is still the document's fault
        raise DocumentRejected("xml_malformed", f"the document cannot be parsed: {exc}") from None


# -- depth ----------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _depth_exceeds(max_depth: int) -> etree.XPath:
    """An XPath that is true when an element sits deeper than `max_depth` (root = depth 1).

    Evaluated in C over the element levels, a few microseconds for a trade document.
    """
    if not 1 <= max_depth <= LIBXML2_MAX_DEPTH:
        raise ValueError(f"max_depth must be in 1..{LIBXML2_MAX_DEPTH}, got {max_depth}")
    return etree.XPath("boolean(/*" + "/*" * max_depth + ")")


def _first_too_deep_line(root: etree._Element, max_depth: int) -> int | None:
    found = root.xpath("/*" + "/*" * max_depth)
    return found[0].sourceline if found else None


# -- processing instructions ----------------------------------------------------------------

_ANY_PI = etree.XPath("//processing-instruction()")


def _check_no_pi(root: etree._Element) -> None:
    pis = _ANY_PI(root)
    if pis:
        pi = pis[0]
        raise DocumentRejected(
            "xml_forbidden_pi",
            f"processing instruction <?{pi.target} ...?> (line {pi.sourceline}) is not "
            "accepted; a trade document carries data only, remove it",
            line=pi.sourceline,
        )
