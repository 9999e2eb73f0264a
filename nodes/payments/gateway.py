"""The payment gateway's side of the node: registering gateways' keys, authenticating
their signed messages (key, member, method and path, freshness, nonce), the check before
money moves, and the callback that records every confirmed payment with its receipt (part of
PaymentService; see nodes/payments/service.py for the whole flow)."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from nacl.signing import VerifyKey

from nodes.payments.guarantees import order_json
from offchain.doctypes import PAYMENT_RECEIPT
from offchain.documents import PreparedDocument, prepare
from offchain.hexbytes import hex0x
from offchain.outbox import utc_now
from offchain.payments import (
    Callback,
    CheckRequest,
    PaymentError,
    PaymentNotice,
    ReceiptFacts,
    cents,
    parse_message,
    parse_signature,
    receipt_id,
    receipt_xml,
    verify_request,
)

if TYPE_CHECKING:
    import threading
    from collections.abc import Iterable

    from nodes.records import RecordService
    from offchain.db import Database
    from offchain.settings import Settings
    from offchain.xmlsafe import XmlLimits

CALLBACK_PATH = "/payments/callback"
CHECK_PATH = "/payments/check"


class GatewayMessages:
    """Mixed into PaymentService (its database, settings, records outbox and orders)."""

    # Set by PaymentService.__init__ (declared here for the type checker only).
    settings: Settings
    member_id: str
    db: Database
    records: RecordService
    limits: XmlLimits
    _receipts_pending: list[tuple[list[PreparedDocument], str]]
    _receipts_lock: threading.Lock

    if TYPE_CHECKING:
        # Defined by GuaranteeBook and ReleaseBook, the classes this one is mixed with.
        def _move(
            self, tx: sqlite3.Connection, guarantee_id: str, order_ref: str, kind: str,
            amount: str, actor: str, receipt: tuple[str, str] | None,
        ) -> str: ...  # fmt: skip
        def refresh_releases(self, declaration_ids: Iterable[str]) -> None: ...

    def register_gateway(self, gateway: str, public_key_hex: str, user: str) -> dict[str, Any]:
        try:
            key = bytes.fromhex(public_key_hex)
            VerifyKey(key)
        except (ValueError, TypeError):
            raise PaymentError(
                "invalid_key", "the gateway's public key is 64 hex digits (Ed25519)"
            ) from None
        if len(key) != 32:
            raise PaymentError("invalid_key", "the gateway's public key is 64 hex digits (Ed25519)")
        now = utc_now()
        with self.db.transaction() as tx:
            row = tx.execute(
                "SELECT public_key, revoked_at FROM payment_gateways WHERE id = ?", (gateway,)
            ).fetchone()
            if row is not None and row["revoked_at"] is None and row["public_key"] != key.hex():
                raise PaymentError(
                    "gateway_exists",
                    f"gateway {gateway} is registered with another key; revoke it first",
                )
            tx.execute(
                "INSERT INTO payment_gateways (id, public_key, registered_at, registered_by)"
                " VALUES (?,?,?,?) ON CONFLICT (id) DO UPDATE SET public_key = excluded.public_key,"
                " registered_at = excluded.registered_at, registered_by = excluded.registered_by,"
                " revoked_at = NULL",
                (gateway, key.hex(), now, user),
            )
        return self.gateway(gateway)

    def revoke_gateway(self, gateway: str) -> dict[str, Any]:
        self.gateway(gateway)
        self.db.execute(
            "UPDATE payment_gateways SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (utc_now(), gateway),
        )
        return self.gateway(gateway)

    def gateway(self, gateway: str) -> dict[str, Any]:
        rows = self.db.query("SELECT * FROM payment_gateways WHERE id = ?", (gateway,))
        if not rows:
            raise PaymentError("no_such_gateway", f"no gateway {gateway!r} is registered here")
        return dict(rows[0])

    def gateways(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.query("SELECT * FROM payment_gateways ORDER BY id")]

    def _authentic(self, body: bytes, headers: dict[str, str], path: str) -> str:
        sig = parse_signature(headers)
        rows = self.db.query(
            "SELECT public_key, revoked_at FROM payment_gateways WHERE id = ?", (sig.gateway,)
        )
        if not rows:
            raise PaymentError(
                "unknown_gateway",
                f"gateway {sig.gateway!r} is not registered with this node (POST /payments/gateways)",
            )
        if rows[0]["revoked_at"]:
            raise PaymentError(
                "gateway_revoked", f"gateway {sig.gateway!r} was revoked at {rows[0]['revoked_at']}"
            )
        verify_request(
            sig,
            public_key=bytes.fromhex(rows[0]["public_key"]),
            member=self.member_id,
            method="POST",
            path=path,
            body=body,
            max_skew_s=self.settings.payments.callback_max_skew_s,
        )
        if path == CALLBACK_PATH:
            try:
                self.db.execute(
                    "INSERT INTO gateway_nonces (gateway, nonce, seen_at) VALUES (?,?,?)",
                    (sig.gateway, sig.nonce, time.time()),
                )
            except sqlite3.IntegrityError:
                raise PaymentError(
                    "replayed", f"nonce {sig.nonce} of gateway {sig.gateway} was already used"
                ) from None
        return sig.gateway

    def prune_nonces(self) -> int:
        keep_s = 2 * self.settings.payments.callback_max_skew_s
        cur = self.db.execute(
            "DELETE FROM gateway_nonces WHERE seen_at < ?", (time.time() - keep_s,)
        )
        return cur.rowcount

    # --- the gateway asks, then confirms ------------------------------------------------

    def check(self, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        """Before money moves: is each order open, for this amount and currency?"""
        self._authentic(body, headers, CHECK_PATH)
        req = parse_message(CheckRequest, body, self.settings.payments.max_callback_payments)
        out = []
        orders = self._orders_by_reference({line.order for line in req.payments})
        for line in req.payments:
            try:
                order = orders.get(line.order)
                if order is None:
                    raise PaymentError(
                        "unknown_order", f"no payment order {line.order} at this node"
                    )
                self._fits(order, line.amount, line.currency)
                out.append({"order": line.order, "ok": True, "declaration": order["declaration"],
                            "amount": order["amount"], "currency": order["currency"],
                            "due_date": order["due_date"], "state": order["state"]})  # fmt: skip
            except PaymentError as exc:
                out.append({"order": line.order, "ok": False, "error": exc.code,
                            "detail": exc.detail, "status": exc.http_status})  # fmt: skip
        return {"results": out}

    @staticmethod
    def _fits(order: dict[str, Any], amount: Decimal, currency: str) -> None:
        if order["state"] == "paid":
            raise PaymentError(
                "already_paid",
                f"order {order['reference']} of declaration {order['declaration']} was paid "
                f"at {order['settled_at']}",
            )
        if currency != order["currency"]:
            raise PaymentError(
                "currency_mismatch",
                f"order {order['reference']} is in {order['currency']}, not {currency}",
            )
        if cents(amount) != order["amount"]:
            raise PaymentError(
                "amount_mismatch",
                f"order {order['reference']} is for {order['amount']} {order['currency']}, "
                f"not {cents(amount)}",
            )

    def callback(self, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        """Record every payment of an authentic callback; see the module docstring.

        Each payment's receipt is prepared (XSD, canonical hash) before the write lock is
        taken, for the outcome the orders imply now; inside the lock the outcome is decided
        again and the receipt redone only when it changed meanwhile (two payments of one
        order in the same callback, a concurrent callback), so concurrent callbacks overlap.
        """
        gateway = self._authentic(body, headers, CALLBACK_PATH)
        cb = parse_message(Callback, body, self.settings.payments.max_callback_payments)
        now = utc_now()
        orders = self._orders_by_reference({p.order for p in cb.payments})
        planned = [self._plan(gateway, p, orders.get(p.order), now) for p in cb.payments]
        results, prepared, touched = [], [], set()
        with self.db.transaction() as tx:
            for p, plan in zip(cb.payments, planned, strict=True):
                result, doc = self._record(tx, gateway, p, now, plan)
                results.append(result)
                if doc is not None:
                    prepared.append(doc)
                if result.get("declaration"):
                    touched.add(result["declaration"])
        self._hand_over(prepared, gateway)
        self.refresh_releases(touched)
        return {"gateway": gateway, "results": results, "summary": _counts(results)}

    def _hand_over(self, prepared: list[PreparedDocument], gateway: str) -> None:
        """Receipts go to the records worker: the payments are recorded (committed) before
        the gateway gets its answer; sealing, storing and anchoring their receipts follows
        within a worker cycle, like a trade document's anchoring.  Receipts still in memory
        when the node stops are queued again from the records (`ensure_receipts`)."""
        if not prepared:
            return
        with self._receipts_lock:
            self._receipts_pending.append((prepared, gateway))
        self.records.wake.set()

    def flush_receipts(self) -> int:
        """Queue the receipts callbacks handed over (the records worker calls this)."""
        with self._receipts_lock:
            pending, self._receipts_pending[:] = list(self._receipts_pending), []
        for prepared, gateway in pending:
            self._queue_receipts(prepared, gateway)
        return sum(len(p) for p, _ in pending)

    def _orders_by_reference(self, references: set[str]) -> dict[str, dict[str, Any]]:
        refs = sorted(references)
        out = {}
        for i in range(0, len(refs), 500):
            part = refs[i : i + 500]
            for r in self.db.query(
                f"SELECT * FROM payment_orders WHERE reference IN ({','.join('?' * len(part))})",
                part,
            ):
                out[r["reference"]] = order_json(r)
        return out

    def _outcome(self, p: PaymentNotice, order: dict[str, Any] | None) -> tuple:
        """(status, error, detail) of a payment against its order as it stands."""
        if order is None:
            return (
                "refund_due",
                "unknown_order",
                f"no payment order {p.order} at this node: recorded, to be refunded",
            )
        try:
            self._fits(order, p.amount, p.currency)
        except PaymentError as exc:
            return "refund_due", exc.code, f"{exc.detail}: recorded, to be refunded"
        return "applied", None, None

    def _plan(
        self, gateway: str, p: PaymentNotice, order: dict[str, Any] | None, now: str
    ) -> tuple[dict[str, Any], PreparedDocument]:
        """The payment's record and receipt for the outcome `order` implies."""
        status, error, detail = self._outcome(p, order)
        row = {
            "gateway": gateway, "reference": p.reference, "order_ref": p.order,
            "declaration_id": order["declaration"] if order else None,
            "amount": cents(p.amount), "currency": p.currency, "paid_at": p.paid_at.isoformat(),
            "payer_name": p.payer.name, "payer_id": p.payer.id, "payer_scheme": p.payer.id_scheme,
            "received_at": now, "status": status, "error": error, "detail": detail,
            "fingerprint": p.fingerprint(), "receipt_id": receipt_id(self.member_id, f"{gateway}/{p.reference}"),
        }  # fmt: skip
        doc = prepare(receipt_xml(self.facts(row, order)), PAYMENT_RECEIPT, limits=self.limits)
        row["receipt_hash"] = hex0x(doc.doc_hash)
        return row, doc

    def _record(
        self,
        tx: sqlite3.Connection,
        gateway: str,
        p: PaymentNotice,
        now: str,
        plan: tuple[dict[str, Any], PreparedDocument],
    ) -> tuple[dict[str, Any], PreparedDocument | None]:
        base = {"reference": p.reference, "order": p.order}
        seen = tx.execute(
            "SELECT * FROM payments WHERE gateway = ? AND reference = ?", (gateway, p.reference)
        ).fetchone()
        if seen is not None:
            if seen["fingerprint"] != p.fingerprint():
                return {**base, "status": "conflict", "error": "payment_reference_conflict",
                        "detail": f"payment {p.reference} was recorded with other content; "
                        "the first record stands"}, None  # fmt: skip
            return {**payment_result(seen), "duplicate": True}, None
        order_row = tx.execute(
            "SELECT * FROM payment_orders WHERE reference = ?", (p.order,)
        ).fetchone()
        order = order_json(order_row) if order_row is not None else None
        row, doc = plan
        status, error, detail = self._outcome(p, order)
        if (status, error, detail) != (row["status"], row["error"], row["detail"]):
            row, doc = self._plan(gateway, p, order, now)  # the order changed meanwhile
        tx.execute(
            f"INSERT INTO payments ({', '.join(row)}) VALUES ({','.join('?' * len(row))})",
            tuple(row.values()),
        )
        if status == "applied":
            tx.execute(
                "UPDATE payment_orders SET state = 'paid', settled_at = ? WHERE reference = ?",
                (now, p.order),
            )
            # "applied" implies an order (see _outcome)
            if order is not None and order["state"] == "guaranteed" and order["guarantee_id"]:
                self._move(tx, order["guarantee_id"], p.order, "restore", order["amount"],
                           f"gateway {gateway}", None)  # fmt: skip
        return payment_result(row), doc

    def facts(self, row: dict[str, Any], order: dict[str, Any] | None) -> ReceiptFacts:
        """The receipt of a recorded payment, rebuilt from its record (same bytes, same hash)."""
        return ReceiptFacts(
            receipt_id=row["receipt_id"],
            customs=self.member_id,
            order=row["order_ref"],
            method="GATEWAY",
            payment_reference=row["reference"],
            amount=Decimal(row["amount"]),
            currency=row["currency"],
            paid_at=datetime.fromisoformat(row["paid_at"]),
            payer_name=row["payer_name"],
            payer_id=row["payer_id"],
            payer_scheme=row["payer_scheme"],
            # a refunded payment keeps its first receipt (REFUND_DUE); the refund has its own
            status="APPLIED" if row["status"] == "applied" else "REFUND_DUE",
            declaration_id=row["declaration_id"],
            declaration_hash=order["declaration_hash"] if order else None,
            gateway=row["gateway"],
            reason=row["detail"],
        )

    def _queue_receipts(self, prepared: list[PreparedDocument], user: str) -> None:
        if not prepared:
            return
        self.records.keep(prepared, f"gateway:{user}")
        hashes = [hex0x(d.doc_hash) for d in prepared]
        with self.db.transaction() as tx:
            tx.executemany(
                "UPDATE payments SET receipt_queued = 1 WHERE receipt_hash = ?",
                [(h,) for h in hashes],
            )

    def ensure_receipts(self) -> int:
        """Queue receipts of payments recorded but not queued (a crash between the two)."""
        rows = self.db.query(
            "SELECT p.*, o.declaration_hash FROM payments p LEFT JOIN payment_orders o"
            " ON o.reference = p.order_ref WHERE p.receipt_queued = 0 LIMIT 500"
        )
        if not rows:
            return 0
        docs = []
        for r in rows:
            row = dict(r)
            order = (
                {"declaration_hash": row.pop("declaration_hash")} if r["declaration_hash"] else None
            )
            docs.append(
                prepare(receipt_xml(self.facts(row, order)), PAYMENT_RECEIPT, limits=self.limits)
            )
        self._queue_receipts(docs, "recovery")
        return len(docs)


def payment_result(r: Any) -> dict[str, Any]:
    out = {
        "reference": r["reference"],
        "order": r["order_ref"],
        "declaration": r["declaration_id"],
        "status": r["status"],
        "amount": r["amount"],
        "currency": r["currency"],
        "receipt": r["receipt_id"],
        "receipt_hash": r["receipt_hash"],
    }
    if r["error"]:
        out["error"] = r["error"]
        out["detail"] = r["detail"]
    return out


def _counts(results: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results:
        key = "duplicate" if r.get("duplicate") else r["status"]
        out[key] = out.get(key, 0) + 1
    return out
