"""A scan from `(seed, index)`: a bag, clutter and threats laid in, detected and displayed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from oracles.xray.synth.bags import draw_bag
from oracles.xray.synth.clutter import CLUTTER, CLUTTER_P
from oracles.xray.synth.detector import colourise, detect, greyscale
from oracles.xray.synth.render import Renderer
from oracles.xray.synth.shapes import Obj
from oracles.xray.synth.threats import CLASSES, THREATS

DEFAULT_SIZE = 512
THREAT_PROBABILITY = 0.22  # per class and scan; P(no threat) = 0.78**4, about 0.37


@dataclass
class Scan:
    """A rendered scan: RGB image, threat classes present, one box per threat object."""

    image: np.ndarray  # (H, W, 3) uint8, pseudo-coloured
    classes: list[str]
    boxes: list[dict[str, Any]]  # {"class": str, "box": [x0, y0, x1, y1]} pixel coordinates
    objects: list[str]  # names of every object drawn (threats and clutter), in drawing order
    low: np.ndarray | None = None  # (H, W) float32 low-energy transmission, if asked for
    high: np.ndarray | None = None  # (H, W) float32 high-energy transmission, if asked for
    masks: np.ndarray | None = None  # (len(CLASSES), H, W) bool threat pixels, if asked for

    @property
    def labels(self) -> np.ndarray:
        return np.array([c in self.classes for c in CLASSES], dtype=np.float32)


def scan(
    seed: int,
    index: int = 0,
    *,
    size: int | tuple[int, int] = DEFAULT_SIZE,
    threats: dict[str, int] | None = None,
    clutter: tuple[int, int] = (6, 16),
    energies: bool = False,
    masks: bool = False,
    display: str = "colour",
) -> Scan:
    """Render scan `index` of the data set `seed` (a pure function of the arguments).

    `threats` forces counts per class (e.g. `{"firearm": 1}`, `{}` for a clean bag); by default
    each class appears with probability THREAT_PROBABILITY.  `size` is the side (or (h, w)).
    `energies` keeps the two transmissions, `masks` the threat pixels per class (training
    targets for the heat map).  `display` is "colour" (dual-energy pseudo-colour) or "grey"
    (single-energy greyscale of the same scene, `greyscale`).
    """
    if display not in ("colour", "grey"):
        raise ValueError(f"display is 'colour' or 'grey', not {display!r}")
    rng = np.random.default_rng([seed, index])
    h, w = (size, size) if isinstance(size, int) else size
    s = min(h, w) / DEFAULT_SIZE
    r = Renderer(rng, h, w)
    ix0, iy0, ix1, iy1 = draw_bag(rng, r, s)
    if threats is None:
        threats = {c: int(rng.random() < THREAT_PROBABILITY) for c in CLASSES}
    objs: list[Obj] = [
        CLUTTER[i][0](rng)
        for i in rng.choice(len(CLUTTER), int(rng.integers(*clutter)), p=CLUTTER_P)
    ]
    for cls, n in threats.items():
        objs += [THREATS[cls](rng) for _ in range(n)]
    order = rng.permutation(len(objs))  # threats may lie under or over the clutter
    boxes, names = [], []
    label_masks = np.zeros((len(CLASSES), h, w), dtype=bool) if masks else None
    size_scale = rng.uniform(0.8, 1.15) * s
    for i in order:
        obj = objs[i]
        scale = size_scale * rng.uniform(0.85, 1.15)
        squash = 1.0 if rng.random() < 0.5 else rng.uniform(0.55, 1.0)
        box = r.draw(
            obj,
            rng.uniform(ix0, ix1),
            rng.uniform(iy0, iy1),
            rng.uniform(0, 2 * np.pi),
            scale,
            squash,
            bool(rng.random() < 0.5),
            None
            if label_masks is None or obj.label is None
            else label_masks[CLASSES.index(obj.label)],
        )
        names.append(str(obj.name))
        if obj.label is not None and box is not None:
            boxes.append({"class": obj.label, "box": [round(v, 1) for v in box]})
    low, high = detect(rng, r.t)
    image = colourise(low, high, rng.normal(0, 0.04))
    if display == "grey":  # its own stream: the colour scan of (seed, index) stays the same
        image = greyscale(low, high, np.random.default_rng([seed, index, 1]))
    classes = sorted({b["class"] for b in boxes}, key=CLASSES.index)
    return Scan(
        image,
        classes,
        boxes,
        names,
        low if energies else None,
        high if energies else None,
        label_masks,
    )


def scans(seed: int, n: int, **kwargs: Any) -> Iterator[Scan]:
    """Scans 0..n-1 of the data set `seed`."""
    for i in range(n):
        yield scan(seed, i, **kwargs)
