"""The declaration model: parties, transport, items, document references and totals, and
the consistency checks that need more than one field.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    field_validator,
    model_validator,
)

from offchain.declarations.canonical import _canonical_value
from offchain.declarations.errors import _fail
from offchain.declarations.fields import (
    ID,
    Amount,
    Country,
    Currency,
    DateField,
    DocTypeName,
    Hash,
    HSCode,
    Measure,
    Name,
    Rate,
    ReceiptField,
    Sequence4,
    ShortText,
    Text,
    Unit,
    _check_agreement,
    _check_mode,
)

MAX_ITEMS = 999
MAX_DOCUMENTS = 99
MAX_PERMITS = 20
MAX_TRANSPORT_DOCUMENTS = 99


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
    manifest lists it (offchain/manifests/), with the packages and gross mass this
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
