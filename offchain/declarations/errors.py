"""`DeclarationRejected` and the rule codes the model raises (see the package docstring)."""

from __future__ import annotations

from pydantic_core import PydanticCustomError

from offchain.errors import Rejected

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


class DeclarationRejected(Rejected):
    """A declaration was refused before any oracle saw it.

    `code` is one of the codes of the package docstring (or an `xmlsafe` code for hostile or
    malformed XML), `detail` says what and where, `path` names the field
    (`items[1].hs_code` for JSON, `/Declaration/Items/Item[2]/HSCode` for XML), `line` the
    XML line when known, `issues` each problem found (up to five).
    """

    code: str = "declaration_rejected"


def _fail(code: str, detail: str) -> PydanticCustomError:
    """The error a field or model validator raises for rule `code` (declarations' and
    manifests' alike: `offchain.manifests` uses this one)."""
    # The text goes through a context variable: braces in user input must not be formatted.
    return PydanticCustomError(code, "{detail}", {"detail": detail})
