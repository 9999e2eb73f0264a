"""The hardened XML loader refuses hostile input, never reaches the network or filesystem."""

from __future__ import annotations

import http.server
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offchain.documents import prepare
from offchain.errors import DocumentRejected
from offchain.xmlsafe import XmlLimits, load_xml

ROOT = Path(__file__).resolve().parents[2]
CO_EXAMPLE = (ROOT / "examples" / "certificate-of-origin.xml").read_bytes()
LIMITS = XmlLimits()


def load(data: bytes, *, max_bytes: int = LIMITS.max_bytes, max_depth: int = LIMITS.max_depth):
    return load_xml(data, max_bytes=max_bytes, max_depth=max_depth)


def rejected(data: bytes, **kwargs) -> DocumentRejected:
    with pytest.raises(DocumentRejected) as info:
        load(data, **kwargs)
    return info.value


# -- accepted forms ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"<r>x</r>",
        b'<?xml version="1.0"?><r>x</r>',
        b'<?xml version="1.0" encoding="UTF-8"?><r>x</r>',
        b"<?xml version='1.0' encoding='utf-8' standalone='yes'?>\n<r>x</r>",
        b"\xef\xbb\xbf<r>x</r>",
        b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?><r>x</r>',
        "<r>Taichung 台中市 — Ünïcode</r>".encode(),
        b"<!-- a comment --><r><!-- inside -->x</r>",
        b"<r><![CDATA[<?not a pi?> <!DOCTYPE-ish]]></r>"[:0] + b"<r><![CDATA[a <?b?> c]]></r>",
        b"<r><!-- <?pi-like text in a comment?> -->x</r>",
    ],
)
def test_plain_utf8_documents_load(data):
    root = load(data)
    assert root.tag == "r"


def test_the_example_loads_and_keeps_comments():
    root = load(CO_EXAMPLE)
    assert root.tag == "{urn:smartcustoms:doc:certificate-of-origin:1}CertificateOfOrigin"
    assert root.getroottree().getroot().getprevious() is not None  # the prolog comment


def test_limits_have_the_documented_defaults_and_reject_nonsense():
    assert (LIMITS.max_bytes, LIMITS.max_depth) == (5 * 1024 * 1024, 64)
    with pytest.raises(ValueError):
        XmlLimits(max_depth=300)
    with pytest.raises(ValueError):
        XmlLimits(max_bytes=0)


def test_text_is_not_bytes_is_a_programming_error():
    with pytest.raises(TypeError):
        load("<r/>")  # type: ignore[arg-type]


