"""Request dependencies shared by the routers: the node context and the API-key check."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from nodes.auth import ForbiddenError, NodeUser
from nodes.context import NodeContext

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="Node user API key")


def node(request: Request) -> NodeContext:
    return request.app.state.node


def user(key: str | None = Depends(_api_key), ctx: NodeContext = Depends(node)) -> NodeUser:
    """The authenticated node user; 401 on a missing, unknown or revoked key."""
    return ctx.api_keys.verify(key)


def require_role(*roles: str) -> Callable[..., NodeUser]:
    """Dependency: an authenticated user whose role is one of `roles` (admin always is)."""

    def check(u: NodeUser = Depends(user)) -> NodeUser:
        if u.role != "admin" and u.role not in roles:
            raise ForbiddenError(
                f"user {u.user!r} has role {u.role!r}; this needs one of {', '.join(roles)}"
            )
        return u

    return check
