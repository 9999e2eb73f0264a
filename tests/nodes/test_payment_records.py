"""Payment records keep their promises (issue #18): a payment recorded but whose receipt was
never queued (the node stopped in between) gets its receipt after restart, anchored on the
real chain; and the auditor's trace catches a payment record edited in the database.

In process, on the session chain: a node context of its own, a gateway key registered, a
decided declaration with its order, a callback signed with that key.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from nacl.signing import SigningKey

from nodes.context import NodeContext
from nodes.payments.trace import payment_trace
from offchain.payments import sign_request
from offchain.settings import Settings

pytestmark = pytest.mark.contract


@pytest.fixture
def node(settings: Settings, deployment, make_fresh_settings, tmp_path, snapshot) -> Iterator:
    s = make_fresh_settings(settings, tmp_path / "home")
    ctx = NodeContext.open(s, "TW")
    try:
        yield ctx
    finally:
        ctx.close()


def decided(ctx: NodeContext, declaration_id: str, total: str = "1234.50") -> dict:
    """A decided import declaration levying `total` (as clearance stores it) and its order."""
    decision = {
        "declaration": {"type": "IM", "declaration_id": declaration_id,
                        "importer": {"id": "42751893", "id_scheme": "TW-BAN", "name": "Formosa"}},
        "duties": {"total": total}, "channel": "C1", "reasons": [],
    }  # fmt: skip
    ctx.db.execute(
        "INSERT INTO declarations (declaration_id, declaration_hash, channel, decision,"
        " attestation, draws, created_at, created_by) VALUES (?,?,?,?,?,?,?,?)",
        (declaration_id, "0x" + "cd" * 32, "C1", json.dumps(decision), "{}", "[]",
         dt.datetime.now(dt.UTC).isoformat(), "test"),
    )  # fmt: skip
    return ctx.payments.ensure_order(declaration_id)


def confirm(ctx: NodeContext, order: dict, reference: str) -> dict:
    key = SigningKey(b"k" * 32)
    ctx.payments.register_gateway("testbank", bytes(key.verify_key).hex(), "admin")
    body = json.dumps({"payments": [{
        "reference": reference, "order": order["reference"], "amount": order["amount"],
        "currency": order["currency"], "paid_at": "2025-04-16T10:00:00+08:00",
        "payer": {"name": "Formosa", "id": "42751893", "id_scheme": "TW-BAN"}}]}).encode()  # fmt: skip
    headers = sign_request(key, "testbank", "TW", "POST", "/payments/callback", body)
    return ctx.payments.callback(body, headers)


def test_a_receipt_left_behind_by_a_stop_is_queued_and_anchored_after_restart(node):
    order = decided(node, "D-RECOVER-1")
    result = confirm(node, order, "TB-0001")["results"][0]
    assert result["status"] == "applied"
    node.payments._receipts_pending.clear()  # the node stopped before its worker ran
    assert node.records.state(result["receipt_hash"]) is None
    assert node.payments.ensure_receipts() == 1
    node.records.anchor_due(force=True)
    receipt = node.payments.receipt(result["receipt"])
    assert receipt["state"] == "anchored" and receipt["doc_hash"] == result["receipt_hash"]
    verdict = node.records.documents.verify(receipt["document"].encode(),
                                            node.records.receipt(result["receipt_hash"]))  # fmt: skip
    assert verdict.valid, verdict.to_json()
    assert node.payments.ensure_receipts() == 0  # nothing left behind


def test_the_trace_catches_an_edited_payment_record(node):
    order = decided(node, "D-EDITED-1")
    result = confirm(node, order, "TB-0002")["results"][0]
    node.payments.flush_receipts()
    node.records.anchor_due(force=True)
    (paid,) = [e for e in payment_trace(node.payments, "D-EDITED-1") if e["kind"] == "PAID"]
    assert paid["reverified"]["ok"], paid
    assert "verifies on chain" in paid["reverified"]["detail"]
    node.db.execute("UPDATE payments SET amount = '1.00' WHERE reference = 'TB-0002'")
    (edited,) = [e for e in payment_trace(node.payments, "D-EDITED-1") if e["kind"] == "PAID"]
    assert not edited["reverified"]["ok"]
    assert "was changed" in edited["reverified"]["detail"]
    assert result["receipt_hash"] in edited["reverified"]["detail"]
