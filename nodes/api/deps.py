"""Request dependencies shared by the routers: the node context and the API-key check.

Handlers name what they need by type, as the FastAPI full-stack template does:
`ctx: NodeDep` is the node, `u: UserDep` any authenticated user, `u: OfficerDep` an officer
(or admin).  A router with its own role set writes `Annotated[NodeUser, Depends(require_role(...))]`
once, next to its other aliases.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import APIKeyHeader

from nodes.auth import ForbiddenError, NodeUser
from nodes.context import NodeContext

# Ids in paths and queries are bounded where they enter: a row id beyond SQLite's INTEGER
# or a proposal id beyond a uint256 cannot exist, and unbounded they overflow deep inside
# (sqlite3 OverflowError, web3 MismatchedABI) as 500s.  Out of range: 422 invalid_request.
MAX_ROW_ID = 2**63 - 1
MAX_UINT256 = 2**256 - 1
RowId = Annotated[int, Path(ge=0, le=MAX_ROW_ID, description="id of a stored record")]
AfterId = Annotated[
    int, Query(ge=0, le=MAX_ROW_ID, description="only records with a larger id (0: all)")
]
NewAfterId = Annotated[
    int | None,
    Query(ge=0, le=MAX_ROW_ID, description="only records with a larger id (default: new ones)"),
]
ProposalId = Annotated[int, Path(ge=0, le=MAX_UINT256, description="on-chain proposal id")]

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="Node user API key")


def node(request: Request) -> NodeContext:
    return request.app.state.node


NodeDep = Annotated[NodeContext, Depends(node)]


def user(key: Annotated[str | None, Depends(_api_key)], ctx: NodeDep) -> NodeUser:
    """The authenticated node user; 401 on a missing, unknown or revoked key."""
    return ctx.api_keys.verify(key)


UserDep = Annotated[NodeUser, Depends(user)]


def require_role(*roles: str) -> Callable[..., NodeUser]:
    """Dependency: an authenticated user whose role is one of `roles` (admin always is)."""

    def check(u: UserDep) -> NodeUser:
        if u.role != "admin" and u.role not in roles:
            raise ForbiddenError(
                f"user {u.user!r} has role {u.role!r}; this needs one of {', '.join(roles)}"
            )
        return u

    return check


AdminDep = Annotated[NodeUser, Depends(require_role("admin"))]
OfficerDep = Annotated[NodeUser, Depends(require_role("officer"))]
# Officers and auditors read what the node decided (releases, pre-arrival lines, traces).
ReviewerDep = Annotated[NodeUser, Depends(require_role("officer", "auditor"))]
# Exporters lodge and pay for their own goods; officers may act for them.
TraderDep = Annotated[NodeUser, Depends(require_role("exporter", "officer"))]
