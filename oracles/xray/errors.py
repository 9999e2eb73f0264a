"""The one exception family of the X-ray oracle: a stable code, a detail a person can act on."""

from __future__ import annotations

from offchain.errors import OffchainError


class XrayError(OffchainError):
    """A scan, model or feedback request the X-ray oracle refuses, and why.

    Image codes: not_an_image, unsupported_format, truncated_image, empty_image,
    image_too_small, image_too_large, animated_image, upload_too_large; not_a_scan (a
    readable picture the scan gate refuses: blank, noise, a photograph...).  Model codes: model_missing,
    model_hash_mismatch, model_invalid.  Store codes: unknown_scan, unknown_alert,
    bad_feedback.  Training: torch_missing, no_feedback.
    """

    code = "xray_error"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code, detail)
