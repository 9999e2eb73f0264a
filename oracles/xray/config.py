"""Settings of the X-ray oracle, and where its model comes from.

`XraySettings` is the `xray` section of the installation's settings (environment
`SMARTCUSTOMS_XRAY__MAX_UPLOAD_BYTES=...` once the section is part of
`offchain.settings.Settings`); until then, and for settings objects without it, the
defaults here apply.

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

from pydantic import BaseModel, ConfigDict, Field

from oracles.xray.errors import XrayError
from oracles.xray.image import ImageLimits
from oracles.xray.model import SHIPPED_DIR, XrayModel


class XraySettings(BaseModel):
    """X-ray scans: upload limits, the model, inference threads, the false-alarm rate and
    the review band under it."""

    model_config = ConfigDict(protected_namespaces=())

    model_dir: Path | None = None
    model_sha256: str | None = Field(None, pattern="^[0-9a-fA-F]{64}$")
    max_upload_bytes: int = Field(16 * 1024 * 1024, ge=1024)  # = the store's object cap
    max_side: int = Field(8192, ge=64, le=30000)
    max_pixels: int = Field(40_000_000, ge=4096)
    threads: int = Field(2, ge=1, le=64)
    # false-alarm rate the alert thresholds are chosen for; the model records thresholds for
    # a few rates (manifest `thresholds_by_rate`); None: the model's default (5 %)
    alarm_rate: float | None = Field(None, gt=0, lt=1)
    # scores between the alert thresholds and those of this looser rate make a scan
    # "uncertain" (an officer looks at the image); None: the model's default (10 %), 0: none
    review_rate: float | None = Field(None, ge=0, lt=1)

    @property
    def limits(self) -> ImageLimits:
        return ImageLimits(self.max_upload_bytes, self.max_side, self.max_pixels)


def xray_settings(settings: Any) -> XraySettings:
    """The `xray` section of `settings`, or the defaults."""
    section = getattr(settings, "xray", None)
    if isinstance(section, XraySettings):
        return section
    if section is not None:  # the same fields, declared in offchain.settings
        return XraySettings.model_validate(section, from_attributes=True)
    return XraySettings()


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


def load_model(settings: Any) -> XrayModel:
    folder, pinned = active_model(settings)
    xs = xray_settings(settings)
    return XrayModel(
        folder,
        expected_sha256=pinned,
        threads=xs.threads,
        alarm_rate=xs.alarm_rate,
        review_rate=xs.review_rate,
    )
