"""Training views of real greyscale crops: scale, placement, exposure, and composites.

Why: the real material is crops, and crops differ by class in ways that are not the
object -- handgun crops are 500-1300 px, razor blades 407 px, background mostly 768 x 572,
each class with its own framing and brightness.  A network shown the crops as they are can
learn "square and light means blade".  And the misses of the models before were guns in
cluttered bags and bladed stars taken for guns: too few real guns were ever seen in real
clutter.  Two kinds of view, half and half:

- `real_view`, one crop alone: exposure changed (gamma, contrast, offset), detector noise
  or blur added, a random window of a crop without a threat (any part of clutter is
  clutter), placed at a random scale (30-100 % of the input side) and place on an empty
  belt, or multiplied into a clean synthetic greyscale bag;
- `composite_view`, a bag put together from several crops.  X-ray images compose by
  multiplication -- transmissions multiply along the beam -- so a crop divided by its air
  level is a transmission map that can be laid over any other: the "threat image
  projection" screening systems use to test their officers.  A base (a real clutter crop,
  a clean synthetic greyscale bag, a real bag crop holding a threat, or the empty belt)
  gets 1-3 further crops laid over it: isolated objects (a handgun, a shuriken or a razor
  blade photographed alone, `isolated`) turned by any angle, and rectangles of real bags
  (with or without a threat), so that a rectangle's edge tells nothing.  Labels are the
  union of the parts'; where an isolated object lies is known, so its cells are a target
  for the heat map too (the cells of a threat whose place is not known are left out of
  that loss, `weights`).

Evaluation never augments: a held-out crop is letterboxed exactly as a scan is at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from oracles.xray.preprocess import GRID, INPUT_SIZE, STRIDE

AIR_FLOOR = 0.03  # attenuation under this, in an isolated crop's air, is detector noise
ISOLATED_BORDER = 0.95  # share of a crop's border at air level for it to count as isolated


def _exposure(g: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = np.power(g.astype(np.float32) / 255, rng.uniform(0.7, 1.4)) * 255
    x = x * rng.uniform(0.85, 1.1) + rng.uniform(-15, 12)
    if rng.random() < 0.5:
        x += rng.normal(0, rng.uniform(0.5, 4.0), x.shape)
    return np.clip(x, 0, 255)


def _resized(g: np.ndarray, longer: int, rng: np.random.Generator) -> Image.Image:
    img = Image.fromarray(g.astype(np.uint8), "L")
    w, h = img.size
    s = longer / max(w, h)
    img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BILINEAR)
    if rng.random() < 0.25:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    return img


def real_view(
    grey: np.ndarray,
    has_threat: bool,
    rng: np.random.Generator,
    bags: np.ndarray | None = None,
    size: int = INPUT_SIZE,
) -> np.ndarray:
    """One augmented (size, size, 3) uint8 training input from a (H, W) uint8 grey crop.

    `bags`: (K, size, size) uint8 clean synthetic greyscale scans to project the crop into
    (skipped when None or empty).
    """
    g = grey
    if not has_threat and rng.random() < 0.5:
        h, w = g.shape
        ch, cw = int(h * rng.uniform(0.55, 1.0)), int(w * rng.uniform(0.55, 1.0))
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        g = g[y0 : y0 + ch, x0 : x0 + cw]
    g = _exposure(g, rng)
    if bags is not None and len(bags) and rng.random() < 0.35:
        obj = _resized(g, round(size * rng.uniform(0.35, 0.8)), rng)
        air = max(float(np.percentile(np.asarray(obj), 99)), 1.0)
        t = np.clip(np.asarray(obj, np.float32) / air, 0, 1)
        out = bags[int(rng.integers(0, len(bags)))].astype(np.float32)
        oh, ow = t.shape
        y0, x0 = int(rng.integers(0, size - oh + 1)), int(rng.integers(0, size - ow + 1))
        out[y0 : y0 + oh, x0 : x0 + ow] *= t
    else:
        obj = _resized(g, round(size * rng.uniform(0.3, 1.0)), rng)
        out = np.full((size, size), 255, np.float32)
        ow, oh = obj.size
        y0, x0 = int(rng.integers(0, size - oh + 1)), int(rng.integers(0, size - ow + 1))
        out[y0 : y0 + oh, x0 : x0 + ow] = np.asarray(obj, np.float32)
    o8 = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(o8[..., None], 3, axis=2)


# --- composites -------------------------------------------------------------------------------


def is_isolated(grey: np.ndarray) -> bool:
    """True when the crop is one object photographed alone: its border is (nearly) all air."""
    g = grey.astype(np.float32)
    air = max(float(np.percentile(g, 99)), 1.0)
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    return bool((border >= 0.85 * air).mean() >= ISOLATED_BORDER)


def transmission(grey: np.ndarray, isolated: bool) -> np.ndarray:
    """A crop as a transmission map in 0..1 (1 = air): divided by its air level; for an
    isolated object the faint noise of its air is set to exactly 1, so no rectangle shows."""
    g = grey.astype(np.float32)
    air = max(float(np.percentile(g, 99)), 1.0)
    t = np.clip(g / air, 0, 1)
    if isolated:
        t = 1 - np.clip((1 - t - AIR_FLOOR) / (1 - AIR_FLOOR), 0, 1)
    return t


@dataclass
class RealPool:
    """Real training crops sorted for sampling: per object kind (class-balanced draws), and
    which crops are isolated objects (`is_isolated`) or clutter without a threat."""

    images: list[np.ndarray]  # (H, W) uint8 grey
    labels: list[np.ndarray]  # (C,) float32
    kinds: list[str]  # the source's object name (handgun, shuriken, ..., background)
    isolated: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.isolated:
            self.isolated = [is_isolated(g) for g in self.images]
        self.by_kind: dict[str, list[int]] = {}
        for i, k in enumerate(self.kinds):
            self.by_kind.setdefault(k or "unknown", []).append(i)
        self.clean = [i for i, y in enumerate(self.labels) if not y.any()]
        self.threat_isolated = [
            i for i, y in enumerate(self.labels) if y.any() and self.isolated[i]
        ]
        self.threat_bag = [i for i, y in enumerate(self.labels) if y.any() and not self.isolated[i]]

    def __len__(self) -> int:
        return len(self.images)

    def draw(self, rng: np.random.Generator) -> int:
        """An index, each object kind equally likely (then any crop of that kind)."""
        kinds = sorted(self.by_kind)
        group = self.by_kind[kinds[int(rng.integers(0, len(kinds)))]]
        return group[int(rng.integers(0, len(group)))]


def _placed(
    t: np.ndarray, longer: int, angle: float, flip: bool, rng: np.random.Generator
) -> np.ndarray:
    """Transmission map `t` turned by `angle` degrees (air filled in), mirrored, resized so
    its longer side is `longer` px."""
    img = Image.fromarray(t.astype(np.float32), "F")
    if flip:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if angle:
        img = img.rotate(angle, Image.Resampling.BILINEAR, expand=True, fillcolor=1.0)
    w, h = img.size
    s = longer / max(w, h)
    img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BILINEAR)
    out = np.asarray(img, np.float32)
    if rng.random() < 0.25:
        out = ndimage.gaussian_filter(out, rng.uniform(0.3, 1.0), mode="nearest")
    return np.clip(out, 0, 1)


def _cells(footprint: np.ndarray) -> np.ndarray:
    """(S, S) share of each pixel covered -> (GRID, GRID) cell targets, as for synthetic
    scans (coverage x 4, clipped: a cell a quarter covered is a full target)."""
    cover = footprint.reshape(GRID, STRIDE, GRID, STRIDE).mean((1, 3))
    return np.clip(cover * 4, 0, 1)


def composite_view(
    pool: RealPool,
    rng: np.random.Generator,
    bags: np.ndarray | None = None,
    size: int = INPUT_SIZE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One bag put together from real crops (see the module docstring).

    Returns (input (S, S, 3) uint8, labels (C,), cell targets (C, G, G), cell weights
    (C, G, G): 0 for a class present somewhere its place is not known).
    """
    n_cls = len(pool.labels[0])
    total = np.ones((size, size), np.float32)
    labels = np.zeros(n_cls, np.float32)
    cells = np.zeros((n_cls, GRID, GRID), np.float32)
    unknown = np.zeros(n_cls, bool)

    def lay(t: np.ndarray) -> tuple[int, int]:
        oh, ow = t.shape
        if oh > size or ow > size:
            t = t[:size, :size]
            oh, ow = t.shape
        y0, x0 = int(rng.integers(0, size - oh + 1)), int(rng.integers(0, size - ow + 1))
        total[y0 : y0 + oh, x0 : x0 + ow] *= t
        return y0, x0

    # the base
    r = rng.random()
    if r < 0.35 and pool.clean:
        i = pool.clean[int(rng.integers(0, len(pool.clean)))]
        t = transmission(pool.images[i], False)
        t = _placed(t, round(size * rng.uniform(0.7, 1.15)), 0, rng.random() < 0.5, rng)
        lay(np.rot90(t, int(rng.integers(0, 4))))
    elif r < 0.65 and bags is not None and len(bags):
        total *= bags[int(rng.integers(0, len(bags)))].astype(np.float32) / 255
    elif r < 0.8 and pool.threat_bag:
        i = pool.threat_bag[int(rng.integers(0, len(pool.threat_bag)))]
        t = transmission(pool.images[i], False)
        t = _placed(t, round(size * rng.uniform(0.6, 1.0)), 0, rng.random() < 0.5, rng)
        lay(np.rot90(t, int(rng.integers(0, 4))))
        labels = np.maximum(labels, pool.labels[i])
        unknown |= pool.labels[i] > 0
    # laid over it: isolated objects (place known) and rectangles of real bags
    for _ in range(int(rng.integers(1, 4))):
        r = rng.random()
        if r < 0.6 and pool.threat_isolated:
            i = pool.threat_isolated[int(rng.integers(0, len(pool.threat_isolated)))]
            t = transmission(pool.images[i], True)
            t = _placed(
                t,
                round(size * rng.uniform(0.25, 0.7)),
                float(rng.uniform(0, 360)),
                rng.random() < 0.5,
                rng,
            )
            t = np.power(t, rng.uniform(0.6, 1.5))  # thinner or thicker
            y0, x0 = lay(t)
            foot = np.zeros((size, size), np.float32)
            oh, ow = min(t.shape[0], size), min(t.shape[1], size)
            foot[y0 : y0 + oh, x0 : x0 + ow] = (t[:oh, :ow] < 0.9).astype(np.float32)
            for c in np.flatnonzero(pool.labels[i]):
                cells[c] = np.maximum(cells[c], _cells(foot))
            labels = np.maximum(labels, pool.labels[i])
        else:
            src = pool.threat_bag if (r < 0.75 and pool.threat_bag) else pool.clean
            if not src:
                continue
            i = src[int(rng.integers(0, len(src)))]
            t = transmission(pool.images[i], False)
            t = _placed(t, round(size * rng.uniform(0.3, 0.75)), 0, rng.random() < 0.5, rng)
            lay(np.rot90(t, int(rng.integers(0, 4))))
            labels = np.maximum(labels, pool.labels[i])
            unknown |= pool.labels[i] > 0
    # detector and display: air level, exposure, noise, blur
    out = total * rng.uniform(200, 255)
    out = _exposure(out, rng)
    img = Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "L")
    if rng.random() < 0.2:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
    o8 = np.asarray(img, np.uint8)
    weights = np.ones((n_cls, GRID, GRID), np.float32)
    weights[unknown] = 0
    return np.repeat(o8[..., None], 3, axis=2), labels, cells, weights
