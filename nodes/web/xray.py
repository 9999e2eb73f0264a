"""X-ray scans for officers: upload a scan, see its verdict with the threats boxed on the
image, and confirm or reject each alert (or add a threat the model missed).  A picture the
scan gate refuses (`not_a_scan`) is answered like any refused upload: the error and its
reason on the upload page, nothing kept, alerted or attested.

The node's X-ray service does the work in process: the object the JSON API keeps on
`app.state.xray` (`nodes.api.xray.service`), so a scan uploaded here is the same record
`GET /xray/scans/{id}` answers, its alerts go to the node's alert stream, and the officers'
decisions are the labels `smartcustoms xray retrain` learns from.  When the node attests
X-ray verdicts (`"XRAY" in clearance.oracles`), an upload is attested exactly as the API
does it (`nodes.api.xray.attest_scan`); a failed attestation keeps the scan and says why.
The overlay PNG is served by a console route (session, role), not the API-key route.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from nodes.api.deps import RowId
from nodes.api.xray import attest_scan, service
from nodes.context import NodeContext
from nodes.web.access import PREFIX, UploadTooLarge, Viewer, checked_form, node, role
from nodes.web.render import ConsoleRoute, page
from oracles.xray.errors import XrayError
from oracles.xray.service import XrayService

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

OFFICERS = ("officer",)
RECENT = 50
OPEN_ALERTS = 100
FORM_OVERHEAD = 16 * 1024  # multipart boundaries, the CSRF token, the declaration id
FEEDBACK_FORM_BYTES = 8 * 1024
NOTE_CHARS = 1000
_SCAN_ID = re.compile(r"^[0-9a-f]{32}$")
_DECLARATION = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")  # as the API: up to 100, no controls


def _service(request: Request, ctx: NodeContext) -> XrayService:
    return service(request, ctx)


def attests(ctx: NodeContext) -> bool:
    """Whether this node has X-ray verdicts attested on chain (as the API decides it)."""
    return "XRAY" in ctx.settings.clearance.oracles


def _scan(svc: XrayService, scan_id: str) -> dict[str, Any]:
    if not _SCAN_ID.match(scan_id):
        raise XrayError("unknown_scan", f"no X-ray scan {scan_id[:64]} on this node")
    return svc.get(scan_id)


def _recent(svc: XrayService) -> list[dict[str, Any]]:
    """The newest scans with what the list shows (declaration, attestation)."""
    out = []
    for row in svc.list(RECENT):
        try:
            out.append(svc.get(row["scan_id"]))
        except XrayError:  # removed meanwhile
            continue
    return out


def _render(
    request: Request,
    v: Viewer,
    ctx: NodeContext,
    svc: XrayService,
    *,
    error: tuple[str, str] | None = None,
    declaration_id: str = "",
    status: int = 200,
) -> Response:
    return page(
        request,
        "xray.html",
        v,
        status=status,
        title="X-ray scans",
        scans=_recent(svc),
        open_alerts=svc.alerts("open", OPEN_ALERTS),
        stats=svc.stats(),
        model=svc.model,
        max_bytes=svc.limits.max_bytes,
        attested=attests(ctx),
        error=error,
        declaration_id=declaration_id,
    )


@router.get("/xray")
async def xray_page(
    request: Request, v: Viewer = Depends(role(*OFFICERS)), ctx: NodeContext = Depends(node)
) -> Response:
    svc = await run_in_threadpool(_service, request, ctx)
    return await run_in_threadpool(_render, request, v, ctx, svc)


@router.post("/xray")
async def xray_upload(
    request: Request, v: Viewer = Depends(role(*OFFICERS)), ctx: NodeContext = Depends(node)
) -> Response:
    svc = await run_in_threadpool(_service, request, ctx)
    cap = svc.limits.max_bytes
    try:
        form = await checked_form(request, v, max_bytes=cap + FORM_OVERHEAD, max_files=1)
    except UploadTooLarge:
        size = request.headers.get("content-length")
        said = f"{int(size):,} bytes" if size and size.isdigit() else "of unknown size"
        return await run_in_threadpool(
            _render,
            request,
            v,
            ctx,
            svc,
            error=(
                "upload_too_large",
                f"the upload is {said}; this node accepts scans up to {cap:,} bytes "
                "(xray.max_upload_bytes). Nothing was read or judged.",
            ),
            status=413,
        )
    declaration_id = str(form.get("declaration_id") or "").strip()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await run_in_threadpool(
            _render,
            request,
            v,
            ctx,
            svc,
            error=("no_file", "choose the scan image (PNG, JPEG, TIFF, BMP) to upload"),
            declaration_id=declaration_id[:100],
            status=400,
        )
    if declaration_id and not _DECLARATION.match(declaration_id):
        return await run_in_threadpool(
            _render,
            request,
            v,
            ctx,
            svc,
            error=(
                "bad_declaration_id",
                "a declaration id is at most 100 printable characters; leave it empty when "
                "the scan belongs to no declaration",
            ),
            status=422,
        )
    name = upload.filename[:200]
    data = await upload.read(cap + 1)
    try:
        if len(data) > cap:
            raise XrayError("upload_too_large", f"the file is over the {cap:,}-byte cap")
        rec = await run_in_threadpool(
            svc.scan, data, user=v.name, filename=name, declaration_id=declaration_id or None
        )
    except XrayError as exc:
        return await run_in_threadpool(
            _render,
            request,
            v,
            ctx,
            svc,
            error=(exc.code, f"{name}: {exc.detail}"),
            declaration_id=declaration_id,
            status=exc.http_status,
        )
    if attests(ctx):
        rec = await run_in_threadpool(attest_scan, ctx, svc, rec, data)
    n = len(rec["alerts"])
    look = ", ".join(r["class"] for r in rec.get("review", []))
    v.session.flash.append(
        (
            {"threat": "bad", "uncertain": "warn"}.get(rec["verdict"], "ok"),
            f"{name} judged {rec['verdict']}"
            + (f" with {n} alert{'s' if n != 1 else ''}" if n else "")
            + (f": look at the image ({look} in the review band)" if not n and look else "")
            + ".",
        )
    )
    failed = rec.get("attestation_error")
    if failed:
        v.session.flash.append(
            (
                "bad",
                f"The verdict was not attested on chain ({failed['error']}): "
                f"{failed['detail']}. The scan is kept.",
            )
        )
    return RedirectResponse(f"{PREFIX}/xray/{rec['scan_id']}", status_code=303)


@router.get("/xray/{scan_id}")
async def scan_page(
    request: Request,
    scan_id: str,
    v: Viewer = Depends(role(*OFFICERS)),
    ctx: NodeContext = Depends(node),
) -> Response:
    svc = await run_in_threadpool(_service, request, ctx)
    rec = await run_in_threadpool(_scan, svc, scan_id)
    decided = {a["class"] for a in rec["alerts"]} | {f["class"] for f in rec["feedback"]}
    return page(
        request,
        "xray_scan.html",
        v,
        title=f"X-ray scan {rec['image'] or scan_id[:8]}",
        scan=rec,
        thresholds=rec.get("thresholds") or svc.model.thresholds,  # those the verdict used
        alarm_rate=rec.get("alarm_rate"),
        missed_classes=[c for c in svc.model.classes if c not in decided],
        attested=attests(ctx),
    )


@router.get("/xray/{scan_id}/overlay.png")
async def overlay(
    request: Request,
    scan_id: str,
    v: Viewer = Depends(role(*OFFICERS)),
    ctx: NodeContext = Depends(node),
) -> Response:
    svc = await run_in_threadpool(_service, request, ctx)
    if not _SCAN_ID.match(scan_id):
        raise XrayError("unknown_scan", f"no X-ray scan {scan_id[:64]} on this node")
    png = await run_in_threadpool(svc.overlay, scan_id)
    return Response(png, media_type="image/png")  # no-store, as every console answer


async def _note(request: Request, v: Viewer) -> dict[str, str]:
    form = await checked_form(request, v, max_bytes=FEEDBACK_FORM_BYTES)
    return {k: str(val) for k, val in form.items() if isinstance(val, str)}


def _decision(value: str) -> str:
    if value not in ("confirm", "reject"):
        raise XrayError("bad_feedback", "choose Confirm or Reject")
    return value


@router.post("/xray/{scan_id}/alerts/{alert_id}")
async def decide_alert(
    request: Request,
    scan_id: str,
    alert_id: RowId,
    v: Viewer = Depends(role(*OFFICERS)),
    ctx: NodeContext = Depends(node),
) -> Response:
    fields = await _note(request, v)
    svc = await run_in_threadpool(_service, request, ctx)
    decision = _decision(fields.get("decision", ""))
    rec = await run_in_threadpool(_scan, svc, scan_id)
    alert = next((a for a in rec["alerts"] if a["alert_id"] == alert_id), None)
    if alert is None:
        raise XrayError("unknown_alert", f"no alert {alert_id} on scan {scan_id}")
    await run_in_threadpool(
        svc.feedback,
        scan_id,
        alert["class"],
        decision,
        user=v.name,
        note=fields.get("note", "")[:NOTE_CHARS],
        alert_id=alert_id,
    )
    said = "confirmed: the threat is there" if decision == "confirm" else "rejected: false alarm"
    v.session.flash.append(("ok", f"Alert {alert_id} ({alert['class']}) {said}."))
    return RedirectResponse(f"{PREFIX}/xray/{scan_id}#alert-{alert_id}", status_code=303)


@router.post("/xray/{scan_id}/missed")
async def missed_class(
    request: Request,
    scan_id: str,
    v: Viewer = Depends(role(*OFFICERS)),
    ctx: NodeContext = Depends(node),
) -> Response:
    """A class the officer found in the container although the model raised no alert."""
    fields = await _note(request, v)
    svc = await run_in_threadpool(_service, request, ctx)
    cls = fields.get("class", "")
    await run_in_threadpool(_scan, svc, scan_id)
    await run_in_threadpool(
        svc.feedback,
        scan_id,
        cls,
        "confirm",
        user=v.name,
        note=fields.get("note", "")[:NOTE_CHARS],
    )
    v.session.flash.append(("ok", f"Recorded: {cls} found in the container (missed by the model)."))
    return RedirectResponse(f"{PREFIX}/xray/{scan_id}#feedback", status_code=303)


@router.get("/xray/{scan_id}/alerts/{alert_id}")
@router.get("/xray/{scan_id}/missed")
def reload_decision(scan_id: str, v: Viewer = Depends(role(*OFFICERS))) -> Response:
    """A reloaded or bookmarked decision: back to the scan (decisions are posted)."""
    target = scan_id if _SCAN_ID.match(scan_id) else ""
    return RedirectResponse(f"{PREFIX}/xray/{target}".rstrip("/"), status_code=303)
