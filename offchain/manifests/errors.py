"""`ManifestRejected` and the rule codes the model raises (see the package docstring)."""

from __future__ import annotations

from offchain.declarations.errors import _fail as _fail  # one rule-code helper for both
from offchain.errors import Rejected

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


class ManifestRejected(Rejected):
    """A manifest refused before anything was stored or anchored.

    `code` is one of the package docstring's codes (or an `xmlsafe` / schema code), `detail`
    what and where, `path` the field (`lines[3].containers[0].number` for JSON,
    `/CargoManifest/Lines/Line[4]/Containers/Container/ID` for XML), `line` the XML line when
    known, `issues` each problem found (up to five).  413 too large, 400 for bytes that are
    not XML / JSON at all, 415 for another media type, else 422.
    """

    code: str = "manifest_rejected"
