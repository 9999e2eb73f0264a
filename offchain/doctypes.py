"""The trade document types Smart Customs accepts, and where each one's schema lives.

A document type is known by its name (in the API and the files), its numeric code (a uint8,
the form that goes on chain in DocumentRegistry), its XML namespace and root element, and its
XSD.  Adding a type means one entry here and one XSD in `offchain/schemas/`; the namespace
ends in a version number so a changed schema is a new namespace, never a silent change.

`summary` maps the fields a person wants in a list of documents to XPath expressions,
evaluated on the root element with the prefix `d` bound to the type's namespace.  The keys
are the same for every type so lists can mix types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from offchain.errors import DocumentRejected

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


@dataclass(frozen=True, slots=True)
class DocType:
    """One trade document type."""

    name: str
    code: int  # uint8, used on chain
    namespace: str
    root: str  # local name of the root element
    xsd: Path
    summary: Mapping[str, str] = field(default_factory=dict)

    @property
    def root_tag(self) -> str:
        """The root element in lxml's `{namespace}local` form."""
        return f"{{{self.namespace}}}{self.root}"


def _ns(name: str) -> str:
    return f"urn:smartcustoms:doc:{name}:1"


CERTIFICATE_OF_ORIGIN = DocType(
    name="certificate-of-origin",
    code=1,
    namespace=_ns("certificate-of-origin"),
    root="CertificateOfOrigin",
    xsd=SCHEMA_DIR / "certificate-of-origin.xsd",
    summary={
        "document_number": "string(d:CertificateID)",
        "issue_date": "string(d:IssueDate)",
        "exporter_name": "string(d:Exporter/d:Name)",
        "importing_country": "string(d:ImportingCountryCode)",
        "item_count": "count(d:Items/d:Item)",
    },
)

COMMERCIAL_INVOICE = DocType(
    name="commercial-invoice",
    code=2,
    namespace=_ns("commercial-invoice"),
    root="CommercialInvoice",
    xsd=SCHEMA_DIR / "commercial-invoice.xsd",
    summary={
        "document_number": "string(d:InvoiceNumber)",
        "issue_date": "string(d:IssueDate)",
        "exporter_name": "string(d:Seller/d:Name)",
        "importing_country": "string(d:ImportingCountryCode)",
        "item_count": "count(d:Items/d:Item)",
        "currency": "string(d:CurrencyCode)",
        "total_amount": "string(d:TotalAmount)",
    },
)

PACKING_LIST = DocType(
    name="packing-list",
    code=3,
    namespace=_ns("packing-list"),
    root="PackingList",
    xsd=SCHEMA_DIR / "packing-list.xsd",
    summary={
        "document_number": "string(d:PackingListNumber)",
        "issue_date": "string(d:IssueDate)",
        "exporter_name": "string(d:Exporter/d:Name)",
        "importing_country": "string(d:ImportingCountryCode)",
        "item_count": "count(d:Packages/d:Package/d:Items/d:Item)",
        "package_count": "count(d:Packages/d:Package)",
    },
)

DOC_TYPES: tuple[DocType, ...] = (CERTIFICATE_OF_ORIGIN, COMMERCIAL_INVOICE, PACKING_LIST)
"""Trade documents: what exporters submit for a partner customs and declarations cite."""

# Records a customs node anchors through the same DocumentRegistry batching for its own
# users (offchain/manifests/, offchain/payments.py): not trade documents, so declarations
# do not cite them, but verified and traced the same way.
CARGO_MANIFEST = DocType(
    name="cargo-manifest",
    code=4,
    namespace=_ns("cargo-manifest"),
    root="CargoManifest",
    xsd=SCHEMA_DIR / "cargo-manifest.xsd",
    summary={
        "document_number": "string(d:ManifestID)",
        "issue_date": "substring(string(d:ArrivalDateTime), 1, 10)",
        "exporter_name": "string(d:Carrier/d:Name)",
        "importing_country": "substring(string(d:DischargePortID), 1, 2)",
        "item_count": "count(d:Lines/d:Line)",
    },
)

PAYMENT_RECEIPT = DocType(
    name="payment-receipt",
    code=5,
    namespace=_ns("payment-receipt"),
    root="PaymentReceipt",
    xsd=SCHEMA_DIR / "payment-receipt.xsd",
    summary={
        "document_number": "string(d:ReceiptID)",
        "issue_date": "substring(string(d:PaidDateTime), 1, 10)",
        "exporter_name": "string(d:Payer/d:Name)",
        "importing_country": "string(d:CustomsID)",
        "item_count": "1",
    },
)

RECORD_TYPES: tuple[DocType, ...] = (CARGO_MANIFEST, PAYMENT_RECEIPT)
ANCHORED_TYPES: tuple[DocType, ...] = DOC_TYPES + RECORD_TYPES
"""Every type DocumentRegistry anchors (its codes 1 to MAX_DOC_TYPE)."""
_BY_NAME = {t.name: t for t in ANCHORED_TYPES}
_BY_CODE = {t.code: t for t in ANCHORED_TYPES}


def doc_type(name_or_code: str | int | DocType) -> DocType:
    """The anchored type for a name (`"packing-list"`) or on-chain code (`3`).

    Raises `DocumentRejected("unknown_doc_type")` naming the known types.
    """
    if isinstance(name_or_code, DocType):
        return name_or_code
    if isinstance(name_or_code, int) and not isinstance(name_or_code, bool):
        found = _BY_CODE.get(name_or_code)
    elif isinstance(name_or_code, str):
        found = _BY_NAME.get(name_or_code)
    else:
        found = None
    if found is None:
        known = ", ".join(f"{t.name} ({t.code})" for t in ANCHORED_TYPES)
        raise DocumentRejected(
            "unknown_doc_type",
            f"unknown document type {name_or_code!r}; known types: {known}",
        )
    return found
