"""Cargo manifests (advance cargo information): one model, loaded from XML or JSON, anchored
like trade documents, and the matching of declarations against their lines.

A carrier or forwarder reports the cargo of one voyage or flight before it arrives (type
`IM`, lodged at the importing customs node) or before it leaves (`EX`, lodged at the
exporting node, which forwards it to the importing one).  Each line is one transport
document line (bill of lading, air waybill ... and its line number): consignor, consignee,
goods description, HS code where known, packages, gross mass, containers and seals.

Loading (`load_manifest`): XML goes through the one hardened loader and
`offchain/schemas/cargo-manifest.xsd` (`offchain.documents.prepare`, so every `xml_*` code
applies: DTDs, entities, processing instructions, size, depth, encoding); JSON is capped in
size and nesting, keys may not repeat, and it is written out as the same XML and validated
by the same schema.  Both then load into `Manifest`, which checks what the schema cannot:
`invalid_country`, `invalid_container` (ISO 6346 check digit), `duplicate_line`,
`totals_mismatch`, `invalid_dates` (arrival before departure), `same_port`.  The anchored
form is the canonical XML (C14N 2.0, as for trade documents): of the uploaded file for XML,
of the node's XML rendering for JSON.

Plausibility is judged when a manifest is lodged, not when it loads (`check_arrival`):
`arrival_too_far` / `arrival_too_old`; a manifest lodged after its arrival (less than the
configured lead time before it) is accepted and flagged late (`is_late`).

Matching (`match_citations`) is a pure function of a declaration's items and the cited
lines as the node found them: every clearance oracle instance runs it on the same input and
gets the same answer, so the result can be attested with the decision.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from lxml import etree
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    Strict,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from offchain import documents
from offchain.declarations import (
    COUNTRY_CODES,
    ID,
    MAX_JSON_DEPTH,
    Country,
    Measure,
    Name,
    Sequence4,
    ShortText,
    Text,
)
from offchain.declarations import _json_too_deep as json_too_deep
from offchain.declarations import _no_repeated_keys as no_repeated_keys
from offchain.doctypes import CARGO_MANIFEST
from offchain.documents import PreparedDocument
from offchain.errors import DocumentRejected, OffchainError
from offchain.hexbytes import hex0x
from offchain.xmlsafe import XmlLimits, load_xml

NAMESPACE = CARGO_MANIFEST.namespace
MAX_LINES = 9999
MAX_CONTAINERS = 99
MAX_SEALS = 9
MAX_REPORTED_ISSUES = 5
PACKAGES_MAX = 99_999_999

# -- errors ---------------------------------------------------------------------------------

RULE_CODES = frozenset(
    {
        "invalid_country",
        "invalid_container",
        "invalid_datetime",
        "invalid_location",
        "invalid_hs_code",
        "duplicate_line",
        "totals_mismatch",
        "invalid_dates",
        "same_port",
        "not_finite",
        "negative_value",
        "invalid_number",
    }
)


class ManifestRejected(OffchainError):
    """A manifest refused before anything was stored or anchored.

    `code` is one of the module docstring's codes (or an `xmlsafe` / schema code), `detail`
    what and where, `path` the field (`lines[3].containers[0].number` for JSON,
    `/CargoManifest/Lines/Line[4]/Containers/Container/ID` for XML), `line` the XML line when
    known, `issues` each problem found (up to five).  413 too large, 400 for bytes that are
    not XML / JSON at all, 415 for another media type, else 422.
    """

    code: str = "manifest_rejected"

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        path: str | None = None,
        line: int | None = None,
        issues: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(code, detail)
        self.path = path
        self.line = line
        self.issues = tuple(issues)


def _fail(code: str, detail: str) -> PydanticCustomError:
    return PydanticCustomError(code, "{detail}", {"detail": detail})


# -- field types ----------------------------------------------------------------------------

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


def _check_mode(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not re.fullmatch(r"[1-9]", value):
        raise ValueError(f"{value!r} is not a UN/ECE Rec 19 transport mode (1 to 9)")
    return value


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


# -- the model ------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Carrier(_Model):
    id: ID  # SCAC for shipping lines, IATA code for airlines, a trader number for forwarders
    id_scheme: ID
    name: Name


class ManifestTransport(_Model):
    mode: Annotated[str, PlainValidator(_check_mode)]
    means_id: ID  # IMO number, aircraft or vehicle registration
    journey: ID  # voyage or flight number
    means_name: ShortText | None = None


class Party(_Model):
    name: Name
    country: Country
    id: ID | None = None
    id_scheme: ID | None = None

    @model_validator(mode="after")
    def _id_with_scheme(self) -> Party:
        if (self.id is None) != (self.id_scheme is None):
            raise ValueError("give the party's id and id_scheme together, or neither")
        return self


class TransportDocument(_Model):
    type: TransportDocumentType
    number: ID
    line: Sequence4 = 1


class Container(_Model):
    number: ContainerNumber
    seals: tuple[ID, ...] = Field(default=(), max_length=MAX_SEALS)


class ManifestLine(_Model):
    transport_document: TransportDocument
    consignor: Party
    consignee: Party
    description: Text
    packages: Packages
    package_type: Annotated[str, PlainValidator(_check_package_type)]
    gross_mass_kg: Measure
    hs_code: ManifestHS | None = None
    containers: tuple[Container, ...] = Field(default=(), max_length=MAX_CONTAINERS)

    @property
    def key(self) -> tuple[str, int]:
        return (self.transport_document.number, self.transport_document.line)


class ManifestTotals(_Model):
    line_count: LineCount
    packages: TotalPackages
    gross_mass_kg: Measure


class Manifest(_Model):
    """A cargo manifest: the cargo of one voyage or flight, line by line."""

    manifest_id: ID
    type: Literal["IM", "EX"]
    carrier: Carrier
    transport: ManifestTransport
    loading_port: Locode
    discharge_port: Locode
    arrival: AwareDateTime
    lines: tuple[ManifestLine, ...] = Field(min_length=1, max_length=MAX_LINES)
    totals: ManifestTotals
    departure: AwareDateTime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if self.loading_port == self.discharge_port:
            raise _fail(
                "same_port", f"the ports of loading and discharge are both {self.loading_port}"
            )
        if self.departure is not None and self.departure >= self.arrival:
            raise _fail(
                "invalid_dates",
                f"arrival {self.arrival.isoformat()} is not after departure "
                f"{self.departure.isoformat()}",
            )
        seen: dict[tuple[str, int], int] = {}
        for n, line in enumerate(self.lines, 1):
            if line.key in seen:
                raise _fail(
                    "duplicate_line",
                    f"line {n}: transport document {line.key[0]} line {line.key[1]} is already "
                    f"line {seen[line.key]} of this manifest",
                )
            seen[line.key] = n
        t = self.totals
        problems = []
        if t.line_count != len(self.lines):
            problems.append(f"line_count {t.line_count} but {len(self.lines)} line(s)")
        packages = sum(line.packages for line in self.lines)
        if t.packages != packages:
            problems.append(f"packages {t.packages} but the lines add up to {packages}")
        mass = sum((line.gross_mass_kg for line in self.lines), Decimal(0))
        if t.gross_mass_kg != mass:
            problems.append(f"gross_mass_kg {t.gross_mass_kg} but the lines add up to {mass}")
        if problems:
            raise _fail("totals_mismatch", "totals: " + "; ".join(problems))
        return self

    @property
    def loading_country(self) -> str:
        return self.loading_port[:2]

    @property
    def discharge_country(self) -> str:
        return self.discharge_port[:2]

    def to_json(self) -> dict[str, Any]:
        """The JSON form (what `load_manifest` takes), absent optional fields left out."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=False)


