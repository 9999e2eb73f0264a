"""Map the project's exceptions to HTTP: `{"error": code, "detail": text}` with the right status.

Why one handler: services raise `CodedError`s that know nothing of HTTP; the status of each
code is in one table (`offchain.errors.HTTP_STATUS`), read here once, so every endpoint
answers errors the same way.  A contract revert is the one error whose code and status
depend on what it carries (which custom error the contract raised).
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chain.errors import ContractReverted, readable
from nodes.auth import AuthError
from offchain.errors import CodedError

log = logging.getLogger(__name__)

# Contract errors that mean "no such thing" rather than "not allowed now".
_NOT_FOUND_REVERTS = {"UnknownMember", "UnknownProposal", "UnknownNode"}
_FORBIDDEN_REVERTS = {"NotActiveMemberAdmin", "NotMemberAdmin", "GovernanceOnly"}


class ApiError(Exception):
    """An error an endpoint raises on purpose, with its status and code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def error_body(code: str, detail: str, **extra: object) -> dict:
    return {"error": code, "detail": detail, **extra}


def _json(status: int, code: str, detail: str, **extra: object) -> JSONResponse:
    return JSONResponse(status_code=status, content=error_body(code, detail, **extra))


def _snake(name: str) -> str:
    """`AlreadyVoted` -> `already_voted`: a contract's custom error as an API error code."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _reverted(exc: ContractReverted) -> JSONResponse:
    """A revert answers as the contract's custom error: `AlreadyVoted` -> `already_voted`."""
    status = 409
    if exc.error in _NOT_FOUND_REVERTS:
        status = 404
    elif exc.error in _FORBIDDEN_REVERTS:
        status = 403
    revert = {"error": exc.error, "args": {k: readable(v) for k, v in exc.error_args.items()}}
    return _json(status, _snake(exc.error), str(exc), revert=revert)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return _json(exc.status, exc.code, exc.detail)

    @app.exception_handler(CodedError)
    async def _coded(_: Request, exc: CodedError) -> JSONResponse:
        if isinstance(exc, ContractReverted):
            return _reverted(exc)
        extra = {}
        issues = getattr(exc, "issues", None)
        if issues:
            extra["issues"] = [dict(i) for i in issues]
        resp = _json(exc.http_status, exc.code, exc.detail or str(exc), **extra)
        if isinstance(exc, AuthError):
            resp.headers["WWW-Authenticate"] = "ApiKey"
        return resp

    @app.exception_handler(ValueError)
    async def _value(_: Request, exc: ValueError) -> JSONResponse:
        return _json(400, "invalid_input", str(exc))

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        # A number from the request too large for where it went (SQLite INTEGER, a C long):
        # the caller's input, not the node's fault.  Parameters are bounded at the edge
        # (nodes.api.deps); this catches what a body or a new endpoint still lets through.
        log.info("number out of range on %s %s: %s", request.method, request.url.path, exc)
        return _json(400, "invalid_input", f"a number in the request is out of range ({exc})")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return _json(422, "invalid_request", problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _json(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _unexpected_body(exc)

    app.add_middleware(UnexpectedErrors)


def _unexpected_body(exc: BaseException) -> JSONResponse:
    return _json(500, "internal_error", f"{type(exc).__name__}: the node logged the details")


class UnexpectedErrors:
    """Answer an unexpected error with the JSON 500 and keep the connection.

    Starlette's outermost error middleware answers through the `Exception` handler but then
    re-raises, and uvicorn closes the client's keep-alive connection.  This middleware sits
    inside it: it logs, answers the same body and does not re-raise, so one bad request
    costs its client one 500, not the connection.  An error after the response started
    (a stream) cannot be answered any more and still propagates.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            await _unexpected_body(exc)(scope, receive, send)
