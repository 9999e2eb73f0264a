"""Plausibility of a declaration's dates when it is lodged (`check_dates`), not when it loads."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from offchain.dates import DateOutOfRange, DateWindow
from offchain.declarations.errors import DeclarationRejected
from offchain.declarations.model import Declaration
from offchain.declarations.paths import _json_path


def check_dates(decl: Declaration, window: DateWindow, *, today: date | None = None) -> Declaration:
    """Refuse a declaration with any date outside `window` (every date field, nested ones
    and fields added later included): `DeclarationRejected` `date_in_future` or
    `date_too_old`, naming the field.  Run when a declaration is lodged, not when it loads.
    """
    for loc, value in _dates_in(decl, ()):
        try:
            window.check(value, _json_path(loc), today=today)
        except DateOutOfRange as exc:
            raise DeclarationRejected(exc.code, exc.detail, path=_json_path(loc)) from None
    return decl


def _dates_in(value: Any, loc: tuple[Any, ...]):
    if isinstance(value, datetime):  # a date and time: its calendar day where it was written
        yield loc, value.date()
    elif isinstance(value, date):
        yield loc, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _dates_in(getattr(value, name), (*loc, name))
    elif isinstance(value, tuple | list):
        for i, v in enumerate(value):
            yield from _dates_in(v, (*loc, i))
