"""`DeclarationRejected` and the rule codes the model raises (see the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic_core import PydanticCustomError

from offchain.errors import OffchainError

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

    `code` is one of the codes of the package docstring (or an `xmlsafe` code for hostile or
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
