"""The X-ray model at run time: a hash-checked ONNX file, onnxruntime, scores and boxes.

A model folder holds `manifest.json` (version, file, sha256, classes, input size, alert
thresholds, reference outputs, metrics) and the ONNX file it names.  Loading reads the
file once, checks its sha256 against the recorded one (the manifest's, or a pinned value
from the settings) and builds the session from those very bytes, so what runs is what was
checked.  A file that differs is refused (`model_hash_mismatch`): an attested verdict
names its model version, and that name must mean one set of weights.

Output per scan: a score per class (the peak of its heat map) and, for every class over
its threshold, one threat per connected hot region of the map, boxed in scan pixels.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from oracles.xray.errors import XrayError
from oracles.xray.preprocess import INPUT_SIZE, Letterbox, letterbox, reference_input, to_input

SHIPPED_DIR = Path(__file__).resolve().parent / "model"
BOX_LEVEL = 0.5  # a threat region is where the map is over half its peak
SCORE_DIGITS = 4  # scores are rounded so independent instances hash the same output


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Detection:
    scores: dict[str, float]
    threats: list[dict[str, Any]]  # {"class", "score", "box": [x0, y0, x1, y1]} scan pixels
    verdict: str  # "threat" | "clear"

    def to_json(self) -> dict[str, Any]:
        return {"scores": self.scores, "threats": self.threats, "verdict": self.verdict}


class XrayModel:
    """A loaded, verified model.  Thread-safe (onnxruntime sessions are)."""

    def __init__(
        self,
        folder: Path | str = SHIPPED_DIR,
        *,
        expected_sha256: str | None = None,
        threads: int = 2,
    ) -> None:
        import onnxruntime as ort

        self.folder = Path(folder)
        mpath = self.folder / "manifest.json"
        try:
            manifest = json.loads(mpath.read_text())
            file = self.folder / manifest["file"]
            recorded = str(manifest["sha256"]).lower()
            self.classes: tuple[str, ...] = tuple(manifest["classes"])
            self.thresholds: dict[str, float] = {
                c: float(manifest["thresholds"][c]) for c in self.classes
            }
            self.input_size = int(manifest["input_size"])
        except FileNotFoundError:
            raise XrayError(
                "model_missing",
                f"no model manifest at {mpath}: restore "
                "oracles/xray/model or point xray.model_dir at a "
                "model folder",
            ) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise XrayError(
                "model_invalid",
                f"{mpath} is not a valid model manifest ({type(exc).__name__}: {exc})",
            ) from None
        if self.input_size != INPUT_SIZE:
            raise XrayError(
                "model_invalid",
                f"{mpath} takes {self.input_size}-px input; this code feeds {INPUT_SIZE}-px input",
            )
        if expected_sha256 and expected_sha256.lower() != recorded:
            raise XrayError(
                "model_hash_mismatch",
                f"{mpath} records sha256 {recorded[:16]}..., the pinned one is "
                f"{expected_sha256[:16]}...: this is not the model you configured",
            )
        try:
            blob = file.read_bytes()
        except FileNotFoundError:
            raise XrayError("model_missing", f"{file} (named by {mpath}) does not exist") from None
        actual = hashlib.sha256(blob).hexdigest()
        if actual != recorded:
            raise XrayError(
                "model_hash_mismatch",
                f"{file} has sha256 {actual[:16]}..., but {recorded[:16]}... is "
                "recorded: the file was changed or damaged; restore it (git checkout "
                "oracles/xray/model) or retrain",
            )
        self.sha256 = actual
        self.manifest = manifest
        self.version = str(manifest["version"])
        # bytes32 on chain: "xray-<version>+<8 hex of sha256>" names the exact weights
        self.version_id = f"xray-{self.version}+{actual[:8]}"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise XrayError(
                "model_invalid", f"{file} does not load in onnxruntime: {exc}"
            ) from None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"XrayModel({self.version_id!r}, {str(self.folder)!r})"

    # --- inference ----------------------------------------------------------------------

    def infer(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3, S, S) float32 in 0..1 -> (scores (N, C), heat maps (N, C, G, G))."""
        scores, heat = self.session.run(["scores", "heat"], {"image": x})
        return scores, heat

    def check_reference(self, tol: float = 1e-4) -> float:
        """Largest difference from the outputs recorded at training (XrayError if over tol)."""
        want = np.array(self.manifest["reference"]["scores"], dtype=np.float64)
        got = self.infer(reference_input())[0][0].astype(np.float64)
        diff = float(np.abs(want - got).max())
        if diff > tol:
            raise XrayError(
                "model_invalid",
                f"{self.version_id} no longer reproduces its "
                f"recorded outputs (difference {diff:.2e})",
            )
        return diff

    def detect(self, image: Image.Image) -> Detection:
        return self.detect_many([image])[0]

    def detect_many(self, images: list[Image.Image]) -> list[Detection]:
        """Scores and threat boxes for RGB scans (one batched run)."""
        inputs, boxes = zip(*(letterbox(im, self.input_size) for im in images), strict=True)
        scores, heat = self.infer(to_input(np.stack(inputs)))
        return [self._detection(scores[i], heat[i], boxes[i]) for i in range(len(images))]

    def _detection(self, scores: np.ndarray, heat: np.ndarray, lb: Letterbox) -> Detection:
        rounded = {c: round(float(scores[i]), SCORE_DIGITS) for i, c in enumerate(self.classes)}
        threats = []
        for i, c in enumerate(self.classes):
            if rounded[c] < self.thresholds[c]:
                continue
            for score, box in regions(heat[i], self.thresholds[c]):
                threats.append(
                    {"class": c, "score": round(score, SCORE_DIGITS), "box": lb.to_scan(box)}
                )
        threats.sort(key=lambda t: (-t["score"], t["class"], t["box"]))
        return Detection(rounded, threats, "threat" if threats else "clear")


def regions(heat: np.ndarray, threshold: float) -> list[tuple[float, tuple[float, ...]]]:
    """Hot regions of one class map: (peak, input-pixel box) for each region over threshold.

    The map is upsampled to the input size (bilinear, cell values at cell centres), cut at
    BOX_LEVEL of its peak and split in connected parts; a part counts when the highest cell
    whose centre lies in it reaches `threshold`.
    """
    g = heat.shape[0]
    stride = INPUT_SIZE // g
    up = ndimage.zoom(heat.astype(np.float32), stride, order=1, mode="nearest", grid_mode=True)
    labels, _ = ndimage.label(up >= BOX_LEVEL * float(heat.max()), structure=np.ones((3, 3)))
    at_centres = labels[stride // 2 :: stride, stride // 2 :: stride]
    out = []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        cells = at_centres == k
        peak = float(heat[cells].max()) if cells.any() else float(up[sl][labels[sl] == k].max())
        if round(peak, SCORE_DIGITS) < threshold:
            continue
        ys, xs = sl
        out.append(
            (peak, (float(xs.start), float(ys.start), float(xs.stop - 1), float(ys.stop - 1)))
        )
    out.sort(key=lambda r: -r[0])
    return out
