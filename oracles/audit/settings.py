"""The audit oracle's view of the `audit` settings section (offchain.settings.AuditSettings).

Kept as a small frozen dataclass so the package also runs on a bare `settings`-like object
(tests, scripts); the values themselves come from the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class AuditDefaults:
    model_dir: Path | None = None  # None: <home>/audit/model
    max_upload_bytes: int = 64 * 1024 * 1024
    select_pct: float = 5.0  # share of declarations the oracle selects for audit
    reasons_top: int = 5_000  # rows that get reasons when scoring a file


def audit_settings(settings: Any) -> AuditDefaults:
    """`settings.audit` if the installation's settings have one, else the defaults."""
    section = getattr(settings, "audit", None)
    if section is None:
        return AuditDefaults()
    return AuditDefaults(
        **{
            k: getattr(section, k)
            for k in AuditDefaults.__dataclass_fields__
            if hasattr(section, k)
        }
    )


def model_dir(settings: Any) -> Path:
    d = audit_settings(settings).model_dir
    return Path(d) if d else Path(settings.home) / "audit" / "model"
