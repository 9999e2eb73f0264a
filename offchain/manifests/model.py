"""The manifest model: carrier, transport, parties, lines, containers and totals, the checks
that need more than one field, and `LoadedManifest` (the model and its anchored form).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    model_validator,
)

from offchain.declarations import (
    ID,
    Country,
    Measure,
    Name,
    Sequence4,
    ShortText,
    Text,
)
from offchain.documents import PreparedDocument
from offchain.hexbytes import hex0x
from offchain.manifests.errors import _fail
from offchain.manifests.fields import (
    MAX_LINES,
    AwareDateTime,
    ContainerNumber,
    LineCount,
    Locode,
    ManifestHS,
    Packages,
    TotalPackages,
    TransportDocumentType,
    _check_mode,
    _check_package_type,
)

MAX_CONTAINERS = 99
MAX_SEALS = 9


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