@dataclass(frozen=True)
class LoadedManifest:
    """A validated manifest and the form that is anchored (canonical XML and its hash)."""

    manifest: Manifest
    prepared: PreparedDocument
    form: str  # "xml" or "json": what the carrier sent

    @property
    def doc_hash(self) -> str:
        return hex0x(self.prepared.doc_hash)


# -- loading --------------------------------------------------------------------------------


def load_manifest(
    body: bytes, content_type: str | None = None, *, limits: XmlLimits | None = None
) -> LoadedManifest:
    """Load an uploaded manifest, XML or JSON (by content type, else by its first byte).

    Raises `ManifestRejected`: `unsupported_media_type`, any `xmlsafe` code, `wrong_root`,
    `schema_invalid` (with line and element path), `manifest_too_large`, `invalid_json`, or
    any code of the module docstring.
    """
    limits = limits or XmlLimits()
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind.endswith("xml"):
        return load_manifest_xml(body, limits)
    if kind.endswith("json"):
        return load_manifest_json(body, limits)
    if kind and kind not in ("application/octet-stream", "text/plain"):
        raise ManifestRejected(
            "unsupported_media_type",
            f"a manifest is sent as application/xml or application/json, not {kind}",
        )
    first = body.lstrip()[:1]
    if first == b"<" or body.startswith(b"\xef\xbb\xbf<"):
        return load_manifest_xml(body, limits)
    return load_manifest_json(body, limits)


