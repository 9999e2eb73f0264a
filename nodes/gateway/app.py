"""A payment gateway stand-in: what a bank's e-payment gateway does for customs duties.

No bank can be reached from here, so this small service stands in for one; it is a real
HTTP service with a real key, and the customs node's side is exactly what a real gateway
integration needs (see offchain/payments.py):

1. A payer asks to pay a payment order (`POST /pay`: member, order reference, amount,
   currency, payer).  The gateway checks the ISO 11649 reference, then asks the member's
   customs node whether the order is open for that amount and currency (signed
   `POST /payments/check`).  A refusal (unknown order, already paid, another amount or
   currency) is passed back to the payer with the node's error code; nothing is taken.
2. It "takes" the money: no money moves, a transaction is written to the gateway's own
   ledger (SQLite, `<home>/gateway/<id>.sqlite`) under a new transaction reference.
3. It confirms the payment to the node with a signed callback (`POST /payments/callback`,
   Ed25519, timestamp and nonce) and keeps the node's answer.  When the node cannot be
   reached the transaction stays `taken` and is confirmed again every few seconds (same
   reference: the node records it once) until the node answers: taken money is never lost.

`POST /pay` also takes `{"member", "payments": [...]}`: many payments checked and confirmed
in one message each way, as a bank's batch settlement would.

The key is `var/keys/signing/gateway/<id>.key` (generated on first use, never committed);
its public key is at `GET /key`, and an administrator registers it with each node
(`smartcustoms gateway register --member TW`, or `POST /payments/gateways`).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from offchain.db import Database
from offchain.keystore import Keystore
from offchain.payments import PaymentError, cents, money, sign_request, valid_rf
from offchain.settings import Settings, UnknownMemberError

log = logging.getLogger(__name__)

RETRY_S = 2.0
MAX_PAYMENTS = 1000
_ID = r"^[0-9A-Za-z][0-9A-Za-z._/\-]{0,34}$"

MIGRATIONS = [
    """
    CREATE TABLE transactions (
        reference TEXT PRIMARY KEY,
        member TEXT NOT NULL,
        order_ref TEXT NOT NULL,
        amount TEXT NOT NULL,
        currency TEXT NOT NULL,
        payer TEXT NOT NULL,
        paid_at TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('taken', 'confirmed')),
        node_status TEXT,
        node_result TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    );
    CREATE INDEX transactions_pending ON transactions (state, member)
    """,
]


class PayerIn(BaseModel):
    name: str = Field(min_length=1, max_length=256)
    id: str | None = Field(None, pattern=_ID)
    id_scheme: str | None = Field(None, pattern=_ID)


class PaymentIn(BaseModel):
    order: str = Field(min_length=5, max_length=25)
    amount: str | float | int
    currency: str = Field(pattern="^[A-Z]{3}$")
    payer: PayerIn


class PayIn(BaseModel):
    member: str = Field(pattern=r"^[A-Z][A-Z0-9_-]{0,30}$")
    order: str | None = Field(None, min_length=5, max_length=25)
    amount: str | float | int | None = None
    currency: str | None = Field(None, pattern="^[A-Z]{3}$")
    payer: PayerIn | None = None
    payments: list[PaymentIn] | None = Field(None, min_length=1, max_length=MAX_PAYMENTS)


class GatewayError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


class Gateway:
    """The stand-in's ledger, key and the two signed calls it makes to customs nodes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.id = settings.payments.gateway_id
        self.key = Keystore(settings.keys_dir).signing_key(f"gateway/{self.id}")
        self.db = Database(settings.home / "gateway" / f"{self.id}.sqlite")
        self.db.migrate("nodes.gateway", MIGRATIONS)
        self.client = httpx.Client(timeout=settings.payments.gateway_timeout_s)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def public_key(self) -> str:
        return bytes(self.key.verify_key).hex()

    def _post(self, member: str, path: str, payload: dict[str, Any]) -> httpx.Response:
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = sign_request(self.key, self.id, member, "POST", path, body)
        try:
            url = self.settings.node_url(member) + path
        except UnknownMemberError as exc:
            raise GatewayError(404, "unknown_member", str(exc)) from None
        try:
            return self.client.post(
                url, content=body, headers={**headers, "Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise GatewayError(
                502, "node_unavailable", f"customs node {member} does not answer ({exc})"
            ) from None

    def pay(self, req: PayIn) -> tuple[int, dict[str, Any]]:
        single = req.payments is None
        if req.payments is None:
            if req.order is None or req.amount is None or req.currency is None or not req.payer:
                raise GatewayError(
                    422, "invalid_request", "give order, amount, currency and payer, or payments"
                )
            items = [PaymentIn(order=req.order, amount=req.amount, currency=req.currency,
                               payer=req.payer)]  # fmt: skip
        else:
            items = req.payments
        refused: dict[int, dict[str, Any]] = {}
        for i, p in enumerate(items):
            if not valid_rf(p.order):
                refused[i] = {"error": "invalid_reference", "status": 422,
                              "detail": f"{p.order!r} is not a valid payment order reference "
                              "(ISO 11649 check digits)"}  # fmt: skip
                continue
            try:
                money(p.amount)
            except PaymentError as exc:
                refused[i] = {"error": exc.code, "detail": exc.detail, "status": 422}
        checkable = [i for i in range(len(items)) if i not in refused]
        if checkable:
            resp = self._post(
                req.member,
                "/payments/check",
                {"payments": [{"order": items[i].order, "amount": cents(money(items[i].amount)),
                               "currency": items[i].currency} for i in checkable]},
            )  # fmt: skip
            data = _json(resp)
            if resp.status_code != 200:
                raise GatewayError(
                    502, "node_refused",
                    f"customs node {req.member} refused the check ({resp.status_code} "
                    f"{data.get('error')}: {data.get('detail')})",
                )  # fmt: skip
            for i, r in zip(checkable, data["results"], strict=True):
                if not r["ok"]:
                    refused[i] = {"error": r["error"], "detail": r["detail"], "status": r["status"]}
        if single and refused:
            r = refused[0]
            return r["status"], {"error": r["error"], "detail": r["detail"]}
        taken = self._take(
            req.member, [(i, items[i]) for i in range(len(items)) if i not in refused]
        )
        self.confirm(req.member, [t for _, t in taken])
        results: list[dict[str, Any]] = []
        by_index = dict(taken)
        for i, p in enumerate(items):
            if i in refused:
                results.append({"order": p.order, "state": "refused", **refused[i]})
            else:
                results.append(self.transaction(by_index[i]))
        return 200, (results[0] if single else {"results": results})

    def _take(self, member: str, items: list[tuple[int, PaymentIn]]) -> list[tuple[int, str]]:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        rows, out = [], []
        for i, p in items:
            ref = "GW" + secrets.token_hex(8).upper()
            rows.append((ref, member, p.order, cents(money(p.amount)), p.currency,
                         p.payer.model_dump_json(exclude_none=True), now))  # fmt: skip
            out.append((i, ref))
        with self.db.transaction() as tx:
            tx.executemany(
                "INSERT INTO transactions (reference, member, order_ref, amount, currency, payer,"
                " paid_at, state) VALUES (?,?,?,?,?,?,?, 'taken')",
                rows,
            )
        return out

    def confirm(self, member: str, references: list[str]) -> None:
        """Send the callback for these taken transactions; on failure they stay `taken`."""
        if not references:
            return
        marks = ",".join("?" * len(references))
        rows = self.db.query(f"SELECT * FROM transactions WHERE reference IN ({marks})", references)
        payments = [
            {"reference": r["reference"], "order": r["order_ref"], "amount": r["amount"],
             "currency": r["currency"], "paid_at": r["paid_at"], "payer": json.loads(r["payer"])}
            for r in rows
        ]  # fmt: skip
        try:
            resp = self._post(member, "/payments/callback", {"payments": payments})
            data = _json(resp)
            if resp.status_code != 200:
                raise GatewayError(
                    resp.status_code, str(data.get("error")), str(data.get("detail"))
                )
        except GatewayError as exc:
            self.db.execute(
                f"UPDATE transactions SET attempts = attempts + 1, last_error = ?"
                f" WHERE reference IN ({marks})",
                (f"{exc.code}: {exc.detail}"[:500], *references),
            )
            log.warning("callback to %s deferred: %s", member, exc.detail)
            self._wake.set()
            return
        with self.db.transaction() as tx:
            tx.executemany(
                "UPDATE transactions SET state = 'confirmed', node_status = ?, node_result = ?,"
                " attempts = attempts + 1, last_error = NULL WHERE reference = ?",
                [(r["status"], json.dumps(r), r["reference"]) for r in data["results"]],
            )

    def transaction(self, reference: str) -> dict[str, Any]:
        rows = self.db.query("SELECT * FROM transactions WHERE reference = ?", (reference,))
        if not rows:
            raise GatewayError(404, "unknown_transaction", f"no transaction {reference}")
        r = rows[0]
        result = json.loads(r["node_result"]) if r["node_result"] else {}
        return {
            "transaction": r["reference"],
            "member": r["member"],
            "order": r["order_ref"],
            "amount": r["amount"],
            "currency": r["currency"],
            "payer": json.loads(r["payer"]),
            "paid_at": r["paid_at"],
            "state": r["state"],
            "status": r["node_status"],
            "declaration": result.get("declaration"),
            "receipt": result.get("receipt"),
            "error": result.get("error"),
            "detail": result.get("detail"),
            "last_error": r["last_error"],
        }

    def retry_pending(self) -> int:
        rows = self.db.query(
            "SELECT member, reference FROM transactions WHERE state = 'taken' LIMIT 1000"
        )
        by_member: dict[str, list[str]] = {}
        for r in rows:
            by_member.setdefault(r["member"], []).append(r["reference"])
        for member, refs in by_member.items():
            self.confirm(member, refs)
        return len(rows)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="gateway-retry", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(RETRY_S):
            try:
                self.retry_pending()
            except Exception:
                log.exception("retrying callbacks failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.client.close()
        self.db.close()


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {"error": "not_json", "detail": resp.text[:200]}
    return data if isinstance(data, dict) else {"error": "not_json", "detail": str(data)[:200]}


def create_gateway_app(settings: Settings, *, retry: bool = True) -> FastAPI:
    """The stand-in's FastAPI app (`smartcustoms gateway serve`)."""
    gateway = Gateway(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if retry:
            gateway.start()
        yield
        gateway.stop()

    app = FastAPI(
        title=f"Payment gateway stand-in ({gateway.id})",
        description="A stand-in for a bank's e-payment gateway: see nodes/gateway/app.py.",
        lifespan=lifespan,
    )
    app.state.gateway = gateway

    @app.exception_handler(GatewayError)
    async def _err(_: Request, exc: GatewayError) -> JSONResponse:
        return JSONResponse({"error": exc.code, "detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return JSONResponse({"error": "invalid_request", "detail": problems}, status_code=422)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"gateway": gateway.id, "public_key": gateway.public_key, "stand_in": True}

    @app.get("/key")
    def key() -> dict[str, str]:
        return {"gateway": gateway.id, "public_key": gateway.public_key, "algorithm": "Ed25519"}

    @app.post("/pay")
    async def pay(request: Request) -> JSONResponse:
        raw = await request.body()
        if len(raw) > 4 * 1024 * 1024:
            raise GatewayError(413, "too_large", "at most 4 MiB per request")
        try:
            req = PayIn.model_validate_json(raw)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"]) or "body"
            raise GatewayError(422, "invalid_request", f"{where}: {err['msg']}") from None
        status, body = await run_in_threadpool(gateway.pay, req)
        return JSONResponse(body, status_code=status)

    @app.get("/transactions/{reference}")
    def transaction(reference: str) -> dict[str, Any]:
        return gateway.transaction(reference)

    return app


def register_with_node(settings: Settings, member: str, api_key: str) -> dict[str, Any]:
    """Register this installation's gateway key with a member node (admin API key)."""
    gid = settings.payments.gateway_id
    public = bytes(Keystore(settings.keys_dir).signing_key(f"gateway/{gid}").verify_key).hex()
    resp = httpx.post(
        f"{settings.node_url(member)}/payments/gateways",
        json={"gateway": gid, "public_key": public},
        headers={"X-API-Key": api_key},
        timeout=30.0,
    )
    data = _json(resp)
    if resp.status_code >= 400:
        raise PaymentError(str(data.get("error")), str(data.get("detail")))
    return data


__all__ = ["Gateway", "create_gateway_app", "register_with_node"]
