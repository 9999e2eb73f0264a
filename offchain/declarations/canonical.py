"""The canonical JSON form of a declaration and its hash, the subject the oracles attest."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from offchain.declarations.fields import _plain
from offchain.receipt import Receipt

if TYPE_CHECKING:
    from offchain.declarations.model import Declaration


def _canonical_value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        out = {}
        for name in type(value).model_fields:
            v = getattr(value, name)
            if v is not None:
                out[name] = _canonical_value(v)
        return out
    if isinstance(value, tuple | list):
        return [_canonical_value(v) for v in value]
    if isinstance(value, Decimal):
        return _plain(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Receipt):
        return value.to_json()
    return value


def canonical_json(decl: Declaration) -> bytes:
    """The bytes that are hashed: the JSON form with sorted keys and no whitespace, UTF-8.

    Decimals are strings in their shortest plain form ("120", "0.5"), so the value and not
    its spelling is hashed; absent optional fields are left out; lists keep their order.
    """
    return json.dumps(
        _canonical_value(decl), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def declaration_hash(decl: Declaration) -> bytes:
    """SHA-256 of `canonical_json(decl)`: the 32-byte subject the oracles attest."""
    return hashlib.sha256(canonical_json(decl)).digest()
