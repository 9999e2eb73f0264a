"""Duties payable over HTTP: payment orders, the gateway's signed check and callback,
guarantees and deferral, refunds, officers' check outcomes and each declaration's release
state."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from nodes.api.deps import (
    AdminDep,
    NodeDep,
    OfficerDep,
    ReviewerDep,
    TraderDep,
    UserDep,
    require_role,
)
from nodes.api.documents import read_capped
from nodes.api.responses import (
    DeclarationStatusOut,
    DeferredOut,
    GatewayCallbackOut,
    GatewayCheckOut,
    GatewayOut,
    GuaranteeDetailOut,
    GuaranteeOut,
    OrderOut,
    PaymentOut,
    PaymentReceiptOut,
    PaymentViewOut,
    ReleaseOut,
    ReleaseRowOut,
)
from nodes.auth import NodeUser
from nodes.errors import ApiError
from nodes.payments.service import RELEASE_STATES

router = APIRouter(tags=["payments"])

_ID = r"^[0-9A-Za-z][0-9A-Za-z._/\-]{0,34}$"
DeclarationId = Annotated[str, Path(min_length=1, max_length=35, pattern=_ID)]
OrderRef = Annotated[str, Path(min_length=5, max_length=25, pattern=r"^RF[0-9]{2}[0-9A-Z]{1,21}$")]
GatewayId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$")]
PaymentRef = Annotated[str, Path(min_length=1, max_length=35, pattern=_ID)]
# A trader reads the guarantee that secures their own duties.
GuaranteeReaderDep = Annotated[NodeUser, Depends(require_role("officer", "auditor", "exporter"))]


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
    response_model=DeclarationStatusOut,
    summary="Release state (awaiting_payment, released, held), what it waits for, the payment",
)
def declaration_status(declaration_id: DeclarationId, ctx: NodeDep, _: UserDep) -> dict[str, Any]:
    release = ctx.payments.refresh_release(declaration_id)
    rec = ctx.clearance.get(declaration_id)
    if rec is None:  # refresh_release above already refused an unknown declaration
        raise ApiError(404, "unknown_declaration", f"no declaration {declaration_id} on this node")
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
    response_model=PaymentViewOut,
    summary="The declaration's payment order (reference, amount, currency, due date) and payments",
)
def declaration_payment(declaration_id: DeclarationId, ctx: NodeDep, _: UserDep) -> dict[str, Any]:
    return ctx.payments.payment_view(declaration_id)


@router.post(
    "/declarations/{declaration_id}/defer",
    response_model=DeferredOut,
    summary="Secure the duties against the importer's registered guarantee (drawn down now)",
)
def defer(
    declaration_id: DeclarationId,
    body: DeferIn,
    ctx: NodeDep,
    u: TraderDep,
) -> dict[str, Any]:
    return ctx.payments.defer(declaration_id, body.guarantee, u.user)


@router.post(
    "/declarations/{declaration_id}/inspection",
    response_model=ReleaseOut,
    summary="An officer records the outcome of the documentary check or inspection",
)
def inspection(
    declaration_id: DeclarationId,
    body: InspectionIn,
    ctx: NodeDep,
    u: OfficerDep,
) -> dict[str, Any]:
    return ctx.payments.inspect(declaration_id, body.outcome, body.note, u.user)


@router.get(
    "/releases",
    response_model=list[ReleaseRowOut],
    summary="Declarations with their release state, newest first",
)
def releases(
    ctx: NodeDep,
    _: ReviewerDep,
    state: Annotated[str | None, Query(pattern="^(" + "|".join(RELEASE_STATES) + ")$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    return ctx.payments.releases(state=state, limit=limit)


# --- orders, payments, receipts, refunds ----------------------------------------------------


@router.get(
    "/payments/orders",
    response_model=list[OrderOut],
    summary="Payment orders (a trader sees those of their declarations)",
)
def orders(
    ctx: NodeDep,
    u: UserDep,
    state: Annotated[str | None, Query(pattern="^(open|guaranteed|paid)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    mine = u.user if u.role == "exporter" else None
    return ctx.payments.orders(state=state, user=mine, limit=limit)


@router.get("/payments/orders/{reference}", response_model=OrderOut, summary="One payment order")
def order(reference: OrderRef, ctx: NodeDep, _: UserDep) -> dict[str, Any]:
    return ctx.payments.order(reference)


@router.get(
    "/payments", response_model=list[PaymentOut], summary="Payments recorded from gateway callbacks"
)
def payments(
    ctx: NodeDep,
    u: UserDep,
    declaration: Annotated[str | None, Query(max_length=35)] = None,
    status: Annotated[str | None, Query(pattern="^(applied|refund_due|refunded)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    mine = u.user if u.role == "exporter" else None
    return ctx.payments.payments(declaration_id=declaration, status=status, user=mine, limit=limit)


@router.get(
    "/payments/receipts/{receipt_id}",
    response_model=PaymentReceiptOut,
    summary="A payment receipt, its document and anchoring",
)
def receipt(
    receipt_id: Annotated[str, Path(min_length=1, max_length=35, pattern=_ID)],
    ctx: NodeDep,
    _: UserDep,
) -> dict[str, Any]:
    return ctx.payments.receipt(receipt_id)


@router.post(
    "/payments/refunds/{gateway}/{reference}/settle",
    response_model=PaymentOut,
    summary="Record that a refund due was paid back (bank reference); receipt anchored",
)
def settle_refund(
    gateway: GatewayId,
    reference: PaymentRef,
    body: RefundIn,
    ctx: NodeDep,
    u: OfficerDep,
) -> dict[str, Any]:
    return ctx.payments.settle_refund(gateway, reference, body.bank_reference, u.user)


# --- guarantees -----------------------------------------------------------------------------


@router.post(
    "/payments/guarantees",
    response_model=GuaranteeDetailOut,
    status_code=201,
    summary="Register a trader's guarantee",
)
def register_guarantee(
    body: GuaranteeIn,
    ctx: NodeDep,
    u: OfficerDep,
) -> dict[str, Any]:
    return ctx.payments.register_guarantee(body.model_dump(), u.user)


@router.get(
    "/payments/guarantees",
    response_model=list[GuaranteeOut],
    summary="Registered guarantees and what is available",
)
def guarantees(ctx: NodeDep, _: ReviewerDep) -> list[dict[str, Any]]:
    return ctx.payments.guarantees()


@router.get(
    "/payments/guarantees/{guarantee_id}",
    response_model=GuaranteeDetailOut,
    summary="A guarantee and its draws and restores",
)
def guarantee(
    guarantee_id: Annotated[str, Path(min_length=1, max_length=35, pattern=_ID)],
    ctx: NodeDep,
    _: GuaranteeReaderDep,
) -> dict[str, Any]:
    return ctx.payments.guarantee(guarantee_id)


# --- gateways: registration (admin) and their signed messages --------------------------------


@router.post(
    "/payments/gateways",
    response_model=GatewayOut,
    status_code=201,
    summary="Register a payment gateway's key",
)
def register_gateway(body: GatewayIn, ctx: NodeDep, u: AdminDep) -> dict[str, Any]:
    return ctx.payments.register_gateway(body.gateway, body.public_key, u.user)


@router.get(
    "/payments/gateways", response_model=list[GatewayOut], summary="Registered payment gateways"
)
def gateways(ctx: NodeDep, _: ReviewerDep) -> list[dict[str, Any]]:
    return ctx.payments.gateways()


@router.delete(
    "/payments/gateways/{gateway}",
    response_model=GatewayOut,
    summary="Revoke a payment gateway's key",
)
def revoke_gateway(gateway: GatewayId, ctx: NodeDep, _: AdminDep) -> dict[str, Any]:
    return ctx.payments.revoke_gateway(gateway)


@router.post(
    "/payments/check",
    response_model=GatewayCheckOut,
    summary="Gateway (signed): before taking money, is each order open for this amount?",
)
async def check(request: Request, ctx: NodeDep) -> dict[str, Any]:
    body = await read_capped(request, 4 * 1024 * 1024)
    return await run_in_threadpool(ctx.payments.check, body, dict(request.headers))


@router.post(
    "/payments/callback",
    response_model=GatewayCallbackOut,
    summary="Gateway (signed): payments confirmed; each recorded once (applied or refund due)",
)
async def callback(request: Request, ctx: NodeDep) -> dict[str, Any]:
    body = await read_capped(request, 4 * 1024 * 1024)
    return await run_in_threadpool(ctx.payments.callback, body, dict(request.headers))
