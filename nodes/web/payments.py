"""Duties in the console: the trader's payable orders, paying and deferring, receipts; the
officer's release board with the documentary check / inspection outcome form.

Paying from the console goes through the payment gateway the node is configured with (the
stand-in `make run` starts): in production the trader's browser would be sent to the bank's
own payment page; here the node relays the request, and the bank's signed callback is what
records the payment, exactly as for `smartcustoms pay`.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from nodes.context import NodeContext
from nodes.payments.service import RELEASE_STATES, pay_through_gateway
from nodes.web.access import PREFIX, NodeDep, PageForbidden, Viewer, checked_form, role
from nodes.web.render import ConsoleRoute, page
from offchain.payments import PaymentError

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

TRADERS = ("exporter", "officer")
OFFICERS = ("officer",)
READERS = ("officer", "auditor")


def _mine(v: Viewer) -> str | None:
    """A trader sees the orders of the declarations they lodged; officers see all."""
    return v.name if v.role == "exporter" else None


@router.get("/payments")
async def payments_page(
    request: Request, ctx: NodeDep, v: Viewer = Depends(role(*TRADERS))
) -> Response:
    svc = ctx.payments
    orders = await run_in_threadpool(svc.orders, user=_mine(v), limit=200)
    for o in orders:
        o["release"] = svc.release(o["declaration"])["state"]
    paid = await run_in_threadpool(svc.payments, user=_mine(v), limit=200)
    return page(
        request,
        "payments.html",
        v,
        title="Duties and payments",
        payable=[o for o in orders if o["state"] in ("open", "guaranteed")],
        settled=[o for o in orders if o["state"] == "paid"],
        payments=paid,
        gateway=ctx.settings.payments.gateway_url,
    )


def _own_order(ctx: NodeContext, v: Viewer, reference: str) -> dict:
    order = ctx.payments.order(reference)
    if v.role == "exporter":
        rec = ctx.clearance.get(order["declaration"])
        if rec is None or rec["created_by"] != v.name:
            raise PageForbidden(v, ("the trader who lodged the declaration", "officer"))
    return order


@router.post("/payments/{reference}/pay")
async def pay(
    reference: str,
    request: Request,
    ctx: NodeDep,
    v: Viewer = Depends(role("exporter")),
) -> Response:
    await checked_form(request, v)
    order = _own_order(ctx, v, reference)
    if order["state"] == "paid":
        raise PaymentError("already_paid", f"order {reference} was paid at {order['settled_at']}")
    payer = {"name": order["importer_name"] or v.name}
    if order["importer_id"]:
        payer.update(id=order["importer_id"], id_scheme=order["importer_scheme"])
    result = await run_in_threadpool(pay_through_gateway, ctx.settings, ctx.member.id, order, payer)
    v.session.flash.append(
        (
            "ok" if result.get("status") == "applied" else "warn",
            f"Paid {result['amount']} {result['currency']} for declaration "
            f"{order['declaration']}: {result.get('status')} (gateway transaction "
            f"{result.get('transaction')}, receipt {result.get('receipt')}).",
        )
    )
    return RedirectResponse(f"{PREFIX}/payments", status_code=303)


@router.post("/payments/{reference}/defer")
async def defer(
    reference: str,
    request: Request,
    ctx: NodeDep,
    v: Viewer = Depends(role("exporter")),
) -> Response:
    form = await checked_form(request, v)
    order = _own_order(ctx, v, reference)
    guarantee = str(form.get("guarantee") or "").strip()
    if not guarantee:
        raise PaymentError("unknown_guarantee", "give the guarantee id to defer against")
    out = await run_in_threadpool(ctx.payments.defer, order["declaration"], guarantee, v.name)
    v.session.flash.append(
        (
            "ok",
            f"Order {reference} secured by guarantee {guarantee}; release: "
            f"{out['release']['state']}.",
        )
    )
    return RedirectResponse(f"{PREFIX}/payments", status_code=303)


@router.get("/payments/receipts/{receipt_id}")
async def receipt_page(
    receipt_id: str,
    request: Request,
    ctx: NodeDep,
    v: Viewer = Depends(role("exporter", "officer", "auditor")),
) -> Response:
    r = await run_in_threadpool(ctx.payments.receipt, receipt_id)
    declaration = r["record"].get("declaration_id")
    if v.role == "exporter" and declaration:
        rec = ctx.clearance.get(declaration)
        if rec is None or rec["created_by"] != v.name:
            raise PageForbidden(v, ("the trader who lodged the declaration", "officer", "auditor"))
    return page(request, "payment_receipt.html", v, title=f"Receipt {receipt_id}", r=r)


@router.get("/payments/receipts/{receipt_id}/receipt.json")
def receipt_download(
    receipt_id: str,
    ctx: NodeDep,
    v: Viewer = Depends(role("exporter", "officer", "auditor")),
) -> Response:
    r = ctx.payments.receipt(receipt_id)
    if r["anchoring"] is None:
        raise PaymentError("not_anchored", f"receipt {receipt_id} is not anchored yet")
    return Response(
        json.dumps({"document": r["document"], "receipt": r["anchoring"]}, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{receipt_id}.json"'},
    )


# --- officers: release board ------------------------------------------------------------------


@router.get("/releases")
async def releases_page(
    request: Request,
    ctx: NodeDep,
    state: str | None = None,
    v: Viewer = Depends(role(*READERS)),
) -> Response:
    wanted = state if state in RELEASE_STATES else None
    rows = await run_in_threadpool(ctx.payments.releases, state=wanted, limit=300)
    counts = {s: 0 for s in RELEASE_STATES}
    for r in await run_in_threadpool(ctx.payments.releases, limit=100_000):
        if r["state"] in counts:
            counts[r["state"]] += 1
    return page(
        request, "releases.html", v, title="Release", rows=rows, counts=counts, state=wanted
    )


@router.get("/releases/{declaration_id}")
async def release_page(
    declaration_id: str,
    request: Request,
    ctx: NodeDep,
    v: Viewer = Depends(role(*READERS)),
) -> Response:
    release = await run_in_threadpool(ctx.payments.refresh_release, declaration_id)
    return page(
        request,
        "release.html",
        v,
        title=f"Release of {declaration_id}",
        declaration=declaration_id,
        release=release,
        history=ctx.payments.release_events(declaration_id),
        manifest=ctx.manifests.decision_manifest(declaration_id),
        payments=ctx.payments.payments(declaration_id=declaration_id),
        rec=ctx.clearance.get(declaration_id),
    )


@router.post("/releases/{declaration_id}/inspection")
async def inspection(
    declaration_id: str,
    request: Request,
    ctx: NodeDep,
    v: Viewer = Depends(role(*OFFICERS)),
) -> Response:
    form = await checked_form(request, v)
    outcome = str(form.get("outcome") or "")
    note = " ".join(str(form.get("note") or "").split())
    if outcome not in ("passed", "failed") or not 3 <= len(note) <= 500:
        raise PaymentError(
            "invalid_inspection", "choose passed or failed and write a note of 3 to 500 characters"
        )
    out = await run_in_threadpool(ctx.payments.inspect, declaration_id, outcome, note, v.name)
    v.session.flash.append(
        ("ok", f"Check recorded: declaration {declaration_id} is {out['state']}.")
    )
    return RedirectResponse(f"{PREFIX}/releases/{declaration_id}", status_code=303)
