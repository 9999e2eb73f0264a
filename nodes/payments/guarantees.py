"""Traders' guarantees: registered by officers, drawn down when a trader defers an order,
restored when the order is paid; never overdrawn (part of PaymentService)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from offchain.declarations import CURRENCY_CODES
from offchain.doctypes import PAYMENT_RECEIPT
from offchain.documents import prepare
from offchain.hexbytes import hex0x
from offchain.outbox import utc_now
from offchain.payments import PaymentError, ReceiptFacts, cents, money, receipt_id, receipt_xml

if TYPE_CHECKING:
    from nodes.records import RecordService
    from offchain.db import Database
    from offchain.xmlsafe import XmlLimits


def _today():
    return datetime.now(UTC).date()


class GuaranteeBook:
    """Guarantee registration, deferral and movements; mixed into PaymentService, whose
    database, records outbox, orders and release state it uses."""

    # Set by PaymentService.__init__ (declared here for the type checker only).
    member_id: str
    db: Database
    records: RecordService
    limits: XmlLimits

    if TYPE_CHECKING:
        # Defined by PaymentService and ReleaseBook, the classes this one is mixed with.
        def _decision(self, declaration_id: str) -> dict[str, Any]: ...
        def ensure_order(self, declaration_id: str) -> dict[str, Any] | None: ...
        def payment_view(self, declaration_id: str) -> dict[str, Any]: ...
        def release(self, declaration_id: str) -> dict[str, Any]: ...
        def refresh_release(self, declaration_id: str) -> dict[str, Any]: ...

    def register_guarantee(self, g: dict[str, Any], user: str) -> dict[str, Any]:
        amount = money(g["amount"])
        currency = g["currency"]
        if currency not in CURRENCY_CODES:
            raise PaymentError("invalid_guarantee", f"{currency!r} is not an ISO 4217 currency")
        if g["valid_to"] < g["valid_from"]:
            raise PaymentError("invalid_guarantee", "valid_to is before valid_from")
        try:
            self.db.execute(
                "INSERT INTO guarantees (id, holder_scheme, holder_id, holder_name, issuer, amount,"
                " available, currency, valid_from, valid_to, registered_at, registered_by)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (g["guarantee_id"], g["holder"]["id_scheme"], g["holder"]["id"],
                 g["holder"]["name"], g["issuer"], cents(amount), cents(amount), currency,
                 g["valid_from"].isoformat(), g["valid_to"].isoformat(), utc_now(), user),
            )  # fmt: skip
        except sqlite3.IntegrityError:
            raise PaymentError(
                "guarantee_exists", f"guarantee {g['guarantee_id']} is already registered"
            ) from None
        return self.guarantee(g["guarantee_id"])

    def guarantee(self, guarantee_id: str) -> dict[str, Any]:
        rows = self.db.query("SELECT * FROM guarantees WHERE id = ?", (guarantee_id,))
        if not rows:
            raise PaymentError("unknown_guarantee", f"no guarantee {guarantee_id} at this node")
        out = dict(rows[0])
        out["movements"] = [
            dict(m)
            for m in self.db.query(
                "SELECT * FROM guarantee_movements WHERE guarantee_id = ? ORDER BY id",
                (guarantee_id,),
            )
        ]
        return out

    def guarantees(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.query("SELECT * FROM guarantees ORDER BY id")]

    def _movements(self, order_ref: str) -> list[dict[str, Any]]:
        return [
            dict(m)
            for m in self.db.query(
                "SELECT * FROM guarantee_movements WHERE order_ref = ? ORDER BY id", (order_ref,)
            )
        ]

    def _move(
        self, tx: sqlite3.Connection, guarantee_id: str, order_ref: str, kind: str,
        amount: str, actor: str, receipt: tuple[str, str] | None,
    ) -> str:  # fmt: skip
        g = tx.execute("SELECT available FROM guarantees WHERE id = ?", (guarantee_id,)).fetchone()
        delta = Decimal(amount) if kind == "restore" else -Decimal(amount)
        after = Decimal(g["available"]) + delta
        tx.execute("UPDATE guarantees SET available = ? WHERE id = ?", (cents(after), guarantee_id))
        tx.execute(
            "INSERT INTO guarantee_movements (guarantee_id, order_ref, kind, amount,"
            " available_after, at, actor, receipt_id, receipt_hash) VALUES (?,?,?,?,?,?,?,?,?)",
            (guarantee_id, order_ref, kind, amount, cents(after), utc_now(), actor,
             *(receipt or (None, None))),
        )  # fmt: skip
        return cents(after)

    def defer(self, declaration_id: str, guarantee_id: str, user: str) -> dict[str, Any]:
        """Secure the order against the importer's guarantee: drawn down now, restored on
        payment.  Refused (nothing drawn) when the guarantee is another holder's, inactive,
        in another currency, or short of the amount."""
        d = self._decision(declaration_id)
        order = self.ensure_order(declaration_id)
        if order is None:
            raise PaymentError("nothing_to_pay", f"declaration {declaration_id} levies no duties")
        with self.db.transaction() as tx:
            g = tx.execute("SELECT * FROM guarantees WHERE id = ?", (guarantee_id,)).fetchone()
            o = order_json(tx.execute(
                "SELECT * FROM payment_orders WHERE reference = ?", (order["reference"],)
            ).fetchone())  # fmt: skip
            if g is None:
                raise PaymentError("unknown_guarantee", f"no guarantee {guarantee_id} at this node")
            if o["state"] != "open":
                raise PaymentError(
                    "already_paid" if o["state"] == "paid" else "already_secured",
                    f"order {o['reference']} is {o['state']}",
                )
            if (g["holder_scheme"], g["holder_id"]) != (o["importer_scheme"], o["importer_id"]):
                raise PaymentError(
                    "guarantee_not_holders",
                    f"guarantee {guarantee_id} is held by {g['holder_scheme']}-{g['holder_id']}, "
                    f"the importer is {o['importer_scheme']}-{o['importer_id']}",
                )
            today = _today().isoformat()
            if g["revoked_at"] or not (g["valid_from"] <= today <= g["valid_to"]):
                raise PaymentError(
                    "guarantee_inactive",
                    f"guarantee {guarantee_id} is valid {g['valid_from']} to {g['valid_to']}"
                    + (f", revoked {g['revoked_at']}" if g["revoked_at"] else ""),
                )
            if g["currency"] != o["currency"]:
                raise PaymentError(
                    "currency_mismatch",
                    f"guarantee {guarantee_id} is in {g['currency']}, the order in {o['currency']}",
                )
            if Decimal(g["available"]) < Decimal(o["amount"]):
                raise PaymentError(
                    "guarantee_insufficient",
                    f"guarantee {guarantee_id} has {g['available']} {g['currency']} available; "
                    f"the order is for {o['amount']}",
                )
            number = receipt_id(self.member_id, f"guarantee/{guarantee_id}/{o['reference']}")
            facts = ReceiptFacts(
                receipt_id=number, customs=self.member_id, order=o["reference"],
                method="GUARANTEE", payment_reference=number, amount=Decimal(o["amount"]),
                currency=o["currency"], paid_at=datetime.now(UTC).replace(microsecond=0),
                payer_name=g["holder_name"], payer_id=g["holder_id"],
                payer_scheme=g["holder_scheme"], status="APPLIED",
                declaration_id=declaration_id, declaration_hash=d["hash"],
                guarantee=guarantee_id, reason=f"deferred by {user} against the guarantee",
            )  # fmt: skip
            doc = prepare(receipt_xml(facts), PAYMENT_RECEIPT, limits=self.limits)
            self._move(tx, guarantee_id, o["reference"], "draw", o["amount"], user,
                       (number, hex0x(doc.doc_hash)))  # fmt: skip
            tx.execute(
                "UPDATE payment_orders SET state = 'guaranteed', guarantee_id = ? WHERE reference = ?",
                (guarantee_id, o["reference"]),
            )
        self.records.keep([doc], user)
        self.refresh_release(declaration_id)
        return {**self.payment_view(declaration_id), "release": self.release(declaration_id)}


def order_json(r: Any) -> dict[str, Any]:
    """A payment order row as the API shows it."""
    d = dict(r)
    d["declaration"] = d.pop("declaration_id")
    return d
