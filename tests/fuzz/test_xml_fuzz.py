"""Property-based fuzzing of every XML and JSON loader a trade document or declaration meets.

For any bytes — random, or the example documents mutated (bytes cut, flipped, duplicated,
and hostile fragments spliced in: DTDs, entities, processing instructions, CDATA, odd
encodings, deep nesting, foreign namespaces, character references) — a loader either
returns its result or raises its own error with a code and a sentence; nothing else may
escape.  What loads must be stable: a prepared document's canonical form prepares to the
same hash, a loaded declaration survives its XML round trip with the same hash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from offchain import doctypes
from offchain.declarations import (
    DeclarationRejected,
    declaration_hash,
    declaration_to_xml,
    load_declaration_json,
    load_declaration_xml,
)
from offchain.documents import prepare
from offchain.errors import DocumentRejected
from offchain.receipt import Receipt
from offchain.xmlsafe import XmlLimits, load_xml

from .conftest import fuzz_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
LIMITS = XmlLimits(max_bytes=64 * 1024, max_depth=32)

# Examples per property (the README's "Hostile input" table quotes these).
RAW_EXAMPLES = 1000
MUTATED_EXAMPLES = 500
JSON_EXAMPLES = 600


HOSTILE = [
    b'<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>',
    b'<!DOCTYPE d SYSTEM "file:///etc/passwd">',
    b"<!ENTITY x SYSTEM 'http://127.0.0.1:9/x'>",
    b"&b;",
    b"&undeclared;",
    b"<?xml-stylesheet href='x'?>",
    b"<?pi data?>",
    b"<![CDATA[<HSCode>000000</HSCode>]]>",
    b"<!-- a comment -- with dashes -->",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\x00",
    b'<?xml version="1.0" encoding="UTF-16"?>',
    b"<a>" * 80 + b"</a>" * 80,
    b' xmlns:x="urn:x" x:attr="1"',
    b' xsi:schemaLocation="urn:a b" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"',
    b"&#0;",
    b"&#x10FFFF;",
    b"&#xD800;",
    b"]]>",
    "\u202e\u0000\ufeff\U0001f600".encode("utf-8", "surrogatepass"),
    b"\xed\xa0\x80",  # a UTF-8-encoded surrogate
    b"<",
    b"</",
    b"'\"",
    b"9999-12-31",
    b"-1",
    b"1e999",
]


def _edit(data: bytes, edits: list[tuple[float, int, bytes]]) -> bytes:
    out = bytearray(data)
    for where, kind, payload in edits:
        i = int(where * len(out))
        if kind == 0:  # splice a fragment in
            out[i:i] = payload
        elif kind == 1:  # cut a run
            del out[i : i + 1 + len(payload)]
        elif kind == 2 and out:  # overwrite
            out[i : i + len(payload)] = payload
        else:  # duplicate a run (repeated elements, doubled text)
            out[i:i] = out[i : i + 1 + 4 * len(payload)]
    return bytes(out)


def mutations_of(seed: bytes) -> st.SearchStrategy[bytes]:
    payload = st.one_of(st.sampled_from(HOSTILE), st.binary(min_size=1, max_size=16))
    edit = st.tuples(st.floats(0, 1), st.integers(0, 3), payload)
    return st.lists(edit, min_size=1, max_size=6).map(lambda edits: _edit(seed, edits))


def _rejection(exc: Exception) -> None:
    """A refusal names itself: a snake_case code and a sentence."""
    assert isinstance(exc.code, str) and exc.code.replace("_", "").isalnum(), exc.code
    assert isinstance(exc.detail, str) and exc.detail.strip(), exc


@fuzz_settings(RAW_EXAMPLES)
@given(data=st.one_of(st.binary(max_size=2048), st.text(max_size=512).map(str.encode)))
def test_load_xml_refuses_or_parses_any_bytes(data: bytes):
    try:
        root = load_xml(data, max_bytes=LIMITS.max_bytes, max_depth=LIMITS.max_depth)
    except DocumentRejected as exc:
        _rejection(exc)
        assert exc.code.startswith("xml_"), exc.code
    else:
        assert isinstance(root.tag, str)


DOC_SEEDS = {t.name: (EXAMPLES / f"{t.name}.xml").read_bytes() for t in doctypes.DOC_TYPES}


def _prepare_property(doc_type: str, data: bytes) -> None:
    try:
        prepared = prepare(data, doc_type, limits=LIMITS)
    except DocumentRejected as exc:
        _rejection(exc)
        return
    again = prepare(prepared.canonical, doc_type, limits=LIMITS)
    assert again.doc_hash == prepared.doc_hash  # the canonical form is a fixed point


@fuzz_settings(MUTATED_EXAMPLES)
@given(data=mutations_of(DOC_SEEDS["certificate-of-origin"]))
def test_a_mutated_certificate_is_refused_with_a_code_or_prepared_stably(data: bytes):
    _prepare_property("certificate-of-origin", data)


@fuzz_settings(MUTATED_EXAMPLES)
@given(data=mutations_of(DOC_SEEDS["commercial-invoice"]))
def test_a_mutated_invoice_is_refused_with_a_code_or_prepared_stably(data: bytes):
    _prepare_property("commercial-invoice", data)


@fuzz_settings(MUTATED_EXAMPLES)
@given(data=mutations_of(DOC_SEEDS["packing-list"]))
def test_a_mutated_packing_list_is_refused_with_a_code_or_prepared_stably(data: bytes):
    _prepare_property("packing-list", data)


DECL_XML = (EXAMPLES / "declarations" / "03-preference-astep-sg.xml").read_bytes()
DECL_JSON = json.loads((EXAMPLES / "declarations" / "03-preference-astep-sg.json").read_text())


@fuzz_settings(MUTATED_EXAMPLES)
@given(data=mutations_of(DECL_XML))
def test_a_mutated_xml_declaration_is_refused_with_a_code_or_loaded_stably(data: bytes):
    try:
        decl = load_declaration_xml(data, LIMITS)
    except DeclarationRejected as exc:
        _rejection(exc)
        return
    again = load_declaration_xml(declaration_to_xml(decl), LIMITS)
    assert declaration_hash(again) == declaration_hash(decl)


JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=40),
        st.sampled_from(["NaN", "-Infinity", "1e999", "9999-12-31", "0x" + "ab" * 32, ""]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(obj: Any, here: tuple = ()) -> list[tuple]:
    out = [here]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*here, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*here, i))
    return out


DECL_PATHS = _paths(DECL_JSON)[1:]


def _replace(obj: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        return {**obj, head: _replace(obj[head], rest, value)}
    copy = list(obj)
    copy[head] = _replace(copy[head], rest, value)
    return copy


@fuzz_settings(JSON_EXAMPLES)
@given(
    edits=st.lists(st.tuples(st.sampled_from(DECL_PATHS), JSON_VALUES), min_size=1, max_size=4),
    as_text=st.booleans(),
)
def test_a_declaration_with_hostile_json_values_is_refused_with_a_code(edits, as_text):
    obj: Any = DECL_JSON
    for path, value in edits:
        try:
            obj = _replace(obj, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit replaced the parent
    body = json.dumps(obj, allow_nan=True).encode() if as_text else obj
    try:
        load_declaration_json(body)
    except DeclarationRejected as exc:
        _rejection(exc)


RECEIPT = {
    "doc_hash": "0x" + "11" * 32,
    "doc_type": "certificate-of-origin",
    "leaf_index": 3,
    "proof": ["0x" + "22" * 32, "0x" + "33" * 32],
    "root": "0x" + "44" * 32,
    "tx": "0x" + "55" * 32,
    "block": 12,
    "anchored_at": 1_760_000_000,
    "chain_id": 31337,
    "registry": "0x" + "66" * 20,
    "issuer": "0x" + "77" * 20,
    "issuer_member": "TW",
    "cid": "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
    "recipient": "SG",
    "version": 1,
}


@fuzz_settings(JSON_EXAMPLES)
@given(
    edits=st.lists(
        st.tuples(st.sampled_from([*sorted(RECEIPT), "extra"]), JSON_VALUES), max_size=4
    ),
    as_text=st.booleans(),
)
def test_a_receipt_with_hostile_values_is_refused_with_a_code(edits, as_text):
    obj = dict(RECEIPT)
    for key, value in edits:
        obj[key] = value
    try:
        Receipt.from_json(json.dumps(obj, allow_nan=True) if as_text else obj)
    except DocumentRejected as exc:
        _rejection(exc)
        assert exc.code == "invalid_receipt"
