"""Settings of the X-ray oracle, and where its model comes from.

The settings are the `xray` section of the installation's (`offchain.settings.XraySettings`,
environment `SMARTCUSTOMS_XRAY__MAX_UPLOAD_BYTES=...`); a settings object without it gets
that section's defaults.

Which model runs, first match wins: `model_dir` if set (its sha256 pinned by
`model_sha256` if set); else the version `smartcustoms xray retrain --activate` recorded in
`<home>/xray/models/active.json` (pinned to the sha256 recorded there); else the model
shipped in `oracles/xray/model/`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from offchain.settings import XraySettings
from oracles.xray.errors import XrayError
from oracles.xray.model import SHIPPED_DIR, XrayModel


def xray_settings(settings: Any) -> XraySettings:
    """The `xray` section of `settings`, or the defaults."""
    section = getattr(settings, "xray", None)
    return section if isinstance(section, XraySettings) else XraySettings()


def models_dir(settings: Any) -> Path:
    """Where retrained versions go: `<home>/xray/models/<version>/`."""
    return Path(settings.home) / "xray" / "models"


def active_model(settings: Any) -> tuple[Path, str | None]:
    """(model folder, pinned sha256 or None) by the rule in the module docstring."""
    xs = xray_settings(settings)
    if xs.model_dir is not None:
        return Path(xs.model_dir), xs.model_sha256
    pointer = models_dir(settings) / "active.json"
    if pointer.exists():
        try:
            rec = json.loads(pointer.read_text())
            return models_dir(settings) / rec["version"], rec["sha256"]
        except (ValueError, KeyError, TypeError) as exc:
            raise XrayError(
                "model_invalid", f"{pointer} is damaged ({exc}); delete it to use the shipped model"
            ) from None
    return SHIPPED_DIR, xs.model_sha256


def activate(settings: Any, version: str, sha256: str) -> Path:
    """Make `version` (a folder under models_dir) the model this installation runs."""
    pointer = models_dir(settings) / "active.json"
    pointer.parent.mkdir(parents=True, exist_ok=True)
    tmp = pointer.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": version, "sha256": sha256}) + "\n")
    os.replace(tmp, pointer)
    return pointer


def load_model(settings: Any, folder: Path | None = None) -> XrayModel:
    """The active model (`active_model`), or the one in `folder` (unpinned), run with the
    installation's threads, alarm rate and review rate."""
    pinned = None
    if folder is None:
        folder, pinned = active_model(settings)
    xs = xray_settings(settings)
    return XrayModel(
        folder,
        expected_sha256=pinned,
        threads=xs.threads,
        alarm_rate=xs.alarm_rate,
        review_rate=xs.review_rate,
    )
