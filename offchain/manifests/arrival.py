"""Plausibility of a manifest's arrival when it is lodged (`check_arrival`), and lateness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from offchain.manifests.errors import ManifestRejected
from offchain.manifests.model import Manifest


def check_arrival(manifest: Manifest, *, now: datetime, ahead_days: int, age_days: int) -> None:
    """Refuse an arrival more than `ahead_days` ahead or `age_days` back (422)."""
    if manifest.arrival > now + timedelta(days=ahead_days):
        raise ManifestRejected(
            "arrival_too_far",
            f"arrival {manifest.arrival.isoformat()} is more than {ahead_days} days ahead; "
            "lodge the manifest closer to the voyage",
            path="arrival",
        )
    if manifest.arrival < now - timedelta(days=age_days):
        raise ManifestRejected(
            "arrival_too_old",
            f"arrival {manifest.arrival.isoformat()} is more than {age_days} days ago; "
            "such cargo is no longer advance information",
            path="arrival",
        )


def is_late(manifest: Manifest, lodged_at: datetime, lead_h: float = 0.0) -> bool:
    """Lodged after arrival (or less than `lead_h` hours before it): accepted, flagged."""
    return lodged_at > manifest.arrival - timedelta(hours=lead_h)


def utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")