# -- DTDs and entities --------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
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
<lolz>&lol9;</lolz>
"""


def test_billion_laughs_is_refused_before_expansion():
    err = rejected(BILLION_LAUGHS)  # refused at the DTD: nothing is ever expanded
    assert err.code == "xml_forbidden_dtd"
    assert err.line == 2


def test_quadratic_blowup_is_refused():
    big = b"A" * 50_000
    data = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "'
        + big
        + b'">]><r>'
        + b"&a;" * 20_000
        + b"</r>"
    )
    err = rejected(data, max_bytes=len(data))
    assert err.code == "xml_forbidden_dtd"


def test_doctype_without_entities_is_refused():
    err = rejected(b"<!DOCTYPE r>\n<r/>")
    assert err.code == "xml_forbidden_dtd"
    assert "DOCTYPE" in err.detail
    assert err.http_status == 400


def test_doctype_hidden_after_comments_and_declaration_is_refused():
    data = (
        b'<?xml version="1.0"?>\n<!-- x -->\n<!-- y -->\n<!DOCTYPE r [<!ENTITY e "z">]><r>&e;</r>'
    )
    err = rejected(data)
    assert (err.code, err.line) == ("xml_forbidden_dtd", 4)


def test_entity_declaration_without_doctype_is_refused():
    assert rejected(b'<r><!ENTITY e "x"></r>').code == "xml_entity"


def test_reference_to_an_undeclared_entity_is_refused():
    err = rejected(b"<r>\n&nbsp;</r>")
    assert err.code == "xml_entity"
    assert "nbsp" in err.detail
    assert err.line == 2


def test_predefined_entities_and_character_references_are_fine():
    root = load(b"<r a='&quot;&apos;'>&amp;&lt;&gt;&#65;&#x42;</r>")
    assert root.text == "&<>AB"
    assert root.get("a") == "\"'"


@pytest.fixture
def secret_file(tmp_path: Path) -> tuple[Path, str]:
    marker = "SC-MARKER-7f3a9c-do-not-leak"
    path = tmp_path / "secret.txt"
    path.write_text(marker)
    return path, marker


@pytest.mark.parametrize(
    "template",
    [
        '<!DOCTYPE r [<!ENTITY x SYSTEM "file://{path}">]><r>&x;</r>',
        '<!DOCTYPE r [<!ENTITY x SYSTEM "{path}">]><r>&x;</r>',
        '<!DOCTYPE r [<!ENTITY % p SYSTEM "file://{path}"> %p;]><r/>',
        '<!DOCTYPE r SYSTEM "file://{path}"><r/>',
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{path}">]><r a="&x;">&x;</r>',
    ],
)
def test_xxe_file_never_reads_the_file(secret_file, template):
    path, marker = secret_file
    err = rejected(template.format(path=path).encode())
    assert err.code == "xml_forbidden_dtd"
    for text in (err.detail, str(err), repr(err), repr(err.args), repr(err.__cause__)):
        assert marker not in text


@pytest.fixture
def http_server() -> Iterator[tuple[str, list[str]]]:
    """A tiny HTTP server on 127.0.0.1 that records every request it receives."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            body = b'<!ENTITY x "fetched">'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def test_http_xxe_external_dtd_and_hints_never_reach_the_network(http_server):
    base, requests = http_server
    attacks = [
        f'<!DOCTYPE r SYSTEM "{base}/external.dtd"><r/>',
        f'<!DOCTYPE r PUBLIC "-//X//Y" "{base}/public.dtd"><r/>',
        f'<!DOCTYPE r [<!ENTITY x SYSTEM "{base}/xxe">]><r>&x;</r>',
        f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{base}/param.dtd"> %p;]><r/>',
    ]
    for attack in attacks:
        assert rejected(attack.encode()).code == "xml_forbidden_dtd"
    # Accepted, but never followed: XInclude is not processed, schema hints are not fetched.
    xinclude = f'<r xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="{base}/inc"/></r>'
    load(xinclude.encode())
    hinted = CO_EXAMPLE.replace(
        b"<CertificateOfOrigin ",
        b'<CertificateOfOrigin xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        + f'xsi:schemaLocation="urn:smartcustoms:doc:certificate-of-origin:1 {base}/co.xsd" '.encode(),
    )
    with pytest.raises(DocumentRejected) as info:
        prepare(hinted, "certificate-of-origin", limits=LIMITS)
    assert info.value.code == "schema_invalid"
    assert "xsi:schemaLocation" in info.value.detail
    assert requests == []
    # The server did work: the zero above is not an accident of a dead server.
    urllib.request.urlopen(f"{base}/control", timeout=5).read()
    assert requests == ["/control"]


# -- size, depth ---------------------------------------------------------------------------------


def test_size_cap_just_above_is_refused_and_at_or_below_accepted():
    size = len(CO_EXAMPLE)
    assert load(CO_EXAMPLE, max_bytes=size).tag.endswith("CertificateOfOrigin")
    assert load(CO_EXAMPLE, max_bytes=size + 1) is not None
    err = rejected(CO_EXAMPLE, max_bytes=size - 1)
    assert err.code == "xml_too_large"
    assert err.http_status == 413
    assert f"{size:,}" in err.detail


def test_size_is_checked_before_anything_else():
    # Over the cap AND a DTD AND not UTF-8: the size is what is reported.
    data = "<!DOCTYPE r><r/>".encode("utf-16") + b" " * 100
    assert rejected(data, max_bytes=50).code == "xml_too_large"


def nested(depth: int) -> bytes:
    return b"<a>" * depth + b"x" + b"</a>" * depth


