"""Customs declarations: one model, loaded from XML or JSON, and the hash oracles attest.

A declaration arrives as XML (`load_declaration_xml`: the hardened `offchain.xmlsafe`
loader, then `offchain/schemas/declaration.xsd` through `offchain.documents.validate`) or as
JSON (`load_declaration_json`).  Both end in `Declaration.model_validate`, so every rule
below is checked once, the same way, for both forms:

- structure: every required field, no unknown field, right types, text without leading or
  trailing whitespace, identifiers of 1-35 letters, digits and . _ / -
  (`invalid_declaration`; `schema_invalid` and the `xml_*` codes for XML);
- numbers: `not_finite` (NaN, Infinity), `negative_value`, `invalid_number` (zero where a
  positive number is needed, too many digits or decimals, not a number);
- codes: `invalid_hs_code` (not 6-10 digits), `invalid_country` (not ISO 3166-1 alpha-2),
  `invalid_currency` (not ISO 4217), `unknown_unit` (not a UN/ECE Rec 20 code we know),
  `invalid_date`, `unknown_doc_type`;
- consistency: `no_items`, `duplicate_item_sequence`, `duplicate_document`,
  `totals_mismatch` (totals differ from the items), `invalid_receipt`,
  `receipt_mismatch` (an embedded receipt for another document),
  `unknown_document_reference` (a preference claim naming a certificate that is not
  referenced, or not a certificate of origin), `duplicate_transport_document` (the same
  transport document line cited twice);
- plausibility, when lodged (`check_dates`, not part of loading: a declaration lodged last
  year still loads today): `date_in_future`, `date_too_old` for any date of the declaration
  outside the node's `dates` window (see `offchain.dates`).

The XSD checks structure and number ranges for XML before the model sees it, so such a
problem in XML is `schema_invalid` (with line and element path) where JSON gets the
specific code; list lookups and consistency give the same code for both forms.

`declaration_hash` is SHA-256 over `canonical_json`: sorted keys, no whitespace, decimals
in their shortest plain form (`120.000` and `120` are the same value), dates as ISO text,
absent optional fields omitted.  The XML and JSON forms of one declaration hash the same.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from lxml import etree
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from offchain import doctypes, documents
from offchain.dates import DateOutOfRange, DateWindow
from offchain.doctypes import SCHEMA_DIR, DocType
from offchain.errors import DocumentRejected, OffchainError
from offchain.receipt import Receipt
from offchain.xmlsafe import XmlLimits, load_xml

NAMESPACE = "urn:smartcustoms:doc:declaration:1"
MAX_JSON_BYTES = 5 * 1024 * 1024
MAX_JSON_DEPTH = 32  # a declaration nests 5 levels (receipt proof); the C parser crashes deep
MAX_ITEMS = 999
MAX_DOCUMENTS = 99
MAX_PERMITS = 20
MAX_TRANSPORT_DOCUMENTS = 99
# Transport documents a declaration cites and a cargo manifest lists (offchain/manifests.py):
# bill of lading, house bill, sea waybill, air waybill, house air waybill, road (CMR) and
# rail (CIM) consignment notes.
TRANSPORT_DOCUMENT_TYPES = ("BL", "HBL", "SWB", "AWB", "HAWB", "CMR", "CIM")
MAX_REPORTED_ISSUES = 5

# Not a trade document: code 0 is no DocumentRegistry type (anchorBatch refuses it).
DECLARATION = DocType(
    name="declaration",
    code=0,
    namespace=NAMESPACE,
    root="Declaration",
    xsd=SCHEMA_DIR / "declaration.xsd",
)

# -- code lists -----------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# ISO 3166-1 alpha-2 (249 codes, from the Debian iso-codes 4.15 tables).
COUNTRY_CODES: frozenset[str] = _words(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
    """
)

