"""Payment order references, amounts, the gateway's Ed25519-signed messages and receipts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from nacl.signing import SigningKey

from offchain.doctypes import PAYMENT_RECEIPT
from offchain.documents import prepare
from offchain.payments import (
    SIGNATURE_HEADER,
    Callback,
    PaymentError,
    ReceiptFacts,
    money,
    parse_message,
    parse_signature,
    receipt_id,
    receipt_xml,
    rf_reference,
    sign_request,
    valid_rf,
    verify_request,
)
from offchain.xmlsafe import XmlLimits

KEY = SigningKey(bytes(range(32)))
PUBLIC = bytes(KEY.verify_key)
PATH = "/payments/callback"


def test_rf_references_carry_iso_11649_check_digits():
    ref = rf_reference("TW0000000042")
    assert ref.startswith("RF") and valid_rf(ref)
    assert valid_rf("RF18539007547034")  # the standard's example
    assert not valid_rf(ref[:-1] + ("3" if ref[-1] != "3" else "4"))  # one digit mistyped
    assert not valid_rf("RF00TW1") and not valid_rf("TW0000000042") and not valid_rf(42)


@pytest.mark.parametrize("bad", ["0", "-5", "1.001", "NaN", "Infinity", True, None, "1e20", "x"])
def test_bad_amounts_are_refused(bad):
    with pytest.raises(PaymentError) as caught:
        money(bad)
    assert caught.value.code == "invalid_amount" and caught.value.http_status == 422


def test_amounts_keep_two_decimals():
    assert money("12.5") == Decimal("12.50") and str(money(7)) == "7.00"


def sign(body: bytes, **kw) -> dict[str, str]:
    return sign_request(KEY, "stand-in", "TW", "POST", PATH, body, **kw)


def verify(headers, body: bytes, **kw) -> None:
    args = {"public_key": PUBLIC, "member": "TW", "method": "POST", "path": PATH,
            "body": body, "max_skew_s": 300, **kw}  # fmt: skip
    verify_request(parse_signature(headers), **args)


def code_of(fn, *args, **kw) -> str:
    with pytest.raises(PaymentError) as caught:
        fn(*args, **kw)
    return caught.value.code


def test_a_signed_request_verifies():
    body = b'{"payments": []}'
    verify(sign(body), body)


def test_forged_altered_or_misdirected_requests_are_refused():
    body = b'{"payments": []}'
    headers = sign(body)
    assert code_of(verify, headers, body + b" ") == "bad_signature"
    assert code_of(verify, headers, body, path="/payments/check") == "bad_signature"
    assert code_of(verify, headers, body, member="SG") == "wrong_member"
    other = SigningKey.generate()
    forged = sign_request(other, "stand-in", "TW", "POST", PATH, body)
    assert code_of(verify, forged, body) == "bad_signature"


def test_old_or_future_signatures_are_stale():
    body = b"{}"
    assert code_of(verify, sign(body, now=1_000_000), body) == "stale"
    assert code_of(verify, sign(body), body, now=datetime.now(UTC).timestamp() + 3600) == "stale"


@pytest.mark.parametrize(
    "value",
    ["", "gw=stand-in", "gw=a,m=TW,t=1,n=" + "0" * 32 + ",s=zz",
     "gw=A B,m=TW,t=1,n=" + "0" * 32 + ",s=" + "0" * 128, "x" * 600,
     "gw=a,gw=a,m=TW,t=1,n=" + "0" * 32 + ",s=" + "0" * 128],
)  # fmt: skip
def test_malformed_signature_headers_are_400(value):
    with pytest.raises(PaymentError) as caught:
        parse_signature({SIGNATURE_HEADER: value} if value else {})
    assert caught.value.code == "malformed_signature" and caught.value.http_status == 400


def notice(**change) -> dict:
    return {"reference": "GW-1", "order": rf_reference("TW1"), "amount": "100.00",
            "currency": "TWD", "paid_at": "2025-04-16T10:00:00+08:00",
            "payer": {"name": "Formosa", "id": "42751893", "id_scheme": "TW-BAN"}, **change}  # fmt: skip


def test_callback_bodies_are_validated_field_by_field():
    ok = parse_message(Callback, json.dumps({"payments": [notice()]}).encode(), 10)
    assert ok.payments[0].amount == Decimal("100.00")
    for change, where in (({"order": "RF00X"}, "order"), ({"amount": "-1"}, "amount"),
                          ({"currency": "XXX"}, "currency"), ({"paid_at": "yesterday"}, "paid_at")):  # fmt: skip
        body = json.dumps({"payments": [notice(**change)]}).encode()
        with pytest.raises(PaymentError) as caught:
            parse_message(Callback, body, 10)
        assert caught.value.code == "invalid_callback" and where in caught.value.detail
    too_many = json.dumps({"payments": [notice(reference=f"G{i}") for i in range(3)]}).encode()
    assert code_of(parse_message, Callback, too_many, 2) == "invalid_callback"


def test_the_fingerprint_tells_a_repeat_from_a_conflict():
    a = parse_message(Callback, json.dumps({"payments": [notice()]}).encode(), 1).payments[0]
    b = parse_message(Callback, json.dumps({"payments": [notice()]}).encode(), 1).payments[0]
    c = parse_message(Callback, json.dumps({"payments": [notice(amount="99")]}).encode(), 1)
    assert a.fingerprint() == b.fingerprint() != c.payments[0].fingerprint()


def test_receipts_validate_against_their_schema():
    facts = ReceiptFacts(
        receipt_id=receipt_id("TW", "GW-1"), customs="TW", order=rf_reference("TW1"),
        method="GATEWAY", payment_reference="GW-1", amount=Decimal("100"), currency="TWD",
        paid_at=datetime(2025, 4, 16, 2, tzinfo=UTC), payer_name="Formosa", status="APPLIED",
        declaration_id="TW-IM-1", declaration_hash="0x" + "ab" * 32, gateway="stand-in",
    )  # fmt: skip
    prepared = prepare(receipt_xml(facts), PAYMENT_RECEIPT, limits=XmlLimits())
    assert prepared.summary["document_number"] == facts.receipt_id
    assert len(facts.receipt_id) <= 35
    refund = ReceiptFacts(**{**facts.__dict__, "status": "REFUND_DUE", "reason": "already paid"})
    assert prepare(receipt_xml(refund), PAYMENT_RECEIPT, limits=XmlLimits()).doc_hash != (
        prepared.doc_hash
    )
