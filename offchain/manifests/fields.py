"""Field types of a manifest: UN/LOCODEs, ISO 6346 container numbers, HS codes, aware
date-times, package types and counts, each an `Annotated` type raising the rule codes.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PlainSerializer,
    PlainValidator,
    Strict,
)

from offchain.declarations import COUNTRY_CODES
from offchain.declarations.fields import _check_mode as _check_mode  # one transport-mode rule
from offchain.manifests.errors import _fail

MAX_LINES = 9999


PACKAGES_MAX = 99_999_999


_LOCODE = re.compile(r"^[A-Z]{2}[A-Z2-9]{3}$")
_CONTAINER = re.compile(r"^[A-Z]{3}[UJZ][0-9]{7}$")
_HS = re.compile(r"^[0-9]{4}([0-9]{2}([0-9]{2}([0-9]{2})?)?)?$")
_PACKAGE_TYPE = re.compile(r"^[0-9A-Z]{2}$")
_DATETIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
# ISO 6346 letter values: 10 upwards, skipping multiples of 11.
_LETTER_VALUES = dict(
    zip(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        [v for v in range(10, 39) if v % 11][:26],
        strict=True,
    )
)


def container_check_digit(first10: str) -> int:
    """The ISO 6346 check digit of an owner code, category and serial (`CSQU305438` -> 3)."""
    total = 0
    for i, ch in enumerate(first10):
        total += (_LETTER_VALUES[ch] if ch.isalpha() else int(ch)) << i
    return total % 11 % 10


def _check_container(value: Any) -> str:
    if not isinstance(value, str) or not _CONTAINER.match(value):
        raise _fail(
            "invalid_container",
            f"{value!r} is not an ISO 6346 container number (3-letter owner code, U/J/Z, "
            "6 digits, check digit), e.g. CSQU3054383",
        )
    want = container_check_digit(value[:10])
    if int(value[10]) != want:
        raise _fail(
            "invalid_container",
            f"container {value}: the check digit should be {want}, not {value[10]} "
            "(a typing error in the number?)",
        )
    return value


def _check_locode(value: Any) -> str:
    if not isinstance(value, str) or not _LOCODE.match(value):
        raise _fail("invalid_location", f"{value!r} is not a UN/LOCODE such as TWKEL or SGSIN")
    if value[:2] not in COUNTRY_CODES:
        raise _fail("invalid_country", f"UN/LOCODE {value}: {value[:2]} is not a country code")
    return value


def _check_hs(value: Any) -> str:
    if not isinstance(value, str) or not _HS.match(value):
        raise _fail(
            "invalid_hs_code",
            f"{value!r} must be an HS code of 4, 6, 8 or 10 digits (as text), or left out",
        )
    return value


def _check_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and _DATETIME.match(value):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _fail("invalid_datetime", f"{value!r} is not a valid date and time") from None
    else:
        raise _fail(
            "invalid_datetime",
            f"{value!r} is not a date and time with its UTC offset, e.g. 2025-04-16T06:00:00+08:00",
        )
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _fail("invalid_datetime", f"{value!r} has no UTC offset")
    return parsed


def _datetime_text(value: datetime) -> str:
    return value.isoformat()


def _check_package_type(value: Any) -> str:
    if not isinstance(value, str) or not _PACKAGE_TYPE.match(value):
        raise ValueError(f"{value!r} is not a UN/ECE Rec 21 package type such as CT, PK or PL")
    return value


Locode = Annotated[str, PlainValidator(_check_locode)]
ContainerNumber = Annotated[str, PlainValidator(_check_container)]
ManifestHS = Annotated[str, PlainValidator(_check_hs)]
AwareDateTime = Annotated[
    datetime,
    PlainValidator(_check_datetime),
    PlainSerializer(_datetime_text, return_type=str),
]
Packages = Annotated[int, Strict(), Field(ge=1, le=PACKAGES_MAX)]
TotalPackages = Annotated[int, Strict(), Field(ge=1, le=999_999_999_999)]
LineCount = Annotated[int, Strict(), Field(ge=1, le=MAX_LINES)]
TransportDocumentType = Literal["BL", "HBL", "SWB", "AWB", "HAWB", "CMR", "CIM"]


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "+0") else text
