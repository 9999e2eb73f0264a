"""Exception families of the off-chain layer.

Every error a caller may show to a person carries a stable snake_case `code` (what the API
returns as `{"error": code, "detail": text}`) and a `detail` that says what is wrong and how to
fix it.  Services raise these and know nothing of HTTP; `http_status` is only a hint the API
layer reads, so the mapping lives in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class OffchainError(Exception):
    """Base of the errors raised by `offchain`; `code` names the family."""

    code: ClassVar[str] = "offchain_error"


class CodedError(OffchainError):
    """An error whose instances carry their own `code` and `detail`.

    Subclasses list the HTTP status of the codes that are not `DEFAULT_STATUS` in
    `HTTP_STATUS`; everything else about them is the same, so it lives here once.
    """

    code: str = "offchain_error"
    HTTP_STATUS: ClassVar[Mapping[str, int]] = {}
    DEFAULT_STATUS: ClassVar[int] = 400

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    @property
    def http_status(self) -> int:
        return self.HTTP_STATUS.get(self.code, self.DEFAULT_STATUS)


# Codes of DocumentRejected and the HTTP status the API answers with (400 when not listed).
#   xml_too_large      the upload is bigger than the configured cap (checked before parsing)
#   xml_not_utf8       not UTF-8: a UTF-16/32 byte-order mark, another declared encoding, bad bytes
#   xml_forbidden_dtd  a DOCTYPE / DTD of any kind (internal subset or external)
#   xml_entity         an entity declaration or a reference to an undeclared entity
#   xml_forbidden_pi   a processing instruction other than the XML declaration
#   xml_too_deep       elements nested deeper than the configured cap
#   xml_malformed      not well-formed XML
#   unknown_doc_type   a document type name or code we do not know
#   wrong_root         well-formed, but the root element is not the one of the document type
#   schema_invalid     the document breaks its XSD (or carries foreign attributes)
HTTP_STATUS_BY_CODE: Mapping[str, int] = {
    "xml_too_large": 413,
    "wrong_root": 422,
    "schema_invalid": 422,
}


class DocumentRejected(OffchainError):
    """A submitted trade document was refused; nothing was stored or anchored.

    `code` is one of the codes above, `detail` a sentence a person can act on (with the line
    number where the parser gives one), `line` the first offending line if known, and
    `issues` the individual schema problems (line, path, message) for `schema_invalid`.
    """

    code: str = "document_rejected"

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        line: int | None = None,
        issues: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.line = line
        self.issues = tuple(issues)

    @property
    def http_status(self) -> int:
        """413 for a too-large upload, 422 for a well-formed but wrong document, else 400."""
        return HTTP_STATUS_BY_CODE.get(self.code, 400)