def load_manifest_xml(data: bytes, limits: XmlLimits | None = None) -> LoadedManifest:
    """An XML manifest through the hardened loader and the XSD, then the model."""
    limits = limits or XmlLimits()
    try:
        prepared = documents.prepare(data, CARGO_MANIFEST, limits=limits)
    except DocumentRejected as exc:
        raise ManifestRejected(exc.code, exc.detail, line=exc.line, issues=exc.issues) from None
    # prepare() parsed and validated the same bytes; this second parse is for the model.
    root = load_xml(data, max_bytes=limits.max_bytes, max_depth=limits.max_depth)
    manifest = _validate(_from_xml(root), _xml_path, root)
    return LoadedManifest(manifest, prepared, "xml")


def load_manifest_json(
    obj: Mapping[str, Any] | str | bytes, limits: XmlLimits | None = None
) -> LoadedManifest:
    """A JSON manifest: the model first, then its XML rendering through the same schema."""
    limits = limits or XmlLimits()
    if isinstance(obj, str | bytes | bytearray):
        raw = obj.encode("utf-8", "surrogatepass") if isinstance(obj, str) else bytes(obj)
        if len(raw) > limits.max_bytes:
            raise ManifestRejected(
                "manifest_too_large",
                f"the manifest is {len(raw):,} bytes; the limit is {limits.max_bytes:,} bytes",
            )
        if json_too_deep(raw, MAX_JSON_DEPTH):
            raise ManifestRejected("invalid_json", f"JSON nested more than {MAX_JSON_DEPTH} deep")
        try:
            obj = json.loads(raw, object_pairs_hook=no_repeated_keys)
        except (ValueError, RecursionError) as exc:
            raise ManifestRejected("invalid_json", f"not valid JSON: {exc}") from None
    if not isinstance(obj, Mapping):
        raise ManifestRejected(
            "invalid_json", f"a manifest is a JSON object, not {type(obj).__name__}"
        )
    manifest = _validate(dict(obj), _json_path, None)
    try:
        prepared = documents.prepare(manifest_to_xml(manifest), CARGO_MANIFEST, limits=limits)
    except DocumentRejected as exc:
        raise ManifestRejected(exc.code, exc.detail, line=exc.line, issues=exc.issues) from None
    return LoadedManifest(manifest, prepared, "json")


def _validate(data: dict[str, Any], path_of: Any, root: etree._Element | None) -> Manifest:
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        issues = []
        for err in errors[:MAX_REPORTED_ISSUES]:
            loc = tuple(err["loc"])
            message = err["ctx"]["detail"] if err["type"] in RULE_CODES else err["msg"]
            message = message.removeprefix("Value error, ")
            code = err["type"] if err["type"] in RULE_CODES else "invalid_manifest"
            issues.append(
                {"code": code, "path": path_of(loc), "message": message,
                 "line": _xml_line(root, loc) if root is not None else None}
            )  # fmt: skip
        detail = "; ".join(f"{i['path'] or 'manifest'}: {i['message']}" for i in issues)
        if len(errors) > MAX_REPORTED_ISSUES:
            detail += f"; and {len(errors) - MAX_REPORTED_ISSUES} more problem(s)"
        first = issues[0]
        raise ManifestRejected(
            first["code"], detail, path=first["path"], line=first["line"], issues=issues
        ) from None


