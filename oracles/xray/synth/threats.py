"""The threat objects a scan may hide, one maker per class of `CLASSES`.

Meat (organic with bone), drugs (dense uniform wrapped bricks, slabs or pellets), firearms
(pistols, revolvers, with metal or polymer frames) and knives (fixed, folding, daggers).
Each maker draws a random instance from `rng` and returns it as an `Obj` labelled with its
class, in local coordinates (pixels at the 512-px scale of a bag about 60 cm across, so
1 px is about 1.2 mm).
"""

from __future__ import annotations

import numpy as np

from oracles.xray.synth.shapes import (
    METAL,
    MIXED,
    ORGANIC,
    Obj,
    Prim,
    blob,
    ellipse,
    poly,
    rect,
    rot,
    rounded_rect,
)

CLASSES: tuple[str, ...] = ("meat", "drugs", "firearm", "knife")


def _meat(rng: np.random.Generator) -> Obj:
    rx, ry = rng.uniform(38, 75), rng.uniform(28, 55)
    prims = []
    pieces = 1 if rng.random() < 0.7 else int(rng.integers(2, 4))
    for i in range(pieces):
        ox, oy = (i * rx * 0.9, rng.normal(0, ry * 0.3)) if i else (0.0, 0.0)
        prims.append(
            Prim(
                blob(rng, ox, oy, rx, ry, 0.18),
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
                poly((-L / 2, y), (L / 2, y + rng.normal(0, 5))),
                MIXED,
                bt,
                "round",
                edge=w / 2,
                width=w,
            )
        )
        for ex in (-L / 2, L / 2):
            prims.append(Prim(ellipse(ex, y, w * 0.9, w * 1.2, 14), MIXED, bt * 1.2, "dome"))
    elif bone == "tbone":
        L = rng.uniform(0.8, 1.3) * rx
        w = rng.uniform(6, 10)
        prims.append(Prim(poly((-L / 2, 0), (L / 2, 0)), MIXED, bt, "round", edge=w / 2, width=w))
        prims.append(
            Prim(
                poly((0, 0), (0, ry * rng.uniform(0.6, 1.0))),
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
                    poly(
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
                blob(rng, rng.normal(0, rx * 0.2), 0, rx * 0.25, ry * 0.25, 0.3, 10),
                MIXED,
                bt,
                "round",
                edge=3,
            )
        )
        prims.append(
            Prim(
                poly((0, 0), (rx * 0.6, rng.normal(0, 8))),
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
                rounded_rect(-rx * 1.2, -ry * 1.25, rx * (1.2 + 0.9 * (pieces - 1)), ry * 1.25, 8),
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
                    rounded_rect(x, y, x + w, y + h, rng.uniform(4, 12)),
                    ORGANIC,
                    rng.uniform(4.5, 9.0),
                    "round",
                    edge=rng.uniform(6, 14),
                    texture=("noise", rng.uniform(0.01, 0.04), 12),
                )
            )
            for _ in range(int(rng.integers(1, 4))):  # tape wraps
                ty = y + rng.uniform(0.15, 0.85) * h
                prims.append(Prim(rect(x, ty - 3, x + w, ty + 3), ORGANIC, rng.uniform(0.2, 0.5)))
    elif kind == "slab":
        w, h = rng.uniform(150, 240), rng.uniform(100, 170)
        prims.append(
            Prim(
                rounded_rect(0, 0, w, h, 6),
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
                    ellipse(cx, cy, rng.uniform(9, 13), rng.uniform(5, 7), 14)
                    @ rot(rng.uniform(0, np.pi)),
                    ORGANIC,
                    rng.uniform(2.5, 4.0),
                    "dome",
                )
            )
    return Obj("drugs", prims, "drugs")


def _firearm(rng: np.random.Generator) -> Obj:
    L = rng.uniform(120, 200)
    prims = []
    if rng.random() < 0.7:  # semi-automatic pistol
        sh = L * rng.uniform(0.15, 0.2)
        polymer = rng.random() < 0.45
        prims.append(Prim(rect(0, 0, L, sh), METAL, rng.uniform(0.9, 1.6), "round", edge=2))
        prims.append(Prim(rect(0, sh * 0.3, L * 0.9, sh * 0.7), METAL, rng.uniform(0.4, 0.8)))
        g0, g1 = L * rng.uniform(0.62, 0.7), L * rng.uniform(0.9, 0.98)
        drop, rake = L * rng.uniform(0.45, 0.6), L * rng.uniform(0.05, 0.14)
        grip = poly((g0, sh), (g1, sh), (g1 + rake, sh + drop), (g0 + rake, sh + drop * 1.03))
        if polymer:
            prims.append(Prim(grip, ORGANIC, rng.uniform(2.0, 3.5), "round", edge=4))
            prims.append(Prim(rect(0.05 * L, sh, g0, sh * 1.35), ORGANIC, 2.0, "round", edge=3))
        else:
            prims.append(Prim(grip, METAL, rng.uniform(0.5, 1.0), "round", edge=4))
        m = (g0 + g1) / 2
        prims.append(
            Prim(
                poly(
                    (m - L * 0.05, sh),
                    (m + L * 0.05, sh),
                    (m + L * 0.05 + rake, sh + drop * 0.95),
                    (m - L * 0.05 + rake, sh + drop * 0.95),
                ),
                METAL,
                rng.uniform(0.3, 0.6),
            )
        )
        tg = ellipse(g0 - L * 0.1, sh + L * 0.1, L * 0.11, L * 0.09, 20)
        prims.append(
            Prim(
                np.vstack([tg, tg[:1]]),
                METAL if not polymer else ORGANIC,
                0.5 if not polymer else 2.0,
                width=max(3.0, L * 0.025),
            )
        )
        prims.append(
            Prim(poly((g0 - L * 0.09, sh + 2), (g0 - L * 0.07, sh + L * 0.12)), METAL, 0.4, width=3)
        )
        name = "pistol"
    else:  # revolver
        bl = L * rng.uniform(0.3, 0.5)
        h = L * 0.09
        prims.append(Prim(rect(0, 0, bl, h), METAL, rng.uniform(0.7, 1.2), "round", edge=2))
        cyl = rounded_rect(bl, -h * 0.6, bl + L * 0.22, h * 1.6, 6)
        holes = [
            ellipse(bl + L * 0.11, y, L * 0.025, L * 0.025, 10)
            for y in (-h * 0.1, h * 0.5, h * 1.1)
        ]
        prims.append(Prim(cyl, METAL, rng.uniform(1.2, 2.0), "round", edge=3, holes=holes))
        prims.append(
            Prim(rect(bl + L * 0.2, -h * 0.5, bl + L * 0.4, h * 1.4), METAL, rng.uniform(0.7, 1.1))
        )
        gx = bl + L * 0.38
        grip = poly(
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
        prims.append(Prim(poly((gx, h * 1.2), (gx + L * 0.03, h + L * 0.35)), METAL, 0.6, width=5))
        tg = ellipse(bl + L * 0.25, h * 2.2, L * 0.08, L * 0.07, 18)
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
        blade = poly((0, 0), (bl * 0.2, -bw / 2), (bl, -bw / 2), (bl, bw / 2), (bl * 0.2, bw / 2))
        prims.append(Prim(rect(bl, -bw, bl + 6, bw), METAL, 0.8))
    elif style == "folding":
        L, bl = L * 0.6, L * 0.6 * 0.9
        blade = poly((0, -bw * 0.3), (bl, -bw / 2), (bl, bw / 2), (bl * 0.15, bw / 2))
    else:
        curve = rng.uniform(0.2, 0.6)
        blade = poly((0, -bw / 2), (bl * curve, bw / 2), (bl, bw / 2), (bl, -bw / 2))
    prims.append(Prim(blade, METAL, steel, "round", edge=1.5))
    hw = bw * rng.uniform(0.75, 1.1)
    handle = rounded_rect(bl, -hw / 2, L, hw / 2, hw * 0.4)
    if style == "folding":
        handle = rounded_rect(0, -hw * 0.6, L, hw * 0.6, hw * 0.4)
    if rng.random() < 0.7:
        prims.append(Prim(handle, ORGANIC, rng.uniform(1.2, 2.5), "round", edge=3))
        prims.append(Prim(rect(bl, -hw * 0.15, L - 4, hw * 0.15), METAL, steel * 0.8))
        for x in np.linspace(bl + 8, L - 8, int(rng.integers(0, 4))):
            prims.append(Prim(ellipse(x, 0, 2.5, 2.5, 8), METAL, 0.6))
    else:
        prims.append(Prim(handle, METAL, rng.uniform(0.3, 0.7), "round", edge=2))
    return Obj(f"knife-{style}", prims, "knife")


THREATS = {"meat": _meat, "drugs": _drugs, "firearm": _firearm, "knife": _knife}
