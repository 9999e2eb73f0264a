"""Where the tariff classifier finds its model and tariff, and its thresholds.

Resolved from the `tariff` section of the settings (`SMARTCUSTOMS_TARIFF__MODEL_DIR`, ...)
and the installation's `home`: trained models go to `<home>/tariff/models/<version>` (the
shipped model in `oracles/tariff/model/` is never overwritten), and
`<home>/tariff/models/CURRENT` names the version in use; `model_dir` pins a folder.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from offchain.settings import Settings

SHIPPED_MODEL_DIR = Path(__file__).resolve().parent / "model"
CURRENT_FILE = "CURRENT"


@dataclass(frozen=True)
class TariffSettings:
    """Paths and thresholds of the tariff classifier (see the module docstring)."""

    model_root: Path  # trained versions, one folder each, plus CURRENT
    tariff_dir: Path  # the tariff table (rates, regulations)
    model_dir: Path | None = None  # an explicit model folder, else CURRENT, else shipped
    session_ttl_s: float = 900.0  # a dialogue left unanswered this long expires
    max_sessions: int = 10_000  # oldest dialogues are dropped beyond this
    max_description_chars: int = 5_000  # longer is not a product description
    max_top: int = 20
    mismatch_confidence: float = 0.5  # flag a declared code only against a prediction this sure
    max_upload_bytes: int = 20 * 1024 * 1024  # evaluate / train files over the API

    @classmethod
    def from_settings(cls, settings: Settings, model_dir: Path | None = None) -> TariffSettings:
        t = settings.tariff
        return cls(
            model_root=settings.home / "tariff" / "models",
            tariff_dir=settings.clearance.tariff_dir,
            model_dir=model_dir or t.model_dir,
            session_ttl_s=t.session_ttl_s,
            max_sessions=t.max_sessions,
            max_description_chars=t.max_description_chars,
            max_top=t.max_top,
            mismatch_confidence=t.mismatch_confidence,
            max_upload_bytes=t.max_upload_bytes,
        )

    def with_model_dir(self, model_dir: Path | None) -> TariffSettings:
        return replace(self, model_dir=model_dir)

    def active_model_dir(self) -> Path:
        """The explicit folder, else the trained version CURRENT names, else the shipped one."""
        if self.model_dir is not None:
            return self.model_dir
        current = self.model_root / CURRENT_FILE
        if current.is_file():
            folder = self.model_root / current.read_text(encoding="utf-8").strip()
            if folder.is_dir():
                return folder
        return SHIPPED_MODEL_DIR