def _json_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# -- plausibility when lodged ---------------------------------------------------------------


def check_arrival(manifest: Manifest, *, now: datetime, ahead_days: int, age_days: int) -> None:
    """Refuse an arrival more than `ahead_days` ahead or `age_days` back (422)."""
    if manifest.arrival > now + timedelta(days=ahead_days):
        raise ManifestRejected(
            "arrival_too_far",
            f"arrival {manifest.arrival.isoformat()} is more than {ahead_days} days ahead; "
            "lodge the manifest closer to the voyage",
            path="arrival",
        )
    if manifest.arrival < now - timedelta(days=age_days):
        raise ManifestRejected(
            "arrival_too_old",
            f"arrival {manifest.arrival.isoformat()} is more than {age_days} days ago; "
            "such cargo is no longer advance information",
            path="arrival",
        )


def is_late(manifest: Manifest, lodged_at: datetime, lead_h: float = 0.0) -> bool:
    """Lodged after arrival (or less than `lead_h` hours before it): accepted, flagged."""
    return lodged_at > manifest.arrival - timedelta(hours=lead_h)


def utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


# -- matching declarations against manifest lines ----------------------------------------

MATCHED, UNKNOWN, EXHAUSTED, MISMATCH = "matched", "unknown", "exhausted", "mismatch"


def _dec(value: Any) -> Decimal:
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{value!r} is not a number") from None
    if not out.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return out


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "+0") else text


def match_citations(
    item_hs_codes: Sequence[str],
    citations: Sequence[Mapping[str, Any]],
    tolerances: Mapping[str, Any],
) -> dict[str, Any]:
    """Check a declaration's cited transport document lines against the manifest lines.

    `item_hs_codes`: the declaration's items' HS codes.  Each citation is what the node
    found for one cited line: `number`, `line`, `packages`, `gross_mass_kg` (declared);
    `found` (false: no manifest at the node lists it); `manifest_line` (`packages`,
    `gross_mass_kg`, `hs_code`) and `declared_before` (`packages`, `gross_mass_kg` of earlier
    declarations); `manifest` (id, doc hash, `late`) and `pre_arrival` (the line's risk
    flags, `[{rule, channel, text}]`).  `tolerances`: `packages` (count) and `weight_pct`.

    Returns per line a status — matched, unknown, exhausted (nothing left to declare) or
    mismatch (packages beyond what is left plus the tolerance, gross mass off by more than
    the tolerance from the line's mass for those packages, an HS chapter the declaration
    does not have) — with every problem in words, and the flags selectivity reads.
    Raises ValueError on a malformed input (the oracle answers it as a bad request).
    """
    tol_packages = int(tolerances.get("packages", 0))
    tol_pct = _dec(tolerances.get("weight_pct", 0))
    chapters = {str(hs)[:2] for hs in item_hs_codes}
    out_lines = []
    flags = {"unknown": False, "exhausted": False, "packages_mismatch": False,
             "weight_mismatch": False, "hs_mismatch": False, "late": False}  # fmt: skip
    lanes: set[str] = set()
    for c in citations:
        number, line = str(c["number"]), int(c["line"])
        declared = int(c["packages"])
        declared_mass = _dec(c["gross_mass_kg"])
        entry: dict[str, Any] = {"number": number, "line": line, "packages": declared,
                                 "gross_mass_kg": _plain(declared_mass), "problems": []}  # fmt: skip
        if not c.get("found"):
            entry["status"] = UNKNOWN
            entry["problems"].append(
                f"transport document {number} line {line} is on no cargo manifest lodged here"
            )
            flags["unknown"] = True
            out_lines.append(entry)
            continue
        ml = c["manifest_line"]
        before = c.get("declared_before") or {}
        line_packages, line_mass = int(ml["packages"]), _dec(ml["gross_mass_kg"])
        before_packages = int(before.get("packages", 0))
        before_mass = _dec(before.get("gross_mass_kg", 0))
        remaining = line_packages - before_packages
        manifest = c.get("manifest") or {}
        entry.update(
            manifest_id=manifest.get("manifest_id"),
            doc_hash=manifest.get("doc_hash"),
            line_packages=line_packages,
            line_gross_mass_kg=_plain(line_mass),
            declared_before=before_packages,
            remaining_packages=max(remaining, 0),
            pre_arrival=list(c.get("pre_arrival") or []),
            late=bool(manifest.get("late")),
        )
        flags["late"] |= entry["late"]
        lanes |= {f["channel"] for f in entry["pre_arrival"] if f.get("channel") in ("C2", "C3")}
        if remaining <= 0:
            entry["status"] = EXHAUSTED
            entry["problems"].append(
                f"all {line_packages} packages of {number} line {line} were declared before"
            )
            flags["exhausted"] = True
            out_lines.append(entry)
            continue
        if declared > remaining + tol_packages:
            entry["problems"].append(
                f"declares {declared} packages; {remaining} of the line's {line_packages} are "
                f"left to declare (tolerance {tol_packages})"
            )
            flags["packages_mismatch"] = True
        if declared >= remaining:
            expected = line_mass - before_mass
        else:
            expected = line_mass * declared / line_packages
        if expected <= 0 or abs(declared_mass - expected) > expected * tol_pct / 100:
            entry["problems"].append(
                f"declares {_plain(declared_mass)} kg gross for {declared} packages; the "
                f"manifest line gives {_plain(expected.quantize(Decimal('0.001')))} kg "
                f"(tolerance {_plain(tol_pct)} %)"
            )
            flags["weight_mismatch"] = True
        hs = ml.get("hs_code")
        if hs and str(hs)[:2] not in chapters:
            entry["problems"].append(
                f"the manifest line is HS chapter {str(hs)[:2]}; the declaration's items are "
                f"chapter(s) {', '.join(sorted(chapters))}"
            )
            flags["hs_mismatch"] = True
        entry["status"] = MISMATCH if entry["problems"] else MATCHED
        out_lines.append(entry)
    return {"lines": out_lines, **flags, "pre_arrival": sorted(lanes)}


