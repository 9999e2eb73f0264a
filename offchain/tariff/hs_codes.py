"""HS code normalisation: `8507.60.10` -> `85076010`, 6 to 10 digits or `invalid_hs_code`."""

from __future__ import annotations

import re

from offchain.tariff.errors import TariffError

_HS = re.compile(r"^[0-9]{6,10}$")


_HS_SEPARATORS = re.compile(r"[.\s]")


def normalize_hs(code: str) -> str:
    """`"8507.60.10"` -> `"85076010"`; raises `TariffError("invalid_hs_code")` unless 6-10 digits."""
    if not isinstance(code, str):
        raise TariffError("invalid_hs_code", f"an HS code is a string of digits, not {code!r}")
    digits = _HS_SEPARATORS.sub("", code)
    if not _HS.match(digits):
        raise TariffError(
            "invalid_hs_code",
            f"HS code {code!r} must have 6 to 10 digits (HS subheading plus national digits)",
        )
    return digits
