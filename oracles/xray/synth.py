"""Synthetic dual-energy X-ray scans of bags and parcels, seeded and labelled.

No public X-ray data set can be downloaded here, so training, tests and the benchmark use
scans rendered from first principles:

1. **Objects** are lists of primitives (polygons with optional holes, thick polylines) in the
   object's own coordinates, each of one material -- 0 organic (Z about 6-8: food, paper,
   plastics, drugs, textiles), 1 mixed / inorganic (Z about 10-17: glass, aluminium, bone,
   salts) or 2 metal (Z 26+: steel, copper, brass) -- with a thickness, a profile (flat
   plate, rounded edge, dome) and a texture (marbling, grain, folds).
2. **Pose**: every object is scaled, foreshortened along one axis (an object lying at a slant
   is seen shorter: a cheap stand-in for 3-D pose), mirrored, rotated and placed in the bag;
   objects overlap freely, so threats are partly hidden under clutter.
3. **Physics**: per pixel the mass thickness of each material is summed along the beam and
   turned into the two detector signals with Beer-Lambert,
   ``I_low = exp(-sum mu_low[m] t_m)``, ``I_high = exp(-sum mu_high[m] t_m)``; the low-energy
   beam is absorbed more strongly the higher the atomic number, so the ratio
   ``ln I_low / ln I_high`` tells materials apart (about 1.35 organic, 1.9 mixed, 2.5 metal)
   and a stack of materials lands in between.  Per-scan jitter of the coefficients stands
   for different machines and calibrations.
4. **Detector**: blur (point-spread), quantum noise on the log signal, column gain stripes
   and occasional dead lines.
5. **Display**: the usual pseudo-colouring -- hue from the ratio (orange organic, green
   mixed, blue metal), saturation and darkness from the high-energy attenuation, white
   where nothing absorbs, near black where nothing gets through.  Or, with
   `display="grey"`, what a single-energy scanner shows: one broad-spectrum transmission in
   grey, air light grey rather than white, no material colour (`greyscale`).

Labels: the threat classes present and one box per threat object (pixel box of its
primitives, clipped to the image).  Threat classes are `CLASSES`: meat (organic with bone),
drugs (dense uniform wrapped bricks, slabs or pellets), firearms (pistols, revolvers, with
metal or polymer frames) and knives (fixed, folding, daggers).  Benign clutter includes
look-alikes on purpose: cheese, chocolate, rice bags and books (uniform organic), shoes with
metal shanks (organic with something dense inside), tools, keys, umbrellas, cutlery,
scissors, laptops and trolley rods (metal shapes).

`scan(seed, index)` is a pure function of its arguments (NumPy's PCG64 stream and
PIL rasterisation), so a data set is reproducible from `(seed, n)` and can be rendered in
parallel.  What the generator does not capture is listed in the model card
(`oracles/xray/model/MODEL_CARD.md`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

CLASSES: tuple[str, ...] = ("meat", "drugs", "firearm", "knife")
ORGANIC, MIXED, METAL = 0, 1, 2

# (mu_low, mu_high) per thickness unit (about a centimetre of material at its density).
MU = np.array([[0.22, 0.162], [0.62, 0.325], [2.6, 1.04]], dtype=np.float32)
# Display colours (RGB in 0..1) at the three material ratios.
_ORANGE = np.array([1.0, 0.60, 0.12], dtype=np.float32)
_GREEN = np.array([0.25, 0.78, 0.22], dtype=np.float32)
_BLUE = np.array([0.12, 0.36, 0.98], dtype=np.float32)

DEFAULT_SIZE = 512
THREAT_PROBABILITY = 0.22  # per class and scan; P(no threat) = 0.78**4, about 0.37


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


# --- geometry helpers --------------------------------------------------------------------


def _poly(*pts: tuple[float, float]) -> np.ndarray:
    return np.array(pts, dtype=np.float32)


def _rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return _poly((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 28) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1).astype(np.float32)


def _blob(
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


def _rounded_rect(x0: float, y0: float, x1: float, y1: float, r: float, k: int = 4) -> np.ndarray:
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


def _curve(
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


# --- the object library -------------------------------------------------------------------
# Each maker returns an Obj in local coordinates (pixels at the 512-px scale of a bag about
# 60 cm across, so 1 px is about 1.2 mm).


def _meat(rng: np.random.Generator) -> Obj:
    rx, ry = rng.uniform(38, 75), rng.uniform(28, 55)
    prims = []
    pieces = 1 if rng.random() < 0.7 else int(rng.integers(2, 4))
    for i in range(pieces):
        ox, oy = (i * rx * 0.9, rng.normal(0, ry * 0.3)) if i else (0.0, 0.0)
        prims.append(
            Prim(
                _blob(rng, ox, oy, rx, ry, 0.18),
                ORGANIC,
                rng.uniform(3.0, 6.5),
                "dome",
                texture=("noise", rng.uniform(0.15, 0.35), rng.uniform(4, 9)),
            )
        )
    bone = rng.choice(["long", "tbone", "ribs", "chop"])
    bt = rng.uniform(1.4, 3.2)
    if bone == "long":
        L = rng.uniform(0.9, 1.6) * rx
        y = rng.normal(0, ry * 0.2)
        w = rng.uniform(8, 15)
        prims.append(
            Prim(
                _poly((-L / 2, y), (L / 2, y + rng.normal(0, 5))),
                MIXED,
                bt,
                "round",
                edge=w / 2,
                width=w,
            )
        )
        for ex in (-L / 2, L / 2):
            prims.append(Prim(_ellipse(ex, y, w * 0.9, w * 1.2, 14), MIXED, bt * 1.2, "dome"))
    elif bone == "tbone":
        L = rng.uniform(0.8, 1.3) * rx
        w = rng.uniform(6, 10)
        prims.append(Prim(_poly((-L / 2, 0), (L / 2, 0)), MIXED, bt, "round", edge=w / 2, width=w))
        prims.append(
            Prim(
                _poly((0, 0), (0, ry * rng.uniform(0.6, 1.0))),
                MIXED,
                bt,
                "round",
                edge=w / 2,
                width=w * 0.8,
            )
        )
    elif bone == "ribs":
        k = int(rng.integers(3, 6))
        w = rng.uniform(5, 9)
        for j in range(k):
            x = (j - (k - 1) / 2) * rx * 0.35
            prims.append(
                Prim(
                    _poly(
                        (x, -ry * 0.7), (x + rng.normal(0, 6), 0), (x + rng.normal(0, 6), ry * 0.7)
                    ),
                    MIXED,
                    bt * 0.8,
                    "round",
                    edge=w / 2,
                    width=w,
                )
            )
    else:
        prims.append(
            Prim(
                _blob(rng, rng.normal(0, rx * 0.2), 0, rx * 0.25, ry * 0.25, 0.3, 10),
                MIXED,
                bt,
                "round",
                edge=3,
            )
        )
        prims.append(
            Prim(
                _poly((0, 0), (rx * 0.6, rng.normal(0, 8))),
                MIXED,
                bt * 0.8,
                "round",
                edge=3,
                width=rng.uniform(5, 8),
            )
        )
    if rng.random() < 0.5:  # vacuum pack or tray
        prims.append(
            Prim(
                _rounded_rect(-rx * 1.2, -ry * 1.25, rx * (1.2 + 0.9 * (pieces - 1)), ry * 1.25, 8),
                ORGANIC,
                rng.uniform(0.2, 0.6),
            )
        )
    return Obj("meat", prims, "meat")


def _drugs(rng: np.random.Generator) -> Obj:
    kind = rng.choice(["bricks", "bricks", "slab", "pellets"])
    prims = []
    if kind == "bricks":
        w, h = rng.uniform(80, 150), rng.uniform(50, 95)
        n = int(rng.integers(1, 5))
        cols = 1 if n == 1 else 2
        for i in range(n):
            x = (i % cols) * w * rng.uniform(0.95, 1.05)
            y = (i // cols) * h * rng.uniform(0.95, 1.05)
            prims.append(
                Prim(
                    _rounded_rect(x, y, x + w, y + h, rng.uniform(4, 12)),
                    ORGANIC,
                    rng.uniform(4.5, 9.0),
                    "round",
                    edge=rng.uniform(6, 14),
                    texture=("noise", rng.uniform(0.01, 0.04), 12),
                )
            )
            for _ in range(int(rng.integers(1, 4))):  # tape wraps
                ty = y + rng.uniform(0.15, 0.85) * h
                prims.append(Prim(_rect(x, ty - 3, x + w, ty + 3), ORGANIC, rng.uniform(0.2, 0.5)))
    elif kind == "slab":
        w, h = rng.uniform(150, 240), rng.uniform(100, 170)
        prims.append(
            Prim(
                _rounded_rect(0, 0, w, h, 6),
                ORGANIC,
                rng.uniform(3.0, 5.0),
                "round",
                edge=rng.uniform(10, 20),
                texture=("noise", 0.02, 14),
            )
        )
    else:
        n = int(rng.integers(12, 35))
        cx = cy = 0.0
        for _ in range(n):
            cx, cy = cx + rng.normal(0, 14), cy + rng.normal(0, 14)
            cx, cy = float(np.clip(cx, -60, 60)), float(np.clip(cy, -50, 50))
            prims.append(
                Prim(
                    _ellipse(cx, cy, rng.uniform(9, 13), rng.uniform(5, 7), 14)
                    @ _rot(rng.uniform(0, np.pi)),
                    ORGANIC,
                    rng.uniform(2.5, 4.0),
                    "dome",
                )
            )
    return Obj("drugs", prims, "drugs")


def _rot(a: float) -> np.ndarray:
    return np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]], dtype=np.float32)


def _firearm(rng: np.random.Generator) -> Obj:
    L = rng.uniform(120, 200)
    prims = []
    if rng.random() < 0.7:  # semi-automatic pistol
        sh = L * rng.uniform(0.15, 0.2)
        polymer = rng.random() < 0.45
        prims.append(Prim(_rect(0, 0, L, sh), METAL, rng.uniform(0.9, 1.6), "round", edge=2))
        prims.append(Prim(_rect(0, sh * 0.3, L * 0.9, sh * 0.7), METAL, rng.uniform(0.4, 0.8)))
        g0, g1 = L * rng.uniform(0.62, 0.7), L * rng.uniform(0.9, 0.98)
        drop, rake = L * rng.uniform(0.45, 0.6), L * rng.uniform(0.05, 0.14)
        grip = _poly((g0, sh), (g1, sh), (g1 + rake, sh + drop), (g0 + rake, sh + drop * 1.03))
        if polymer:
            prims.append(Prim(grip, ORGANIC, rng.uniform(2.0, 3.5), "round", edge=4))
            prims.append(Prim(_rect(0.05 * L, sh, g0, sh * 1.35), ORGANIC, 2.0, "round", edge=3))
        else:
            prims.append(Prim(grip, METAL, rng.uniform(0.5, 1.0), "round", edge=4))
        m = (g0 + g1) / 2
        prims.append(
            Prim(
                _poly(
                    (m - L * 0.05, sh),
                    (m + L * 0.05, sh),
                    (m + L * 0.05 + rake, sh + drop * 0.95),
                    (m - L * 0.05 + rake, sh + drop * 0.95),
                ),
                METAL,
                rng.uniform(0.3, 0.6),
            )
        )
        tg = _ellipse(g0 - L * 0.1, sh + L * 0.1, L * 0.11, L * 0.09, 20)
        prims.append(
            Prim(
                np.vstack([tg, tg[:1]]),
                METAL if not polymer else ORGANIC,
                0.5 if not polymer else 2.0,
                width=max(3.0, L * 0.025),
            )
        )
        prims.append(
            Prim(
                _poly((g0 - L * 0.09, sh + 2), (g0 - L * 0.07, sh + L * 0.12)), METAL, 0.4, width=3
            )
        )
        name = "pistol"
    else:  # revolver
        bl = L * rng.uniform(0.3, 0.5)
        h = L * 0.09
        prims.append(Prim(_rect(0, 0, bl, h), METAL, rng.uniform(0.7, 1.2), "round", edge=2))
        cyl = _rounded_rect(bl, -h * 0.6, bl + L * 0.22, h * 1.6, 6)
        holes = [
            _ellipse(bl + L * 0.11, y, L * 0.025, L * 0.025, 10)
            for y in (-h * 0.1, h * 0.5, h * 1.1)
        ]
        prims.append(Prim(cyl, METAL, rng.uniform(1.2, 2.0), "round", edge=3, holes=holes))
        prims.append(
            Prim(_rect(bl + L * 0.2, -h * 0.5, bl + L * 0.4, h * 1.4), METAL, rng.uniform(0.7, 1.1))
        )
        gx = bl + L * 0.38
        grip = _poly(
            (gx - L * 0.05, h),
            (gx + L * 0.1, h * 0.8),
            (gx + L * 0.22, h + L * 0.4),
            (gx + L * 0.07, h + L * 0.45),
        )
        prims.append(
            Prim(
                grip,
                ORGANIC if rng.random() < 0.6 else METAL,
                rng.uniform(2.0, 3.0),
                "round",
                edge=4,
            )
        )
        prims.append(Prim(_poly((gx, h * 1.2), (gx + L * 0.03, h + L * 0.35)), METAL, 0.6, width=5))
        tg = _ellipse(bl + L * 0.25, h * 2.2, L * 0.08, L * 0.07, 18)
        prims.append(Prim(np.vstack([tg, tg[:1]]), METAL, 0.5, width=3))
        name = "revolver"
    return Obj(name, prims, "firearm")


def _knife(rng: np.random.Generator) -> Obj:
    L = rng.uniform(140, 300)
    style = rng.choice(["kitchen", "kitchen", "dagger", "folding"])
    bl = L * rng.uniform(0.5, 0.65)
    bw = L * rng.uniform(0.07, 0.15)
    steel = rng.uniform(0.15, 0.45)
    prims = []
    if style == "dagger":
        blade = _poly((0, 0), (bl * 0.2, -bw / 2), (bl, -bw / 2), (bl, bw / 2), (bl * 0.2, bw / 2))
        prims.append(Prim(_rect(bl, -bw, bl + 6, bw), METAL, 0.8))
    elif style == "folding":
        L, bl = L * 0.6, L * 0.6 * 0.9
        blade = _poly((0, -bw * 0.3), (bl, -bw / 2), (bl, bw / 2), (bl * 0.15, bw / 2))
    else:
        curve = rng.uniform(0.2, 0.6)
        blade = _poly((0, -bw / 2), (bl * curve, bw / 2), (bl, bw / 2), (bl, -bw / 2))
    prims.append(Prim(blade, METAL, steel, "round", edge=1.5))
    hw = bw * rng.uniform(0.75, 1.1)
    handle = _rounded_rect(bl, -hw / 2, L, hw / 2, hw * 0.4)
    if style == "folding":
        handle = _rounded_rect(0, -hw * 0.6, L, hw * 0.6, hw * 0.4)
    if rng.random() < 0.7:
        prims.append(Prim(handle, ORGANIC, rng.uniform(1.2, 2.5), "round", edge=3))
        prims.append(Prim(_rect(bl, -hw * 0.15, L - 4, hw * 0.15), METAL, steel * 0.8))
        for x in np.linspace(bl + 8, L - 8, int(rng.integers(0, 4))):
            prims.append(Prim(_ellipse(x, 0, 2.5, 2.5, 8), METAL, 0.6))
    else:
        prims.append(Prim(handle, METAL, rng.uniform(0.3, 0.7), "round", edge=2))
    return Obj(f"knife-{style}", prims, "knife")


def _clothes(rng: np.random.Generator) -> Obj:
    rx, ry = rng.uniform(60, 150), rng.uniform(40, 110)
    prims = [
        Prim(
            _blob(rng, 0, 0, rx, ry, 0.25, 16),
            ORGANIC,
            rng.uniform(0.4, 1.8),
            "round",
            edge=10,
            texture=("noise", rng.uniform(0.3, 0.6), rng.uniform(6, 20)),
        )
    ]
    if rng.random() < 0.35:  # zip or buttons
        if rng.random() < 0.5:
            prims.append(
                Prim(_poly((-rx * 0.6, 0), (rx * 0.6, rng.normal(0, 10))), METAL, 0.12, width=3)
            )
        else:
            for y in np.linspace(-ry * 0.6, ry * 0.6, int(rng.integers(3, 7))):
                prims.append(Prim(_ellipse(0, y, 4, 4, 8), MIXED, 0.5))
    return Obj("clothes", prims)


def _shoe(rng: np.random.Generator) -> Obj:
    L, w = rng.uniform(170, 240), rng.uniform(60, 85)
    outline = _poly(
        (0, w * 0.3),
        (L * 0.15, 0),
        (L * 0.85, w * 0.05),
        (L, w * 0.35),
        (L, w * 0.75),
        (L * 0.8, w),
        (L * 0.1, w * 0.85),
    )
    prims = [
        Prim(outline, ORGANIC, rng.uniform(1.5, 3.5), "round", edge=10, texture=("noise", 0.2, 10))
    ]
    if rng.random() < 0.6:  # steel shank or eyelets
        prims.append(Prim(_poly((L * 0.55, w * 0.5), (L * 0.85, w * 0.5)), METAL, 0.2, width=6))
    return Obj("shoe", prims)


def _book(rng: np.random.Generator) -> Obj:
    w, h = rng.uniform(100, 180), rng.uniform(80, 135)
    prims = []
    n = 1 if rng.random() < 0.6 else int(rng.integers(2, 4))
    for i in range(n):
        o = i * rng.uniform(5, 25)
        prims.append(
            Prim(
                _rect(o, o, o + w, o + h),
                ORGANIC,
                rng.uniform(1.2, 4.5),
                "round",
                edge=1.5,
                texture=("noise", 0.03, 10),
            )
        )
    if rng.random() < 0.25:  # spiral binding
        for y in np.arange(6, h - 4, 7):
            prims.append(Prim(_ellipse(2, y, 3, 2, 8), METAL, 0.15))
    return Obj("book", prims)


def _cheese(rng: np.random.Generator) -> Obj:
    kind = rng.choice(["wheel", "wedge", "block"])
    r = rng.uniform(35, 75)
    if kind == "wheel":
        outline = _ellipse(0, 0, r, r * rng.uniform(0.85, 1.0), 30)
    elif kind == "wedge":
        outline = _poly((0, 0), (r * 1.8, -r * 0.5), (r * 1.8, r * 0.5))
    else:
        outline = _rounded_rect(0, 0, r * 1.8, r * 1.1, 6)
    holes = []
    if rng.random() < 0.3:
        c = outline.mean(0)
        holes = [
            _ellipse(
                c[0] + rng.normal(0, r * 0.3),
                c[1] + rng.normal(0, r * 0.25),
                rng.uniform(3, 7),
                rng.uniform(3, 7),
                10,
            )
            for _ in range(6)
        ]
    prims = [
        Prim(
            outline,
            ORGANIC,
            rng.uniform(3.0, 6.5),
            "round",
            edge=rng.uniform(5, 15),
            texture=("noise", rng.uniform(0.02, 0.08), 10),
            holes=holes,
        )
    ]
    if rng.random() < 0.4:  # packaging
        prims.append(
            Prim(_rounded_rect(*(outline.min(0) - 5), *(outline.max(0) + 5), 6), ORGANIC, 0.3)
        )
    return Obj("cheese", prims)


def _food(rng: np.random.Generator) -> Obj:
    kind = rng.choice(["bread", "fruit", "chocolate", "rice", "canned", "sausage"])
    if kind == "bread":
        return Obj(
            kind,
            [
                Prim(
                    _blob(rng, 0, 0, rng.uniform(50, 90), rng.uniform(25, 40), 0.1),
                    ORGANIC,
                    rng.uniform(1.5, 3),
                    "dome",
                    texture=("grain", 0.3, 3),
                )
            ],
        )
    if kind == "fruit":
        prims = []
        for _ in range(int(rng.integers(1, 5))):
            r = rng.uniform(18, 35)
            c = rng.normal(0, 30, 2)
            prims.append(
                Prim(
                    _ellipse(c[0], c[1], r, r * rng.uniform(0.85, 1), 20),
                    ORGANIC,
                    rng.uniform(3, 6),
                    "dome",
                    texture=("noise", 0.08, 6),
                )
            )
        return Obj(kind, prims)
    if kind == "chocolate":
        prims = []
        w, h = rng.uniform(60, 110), rng.uniform(30, 55)
        for i in range(int(rng.integers(1, 4))):
            prims.append(
                Prim(
                    _rect(0, i * h * 0.4, w, i * h * 0.4 + h),
                    ORGANIC,
                    rng.uniform(0.8, 2.0),
                    "round",
                    edge=2,
                )
            )
        return Obj(kind, prims)
    if kind == "rice":
        return Obj(
            kind,
            [
                Prim(
                    _blob(rng, 0, 0, rng.uniform(60, 100), rng.uniform(45, 70), 0.12),
                    ORGANIC,
                    rng.uniform(3.0, 6.0),
                    "round",
                    edge=20,
                    texture=("grain", rng.uniform(0.05, 0.15), 2),
                )
            ],
        )
    if kind == "sausage":
        prims = []
        for i in range(int(rng.integers(2, 6))):
            y = i * rng.uniform(14, 20)
            prims.append(
                Prim(
                    _poly((0, y), (rng.uniform(70, 120), y + rng.normal(0, 8))),
                    ORGANIC,
                    rng.uniform(1.5, 2.5),
                    "round",
                    edge=6,
                    width=rng.uniform(12, 18),
                )
            )
        return Obj(kind, prims)
    r, h = rng.uniform(25, 40), rng.uniform(50, 90)
    return Obj(
        kind,
        [
            Prim(_rect(0, 0, h, 2 * r), MIXED, rng.uniform(0.2, 0.4), "flat"),
            Prim(
                _rect(3, 3, h - 3, 2 * r - 3), ORGANIC, rng.uniform(3.0, 5.5), "round", edge=r * 0.8
            ),
        ],
    )


def _bottle(rng: np.random.Generator) -> Obj:
    w, h = rng.uniform(45, 75), rng.uniform(130, 210)
    nw = w * rng.uniform(0.3, 0.45)
    body = _poly(
        (0, 0),
        (w, 0),
        (w, h * 0.65),
        (w / 2 + nw / 2, h * 0.8),
        (w / 2 + nw / 2, h),
        (w / 2 - nw / 2, h),
        (w / 2 - nw / 2, h * 0.8),
        (0, h * 0.65),
    )
    glass = rng.random() < 0.5
    prims = [
        Prim(body, MIXED if glass else ORGANIC, rng.uniform(0.3, 0.7) if glass else 0.3, "flat")
    ]
    level = h * rng.uniform(0.35, 0.75)
    prims.append(
        Prim(_rect(3, 3, w - 3, level), ORGANIC, rng.uniform(2.5, 5.5), "round", edge=w / 3)
    )
    if rng.random() < 0.5:
        prims.append(
            Prim(
                _rect(w / 2 - nw / 2 - 1, h - 10, w / 2 + nw / 2 + 1, h),
                METAL if rng.random() < 0.5 else ORGANIC,
                0.3,
            )
        )
    return Obj("bottle", prims)


def _can(rng: np.random.Generator) -> Obj:
    w, h = rng.uniform(50, 70), rng.uniform(90, 170)
    return Obj(
        "can",
        [
            Prim(_rounded_rect(0, 0, w, h, 5), MIXED, rng.uniform(0.25, 0.5), "round", edge=w / 2),
            Prim(_rect(2, 8, w - 2, h - 8), ORGANIC, rng.uniform(1.0, 3.5), "round", edge=w / 2),
        ],
    )


def _laptop(rng: np.random.Generator) -> Obj:
    w, h = rng.uniform(220, 300), rng.uniform(150, 200)
    prims = [
        Prim(_rounded_rect(0, 0, w, h, 8), MIXED, rng.uniform(0.35, 0.6)),
        Prim(
            _rect(w * 0.1, h * 0.62, w * 0.9, h * 0.92),
            MIXED,
            rng.uniform(0.8, 1.2),
            texture=("stripes", 0.25, 18),
        ),
        Prim(_rect(w * 0.15, h * 0.08, w * 0.6, h * 0.5), METAL, 0.12, texture=("grain", 0.6, 2)),
    ]
    for _ in range(int(rng.integers(4, 10))):
        x, y = rng.uniform(5, w - 5), rng.uniform(5, h - 5)
        prims.append(Prim(_ellipse(x, y, 2.5, 2.5, 8), METAL, 0.5))
    prims.append(Prim(_ellipse(w * 0.78, h * 0.3, 18, 18, 20), METAL, 0.15))
    prims.append(Prim(_rect(w * 0.05, 0, w * 0.95, 6), METAL, 0.4))
    return Obj("laptop", prims)


def _phone(rng: np.random.Generator) -> Obj:
    w, h = rng.uniform(60, 80), rng.uniform(120, 160)
    return Obj(
        "phone",
        [
            Prim(_rounded_rect(0, 0, w, h, 10), MIXED, 0.35),
            Prim(_rect(w * 0.12, h * 0.3, w * 0.88, h * 0.9), MIXED, 0.9),
            Prim(
                _rect(w * 0.2, h * 0.05, w * 0.8, h * 0.25), METAL, 0.2, texture=("grain", 0.5, 2)
            ),
        ],
    )


def _charger(rng: np.random.Generator) -> Obj:
    w, h = rng.uniform(40, 70), rng.uniform(40, 70)
    prims = [
        Prim(_rounded_rect(0, 0, w, h, 8), ORGANIC, 2.0, "round", edge=5),
        Prim(_rect(w * 0.25, h * 0.25, w * 0.75, h * 0.7), METAL, rng.uniform(0.3, 0.7)),
    ]
    cable = _curve(rng, w / 2, h, rng.uniform(120, 300), 10, 0.6)
    prims.append(Prim(cable, ORGANIC, 0.4, width=6))
    prims.append(Prim(cable, METAL, 0.12, width=2))
    return Obj("charger", prims)


def _powerbank(rng: np.random.Generator) -> Obj:
    n = int(rng.integers(2, 5))
    prims = [Prim(_rounded_rect(0, 0, 70, n * 20 + 6, 6), ORGANIC, 1.0)]
    for i in range(n):
        prims.append(Prim(_rect(3, 3 + i * 20, 67, 21 + i * 20), MIXED, 0.9, "round", edge=9))
        prims.append(Prim(_rect(3, 11 + i * 20, 67, 13 + i * 20), METAL, 0.3))
    return Obj("powerbank", prims)


def _keys(rng: np.random.Generator) -> Obj:
    prims = [
        Prim(
            np.vstack([_ellipse(0, 0, 14, 14, 16), _ellipse(0, 0, 14, 14, 16)[:1]]),
            METAL,
            0.2,
            width=2.5,
        )
    ]
    for i in range(int(rng.integers(1, 5))):
        a = rng.uniform(0, 2 * np.pi)
        kx, ky = 14 * math.cos(a), 14 * math.sin(a)
        kl = rng.uniform(40, 60)
        teeth = [
            (kl * t, 5 + rng.uniform(0, 4) * (i % 2)) for i, t in enumerate(np.linspace(0.4, 1, 8))
        ]
        key = np.array(
            [(0, -10), (14, -10), (14, -3), (kl, -3), *teeth[::-1], (14, 5), (14, 10), (0, 10)],
            dtype=np.float32,
        )
        prims.append(
            Prim(
                key @ _rot(-a) + np.array([kx, ky], np.float32),
                MIXED if i % 3 == 2 else METAL,
                0.22,
            )
        )
    return Obj("keys", prims)


def _coins(rng: np.random.Generator) -> Obj:
    prims = []
    for _ in range(int(rng.integers(2, 9))):
        r = rng.uniform(8, 14)
        prims.append(Prim(_ellipse(*rng.normal(0, 14, 2), r, r, 16), METAL, rng.uniform(0.15, 0.3)))
    return Obj("coins", prims)


def _umbrella(rng: np.random.Generator) -> Obj:
    L = rng.uniform(220, 330)
    prims = [Prim(_poly((0, 0), (L, 0)), METAL, 0.35, "round", edge=2, width=5)]
    for s in (-1, 1):
        for k in range(int(rng.integers(2, 5))):
            off = s * (4 + 3 * k)
            prims.append(Prim(_poly((L * 0.15, off), (L * 0.85, off * 0.5)), METAL, 0.12, width=2))
    prims.append(
        Prim(
            _rect(L * 0.1, -14, L * 0.9, 14),
            ORGANIC,
            0.8,
            "round",
            edge=10,
            texture=("noise", 0.4, 8),
        )
    )
    if rng.random() < 0.5:
        hook = _ellipse(L + 18, 0, 18, 16, 16)[:9]
        prims.append(Prim(hook, ORGANIC, 2.0, width=9))
    else:
        prims.append(Prim(_rounded_rect(L - 5, -9, L + 35, 9, 6), ORGANIC, 2.2, "round", edge=5))
    return Obj("umbrella", prims)


def _tool(rng: np.random.Generator) -> Obj:
    kind = rng.choice(["screwdriver", "wrench", "pliers", "scissors", "cutlery", "hairdryer"])
    if kind == "screwdriver":
        L = rng.uniform(130, 220)
        return Obj(
            kind,
            [
                Prim(_rounded_rect(0, -12, L * 0.45, 12, 8), ORGANIC, 2.2, "round", edge=8),
                Prim(
                    _poly((L * 0.4, 0), (L, 0)),
                    METAL,
                    0.6,
                    "round",
                    edge=2,
                    width=rng.uniform(4, 7),
                ),
            ],
        )
    if kind == "wrench":
        L = rng.uniform(120, 220)
        jaw = _ellipse(0, 0, 16, 16, 14)
        return Obj(
            kind,
            [
                Prim(_poly((0, 0), (L, 0)), METAL, 0.6, width=12),
                Prim(jaw, METAL, 0.6, holes=[_rect(-4, -6, 18, 6)]),
                Prim(_ellipse(L, 0, 13, 13, 14), METAL, 0.6, holes=[_ellipse(L, 0, 7, 7, 8)]),
            ],
        )
    if kind == "pliers":
        L = rng.uniform(120, 180)
        prims = []
        for s in (-1, 1):
            prims.append(Prim(_poly((0, 0), (L * 0.35, s * 4), (L, s * 22)), METAL, 0.5, width=8))
            prims.append(Prim(_poly((L * 0.45, s * 9), (L, s * 24)), ORGANIC, 2.0, width=14))
        return Obj(kind, prims)
    if kind == "scissors":
        L = rng.uniform(90, 150)
        prims = []
        for s in (-1, 1):
            prims.append(
                Prim(_poly((0, s * 2), (L * 0.55, -s * 5), (L * 0.55, s * 3)), METAL, 0.25)
            )
            ring = _ellipse(L * 0.75, s * 14, 15, 11, 16)
            prims.append(Prim(np.vstack([ring, ring[:1]]), ORGANIC, 2.0, width=6))
        return Obj(kind, prims)
    if kind == "cutlery":
        prims = []
        for i in range(int(rng.integers(1, 4))):
            y = i * 22
            L = rng.uniform(140, 200)
            prims.append(Prim(_poly((0, y), (L * 0.7, y)), METAL, 0.25, width=7))
            prims.append(Prim(_ellipse(L * 0.82, y, L * 0.13, 11, 16), METAL, 0.2))
        return Obj(kind, prims)
    return Obj(
        kind,
        [
            Prim(_ellipse(0, 0, 40, 35, 22), ORGANIC, 1.5, "round", edge=8),
            Prim(_ellipse(0, 0, 18, 18, 16), METAL, 0.7, "dome"),
            Prim(_rounded_rect(-15, 30, 15, 120, 8), ORGANIC, 2.0, "round", edge=8),
            Prim(_curve(rng, 0, 120, 200, 8, 0.5), ORGANIC, 0.5, width=5),
        ],
    )


def _misc(rng: np.random.Generator) -> Obj:
    kind = rng.choice(["belt", "toiletries", "glasses", "headphones"])
    if kind == "belt":
        path = _curve(rng, 0, 0, rng.uniform(200, 400), 10, 0.5)
        return Obj(
            kind,
            [
                Prim(path, ORGANIC, 1.0, width=22),
                Prim(
                    _rounded_rect(*(path[0] - 18), *(path[0] + 18), 6),
                    METAL,
                    0.35,
                    holes=[_rect(*(path[0] - 10), *(path[0] + 10))],
                ),
            ],
        )
    if kind == "toiletries":
        prims = []
        for _ in range(int(rng.integers(2, 5))):
            x, y = rng.normal(0, 35, 2)
            w, h = rng.uniform(25, 50), rng.uniform(40, 110)
            prims.append(
                Prim(
                    _rounded_rect(x, y, x + w, y + h, 8),
                    ORGANIC,
                    rng.uniform(1.5, 4),
                    "round",
                    edge=w / 3,
                )
            )
            if rng.random() < 0.4:
                prims.append(Prim(_rect(x, y, x + w, y + 10), MIXED, 0.4))
        return Obj(kind, prims)
    if kind == "glasses":
        prims = []
        for cx in (-30, 30):
            ring = _ellipse(cx, 0, 24, 17, 18)
            prims.append(Prim(np.vstack([ring, ring[:1]]), METAL, 0.2, width=3))
            prims.append(Prim(ring, ORGANIC, 0.6))
        prims.append(Prim(_poly((-6, -4), (6, -4)), METAL, 0.2, width=3))
        return Obj(kind, prims)
    arc = _ellipse(0, 0, 70, 70, 24)[13:24]
    return Obj(
        kind,
        [
            Prim(arc, ORGANIC, 1.0, width=10),
            Prim(_ellipse(*arc[0], 24, 24, 18), ORGANIC, 2.0, "round", edge=8),
            Prim(_ellipse(*arc[-1], 24, 24, 18), ORGANIC, 2.0, "round", edge=8),
            Prim(_ellipse(*arc[0], 9, 9, 12), METAL, 0.6),
            Prim(_ellipse(*arc[-1], 9, 9, 12), METAL, 0.6),
        ],
    )


THREATS = {"meat": _meat, "drugs": _drugs, "firearm": _firearm, "knife": _knife}
# (maker, weight): the clutter mix; look-alikes of each threat are deliberately common.
CLUTTER = [
    (_clothes, 5),
    (_shoe, 1.5),
    (_book, 2),
    (_cheese, 1.5),
    (_food, 3),
    (_bottle, 2),
    (_can, 1),
    (_laptop, 1),
    (_phone, 1.5),
    (_charger, 1.5),
    (_powerbank, 1),
    (_keys, 1.5),
    (_coins, 1),
    (_umbrella, 1),
    (_tool, 2),
    (_misc, 2),
]
_CLUTTER_P = np.array([w for _, w in CLUTTER]) / sum(w for _, w in CLUTTER)


# --- rasterising ----------------------------------------------------------------------------


def _texture(
    rng: np.random.Generator,
    spec: tuple[str, float, float],
    shape: tuple[int, int],
    local_u: np.ndarray | None,
) -> np.ndarray:
    kind, amp, scale = spec
    h, w = shape
    if kind == "stripes" and local_u is not None:
        return 1 + amp * np.sin(local_u * (2 * np.pi / scale) + rng.uniform(0, 6.3))
    gh, gw = max(2, int(h / scale) + 2), max(2, int(w / scale) + 2)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    field_ = np.asarray(Image.fromarray(grid, mode="F").resize((w, h), Image.BILINEAR))
    return np.clip(1 + amp * field_, 0.2, 2.0)


def _profile(mask: np.ndarray, prim: Prim, scale: float) -> np.ndarray:
    if prim.profile == "flat":
        return mask.astype(np.float32)
    dist = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1].astype(np.float32)
    r = max(float(dist.max()) if prim.profile == "dome" else prim.edge * scale, 1.0)
    x = np.clip(dist / r, 0, 1)
    return np.sqrt(x * (2 - x))


class _Renderer:
    def __init__(self, rng: np.random.Generator, h: int, w: int) -> None:
        self.rng = rng
        self.h, self.w = h, w
        self.t = np.zeros((3, h, w), dtype=np.float32)

    def draw(
        self,
        obj: Obj,
        cx: float,
        cy: float,
        angle: float,
        scale: float,
        squash: float,
        flip: bool,
        label_mask: np.ndarray | None = None,
    ) -> list[float] | None:
        """Draw `obj` centred on (cx, cy); its pixel box (clipped), None if fully outside.

        `label_mask` (bool, image-sized) gets the object's pixels OR-ed in."""
        allpts = np.vstack([p.points for p in obj.prims])
        centre = (allpts.min(0) + allpts.max(0)) / 2
        m = np.diag([scale * (-1 if flip else 1), scale * squash]).astype(np.float32)
        m = m @ _rot(angle)
        offset = np.array([cx, cy], dtype=np.float32)
        box = [math.inf, math.inf, -math.inf, -math.inf]
        for prim in obj.prims:
            pts = (prim.points - centre) @ m + offset
            pad = prim.width * scale / 2 + 2
            x0, y0 = np.floor(pts.min(0) - pad).astype(int)
            x1, y1 = np.ceil(pts.max(0) + pad).astype(int) + 1
            cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, self.w), min(y1, self.h)
            if cx1 <= cx0 or cy1 <= cy0:
                continue
            img = Image.new("L", (x1 - x0, y1 - y0), 0)
            d = ImageDraw.Draw(img)
            local = [tuple(p) for p in (pts - [x0, y0]).tolist()]
            if prim.width > 0:
                d.line(local, fill=255, width=max(1, round(prim.width * scale)), joint="curve")
            elif len(local) >= 3:
                d.polygon(local, fill=255)
                for hole in prim.holes:
                    hp = (hole - centre) @ m + offset - [x0, y0]
                    d.polygon([tuple(p) for p in hp.tolist()], fill=0)
            mask = np.asarray(img)[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] > 0
            if not mask.any():
                continue
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            box = [
                min(box[0], cx0 + cols[0]),
                min(box[1], cy0 + rows[0]),
                max(box[2], cx0 + cols[-1]),
                max(box[3], cy0 + rows[-1]),
            ]
            if label_mask is not None:
                label_mask[cy0:cy1, cx0:cx1] |= mask
            t = _profile(mask, prim, scale) * prim.thickness
            if prim.texture is not None:
                local_u = None
                if prim.texture[0] == "stripes":
                    yy, xx = np.mgrid[cy0:cy1, cx0:cx1].astype(np.float32)
                    inv = np.linalg.inv(m)
                    local_u = (xx - cx) * inv[0, 0] + (yy - cy) * inv[1, 0]
                t *= _texture(self.rng, prim.texture, mask.shape, local_u)
            self.t[prim.material, cy0:cy1, cx0:cx1] += t
        if box[0] == math.inf:
            return None
        return [float(v) for v in box]


