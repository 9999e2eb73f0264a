"""The audit ranking: upload a declaration history, see declarations and importers ranked by
post-clearance audit risk with their reasons, and the model card they were scored with.

The work is the audit API's, in process: the same cached model (`nodes.api.audit._model`,
kept on `app.state.audit_models`), the same preparation and the same `oracles.audit.service`
functions, so a file scores here exactly as `POST /audit/score` and `/audit/companies` score
it.  The last file scored on this node is kept in memory (ranking, companies, who and when)
so an auditor can come back to it, and download its ranking as CSV, without uploading again.
"""

from __future__ import annotations

import csv
import io
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from nodes.api.audit import audit_model, prepare_upload
from nodes.context import NodeContext
from nodes.web.access import PREFIX, NodeDep, UploadTooLarge, Viewer, checked_form, role
from nodes.web.render import ConsoleRoute, page
from oracles.audit import service
from oracles.audit.errors import AuditError
from oracles.audit.settings import audit_settings, model_dir

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

AUDITORS = ("auditor", "officer")
TOP_DECLARATIONS = 100
TOP_COMPANIES = 20
FORM_OVERHEAD = 16 * 1024
_lock = threading.Lock()


@dataclass(frozen=True)
class Scored:
    """One scored upload: what the page shows, kept until the next upload."""

    filename: str
    by: str
    at: str
    model_version: str
    backend: str
    rows: int
    rows_dropped: int
    unseen: dict[str, int]
    ranking: list[dict[str, Any]]
    companies: list[dict[str, Any]]
    selected: int  # the riskiest `select_pct` % of the file


def _card(request: Request, ctx: NodeContext) -> tuple[dict[str, Any] | None, str | None]:
    """The model card summary, or why there is none (and how to train one)."""
    try:
        m = audit_model(request, ctx, None)
    except AuditError as exc:
        return None, exc.detail
    c = m.card
    return {
        "model_version": c["model_version"],
        "created_at": c.get("created_at"),
        "backend": m.backend,
        "data": c.get("data", {}),
        "metrics": c.get("metrics", {}),
        "revenue": c.get("revenue", {}),
        "features": len(c.get("features", [])),
    }, None


def _last(request: Request) -> Scored | None:
    return getattr(request.app.state, "console_audit_last", None)


def _render(
    request: Request,
    v: Viewer,
    ctx: NodeContext,
    *,
    scored: Scored | None = None,
    fresh: bool = False,
    error: tuple[str, str] | None = None,
    status: int = 200,
) -> Response:
    card, missing = _card(request, ctx)
    cfg = audit_settings(ctx.settings)
    return page(
        request,
        "audit.html",
        v,
        status=status,
        title="Audit ranking",
        card=card,
        missing=missing,
        model_path=str(model_dir(ctx.settings)),
        scored=scored if scored is not None else _last(request),
        fresh=fresh,
        error=error,
        max_bytes=cfg.max_upload_bytes,
        select_pct=cfg.select_pct,
    )


@router.get("/audit")
def audit_page(request: Request, ctx: NodeDep, v: Viewer = Depends(role(*AUDITORS))) -> Response:
    return _render(request, v, ctx)


@router.post("/audit")
async def audit_upload(
    request: Request, ctx: NodeDep, v: Viewer = Depends(role(*AUDITORS))
) -> Response:
    cfg = audit_settings(ctx.settings)
    cap = cfg.max_upload_bytes
    try:
        form = await checked_form(request, v, max_bytes=cap + FORM_OVERHEAD, max_files=1)
    except UploadTooLarge:
        size = request.headers.get("content-length") or "an unknown number of"
        return _render(
            request,
            v,
            ctx,
            error=(
                "upload_too_large",
                f"the upload is {size} bytes; this node scores files up to {cap:,} bytes "
                "(audit.max_upload_bytes). Score larger files with `smartcustoms audit score`.",
            ),
            status=413,
        )
    upload = form.get("history")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _render(
            request,
            v,
            ctx,
            error=("no_file", "choose the declaration history file (CSV or Parquet) to score"),
            status=400,
        )
    body = await upload.read(cap + 1)
    name = upload.filename[:200]
    try:
        if len(body) > cap:
            raise AuditError("upload_too_large", f"{name} is over the {cap:,}-byte cap")
        if not body:
            raise AuditError(
                "empty_data", f"{name} is empty: give a CSV with a header row and declarations"
            )
        scored = await run_in_threadpool(_score, request, ctx, body, name, v.name)
    except AuditError as exc:
        return _render(request, v, ctx, error=(exc.code, exc.detail), status=exc.http_status)
    with _lock:
        request.app.state.console_audit_last = scored
    return _render(request, v, ctx, scored=scored, fresh=True)


def _score(request: Request, ctx: NodeContext, body: bytes, name: str, by: str) -> Scored:
    cfg = audit_settings(ctx.settings)
    m = audit_model(request, ctx, None)
    prep = prepare_upload(m, body, None, need_label=False)
    ranked = service.score_frame(m, prep.frame, reasons_top=min(TOP_DECLARATIONS, cfg.reasons_top))
    companies = service.companies(m, prep.frame, top=TOP_COMPANIES, by="risk")
    rows = len(ranked)
    return Scored(
        filename=name,
        by=by,
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        model_version=m.version,
        backend=m.backend,
        rows=rows,
        rows_dropped=int(prep.report.get("rows_dropped", 0)),
        unseen=service.unseen(m, prep.frame),
        ranking=ranked.head(TOP_DECLARATIONS).to_dict("records"),
        companies=companies,
        selected=max(1, round(rows * cfg.select_pct / 100)) if rows else 0,
    )


@router.get("/audit/ranking.csv")
def ranking_csv(request: Request, ctx: NodeDep, v: Viewer = Depends(role(*AUDITORS))) -> Response:
    """The ranked declarations of the last file scored here (its top rows, with reasons)."""
    scored = _last(request)
    if scored is None:
        raise AuditError("empty_data", "no file has been scored on this node since it started")
    buf = io.StringIO()
    fields = [
        "rank",
        "declaration_id",
        "date",
        "importer",
        "hs_code",
        "score",
        "expected_revenue",
        "reasons",
    ]
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    w.writerows(scored.ranking)
    return Response(
        buf.getvalue(),
        media_type="text/csv",
        headers={
            "Content-Disposition": 'attachment; filename="audit-ranking.csv"',
            "X-Model-Version": scored.model_version,
        },
    )
