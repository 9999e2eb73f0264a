"""Rendering console pages, and turning every failure into a readable page.

`ConsoleRoute` wraps each console endpoint: a missing session redirects to the sign-in page
(saying why), a role that may not see the page gets a 403 page naming the roles that may,
a form without its CSRF token a 403 page, and domain errors (a refused document, the chain
down) a page with the node's error code and its sentence.  The JSON API keeps its own
`{"error", "detail"}` answers; nothing here changes them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from chain.errors import ChainError, ChainUnavailable, DeploymentMissing
from nodes.auth import AuthError, ForbiddenError
from nodes.errors import ApiError
from nodes.web.access import (
    PREFIX,
    CsrfRejected,
    PageForbidden,
    SignInRequired,
    UploadTooLarge,
    Viewer,
    signed_in,
)
from offchain.errors import OffchainError

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")

# Everything the pages load comes from this node: no inline script, no third party.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def when(value: Any) -> str:
    """Unix seconds or ISO text as `2026-11-25 10:48:58 UTC`; anything else as given."""
    if value is None or value == "":
        return "—"
    try:
        if isinstance(value, int | float):
            at = datetime.fromtimestamp(float(value), UTC)
        else:
            at = datetime.fromisoformat(str(value)).astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return str(value)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _short(value: Any, keep: int = 10) -> str:
    text = str(value or "")
    return text if len(text) <= 2 * keep + 1 else f"{text[:keep]}…{text[-6:]}"


templates.env.filters["when"] = when
templates.env.filters["short"] = _short
templates.env.globals["prefix"] = PREFIX


@dataclass(frozen=True)
class NavEntry:
    label: str
    path: str
    roles: tuple[str, ...]  # who sees it (admin always); () is everyone
    about: str
    soon: str | None = None  # a placeholder: which service brings the page


NAV: list[NavEntry] = [
    NavEntry("Overview", "/", (), "your tasks on this node"),
    NavEntry("Node & members", "/node", (), "health, chain, contracts and the consortium"),
    NavEntry(
        "My documents",
        "/documents",
        ("exporter", "officer"),
        "submit trade documents, follow them, download receipts",
    ),
    NavEntry("Inbox", "/inbox", ("officer",), "documents from partner customs with their verdicts"),
    NavEntry(
        "Verify",
        "/verify",
        ("officer", "auditor"),
        "check a document file and its receipt against the chain",
    ),
    NavEntry(
        "Declarations",
        "/declarations",
        ("officer", "auditor"),
        "channels C1/C2/C3 with duties and reasons",
    ),
    NavEntry("Alerts", "/alerts", ("officer", "auditor"), "live transport and X-ray alerts"),
    NavEntry(
        "Trips", "/trips", ("officer", "auditor"), "bonded trips drawn on the zones and corridors"
    ),
    NavEntry(
        "Trace",
        "/trace",
        ("auditor", "officer"),
        "a document, trip, declaration or company as one re-verified timeline",
    ),
    NavEntry(
        "X-ray scans",
        "/xray",
        ("officer",),
        "upload scans, see threats boxed, confirm or reject alerts",
        soon=None,
    ),
    NavEntry(
        "Tariff assistant",
        "/tariff",
        ("officer", "exporter"),
        "classify goods with progressive questions",
    ),
    NavEntry(
        "Audit ranking",
        "/audit",
        ("auditor", "officer"),
        "declarations and importers ranked by audit risk, with reasons",
    ),
    NavEntry(
        "Pre-arrival risk",
        "/manifests",
        ("officer", "auditor"),
        "cargo manifest lines flagged before arrival; unmatched and cross-checked lines",
    ),
    NavEntry(
        "Release",
        "/releases",
        ("officer", "auditor"),
        "what holds each declaration's goods: channel checks and unpaid duties",
    ),
    NavEntry(
        "Duties & payments",
        "/payments",
        ("exporter", "officer"),
        "payment orders to pay or defer, payments and anchored receipts",
    ),
]


def nav_for(viewer: Viewer | None) -> list[NavEntry]:
    if viewer is None:
        return []
    return [e for e in NAV if not e.roles or viewer.can(*e.roles)]


def page(
    request: Request,
    name: str,
    viewer: Viewer | None,
    *,
    status: int = 200,
    title: str = "",
    **context: Any,
) -> Response:
    """Render template `name` with what every page needs (user, navigation, CSRF, flash)."""
    ctx = request.app.state.node
    flash = []
    if viewer is not None:
        flash, viewer.session.flash[:] = list(viewer.session.flash), []
    return templates.TemplateResponse(
        request,
        name,
        {
            "viewer": viewer,
            "member": ctx.member,
            "nav": nav_for(viewer),
            "title": title,
            "csrf": viewer.session.csrf if viewer else context.pop("csrf", ""),
            "flash": flash,
            "path": request.url.path,
            "request_query": request.url.query,
            **context,
        },
        status_code=status,
    )


def error_page(
    request: Request,
    status: int,
    title: str,
    detail: str,
    *,
    code: str | None = None,
    viewer: Viewer | None = None,
    extra: list[str] | None = None,
) -> Response:
    return page(
        request,
        "error.html",
        viewer,
        status=status,
        title=title,
        detail=detail,
        code=code,
        status_code=status,
        extra=extra or [],
    )


def _status_of(exc: Exception) -> tuple[int, str, str]:
    """(HTTP status, code, sentence) of a domain error, as the JSON API would answer it."""
    if isinstance(exc, ApiError):
        return exc.status, exc.code, exc.detail
    if isinstance(exc, OffchainError):
        status = int(getattr(exc, "http_status", 400))
        return status, getattr(exc, "code", "error"), getattr(exc, "detail", None) or str(exc)
    if isinstance(exc, ChainUnavailable | DeploymentMissing):
        return 503, exc.code, str(exc)
    if isinstance(exc, ChainError):
        return 502, exc.code, str(exc)
    if isinstance(exc, ForbiddenError):
        return 403, exc.code, str(exc)
    if isinstance(exc, AuthError):
        return 401, exc.code, str(exc)
    if isinstance(exc, ValueError):
        return 400, "invalid_input", str(exc)
    raise exc


def _signin_redirect(request: Request, exc: SignInRequired) -> Response:
    if request.url.path.endswith("/stream"):
        return PlainTextResponse(exc.reason, status_code=401)
    target = request.url.path if request.method == "GET" else PREFIX + "/"
    if request.url.query and request.method == "GET":
        target += "?" + request.url.query
    response = RedirectResponse(
        f"{PREFIX}/signin?next={quote(target, safe='')}&why={quote(exc.reason, safe='')}",
        status_code=303,
    )
    store = request.app.state.console_sessions
    response.delete_cookie(store.cookie_name, path=PREFIX)
    return response


async def _viewer_or_none(request: Request) -> Viewer | None:
    try:
        return signed_in(request)
    except SignInRequired:
        return None


class ConsoleRoute(APIRoute):
    """An APIRoute whose failures are pages, and whose answers carry the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                response = await handler(request)
            except Exception as exc:  # every failure becomes a page
                response = await _failure_page(request, exc)
            for k, v in SECURITY_HEADERS.items():
                response.headers.setdefault(k, v)
            return response

        return run


