"""Duties payable over HTTP: payment orders, the gateway's signed check and callback,
guarantees and deferral, refunds, officers' check outcomes and each declaration's release
state."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from nodes.api.deps import node, require_role, user
from nodes.api.documents import read_capped
from nodes.auth import NodeUser
from nodes.context import NodeContext
from nodes.payments.service import RELEASE_STATES

router = APIRouter(tags=["payments"])

_ID = r"^[0-9A-Za-z][0-9A-Za-z._/\-]{0,34}$"
DeclarationId = Annotated[str, Path(min_length=1, max_length=35, pattern=_ID)]
OrderRef = Annotated[str, Path(min_length=5, max_length=25, pattern=r"^RF[0-9]{2}[0-9A-Z]{1,21}$")]
GatewayId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$")]
PaymentRef = Annotated[str, Path(min_length=1, max_length=35, pattern=_ID)]


class DeferIn(BaseModel):
    guarantee: str = Field(pattern=_ID)


class InspectionIn(BaseModel):
    outcome: str = Field(pattern="^(passed|failed)$")
    note: str = Field(min_length=3, max_length=500)


class GatewayIn(BaseModel):
    gateway: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$")
    public_key: str = Field(pattern="^[0-9a-fA-F]{64}$", description="Ed25519 public key, hex")


class Holder(BaseModel):
    id: str = Field(pattern=_ID)
    id_scheme: str = Field(pattern=_ID)
    name: str = Field(min_length=1, max_length=256)


class GuaranteeIn(BaseModel):
    guarantee_id: str = Field(pattern=_ID)
    holder: Holder
    issuer: str = Field(min_length=1, max_length=256, description="the bank or insurer")
    amount: str = Field(pattern=r"^[0-9]{1,16}(\.[0-9]{1,2})?$")
    currency: str = Field(pattern="^[A-Z]{3}$")
    valid_from: dt.date
    valid_to: dt.date


class RefundIn(BaseModel):
    bank_reference: str = Field(min_length=1, max_length=35, pattern=_ID)


# --- declarations: status, payment, deferral, check outcome ----------------------------------


@router.get(
    "/declarations/{declaration_id}/status",
    summary="Release state (awaiting_payment, released, held), what it waits for, the payment",
)
def declaration_status(
    declaration_id: DeclarationId, ctx: NodeContext = Depends(node), _: NodeUser = Depends(user)
) -> dict[str, Any]:
    release = ctx.payments.refresh_release(declaration_id)
    rec = ctx.clearance.get(declaration_id)
    return {
        "declaration": declaration_id,
        "declaration_hash": rec["declaration_hash"],
        "channel": rec["channel"],
        "engine_channel": rec["engine_channel"],
        "reasons": rec["reasons"],
        "duties": rec["duties"],
        "release": release,
        "release_history": ctx.payments.release_events(declaration_id),
        "manifest": ctx.manifests.decision_manifest(declaration_id),
        "payments": ctx.payments.payments(declaration_id=declaration_id),
    }


@router.get(
    "/declarations/{declaration_id}/payment",
    summary="The declaration's payment order (reference, amount, currency, due date) and payments",
)
def declaration_payment(
    declaration_id: DeclarationId, ctx: NodeContext = Depends(node), _: NodeUser = Depends(user)
) -> dict[str, Any]:
    return ctx.payments.payment_view(declaration_id)


@router.post(
    "/declarations/{declaration_id}/defer",
    summary="Secure the duties against the importer's registered guarantee (drawn down now)",
)
def defer(
    declaration_id: DeclarationId,
    body: DeferIn,
    ctx: NodeContext = Depends(node),
    u: NodeUser = Depends(require_role("exporter", "officer")),
) -> dict[str, Any]:
    return ctx.payments.defer(declaration_id, body.guarantee, u.user)


@router.post(
    "/declarations/{declaration_id}/inspection",
    summary="An officer records the outcome of the documentary check or inspection",
)
def inspection(
    declaration_id: DeclarationId,
    body: InspectionIn,
    ctx: NodeContext = Depends(node),
    u: NodeUser = Depends(require_role("officer")),
) -> dict[str, Any]:
    return ctx.payments.inspect(declaration_id, body.outcome, body.note, u.user)


@router.get("/releases", summary="Declarations with their release state, newest first")
def releases(
    state: Annotated[str | None, Query(pattern="^(" + "|".join(RELEASE_STATES) + ")$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ctx: NodeContext = Depends(node),
    _: NodeUser = Depends(require_role("officer", "auditor")),
) -> list[dict[str, Any]]:
    return ctx.payments.releases(state=state, limit=limit)


# --- orders, payments, receipts, refunds ----------------------------------------------------


@router.get(
    "/payments/orders", summary="Payment orders (a trader sees those of their declarations)"
)
def orders(
    state: Annotated[str | None, Query(pattern="^(open|guaranteed|paid)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ctx: NodeContext = Depends(node),
    u: NodeUser = Depends(user),
) -> list[dict[str, Any]]:
    mine = u.user if u.role == "exporter" else None
    return ctx.payments.orders(state=state, user=mine, limit=limit)


@router.get("/payments/orders/{reference}", summary="One payment order")
def order(
    reference: OrderRef, ctx: NodeContext = Depends(node), _: NodeUser = Depends(user)
) -> dict[str, Any]:
    return ctx.payments.order(reference)


@router.get("/payments", summary="Payments recorded from gateway callbacks")
def payments(
    declaration: Annotated[str | None, Query(max_length=35)] = None,
    status: Annotated[str | None, Query(pattern="^(applied|refund_due|refunded)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ctx: NodeContext = Depends(node),
    u: NodeUser = Depends(user),
) -> list[dict[str, Any]]:
    mine = u.user if u.role == "exporter" else None
    return ctx.payments.payments(declaration_id=declaration, status=status, user=mine, limit=limit)


@router.get(
    "/payments/receipts/{receipt_id}", summary="A payment receipt, its document and anchoring"
)
def receipt(
    receipt_id: Annotated[str, Path(min_length=1, max_length=35, pattern=_ID)],
    ctx: NodeContext = Depends(node),
    _: NodeUser = Depends(user),
) -> dict[str, Any]:
    return ctx.payments.receipt(receipt_id)


@router.post(
    "/payments/refunds/{gateway}/{reference}/settle",
    summary="Record that a refund due was paid back (bank reference); receipt anchored",
)
def settle_refund(
    gateway: GatewayId,
    reference: PaymentRef,
    body: RefundIn,
    ctx: NodeContext = Depends(node),
    u: NodeUser = Depends(require_role("officer")),
) -> dict[str, Any]:
    return ctx.payments.settle_refund(gateway, reference, body.bank_reference, u.user)


# --- guarantees -----------------------------------------------------------------------------


@router.post("/payments/guarantees", status_code=201, summary="Register a trader's guarantee")
def register_guarantee(
    body: GuaranteeIn,
    ctx: NodeContext = Depends(node),
    u: NodeUser = Depends(require_role("officer")),
) -> dict[str, Any]:
    return ctx.payments.register_guarantee(body.model_dump(), u.user)


@router.get("/payments/guarantees", summary="Registered guarantees and what is available")
def guarantees(
    ctx: NodeContext = Depends(node), _: NodeUser = Depends(require_role("officer", "auditor"))
) -> list[dict[str, Any]]:
    return ctx.payments.guarantees()


@router.get("/payments/guarantees/{guarantee_id}", summary="A guarantee and its draws and restores")
def guarantee(
    guarantee_id: Annotated[str, Path(min_length=1, max_length=35, pattern=_ID)],
    ctx: NodeContext = Depends(node),
    _: NodeUser = Depends(require_role("officer", "auditor", "exporter")),
) -> dict[str, Any]:
    return ctx.payments.guarantee(guarantee_id)


# --- gateways: registration (admin) and their signed messages --------------------------------


@router.post("/payments/gateways", status_code=201, summary="Register a payment gateway's key")
def register_gateway(
    body: GatewayIn, ctx: NodeContext = Depends(node), u: NodeUser = Depends(require_role())
) -> dict[str, Any]:
    return ctx.payments.register_gateway(body.gateway, body.public_key, u.user)


@router.get("/payments/gateways", summary="Registered payment gateways")
def gateways(
    ctx: NodeContext = Depends(node), _: NodeUser = Depends(require_role("officer", "auditor"))
) -> list[dict[str, Any]]:
    return ctx.payments.gateways()


@router.delete("/payments/gateways/{gateway}", summary="Revoke a payment gateway's key")
def revoke_gateway(
    gateway: GatewayId, ctx: NodeContext = Depends(node), _: NodeUser = Depends(require_role())
) -> dict[str, Any]:
    return ctx.payments.revoke_gateway(gateway)


@router.post(
    "/payments/check",
    summary="Gateway (signed): before taking money, is each order open for this amount?",
)
async def check(request: Request, ctx: NodeContext = Depends(node)) -> dict[str, Any]:
    body = await read_capped(request, 4 * 1024 * 1024)
    return await run_in_threadpool(ctx.payments.check, body, dict(request.headers))


@router.post(
    "/payments/callback",
    summary="Gateway (signed): payments confirmed; each recorded once (applied or refund due)",
)
async def callback(request: Request, ctx: NodeContext = Depends(node)) -> dict[str, Any]:
    body = await read_capped(request, 4 * 1024 * 1024)
    return await run_in_threadpool(ctx.payments.callback, body, dict(request.headers))
