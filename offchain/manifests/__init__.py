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

The package, a module per job: `model` (and its `fields`, `errors`), `loading` (XML or
JSON) and `xml_form` (paths, parsing, writing), `arrival` (when lodged), `matching`.
"""

from offchain.manifests.arrival import check_arrival, is_late, utc_iso
from offchain.manifests.errors import RULE_CODES, ManifestRejected
from offchain.manifests.fields import (
    MAX_LINES,
    PACKAGES_MAX,
    AwareDateTime,
    ContainerNumber,
    LineCount,
    Locode,
    ManifestHS,
    Packages,
    TotalPackages,
    TransportDocumentType,
    container_check_digit,
)
from offchain.manifests.loading import (
    MAX_REPORTED_ISSUES,
    load_manifest,
    load_manifest_json,
    load_manifest_xml,
)
from offchain.manifests.matching import (
    EXHAUSTED,
    MATCHED,
    MISMATCH,
    UNKNOWN,
    compare_lines,
    match_citations,
)
from offchain.manifests.model import (
    MAX_CONTAINERS,
    MAX_SEALS,
    Carrier,
    Container,
    LoadedManifest,
    Manifest,
    ManifestLine,
    ManifestTotals,
    ManifestTransport,
    Party,
    TransportDocument,
)
from offchain.manifests.xml_form import NAMESPACE, manifest_to_xml

__all__ = [
    "EXHAUSTED",
    "MATCHED",
    "MAX_CONTAINERS",
    "MAX_LINES",
    "MAX_REPORTED_ISSUES",
    "MAX_SEALS",
    "MISMATCH",
    "NAMESPACE",
    "PACKAGES_MAX",
    "RULE_CODES",
    "UNKNOWN",
    "AwareDateTime",
    "Carrier",
    "Container",
    "ContainerNumber",
    "LineCount",
    "LoadedManifest",
    "Locode",
    "Manifest",
    "ManifestHS",
    "ManifestLine",
    "ManifestRejected",
    "ManifestTotals",
    "ManifestTransport",
    "Packages",
    "Party",
    "TotalPackages",
    "TransportDocument",
    "TransportDocumentType",
    "check_arrival",
    "compare_lines",
    "container_check_digit",
    "is_late",
    "load_manifest",
    "load_manifest_json",
    "load_manifest_xml",
    "manifest_to_xml",
    "match_citations",
    "utc_iso",
]