def test_depth_at_the_cap_is_accepted_one_more_is_refused():
    assert load(nested(64), max_depth=64) is not None
    err = rejected(nested(65), max_depth=64)
    assert err.code == "xml_too_deep"
    assert "64" in err.detail


def test_depth_beyond_libxml2s_own_limit_is_too_deep_not_malformed():
    assert rejected(nested(1000)).code == "xml_too_deep"


# -- encodings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        '<?xml version="1.0" encoding="UTF-16"?><r>x</r>'.encode("utf-16"),  # with BOM
        '<?xml version="1.0" encoding="UTF-16"?><r>x</r>'.encode("utf-16-le"),  # no BOM
        "<r>x</r>".encode("utf-16-be"),
        "<r>x</r>".encode("utf-32"),
        '<?xml version="1.0" encoding="ISO-8859-1"?><r>caf\xe9</r>'.encode("latin-1"),
        '<?xml version="1.0" encoding="ISO-8859-1"?><r>plain ascii</r>'.encode("latin-1"),
        "<?xml version='1.0' encoding='windows-1252'?><r>x</r>".encode("cp1252"),
        '<?xml version="1.0" encoding="Big5"?><r>x</r>'.encode("ascii"),
    ],
)
def test_anything_but_utf8_is_refused(data):
    err = rejected(data)
    assert err.code == "xml_not_utf8"
    assert "UTF-8" in err.detail


def test_invalid_utf8_bytes_name_their_line():
    err = rejected(b"<r>\n<a>ok</a>\n<b>caf\xe9</b></r>")
    assert err.code == "xml_not_utf8"
    assert err.line == 3
    assert "line 3" in err.detail


# -- malformed, processing instructions ------------------------------------------------------------


def test_unclosed_tag_reports_line_and_column():
    err = rejected(b"<r>\n  <a>one</a>\n  <b>two\n</r>\n")
    assert err.code == "xml_malformed"
    assert err.line == 4
    assert "line 4" in err.detail
    assert "column" in err.detail


@pytest.mark.parametrize(
    "data",
    [b"", b"   ", b"not xml", b"<r>", b"<r></s>", b"<r/><r/>", b"<r a='1' a='2'/>", b"<p:r/>"],
)
def test_not_well_formed_is_malformed(data):
    assert rejected(data).code == "xml_malformed"


def test_xml_1_1_is_refused():
    assert rejected(b'<?xml version="1.1"?><r/>').code == "xml_malformed"


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b'<?xml version="1.0"?>\n<?xml-stylesheet href="show.xsl"?>\n<r/>', 2),
        (b"<r>\n<a/>\n<?app do-something?></r>", 3),
        (b"<r/>\n<?after the root?>", 2),
    ],
)
def test_processing_instructions_are_refused(data, line):
    err = rejected(data)
    assert err.code == "xml_forbidden_pi"
    assert err.line == line


# -- fuzzing -------------------------------------------------------------------------------------

XML_PIECES = [
    b"<",
    b">",
    b"</",
    b"/>",
    b"r",
    b"a",
    b"=",
    b'"',
    b"'",
    b" ",
    b"\n",
    b"&",
    b";",
    b"&amp;",
    b"&#",
    b"x",
    b"<!--",
    b"-->",
    b"<![CDATA[",
    b"]]>",
    b"<?",
    b"?>",
    b"<?xml version='1.0'?>",
    b"<!DOCTYPE",
    b"<!ENTITY",
    b"xmlns",
    b":",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\x00",
    b"\xc3\xa9",
    b"<r>",
    b"</r>",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_only_ever_raise_document_rejected(data):
    try:
        load(data, max_bytes=1500, max_depth=8)
    except DocumentRejected as err:
        assert err.code.startswith("xml_")
        assert err.detail


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(XML_PIECES), max_size=60).map(b"".join))
def test_xml_like_bytes_only_ever_raise_document_rejected(data):
    try:
        load(data, max_bytes=1500, max_depth=8)
    except DocumentRejected as err:
        assert err.code.startswith("xml_")
        assert err.detail
