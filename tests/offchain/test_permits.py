"""Permit files: strict parsing, every rejection path, holder and permit id hashes, canonical hash."""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from offchain.errors import OffchainError
from offchain.permits import (
    FIELDS,
    MAX_PERMIT_BYTES,
    UNITS,
    Permit,
    PermitRejected,
    canonical_json,
    convert_quantity,
    document_hash,
    holder_hash,
    hs_code_number,
    hs_code_str,
    load_permit,
    permit_from_json,
    permit_id_bytes,
    quantity_from_chain,
    quantity_to_chain,
    unit_bytes,
    unit_from_bytes,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "permits").glob("*.json"))
BEEF = ROOT / "examples" / "permits" / "frozen-beef-sg.json"

VALID = {
    "permit_id": "SG-SFA-IP-2026-004217",
    "agency": "SG",
    "holder": "SG-UEN-201912345K",
    "hs_codes": ["020230", "020220"],
    "quantity": 25000,
    "unit": "KGM",
    "valid_from": "2026-11-01",
    "valid_to": "2027-04-30",
    "description": "Import of frozen bovine meat.",
}


def dump(obj: dict) -> bytes:
    return json.dumps(obj).encode()


def with_(**changes) -> bytes:
    return dump({**VALID, **changes})


def rejected(data: bytes | str) -> PermitRejected:
    with pytest.raises(PermitRejected) as info:
        load_permit(data)
    assert isinstance(info.value, OffchainError)
    return info.value


def invalid(data: bytes | str, field: str) -> PermitRejected:
    """The permit is refused as invalid_permit, with a problem reported for `field`."""
    err = rejected(data)
    assert err.code == "invalid_permit", err
    assert field in [i["field"] for i in err.issues], err.issues
    assert field in err.detail
    assert err.http_status == 422
    return err


# ------------------------------------------------------------------ examples and the happy path


def test_there_are_example_permits():
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_files_parse(path):
    permit = load_permit(path.read_bytes())
    assert permit.hs_codes == tuple(sorted(permit.hs_codes))
    assert all(len(c) == 6 for c in permit.hs_codes)
    assert permit.valid_to_ts > permit.valid_from_ts
    assert permit.unit in UNITS
    assert len(permit.document_hash) == 32
    assert load_permit(path.read_text()) == permit  # str or bytes


def test_the_beef_permit_reads_as_written():
    permit = load_permit(BEEF.read_bytes())
    assert permit == Permit(
        permit_id="SG-SFA-IP-2026-004217",
        agency="SG",
        holder="SG-UEN-201912345K",
        hs_codes=("020220", "020230"),
        quantity=Decimal(25000),
        unit="KGM",
        valid_from=date(2026, 11, 1),
        valid_to=date(2027, 4, 30),
        description=permit.description,
    )
    assert permit.hs_numbers == [20220, 20230]  # the leading zero goes on chain as a number
    assert permit.chain_quantity == 25_000_000
    assert permit.valid_from_ts == int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    assert permit.valid_to_ts == int(datetime(2027, 5, 1, tzinfo=UTC).timestamp()) - 1
    assert permit.id_bytes == keccak(b"SG-SFA-IP-2026-004217")
    assert (
        permit.holder_hash == hashlib.sha256(b"smartcustoms:holder:v1:SG-UEN-201912345K").digest()
    )


def test_instants_keep_their_offset():
    permit = load_permit(
        with_(valid_from="2026-10-15T00:00:00+08:00", valid_to="2026-10-16T12:30:00Z")
    )
    assert permit.valid_from_ts == int(datetime(2026, 10, 14, 16, tzinfo=UTC).timestamp())
    assert permit.valid_to_ts == int(datetime(2026, 10, 16, 12, 30, tzinfo=UTC).timestamp())
    assert permit.to_json()["valid_to"] == "2026-10-16T12:30:00+00:00"


def test_a_one_day_permit_is_valid_for_the_whole_day():
    permit = load_permit(with_(valid_from="2026-11-01", valid_to="2026-11-01"))
    assert permit.valid_to_ts - permit.valid_from_ts == 86_400 - 1


def test_decimal_quantities_are_exact():
    permit = load_permit(with_(quantity=4500.75, unit="LTR"))
    assert permit.quantity == Decimal("4500.75") and permit.chain_quantity == 4_500_750
    assert load_permit(with_().replace(b"25000", b"0.001")).chain_quantity == 1


