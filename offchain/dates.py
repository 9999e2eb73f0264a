"""Plausible dates: how far from today a date the rules rely on may lie.

A declaration dated 9999-12-31 would be judged against permits, rules and rates "valid on
that date" that nobody can check yet; one dated 1900-01-01 against windows long closed (a
back-dated declaration can draw down a permit that has since expired).  So the dates that
decide something are refused at the door when they lie more than `future_days` after today
(a small tolerance: a date written in Auckland is a day ahead of UTC) or more than
`max_age_days` before it.  "Today" is the UTC date of the node's clock.

The check belongs to lodging and submission only: a document anchored years ago still
verifies today, so verification never applies it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from offchain.errors import OffchainError


class DateOutOfRange(OffchainError):
    """Codes: date_in_future, date_too_old (422: well-formed, but not plausible)."""

    code: str = "date_out_of_range"


@dataclass(frozen=True, slots=True)
class DateWindow:
    """Dates from `max_age_days` before today to `future_days` after it are plausible."""

    future_days: int
    max_age_days: int

    def check(self, value: dt.date, what: str, *, today: dt.date | None = None) -> None:
        """Raise `DateOutOfRange` naming `what` (a field path) when `value` is implausible."""
        today = today or utc_today()
        latest = today + dt.timedelta(days=self.future_days)
        earliest = today - dt.timedelta(days=self.max_age_days)
        if value > latest:
            raise DateOutOfRange(
                "date_in_future",
                f"{what} is {value.isoformat()}, more than {self.future_days} day(s) after "
                f"today ({today.isoformat()} UTC); date it when it happens",
            )
        if value < earliest:
            raise DateOutOfRange(
                "date_too_old",
                f"{what} is {value.isoformat()}, more than {self.max_age_days} days before "
                f"today ({today.isoformat()} UTC); the earliest accepted is "
                f"{earliest.isoformat()}",
            )


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
