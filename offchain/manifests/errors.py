"""`ManifestRejected` and the rule codes the model raises (see the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic_core import PydanticCustomError

from offchain.errors import OffchainError

RULE_CODES = frozenset(
    {
        "invalid_country",
        "invalid_container",
        "invalid_datetime",
        "invalid_location",
        "invalid_hs_code",
        "duplicate_line",
        "totals_mismatch",
        "invalid_dates",
        "same_port",
        "not_finite",
        "negative_value",
        "invalid_number",
    }
)


class ManifestRejected(OffchainError):
    """A manifest refused before anything was stored or anchored.

    `code` is one of the package docstring's codes (or an `xmlsafe` / schema code), `detail`
    what and where, `path` the field (`lines[3].containers[0].number` for JSON,
    `/CargoManifest/Lines/Line[4]/Containers/Container/ID` for XML), `line` the XML line when
    known, `issues` each problem found (up to five).  413 too large, 400 for bytes that are
    not XML / JSON at all, 415 for another media type, else 422.
    """

    code: str = "manifest_rejected"

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        path: str | None = None,
        line: int | None = None,
        issues: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(code, detail)
        self.path = path
        self.line = line
        self.issues = tuple(issues)


def _fail(code: str, detail: str) -> PydanticCustomError:
    return PydanticCustomError(code, "{detail}", {"detail": detail})
