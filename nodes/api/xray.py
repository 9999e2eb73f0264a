"""X-ray scans over HTTP: upload and judge, the stored record and overlay, officer feedback.

Thin: the work is in `oracles.xray.service.XrayService`, built on first use over the node's
database and content store and kept on `app.state.xray`; a callable set as
`app.state.xray_on_alert` receives every new alert (the node's real-time alert stream).  Errors are XrayError codes
(`not_an_image`, `truncated_image`, `animated_image`, `image_too_large`, `upload_too_large`,
`unknown_scan`, `model_hash_mismatch`, ...) answered as `{"error": code, "detail": text}`;
a readable picture that is not a scan is refused with 422 `not_a_scan` before anything is
stored, alerted or attested.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.formparsers import MultiPartException, MultiPartParser

from chain.errors import ChainError
from nodes.api.deps import NodeDep, OfficerDep, UserDep
from nodes.api.responses import ScanOut, ScanRowOut, XrayAlertOut, XrayModelOut, XrayStatsOut
from nodes.context import NodeContext
from offchain import attestation as att
from offchain.alerts import NewAlert
from oracles.base import OracleError
from oracles.xray.config import load_model, xray_settings
from oracles.xray.errors import XrayError
from oracles.xray.image import ImageLimits
from oracles.xray.service import XrayService

router = APIRouter(tags=["xray"])
_build_lock = threading.Lock()
log = logging.getLogger(__name__)
MULTIPART_OVERHEAD = 64 * 1024
_MEDIA = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "TIFF": "image/tiff",
    "BMP": "image/bmp",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}


def service(request: Request, ctx: NodeDep) -> XrayService:
    """The node's X-ray service (model loaded and hash-checked once, on first use)."""
    svc = getattr(request.app.state, "xray", None)
    if svc is None:
        with _build_lock:
            svc = getattr(request.app.state, "xray", None)
            if svc is None:
                svc = XrayService(
                    ctx.db,
                    ctx.documents.store,
                    load_model(ctx.settings),
                    limits=ImageLimits.from_settings(xray_settings(ctx.settings)),
                    on_alert=getattr(request.app.state, "xray_on_alert", None),
                )
                request.app.state.xray = svc
    return svc


XrayDep = Annotated[XrayService, Depends(service)]