def compare_lines(
    exported: Mapping[str, Any], reported: Mapping[str, Any], weight_pct: float
) -> list[str]:
    """What differs between the exporting customs' line and the carrier's import line.

    Both are stored line records (`packages`, `gross_mass_kg`, `hs_code`, `consignee_name`,
    `containers` as `[{number, seals}]`).  Packages and containers must agree exactly (a
    container or seal that changed on the way is what a swap looks like); gross mass within
    `weight_pct`; HS chapters where both give one; consignee names ignoring case and spaces.
    """
    out = []
    if int(exported["packages"]) != int(reported["packages"]):
        out.append(f"packages: {exported['packages']} exported, {reported['packages']} reported")
    a, b = _dec(exported["gross_mass_kg"]), _dec(reported["gross_mass_kg"])
    if abs(a - b) > max(a, b) * _dec(weight_pct) / 100:
        out.append(f"gross mass: {_plain(a)} kg exported, {_plain(b)} kg reported")
    ha, hb = exported.get("hs_code"), reported.get("hs_code")
    if ha and hb and ha[:2] != hb[:2]:
        out.append(f"HS chapter: {ha[:2]} exported, {hb[:2]} reported")
    na, nb = _norm_name(exported.get("consignee_name")), _norm_name(reported.get("consignee_name"))
    if na and nb and na != nb:
        out.append(
            f"consignee: {exported['consignee_name']!r} exported, "
            f"{reported['consignee_name']!r} reported"
        )
    ca = {c["number"]: sorted(c.get("seals") or ()) for c in exported.get("containers") or ()}
    cb = {c["number"]: sorted(c.get("seals") or ()) for c in reported.get("containers") or ()}
    if set(ca) != set(cb):
        out.append(
            f"containers: {', '.join(sorted(ca)) or 'none'} exported, "
            f"{', '.join(sorted(cb)) or 'none'} reported"
        )
    else:
        for number in sorted(ca):
            if ca[number] != cb[number]:
                out.append(
                    f"seals of {number}: {', '.join(ca[number]) or 'none'} exported, "
                    f"{', '.join(cb[number]) or 'none'} reported"
                )
    return out


def _norm_name(name: Any) -> str:
    return re.sub(r"[\s.,]+", " ", str(name or "")).strip().casefold()


