"""Trade documents over HTTP: submit, receipts, verify, revoke, the node-to-node inbox, trace."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from nodes.api.deps import (
    NodeDep,
    OfficerDep,
    ReviewerDep,
    TraderDep,
    UserDep,
)
from nodes.api.responses import (
    DeliveryOut,
    DocumentOut,
    DocumentsOut,
    ReceiptOut,
    ReceivedOut,
    RevokedBatchOut,
    RevokedDocumentOut,
    SubmissionOut,
    TraceOut,
    VerdictOut,
)
from nodes.context import NodeContext
from nodes.documents.service import DocumentError
from nodes.documents.trace import trace_document
from offchain.doctypes import DOC_TYPES
from offchain.receipt import Receipt

router = APIRouter(tags=["documents"])

DOC_TYPE_NAMES = [t.name for t in DOC_TYPES]
_MAX_RECEIPT_BYTES = 64 * 1024


class RevokeIn(BaseModel):
    reason: str = Field(min_length=3, max_length=500)


async def read_capped(request: Request, cap: int) -> bytes:
    """The request body, refusing (413) more than `cap` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise DocumentError("xml_too_large", f"body of {declared} bytes is over the {cap}-byte cap")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise DocumentError("xml_too_large", f"body is over the {cap}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/documents",
    response_model=SubmissionOut,
    status_code=202,
    responses={
        201: {"model": SubmissionOut, "description": "Anchored within `wait`: with its receipt"}
    },
    summary="Submit a trade document (raw XML body) for a partner customs",
    openapi_extra={
        "requestBody": {
            "content": {"application/xml": {"schema": {"type": "string"}}},
            "required": True,
        }
    },
)
async def submit(
    request: Request,
    type: Annotated[str, Query(description=f"one of {', '.join(DOC_TYPE_NAMES)}")],
    to: Annotated[str, Query(description="importing member id, e.g. SG")],
    ctx: NodeDep,
    u: TraderDep,
    wait: Annotated[float, Query(ge=0, le=60, description="seconds to wait for the anchor")] = 0,
) -> JSONResponse:
    """Validated, hashed, encrypted for `to`, stored and queued before this answers (202).

    With `wait`, answers 201 with the receipt once the batch is anchored (or 202 if the wait
    ran out). Resubmitting the same document answers with its existing state.
    """
    body = await read_capped(request, ctx.settings.documents.max_xml_bytes)
    svc = ctx.documents
    sub = await run_in_threadpool(svc.submit, body, type, to, u.user)
    out: dict[str, Any] = sub.to_json()
    if wait:
        doc = await run_in_threadpool(svc.wait_anchored, sub.doc_hash, wait)
        out["state"] = doc.state
        receipt = svc.receipt(doc)  # None exactly when the document is not anchored
        if receipt is not None:
            out["receipt"] = receipt.to_json()
            return JSONResponse(out, status_code=201)
    return JSONResponse(out, status_code=202)


def _doc_json(ctx: NodeContext, doc) -> dict[str, Any]:
    receipt = ctx.documents.receipt(doc)
    delivery = ctx.documents.outbox.delivery(doc.doc_hash)
    return {
        "doc_hash": doc.doc_hash,
        "doc_type": doc.doc_type,
        "recipient": doc.recipient,
        "state": "delivered" if delivery and delivery.state == "delivered" else doc.state,
        "submitted_at": doc.submitted_at,
        "submitted_by": doc.submitted_by,
        "summary": doc.summary,
        "receipt": receipt.to_json() if receipt else None,
        "delivery": None
        if delivery is None
        else {
            "state": delivery.state,
            "attempts": delivery.attempts,
            "last_error": delivery.last_error,
            "delivered_at": delivery.delivered_at,
            "verdict": delivery.verdict,
        },
    }


