"""Duties payable: payment order references, the payment gateway's signed messages, receipts.

A clearance decision that levies duties and taxes gets a payment order: an ISO 11649
creditor reference (`RF` + two check digits + the node's reference, so a mistyped reference
is caught by the bank before money moves), the amount, the currency and a due date.

The paying bank or e-payment gateway talks to the customs node in two signed messages:

- a *check* before it takes the payer's money (`POST /payments/check`: is this order open,
  for this amount and currency?), which changes nothing;
- a *callback* once the money moved (`POST /payments/callback`: one or many payments).

Both are signed with the gateway's Ed25519 key (PyNaCl), whose public key an administrator
registers with the node.  The signature covers a domain label, the gateway id, the member
(node) the message is for, the HTTP method and path, a Unix timestamp, a random nonce and
the SHA-256 of the body, and travels in one header:

    X-SC-Gateway-Signature: gw=stand-in,m=TW,t=1713240000,n=<32 hex>,s=<128 hex>

so a callback cannot be replayed (nonce, freshness window), sent to another member's node
(member), passed off as a check or the reverse (method and path), or altered (body hash).
Ed25519 rather than the EIP-712 envelopes between member nodes: a bank holds no Ethereum
account, and Ed25519 is what payment APIs commonly sign with.

Payment receipts are XML documents (`offchain/schemas/payment-receipt.xsd`) the node writes
and anchors through DocumentRegistry like any record, so an auditor's trace shows what was
paid, when, by whom and through which gateway, and that the record is unchanged.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any, Literal, TypeVar

from lxml import etree
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError

from offchain.declarations import ID, Currency, Name
from offchain.doctypes import PAYMENT_RECEIPT
from offchain.errors import OffchainError
from offchain.manifests import AwareDateTime

CENT = Decimal("0.01")
SIGNATURE_HEADER = "X-SC-Gateway-Signature"
SIGNATURE_DOMAIN = b"smartcustoms-gateway/v1"
_GATEWAY_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
_MEMBER_ID = re.compile(r"^[A-Z][A-Z0-9_-]{0,30}$")
_RF = re.compile(r"^RF[0-9]{2}[0-9A-Z]{1,21}$")
_MAX_HEADER = 512


class PaymentError(OffchainError):
    """A payment request, callback or guarantee operation refused; nothing changed.

    Codes (HTTP status): unknown_order, unknown_declaration, unknown_guarantee,
    unknown_payment (404); nothing_to_pay, already_paid, guarantee_insufficient,
    guarantee_inactive, payment_reference_conflict, not_refundable, replayed (409);
    guarantee_not_holders, gateway_revoked (403); bad_signature, stale, unknown_gateway
    (401); wrong_member (421); amount_mismatch, currency_mismatch, invalid_reference,
    invalid_amount, invalid_callback, invalid_guarantee, invalid_key (422);
    malformed_signature (400); gateway_unavailable, gateway_error (502); and
    guarantee_exists, gateway_exists, already_secured, no_check_due (409), no_such_gateway
    (404) for the node's own management requests.
    """

    code: str = "payment_error"


# -- references and amounts -----------------------------------------------------------------


def _rf_check(base: str) -> int:
    digits = "".join(str(int(c, 36)) for c in base + "RF00")
    return 98 - int(digits) % 97


def rf_reference(base: str) -> str:
    """The ISO 11649 creditor reference of `base` (1-21 letters and digits): `RFkk<base>`."""
    base = base.upper()
    if not re.fullmatch(r"[0-9A-Z]{1,21}", base):
        raise ValueError(f"{base!r} is not 1 to 21 letters and digits")
    return f"RF{_rf_check(base):02d}{base}"


def valid_rf(reference: str) -> bool:
    """True when `reference` is a well-formed ISO 11649 reference with correct check digits."""
    if not isinstance(reference, str) or not _RF.match(reference):
        return False
    return int(reference[2:4]) == _rf_check(reference[4:])


def _check_rf(value: Any) -> str:
    if not valid_rf(value):
        raise ValueError(
            f"{value!r} is not a payment order reference (ISO 11649: RF, two check digits, "
            "up to 21 letters and digits) or its check digits are wrong"
        )
    return value


def money(value: Any) -> Decimal:
    """A positive amount with at most two decimals, as Decimal; PaymentError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal | float):
        raise PaymentError("invalid_amount", f"{value!r} is not an amount")
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise PaymentError("invalid_amount", f"{value!r} is not an amount") from None
    if not amount.is_finite() or amount <= 0:
        raise PaymentError("invalid_amount", f"{value!r} is not a positive amount")
    if amount != amount.quantize(CENT) or amount >= Decimal(10) ** 16:
        raise PaymentError(
            "invalid_amount", f"{value!r} has more than two decimals or sixteen digits"
        )
    return amount.quantize(CENT)


