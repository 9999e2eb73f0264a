"""Training views of real greyscale crops: scale, placement, exposure and bags around them.

Why: the real material is crops, and crops differ by class in ways that are not the
object -- handgun crops are 500-1300 px, razor blades 407 px, background mostly 768 x 572,
each class with its own framing and brightness.  A network shown the crops as they are can
learn "square and light means blade".  Every training view therefore:

- changes exposure (gamma, contrast, offset) and adds detector noise or blur;
- takes a random window of a crop without a threat (any part of clutter is clutter);
- puts the crop at a random scale (45-100 % of the input side) and place on an empty belt,
  so the frame, the padding and the object's size stop telling the class; or
- multiplies it into a clean synthetic greyscale bag at 35-80 % scale.  X-ray images
  compose by multiplication (transmissions multiply along the beam), so this is the
  "threat image projection" screening systems use to test their officers: a real object,
  overlapped by clutter it was never photographed with.

Evaluation never augments: a held-out crop is letterboxed exactly as a scan is at run time.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from oracles.xray.preprocess import INPUT_SIZE


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
    img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BILINEAR)
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
        obj = _resized(g, round(size * rng.uniform(0.45, 1.0)), rng)
        out = np.full((size, size), 255, np.float32)
        ow, oh = obj.size
        y0, x0 = int(rng.integers(0, size - oh + 1)), int(rng.integers(0, size - ow + 1))
        out[y0 : y0 + oh, x0 : x0 + ow] = np.asarray(obj, np.float32)
    o8 = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(o8[..., None], 3, axis=2)
