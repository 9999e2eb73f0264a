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

The package, a module per job: `model` (and its `fields`, `codes`, `errors`), `json_form`
and `xml_form` (loading and writing), `validation` and `paths` (what a refusal says and
where), `date_checks` (when lodged), `canonical` (the hashed form and the hash).
"""

from offchain.declarations.canonical import canonical_json, declaration_hash
from offchain.declarations.codes import (
    COUNTRY_CODES,
    CURRENCY_CODES,
    TRANSPORT_DOCUMENT_TYPES,
    UNIT_CODES,
)
from offchain.declarations.date_checks import _dates_in as _dates_in
from offchain.declarations.date_checks import check_dates
from offchain.declarations.doctype import DECLARATION, NAMESPACE
from offchain.declarations.errors import RULE_CODES, DeclarationRejected
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
)
from offchain.declarations.json_form import MAX_JSON_BYTES, MAX_JSON_DEPTH, load_declaration_json
from offchain.declarations.json_form import _json_too_deep as _json_too_deep
from offchain.declarations.json_form import _no_repeated_keys as _no_repeated_keys
from offchain.declarations.model import (
    MAX_DOCUMENTS,
    MAX_ITEMS,
    MAX_PERMITS,
    MAX_TRANSPORT_DOCUMENTS,
    Declarant,
    Declaration,
    DocumentReference,
    Exporter,
    Importer,
    Item,
    PreferenceClaim,
    Totals,
    Transport,
    TransportDocumentRef,
)
from offchain.declarations.validation import MAX_REPORTED_ISSUES
from offchain.declarations.xml_form import declaration_to_xml, load_declaration_xml

__all__ = [
    "COUNTRY_CODES",
    "CURRENCY_CODES",
    "DECLARATION",
    "ID",
    "MAX_DOCUMENTS",
    "MAX_ITEMS",
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_PERMITS",
    "MAX_REPORTED_ISSUES",
    "MAX_TRANSPORT_DOCUMENTS",
    "NAMESPACE",
    "RULE_CODES",
    "TRANSPORT_DOCUMENT_TYPES",
    "UNIT_CODES",
    "Amount",
    "Country",
    "Currency",
    "DateField",
    "Declarant",
    "Declaration",
    "DeclarationRejected",
    "DocTypeName",
    "DocumentReference",
    "Exporter",
    "HSCode",
    "Hash",
    "Importer",
    "Item",
    "Measure",
    "Name",
    "PreferenceClaim",
    "Rate",
    "ReceiptField",
    "Sequence4",
    "ShortText",
    "Text",
    "Totals",
    "Transport",
    "TransportDocumentRef",
    "Unit",
    "canonical_json",
    "check_dates",
    "declaration_hash",
    "declaration_to_xml",
    "load_declaration_json",
    "load_declaration_xml",
]