# -- XML <-> model --------------------------------------------------------------------------

_NS = {"d": NAMESPACE}
_ELEMENT = {
    "manifest_id": "ManifestID",
    "type": "TypeCode",
    "carrier": "Carrier",
    "transport": "TransportMeans",
    "mode": "ModeCode",
    "means_id": "MeansID",
    "means_name": "MeansName",
    "journey": "JourneyID",
    "loading_port": "LoadingPortID",
    "discharge_port": "DischargePortID",
    "departure": "DepartureDateTime",
    "arrival": "ArrivalDateTime",
    "lines": "Lines/Line",
    "transport_document": "TransportDocument",
    "number": "ID",
    "line": "LineNumeric",
    "consignor": "Consignor",
    "consignee": "Consignee",
    "name": "Name",
    "country": "CountryCode",
    "id": "ID",
    "id_scheme": "ID/@schemeID",
    "description": "GoodsDescription",
    "hs_code": "HSCode",
    "packages": "Packages/Quantity",
    "package_type": "Packages/TypeCode",
    "gross_mass_kg": "GrossWeight",
    "containers": "Containers/Container",
    "seals": "SealID",
    "totals": "Totals",
    "line_count": "LineCount",
}


def _xml_path(loc: tuple[Any, ...]) -> str:
    """`("lines", 2, "containers", 0, "number")` -> `/CargoManifest/Lines/Line[3]/...`."""
    parts = ["", "CargoManifest"]
    previous = None
    for part in loc:
        if isinstance(part, int):
            parts[-1] += f"[{part + 1}]"
        elif previous == "totals" and part == "packages":
            parts.append("PackageQuantity")
        elif part in _ELEMENT:
            parts.append(_ELEMENT[part])
        previous = part if not isinstance(part, int) else previous
    return "/".join(parts)


def _xml_line(root: etree._Element, loc: tuple[Any, ...]) -> int | None:
    steps = [s for s in _xml_path(loc).split("/@")[0].split("/") if s]
    try:
        found = root.getroottree().xpath("/" + "/".join(f"d:{s}" for s in steps), namespaces=_NS)
    except etree.XPathError:
        return None
    return found[0].sourceline if found else root.sourceline


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _strip(text: str | None) -> str:
    return (text or "").strip(" \t\n\r")


def _text(parent: etree._Element | None, name: str) -> str | None:
    if parent is None:
        return None
    el = parent.find(_q(name))
    return None if el is None else _strip(el.text)


def _party(el: etree._Element | None) -> dict[str, Any] | None:
    if el is None:
        return None
    out: dict[str, Any] = {"name": _text(el, "Name"), "country": _text(el, "CountryCode")}
    id_el = el.find(_q("ID"))
    if id_el is not None:
        out["id"] = _strip(id_el.text)
        out["id_scheme"] = id_el.get("schemeID")
    return out


def _from_xml(root: etree._Element) -> dict[str, Any]:
    """The JSON form of an XSD-valid manifest tree (numbers as text: the model parses)."""
    d: dict[str, Any] = {}
    for f in ("manifest_id", "type", "loading_port", "discharge_port", "departure", "arrival"):
        value = _text(root, _ELEMENT[f])
        if value is not None:
            d[f] = value
    carrier = root.find(_q("Carrier"))
    if carrier is not None:
        cid = carrier.find(_q("ID"))
        d["carrier"] = {
            "id": _strip(cid.text) if cid is not None else None,
            "id_scheme": cid.get("schemeID") if cid is not None else None,
            "name": _text(carrier, "Name"),
        }
    transport = root.find(_q("TransportMeans"))
    if transport is not None:
        d["transport"] = {
            k: v
            for k, v in (
                ("mode", _text(transport, "ModeCode")),
                ("means_id", _text(transport, "MeansID")),
                ("means_name", _text(transport, "MeansName")),
                ("journey", _text(transport, "JourneyID")),
            )
            if v is not None
        }
    d["lines"] = [_line_from_xml(el) for el in root.iterfind("d:Lines/d:Line", _NS)]
    totals = root.find(_q("Totals"))
    if totals is not None:
        d["totals"] = {
            "line_count": int(_text(totals, "LineCount") or 0),
            "packages": int(_text(totals, "PackageQuantity") or 0),
            "gross_mass_kg": _text(totals, "GrossWeight"),
        }
    return d


