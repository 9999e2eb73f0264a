"""What an auditor's trace of a declaration shows about its duties: every payment recorded
for it (applied, refund due, refunded), every guarantee draw, and each release state change.

Nothing is taken on trust: a payment's receipt is rebuilt from the node's payment record and
must hash to the receipt that was anchored (an edited record shows), the anchored receipt is
verified against the chain (proof, root, transaction, issuer, revocation), and a receipt not
anchored yet says so.
"""

from __future__ import annotations

from typing import Any

from chain.errors import ChainError
from nodes.payments.service import PaymentService
from offchain.doctypes import PAYMENT_RECEIPT
from offchain.documents import prepare
from offchain.errors import OffchainError
from offchain.hexbytes import hex0x
from offchain.payments import ReceiptFacts, receipt_xml

_KIND = {"applied": "PAID", "refund_due": "PAID, REFUND DUE", "refunded": "PAID, REFUNDED"}


def payment_trace(payments: PaymentService, declaration_id: str) -> list[dict[str, Any]]:
    """Timeline entries (the declaration trace's shape) for the declaration's money."""
    out: list[dict[str, Any]] = []
    order = payments.order_for(declaration_id)
    rows = payments.db.query(
        "SELECT * FROM payments WHERE declaration_id = ? ORDER BY received_at", (declaration_id,)
    )
    for r in rows:
        row = dict(r)
        rebuilt = payments.facts(row, order)
        out.append(
            {
                "at": row["paid_at"],
                "source": "node",
                "kind": _KIND[row["status"]],
                "actor": f"{row['payer_name']} via {row['gateway']}",
                "detail": {
                    "amount": f"{row['amount']} {row['currency']}",
                    "order": row["order_ref"],
                    "gateway reference": row["reference"],
                    "payer id": row["payer_id"],
                    "recorded at": row["received_at"],
                    "why not applied": row["detail"],
                    "refunded": row["refunded_at"]
                    and f"{row['refunded_at']} by {row['refunded_by']} ({row['refund_reference']})",
                    "receipt": row["receipt_id"],
                    "receipt hash": row["receipt_hash"],
                    "refund receipt hash": row["refund_receipt_hash"],
                    **_anchoring(payments, row["receipt_hash"]),
                },
                "reverified": _check(payments, rebuilt, row["receipt_hash"]),
            }
        )
    if order is not None:
        for m in payments.db.query(
            "SELECT * FROM guarantee_movements WHERE order_ref = ? ORDER BY id",
            (order["reference"],),
        ):
            entry = {
                "at": m["at"],
                "source": "node",
                "kind": "GUARANTEE DRAWN" if m["kind"] == "draw" else "GUARANTEE RESTORED",
                "actor": m["actor"],
                "detail": {
                    "guarantee": m["guarantee_id"],
                    "amount": f"{m['amount']} {order['currency']}",
                    "available after": m["available_after"],
                    "receipt": m["receipt_id"],
                    "receipt hash": m["receipt_hash"],
                    **(_anchoring(payments, m["receipt_hash"]) if m["receipt_hash"] else {}),
                },
                "reverified": _verify(payments, m["receipt_hash"])
                if m["receipt_hash"]
                else {"ok": True, "detail": "recorded by this node (restored with the payment)"},
            }
            out.append(entry)
    for e in payments.release_events(declaration_id):
        out.append(
            {
                "at": e["at"],
                "source": "node",
                "kind": f"RELEASE: {e['state']}",
                "actor": None,
                "detail": {"why": e["why"]},
                "reverified": {"ok": True, "detail": "recorded by this node"},
            }
        )
    return out


def _anchoring(payments: PaymentService, doc_hash: str) -> dict[str, Any]:
    r = payments.records.receipt(doc_hash)
    return {"tx": r.tx, "block": r.block} if r else {"tx": None}


def _check(payments: PaymentService, facts: ReceiptFacts, doc_hash: str) -> dict[str, Any]:
    """The record rebuilds the anchored receipt, and that receipt verifies on chain."""
    rebuilt = hex0x(prepare(receipt_xml(facts), PAYMENT_RECEIPT, limits=payments.limits).doc_hash)
    if rebuilt != doc_hash:
        return {
            "ok": False,
            "detail": f"the node's payment record now gives receipt {rebuilt}, not the "
            f"anchored {doc_hash}: the record was changed",
        }
    return _verify(payments, doc_hash)


def _verify(payments: PaymentService, doc_hash: str) -> dict[str, Any]:
    receipt = payments.records.receipt(doc_hash)
    if receipt is None:
        state = payments.records.state(doc_hash) or "missing"
        return {"ok": False, "detail": f"receipt {doc_hash} is not anchored yet ({state})"}
    try:
        verdict = payments.records.documents.verify(payments.records.open(doc_hash), receipt)
    except (ChainError, OffchainError) as exc:
        return {"ok": False, "detail": f"cannot re-verify now: {exc}"}
    if not verdict.valid:
        return {"ok": False, "detail": verdict.reason or "the receipt does not verify"}
    return {
        "ok": True,
        "detail": f"receipt anchored in block {receipt.block} by {receipt.issuer_member}, "
        "verifies on chain",
    }
