"""Who is looking at a console page: the session's user, their role, and form checks.

Pages depend on `signed_in` or `role("officer")`; both re-check the session's API key on
every request, so revoking a key in the node ends that user's console sessions too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from nodes.auth import AuthError, NodeUser
from nodes.context import NodeContext
from nodes.web.sessions import CsrfRejected, Session, SessionStore, SignInRequired

PREFIX = "/ui"


class PageForbidden(Exception):
    """A signed-in user asked for a page their role may not see."""

    def __init__(self, viewer: Viewer, roles: tuple[str, ...]) -> None:
        super().__init__(f"role {viewer.role} may not open this page")
        self.viewer = viewer
        self.roles = roles


class UploadTooLarge(Exception):
    """A form body over the console's cap; refused before it is parsed."""

    def __init__(self, size: int | None, cap: int) -> None:
        what = f"{size:,} bytes" if size is not None else "over the limit"
        super().__init__(f"the upload is {what}; this node accepts documents up to {cap:,} bytes")
        self.cap = cap


@dataclass(frozen=True)
class Viewer:
    user: NodeUser
    session: Session

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def name(self) -> str:
        return self.user.user

    def can(self, *roles: str) -> bool:
        """Admin may do everything; others what their role names."""
        return self.user.role == "admin" or self.user.role in roles


def node(request: Request) -> NodeContext:
    return request.app.state.node


NodeDep = Annotated[NodeContext, Depends(node)]


def sessions(request: Request) -> SessionStore:
    return request.app.state.console_sessions


def signed_in(request: Request) -> Viewer:
    """The signed-in user; SignInRequired when there is no live session or the key is gone."""
    store = sessions(request)
    s = store.lookup(request.cookies.get(store.cookie_name))
    try:
        user = node(request).api_keys.verify(s.api_key)
    except AuthError as exc:
        store.end(s.sid)
        raise SignInRequired(
            f"Your API key no longer works ({exc}); sign in with a current key."
        ) from None
    return Viewer(user, s)


SignedInDep = Annotated[Viewer, Depends(signed_in)]


def role(*roles: str) -> Callable[..., Viewer]:
    """Dependency: a signed-in user with one of `roles` (admin always); else a 403 page."""

    def check(v: SignedInDep) -> Viewer:
        if not v.can(*roles):
            raise PageForbidden(v, roles)
        return v

    return check


async def checked_form(
    request: Request, viewer: Viewer | None, *, max_bytes: int = 64 * 1024, max_files: int = 0
) -> FormData:
    """The posted form, refused before parsing when too large, then CSRF-checked.

    `viewer=None` is the sign-in form, checked against its double-submit cookie instead.
    """
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        if max_files:
            raise UploadTooLarge(None, max_bytes)  # an upload must say its length
    elif int(declared) > max_bytes:
        raise UploadTooLarge(int(declared), max_bytes)
    form = await request.form(max_files=max_files, max_fields=20, max_part_size=64 * 1024)
    token = form.get("csrf_token")
    token = token if isinstance(token, str) else None
    store = sessions(request)
    if viewer is None:
        store.check_signin_token(request.cookies.get(store.pre_cookie_name), token)
    else:
        store.check_csrf(viewer.session, token)
    return form


__all__ = [
    "PREFIX",
    "CsrfRejected",
    "PageForbidden",
    "SignInRequired",
    "UploadTooLarge",
    "Viewer",
    "checked_form",
    "node",
    "role",
    "sessions",
    "signed_in",
]
