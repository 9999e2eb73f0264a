"""The tariff classification assistant: a description in, ranked HS codes out, and the
progressive questions that narrow them.

The node's tariff service does the work in process: the same object the JSON API keeps on
`app.state.tariff` (`nodes.api.tariff.tariff_service`), so a dialogue started here lives in
the same session store, expires the same way and answers with the same model version.
Plain form posts (CSRF-checked) drive it; each answer is one button, so it works without
JavaScript.  Refusals (an empty or oversized description, an expired dialogue, an answer to
a question that is no longer pending) are shown on the page, next to the form to retry.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from nodes.api.tariff import tariff_service
from nodes.context import NodeContext
from nodes.web.access import PREFIX, NodeDep, UploadTooLarge, Viewer, checked_form, node, role
from nodes.web.render import ConsoleRoute, page
from oracles.tariff.dialogue import Dialogue
from oracles.tariff.errors import TariffInputError
from oracles.tariff.service import TariffService

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

CLASSIFIERS = ("exporter", "officer")
TOP = 5
FORM_BYTES = 64 * 1024  # a description is at most a few KB; more is refused unread
_SESSION = re.compile(r"^[0-9a-f]{32}$")
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
EXAMPLES = (
    "beef boneless",
    "men's cotton knitted T-shirts",
    "lithium-ion battery packs for laptops",
    "deep-groove ball bearings",
)


def _service(request: Request, ctx: NodeContext) -> TariffService:
    return tariff_service(request, ctx)


def _history(svc: TariffService, session: str | None) -> list[dict[str, str]]:
    """The questions answered so far in a dialogue, as (question, answer label)."""
    if not session:
        return []
    try:
        state = svc.sessions.get(session)
    except TariffInputError:
        return []
    out = []
    for step in state.get("dialogue", {}).get("asked", []):
        q = step.get("question", {})
        labels = {o.get("id"): o.get("label") for o in q.get("options", [])}
        out.append({"question": q.get("text", ""), "answer": labels.get(step.get("answer"), "")})
    return out


def _render(
    request: Request,
    v: Viewer,
    svc: TariffService | None,
    *,
    result: dict[str, Any] | None = None,
    description: str = "",
    error: tuple[str, str] | None = None,
    status: int = 200,
) -> Response:
    session = (result or {}).get("session")
    history = _history(svc, session) if svc is not None and result else []
    return page(
        request,
        "tariff.html",
        v,
        status=status,
        title="Tariff assistant",
        result=result,
        description=description or (result or {}).get("description", ""),
        error=error,
        history=history,
        examples=EXAMPLES,
        max_chars=svc.settings.max_description_chars if svc else 5000,
        ttl_min=round(svc.settings.session_ttl_s / 60) if svc else 15,
    )


async def _form(request: Request, v: Viewer) -> dict[str, str] | Response:
    """The posted fields as text, or the page saying the form was too large."""
    try:
        form = await checked_form(request, v, max_bytes=FORM_BYTES)
    except UploadTooLarge:
        ctx = node(request)
        cap = tariff_service(request, ctx).settings.max_description_chars
        size = request.headers.get("content-length", "?")
        return _render(
            request,
            v,
            None,
            error=(
                "description_too_long",
                f"the form carried {size} bytes; a product description needs at most "
                f"{cap:,} characters (one or two sentences: what it is, material, use, state). "
                "Nothing was classified.",
            ),
            status=413,
        )
    return {k: str(val) for k, val in form.items() if isinstance(val, str)}


@router.get("/tariff")
def tariff_form(
    request: Request,
    ctx: NodeDep,
    session: str | None = None,
    v: Viewer = Depends(role(*CLASSIFIERS)),
) -> Response:
    """The form; with `?session=`, that dialogue as it stands (to resume it)."""
    svc = _service(request, ctx)
    if not session:
        return _render(request, v, svc)
    try:
        if not _SESSION.match(session):
            raise TariffInputError("unknown_session", "this link names no dialogue of this node")
        state = svc.sessions.get(session)
        result = {
            **svc.render(Dialogue.from_json(state["dialogue"]), state["top"]),
            "session": session,
        }
    except TariffInputError as exc:
        return _render(request, v, svc, error=(exc.code, exc.detail), status=exc.http_status)
    return _render(request, v, svc, result=result)


@router.get("/tariff/answer")
@router.get("/tariff/stop")
def tariff_reload(v: Viewer = Depends(role(*CLASSIFIERS))) -> Response:
    """A reloaded or bookmarked answer: back to the assistant (answers are posted)."""
    return RedirectResponse(f"{PREFIX}/tariff", status_code=303)


@router.post("/tariff")
async def classify(
    request: Request, ctx: NodeDep, v: Viewer = Depends(role(*CLASSIFIERS))
) -> Response:
    fields = await _form(request, v)
    if isinstance(fields, Response):
        return fields
    svc = _service(request, ctx)
    description = fields.get("description", "")
    try:
        result = await run_in_threadpool(svc.start, description, TOP)
    except TariffInputError as exc:
        return _render(
            request,
            v,
            svc,
            description=description[: svc.settings.max_description_chars],
            error=(exc.code, exc.detail),
            status=exc.http_status,
        )
    return _render(request, v, svc, result=result)


@router.post("/tariff/answer")
async def answer(
    request: Request, ctx: NodeDep, v: Viewer = Depends(role(*CLASSIFIERS))
) -> Response:
    fields = await _form(request, v)
    if isinstance(fields, Response):
        return fields
    svc = _service(request, ctx)
    session, question, option = (
        fields.get("session", ""),
        fields.get("question", ""),
        fields.get("option", ""),
    )
    description = fields.get("description", "")[: svc.settings.max_description_chars]
    try:
        if not _SESSION.match(session):
            raise TariffInputError("unknown_session", "this form names no dialogue of this node")
        if not (_ID.match(question) and _ID.match(option)):
            raise TariffInputError("invalid_option", "choose one of the answers shown")
        result = await run_in_threadpool(svc.answer, session, question, option)
    except TariffInputError as exc:
        return _refused(request, v, svc, session, description, exc)
    return _render(request, v, svc, result=result)


@router.post("/tariff/stop")
async def stop(request: Request, ctx: NodeDep, v: Viewer = Depends(role(*CLASSIFIERS))) -> Response:
    fields = await _form(request, v)
    if isinstance(fields, Response):
        return fields
    svc = _service(request, ctx)
    session = fields.get("session", "")
    description = fields.get("description", "")[: svc.settings.max_description_chars]
    try:
        if not _SESSION.match(session):
            raise TariffInputError("unknown_session", "this form names no dialogue of this node")
        result = await run_in_threadpool(svc.stop, session)
    except TariffInputError as exc:
        return _refused(request, v, svc, session, description, exc)
    return _render(request, v, svc, result=result)


def _refused(
    request: Request,
    v: Viewer,
    svc: TariffService,
    session: str,
    description: str,
    exc: TariffInputError,
) -> Response:
    """An answer the dialogue cannot take: say why, and show the dialogue as it stands
    (when it still lives) so the user answers the question actually pending."""
    result = None
    if exc.code in ("question_not_asked", "invalid_option", "no_pending_question"):
        try:
            state = svc.sessions.get(session)
            result = {
                **svc.render(Dialogue.from_json(state["dialogue"]), state["top"]),
                "session": session,
            }
        except TariffInputError:
            result = None
    hint = {
        "session_expired": " Start again: your description is in the form below.",
        "unknown_session": " Start again: your description is in the form below.",
    }.get(exc.code, "")
    return _render(
        request,
        v,
        svc,
        result=result,
        description=description,
        error=(exc.code, exc.detail + hint),
        status=exc.http_status,
    )
