"""Post-clearance audit selection over HTTP: score an uploaded history, rank companies,
evaluate a model.

The body of every POST is the file itself (CSV or Parquet, as `smartcustoms audit` reads
it), capped at `audit.max_upload_bytes`.  The model is the node's (`<home>/audit/model`, or
`audit.model_dir`), or `?model=<name>` for `<home>/audit/models/<name>`.  Loaded models are
kept on `app.state.audit_models` and reloaded when their card changes.  Errors are
`{"error": code, "detail": text}` (AuditError codes, see oracles/audit/errors.py).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from nodes.api.deps import NodeDep, require_role
from nodes.api.responses import AuditCompaniesOut, AuditEvaluationOut, AuditModelOut, AuditScoreOut
from nodes.auth import NodeUser
from nodes.context import NodeContext
from oracles.audit import service
from oracles.audit.errors import AuditError
from oracles.audit.model import AuditModel
from oracles.audit.settings import audit_settings, model_dir

router = APIRouter(prefix="/audit", tags=["audit"])
_lock = threading.Lock()
ROLES = ("auditor", "officer")
AuditorDep = Annotated[NodeUser, Depends(require_role(*ROLES))]
ModelName = Annotated[
    str | None,
    Query(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="a model under <home>/audit/models/"),
]
MapParam = Annotated[list[str] | None, Query(alias="map", description="field=Column, repeatable")]
FILE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def audit_model(request: Request, ctx: NodeContext, name: str | None) -> AuditModel:
    """The cached model of this node (or named one); reloaded when card.json changes."""
    base = model_dir(ctx.settings)
    path = (Path(ctx.settings.home) / "audit" / "models" / name) if name else base
    if name and name in (".", ".."):
        raise AuditError("model_missing", f"no model named {name!r}")
    card = path / "card.json"
    try:
        stamp = card.stat().st_mtime_ns
    except OSError:
        raise AuditError(
            "model_missing",
            f"no audit model at {path}; train one with "
            "`smartcustoms audit train --out " + str(path) + "`",
        ) from None
    with _lock:
        cache: dict[str, tuple[int, AuditModel]] = (
            getattr(request.app.state, "audit_models", None) or {}
        )
        request.app.state.audit_models = cache
        hit = cache.get(str(path))
        if hit and hit[0] == stamp:
            return hit[1]
    model = AuditModel.load(path)
    with _lock:
        cache[str(path)] = (stamp, model)
    return model


async def _body(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise AuditError(
            "upload_too_large", f"upload of {declared} bytes is over the {cap}-byte cap"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise AuditError("upload_too_large", f"upload is over the {cap}-byte cap")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        raise AuditError(
            "empty_data", "the request body is empty: send the CSV or Parquet file as the body"
        )
    return body


def prepare_upload(model: AuditModel, body: bytes, maps: list[str] | None, need_label: bool):
    mapping = model.mapping
    if maps:
        from oracles.audit.mapping import load_mapping

        extra = load_mapping(None, maps)
        mapping = mapping.with_overrides({f: extra.columns[f] for f in extra.explicit})
    return service.prepare_for(model, body, need_label=need_label, mapping=mapping)


@router.get(
    "/model",
    response_model=AuditModelOut,
    summary="The node's audit model: version, data summary, metrics",
)
def model_info(
    request: Request,
    ctx: NodeDep,
    _: AuditorDep,
    model: ModelName = None,
) -> dict[str, Any]:
    m = audit_model(request, ctx, model)
    card = m.card
    return {
        k: card[k]
        for k in (
            "model_version",
            "format_version",
            "created_at",
            "data",
            "features",
            "metrics",
            "onnx",
            "revenue",
        )
    } | {"backend": m.backend}


@router.post(
    "/score",
    response_model=AuditScoreOut,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    summary="Rank uploaded declarations by audit risk, with reasons",
    openapi_extra=FILE_BODY,
)
async def score(
    request: Request,
    ctx: NodeDep,
    _: AuditorDep,
    model: ModelName = None,
    maps: MapParam = None,
    top: Annotated[int, Query(ge=1, le=100_000, description="rows returned")] = 100,
    fmt: Annotated[str, Query(alias="format", pattern="^(json|csv)$")] = "json",
) -> Any:
    cfg = audit_settings(ctx.settings)
    body = await _body(request, cfg.max_upload_bytes)

    def work() -> tuple[AuditModel, Any, Any]:
        m = audit_model(request, ctx, model)
        prep = prepare_upload(m, body, maps, need_label=False)
        ranked = service.score_frame(m, prep.frame, reasons_top=min(top, cfg.reasons_top))
        return m, prep, ranked

    m, prep, ranked = await run_in_threadpool(work)
    if fmt == "csv":
        return Response(
            ranked.to_csv(index=False),
            media_type="text/csv",
            headers={"X-Model-Version": m.version},
        )
    return {
        "model_version": m.version,
        "backend": m.backend,
        "rows": len(ranked),
        "rows_dropped": prep.report["rows_dropped"],
        "unseen": service.unseen(m, prep.frame),
        "ranking": ranked.head(top).to_dict("records"),
    }


@router.post(
    "/companies",
    response_model=AuditCompaniesOut,
    summary="Rank importers for post-clearance audit",
    openapi_extra=FILE_BODY,
)
async def companies(
    request: Request,
    ctx: NodeDep,
    _: AuditorDep,
    model: ModelName = None,
    maps: MapParam = None,
    top: Annotated[int, Query(ge=1, le=10_000)] = 20,
    by: Annotated[str, Query(pattern="^(risk|revenue|frauds)$")] = "risk",
) -> dict[str, Any]:
    body = await _body(request, audit_settings(ctx.settings).max_upload_bytes)

    def work() -> dict[str, Any]:
        m = audit_model(request, ctx, model)
        prep = prepare_upload(m, body, maps, need_label=False)
        return {
            "model_version": m.version,
            "companies": service.companies(m, prep.frame, top=top, by=by),
        }

    return await run_in_threadpool(work)


@router.post(
    "/evaluate",
    response_model=AuditEvaluationOut,
    summary="Selection quality on uploaded labelled declarations",
    openapi_extra=FILE_BODY,
)
async def evaluate(
    request: Request,
    ctx: NodeDep,
    _: AuditorDep,
    model: ModelName = None,
    maps: MapParam = None,
    baselines: bool = True,
) -> dict[str, Any]:
    body = await _body(request, audit_settings(ctx.settings).max_upload_bytes)

    def work() -> dict[str, Any]:
        m = audit_model(request, ctx, model)
        prep = prepare_upload(m, body, maps, need_label=True)
        return service.evaluate(m, prep.frame, baselines=baselines)

    return await run_in_threadpool(work)
