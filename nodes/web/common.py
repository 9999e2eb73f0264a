"""Pages for everyone: sign-in and sign-out, the overview, the node and its consortium,
and the console's 404 for paths no page answers."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from chain.errors import ChainError
from nodes.api.health import health
from nodes.auth import AuthError
from nodes.context import NodeContext
from nodes.web.access import (
    PREFIX,
    NodeDep,
    SignedInDep,
    checked_form,
    sessions,
)
from nodes.web.render import ConsoleRoute, error_page, page

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

ROLE_TASKS = {
    "exporter": "submit trade documents for partner customs and collect their receipts; "
    "classify goods",
    "officer": "check received documents, verify files, follow alerts, trips and declarations, "
    "classify goods, judge X-ray scans and confirm or reject their alerts",
    "auditor": "trace documents, trips, declarations and companies through the chain, each "
    "record re-verified; rank declarations for post-clearance audit",
    "agency": "issue permits (through the API or the command line for now)",
    "carrier": "lodge cargo manifests before your voyages arrive (API or `smartcustoms manifest "
    "submit`); see their receipts",
    "admin": "everything on this node",
}


def _cookie_args(request: Request) -> dict[str, Any]:
    return {
        "httponly": True,
        "samesite": "lax",
        "path": PREFIX,
        "secure": request.url.scheme == "https",
    }


def _safe_next(target: str | None) -> str:
    """Only a path inside the console: never another site (`//evil`, `https://...`)."""
    if not target:
        return PREFIX + "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith(PREFIX + "/") or "\\" in target:
        return PREFIX + "/"
    return target


def _node_health(ctx: NodeContext) -> dict[str, Any]:
    return json.loads(bytes(health(ctx).body))  # a JSONResponse's body is bytes


@router.get("/signin")
def signin_form(request: Request, next: str | None = None, why: str | None = None) -> Response:
    store = sessions(request)
    token, cookie = store.signin_token()
    reason = why if why and len(why) < 300 else None
    response = page(
        request,
        "signin.html",
        None,
        title="Sign in",
        csrf=token,
        next=_safe_next(next),
        why=reason,
        error=None,
    )
    response.set_cookie(store.pre_cookie_name, cookie, max_age=3600, **_cookie_args(request))
    return response


@router.post("/signin")
async def signin(request: Request, ctx: NodeDep) -> Response:
    form = await checked_form(request, None)
    key = str(form.get("api_key") or "").strip()
    target = _safe_next(str(form.get("next") or ""))
    store = sessions(request)
    try:
        user = ctx.api_keys.verify(key)
    except AuthError as exc:
        token, cookie = store.signin_token()
        response = page(
            request,
            "signin.html",
            None,
            status=401,
            title="Sign in",
            csrf=token,
            next=target,
            why=None,
            error=f"That key was not accepted: {exc}. Paste the whole key "
            f"(it starts with sc_{ctx.member.id.lower()}_).",
        )
        response.set_cookie(store.pre_cookie_name, cookie, max_age=3600, **_cookie_args(request))
        return response
    session, cookie = store.create(key, user.user, user.role)
    session.flash.append(("ok", f"Signed in as {user.user} ({user.role})."))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        store.cookie_name, cookie, max_age=int(store.ttl_s), **_cookie_args(request)
    )
    response.delete_cookie(store.pre_cookie_name, path=PREFIX)
    return response


@router.post("/signout")
async def signout(request: Request, v: SignedInDep) -> Response:
    await checked_form(request, v)
    store = sessions(request)
    store.end(v.session.sid)
    response = RedirectResponse(f"{PREFIX}/signin?why=Signed+out.", status_code=303)
    response.delete_cookie(store.cookie_name, path=PREFIX)
    return response


@router.get("/")
async def overview(request: Request, v: SignedInDep, ctx: NodeDep) -> Response:
    h = await run_in_threadpool(_node_health, ctx)
    return page(
        request, "overview.html", v, title="Overview", health=h, task=ROLE_TASKS.get(v.role, "")
    )


@router.get("/node")
async def node_page(request: Request, v: SignedInDep, ctx: NodeDep) -> Response:
    h = await run_in_threadpool(_node_health, ctx)
    members, members_error = [], None
    try:
        members = await run_in_threadpool(ctx.chain.registry.members)
    except ChainError as exc:
        members_error = str(exc)
    ingest = ctx.transport.ingest_status()
    return page(
        request,
        "node.html",
        v,
        title="Node & members",
        ingest=ingest,
        health=h,
        members=[m.to_json() for m in members],
        members_error=members_error,
    )


# Included last by install(): a page the console does not have is a readable 404.
fallback = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


@fallback.api_route("/{rest:path}", methods=["GET", "POST"])
def not_found(request: Request, rest: str) -> Response:
    """The console's 404 for any path under the prefix that no page answers."""
    return error_page(
        request,
        404,
        "No such page",
        f"The console has no page at {request.url.path}.",
        code="not_found",
    )
