"""Loading a declaration from JSON: size and nesting caps before parsing, no repeated keys."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from offchain.declarations.errors import DeclarationRejected
from offchain.declarations.model import Declaration
from offchain.declarations.paths import _json_path
from offchain.declarations.validation import _validate

MAX_JSON_BYTES = 5 * 1024 * 1024
MAX_JSON_DEPTH = 32  # a declaration nests 5 levels (receipt proof); the C parser crashes deep


def load_declaration_json(
    obj: Mapping[str, Any] | str | bytes, *, max_bytes: int = MAX_JSON_BYTES
) -> Declaration:
    """Validate a declaration given as a JSON object (or its text) into a `Declaration`.

    Raises `DeclarationRejected`: `declaration_too_large`, `invalid_json` (not JSON, not
    an object, a key given twice), or any code of the package docstring.
    """
    if isinstance(obj, str | bytes | bytearray):
        if len(obj) > max_bytes:
            raise DeclarationRejected(
                "declaration_too_large",
                f"the declaration is {len(obj):,} bytes; the limit is {max_bytes:,} bytes",
            )
        raw = obj.encode("utf-8", "surrogatepass") if isinstance(obj, str) else bytes(obj)
        if _json_too_deep(raw, MAX_JSON_DEPTH):
            raise DeclarationRejected(
                "invalid_json", f"JSON nested more than {MAX_JSON_DEPTH} levels deep"
            )
        try:
            obj = json.loads(obj, object_pairs_hook=_no_repeated_keys)
        except (ValueError, RecursionError) as exc:
            raise DeclarationRejected("invalid_json", f"not valid JSON: {exc}") from None
    if not isinstance(obj, Mapping):
        raise DeclarationRejected(
            "invalid_json", f"a declaration is a JSON object, not {type(obj).__name__}"
        )
    return _validate(dict(obj), _json_path)


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def _json_too_deep(data: bytes, limit: int) -> bool:
    """True when arrays/objects nest deeper than `limit`, checked before parsing.

    CPython's C JSON decoder recurses per level: a few hundred thousand `[` make it raise
    RecursionError, and freeing the half-built lists can then overflow the C stack and kill
    the process.  Brackets inside strings do not count; the loop stops at the first level
    too deep, so hostile input costs microseconds.
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    depth = 0
    for byte in _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", data)):
        depth += 1 if byte in (0x5B, 0x7B) else -1
        if depth > limit:
            return True
    return False


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice in one object")
        out[key] = value
    return out
