"""A declaration cites the transport document lines its goods travel under (issue #18).

The citation is optional and absent from the canonical form when not given, so every
declaration lodged before it existed keeps its hash; XML and JSON forms of a citing
declaration hash the same; a line cited twice or a malformed citation is refused.
"""

from __future__ import annotations

import json

import pytest

from offchain.declarations import (
    DeclarationRejected,
    canonical_json,
    declaration_hash,
    declaration_to_xml,
    load_declaration_json,
    load_declaration_xml,
)
from offchain.settings import REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "declarations" / "01-machinery-parts-sg.json"
CITATION = {"type": "BL", "number": "EGLV140500123456", "line": 2, "packages": 120,
            "gross_mass_kg": "4500.5"}  # fmt: skip


def example(**fields) -> dict:
    return {**json.loads(EXAMPLE.read_text()), **fields}


def test_no_citation_leaves_the_canonical_form_and_hash_unchanged():
    plain = load_declaration_json(example())
    empty = load_declaration_json(example(transport_documents=[]))
    assert plain.transport_documents is None and empty.transport_documents is None
    assert b"transport_documents" not in canonical_json(plain)
    assert declaration_hash(plain) == declaration_hash(empty)


def test_a_citation_changes_the_hash_and_round_trips_through_xml():
    plain = load_declaration_json(example())
    citing = load_declaration_json(example(transport_documents=[CITATION]))
    assert declaration_hash(citing) != declaration_hash(plain)
    ref = citing.transport_documents[0]
    assert (ref.type, ref.number, ref.line, ref.packages) == ("BL", "EGLV140500123456", 2, 120)
    xml = declaration_to_xml(citing)
    assert b"<TransportDocuments>" in xml and b"<LineNumeric>2</LineNumeric>" in xml
    assert declaration_hash(load_declaration_xml(xml)) == declaration_hash(citing)


def test_the_line_defaults_to_1():
    citing = load_declaration_json(
        example(transport_documents=[{k: v for k, v in CITATION.items() if k != "line"}])
    )
    assert citing.transport_documents[0].line == 1


def test_the_same_line_cited_twice_is_refused():
    with pytest.raises(DeclarationRejected) as caught:
        load_declaration_json(example(transport_documents=[CITATION, dict(CITATION)]))
    assert caught.value.code == "duplicate_transport_document"
    assert "EGLV140500123456 line 2" in caught.value.detail


@pytest.mark.parametrize(
    "change, code",
    [
        ({"type": "XX"}, "invalid_declaration"),
        ({"packages": 0}, "invalid_declaration"),
        ({"packages": "12"}, "invalid_declaration"),
        ({"gross_mass_kg": "-1"}, "negative_value"),
        ({"number": "no spaces allowed"}, "invalid_declaration"),
    ],
)
def test_a_malformed_citation_is_refused_with_its_path(change, code):
    with pytest.raises(DeclarationRejected) as caught:
        load_declaration_json(example(transport_documents=[{**CITATION, **change}]))
    assert caught.value.code == code
    assert caught.value.path.startswith("transport_documents[0]")
    assert caught.value.http_status == 422


def test_the_xml_schema_refuses_a_bad_citation_with_the_element_path():
    xml = declaration_to_xml(load_declaration_json(example(transport_documents=[CITATION])))
    with pytest.raises(DeclarationRejected) as caught:
        load_declaration_xml(xml.replace(b"<TypeCode>BL</TypeCode>", b"<TypeCode>XX</TypeCode>"))
    assert caught.value.code == "schema_invalid"
    assert "/Declaration/TransportDocuments/TransportDocument/TypeCode" in caught.value.detail