@router.get(
    "/documents",
    response_model=DocumentsOut,
    summary="Documents submitted through this node, newest first",
)
def list_documents(
    ctx: NodeDep,
    _: UserDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    docs = ctx.documents.outbox.documents(limit=limit, offset=offset)
    return {"counts": ctx.documents.outbox.counts(), "documents": [_doc_json(ctx, d) for d in docs]}


@router.get(
    "/documents/{doc_hash}",
    response_model=DocumentOut,
    summary="State, receipt and delivery of one document",
)
def get_document(doc_hash: str, ctx: NodeDep, _: UserDep) -> dict[str, Any]:
    return _doc_json(ctx, ctx.documents.document(doc_hash))


@router.get(
    "/documents/{doc_hash}/receipt",
    response_model=ReceiptOut,
    summary="The receipt of an anchored document",
)
def get_receipt(doc_hash: str, ctx: NodeDep, _: UserDep) -> dict[str, Any]:
    doc = ctx.documents.document(doc_hash)
    receipt = ctx.documents.receipt(doc)
    if receipt is None:
        raise DocumentError(
            "not_anchored",
            f"document {doc.doc_hash} is {doc.state}; its batch is not anchored "
            "yet (batches close every few seconds)",
        )
    return receipt.to_json()


@router.post(
    "/documents/{doc_hash}/revoke",
    response_model=RevokedDocumentOut,
    summary="Revoke one anchored document",
)
def revoke_document(
    doc_hash: str,
    body: RevokeIn,
    ctx: NodeDep,
    u: OfficerDep,
) -> dict[str, Any]:
    return ctx.documents.revoke_document(doc_hash, body.reason, u.user)


@router.post(
    "/batches/{root}/revoke",
    response_model=RevokedBatchOut,
    summary="Revoke a whole anchored batch",
)
def revoke_batch(
    root: str,
    body: RevokeIn,
    ctx: NodeDep,
    u: OfficerDep,
) -> dict[str, Any]:
    return ctx.documents.revoke_batch(root, body.reason, u.user)


@router.post(
    "/verify",
    response_model=VerdictOut,
    summary="Verify a document file against its receipt and the chain",
)
async def verify(
    document: Annotated[UploadFile, File(description="the XML document")],
    receipt: Annotated[str, Form(description="the receipt JSON")],
    ctx: NodeDep,
    _: UserDep,
) -> dict[str, Any]:
    cap = ctx.settings.documents.max_xml_bytes
    xml = await document.read(cap + 1)
    if len(xml) > cap:
        raise DocumentError("xml_too_large", f"document is over the {cap}-byte cap")
    if len(receipt) > _MAX_RECEIPT_BYTES:
        raise DocumentError("invalid_receipt", "receipt is too large to be a receipt")
    parsed = Receipt.from_json(receipt)
    verdict = await run_in_threadpool(ctx.documents.verify, xml, parsed)
    return verdict.to_json()


@router.post(
    "/inbox",
    response_model=DeliveryOut,
    summary="Node-to-node delivery (signed envelope, no API key)",
)
async def inbox(request: Request, ctx: NodeDep) -> JSONResponse:
    """Another member node delivers a document it anchored for us; answers with our verdict."""
    cap = 2 * ctx.settings.documents.max_xml_bytes + _MAX_RECEIPT_BYTES
    body = await read_capped(request, cap)
    verdict, new = await run_in_threadpool(ctx.documents.receive, body, dict(request.headers))
    return JSONResponse({"verdict": verdict, "new": new}, status_code=200)


@router.get(
    "/inbox",
    response_model=list[ReceivedOut],
    summary="Documents received from partner customs, with verdicts",
)
def list_inbox(
    ctx: NodeDep,
    _: UserDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    return [
        {
            "doc_hash": d.doc_hash,
            "sender": d.sender,
            "doc_type": d.doc_type,
            "received_at": d.received_at,
            "valid": d.valid,
            "verdict": d.verdict,
            "receipt": d.receipt,
        }
        for d in ctx.documents.inbox.list(limit=limit, offset=offset)
    ]


@router.get(
    "/inbox/{doc_hash}/document",
    summary="The received document (decrypted XML)",
    response_class=Response,
    responses={200: {"content": {"application/xml": {"schema": {"type": "string"}}}}},
)
def received_document(
    doc_hash: str,
    ctx: NodeDep,
    _: ReviewerDep,
):
    return Response(ctx.documents.open_received(doc_hash), media_type="application/xml")


@router.get(
    "/trace/documents/{doc_hash}",
    response_model=TraceOut,
    summary="Auditor's trace: chain events + node records",
)
def trace(
    doc_hash: str,
    ctx: NodeDep,
    _: ReviewerDep,
) -> dict[str, Any]:
    return trace_document(ctx.documents, doc_hash)