# ISO 4217 currencies a customs value can be stated in: the active codes, with both sides
# of the recent changeovers (ANG/XCG, SLL/SLE, ZWL/ZWG), without HRK (replaced by EUR in
# 2023), fund codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW), precious metals (XAU,
# XAG, XPD, XPT), bond-market units (XBA-XBD), XSU, XUA and the test / no-currency codes
# XTS and XXX.
CURRENCY_CODES: frozenset[str] = _words(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR
    FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD
    JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT
    MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
    TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XDR
    XOF XPF YER ZAR ZMW ZWG ZWL
    """
)

# UN/ECE Recommendation 20 units seen on customs declarations.
UNIT_CODES: Mapping[str, str] = {
    "KGM": "kilogram",
    "GRM": "gram",
    "TNE": "tonne",
    "LBR": "pound",
    "CTM": "carat (metric)",
    "LTR": "litre",
    "MLT": "millilitre",
    "MTQ": "cubic metre",
    "MTR": "metre",
    "CMT": "centimetre",
    "MMT": "millimetre",
    "MTK": "square metre",
    "CMK": "square centimetre",
    "C62": "one (unit)",
    "H87": "piece",
    "NAR": "number of articles",
    "NPR": "number of pairs",
    "PR": "pair",
    "DZN": "dozen",
    "T3": "thousand pieces",
    "SET": "set",
    "KWH": "kilowatt hour",
    "BX": "box",
}

# -- errors ---------------------------------------------------------------------------------

RULE_CODES = frozenset(
    {
        "not_finite",
        "negative_value",
        "invalid_number",
        "invalid_hs_code",
        "invalid_country",
        "invalid_currency",
        "unknown_unit",
        "invalid_date",
        "unknown_doc_type",
        "no_items",
        "duplicate_item_sequence",
        "duplicate_document",
        "totals_mismatch",
        "invalid_receipt",
        "receipt_mismatch",
        "unknown_document_reference",
        "duplicate_transport_document",
    }
)


class DeclarationRejected(OffchainError):
    """A declaration was refused before any oracle saw it.

    `code` is one of the codes of the module docstring (or an `xmlsafe` code for hostile or
    malformed XML), `detail` says what and where, `path` names the field
    (`items[1].hs_code` for JSON, `/Declaration/Items/Item[2]/HSCode` for XML), `line` the
    XML line when known, `issues` each problem found (up to five).
    """

    code: str = "declaration_rejected"

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        path: str | None = None,
        line: int | None = None,
        issues: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.path = path
        self.line = line
        self.issues = tuple(issues)


def _fail(code: str, detail: str) -> PydanticCustomError:
    # The text goes through a context variable: braces in user input must not be formatted.
    return PydanticCustomError(code, "{detail}", {"detail": detail})


# -- field types ----------------------------------------------------------------------------

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


# -- the model ------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Declarant(_Model):
    id: ID
    id_scheme: ID  # e.g. TW-BAN, SG-UEN
    name: Name


class Importer(_Model):
    id: ID
    id_scheme: ID
    name: Name
    country: Country


class Exporter(_Model):
    name: Name
    country: Country
    id: ID | None = None
    id_scheme: ID | None = None

    @model_validator(mode="after")
    def _id_with_scheme(self) -> Exporter:
        if (self.id is None) != (self.id_scheme is None):
            raise ValueError("give the exporter's id and id_scheme together, or neither")
        return self


class Transport(_Model):
    mode: Annotated[str, PlainValidator(_check_mode)]  # UN/ECE Rec 19: 1 sea ... 4 air, 5 post
    means_id: ID | None = None
    means_name: ShortText | None = None


class PreferenceClaim(_Model):
    agreement: Annotated[str, PlainValidator(_check_agreement)]
    certificate: Hash | None = None  # doc_hash of a referenced certificate of origin


class Item(_Model):
    sequence: Sequence4
    description: Text
    hs_code: HSCode
    quantity: Measure
    unit: Unit
    customs_value: Amount  # in the declaration's currency
    net_mass_kg: Measure
    origin_country: Country
    permits: tuple[ID, ...] = Field(default=(), max_length=MAX_PERMITS)
    preference: PreferenceClaim | None = None

    @field_validator("permits")
    @classmethod
    def _unique_permits(cls, permits: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(permits)) != len(permits):
            raise ValueError(f"permit references repeat: {list(permits)}")
        return permits


class DocumentReference(_Model):
    doc_type: DocTypeName
    doc_hash: Hash
    receipt: ReceiptField | None = None

    @model_validator(mode="after")
    def _receipt_matches(self) -> DocumentReference:
        r = self.receipt
        if r is not None and (r.doc_hash != self.doc_hash or r.doc_type != self.doc_type):
            raise _fail(
                "receipt_mismatch",
                f"the receipt is for {r.doc_type} {r.doc_hash}, not {self.doc_type} "
                f"{self.doc_hash}",
            )
        return self


class TransportDocumentRef(_Model):
    """The transport document line the declared goods travel under, as the carrier's cargo
    manifest lists it (offchain/manifests.py), with the packages and gross mass this
    declaration covers: clearance checks them against the manifest line."""

    type: Literal["BL", "HBL", "SWB", "AWB", "HAWB", "CMR", "CIM"]
    number: ID
    line: Sequence4 = 1
    packages: Annotated[int, Strict(), Field(ge=1, le=99_999_999)]
    gross_mass_kg: Measure


class Totals(_Model):
    item_count: Sequence4
    customs_value: Amount
    net_mass_kg: Measure


class Declaration(_Model):
    """A customs goods declaration (import `IM` or export `EX`)."""

    declaration_id: ID
    date: DateField
    office: ID  # customs office of lodgement
    type: Literal["IM", "EX"]
    declarant: Declarant
    importer: Importer
    exporter: Exporter
    origin_country: Country
    departure_country: Country
    transport: Transport
    currency: Currency
    exchange_rate: Rate | None = None  # national currency per unit of `currency`
    items: tuple[Item, ...]
    documents: tuple[DocumentReference, ...] = Field(default=(), max_length=MAX_DOCUMENTS)
    # None when not given, so declarations that cite no transport document hash as before.
    transport_documents: tuple[TransportDocumentRef, ...] | None = Field(
        default=None, max_length=MAX_TRANSPORT_DOCUMENTS
    )
    totals: Totals

    @field_validator("items")
    @classmethod
    def _items(cls, items: tuple[Item, ...]) -> tuple[Item, ...]:
        if not items:
            raise _fail("no_items", "a declaration needs at least one item")
        if len(items) > MAX_ITEMS:
            raise ValueError(f"at most {MAX_ITEMS} items per declaration, got {len(items)}")
        seen: set[int] = set()
        for item in items:
            if item.sequence in seen:
                raise _fail(
                    "duplicate_item_sequence",
                    f"item sequence number {item.sequence} is used more than once",
                )
            seen.add(item.sequence)
        return items

    @field_validator("documents")
    @classmethod
    def _documents(cls, refs: tuple[DocumentReference, ...]) -> tuple[DocumentReference, ...]:
        hashes = [r.doc_hash for r in refs]
        for h in hashes:
            if hashes.count(h) > 1:
                raise _fail("duplicate_document", f"document {h} is referenced more than once")
        return refs

    @field_validator("transport_documents")
    @classmethod
    def _transport_documents(
        cls, refs: tuple[TransportDocumentRef, ...] | None
    ) -> tuple[TransportDocumentRef, ...] | None:
        if not refs:
            return None
        seen: set[tuple[str, int]] = set()
        for r in refs:
            if (r.number, r.line) in seen:
                raise _fail(
                    "duplicate_transport_document",
                    f"transport document {r.number} line {r.line} is cited more than once",
                )
            seen.add((r.number, r.line))
        return refs

    @model_validator(mode="after")
    def _consistent(self) -> Declaration:
        t = self.totals
        problems = []
        if t.item_count != len(self.items):
            problems.append(f"item_count {t.item_count} but {len(self.items)} item(s)")
        value = sum((i.customs_value for i in self.items), Decimal(0))
        if t.customs_value != value:
            problems.append(f"customs_value {t.customs_value} but the items add up to {value}")
        mass = sum((i.net_mass_kg for i in self.items), Decimal(0))
        if t.net_mass_kg != mass:
            problems.append(f"net_mass_kg {t.net_mass_kg} but the items add up to {mass}")
        if problems:
            raise _fail("totals_mismatch", "totals: " + "; ".join(problems))
        certificates = {r.doc_hash for r in self.documents if r.doc_type == "certificate-of-origin"}
        for item in self.items:
            claim = item.preference
            if claim and claim.certificate and claim.certificate not in certificates:
                raise _fail(
                    "unknown_document_reference",
                    f"item {item.sequence} claims {claim.agreement} with certificate "
                    f"{claim.certificate}, which is not a certificate-of-origin among the "
                    "declaration's documents",
                )
        return self

    def to_json(self) -> dict[str, Any]:
        """The JSON form (what `load_declaration_json` takes), optional empties omitted."""
        return _canonical_value(self)


def check_dates(decl: Declaration, window: DateWindow, *, today: date | None = None) -> Declaration:
    """Refuse a declaration with any date outside `window` (every date field, nested ones
    and fields added later included): `DeclarationRejected` `date_in_future` or
    `date_too_old`, naming the field.  Run when a declaration is lodged, not when it loads.
    """
    for loc, value in _dates_in(decl, ()):
        try:
            window.check(value, _json_path(loc), today=today)
        except DateOutOfRange as exc:
            raise DeclarationRejected(exc.code, exc.detail, path=_json_path(loc)) from None
    return decl


def _dates_in(value: Any, loc: tuple[Any, ...]):
    if isinstance(value, datetime):  # a date and time: its calendar day where it was written
        yield loc, value.date()
    elif isinstance(value, date):
        yield loc, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _dates_in(getattr(value, name), (*loc, name))
    elif isinstance(value, tuple | list):
        for i, v in enumerate(value):
            yield from _dates_in(v, (*loc, i))


# -- loading --------------------------------------------------------------------------------


def load_declaration_json(
    obj: Mapping[str, Any] | str | bytes, *, max_bytes: int = MAX_JSON_BYTES
) -> Declaration:
    """Validate a declaration given as a JSON object (or its text) into a `Declaration`.

    Raises `DeclarationRejected`: `declaration_too_large`, `invalid_json` (not JSON, not
    an object, a key given twice), or any code of the module docstring.
    """
    if isinstance(obj, str | bytes | bytearray):
        if len(obj) > max_bytes:
            raise DeclarationRejected(
                "declaration_too_large",
                f"the declaration is {len(obj):,} bytes; the limit is {max_bytes:,} bytes",
            )
        raw = obj.encode("utf-8", "surrogatepass") if isinstance(obj, str) else bytes(obj)
        if _json_too_deep(raw, MAX_JSON_DEPTH):
            raise DeclarationRejected(
                "invalid_json", f"JSON nested more than {MAX_JSON_DEPTH} levels deep"
            )
        try:
            obj = json.loads(obj, object_pairs_hook=_no_repeated_keys)
        except (ValueError, RecursionError) as exc:
            raise DeclarationRejected("invalid_json", f"not valid JSON: {exc}") from None
    if not isinstance(obj, Mapping):
        raise DeclarationRejected(
            "invalid_json", f"a declaration is a JSON object, not {type(obj).__name__}"
        )
    return _validate(dict(obj), _json_path)


def load_declaration_xml(data: bytes, limits: XmlLimits | None = None) -> Declaration:
    """Load a declaration in XML through the one hardened loader and the declaration XSD.

    `limits` are the node's XML caps (`XmlLimits()` defaults).  Raises `DeclarationRejected`
    with an `offchain.xmlsafe` code (hostile or malformed XML: DTDs, entities, processing
    instructions, too large or deep, not UTF-8), `wrong_root`, `schema_invalid` (with line
    and element path), or any code of the module docstring.
    """
    limits = limits or XmlLimits()
    try:
        root = load_xml(data, max_bytes=limits.max_bytes, max_depth=limits.max_depth)
        documents.validate(root, DECLARATION)
    except DocumentRejected as exc:
        raise DeclarationRejected(exc.code, exc.detail, line=exc.line, issues=exc.issues) from None
    return _validate(_from_xml(root), lambda loc: _xml_path(loc), root)


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def _json_too_deep(data: bytes, limit: int) -> bool:
    """True when arrays/objects nest deeper than `limit`, checked before parsing.

    CPython's C JSON decoder recurses per level: a few hundred thousand `[` make it raise
    RecursionError, and freeing the half-built lists can then overflow the C stack and kill
    the process.  Brackets inside strings do not count; the loop stops at the first level
    too deep, so hostile input costs microseconds.
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    depth = 0
    for byte in _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", data)):
        depth += 1 if byte in (0x5B, 0x7B) else -1
        if depth > limit:
            return True
    return False


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice in one object")
        out[key] = value
    return out


def _validate(
    data: dict[str, Any], path_of: Any, root: etree._Element | None = None
) -> Declaration:
    try:
        return Declaration.model_validate(data)
    except ValidationError as exc:
        raise _rejection(exc, path_of, root) from None


def _rejection(
    exc: ValidationError, path_of: Any, root: etree._Element | None
) -> DeclarationRejected:
    errors = exc.errors(include_url=False, include_input=False)
    issues = []
    for err in errors[:MAX_REPORTED_ISSUES]:
        loc = tuple(err["loc"])
        message = err["ctx"]["detail"] if err["type"] in RULE_CODES else err["msg"]
        message = message.removeprefix("Value error, ")
        issues.append(
            {"code": _code_of(err["type"]), "path": path_of(loc), "message": message,
             "line": _xml_line(root, loc) if root is not None else None}
        )  # fmt: skip
    first = issues[0]
    detail = "; ".join(f"{i['path'] or 'declaration'}: {i['message']}" for i in issues)
    if len(errors) > MAX_REPORTED_ISSUES:
        detail += f"; and {len(errors) - MAX_REPORTED_ISSUES} more problem(s)"
    return DeclarationRejected(
        first["code"], detail, path=first["path"], line=first["line"], issues=issues
    )


def _code_of(pydantic_type: str) -> str:
    return pydantic_type if pydantic_type in RULE_CODES else "invalid_declaration"


def _json_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# -- XML <-> model --------------------------------------------------------------------------

# JSON field -> XML element (or element/@attribute), relative to the parent element.
_ELEMENT = {
    "declaration_id": "DeclarationID",
    "date": "DeclarationDate",
    "office": "CustomsOfficeID",
    "type": "TypeCode",
    "declarant": "Declarant",
    "importer": "Importer",
    "exporter": "Exporter",
    "origin_country": "OriginCountryCode",
    "departure_country": "DepartureCountryCode",
    "transport": "TransportMeans",
    "currency": "CurrencyCode",
    "exchange_rate": "ExchangeRate",
    "items": "Items/Item",
    "documents": "DocumentReferences/DocumentReference",
    "totals": "Totals",
    "id": "ID",
    "id_scheme": "ID/@schemeID",
    "name": "Name",
    "country": "CountryCode",
    "mode": "ModeCode",
    "means_id": "MeansID",
    "means_name": "MeansName",
    "sequence": "SequenceNumeric",
    "description": "Description",
    "hs_code": "HSCode",
    "quantity": "Quantity",
    "unit": "Quantity/@unitCode",
    "customs_value": "CustomsValue",
    "net_mass_kg": "NetWeight",
    "permits": "PermitReferences/PermitID",
    "preference": "PreferenceClaim",
    "agreement": "AgreementCode",
    "certificate": "CertificateHash",
    "doc_type": "DocumentTypeCode",
    "doc_hash": "DocumentHash",
    "receipt": "Receipt",
    "item_count": "ItemCount",
    "transport_documents": "TransportDocuments/TransportDocument",
    "number": "ID",
    "line": "LineNumeric",
    "packages": "PackageQuantity",
    "gross_mass_kg": "GrossWeight",
}
_NS = {"d": NAMESPACE}


def _xml_path(loc: tuple[Any, ...]) -> str:
    """`("items", 1, "hs_code")` -> `/Declaration/Items/Item[2]/HSCode`."""
    parts = ["", "Declaration"]
    for part in loc:
        if isinstance(part, int):
            parts[-1] += f"[{part + 1}]"
        elif part in _ELEMENT:
            parts.append(_ELEMENT[part])
    return "/".join(parts)


def _xml_line(root: etree._Element, loc: tuple[Any, ...]) -> int | None:
    path = _xml_path(loc).split("/@")[0]
    steps = [s for s in path.split("/") if s]
    xpath = "/" + "/".join(f"d:{s}" for s in steps)
    try:
        found = root.getroottree().xpath(xpath, namespaces=_NS)
    except etree.XPathError:
        return None
    return found[0].sourceline if found else root.sourceline


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _text_of(parent: etree._Element, name: str) -> str | None:
    """The element's text; XML whitespace around it is dropped, as the XSD's decimal and
    date types do (free text and codes cannot have any: their patterns refuse it)."""
    el = parent.find(_q(name))
    return None if el is None else _strip(el.text)


def _strip(text: str | None) -> str:
    return (text or "").strip(" \t\n\r")


def _party(el: etree._Element | None, *fields: str) -> dict[str, Any] | None:
    if el is None:
        return None
    out: dict[str, Any] = {}
    for f in fields:
        if f == "id_scheme":
            id_el = el.find(_q("ID"))
            if id_el is not None:
                out["id_scheme"] = id_el.get("schemeID")
        else:
            value = _text_of(el, _ELEMENT[f])
            if value is not None:
                out[f] = value
    return out


def _from_xml(root: etree._Element) -> dict[str, Any]:
    """The JSON form of an XSD-valid declaration tree (values still text: the model parses)."""
    d: dict[str, Any] = {}
    for f in ("declaration_id", "date", "office", "type", "origin_country", "departure_country",
              "currency", "exchange_rate"):  # fmt: skip
        value = _text_of(root, _ELEMENT[f])
        if value is not None:
            d[f] = value
    d["declarant"] = _party(root.find(_q("Declarant")), "id", "id_scheme", "name")
    d["importer"] = _party(root.find(_q("Importer")), "id", "id_scheme", "name", "country")
    d["exporter"] = _party(root.find(_q("Exporter")), "name", "country", "id", "id_scheme")
    d["transport"] = _party(root.find(_q("TransportMeans")), "mode", "means_id", "means_name")
    d["items"] = [_item_from_xml(el) for el in root.iterfind("d:Items/d:Item", _NS)]
    d["documents"] = [
        {
            k: v
            for k, v in (
                ("doc_type", _text_of(el, "DocumentTypeCode")),
                ("doc_hash", _text_of(el, "DocumentHash")),
                ("receipt", _receipt_from_xml(_text_of(el, "Receipt"))),
            )
            if v is not None
        }
        for el in root.iterfind("d:DocumentReferences/d:DocumentReference", _NS)
    ]
    refs = root.findall("d:TransportDocuments/d:TransportDocument", _NS)
    if refs:
        d["transport_documents"] = [
            {
                "type": _text_of(el, "TypeCode"),
                "number": _text_of(el, "ID"),
                "line": int(_text_of(el, "LineNumeric") or 0),
                "packages": int(_text_of(el, "PackageQuantity") or 0),
                "gross_mass_kg": _text_of(el, "GrossWeight"),
            }
            for el in refs
        ]
    totals = root.find(_q("Totals"))
    d["totals"] = {
        "item_count": int(_text_of(totals, "ItemCount") or 0),
        "customs_value": _text_of(totals, "CustomsValue"),
        "net_mass_kg": _text_of(totals, "NetWeight"),
    }
    return {k: v for k, v in d.items() if v is not None}


def _item_from_xml(el: etree._Element) -> dict[str, Any]:
    quantity = el.find(_q("Quantity"))
    item: dict[str, Any] = {
        "sequence": int(_text_of(el, "SequenceNumeric") or 0),
        "description": _text_of(el, "Description"),
        "hs_code": _text_of(el, "HSCode"),
        "quantity": _strip(quantity.text) if quantity is not None else None,
        "unit": quantity.get("unitCode") if quantity is not None else None,
        "customs_value": _text_of(el, "CustomsValue"),
        "net_mass_kg": _text_of(el, "NetWeight"),
        "origin_country": _text_of(el, "OriginCountryCode"),
        "permits": [_strip(p.text) for p in el.iterfind("d:PermitReferences/d:PermitID", _NS)],
    }
    claim = el.find(_q("PreferenceClaim"))
    if claim is not None:
        item["preference"] = {
            k: v
            for k, v in (
                ("agreement", _text_of(claim, "AgreementCode")),
                ("certificate", _text_of(claim, "CertificateHash")),
            )
            if v is not None
        }
    return item


def _receipt_from_xml(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text, object_pairs_hook=_no_repeated_keys)
    except (ValueError, RecursionError) as exc:
        return f"not JSON: {exc}"  # the model's receipt check reports it as invalid_receipt


def declaration_to_xml(decl: Declaration) -> bytes:
    """The XML form of a declaration (UTF-8, indented); it loads back to an equal model."""
    root = etree.Element(_q("Declaration"), nsmap={None: NAMESPACE})

    def add(parent: etree._Element, name: str, value: Any, **attrs: str) -> etree._Element:
        el = etree.SubElement(parent, _q(name), **attrs)
        if value is not None:
            el.text = _plain(value) if isinstance(value, Decimal) else str(value)
        return el

    def party(name: str, p: Any, with_country: bool, id_last: bool) -> None:
        el = add(root, name, None)
        if not id_last:
            add(el, "ID", p.id, schemeID=p.id_scheme)
        add(el, "Name", p.name)
        if with_country:
            add(el, "CountryCode", p.country)
        if id_last and p.id is not None:
            add(el, "ID", p.id, schemeID=p.id_scheme)

    add(root, "DeclarationID", decl.declaration_id)
    add(root, "DeclarationDate", decl.date.isoformat())
    add(root, "CustomsOfficeID", decl.office)
    add(root, "TypeCode", decl.type)
    party("Declarant", decl.declarant, with_country=False, id_last=False)
    party("Importer", decl.importer, with_country=True, id_last=False)
    party("Exporter", decl.exporter, with_country=True, id_last=True)
    add(root, "OriginCountryCode", decl.origin_country)
    add(root, "DepartureCountryCode", decl.departure_country)
    transport = add(root, "TransportMeans", None)
    add(transport, "ModeCode", decl.transport.mode)
    if decl.transport.means_id is not None:
        add(transport, "MeansID", decl.transport.means_id)
    if decl.transport.means_name is not None:
        add(transport, "MeansName", decl.transport.means_name)
    if decl.transport_documents:
        refs = add(root, "TransportDocuments", None)
        for ref in decl.transport_documents:
            el = add(refs, "TransportDocument", None)
            add(el, "TypeCode", ref.type)
            add(el, "ID", ref.number)
            add(el, "LineNumeric", ref.line)
            add(el, "PackageQuantity", ref.packages)
            add(el, "GrossWeight", ref.gross_mass_kg, unitCode="KGM")
    add(root, "CurrencyCode", decl.currency)
    if decl.exchange_rate is not None:
        add(root, "ExchangeRate", decl.exchange_rate)
    items = add(root, "Items", None)
    for item in decl.items:
        el = add(items, "Item", None)
        add(el, "SequenceNumeric", item.sequence)
        add(el, "Description", item.description)
        add(el, "HSCode", item.hs_code)
        add(el, "Quantity", item.quantity, unitCode=item.unit)
        add(el, "CustomsValue", item.customs_value)
        add(el, "NetWeight", item.net_mass_kg, unitCode="KGM")
        add(el, "OriginCountryCode", item.origin_country)
        if item.permits:
            permits = add(el, "PermitReferences", None)
            for permit in item.permits:
                add(permits, "PermitID", permit)
        if item.preference is not None:
            claim = add(el, "PreferenceClaim", None)
            add(claim, "AgreementCode", item.preference.agreement)
            if item.preference.certificate is not None:
                add(claim, "CertificateHash", item.preference.certificate)
    if decl.documents:
        refs = add(root, "DocumentReferences", None)
        for doc in decl.documents:
            el = add(refs, "DocumentReference", None)
            add(el, "DocumentTypeCode", doc.doc_type)
            add(el, "DocumentHash", doc.doc_hash)
            if doc.receipt is not None:
                add(el, "Receipt", json.dumps(doc.receipt.to_json(), sort_keys=True))
    totals = add(root, "Totals", None)
    add(totals, "ItemCount", decl.totals.item_count)
    add(totals, "CustomsValue", decl.totals.customs_value)
    add(totals, "NetWeight", decl.totals.net_mass_kg, unitCode="KGM")
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8") + b"\n"


# -- canonical form and hash ----------------------------------------------------------------


def _canonical_value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        out = {}
        for name in type(value).model_fields:
            v = getattr(value, name)
            if v is not None:
                out[name] = _canonical_value(v)
        return out
    if isinstance(value, tuple | list):
        return [_canonical_value(v) for v in value]
    if isinstance(value, Decimal):
        return _plain(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Receipt):
        return value.to_json()
    return value


def canonical_json(decl: Declaration) -> bytes:
    """The bytes that are hashed: the JSON form with sorted keys and no whitespace, UTF-8.

    Decimals are strings in their shortest plain form ("120", "0.5"), so the value and not
    its spelling is hashed; absent optional fields are left out; lists keep their order.
    """
    return json.dumps(
        _canonical_value(decl), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def declaration_hash(decl: Declaration) -> bytes:
    """SHA-256 of `canonical_json(decl)`: the 32-byte subject the oracles attest."""
    return hashlib.sha256(canonical_json(decl)).digest()
