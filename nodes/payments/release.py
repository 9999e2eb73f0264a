"""Release of goods: officers' documentary check and inspection outcomes, and each
declaration's release state — `released` only when the channel allows it and the duties are
paid or secured (part of PaymentService)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from nodes.payments.guarantees import order_json
from offchain.outbox import utc_now
from offchain.payments import PaymentError

if TYPE_CHECKING:
    from offchain.db import Database

RELEASE_STATES = ("awaiting_payment", "released", "held")


class ReleaseBook:
    """Inspections and release state; mixed into PaymentService (its database, decisions
    and orders)."""

    # Set by PaymentService.__init__ (declared here for the type checker only).
    db: Database

    if TYPE_CHECKING:
        # Defined by PaymentService, the class this one is mixed into.
        def _decision(self, declaration_id: str) -> dict[str, Any]: ...
        def ensure_order(self, declaration_id: str) -> dict[str, Any] | None: ...

    def inspect(self, declaration_id: str, outcome: str, note: str, officer: str) -> dict[str, Any]:
        """An officer's documentary check or inspection outcome for the current channel."""
        d = self._decision(declaration_id)
        if d["channel"] == "C1":
            raise PaymentError(
                "no_check_due", f"declaration {declaration_id} is C1: no check to record"
            )
        self.db.execute(
            "INSERT INTO inspections (declaration_id, channel, outcome, note, officer, at)"
            " VALUES (?,?,?,?,?,?)",
            (declaration_id, d["channel"], outcome, note, officer, utc_now()),
        )
        return self.refresh_release(declaration_id)

    def _inspection(self, declaration_id: str, channel: str) -> dict[str, Any] | None:
        rows = self.db.query(
            "SELECT * FROM inspections WHERE declaration_id = ? AND channel = ?"
            " ORDER BY id DESC LIMIT 1",
            (declaration_id, channel),
        )
        return dict(rows[0]) if rows else None

    def release(self, declaration_id: str) -> dict[str, Any]:
        """The release state now, with what it waits for (computed; see refresh_release)."""
        d = self._decision(declaration_id)
        order = self.ensure_order(declaration_id)
        stored = self.db.query(
            "SELECT state, released_at FROM releases WHERE declaration_id = ?", (declaration_id,)
        )
        channel = d["channel"]
        inspection = self._inspection(declaration_id, channel) if channel != "C1" else None
        return _state(declaration_id, channel, order, inspection, stored[0] if stored else None)

    def refresh_release(self, declaration_id: str) -> dict[str, Any]:
        """Compute the release state and record it (with an event when it changed)."""
        r = self.release(declaration_id)
        return self._record_releases([r])[0]

    def refresh_releases(self, declaration_ids: Iterable[str]) -> None:
        """`refresh_release` for many declarations at once (a gateway callback's): their
        channels, orders, checks and stored states read in a few queries, written in one
        transaction."""
        ids = sorted(set(declaration_ids))
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            channels = {
                r["declaration_id"]: r["channel"]
                for r in self.db.query(
                    f"SELECT declaration_id, channel FROM declarations WHERE declaration_id IN"
                    f" ({marks})",
                    part,
                )
            }
            orders = {
                r["declaration_id"]: order_json(r)
                for r in self.db.query(
                    f"SELECT * FROM payment_orders WHERE declaration_id IN ({marks})", part
                )
            }
            stored = {
                r["declaration_id"]: r
                for r in self.db.query(
                    f"SELECT declaration_id, state, released_at FROM releases WHERE"
                    f" declaration_id IN ({marks})",
                    part,
                )
            }
            checks: dict[tuple[str, str], dict[str, Any]] = {}
            for r in self.db.query(
                f"SELECT * FROM inspections WHERE declaration_id IN ({marks}) ORDER BY id", part
            ):
                checks[(r["declaration_id"], r["channel"])] = dict(r)  # the latest wins
            self._record_releases(
                [
                    _state(
                        did,
                        channels[did],
                        orders.get(did),
                        checks.get((did, channels[did])) if channels[did] != "C1" else None,
                        stored.get(did),
                    )
                    for did in part
                    if did in channels
                ]
            )

    def _record_releases(self, computed: list[dict[str, Any]]) -> list[dict[str, Any]]:
        now = utc_now()
        out = []
        with self.db.transaction() as tx:
            for r in computed:
                did = r["declaration"]
                old = tx.execute(
                    "SELECT state FROM releases WHERE declaration_id = ?", (did,)
                ).fetchone()
                if old is not None and old["state"] == r["state"]:
                    out.append(r)
                    continue
                released_at = now if r["state"] == "released" else None
                tx.execute(
                    "INSERT INTO releases (declaration_id, state, released_at, updated_at)"
                    " VALUES (?,?,?,?) ON CONFLICT (declaration_id) DO UPDATE SET"
                    " state = excluded.state, released_at = excluded.released_at,"
                    " updated_at = excluded.updated_at",
                    (did, r["state"], released_at, now),
                )
                tx.execute(
                    "INSERT INTO release_events (declaration_id, state, at, why) VALUES (?,?,?,?)",
                    (did, r["state"], now, "; ".join(r["waiting_for"]) or "released"),
                )
                out.append({**r, "released_at": released_at})
        return out

    def release_events(self, declaration_id: str) -> list[dict[str, Any]]:
        return [
            dict(r)
            for r in self.db.query(
                "SELECT state, at, why FROM release_events WHERE declaration_id = ? ORDER BY id",
                (declaration_id,),
            )
        ]

    def releases(self, *, state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Declarations with their recorded release state, newest first."""
        sql = (
            "SELECT d.declaration_id, d.channel, d.created_at, d.created_by, r.state, r.released_at"
            " FROM declarations d LEFT JOIN releases r USING (declaration_id)"
        )
        args: list[Any] = []
        if state:
            sql += " WHERE r.state = ?"
            args.append(state)
        rows = self.db.query(sql + " ORDER BY d.created_at DESC LIMIT ?", (*args, limit))
        return [dict(r) for r in rows]


def _state(
    declaration_id: str,
    channel: str,
    order: dict[str, Any] | None,
    inspection: dict[str, Any] | None,
    stored: Any,
) -> dict[str, Any]:
    """The release state of one declaration from what it depends on."""
    waiting = []
    channel_ok = channel == "C1" or (inspection is not None and inspection["outcome"] == "passed")
    if not channel_ok:
        if inspection is not None:
            waiting.append(
                f"the {channel} check failed ({inspection['officer']}: {inspection['note']})"
            )
        else:
            check = "documentary check" if channel == "C2" else "physical inspection"
            waiting.append(f"channel {channel}: {check} by an officer")
    paid = order is None or order["state"] in ("paid", "guaranteed")
    if order is not None and not paid:  # not paid implies an order
        waiting.append(
            f"duties of {order['amount']} {order['currency']} unpaid (order "
            f"{order['reference']}, due {order['due_date']})"
        )
    if stored is not None and stored["state"] == "released":
        state, released_at = "released", stored["released_at"]
    elif not channel_ok:
        state, released_at = "held", None
    else:
        state, released_at = ("released" if paid else "awaiting_payment"), None
    keep = ("reference", "amount", "currency", "due_date", "state", "guarantee_id", "settled_at")
    return {
        "declaration": declaration_id,
        "state": state,
        "channel": channel,
        "released_at": released_at,
        "waiting_for": [] if state == "released" else waiting,
        "payment": None if order is None else {k: order[k] for k in keep},
        "inspection": inspection,
    }