def cents(value: Decimal) -> str:
    """`Decimal("12.5")` -> "12.50": the text amounts are compared and shown in."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _check_money(value: Any) -> Decimal:
    try:
        return money(value)
    except PaymentError as exc:
        raise ValueError(exc.detail) from None


# -- messages from the gateway --------------------------------------------------------------

OrderRef = Annotated[str, PlainValidator(_check_rf)]
Money = Annotated[Decimal, PlainValidator(_check_money)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Payer(_Model):
    name: Name
    id: ID | None = None
    id_scheme: ID | None = None


class PaymentNotice(_Model):
    """One payment the gateway confirms: money moved from `payer` for order `order`."""

    reference: ID  # the gateway's transaction reference: one payment, idempotency key
    order: OrderRef
    amount: Money
    currency: Currency
    paid_at: AwareDateTime
    payer: Payer

    def fingerprint(self) -> str:
        """What a repeated notice must agree on to be the same payment."""
        text = "|".join(
            (self.reference, self.order, cents(self.amount), self.currency,
             self.paid_at.isoformat(), self.payer.name, self.payer.id or "")
        )  # fmt: skip
        return hashlib.sha256(text.encode()).hexdigest()


class Callback(_Model):
    payments: tuple[PaymentNotice, ...] = Field(min_length=1, max_length=10_000)


class CheckLine(_Model):
    order: OrderRef
    amount: Money
    currency: Currency


class CheckRequest(_Model):
    payments: tuple[CheckLine, ...] = Field(min_length=1, max_length=10_000)


Message = TypeVar("Message", Callback, CheckRequest)


def parse_message(model: type[Message], body: bytes, max_items: int) -> Message:
    """A callback or check body as its model; PaymentError `invalid_callback` names the field."""
    try:
        parsed = model.model_validate_json(body)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        raise PaymentError(
            "invalid_callback", f"{where}: {err['msg'].removeprefix('Value error, ')}"
        ) from None
    if len(parsed.payments) > max_items:
        raise PaymentError(
            "invalid_callback",
            f"{len(parsed.payments)} payments in one message; this node takes up to {max_items}",
        )
    return parsed


# -- signatures -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GatewaySignature:
    """The parsed `X-SC-Gateway-Signature` header."""

    gateway: str
    member: str
    issued_at: int
    nonce: str
    signature: bytes

    def header(self) -> dict[str, str]:
        return {
            SIGNATURE_HEADER: f"gw={self.gateway},m={self.member},t={self.issued_at},"
            f"n={self.nonce},s={self.signature.hex()}"
        }


def signed_bytes(
    gateway: str, member: str, method: str, path: str, issued_at: int, nonce: str, body: bytes
) -> bytes:
    """Exactly what the gateway signs (and the node verifies)."""
    return b"\n".join(
        (
            SIGNATURE_DOMAIN,
            gateway.encode(),
            member.encode(),
            method.upper().encode(),
            path.encode(),
            str(issued_at).encode(),
            nonce.encode(),
            hashlib.sha256(body).hexdigest().encode(),
        )
    )


def sign_request(
    key: SigningKey,
    gateway: str,
    member: str,
    method: str,
    path: str,
    body: bytes,
    *,
    now: float | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The signature header for a gateway request to `member`'s node."""
    if not _GATEWAY_ID.match(gateway) or not _MEMBER_ID.match(member):
        raise ValueError(f"bad gateway id {gateway!r} or member id {member!r}")
    issued_at = int(time.time() if now is None else now)
    nonce = nonce or secrets.token_hex(16)
    sig = key.sign(signed_bytes(gateway, member, method, path, issued_at, nonce, body)).signature
    return GatewaySignature(gateway, member, issued_at, nonce, sig).header()


def parse_signature(headers: Mapping[str, str]) -> GatewaySignature:
    """The signature header of a request; PaymentError `malformed_signature` when unusable."""
    value = headers.get(SIGNATURE_HEADER)
    if value is None:
        wanted = SIGNATURE_HEADER.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    if not value:
        raise PaymentError(
            "malformed_signature",
            f"missing {SIGNATURE_HEADER} header: gateway requests are signed "
            "(offchain.payments.sign_request)",
        )
    if len(value) > _MAX_HEADER:
        raise PaymentError("malformed_signature", f"{SIGNATURE_HEADER} is too long")
    fields: dict[str, str] = {}
    for part in value.split(","):
        k, sep, v = part.strip().partition("=")
        if not sep or k in fields:
            raise PaymentError("malformed_signature", f"{SIGNATURE_HEADER}: bad field {part!r}")
        fields[k] = v
    if set(fields) != {"gw", "m", "t", "n", "s"}:
        raise PaymentError(
            "malformed_signature",
            f"{SIGNATURE_HEADER} needs gw, m, t, n and s, got {sorted(fields)}",
        )
    if not _GATEWAY_ID.match(fields["gw"]) or not _MEMBER_ID.match(fields["m"]):
        raise PaymentError("malformed_signature", "gateway or member id is malformed")
    if not re.fullmatch(r"[0-9]{1,12}", fields["t"]) or not re.fullmatch(
        r"[0-9a-f]{32}", fields["n"]
    ):
        raise PaymentError("malformed_signature", "timestamp or nonce is malformed")
    if not re.fullmatch(r"[0-9a-f]{128}", fields["s"]):
        raise PaymentError("malformed_signature", "signature must be 128 hex digits")
    return GatewaySignature(
        fields["gw"], fields["m"], int(fields["t"]), fields["n"], bytes.fromhex(fields["s"])
    )


