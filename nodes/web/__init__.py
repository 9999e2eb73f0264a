"""The web console of a member node: server-rendered pages for exporters, officers and
auditors, served by the node's own FastAPI app under `/ui`.

`install(app)` mounts it next to the JSON API (whose paths and answers do not change).  The
pages call the node's services in process; sign-in turns a node API key into a server-side
session (see `sessions.py`); every form carries a CSRF token; static files are vendored in
`static/` (no CDN, no build step).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from nodes.web import audit, auditor, common, exporter, manifests, officer, payments, tariff, xray
from nodes.web.access import PREFIX
from nodes.web.sessions import DEFAULT_TTL_S, SessionStore

STATIC = Path(__file__).resolve().parent / "static"


def install(app: FastAPI, *, session_ttl_s: float = DEFAULT_TTL_S) -> None:
    """Serve the console under /ui (and send browsers asking for / there)."""
    ctx = app.state.node
    secret = ctx.chain.keys.secret(f"{ctx.member.id}/console-session")
    app.state.console_sessions = SessionStore(secret, ctx.member.id, ttl_s=session_ttl_s)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")
    for module in (common, exporter, officer, auditor, tariff, audit, xray, manifests, payments):
        app.include_router(module.router)
    app.add_api_route(PREFIX, _to_console, include_in_schema=False)
    app.include_router(common.fallback)
    app.add_api_route("/", _root, include_in_schema=False)


def _to_console() -> Response:
    return RedirectResponse(PREFIX + "/", status_code=307)


def _root(request: Request) -> Response:
    """Browsers go to the console; API clients get a pointer to what is here."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(PREFIX + "/", status_code=307)
    return JSONResponse({"console": PREFIX + "/", "docs": "/docs", "health": "/health"})
