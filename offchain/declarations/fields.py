"""Field types of a declaration: identifiers, free text, codes, decimals, dates, hashes and
receipts, each an `Annotated` type whose validator raises the package's rule codes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    Strict,
)

from offchain import doctypes
from offchain.declarations.codes import COUNTRY_CODES, CURRENCY_CODES, UNIT_CODES
from offchain.declarations.errors import _fail
from offchain.errors import DocumentRejected
from offchain.receipt import Receipt

_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._/\-]{0,34}$")
_TEXT = re.compile(r"^[^ \t\n\r]+([ \t\n\r]+[^ \t\n\r]+)*$")  # XSD TextType's \S+(\s+\S+)*
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_HS_CODE = re.compile(r"^[0-9]{6,10}$")
_HASH = re.compile(r"^0x[0-9a-f]{64}$")
_AGREEMENT = re.compile(r"^[A-Z][A-Z0-9_]{1,31}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DECIMAL_TEXT = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")


def _text(max_length: int) -> Callable[[str], str]:
    """A check of free text: 1 to `max_length` XML characters, no whitespace around."""

    def check(value: str) -> str:
        if not 1 <= len(value) <= max_length:
            raise ValueError(f"must be 1 to {max_length} characters, got {len(value)}")
        bad = _NOT_XML_CHAR.search(value)
        if bad:
            raise ValueError(
                f"character U+{ord(bad.group()):04X} at position {bad.start()} cannot appear "
                "in a declaration (not allowed in XML 1.0)"
            )
        if not _TEXT.match(value):
            raise ValueError("must not start or end with whitespace")
        return value

    return check


def _check_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(
            f"{value!r} must be 1-35 letters, digits, '.', '_', '/' or '-', starting with a "
            "letter or digit"
        )
    return value


def _check_hs(value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(
            "invalid_hs_code",
            f"an HS code is a string of 6 to 10 digits, not {type(value).__name__} "
            f"{value!r} (a number loses its leading zeros)",
        )
    if not _HS_CODE.match(value):
        raise _fail("invalid_hs_code", f"HS code {value!r} must be 6 to 10 digits, no dots")
    return value


def _code_in(code: str, table: Any, what: str):
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in table:
            raise _fail(code, f"{value!r} is not {what}")
        return value

    return check


def _check_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _fail("invalid_date", f"{value!r} is not a date written YYYY-MM-DD")


def _check_hash(value: Any) -> str:
    if not isinstance(value, str) or not _HASH.match(value):
        raise ValueError(f"{value!r} must be 0x followed by 64 lower-case hex digits")
    return value


def _check_doc_type(value: Any) -> str:
    names = [t.name for t in doctypes.DOC_TYPES]
    if value not in names:
        raise _fail(
            "unknown_doc_type", f"{value!r} is not a document type; known: {', '.join(names)}"
        )
    return value


def _check_receipt(value: Any) -> Receipt:
    if isinstance(value, Receipt):
        return value
    try:
        return Receipt.from_json(value)
    except DocumentRejected as exc:
        raise _fail("invalid_receipt", exc.detail) from None


def _number(*, places: int, total: int, positive: bool):
    """A decimal with XSD-like bounds: at most `total` digits, `places` of them decimals."""

    def check(value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise _fail("invalid_number", f"{value!r} is not a number")
        if isinstance(value, str) and value.strip().lower().lstrip("+-") in (
            "nan", "snan", "inf", "infinity"
        ):  # fmt: skip
            raise _fail("not_finite", f"{value!r} is not a finite number")
        if isinstance(value, str) and not _DECIMAL_TEXT.match(value):
            raise _fail("invalid_number", f"{value!r} is not a plain decimal number")
        try:
            number = value if isinstance(value, Decimal) else Decimal(str(value))
        except (InvalidOperation, ValueError):
            raise _fail("invalid_number", f"{value!r} is not a number") from None
        if not number.is_finite():
            raise _fail("not_finite", f"{value!r} is not a finite number")
        if number < 0:
            raise _fail("negative_value", f"{value} is negative")
        if positive and number == 0:
            raise _fail("invalid_number", "must be greater than 0")
        _sign, digits, exponent = number.normalize().as_tuple()
        assert isinstance(exponent, int)
        decimals = max(0, -exponent)
        if decimals > places:
            raise _fail("invalid_number", f"{value} has more than {places} decimal places")
        if (len(digits) + max(0, exponent)) > total:
            raise _fail("invalid_number", f"{value} has more than {total} digits")
        return number

    return check


def _plain(value: Decimal) -> str:
    """The shortest plain text of a decimal: 120.000 -> "120", 0.50 -> "0.5"."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "+0") else text


_DecimalOut = PlainSerializer(_plain, return_type=str, when_used="json")

ID = Annotated[str, Strict(), AfterValidator(_check_id)]
Text = Annotated[str, Strict(), AfterValidator(_text(512))]
Name = Annotated[str, Strict(), AfterValidator(_text(256))]
ShortText = Annotated[str, Strict(), AfterValidator(_text(35))]
HSCode = Annotated[str, PlainValidator(_check_hs)]
Country = Annotated[
    str, PlainValidator(_code_in("invalid_country", COUNTRY_CODES, "an ISO 3166-1 alpha-2 code"))
]
Currency = Annotated[
    str, PlainValidator(_code_in("invalid_currency", CURRENCY_CODES, "an ISO 4217 currency"))
]
Unit = Annotated[
    str,
    PlainValidator(_code_in("unknown_unit", UNIT_CODES, "a known UN/ECE Rec 20 unit code")),
]
Amount = Annotated[
    Decimal, PlainValidator(_number(places=2, total=18, positive=False)), _DecimalOut
]
Measure = Annotated[
    Decimal, PlainValidator(_number(places=3, total=15, positive=True)), _DecimalOut
]
Rate = Annotated[Decimal, PlainValidator(_number(places=6, total=18, positive=True)), _DecimalOut]
DateField = Annotated[
    date, PlainValidator(_check_date), PlainSerializer(lambda d: d.isoformat(), return_type=str)
]
Hash = Annotated[str, PlainValidator(_check_hash)]
DocTypeName = Annotated[str, PlainValidator(_check_doc_type)]
ReceiptField = Annotated[
    Receipt, PlainValidator(_check_receipt), PlainSerializer(lambda r: r.to_json())
]
Sequence4 = Annotated[int, Strict(), Field(ge=1, le=9999)]


def _check_mode(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not re.fullmatch(r"[1-9]", value):
        raise ValueError(f"{value!r} is not a UN/ECE Rec 19 transport mode (1 to 9)")
    return value


def _check_agreement(value: Any) -> str:
    if not isinstance(value, str) or not _AGREEMENT.match(value):
        raise ValueError(f"{value!r} must be an agreement code such as ANZTEC or ASTEP")
    return value
