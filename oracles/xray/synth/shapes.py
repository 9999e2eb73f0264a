"""The parts scene objects are made of: materials, primitives, objects and outline helpers.

An object (`Obj`) is a list of primitives (`Prim`): a polygon with optional holes or a thick
polyline, each of one material (`ORGANIC`, `MIXED`, `METAL`), with a thickness, a profile
and a texture.  The helpers draw outlines in an object's own coordinates (pixels at the
512-px scale of a bag about 60 cm across).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

ORGANIC, MIXED, METAL = 0, 1, 2


@dataclass
class Prim:
    """One piece of an object: a polygon (with holes) or a thick polyline."""

    points: np.ndarray  # (n, 2) local coordinates, pixels at 512-px scale
    material: int
    thickness: float
    profile: str = "flat"  # flat | round (rounded edge of radius `edge`) | dome
    edge: float = 3.0
    texture: tuple[str, float, float] | None = None  # (noise|grain|stripes, amplitude, scale)
    width: float = 0.0  # > 0: a polyline of this width instead of a polygon
    holes: list[np.ndarray] = field(default_factory=list)


@dataclass
class Obj:
    name: str
    prims: list[Prim]
    label: str | None = None  # a threat class, or None for benign clutter


def poly(*pts: tuple[float, float]) -> np.ndarray:
    return np.array(pts, dtype=np.float32)


def rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return poly((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 28) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1).astype(np.float32)


def blob(
    rng: np.random.Generator,
    cx: float,
    cy: float,
    rx: float,
    ry: float,
    irregular: float = 0.2,
    n: int = 18,
) -> np.ndarray:
    """A lumpy closed outline: an ellipse with smoothed random radius."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = 1 + irregular * rng.standard_normal(n)
    r = np.clip((r + np.roll(r, 1) + np.roll(r, -1)) / 3, 0.5, 1.6)
    return np.stack([cx + rx * r * np.cos(t), cy + ry * r * np.sin(t)], 1).astype(np.float32)


def rounded_rect(x0: float, y0: float, x1: float, y1: float, r: float, k: int = 4) -> np.ndarray:
    r = min(r, (x1 - x0) / 2, (y1 - y0) / 2)
    pts = []
    for cx, cy, a0 in (
        (x1 - r, y0 + r, -90),
        (x1 - r, y1 - r, 0),
        (x0 + r, y1 - r, 90),
        (x0 + r, y0 + r, 180),
    ):
        for a in np.linspace(a0, a0 + 90, k + 1):
            pts.append((cx + r * math.cos(math.radians(a)), cy + r * math.sin(math.radians(a))))
    return np.array(pts, dtype=np.float32)


def curve(
    rng: np.random.Generator, x0: float, y0: float, length: float, n: int = 8, wiggle: float = 0.5
) -> np.ndarray:
    """A smooth random path (cables, belts)."""
    angle = rng.uniform(0, 2 * np.pi)
    pts = [(x0, y0)]
    step = length / n
    for _ in range(n):
        angle += rng.normal(0, wiggle)
        x, y = pts[-1]
        pts.append((x + step * math.cos(angle), y + step * math.sin(angle)))
    return np.array(pts, dtype=np.float32)


def rot(a: float) -> np.ndarray:
    return np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]], dtype=np.float32)
