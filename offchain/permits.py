"""Permit documents: the JSON file a permit agency issues, its strict check, canonical form and hash.

A permit file is one UTF-8 JSON object with exactly these fields (examples in
`examples/permits/`):

    permit_id    the permit number, 1-64 characters: letters, digits and . _ / -, starting with a
                 letter or digit.  Agencies prefix their numbers ("SG-SFA-IP-2026-000123") so
                 that they are unique across the consortium.
    agency       the issuing member's id ("SG"): the member the agency's account acts for
    holder       the importer's id in clear (e.g. "SG-UEN-201912345K"), 1-64 characters:
                 letters, digits and . _ / : -.  Only its hash goes on chain (`holder_hash`).
    hs_codes     1-32 six-digit HS subheadings as strings, leading zeros kept ("020230");
                 chapters 01-97 except the reserved 77; no duplicates
    quantity     a JSON number above zero with at most 3 decimals (12.5), in `unit`
    unit         a UN/ECE Recommendation 20 unit code from `UNITS` ("KGM", "TNE", "LTR", ...)
    valid_from   the first day ("2026-01-01") or instant ("2026-01-01T08:00:00+08:00")
    valid_to     the last day, inclusive, or the last instant; not before valid_from
    description  what the permit allows, in words (1-1000 characters)

A day without time is a UTC day: from 00:00:00 to 23:59:59 UTC.  An instant must carry its
UTC offset ("Z" or "+08:00"); a naive date-time is refused, since it would mean different
instants to different readers.

`load_permit` refuses anything else with `PermitRejected` (nothing is half-accepted): more than
64 KiB (`permit_too_large`); not UTF-8, not JSON, not an object, or a key given twice
(`permit_malformed`); a missing or unknown field, a wrong type, NaN / infinite / negative /
zero / over-precise quantity, a bad HS code, an unknown unit, bad dates or `valid_to` before
`valid_from` (`invalid_permit`, with every problem listed in `issues`).

What goes on chain (contracts/PermitRegistry.sol), and how:
- `permit_id_bytes`: keccak256 of the permit number in upper case (numbers are case-insensitive,
  so a declaration that cites "sg-sfa-ip-2026-000123" finds the permit).
- `holder_hash`: sha256 of "smartcustoms:holder:v1:" + the importer id in upper case.  The
  prefix keeps these hashes apart from any other sha256 of the same id.  An importer id is
  guessable (registration numbers are public and short), so the hash hides it from a casual
  reader, not from someone who tries candidate ids.
- HS codes as numbers (`hs_code_number`: "020230" -> 20230), ascending.
- the quantity in thousandths of the unit (`quantity_to_chain`: 12.5 -> 12500), the unit as
  three ASCII bytes (`unit_bytes`: "PR" -> b"PR\\0").
- the validity window in unix seconds, both ends inclusive (`Permit.valid_from_ts`, `valid_to_ts`).
- `document_hash`: sha256 of `canonical_json(permit)`: the parsed permit as JSON with keys sorted,
  no whitespace, UTF-8 (no \\u escapes for non-ASCII), `hs_codes` sorted, the quantity as a plain
  decimal number without trailing zeros (20000, 12.5), the dates as ISO 8601 ("2026-01-01",
  "2026-01-01T08:00:00+08:00", UTC written "+00:00").  Reformatting a file, reordering its keys
  or HS codes, or writing 12.50 for 12.5 leaves the hash unchanged; any change of a value
  changes it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from eth_utils import keccak

from offchain.errors import OffchainError

MAX_PERMIT_BYTES = 64 * 1024
MAX_HS_CODES = 32  # PermitRegistry.MAX_HS_CODES
QUANTITY_DECIMALS = 3  # PermitRegistry.QUANTITY_DECIMALS
MAX_CHAIN_QUANTITY = 2**128 - 1  # uint128
MAX_DESCRIPTION = 1000
_MAX_UNITS = "340282366920938463463374607431768211.455"
HOLDER_DOMAIN = b"smartcustoms:holder:v1:"

FIELDS = (
    "permit_id",
    "agency",
    "holder",
    "hs_codes",
    "quantity",
    "unit",
    "valid_from",
    "valid_to",
    "description",
)

_PERMIT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,63}")
_IMPORTER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]{0,63}")
_MEMBER_ID = re.compile(r"[A-Z][A-Z0-9_-]{0,30}")  # as offchain.settings.MemberConfig.id
_HS_CODE = re.compile(r"[0-9]{6}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_QUANTUM = Decimal(1).scaleb(-QUANTITY_DECIMALS)


# ---------------------------------------------------------------------------- errors

# Codes of PermitRejected and the HTTP status the API answers with (400 when not listed).
#   permit_too_large   the file is bigger than MAX_PERMIT_BYTES (checked before parsing)
#   permit_malformed   not UTF-8, not JSON, not a JSON object, or a key given twice
#   invalid_permit     well-formed JSON that breaks the permit format; `issues` lists each problem


class PermitRejected(OffchainError):
    """A permit file was refused; nothing was issued.

    `code` is one of the codes above, `detail` a sentence a person can act on, `issues` the
    individual problems of an `invalid_permit` as `{"field", "message"}`.
    """

    code: str = "permit_rejected"

    def __init__(self, code: str, detail: str, *, issues: Sequence[Mapping[str, str]] = ()) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.issues = tuple(issues)


# ---------------------------------------------------------------------------- units


@dataclass(frozen=True, slots=True)
class Unit:
    """A UN/ECE Recommendation 20 unit code, and how it converts within its dimension."""

    code: str
    name: str
    dimension: str  # units convert only within one dimension
    factor: Decimal  # how many of the dimension's base unit one of this unit is


def _unit(code: str, name: str, dimension: str, factor: str = "1") -> Unit:
    return Unit(code, name, dimension, Decimal(factor))


# The units customs tariffs use as supplementary units (WCO recommendation on units of
# quantity) and their usual multiples.  "NAR" (number of articles), "PCE" (piece) and "C62"
# (one) all count things but stay apart: a permit for 100 NAR does not say what 100 PCE is.
UNITS: Mapping[str, Unit] = {
    u.code: u
    for u in (
        _unit("GRM", "gram", "mass", "0.001"),
        _unit("KGM", "kilogram", "mass"),
        _unit("TNE", "tonne (metric ton)", "mass", "1000"),
        _unit("CTM", "metric carat", "mass", "0.0002"),
        _unit("MLT", "millilitre", "volume", "0.001"),
        _unit("LTR", "litre", "volume"),
        _unit("HLT", "hectolitre", "volume", "100"),
        _unit("MTQ", "cubic metre", "volume", "1000"),
        _unit("MTK", "square metre", "area"),
        _unit("MTR", "metre", "length"),
        _unit("NAR", "number of articles", "count:NAR"),
        _unit("PCE", "piece", "count:PCE"),
        _unit("C62", "one (unit)", "count:C62"),
        _unit("DZN", "dozen", "count:C62", "12"),
        _unit("PR", "pair", "pairs"),
        _unit("KWH", "kilowatt hour", "energy"),
        _unit("MWH", "megawatt hour", "energy", "1000"),
        _unit("LPA", "litre of pure alcohol", "alcohol"),
    )
}


def unit_bytes(unit: str) -> bytes:
    """The unit code as PermitRegistry stores it: ASCII, zero-padded to 3 bytes."""
    if unit not in UNITS:
        raise ValueError(f"unknown unit code {unit!r}; known codes: {', '.join(sorted(UNITS))}")
    return unit.encode("ascii").ljust(3, b"\0")


def unit_from_bytes(raw: bytes) -> str:
    return bytes(raw).rstrip(b"\0").decode("ascii", errors="replace")


def convert_quantity(quantity: Decimal | int | str, from_unit: str, to_unit: str) -> Decimal:
    """`quantity` of `from_unit` expressed in `to_unit` (e.g. 2.5 TNE -> 2500 KGM).

    For the clearance oracle, which draws on a permit in the permit's unit.  ValueError for
    an unknown unit or units of different dimensions (KGM to LTR, NAR to PCE).
    """
    src, dst = UNITS.get(from_unit), UNITS.get(to_unit)
    if src is None or dst is None:
        raise ValueError(f"unknown unit code {from_unit if src is None else to_unit!r}")
    if src.dimension != dst.dimension:
        raise ValueError(
            f"cannot convert {from_unit} ({src.name}) to {to_unit} ({dst.name}): "
            "they measure different things"
        )
    with localcontext(prec=80):
        return _plain(Decimal(quantity) * src.factor / dst.factor)


# ---------------------------------------------------------------------------- on-chain forms


def permit_id_bytes(permit_id: str) -> bytes:
    """The permit id PermitRegistry uses: keccak256 of the permit number in upper case."""
    if not isinstance(permit_id, str) or not _PERMIT_ID.fullmatch(permit_id):
        raise ValueError(
            f"permit number must be 1-64 letters, digits or . _ / -, got {permit_id!r}"
        )
    return keccak(permit_id.upper().encode("ascii"))


def holder_hash(importer_id: str) -> bytes:
    """sha256("smartcustoms:holder:v1:" + importer id in upper case): the holder on chain.

    Surrounding whitespace is ignored and case does not matter, so the id as written on a
    permit and on a declaration hash alike.  ValueError for an id outside the format.
    """
    if not isinstance(importer_id, str):
        raise ValueError(f"importer id must be a string, got {type(importer_id).__name__}")
    norm = importer_id.strip().upper()
    if not _IMPORTER_ID.fullmatch(norm):
        raise ValueError(
            f"importer id must be 1-64 letters, digits or . _ / : -, got {importer_id!r}"
        )
    return hashlib.sha256(HOLDER_DOMAIN + norm.encode("ascii")).digest()


def hs_code_number(code: str | int) -> int:
    """ "020230" -> 20230, the form PermitRegistry stores; an int is checked and returned."""
    if isinstance(code, bool):
        raise ValueError(f"HS code must be six digits, got {code!r}")
    if isinstance(code, int):
        if not 10_000 <= code <= 999_999:
            raise ValueError(f"HS code number must be 10000-999999, got {code}")
        return code
    if not isinstance(code, str) or not _HS_CODE.fullmatch(code) or code.startswith("00"):
        raise ValueError(f"HS code must be six digits (chapter 01-97), got {code!r}")
    return int(code)


def hs_code_str(number: int) -> str:
    """20230 -> "020230"."""
    return f"{number:06d}"


def quantity_to_chain(quantity: Decimal | int | str) -> int:
    """A quantity in units -> the integer PermitRegistry stores (thousandths): 12.5 -> 12500.

    Exact (no rounding anywhere).  ValueError for a value that is not a finite number, is
    below zero, has more than 3 decimals, or does not fit uint128.
    """
    if isinstance(quantity, (bool, float)):
        raise ValueError(f"quantity must be a Decimal, int or str, not {type(quantity).__name__}")
    try:
        q = Decimal(quantity)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"quantity must be a number, got {quantity!r}") from None
    if not q.is_finite() or q < 0:
        raise ValueError(f"quantity must be a finite number not below zero, got {quantity}")
    if q == 0:
        return 0
    if q.adjusted() > 38:  # above 10^39 units is above 2^128 thousandths anyway
        raise ValueError(f"quantity {quantity} is too large (at most {_MAX_UNITS} units)")
    _, digits, exponent = _stripped(q)
    if exponent < -QUANTITY_DECIMALS:
        raise ValueError(f"quantity {quantity} has more than {QUANTITY_DECIMALS} decimals")
    n = int("".join(map(str, digits))) * 10 ** (exponent + QUANTITY_DECIMALS)
    if n > MAX_CHAIN_QUANTITY:
        raise ValueError(f"quantity {quantity} is too large (at most {_MAX_UNITS} units)")
    return n


def quantity_from_chain(raw: int) -> Decimal:
    """12500 -> Decimal("12.5"), exactly."""
    if raw < 0:
        raise ValueError(f"on-chain quantities are not negative, got {raw}")
    return _plain(Decimal((0, tuple(int(c) for c in str(raw)), -QUANTITY_DECIMALS)))


# ---------------------------------------------------------------------------- the permit

Moment = date | datetime


@dataclass(frozen=True)
class Permit:
    """A permit as checked by `load_permit`; `hs_codes` ascending, quantity in `unit`."""

    permit_id: str
    agency: str
    holder: str
    hs_codes: tuple[str, ...]
    quantity: Decimal
    unit: str
    valid_from: Moment
    valid_to: Moment
    description: str

    @property
    def id_bytes(self) -> bytes:
        return permit_id_bytes(self.permit_id)

    @property
    def holder_hash(self) -> bytes:
        return holder_hash(self.holder)

    @property
    def hs_numbers(self) -> list[int]:
        return [hs_code_number(c) for c in self.hs_codes]

    @property
    def chain_quantity(self) -> int:
        return quantity_to_chain(self.quantity)

    @property
    def valid_from_ts(self) -> int:
        """First second of validity (unix time)."""
        return _start_ts(self.valid_from)

    @property
    def valid_to_ts(self) -> int:
        """Last second of validity (unix time), inclusive."""
        return _end_ts(self.valid_to)

    @property
    def document_hash(self) -> bytes:
        return document_hash(self)

    def to_json(self) -> dict[str, Any]:
        """The permit as its file holds it (the quantity as a JSON-safe string)."""
        return {
            "permit_id": self.permit_id,
            "agency": self.agency,
            "holder": self.holder,
            "hs_codes": list(self.hs_codes),
            "quantity": str(_plain(self.quantity)),
            "unit": self.unit,
            "valid_from": _iso(self.valid_from),
            "valid_to": _iso(self.valid_to),
            "description": self.description,
        }


def canonical_json(permit: Permit) -> bytes:
    """The canonical form whose sha256 is the document hash (see the module notes)."""
    values = permit.to_json()
    values["hs_codes"] = sorted(permit.hs_codes)
    parts = []
    for key in sorted(values):
        if key == "quantity":
            text = format(_plain(permit.quantity), "f")
        else:
            text = json.dumps(values[key], ensure_ascii=False, separators=(",", ":"))
        parts.append(f"{json.dumps(key)}:{text}")
    return ("{" + ",".join(parts) + "}").encode("utf-8")


def document_hash(permit: Permit) -> bytes:
    """sha256 of `canonical_json(permit)`: the permit's hash on chain."""
    return hashlib.sha256(canonical_json(permit)).digest()