def verify_request(
    sig: GatewaySignature,
    *,
    public_key: bytes,
    member: str,
    method: str,
    path: str,
    body: bytes,
    max_skew_s: int,
    now: float | None = None,
) -> None:
    """Accept a gateway request for `member`'s node, or raise PaymentError (nothing kept).

    `wrong_member` (signed for another node), `stale` (outside ±max_skew_s), `bad_signature`
    (forged, altered body, another method or path, or another gateway's key).  Replay of a
    fresh, authentic callback is the caller's check (the nonce, after this succeeded).
    """
    if sig.member != member:
        raise PaymentError(
            "wrong_member",
            f"the request is signed for member {sig.member}'s node, this is {member}",
        )
    current = time.time() if now is None else now
    if abs(current - sig.issued_at) > max_skew_s:
        raise PaymentError(
            "stale",
            f"signed at {sig.issued_at}, {current - sig.issued_at:+.0f} s from this node's clock "
            f"(allowed ±{max_skew_s} s); check the gateway's clock and resend",
        )
    message = signed_bytes(sig.gateway, member, method, path, sig.issued_at, sig.nonce, body)
    try:
        VerifyKey(public_key).verify(message, sig.signature)
    except (BadSignatureError, ValueError, TypeError):
        raise PaymentError(
            "bad_signature",
            f"the signature does not verify with gateway {sig.gateway}'s registered key "
            "(forged, altered in transit, or meant for another request)",
        ) from None


# -- receipts -------------------------------------------------------------------------------

_NS = PAYMENT_RECEIPT.namespace
METHODS = ("GATEWAY", "GUARANTEE")
STATUSES = ("APPLIED", "REFUND_DUE", "REFUNDED")


@dataclass(frozen=True)
class ReceiptFacts:
    """What a payment receipt records (see payment-receipt.xsd)."""

    receipt_id: str
    customs: str
    order: str
    method: Literal["GATEWAY", "GUARANTEE"]
    payment_reference: str
    amount: Decimal
    currency: str
    paid_at: datetime
    payer_name: str
    status: Literal["APPLIED", "REFUND_DUE", "REFUNDED"]
    declaration_id: str | None = None
    declaration_hash: str | None = None
    gateway: str | None = None
    guarantee: str | None = None
    payer_id: str | None = None
    payer_scheme: str | None = None
    reason: str | None = None


def receipt_xml(f: ReceiptFacts) -> bytes:
    """The payment receipt document of `f` (validated and hashed by offchain.documents)."""
    root = etree.Element(f"{{{_NS}}}PaymentReceipt", nsmap={None: _NS})

    def add(name: str, value: Any, parent: etree._Element | None = None, **attrs: str) -> None:
        el = etree.SubElement(root if parent is None else parent, f"{{{_NS}}}{name}", **attrs)
        el.text = str(value)

    add("ReceiptID", f.receipt_id)
    add("CustomsID", f.customs)
    if f.declaration_id:
        add("DeclarationID", f.declaration_id)
    if f.declaration_hash:
        add("DeclarationHash", f.declaration_hash)
    add("OrderReference", f.order)
    add("MethodCode", f.method)
    if f.gateway:
        add("GatewayID", f.gateway)
    add("PaymentReference", f.payment_reference)
    if f.guarantee:
        add("GuaranteeID", f.guarantee)
    add("Amount", cents(f.amount), currencyID=f.currency)
    add("PaidDateTime", f.paid_at.isoformat())
    payer = etree.SubElement(root, f"{{{_NS}}}Payer")
    if f.payer_id:
        add("ID", f.payer_id, payer, schemeID=f.payer_scheme or "ID")
    add("Name", f.payer_name, payer)
    add("StatusCode", f.status)
    if f.reason:
        add("Reason", " ".join(f.reason.split())[:512])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def receipt_id(member: str, reference: str) -> str:
    """A receipt number of at most 35 characters, unique per (member, payment reference)."""
    digest = hashlib.sha256(f"{member}|{reference}".encode()).hexdigest()[:16].upper()
    return f"PR-{member[:8]}-{digest}"


def summarize(items: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Counts per status of callback results (for logs and the bench)."""
    out: dict[str, int] = {}
    for item in items:
        out[item["status"]] = out.get(item["status"], 0) + 1
    return out