async def _failure_page(request: Request, exc: Exception) -> Response:
    if isinstance(exc, SignInRequired):
        return _signin_redirect(request, exc)
    if isinstance(exc, PageForbidden):
        allowed = ", ".join(exc.roles)
        return error_page(
            request,
            403,
            "Not for your role",
            f"You are signed in as {exc.viewer.name} with role {exc.viewer.role}. "
            f"This page is for: {allowed} (and admin). Ask your node's administrator for a key "
            "with that role, or go back to your overview.",
            code="forbidden",
            viewer=exc.viewer,
        )
    viewer = await _viewer_or_none(request)
    if isinstance(exc, CsrfRejected):
        return error_page(
            request,
            403,
            "Form expired or not sent from this console",
            "The form arrived without the security token of your session (it may be from an "
            "old tab, another site, or a session that has since ended). Nothing was done. "
            "Reload the page and send the form again.",
            code="csrf_rejected",
            viewer=viewer,
        )
    if isinstance(exc, UploadTooLarge):
        return error_page(
            request, 413, "File too large", str(exc), code="xml_too_large", viewer=viewer
        )
    if isinstance(exc, RequestValidationError):
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        ]
        return error_page(
            request,
            422,
            "The request does not fit this page",
            "Some fields are missing or malformed.",
            code="invalid_request",
            viewer=viewer,
            extra=problems,
        )
    if isinstance(exc, StarletteHTTPException):
        return error_page(
            request,
            exc.status_code,
            "Cannot show this page",
            str(exc.detail),
            code="http_error",
            viewer=viewer,
        )
    try:
        status, code, detail = _status_of(exc)
    except Exception:
        log.exception("console page %s %s failed", request.method, request.url.path)
        return error_page(
            request,
            500,
            "Something went wrong on this node",
            f"{type(exc).__name__}: the node logged the details.",
            code="internal_error",
            viewer=viewer,
        )
    issues = [
        f"line {i.get('line', '?')}: {i.get('message', i)}"
        for i in getattr(exc, "issues", ()) or ()
    ]
    titles = {
        400: "Refused",
        401: "Not signed in",
        403: "Not allowed",
        404: "Not found",
        409: "Not possible now",
        413: "File too large",
        502: "The chain refused",
        503: "The chain is unavailable",
    }
    return error_page(
        request,
        status,
        titles.get(status, "Refused"),
        detail,
        code=code,
        viewer=viewer,
        extra=issues,
    )