def load_permit(data: bytes | str) -> Permit:
    """Parse and check a permit file; PermitRejected (see the module notes) if anything is off."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_PERMIT_BYTES:
        raise PermitRejected(
            "permit_too_large",
            f"the permit file has {len(raw)} bytes; at most {MAX_PERMIT_BYTES} are accepted",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PermitRejected(
            "permit_malformed", f"the permit file is not UTF-8 (byte {exc.start})"
        ) from None
    try:
        obj = json.loads(
            text,
            parse_float=Decimal,
            parse_int=Decimal,
            parse_constant=Decimal,  # NaN / Infinity: refused by the field checks
            object_pairs_hook=_no_duplicate_keys,
        )
    except _DuplicateKey as exc:
        raise PermitRejected(
            "permit_malformed", f"the key {exc.key!r} appears twice in one object"
        ) from None
    except ValueError as exc:
        raise PermitRejected("permit_malformed", f"the permit file is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise PermitRejected(
            "permit_malformed", f"a permit file holds one JSON object, not a {_kind(obj)}"
        )
    return permit_from_json(obj)


def permit_from_json(obj: Mapping[str, Any]) -> Permit:
    """Check a decoded permit object (as from `load_permit`, or an API body).

    Numbers may be Decimal or int (never float: a float has already lost digits).
    """
    issues: list[dict[str, str]] = []

    def problem(field: str, message: str) -> None:
        issues.append({"field": field, "message": message})

    missing = [f for f in FIELDS if f not in obj]
    extra = sorted(k for k in obj if k not in FIELDS)
    for f in missing:
        problem(f, "is missing")
    for f in extra:
        problem(f, f"is not a permit field (the fields are: {', '.join(FIELDS)})")

    def text(field: str, pattern: re.Pattern[str] | None, what: str) -> str:
        value = obj.get(field)
        if field not in obj:
            return ""
        if not isinstance(value, str):
            problem(field, f"must be a string, not a {_kind(value)}")
            return ""
        if pattern is not None and not pattern.fullmatch(value):
            problem(field, f"must be {what}, got {value!r}")
        return value

    permit_id = text("permit_id", _PERMIT_ID, "1-64 letters, digits or . _ / -")
    agency = text("agency", _MEMBER_ID, 'a member id such as "SG"')
    holder = text("holder", _IMPORTER_ID, "an importer id of 1-64 letters, digits or . _ / : -")
    description = text("description", None, "")
    if isinstance(obj.get("description"), str):
        if not description.strip():
            problem("description", "must not be empty")
        elif len(description) > MAX_DESCRIPTION:
            problem("description", f"has {len(description)} characters; at most {MAX_DESCRIPTION}")
    unit = text("unit", None, "")
    if isinstance(obj.get("unit"), str) and unit not in UNITS:
        problem("unit", f"{unit!r} is not a known UN/ECE Rec 20 code ({', '.join(sorted(UNITS))})")

    hs_codes = _check_hs_codes(obj.get("hs_codes"), problem) if "hs_codes" in obj else ()
    quantity = _check_quantity(obj.get("quantity"), problem) if "quantity" in obj else None
    valid_from = _check_moment(obj, "valid_from", problem)
    valid_to = _check_moment(obj, "valid_to", problem)
    if valid_from is not None and valid_to is not None:
        start, end = _start_ts(valid_from), _end_ts(valid_to)
        if end < start:
            problem("valid_to", f"{_iso(valid_to)} is before valid_from {_iso(valid_from)}")
        elif end == start:
            problem("valid_to", "the validity window must be longer than one second")

    if issues:
        listed = "; ".join(f"{i['field']} {i['message']}" for i in issues)
        raise PermitRejected("invalid_permit", f"the permit is not valid: {listed}", issues=issues)
    assert quantity is not None and valid_from is not None and valid_to is not None
    return Permit(
        permit_id=permit_id,
        agency=agency,
        holder=holder,
        hs_codes=hs_codes,
        quantity=quantity,
        unit=unit,
        valid_from=valid_from,
        valid_to=valid_to,
        description=description,
    )


# ---------------------------------------------------------------------------- field checks


def _check_hs_codes(value: Any, problem: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        problem("hs_codes", f"must be a list of six-digit strings, not a {_kind(value)}")
        return ()
    if not value:
        problem("hs_codes", "must list at least one HS code")
        return ()
    if len(value) > MAX_HS_CODES:
        problem("hs_codes", f"lists {len(value)} codes; at most {MAX_HS_CODES}")
    good: list[str] = []
    for i, code in enumerate(value):
        where = f"hs_codes[{i}]"
        if not isinstance(code, str):
            problem(
                where, f"must be a string of six digits (leading zeros kept), not a {_kind(code)}"
            )
        elif not _HS_CODE.fullmatch(code):
            problem(where, f"must be six digits, got {code!r}")
        elif not ("01" <= code[:2] <= "97") or code[:2] == "77":
            problem(where, f"{code!r} is not in an HS chapter (01-97, 77 is reserved)")
        elif code in good:
            problem(where, f"{code!r} is listed twice")
        else:
            good.append(code)
    return tuple(sorted(good))


def _check_quantity(value: Any, problem: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        problem("quantity", f"must be a JSON number, not a {_kind(value)}")
        return None
    q = Decimal(value)
    if not q.is_finite():
        problem("quantity", f"must be a finite number, got {value}")
        return None
    if q <= 0:
        problem("quantity", f"must be above zero, got {value}")
        return None
    try:
        quantity_to_chain(q)
    except ValueError as exc:
        problem("quantity", str(exc))
        return None
    return _plain(q)


def _check_moment(obj: Mapping[str, Any], field: str, problem: Any) -> Moment | None:
    if field not in obj:
        return None
    value = obj[field]
    if not isinstance(value, str):
        problem(field, f"must be an ISO 8601 date or date-time string, not a {_kind(value)}")
        return None
    try:
        if _DATE.fullmatch(value):
            moment: Moment = date.fromisoformat(value)
        elif _DATETIME.fullmatch(value):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            problem(
                field,
                f"must be a date (2026-01-31) or a date-time with its UTC offset "
                f"(2026-01-31T08:00:00+08:00), got {value!r}",
            )
            return None
    except ValueError as exc:
        problem(field, f"{value!r} is not a real date or time ({exc})")
        return None
    if (_start_ts if field == "valid_from" else _end_ts)(moment) < 0:
        problem(field, f"{value!r} is before 1970")
        return None
    return moment


# ---------------------------------------------------------------------------- helpers


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _stripped(q: Decimal) -> tuple[int, tuple[int, ...], int]:
    """(sign, digits, exponent) of a finite `q` without trailing zeros after the point."""
    sign, digits, exponent = q.as_tuple()
    assert isinstance(exponent, int)
    kept = list(digits)
    while exponent < 0 and len(kept) > 1 and kept[-1] == 0:
        kept.pop()
        exponent += 1
    return sign, tuple(kept), exponent


def _plain(q: Decimal) -> Decimal:
    """12.500 -> 12.5 and 2E+4 -> 20000: no trailing zeros, no exponent; exact (no context)."""
    if q == 0:
        return Decimal(0)
    sign, digits, exponent = _stripped(q)
    if exponent > 0:
        digits, exponent = digits + (0,) * exponent, 0
    return Decimal((sign, digits, exponent))


def _start_ts(moment: Moment) -> int:
    if isinstance(moment, datetime):
        return int(moment.timestamp())
    return int(datetime.combine(moment, time(0, 0), tzinfo=UTC).timestamp())


def _end_ts(moment: Moment) -> int:
    if isinstance(moment, datetime):
        return int(moment.timestamp())
    next_day = datetime.combine(moment, time(0, 0), tzinfo=UTC) + timedelta(days=1)
    return int(next_day.timestamp()) - 1


def _iso(moment: Moment) -> str:
    return moment.isoformat()
