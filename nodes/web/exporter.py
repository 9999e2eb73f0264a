"""The exporter's pages: submit a trade document, follow it to the importer, get its receipt.

The node's document service does the work in process (the same calls as `POST /documents`);
these pages only read forms and show states.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from chain.errors import ChainError
from nodes.context import NodeContext
from nodes.documents.service import DocumentError
from nodes.web.access import PREFIX, NodeDep, Viewer, checked_form, role
from nodes.web.render import ConsoleRoute, page, when
from offchain.doctypes import DOC_TYPES
from offchain.outbox import OutDocument

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

SUBMITTERS = ("exporter", "officer")
# How long the submit form waits for the batch to be anchored before showing the document.
ANCHOR_WAIT_S = 6.0
FORM_OVERHEAD = 16 * 1024


def display_state(ctx: NodeContext, doc: OutDocument) -> dict[str, Any]:
    """Where a submitted document is, in the exporter's words.

    queued (waiting for its batch) -> anchored (on chain, being delivered) -> delivered ->
    verified by the importer (or rejected by it, with the importer's reason).
    """
    delivery = ctx.documents.outbox.delivery(doc.doc_hash)
    if doc.state in ("queued", "batched"):
        return {
            "key": "queued",
            "label": "queued",
            "note": "waiting for its batch to be anchored (every few seconds)",
        }
    if delivery is None or delivery.state != "delivered":
        note = "anchored on chain; delivering to " + doc.recipient
        if delivery is not None and delivery.attempts:
            note += f" (attempt {delivery.attempts} failed: {delivery.last_error})"
        return {"key": "anchored", "label": "anchored", "note": note}
    verdict = delivery.verdict or {}
    if verdict.get("valid"):
        return {
            "key": "verified",
            "label": f"verified by {doc.recipient}",
            "note": f"delivered {when(delivery.delivered_at)}; the importer's six checks passed",
        }
    if verdict:
        return {
            "key": "rejected",
            "label": f"rejected by {doc.recipient}",
            "note": verdict.get("reason") or "the importer's verification failed",
        }
    return {"key": "delivered", "label": "delivered", "note": f"at {when(delivery.delivered_at)}"}


def _recipients(ctx: NodeContext) -> tuple[list[dict[str, str]], str | None]:
    try:
        members = ctx.chain.registry.members(active_only=True)
    except ChainError as exc:
        return [], str(exc)
    return [{"id": m.id, "name": m.name} for m in members if m.id != ctx.member.id], None


def _rows(ctx: NodeContext, v: Viewer, mine: bool) -> list[dict[str, Any]]:
    docs = ctx.documents.outbox.documents(limit=500)
    if mine:
        docs = [d for d in docs if d.submitted_by == v.name]
    return [{"doc": d, "state": display_state(ctx, d)} for d in docs[:200]]


@router.get("/documents")
async def documents(
    request: Request,
    ctx: NodeDep,
    mine: int | None = None,
    v: Viewer = Depends(role(*SUBMITTERS)),
) -> Response:
    # Exporters see their own submissions by default; officers the node's.
    only_mine = bool(mine) if mine is not None else v.role == "exporter"
    rows = await run_in_threadpool(_rows, ctx, v, only_mine)
    recipients, recipients_error = await run_in_threadpool(_recipients, ctx)
    return page(
        request,
        "documents.html",
        v,
        title="My documents",
        rows=rows,
        only_mine=only_mine,
        recipients=recipients,
        recipients_error=recipients_error,
        doc_types=DOC_TYPES,
        counts=ctx.documents.outbox.counts(),
        max_bytes=ctx.settings.documents.max_xml_bytes,
    )


@router.post("/documents")
async def submit(
    request: Request, ctx: NodeDep, v: Viewer = Depends(role(*SUBMITTERS))
) -> Response:
    cap = ctx.settings.documents.max_xml_bytes
    form = await checked_form(request, v, max_bytes=cap + FORM_OVERHEAD, max_files=1)
    upload = form.get("document")
    doc_type = str(form.get("doc_type") or "")
    recipient = str(form.get("recipient") or "")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise DocumentError("no_file", "choose the XML file of the document to submit")
    xml = await upload.read(cap + 1)
    if len(xml) > cap:
        raise DocumentError(
            "xml_too_large", f"{upload.filename} is over the {cap:,}-byte limit of this node"
        )
    if not xml.strip():
        raise DocumentError("empty_file", f"{upload.filename} is empty")
    sub = await run_in_threadpool(ctx.documents.submit, xml, doc_type, recipient, v.name)
    doc = await run_in_threadpool(ctx.documents.wait_anchored, sub.doc_hash, ANCHOR_WAIT_S)
    if sub.duplicate:
        v.session.flash.append(
            ("info", f"{upload.filename} was submitted before; this is its existing record.")
        )
    else:
        v.session.flash.append(("ok", f"{upload.filename} accepted for {recipient}: {doc.state}."))
    return RedirectResponse(f"{PREFIX}/documents/{sub.doc_hash}", status_code=303)


@router.get("/documents/{doc_hash}")
async def document(
    request: Request,
    doc_hash: str,
    ctx: NodeDep,
    v: Viewer = Depends(role(*SUBMITTERS, "auditor")),
) -> Response:
    doc = ctx.documents.document(doc_hash)
    state = await run_in_threadpool(display_state, ctx, doc)
    receipt = ctx.documents.receipt(doc)
    delivery = ctx.documents.outbox.delivery(doc.doc_hash)
    return page(
        request,
        "document.html",
        v,
        title="Document " + doc.doc_hash[:10],
        doc=doc,
        state=state,
        receipt=receipt.to_json() if receipt else None,
        receipt_text=receipt.dumps() if receipt else None,
        delivery=delivery,
        pending=state["key"] in ("queued", "anchored"),
    )


@router.get("/documents/{doc_hash}/receipt")
def receipt_download(
    doc_hash: str,
    ctx: NodeDep,
    v: Viewer = Depends(role(*SUBMITTERS, "auditor")),
) -> Response:
    doc = ctx.documents.document(doc_hash)
    receipt = ctx.documents.receipt(doc)
    if receipt is None:
        raise DocumentError(
            "not_anchored",
            f"document {doc.doc_hash} is {doc.state}; its "
            "receipt exists once its batch is anchored (a few seconds)",
        )
    name = f"receipt-{doc.doc_type}-{doc.doc_hash[2:12]}.json"
    return Response(
        json.dumps(receipt.to_json(), indent=2) + "\n",
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
