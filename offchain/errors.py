"""The one error family of Smart Customs, and the one table of the HTTP status of each code.

Every error a caller may show to a person derives from `CodedError`: it carries a stable
snake_case `code` (what the API returns as `{"error": code, "detail": text}`) and a `detail`
that says what is wrong and how to fix it.  The layers each have their family under it
(`OffchainError` here, `chain.errors.ChainError`, `oracles.base.OracleError`,
`nodes.auth.AuthError`, ...), so a caller that shows errors to a person (the CLI, the
console) catches one class.

Services raise codes and know nothing of HTTP: no constructor takes a status.  Which status
each code answers with is decided once, in `HTTP_STATUS` below, which every HTTP edge reads
through `CodedError.http_status` (the node API in `nodes.errors`, an oracle instance's API in
`oracles.service`, the console).  It lives at the bottom of the layers so that each of those
edges can read the same table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# The syntax codes of `offchain.xmlsafe` (and JSON parsing): the bytes are not a document at all.
_SYNTAX = (
    "xml_not_utf8", "xml_forbidden_dtd", "xml_entity", "xml_forbidden_pi", "xml_too_deep",
    "xml_malformed",
)  # fmt: skip

# fmt: off
# family -> (status of its codes not listed, {code: status}).  A family is named by the
# class-level `code` of its class (an error whose class is not listed answers as its nearest
# listed base class does).
HTTP_STATUS: Mapping[str, tuple[int, Mapping[str, int]]] = {
    "error": (500, {}),
    # offchain
    "offchain_error": (400, {}),
    "document_rejected": (400, {"xml_too_large": 413, "wrong_root": 422, "schema_invalid": 422}),
    "implausible_date": (422, {}),
    "date_out_of_range": (422, {}),
    "declaration_rejected": (
        422,
        {**dict.fromkeys(_SYNTAX, 400), "invalid_json": 400, "xml_too_large": 413,
         "declaration_too_large": 413},
    ),
    "manifest_rejected": (
        422,
        {**dict.fromkeys(_SYNTAX, 400), "invalid_json": 400, "xml_too_large": 413,
         "manifest_too_large": 413, "unsupported_media_type": 415},
    ),
    "permit_rejected": (400, {"permit_too_large": 413, "invalid_permit": 422}),
    "tariff_error": (422, {"unknown_hs_code": 404}),
    "invalid_tariff_table": (500, {}),
    "payment_error": (
        422,
        {
            "unknown_order": 404, "unknown_declaration": 404, "unknown_guarantee": 404,
            "unknown_payment": 404, "no_such_gateway": 404,
            "unknown_gateway": 401, "bad_signature": 401, "stale": 401,
            "guarantee_not_holders": 403, "gateway_revoked": 403,
            "nothing_to_pay": 409, "already_paid": 409, "guarantee_insufficient": 409,
            "guarantee_inactive": 409, "payment_reference_conflict": 409,
            "not_refundable": 409, "replayed": 409, "gateway_exists": 409,
            "guarantee_exists": 409, "already_secured": 409, "no_check_due": 409,
            "wrong_member": 421,
            "malformed_signature": 400,
            "gateway_unavailable": 502, "gateway_error": 502,
        },
    ),
    "crypto_error": (400, {}),
    "decryption_failed": (422, {}),
    "envelope_rejected": (
        400,
        {"bad_signature": 401, "stale": 401, "not_a_member": 403, "replayed": 409,
         "wrong_recipient": 421},
    ),
    "store_error": (500, {}),
    "invalid_cid": (400, {}),
    "content_not_found": (404, {}),
    "content_too_large": (413, {}),
    "store_unavailable": (503, {}),
    "keystore_error": (500, {}),
    "unknown_alert": (404, {}),
    "unknown_member": (404, {}),
    # chain (a contract revert's status depends on which custom error: nodes.errors)
    "chain_error": (502, {}),
    "chain_unavailable": (503, {}),
    "deployment_missing": (503, {}),
    "contract_reverted": (409, {}),
    # oracles
    "oracle_error": (
        422,
        {"invalid_request": 400, "bad_request": 400, "bad_time": 400, "empty_batch": 400,
         "image_hash_mismatch": 400, "invalid_reroute": 400, "image_unavailable": 404,
         "stale_decision": 409},
    ),
    "oracle_unavailable": (503, {}),
    "tariff_input_error": (
        422,
        {"unknown_session": 404, "unknown_hs_code": 404, "session_expired": 410,
         "no_pending_question": 409, "question_not_asked": 409, "description_too_long": 413,
         "upload_too_large": 413, "no_model": 503},
    ),
    "audit_error": (
        400,
        {"bad_number": 422, "bad_value": 422, "bad_date": 422, "one_class": 422,
         "too_few_rows": 422, "model_missing": 404, "model_incompatible": 409,
         "model_corrupt": 409, "upload_too_large": 413},
    ),
    "xray_error": (
        400,
        {"image_too_large": 413, "upload_too_large": 413, "not_a_scan": 422, "unknown_scan": 404,
         "unknown_alert": 404, "model_hash_mismatch": 503, "model_missing": 503,
         "torch_missing": 501},
    ),
    # nodes
    "unauthorized": (401, {}),
    "forbidden": (403, {}),
    "document_error": (
        400,
        {"unknown_member": 404, "unknown_document": 404, "unknown_batch": 404,
         "inactive_member": 409, "not_anchored": 409, "already_sent_elsewhere": 409,
         "no_encryption_key": 409, "xml_too_large": 413},
    ),
    "clearance_error": (
        422,
        {"invalid_channel": 400, "unknown_declaration": 404, "declaration_exists": 409,
         "permit_draw_failed": 409, "same_channel": 409},
    ),
    "manifest_error": (
        422,
        {"invalid_request": 400, "unknown_manifest": 404, "manifest_exists": 409,
         "transport_document_exists": 409, "not_forwarded": 409, "not_received_yet": 409,
         "partner_unavailable": 502},
    ),
    "transport_error": (
        400,
        {"unknown_trip": 404, "unknown_device": 404, "trip_exists": 409, "trip_closed": 409,
         "not_arrived": 409, "not_overdue": 409},
    ),
    "evidence_error": (400, {"unknown_event": 404, "not_anchored": 409}),
}
# fmt: on


def status_of(error: CodedError) -> int:
    """The HTTP status of `error`: its code in its family's row, else the family's status."""
    for cls in type(error).__mro__:
        family = cls.__dict__.get("code")
        if isinstance(family, str) and family in HTTP_STATUS:
            default, by_code = HTTP_STATUS[family]
            return by_code.get(error.code, default)
    return 500


class CodedError(Exception):
    """Root of every error Smart Customs raises on purpose: a `code` and a `detail`.

    Two ways to build one.  A family with many codes names the code:
    `PaymentError("unknown_order", "no payment order RF18...")` (its message is
    `code: detail`).  A class that is its own code takes the detail only:
    `ChainUnavailable("no JSON-RPC endpoint answers at ...")` (its message is the detail).
    """

    code: str = "error"
    detail: str = ""

    def __init__(self, code_or_detail: str = "", detail: str | None = None) -> None:
        if detail is None:
            super().__init__(code_or_detail)
            self.detail = code_or_detail
        else:
            super().__init__(f"{code_or_detail}: {detail}")
            self.code = code_or_detail
            self.detail = detail

    @property
    def http_status(self) -> int:
        """The status the HTTP edges answer this error with (`HTTP_STATUS`)."""
        return status_of(self)


class OffchainError(CodedError):
    """Base of the errors raised by `offchain`; `code` names the family."""

    code: str = "offchain_error"


class Rejected(OffchainError):
    """An input refused before anything was stored or anchored: the fields the API shows.

    `code` and `detail` as for every `CodedError` (message `code: detail`), `path` the field
    at fault when the format has one, `line` the first offending XML line if known, `issues`
    each problem found (`{line, path, message}`, plus `code` for a model's rule codes).  The
    families (`DocumentRejected`, `DeclarationRejected`, `ManifestRejected`) are siblings
    under it, not one another's subclasses: the declaration and manifest loaders catch
    `DocumentRejected` to restate it in their own family.  It has no `code` of its own, so
    each family keeps its row of `HTTP_STATUS`.
    """

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


# Codes of DocumentRejected (statuses: HTTP_STATUS["document_rejected"]).
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


class DocumentRejected(Rejected):
    """A submitted trade document was refused; nothing was stored or anchored.

    `code` is one of the codes above, `detail` a sentence a person can act on (with the line
    number where the parser gives one), `line` the first offending line if known, and
    `issues` the individual schema problems (line, path, message) for `schema_invalid`.
    """

    code: str = "document_rejected"