async def _read_capped(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise XrayError(
            "upload_too_large", f"body of {declared} bytes is over the {cap:,}-byte cap"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise XrayError("upload_too_large", f"body is over the {cap:,}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


async def _upload(request: Request, cap: int) -> tuple[bytes, str]:
    """(image bytes, file name) from a raw body or a multipart form field `file`."""
    ctype = request.headers.get("content-type", "")
    body = await _read_capped(request, cap + MULTIPART_OVERHEAD)
    if not ctype.startswith("multipart/form-data"):
        if len(body) > cap:
            raise XrayError("upload_too_large", f"the image is over the {cap:,}-byte cap")
        return body, request.query_params.get("filename", "")

    async def once():
        yield body

    try:
        form = await MultiPartParser(
            request.headers, once(), max_files=1, max_fields=8, max_part_size=cap
        ).parse()
    except MultiPartException as exc:
        raise XrayError(
            "bad_upload", f"the multipart form is not readable: {exc.message}"
        ) from None
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise XrayError(
            "bad_upload", "send the image as the form field `file` (or as the raw request body)"
        )
    data = await upload.read()
    if len(data) > cap:
        raise XrayError("upload_too_large", f"the image is over the {cap:,}-byte cap")
    return data, upload.filename or ""


@router.post(
    "/xray/scans",
    response_model=ScanOut,
    status_code=201,
    summary="Upload an X-ray scan (raw image body or multipart field `file`); judged at once",
    openapi_extra={
        "requestBody": {
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            },
            "required": True,
        }
    },
)
async def upload_scan(
    request: Request,
    ctx: NodeDep,
    u: OfficerDep,
    declaration_id: Annotated[str | None, Query(max_length=100)] = None,
) -> JSONResponse:
    svc = service(request, ctx)
    data, filename = await _upload(request, svc.limits.max_bytes)
    rec = await run_in_threadpool(
        svc.scan, data, user=u.user, filename=filename, declaration_id=declaration_id
    )
    if "XRAY" in ctx.settings.clearance.oracles:
        rec = await run_in_threadpool(attest_scan, ctx, svc, rec, data)
    return JSONResponse(rec, status_code=201)


def attest_scan(
    ctx: NodeContext, svc: XrayService, rec: dict[str, Any], data: bytes
) -> dict[str, Any]:
    """Have the members' XRAY instances judge the same image and attest the verdict on chain
    (subject: the image's sha256).  The scan is kept either way; a failure is reported."""
    request = {"image_b64": base64.b64encode(data).decode(), "image_sha256": rec["sha256"]}
    try:
        done = ctx.clearance.aggregator.attest(int(att.XRAY), request)
    except (OracleError, ChainError) as exc:
        log.warning("X-ray verdict of scan %s not attested: %s", rec["scan_id"], exc)
        return {
            **rec,
            "attestation_error": {"error": exc.code, "detail": getattr(exc, "detail", str(exc))},
        }
    svc.record_attestation(
        rec["scan_id"], {**done.to_json(), "kind": "XRAY", "subject": "0x" + rec["sha256"]}
    )
    return svc.get(rec["scan_id"])


def alert_sink(ctx: NodeContext):
    """Where X-ray alerts go: the node's one alert table, so officers see them live."""

    def sink(alert: dict[str, Any]) -> None:
        where = f" (declaration {alert['declaration_id']})" if alert.get("declaration_id") else ""
        ctx.transport.alerts.add(
            [
                NewAlert(
                    "xray",
                    alert["scan_id"],
                    f"xray_{alert['class']}",
                    "critical",
                    time.time(),
                    f"{alert['class']} score {alert['score']:.2f} in scan {alert['sha256'][:12]}{where};"
                    " open the container and confirm or reject the alert",
                )
            ]
        )

    return sink


@router.get(
    "/xray/scans",
    response_model=list[ScanRowOut],
    summary="Scans judged on this node, newest first",
)
def list_scans(
    svc: XrayDep,
    _: UserDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    verdict: Annotated[str | None, Query(pattern="^(threat|uncertain|clear)$")] = None,
) -> list[dict[str, Any]]:
    return svc.list(limit, verdict)


@router.get(
    "/xray/scans/{scan_id}",
    response_model=ScanOut,
    summary="One scan: verdict, threats, alerts, feedback",
)
def get_scan(scan_id: str, svc: XrayDep, _: UserDep) -> dict[str, Any]:
    return svc.get(scan_id)


@router.get(
    "/xray/scans/{scan_id}/overlay.png",
    summary="The scan with threats boxed (PNG)",
    response_class=Response,
    responses={200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}},
)
def get_overlay(scan_id: str, svc: XrayDep, _: UserDep) -> Response:
    return Response(svc.overlay(scan_id), media_type="image/png")


@router.get(
    "/xray/scans/{scan_id}/image",
    summary="The scan as uploaded",
    response_class=Response,
    responses={
        200: {
            "content": {
                f"image/{t}": {"schema": {"type": "string", "format": "binary"}}
                for t in ("png", "jpeg", "tiff", "bmp", "gif", "webp")
            }
        }
    },
)
def get_image(scan_id: str, svc: XrayDep, _: UserDep) -> Response:
    rec = svc.get(scan_id)
    return Response(
        svc.image_bytes(scan_id), media_type=_MEDIA.get(rec["format"], "application/octet-stream")
    )


class FeedbackIn(BaseModel):
    model_config = {"populate_by_name": True}

    cls: str = Field(alias="class", min_length=1, max_length=32)
    decision: str = Field(pattern="^(confirm|reject)$")
    note: str = Field("", max_length=1000)
    alert_id: int | None = None


@router.post(
    "/xray/scans/{scan_id}/feedback",
    response_model=ScanOut,
    summary="An officer confirms (threat found) or rejects (false alarm) a class",
)
def scan_feedback(
    scan_id: str,
    body: FeedbackIn,
    svc: XrayDep,
    u: OfficerDep,
) -> dict[str, Any]:
    return svc.feedback(
        scan_id, body.cls, body.decision, user=u.user, note=body.note, alert_id=body.alert_id
    )


class AlertDecisionIn(BaseModel):
    decision: str = Field(pattern="^(confirm|reject)$")
    note: str = Field("", max_length=1000)


@router.get("/xray/alerts", response_model=list[XrayAlertOut], summary="X-ray alerts, newest first")
def list_alerts(
    svc: XrayDep,
    _: UserDep,
    status: Annotated[str | None, Query(pattern="^(open|confirmed|rejected)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    return svc.alerts(status, limit)


@router.post(
    "/xray/alerts/{alert_id}/feedback",
    response_model=ScanOut,
    summary="Confirm or reject one alert",
)
def alert_feedback(
    alert_id: int,
    body: AlertDecisionIn,
    svc: XrayDep,
    u: OfficerDep,
) -> dict[str, Any]:
    return svc.alert_feedback(alert_id, body.decision, user=u.user, note=body.note)


@router.get(
    "/xray/stats",
    response_model=XrayStatsOut,
    summary="Scans per verdict, alerts per class and status",
)
def stats(svc: XrayDep, _: UserDep) -> dict[str, Any]:
    return svc.stats()


@router.get(
    "/xray/model",
    response_model=XrayModelOut,
    summary="The model in service: version, sha256, thresholds",
)
def model_info(svc: XrayDep, _: UserDep) -> dict[str, Any]:
    m = svc.model
    return {
        "model_version": m.version_id,
        "sha256": m.sha256,
        "classes": list(m.classes),
        "alarm_rate": m.alarm_rate,
        "thresholds": m.thresholds,
        "review_rate": m.review_rate,
        "review_thresholds": m.review_thresholds,
        "scan_threshold": m.scan_threshold,
        "test": m.manifest.get("test", {}),
    }
