"""Physics and display: thickness maps to dual-energy transmissions, and those to pictures.

Beer-Lambert per energy (`MU`), the detector's blur, noise, gain stripes and dead lines
(`detect`); the dual-energy pseudo-colour display (`colourise`) and a single-energy grey
one (`greyscale`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# (mu_low, mu_high) per thickness unit (about a centimetre of material at its density).
MU = np.array([[0.22, 0.162], [0.62, 0.325], [2.6, 1.04]], dtype=np.float32)
# Display colours (RGB in 0..1) at the three material ratios.
_ORANGE = np.array([1.0, 0.60, 0.12], dtype=np.float32)
_GREEN = np.array([0.25, 0.78, 0.22], dtype=np.float32)
_BLUE = np.array([0.12, 0.36, 0.98], dtype=np.float32)


def detect(rng: np.random.Generator, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thickness maps -> (low, high) transmissions with blur, noise and detector lines."""
    mu = MU * rng.uniform(0.9, 1.1, MU.shape).astype(np.float32)
    a_low = np.tensordot(mu[:, 0], t, axes=1)
    a_high = np.tensordot(mu[:, 1], t, axes=1)
    sigma = rng.uniform(0.5, 1.2)
    a_low = ndimage.gaussian_filter(a_low, sigma)
    a_high = ndimage.gaussian_filter(a_high, sigma)
    h, w = a_high.shape
    noise = rng.uniform(0.005, 0.025)
    # photon noise grows where little gets through
    a_low += rng.standard_normal((h, w)).astype(np.float32) * noise * np.exp(a_low / 4)
    a_high += rng.standard_normal((h, w)).astype(np.float32) * noise * np.exp(a_high / 4)
    cols = 1 + rng.normal(0, 0.01, (1, w)).astype(np.float32)
    a_low *= cols
    a_high *= cols
    if rng.random() < 0.15:
        y = rng.integers(0, h)
        a_low[y] = a_high[y] = 0
    return np.exp(-np.maximum(a_low, 0)), np.exp(-np.maximum(a_high, 0))


def colourise(low: np.ndarray, high: np.ndarray, hue_shift: float = 0.0) -> np.ndarray:
    """The scanner display: (low, high) transmissions -> RGB uint8 (orange / green / blue).

    Hue follows the ratio of log attenuations (the material), saturation and darkness the
    high-energy attenuation (the amount of material); white is empty, black impenetrable.
    """
    al = -np.log(np.clip(low, 1e-4, 1))
    ah = -np.log(np.clip(high, 1e-4, 1))
    ratio = al / np.maximum(ah, 1e-3)
    z = np.clip((ratio - 1.35 + hue_shift) / (2.5 - 1.35), 0, 1)[..., None]
    lo_mix = np.clip(z * 2, 0, 1)
    hi_mix = np.clip(z * 2 - 1, 0, 1)
    base = np.where(
        z < 0.5, _ORANGE * (1 - lo_mix) + _GREEN * lo_mix, _GREEN * (1 - hi_mix) + _BLUE * hi_mix
    )
    amount = np.clip(ah * 2.5, 0, 1)[..., None]
    light = (0.08 + 0.92 * np.power(high, 0.75))[..., None]
    rgb = (1 - amount + amount * base) * light
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def greyscale(low: np.ndarray, high: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A single-energy display of the same scene: (low, high) -> RGB uint8 with R = G = B.

    One detector sees the whole spectrum, so its transmission lies between the two energies
    (a random mix); the display maps it with a random gamma and an air level below white,
    as the greyscale exports of real scanners do (air about 200-250 of 255).
    """
    w = rng.uniform(0.2, 0.8)
    t = np.exp(w * np.log(np.clip(low, 1e-4, 1)) + (1 - w) * np.log(np.clip(high, 1e-4, 1)))
    air, floor = rng.uniform(0.78, 0.98), rng.uniform(0.0, 0.12)
    grey = floor + (air - floor) * np.power(t, rng.uniform(0.6, 1.3))
    grey = grey + rng.normal(0, rng.uniform(0.002, 0.012), grey.shape)
    g8 = (np.clip(grey, 0, 1) * 255 + 0.5).astype(np.uint8)
    return np.repeat(g8[..., None], 3, axis=2)
