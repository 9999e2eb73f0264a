"""The X-ray oracle (kind XRAY): an image in, a verdict every honest instance agrees on.

Request (JSON): the image itself as `image_b64` (base64), or its `image_cid` in the
content store the oracle was given; `image_sha256` (hex) is checked when present.  The
subject attested on chain is the image's sha256, the model version names the exact weights
(`xray-<version>+<8 hex of the ONNX sha256>`).

Output: `{"image_sha256", "verdict", "threat", "uncertain", "score", "scores", "threats",
"scan", "alarm_rate", "thresholds", "review", "review_rate", "warnings"}`: each threat names
the threshold it crossed, and `alarm_rate` the false-alarm rate those thresholds were chosen
for; `review` the classes in the band under them (verdict `uncertain`: an officer looks at
the image).  `threat`, `uncertain` (bools) and `score` (the highest class score) are what
the clearance oracle reads as `others["xray"]`.
A picture that is not a scan (`oracles.xray.gate`) gets no output at all: the instance
answers the error `not_a_scan` (422), so no verdict exists to attest and clearance never
sees one -- it reads the declaration as having no attested scan, as before any upload.  Scores are rounded to 4 places and boxes are integers, so instances on
different CPUs hash the same output (onnxruntime's float results agree far closer than
that).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from offchain import attestation as att
from offchain.cas import ContentStore, StoreError
from oracles.base import Oracle, OracleError
from oracles.xray.errors import XrayError
from oracles.xray.image import ImageLimits, load_image
from oracles.xray.model import XrayModel


class XrayOracle(Oracle):
    kind = int(att.XRAY)

    def __init__(
        self,
        model: XrayModel,
        store: ContentStore | None = None,
        limits: ImageLimits = ImageLimits(),
    ) -> None:
        self.model = model
        self.store = store
        self.limits = limits
        self.model_version = model.version_id

    def _image(self, request: dict[str, Any]) -> bytes:
        if "image_b64" in request:
            try:
                data = base64.b64decode(request["image_b64"], validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise OracleError("bad_request", "image_b64 is not valid base64") from None
        elif "image_cid" in request:
            if self.store is None:
                raise OracleError(
                    "bad_request",
                    "this instance has no content store: send the image as image_b64",
                )
            try:
                data = self.store.get(str(request["image_cid"]))
            except StoreError as exc:
                raise OracleError("image_unavailable", str(exc)) from None
        else:
            raise OracleError("bad_request", "an X-ray request needs image_b64 or image_cid")
        want = request.get("image_sha256")
        if want is not None and hashlib.sha256(data).hexdigest() != str(want).lower().removeprefix(
            "0x"
        ):
            raise OracleError("image_hash_mismatch", "the image does not hash to image_sha256")
        return data

    def subject(self, request: dict[str, Any]) -> bytes:
        want = request.get("image_sha256")
        if want is not None:
            try:
                raw = bytes.fromhex(str(want).lower().removeprefix("0x"))
            except ValueError:
                raw = b""
            if len(raw) == 32:
                return raw
        return hashlib.sha256(self._image(request)).digest()

    def compute(self, request: dict[str, Any]) -> dict[str, Any]:
        data = self._image(request)
        try:
            loaded = load_image(data, self.limits)
        except XrayError as exc:
            raise OracleError.reporting(exc) from None
        try:
            det = self.model.detect(loaded.image).require_scan()
        except XrayError as exc:  # not_a_scan: no verdict, so nothing to attest
            raise OracleError.reporting(exc) from None
        return {
            "image_sha256": loaded.sha256,
            "verdict": det.verdict,
            "threat": det.verdict == "threat",
            "uncertain": det.verdict == "uncertain",
            "score": max(det.scores.values()),
            "scores": det.scores,
            "threats": det.threats,
            "scan": det.scan,
            "alarm_rate": det.alarm_rate,
            "thresholds": det.thresholds,
            "review": det.review,
            "review_rate": det.review_rate,
            "warnings": loaded.warnings,
        }