def _line_from_xml(el: etree._Element) -> dict[str, Any]:
    td = el.find(_q("TransportDocument"))
    packages = el.find(_q("Packages"))
    line: dict[str, Any] = {
        "transport_document": {
            "type": _text(td, "TypeCode"),
            "number": _text(td, "ID"),
            "line": int(_text(td, "LineNumeric") or 0),
        },
        "consignor": _party(el.find(_q("Consignor"))),
        "consignee": _party(el.find(_q("Consignee"))),
        "description": _text(el, "GoodsDescription"),
        "packages": int(_text(packages, "Quantity") or 0),
        "package_type": _text(packages, "TypeCode"),
        "gross_mass_kg": _text(el, "GrossWeight"),
    }
    hs = _text(el, "HSCode")
    if hs is not None:
        line["hs_code"] = hs
    containers = [
        {
            "number": _text(c, "ID"),
            "seals": [_strip(s.text) for s in c.iterfind("d:SealID", _NS)],
        }
        for c in el.iterfind("d:Containers/d:Container", _NS)
    ]
    if containers:
        line["containers"] = containers
    return line


def manifest_to_xml(m: Manifest) -> bytes:
    """The XML form of a manifest (UTF-8); it loads back to an equal model."""
    root = etree.Element(_q("CargoManifest"), nsmap={None: NAMESPACE})
    sub = etree.SubElement

    def add(parent: etree._Element, name: str, value: Any = None, **attrs: str) -> etree._Element:
        el = sub(parent, _q(name), **attrs)
        if value is not None:
            el.text = _plain(value) if isinstance(value, Decimal) else str(value)
        return el

    def party(parent: etree._Element, name: str, p: Party) -> None:
        el = add(parent, name)
        add(el, "Name", p.name)
        add(el, "CountryCode", p.country)
        if p.id is not None and p.id_scheme is not None:  # together or neither (validated)
            add(el, "ID", p.id, schemeID=p.id_scheme)

    add(root, "ManifestID", m.manifest_id)
    add(root, "TypeCode", m.type)
    carrier = add(root, "Carrier")
    add(carrier, "ID", m.carrier.id, schemeID=m.carrier.id_scheme)
    add(carrier, "Name", m.carrier.name)
    transport = add(root, "TransportMeans")
    add(transport, "ModeCode", m.transport.mode)
    add(transport, "MeansID", m.transport.means_id)
    if m.transport.means_name is not None:
        add(transport, "MeansName", m.transport.means_name)
    add(transport, "JourneyID", m.transport.journey)
    add(root, "LoadingPortID", m.loading_port)
    add(root, "DischargePortID", m.discharge_port)
    if m.departure is not None:
        add(root, "DepartureDateTime", m.departure.isoformat())
    add(root, "ArrivalDateTime", m.arrival.isoformat())
    lines = add(root, "Lines")
    for line in m.lines:
        root_line = add(lines, "Line")
        td = add(root_line, "TransportDocument")
        add(td, "TypeCode", line.transport_document.type)
        add(td, "ID", line.transport_document.number)
        add(td, "LineNumeric", line.transport_document.line)
        party(root_line, "Consignor", line.consignor)
        party(root_line, "Consignee", line.consignee)
        add(root_line, "GoodsDescription", line.description)
        if line.hs_code is not None:
            add(root_line, "HSCode", line.hs_code)
        packages = add(root_line, "Packages")
        add(packages, "Quantity", line.packages)
        add(packages, "TypeCode", line.package_type)
        add(root_line, "GrossWeight", line.gross_mass_kg, unitCode="KGM")
        if line.containers:
            containers = add(root_line, "Containers")
            for c in line.containers:
                cel = add(containers, "Container")
                add(cel, "ID", c.number)
                for seal in c.seals:
                    add(cel, "SealID", seal)
    totals = add(root, "Totals")
    add(totals, "LineCount", m.totals.line_count)
    add(totals, "PackageQuantity", m.totals.packages)
    add(totals, "GrossWeight", m.totals.gross_mass_kg, unitCode="KGM")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
