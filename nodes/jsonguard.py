"""Refuse JSON request bodies that are too large or too deeply nested, before anyone parses them.

Why: Python's json parser recurses once per nesting level; a body of 100,000 `[` crashed the
node process (seen in a test: the interpreter died, not just the request).  FastAPI parses
JSON bodies for pydantic parameters before our code runs, so the check has to sit in front
of the application: this ASGI middleware reads the body once, checks size and depth with a
linear scan, and replays it to the app.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def json_depth(body: bytes) -> int:
    """Maximum nesting of arrays/objects, ignoring brackets inside strings."""
    depth = best = 0
    for ch in _STRING.sub(b'""', body):
        if ch in (0x5B, 0x7B):  # [ {
            depth += 1
            best = max(best, depth)
        elif ch in (0x5D, 0x7D):  # ] }
            depth -= 1
    return best


class JsonGuard:
    def __init__(self, app, *, max_bytes: int, max_depth: int = 64) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _refuse(
                    send, 413, "json_too_large", f"JSON body over the {self.max_bytes}-byte cap"
                )
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if json_depth(body) > self.max_depth:
            await _refuse(
                send, 400, "json_too_deep", f"JSON nested deeper than {self.max_depth} levels"
            )
            return
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _is_json(scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"content-type":
                return b"json" in value.lower()
        return False


async def _refuse(send: Send, status: int, code: str, detail: str) -> None:
    body = json.dumps({"error": code, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
