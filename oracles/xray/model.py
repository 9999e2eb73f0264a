"""The X-ray model at run time: a hash-checked ONNX file, onnxruntime, scores and boxes.

A model folder holds `manifest.json` (version, file, sha256, classes, input size, alert
thresholds, reference outputs, metrics) and the ONNX file it names.  Loading reads the
file once, checks its sha256 against the recorded one (the manifest's, or a pinned value
from the settings) and builds the session from those very bytes, so what runs is what was
checked.  A file that differs is refused (`model_hash_mismatch`): an attested verdict
names its model version, and that name must mean one set of weights.

Output per scan: a score per class (the peak of its heat map; calibrated probabilities,
the calibration folded into the network at training) and, for every class at or over its
threshold, one threat per connected hot region of the map, boxed in scan pixels.  The
thresholds are those the manifest records for the installation's false-alarm rate
(`xray.alarm_rate`, default 5 %), and every verdict names the rate and the thresholds it
used.  Between those and the thresholds of a looser rate (`xray.review_rate`, default 10 %)
lies the review band: a scan with no threat but a class score in it is `uncertain`, not
`clear` -- the model is not sure enough to send an officer to open the bag, nor to let it
go unseen, so an officer looks at the image (`review` names the classes).  Before that,
`oracles.xray.gate` decides whether the picture is a scan at all: a
picture that is not gets the verdict `not_a_scan`, with no scores and no threats, and
`Detection.require_scan` turns it into the error the node, the CLI and the oracle answer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from oracles.xray import gate
from oracles.xray.errors import XrayError
from oracles.xray.preprocess import (
    INPUT_SIZE,
    Letterbox,
    fitted,
    letterbox,
    reference_input,
    to_input,
)

SHIPPED_DIR = Path(__file__).resolve().parent / "model"
BOX_LEVEL = 0.5  # a threat region is where the map is over half its peak
SCORE_DIGITS = 4  # scores are rounded so independent instances hash the same output
# Scores between the alert thresholds and this rate's are "uncertain": an officer looks at
# the image.  10 %: twice the default alarm rate, so about one clean scan in twenty more is
# looked at (on the calibration sets), not opened.
DEFAULT_REVIEW_RATE = 0.10


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Detection:
    scores: dict[str, float]  # empty for not_a_scan
    # {"class", "score", "threshold", "box": [x0, y0, x1, y1] in scan pixels}
    threats: list[dict[str, Any]]
    verdict: str  # "threat" | "uncertain" | "clear" | "not_a_scan"
    scan: float = 1.0  # the scan head's score (1.0 for models without one)
    thresholds: dict[str, float] | None = None  # the alert thresholds used
    alarm_rate: float | None = None  # the false-alarm rate they were chosen for
    not_a_scan: str | None = None  # why, when the verdict is not_a_scan
    # classes in the review band: {"class", "score", "threshold" (the review threshold),
    # "regions": [{"score", "box"}, ...] (its hot regions at that threshold, scan pixels)}
    review: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    review_rate: float | None = None  # the band's lower edge is the thresholds of this rate

    def to_json(self) -> dict[str, Any]:
        out = {
            "scores": self.scores,
            "threats": self.threats,
            "verdict": self.verdict,
            "scan": self.scan,
            "alarm_rate": self.alarm_rate,
            "thresholds": self.thresholds,
            "review": self.review,
            "review_rate": self.review_rate,
        }
        if self.not_a_scan:
            out["not_a_scan"] = self.not_a_scan
        return out

    def require_scan(self) -> Detection:
        """This detection, or XrayError `not_a_scan` (HTTP 422) saying why it is none."""
        if self.verdict == "not_a_scan":
            raise XrayError("not_a_scan", self.not_a_scan or "the image is not an X-ray scan")
        return self


class XrayModel:
    """A loaded, verified model.  Thread-safe (onnxruntime sessions are)."""

    def __init__(
        self,
        folder: Path | str = SHIPPED_DIR,
        *,
        expected_sha256: str | None = None,
        threads: int = 2,
        alarm_rate: float | None = None,
        review_rate: float | None = None,
    ) -> None:
        """`review_rate`: the false-alarm rate whose thresholds open the review band under
        the alert thresholds (None: `DEFAULT_REVIEW_RATE`; 0: no band; it must be looser
        than the alarm rate)."""
        import onnxruntime as ort

        self.folder = Path(folder)
        mpath = self.folder / "manifest.json"
        try:
            manifest = json.loads(mpath.read_text())
            file = self.folder / manifest["file"]
            recorded = str(manifest["sha256"]).lower()
            self.classes: tuple[str, ...] = tuple(manifest["classes"])
            self.alarm_rate, table = _thresholds(manifest, alarm_rate)
            self.thresholds: dict[str, float] = {c: float(table[c]) for c in self.classes}
            self.review_rate, self.review_thresholds = _review(
                manifest, self.alarm_rate, review_rate, self.classes
            )
            self.scan_threshold = float(manifest.get("scan_threshold", 0.0))
            self.input_size = int(manifest["input_size"])
        except FileNotFoundError:
            raise XrayError(
                "model_missing",
                f"no model manifest at {mpath}: restore "
                "oracles/xray/model or point xray.model_dir at a "
                "model folder",
            ) from None
        except XrayError:
            raise
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
        self.outputs = [o.name for o in self.session.get_outputs()]
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"XrayModel({self.version_id!r}, {str(self.folder)!r})"

    # --- inference ----------------------------------------------------------------------

    def infer(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3, S, S) float32 in 0..1 -> (scores (N, C), heat maps (N, C, G, G))."""
        scores, heat, _ = self.infer_all(x)
        return scores, heat

    def infer_all(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(scores (N, C), heat maps (N, C, G, G), scan-likeness (N,)); a model without a
        scan head gives 1.0 (only the gate's rules then refuse)."""
        if "scan" in self.outputs:
            scores, heat, scan = self.session.run(["scores", "heat", "scan"], {"image": x})
            return scores, heat, scan[:, 0]
        scores, heat = self.session.run(["scores", "heat"], {"image": x})
        return scores, heat, np.ones(len(scores), np.float32)

    def check_reference(self, tol: float = 1e-4) -> float:
        """Largest difference from the outputs recorded at training (XrayError if over tol)."""
        ref = self.manifest["reference"]
        want = np.array(ref["scores"] + [ref.get("scan", 1.0)], dtype=np.float64)
        scores, _, scan = self.infer_all(reference_input())
        got = np.concatenate([scores[0], scan[:1]]).astype(np.float64)
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
        """Gate, scores and threat boxes for RGB images (one batched run for those the gate's
        rules let through)."""
        out: list[Detection | None] = []
        todo = []
        small = [fitted(im, self.input_size) for im in images]  # resampled once, used twice
        for k, im in enumerate(images):
            why = gate.rule_refusal(im, small[k])
            out.append(self._refused(why, 0.0) if why else None)
            if not why:
                todo.append(k)
        if todo:
            inputs, boxes = zip(
                *(letterbox(images[k], self.input_size, small[k]) for k in todo), strict=True
            )
            scores, heat, scan = self.infer_all(to_input(np.stack(inputs)))
            for j, k in enumerate(todo):
                out[k] = self._detection(scores[j], heat[j], float(scan[j]), boxes[j])
        return [d for d in out if d is not None]

    def _refused(self, why: str, scan: float) -> Detection:
        return Detection(
            {}, [], "not_a_scan", round(scan, SCORE_DIGITS), self.thresholds, self.alarm_rate, why
        )

    def _review_band(
        self,
        rounded: dict[str, float],
        threats: list[dict[str, Any]],
        heat: np.ndarray,
        lb: Letterbox,
    ) -> list[dict[str, Any]]:
        """The classes scored at or over their review threshold that raised no threat (under
        the alert threshold, or -- rarely -- over it with no hot region to box), each with
        where to look: its map's hot regions at the review threshold, in scan pixels."""
        if self.review_thresholds is None:
            return []
        raised = {t["class"] for t in threats}
        return sorted(
            (
                {
                    "class": c,
                    "score": rounded[c],
                    "threshold": self.review_thresholds[c],
                    "regions": [
                        {"score": round(peak, SCORE_DIGITS), "box": lb.to_scan(box)}
                        for peak, box in regions(heat[i], self.review_thresholds[c])
                    ],
                }
                for i, c in enumerate(self.classes)
                if c not in raised and rounded[c] >= self.review_thresholds[c]
            ),
            key=lambda r: (-r["score"], r["class"]),
        )

    def _detection(
        self, scores: np.ndarray, heat: np.ndarray, scan: float, lb: Letterbox
    ) -> Detection:
        scan = round(scan, SCORE_DIGITS)
        why = gate.scan_refusal(scan, self.scan_threshold)
        if why:
            return self._refused(why, scan)
        rounded = {c: round(float(scores[i]), SCORE_DIGITS) for i, c in enumerate(self.classes)}
        threats: list[dict[str, Any]] = []
        for i, c in enumerate(self.classes):
            if rounded[c] < self.thresholds[c]:
                continue
            for score, box in regions(heat[i], self.thresholds[c]):
                threats.append(
                    {
                        "class": c,
                        "score": round(score, SCORE_DIGITS),
                        "threshold": self.thresholds[c],
                        "box": lb.to_scan(box),
                    }
                )
        threats.sort(key=lambda t: (-t["score"], t["class"], t["box"]))
        review = self._review_band(rounded, threats, heat, lb)
        return Detection(
            rounded,
            threats,
            "threat" if threats else "uncertain" if review else "clear",
            scan,
            self.thresholds,
            self.alarm_rate,
            review=review,
            review_rate=self.review_rate,
        )


def _thresholds(
    manifest: dict[str, Any], rate: float | None, setting: str = "xray.alarm_rate"
) -> tuple[float | None, dict]:
    """(false-alarm rate, thresholds per class) for the asked rate (None: the manifest's
    default).  Models recorded before rates were offered have one set, of no stated rate."""
    table = manifest.get("thresholds_by_rate")
    if not table:
        return manifest.get("default_alarm_rate"), manifest["thresholds"]
    want = float(manifest.get("default_alarm_rate", 0.05) if rate is None else rate)
    for key, thr in table.items():
        if abs(float(key) - want) < 1e-9:
            return want, thr
    raise XrayError(
        "model_invalid",
        f"this model records alert thresholds for false-alarm rates "
        f"{', '.join(sorted(table, key=float))}, not {want:g}: set {setting} to one of them",
    )


def _review(
    manifest: dict[str, Any],
    alarm_rate: float | None,
    rate: float | None,
    classes: tuple[str, ...],
) -> tuple[float | None, dict[str, float] | None]:
    """(review rate, review thresholds per class), or (None, None) without a band.  The
    default band is left out where the alarm rate is already as loose as it; a band asked
    for at or under the alarm rate is an error."""
    if rate is None:
        loose_alarms = alarm_rate is not None and alarm_rate >= DEFAULT_REVIEW_RATE - 1e-9
        rate = 0.0 if loose_alarms else DEFAULT_REVIEW_RATE
    if not rate:
        return None, None
    if alarm_rate is not None and rate <= alarm_rate + 1e-9:
        raise XrayError(
            "model_invalid",
            f"xray.review_rate {rate:g} must be looser than xray.alarm_rate {alarm_rate:g} "
            "(the review band lies under the alert thresholds); set 0 for no band",
        )
    if not manifest.get("thresholds_by_rate"):
        return None, None  # a model recorded before rates were offered has no band
    _, table = _thresholds(manifest, rate, setting="xray.review_rate")
    return rate, {c: float(table[c]) for c in classes}


def regions(
    heat: np.ndarray, threshold: float
) -> list[tuple[float, tuple[float, float, float, float]]]:
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