def test_permit_from_json_takes_an_api_body():
    body = {**VALID, "quantity": Decimal("12.5")}
    assert permit_from_json(body).quantity == Decimal("12.5")
    with pytest.raises(PermitRejected) as info:
        permit_from_json({**VALID, "quantity": 12.5})  # a float has already lost digits
    assert info.value.issues[0]["field"] == "quantity"


# ------------------------------------------------------------------ rejections: the file


def test_too_large_is_refused_before_parsing():
    err = rejected(b" " * (MAX_PERMIT_BYTES + 1))
    assert (err.code, err.http_status) == ("permit_too_large", 413)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b'{"permit_id": "A",}',
        b"\xff\xfe{}",
        "\ufeff{}".encode(),
        b'["permit"]',
        b'"permit"',
        b"null",
        b"42",
    ],
    ids=[
        "empty",
        "text",
        "trailing-comma",
        "utf16-bom",
        "utf8-bom",
        "list",
        "string",
        "null",
        "number",
    ],
)
def test_not_a_json_object_is_malformed(data):
    err = rejected(data)
    assert (err.code, err.http_status) == ("permit_malformed", 400), err


def test_a_key_given_twice_is_malformed():
    data = with_()[:-1] + b', "quantity": 1}'
    err = rejected(data)
    assert err.code == "permit_malformed" and "'quantity'" in err.detail


# ------------------------------------------------------------------ rejections: the fields


def test_extra_field_is_refused():
    err = invalid(with_(remarks="urgent"), "remarks")
    assert "not a permit field" in err.detail


@pytest.mark.parametrize("field", FIELDS)
def test_missing_field_is_refused(field):
    obj = dict(VALID)
    del obj[field]
    invalid(dump(obj), field)


@pytest.mark.parametrize(
    "literal",
    [
        b"NaN",
        b"Infinity",
        b"-Infinity",
        b"-1",
        b"0",
        b"-0.0",
        b'"25000"',
        b"true",
        b"null",
        b"[1]",
        b"1.0001",
        b"1e40",
        b"340282366920938463463374607431768211.456",
    ],
    ids=[
        "nan",
        "inf",
        "-inf",
        "negative",
        "zero",
        "negative-zero",
        "string",
        "bool",
        "null",
        "list",
        "4-decimals",
        "huge",
        "above-uint128",
    ],
)
def test_bad_quantity_is_refused(literal):
    data = with_().replace(b'"quantity": 25000', b'"quantity": ' + literal)
    assert literal in data
    invalid(data, "quantity")


def test_largest_quantity_is_accepted():
    data = with_().replace(b"25000", b"340282366920938463463374607431768211.455")
    assert load_permit(data).chain_quantity == 2**128 - 1


@pytest.mark.parametrize(
    ("valid_from", "valid_to"),
    [
        ("2027-04-30", "2026-11-01"),
        ("2026-11-01T10:00:00Z", "2026-11-01T09:59:59Z"),
        ("2026-11-01T10:00:00Z", "2026-11-01T10:00:00Z"),
        ("2026-11-02", "2026-11-01T23:59:59Z"),
    ],
    ids=["dates-reversed", "instants-reversed", "zero-length", "day-after-instant"],
)
def test_valid_to_before_valid_from_is_refused(valid_from, valid_to):
    invalid(with_(valid_from=valid_from, valid_to=valid_to), "valid_to")


@pytest.mark.parametrize(
    "value",
    [
        "2026/11/01",
        "01-11-2026",
        "20261101",
        "2026-02-30",
        "2026-13-01",
        "2026-11-01T10:00:00",
        "2026-11-01 10:00:00+08:00",
        "2026-11-01T25:00:00Z",
        "1969-12-31",
        "tomorrow",
        20261101,
        None,
    ],
    ids=[
        "slashes",
        "dmy",
        "compact",
        "feb-30",
        "month-13",
        "naive",
        "space",
        "hour-25",
        "before-1970",
        "word",
        "number",
        "null",
    ],
)
def test_bad_dates_are_refused(value):
    invalid(with_(valid_from=value), "valid_from")


