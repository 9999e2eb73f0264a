"""The declaration as a document kind: its XML namespace and schema."""

from __future__ import annotations

from offchain.doctypes import SCHEMA_DIR, DocType

NAMESPACE = "urn:smartcustoms:doc:declaration:1"


# Not a trade document: code 0 is no DocumentRegistry type (anchorBatch refuses it).
DECLARATION = DocType(
    name="declaration",
    code=0,
    namespace=NAMESPACE,
    root="Declaration",
    xsd=SCHEMA_DIR / "declaration.xsd",
)
