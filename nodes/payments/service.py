"""Duties payable at a node: payment orders, the gateway's signed messages, guarantees,
refunds, officers' inspection outcomes and the release state of each declaration.

Both sides of the flow, without HTTP:

- Clearance decides a declaration; if it levies duties and taxes, `ensure_order` issues a
  payment order (ISO 11649 reference, amount, currency, due date).
- The trader pays at the bank or e-payment gateway.  Before taking the money the gateway
  asks `check` (is this order open, for this amount and currency?); once it moved the money
  it sends a `callback` (one or many payments), signed with its registered Ed25519 key,
  fresh, with a nonce never seen.  Every payment in an authentic callback is recorded, keyed
  by the gateway's reference (a repeat is answered as before, the same reference with other
  content is a conflict): applied to its order, or — when the order is unknown or already
  paid, or the amount or currency differ — recorded as a refund due with the reason.  Money
  a gateway confirmed is never dropped.  Each recorded payment gets a receipt document,
  anchored through the records outbox, so an auditor sees what was paid, when and by whom.
- A trusted trader may instead `defer` against a registered guarantee: the amount is drawn
  down from it (never below zero) and restored when the order is paid.
- Release: goods are released only when the channel allows it (C1, or the officer's
  documentary check / inspection of the current channel passed) and the duties are paid or
  secured.  `release` says `awaiting_payment`, `released` or `held` and why; once released,
  a declaration stays released (the goods have left).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from nodes.clearance.service import ClearanceService
from nodes.payments.gateway import CALLBACK_PATH, CHECK_PATH, GatewayMessages
from nodes.payments.guarantees import GuaranteeBook, order_json
from nodes.payments.release import RELEASE_STATES, ReleaseBook
from nodes.records import RecordService
from offchain.db import Database
from offchain.declarations import Declaration
from offchain.doctypes import PAYMENT_RECEIPT
from offchain.documents import PreparedDocument, prepare
from offchain.hexbytes import hex0x
from offchain.outbox import utc_now
from offchain.payments import (
    PaymentError,
    ReceiptFacts,
    cents,
    receipt_id,
    receipt_xml,
    rf_reference,
    valid_rf,
)
from offchain.settings import Settings
from offchain.xmlsafe import XmlLimits

MIGRATIONS = [
    """
    CREATE TABLE payment_orders (
        reference TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        declaration_id TEXT NOT NULL UNIQUE,
        declaration_hash TEXT NOT NULL,
        importer_scheme TEXT NOT NULL,
        importer_id TEXT NOT NULL,
        importer_name TEXT NOT NULL,
        amount TEXT NOT NULL,
        currency TEXT NOT NULL,
        due_date TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('open', 'guaranteed', 'paid')),
        created_at TEXT NOT NULL,
        settled_at TEXT,
        guarantee_id TEXT
    );
    CREATE TABLE payments (
        gateway TEXT NOT NULL,
        reference TEXT NOT NULL,
        order_ref TEXT NOT NULL,
        declaration_id TEXT,
        amount TEXT NOT NULL,
        currency TEXT NOT NULL,
        paid_at TEXT NOT NULL,
        payer_name TEXT NOT NULL,
        payer_id TEXT,
        payer_scheme TEXT,
        received_at TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('applied', 'refund_due', 'refunded')),
        error TEXT,
        detail TEXT,
        fingerprint TEXT NOT NULL,
        receipt_id TEXT NOT NULL,
        receipt_hash TEXT NOT NULL,
        receipt_queued INTEGER NOT NULL DEFAULT 0,
        refunded_at TEXT,
        refunded_by TEXT,
        refund_reference TEXT,
        refund_receipt_hash TEXT,
        PRIMARY KEY (gateway, reference)
    );
    CREATE INDEX payments_order ON payments (order_ref);
    CREATE INDEX payments_declaration ON payments (declaration_id);
    CREATE INDEX payments_status ON payments (status);
    CREATE TABLE payment_gateways (
        id TEXT PRIMARY KEY,
        public_key TEXT NOT NULL,
        registered_at TEXT NOT NULL,
        registered_by TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE TABLE gateway_nonces (
        gateway TEXT NOT NULL,
        nonce TEXT NOT NULL,
        seen_at REAL NOT NULL,
        PRIMARY KEY (gateway, nonce)
    );
    CREATE TABLE guarantees (
        id TEXT PRIMARY KEY,
        holder_scheme TEXT NOT NULL,
        holder_id TEXT NOT NULL,
        holder_name TEXT NOT NULL,
        issuer TEXT NOT NULL,
        amount TEXT NOT NULL,
        available TEXT NOT NULL,
        currency TEXT NOT NULL,
        valid_from TEXT NOT NULL,
        valid_to TEXT NOT NULL,
        registered_at TEXT NOT NULL,
        registered_by TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE TABLE guarantee_movements (
        id INTEGER PRIMARY KEY,
        guarantee_id TEXT NOT NULL REFERENCES guarantees (id),
        order_ref TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('draw', 'restore')),
        amount TEXT NOT NULL,
        available_after TEXT NOT NULL,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        receipt_id TEXT,
        receipt_hash TEXT
    );
    CREATE TABLE inspections (
        id INTEGER PRIMARY KEY,
        declaration_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('passed', 'failed')),
        note TEXT NOT NULL,
        officer TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX inspections_declaration ON inspections (declaration_id, id);
    CREATE TABLE releases (
        declaration_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        released_at TEXT,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE release_events (
        id INTEGER PRIMARY KEY,
        declaration_id TEXT NOT NULL,
        state TEXT NOT NULL,
        at TEXT NOT NULL,
        why TEXT NOT NULL
    );
    CREATE INDEX release_events_declaration ON release_events (declaration_id, id)
    """,
]


class PaymentService(GatewayMessages, GuaranteeBook, ReleaseBook):
    """Orders, payments, receipts and refunds; the gateway's messages (gateway.py),
    guarantees (guarantees.py) and release state (release.py) are mixed in."""

    def __init__(
        self,
        settings: Settings,
        member_id: str,
        db: Database,
        clearance: ClearanceService,
        records: RecordService,
    ) -> None:
        self.settings = settings
        self.member_id = member_id
        self.db = db
        self.clearance = clearance
        self.records = records
        self.limits = XmlLimits.from_settings(settings.documents)
        self._receipts_pending: list[tuple[list[PreparedDocument], str]] = []
        self._receipts_lock = threading.Lock()
        db.migrate("nodes.payments", MIGRATIONS)

    @property
    def currency(self) -> str:
        """What duties are paid in: the clearance service's (one place decides it)."""
        return self.clearance.currency

    # --- orders ------------------------------------------------------------------------

    def _decision(self, declaration_id: str) -> dict[str, Any]:
        rows = self.db.query(
            "SELECT declaration_hash, channel, decision, reroutes, created_by, created_at"
            " FROM declarations WHERE declaration_id = ?",
            (declaration_id,),
        )
        if not rows:
            raise PaymentError(
                "unknown_declaration", f"no declaration {declaration_id} was lodged at this node"
            )
        r = rows[0]
        return {
            "hash": r["declaration_hash"],
            "channel": r["channel"],
            "decision": json.loads(r["decision"]),
            "reroutes": json.loads(r["reroutes"]),
            "created_by": r["created_by"],
            "created_at": r["created_at"],
        }

    def ensure_order(self, declaration_id: str) -> dict[str, Any] | None:
        """The declaration's payment order, issued now if its decision levies duties."""
        order = self.order_for(declaration_id)
        if order is not None:
            return order
        d = self._decision(declaration_id)
        decl = d["decision"].get("declaration") or {}
        total = Decimal(str((d["decision"].get("duties") or {}).get("total", "0")))
        if decl.get("type") != "IM" or total <= 0:
            return None
        importer = decl.get("importer") or {}
        now = datetime.now(UTC)
        due = (now.date() + timedelta(days=self.settings.payments.due_days)).isoformat()
        with self.db.transaction() as tx:
            found = tx.execute(
                "SELECT reference FROM payment_orders WHERE declaration_id = ?", (declaration_id,)
            ).fetchone()
            if found is None:
                seq = tx.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM payment_orders").fetchone()[
                    0
                ]
                base = "".join(ch for ch in self.member_id.upper() if ch.isalnum())[:8]
                tx.execute(
                    "INSERT INTO payment_orders (reference, seq, declaration_id, declaration_hash,"
                    " importer_scheme, importer_id, importer_name, amount, currency, due_date,"
                    " state, created_at) VALUES (?,?,?,?,?,?,?,?,?,?, 'open', ?)",
                    (
                        rf_reference(f"{base}{seq:010d}"),
                        seq,
                        declaration_id,
                        d["hash"],
                        str(importer.get("id_scheme", "")),
                        str(importer.get("id", "")),
                        str(importer.get("name", "")),
                        cents(total),
                        self.currency,
                        due,
                        now.isoformat(timespec="seconds"),
                    ),
                )
        return self.order_for(declaration_id)

    def order_for(self, declaration_id: str) -> dict[str, Any] | None:
        rows = self.db.query(
            "SELECT * FROM payment_orders WHERE declaration_id = ?", (declaration_id,)
        )
        return order_json(rows[0]) if rows else None

    def order(self, reference: str) -> dict[str, Any]:
        if not valid_rf(reference):
            raise PaymentError(
                "invalid_reference",
                f"{reference!r} is not a payment order reference (ISO 11649 check digits)",
            )
        rows = self.db.query("SELECT * FROM payment_orders WHERE reference = ?", (reference,))
        if not rows:
            raise PaymentError("unknown_order", f"no payment order {reference} at this node")
        return order_json(rows[0])

    def orders(
        self, *, state: str | None = None, user: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        """Payment orders, newest first; `user`: only declarations that user lodged."""
        sql = "SELECT o.* FROM payment_orders o JOIN declarations d USING (declaration_id)"
        where, args = [], []
        if state:
            where.append("o.state = ?")
            args.append(state)
        if user:
            where.append("d.created_by = ?")
            args.append(user)
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.db.query(sql + " ORDER BY o.seq DESC LIMIT ?", (*args, limit))
        return [order_json(r) for r in rows]

    def payment_view(self, declaration_id: str) -> dict[str, Any]:
        """What the trader needs to pay: the order (or why there is none) and past payments."""
        self._decision(declaration_id)  # 404 for an unknown declaration
        order = self.ensure_order(declaration_id)
        return {
            "declaration": declaration_id,
            "order": order,
            "payable": order is not None and order["state"] in ("open", "guaranteed"),
            "payments": self.payments(declaration_id=declaration_id),
            "guarantee_movements": self._movements(order["reference"]) if order else [],
        }

    # --- payments, receipts, refunds -----------------------------------------------------

    def payments(
        self, *, declaration_id: str | None = None, status: str | None = None,
        user: str | None = None, limit: int = 200,
    ) -> list[dict[str, Any]]:  # fmt: skip
        sql = "SELECT p.* FROM payments p LEFT JOIN declarations d USING (declaration_id)"
        where, args = [], []
        if declaration_id:
            where.append("p.declaration_id = ?")
            args.append(declaration_id)
        if status:
            where.append("p.status = ?")
            args.append(status)
        if user:
            where.append("d.created_by = ?")
            args.append(user)
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.db.query(sql + " ORDER BY p.received_at DESC LIMIT ?", (*args, limit))
        return [self._payment_json(r) for r in rows]

    def _payment_json(self, r: Any) -> dict[str, Any]:
        out = {k: r[k] for k in r.keys() if k not in ("fingerprint", "receipt_queued")}
        out["receipt_state"] = self.records.state(r["receipt_hash"])
        return out

    def receipt(self, receipt_number: str) -> dict[str, Any]:
        """A payment receipt: the recorded facts, the document and its anchoring receipt."""
        rows = self.db.query("SELECT * FROM payments WHERE receipt_id = ?", (receipt_number,))
        if rows:
            r = rows[0]
            h = r["receipt_hash"]
            kind = "payment"
        else:
            mv = self.db.query(
                "SELECT * FROM guarantee_movements WHERE receipt_id = ?", (receipt_number,)
            )
            if not mv:
                raise PaymentError("unknown_payment", f"no receipt {receipt_number} at this node")
            r, h, kind = mv[0], mv[0]["receipt_hash"], "guarantee"
        anchoring = self.records.receipt(h)
        return {
            "receipt_id": receipt_number,
            "kind": kind,
            "record": {k: r[k] for k in r.keys() if k not in ("fingerprint", "receipt_queued")},
            "doc_hash": h,
            "state": self.records.state(h),
            "document": self.records.open(h).decode() if self.records.state(h) else None,
            "anchoring": anchoring.to_json() if anchoring else None,
        }

    def settle_refund(
        self, gateway: str, reference: str, bank_reference: str, officer: str
    ) -> dict[str, Any]:
        """An officer records that a refund due was paid back (with the bank's reference)."""
        with self.db.transaction() as tx:
            row = tx.execute(
                "SELECT * FROM payments WHERE gateway = ? AND reference = ?", (gateway, reference)
            ).fetchone()
            if row is None:
                raise PaymentError("unknown_payment", f"no payment {reference} of {gateway}")
            if row["status"] != "refund_due":
                raise PaymentError(
                    "not_refundable", f"payment {reference} is {row['status']}, not refund_due"
                )
            facts = ReceiptFacts(
                **{**self.facts(dict(row), None).__dict__,
                   "receipt_id": receipt_id(self.member_id, f"{gateway}/{reference}/refund"),
                   "status": "REFUNDED", "declaration_hash": None,
                   "reason": f"refunded by {officer}, bank reference {bank_reference}"}
            )  # fmt: skip
            doc = prepare(receipt_xml(facts), PAYMENT_RECEIPT, limits=self.limits)
            tx.execute(
                "UPDATE payments SET status = 'refunded', refunded_at = ?, refunded_by = ?,"
                " refund_reference = ?, refund_receipt_hash = ? WHERE gateway = ? AND reference = ?",
                (utc_now(), officer, bank_reference, hex0x(doc.doc_hash), gateway, reference),
            )
        self.records.keep([doc], officer)
        return self._payment_json(
            self.db.query(
                "SELECT * FROM payments WHERE gateway = ? AND reference = ?", (gateway, reference)
            )[0]
        )


def pay_through_gateway(
    settings: Settings, member_id: str, order: dict[str, Any], payer: dict[str, Any]
) -> dict[str, Any]:
    """Ask the payment gateway to pay `order` for `payer` (the console's pay button).

    In production the trader's browser would be sent to the bank's own payment page; the
    stand-in gateway takes the request directly.  Raises PaymentError with the gateway's
    error code when it refuses.
    """
    body = {
        "member": member_id,
        "order": order["reference"],
        "amount": order["amount"],
        "currency": order["currency"],
        "payer": payer,
    }
    url = f"{settings.payments.gateway_url}/pay"
    try:
        resp = httpx.post(url, json=body, timeout=settings.payments.gateway_timeout_s)
    except httpx.HTTPError as exc:
        raise PaymentError(
            "gateway_unavailable",
            f"the payment gateway does not answer at {url} ({type(exc).__name__})",
        ) from None
    try:
        data = resp.json()
    except ValueError:
        data = {"error": "gateway_error", "detail": resp.text[:200]}
    if resp.status_code >= 400:
        raise PaymentError(str(data.get("error") or "gateway_error"), str(data.get("detail")))
    return data


class PaymentClearanceHook:
    """Clearance hook: a decided declaration gets its payment order and release state."""

    name = "payment"

    def __init__(self, service: PaymentService) -> None:
        self.service = service

    def before(self, decl: Declaration) -> dict[str, Any] | None:
        return None

    def abandon(self, decl: Declaration) -> None:
        return None

    def after(self, decl: Declaration, decision: dict[str, Any]) -> dict[str, Any]:
        order = self.service.ensure_order(decl.declaration_id)
        return {"payment": order, "release": self.service.refresh_release(decl.declaration_id)}

    def changed(self, declaration_id: str) -> None:
        self.service.refresh_release(declaration_id)


__all__ = [
    "CALLBACK_PATH",
    "CHECK_PATH",
    "RELEASE_STATES",
    "PaymentClearanceHook",
    "PaymentService",
    "pay_through_gateway",
    "valid_rf",
]