@pytest.mark.parametrize(
    ("codes", "field"),
    [
        (["20230"], "hs_codes[0]"),
        ([20230], "hs_codes[0]"),
        (["0202.30"], "hs_codes[0]"),
        (["02023O"], "hs_codes[0]"),
        (["0202300"], "hs_codes[0]"),
        (["000000"], "hs_codes[0]"),
        (["770000"], "hs_codes[0]"),
        (["980000"], "hs_codes[0]"),
        (["020230", "020230"], "hs_codes[1]"),
        ([], "hs_codes"),
        ("020230", "hs_codes"),
        ([f"{10000 + i:06d}" for i in range(33)], "hs_codes"),
    ],
    ids=[
        "five-digits",
        "number",
        "dotted",
        "letter-o",
        "seven-digits",
        "chapter-00",
        "chapter-77",
        "chapter-98",
        "duplicate",
        "empty",
        "not-a-list",
        "33-codes",
    ],
)
def test_bad_hs_codes_are_refused(codes, field):
    invalid(with_(hs_codes=codes), field)


@pytest.mark.parametrize("unit", ["KG", "kgm", "Kgm", "XYZ", "", "KGM ", 1])
def test_unknown_unit_is_refused(unit):
    invalid(with_(unit=unit), "unit")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("permit_id", ""),
        ("permit_id", "SG IP 1"),
        ("permit_id", "-SG-1"),
        ("permit_id", "X" * 65),
        ("permit_id", 12345),
        ("agency", "sg"),
        ("agency", ""),
        ("agency", ["SG"]),
        ("holder", ""),
        ("holder", "SG UEN 1"),
        ("holder", " SG-UEN-1"),
        ("holder", "Z" * 65),
        ("description", ""),
        ("description", "   "),
        ("description", "x" * 1001),
        ("description", None),
    ],
)
def test_bad_ids_and_texts_are_refused(field, value):
    invalid(with_(**{field: value}), field)


def test_every_problem_is_listed_at_once():
    err = invalid(with_(quantity=-1, unit="KG", hs_codes=["1234"], extra=1), "quantity")
    assert {i["field"] for i in err.issues} == {"quantity", "unit", "hs_codes[0]", "extra"}


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_else(data):
    with contextlib.suppress(PermitRejected):
        load_permit(data)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(st.fixed_dictionaries({}, optional={f: _json_values for f in FIELDS}))
def test_arbitrary_json_objects_never_raise_anything_else(obj):
    try:
        load_permit(json.dumps(obj))
    except PermitRejected as err:
        assert err.code in ("invalid_permit", "permit_malformed")


# ------------------------------------------------------------------ hashes


def test_holder_hash_is_stable_and_normalised():
    want = hashlib.sha256(b"smartcustoms:holder:v1:SG-UEN-201912345K").digest()
    for form in ("SG-UEN-201912345K", "sg-uen-201912345k", "  SG-UEN-201912345K\n"):
        assert holder_hash(form) == want
    assert holder_hash("SG-UEN-201912345L") != want
    assert want != hashlib.sha256(b"SG-UEN-201912345K").digest()  # the domain prefix counts


def test_holder_hash_and_document_hash_have_fixed_values():
    """Golden values: changing a hashing rule must be a deliberate, visible change."""
    assert holder_hash("SG-UEN-201912345K").hex() == (
        "a052f5624e7778adb10d2b0e32f7d09fd5c1a0f493cd462b836348ded0f8632c"
    )
    assert holder_hash("TW-BAN-24567891").hex() == (
        "c924d81106c12598044d2dc6cbe245f5fffa2f74cd446a46a982f1fe44c0cf81"
    )
    assert document_hash(load_permit(BEEF.read_bytes())).hex() == (
        "cb26b734e7a4ffb9f0dc9e99464b920aa0f8e827ad5a731d0669d727246706e6"
    )


@pytest.mark.parametrize("bad", ["", "SG UEN", "é-1", "X" * 65, None, 42])
def test_holder_hash_refuses_ids_outside_the_format(bad):
    with pytest.raises(ValueError):
        holder_hash(bad)


def test_permit_id_bytes_is_keccak_of_the_upper_case_number():
    assert permit_id_bytes("SG-SFA-IP-2026-004217") == keccak(b"SG-SFA-IP-2026-004217")
    assert permit_id_bytes("sg-sfa-ip-2026-004217") == permit_id_bytes("SG-SFA-IP-2026-004217")
    assert permit_id_bytes("SG-1") != permit_id_bytes("SG-2")
    with pytest.raises(ValueError):
        permit_id_bytes("0x" + "00" * 32)  # 66 characters: never a permit number