def _container(
    rng: np.random.Generator, r: _Renderer, s: float
) -> tuple[float, float, float, float]:
    """Draw a suitcase, a backpack or a parcel; the interior box objects go in."""
    h, w = r.h, r.w
    kind = rng.choice(["suitcase", "suitcase", "backpack", "parcel", "tray"])
    mx, my = rng.uniform(0.02, 0.1) * w, rng.uniform(0.02, 0.1) * h
    x0, y0, x1, y1 = mx, my, w - rng.uniform(0.02, 0.1) * w, h - rng.uniform(0.02, 0.1) * h
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    bw, bh = x1 - x0, y1 - y0

    def shell(mat: int, thick: float, edge: float, radius: float) -> None:
        o = Obj(
            "shell",
            [Prim(_rounded_rect(0, 0, bw / s, bh / s, radius), mat, thick, "round", edge=edge)],
        )
        r.draw(o, cx, cy, 0.0, s, 1.0, False)

    if kind == "suitcase":
        shell(ORGANIC, rng.uniform(0.4, 0.9), 14, 20)
        side = rng.integers(0, 2)
        for k in (0.3, 0.7):  # trolley rods along one side
            if side:
                path = _poly((bw * k / s, 6), (bw * k / s, bh / s - 6))
            else:
                path = _poly((6, bh * k / s), (bw / s - 6, bh * k / s))
            o = Obj("trolley", [Prim(path, MIXED, rng.uniform(0.5, 0.9), "round", edge=4, width=9)])
            r.draw(o, x0 + (path[:, 0].mean()) * s, y0 + path[:, 1].mean() * s, 0.0, s, 1.0, False)
        for ex, ey in (
            (x0 + 14, y0 + 14),
            (x1 - 14, y0 + 14),
            (x0 + 14, y1 - 14),
            (x1 - 14, y1 - 14),
        ):
            if rng.random() < 0.6:
                wheel = Obj(
                    "wheel",
                    [
                        Prim(_ellipse(0, 0, 12, 12, 16), ORGANIC, 3.0, "dome"),
                        Prim(_ellipse(0, 0, 3, 3, 8), METAL, 0.6),
                    ],
                )
                r.draw(wheel, ex, ey, 0.0, s, 1.0, False)
        zip_ = Obj(
            "zip",
            [Prim(_rounded_rect(0, 0, bw / s - 20, bh / s - 20, 16)[::1], METAL, 0.06, width=3)],
        )
        r.draw(zip_, cx, cy, 0.0, s, 1.0, False)
    elif kind == "backpack":
        shell(ORGANIC, rng.uniform(0.3, 0.6), 25, 60)
        strap = Obj(
            "strap", [Prim(_curve(rng, 0, 0, bh * 0.8 / s, 6, 0.2), ORGANIC, 1.0, width=30)]
        )
        r.draw(strap, cx + rng.normal(0, bw * 0.15), cy, rng.uniform(0, 6.3), s, 1.0, False)
    elif kind == "parcel":
        shell(ORGANIC, rng.uniform(0.5, 1.2), 3, 2)
        tape = Obj("tape", [Prim(_rect(0, 0, bw / s, 18), ORGANIC, 0.4)])
        r.draw(tape, cx, cy + rng.normal(0, bh * 0.1), 0.0, 1.0 * s, 1.0, False)
    else:
        shell(ORGANIC, rng.uniform(0.8, 1.5), 6, 10)
    inset = 0.08
    return (x0 + inset * bw, y0 + inset * bh, x1 - inset * bw, y1 - inset * bh)


# --- physics and display -------------------------------------------------------------------


def _detect(rng: np.random.Generator, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


# --- scans ------------------------------------------------------------------------------------


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
    r = _Renderer(rng, h, w)
    ix0, iy0, ix1, iy1 = _container(rng, r, s)
    if threats is None:
        threats = {c: int(rng.random() < THREAT_PROBABILITY) for c in CLASSES}
    objs: list[Obj] = [
        CLUTTER[i][0](rng)
        for i in rng.choice(len(CLUTTER), int(rng.integers(*clutter)), p=_CLUTTER_P)
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
    low, high = _detect(rng, r.t)
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
