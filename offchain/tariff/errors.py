"""`TariffError` (a lookup or duty the tariff cannot answer) and `TariffTableError` (a broken
table, naming `file:line` of each problem).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from offchain.errors import OffchainError

MAX_REPORTED_PROBLEMS = 10


class TariffError(OffchainError):
    """A lookup or duty computation the tariff cannot answer.

    Codes: `invalid_hs_code` (not 6 to 10 digits), `unknown_hs_code` (no such line),
    `invalid_value` (negative, NaN or non-numeric value or quantity), `unknown_unit`,
    `unit_mismatch` (quantity cannot be converted to a specific duty's unit),
    `currency_mismatch` (the value is not in the tariff's currency).
    """

    code: str = "tariff_error"


class TariffTableError(OffchainError):
    """The tariff table files are broken; `problems` lists each as `file:line: what`."""

    code: str = "invalid_tariff_table"

    def __init__(self, folder: Path, problems: Sequence[str]) -> None:
        shown = list(problems[:MAX_REPORTED_PROBLEMS])
        more = len(problems) - len(shown)
        detail = f"the tariff table in {folder} is invalid: " + "; ".join(shown)
        if more > 0:
            detail += f"; and {more} more problem(s)"
        super().__init__(detail)
        self.detail = detail
        self.problems = tuple(problems)