def test_canonical_json_of_the_beef_permit():
    permit = load_permit(BEEF.read_bytes())
    assert canonical_json(permit) == (
        b'{"agency":"SG","description":"' + permit.description.encode() + b'",'
        b'"holder":"SG-UEN-201912345K","hs_codes":["020220","020230"],'
        b'"permit_id":"SG-SFA-IP-2026-004217","quantity":25000,"unit":"KGM",'
        b'"valid_from":"2026-11-01","valid_to":"2027-04-30"}'
    )
    assert document_hash(permit) == hashlib.sha256(canonical_json(permit)).digest()
    assert permit.document_hash == document_hash(permit)


def test_document_hash_ignores_layout_key_order_code_order_and_number_form():
    base = document_hash(load_permit(dump(VALID)))
    reordered = {k: VALID[k] for k in reversed(FIELDS)}
    reordered["hs_codes"] = list(reversed(VALID["hs_codes"]))
    assert document_hash(load_permit(json.dumps(reordered, indent=4).encode())) == base
    for number in (b"25000.000", b"2.5e4", b"25E3"):
        data = dump(VALID).replace(b"25000", number)
        assert document_hash(load_permit(data)) == base, number


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("permit_id", "SG-SFA-IP-2026-004218"),
        ("agency", "TW"),
        ("holder", "SG-UEN-201912345L"),
        ("hs_codes", ["020230"]),
        ("quantity", 25000.001),
        ("unit", "TNE"),
        ("valid_from", "2026-11-02"),
        ("valid_to", "2027-04-30T23:59:59Z"),
        ("description", "Import of frozen bovine meat"),
    ],
)
def test_document_hash_changes_with_any_value(field, value):
    assert document_hash(load_permit(with_(**{field: value}))) != document_hash(
        load_permit(dump(VALID))
    )


def test_non_ascii_description_is_hashed_as_utf8():
    permit = load_permit(with_(description="冷凍牛肉 — frozen beef"))
    assert "冷凍牛肉 — frozen beef".encode() in canonical_json(permit)


# ------------------------------------------------------------------ on-chain forms


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_chain_quantities_round_trip_exactly(raw):
    assert quantity_to_chain(quantity_from_chain(raw)) == raw


@pytest.mark.parametrize(
    ("value", "raw"),
    [
        ("12.5", 12_500),
        (Decimal("2E+4"), 20_000_000),
        (7, 7_000),
        ("0.001", 1),
        ("0", 0),
        ("1.2300", 1_230),
    ],
)
def test_quantity_to_chain(value, raw):
    assert quantity_to_chain(value) == raw


@pytest.mark.parametrize("bad", ["0.0001", "-1", "NaN", "Infinity", "1e39", 1.5, True, "x"])
def test_quantity_to_chain_refuses(bad):
    with pytest.raises(ValueError):
        quantity_to_chain(bad)


def test_hs_code_forms():
    assert hs_code_number("020230") == 20230 and hs_code_str(20230) == "020230"
    assert hs_code_number(850760) == 850760
    for bad in ("20230", "002023", 9999, 1_000_000, True, "02023x"):
        with pytest.raises(ValueError):
            hs_code_number(bad)


def test_unit_forms():
    assert unit_bytes("KGM") == b"KGM" and unit_bytes("PR") == b"PR\0"
    assert unit_from_bytes(b"PR\0") == "PR"
    with pytest.raises(ValueError):
        unit_bytes("KG")


def test_convert_quantity_within_a_dimension_only():
    assert convert_quantity("2.5", "TNE", "KGM") == Decimal(2500)
    assert convert_quantity(1500, "GRM", "KGM") == Decimal("1.5")
    assert convert_quantity(3, "DZN", "C62") == 36
    assert convert_quantity(1, "MTQ", "LTR") == 1000
    for src, dst in (("KGM", "LTR"), ("NAR", "PCE"), ("KGM", "XYZ")):
        with pytest.raises(ValueError):
            convert_quantity(1, src, dst)


def test_to_json_round_trips_through_load_permit():
    permit = load_permit(with_(quantity=4500.75, valid_to="2027-04-30T12:00:00+08:00"))
    body = permit.to_json()
    body["quantity"] = Decimal(body["quantity"])
    assert permit_from_json(body) == permit


def test_datetime_and_date_moments_compare_by_instant():
    permit = load_permit(with_(valid_from="2026-11-01T00:00:00+00:00"))
    assert permit.valid_from == datetime(2026, 11, 1, tzinfo=timezone(timedelta(0)))
