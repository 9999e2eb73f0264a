"""Benign objects packed around the threats, and how often each is packed (`CLUTTER`).

Look-alikes are common on purpose: cheese, chocolate, rice bags and books (uniform
organic), shoes with metal shanks (organic with something dense inside), tools, keys,
umbrellas, cutlery, scissors, laptops (metal shapes).  Each maker returns an unlabelled
`Obj` in local coordinates (pixels at the 512-px scale).
"""

from __future__ import annotations

import math

import numpy as np

from oracles.xray.synth.shapes import (
    METAL,
    MIXED,
    ORGANIC,
    Obj,
    Prim,
    blob,
    curve,
    ellipse,
    poly,
    rect,
    rot,
    rounded_rect,
)


def _clothes(rng: np.random.Generator) -> Obj:
    rx, ry = rng.uniform(60, 150), rng.uniform(40, 110)
    prims = [
        Prim(
            blob(rng, 0, 0, rx, ry, 0.25, 16),
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
                Prim(poly((-rx * 0.6, 0), (rx * 0.6, rng.normal(0, 10))), METAL, 0.12, width=3)
            )
        else:
            for y in np.linspace(-ry * 0.6, ry * 0.6, int(rng.integers(3, 7))):
                prims.append(Prim(ellipse(0, y, 4, 4, 8), MIXED, 0.5))
    return Obj("clothes", prims)


def _shoe(rng: np.random.Generator) -> Obj:
    L, w = rng.uniform(170, 240), rng.uniform(60, 85)
    outline = poly(
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
        prims.append(Prim(poly((L * 0.55, w * 0.5), (L * 0.85, w * 0.5)), METAL, 0.2, width=6))
    return Obj("shoe", prims)


def _book(rng: np.random.Generator) -> Obj:
    w, h = rng.uniform(100, 180), rng.uniform(80, 135)
    prims = []
    n = 1 if rng.random() < 0.6 else int(rng.integers(2, 4))
    for i in range(n):
        o = i * rng.uniform(5, 25)
        prims.append(
            Prim(
                rect(o, o, o + w, o + h),
                ORGANIC,
                rng.uniform(1.2, 4.5),
                "round",
                edge=1.5,
                texture=("noise", 0.03, 10),
            )
        )
    if rng.random() < 0.25:  # spiral binding
        for y in np.arange(6, h - 4, 7):
            prims.append(Prim(ellipse(2, y, 3, 2, 8), METAL, 0.15))
    return Obj("book", prims)


def _cheese(rng: np.random.Generator) -> Obj:
    kind = rng.choice(["wheel", "wedge", "block"])
    r = rng.uniform(35, 75)
    if kind == "wheel":
        outline = ellipse(0, 0, r, r * rng.uniform(0.85, 1.0), 30)
    elif kind == "wedge":
        outline = poly((0, 0), (r * 1.8, -r * 0.5), (r * 1.8, r * 0.5))
    else:
        outline = rounded_rect(0, 0, r * 1.8, r * 1.1, 6)
    holes = []
    if rng.random() < 0.3:
        c = outline.mean(0)
        holes = [
            ellipse(
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
        lo, hi = outline.min(0) - 5, outline.max(0) + 5
        prims.append(Prim(rounded_rect(lo[0], lo[1], hi[0], hi[1], 6), ORGANIC, 0.3))
    return Obj("cheese", prims)


def _food(rng: np.random.Generator) -> Obj:
    kind = rng.choice(["bread", "fruit", "chocolate", "rice", "canned", "sausage"])
    if kind == "bread":
        return Obj(
            kind,
            [
                Prim(
                    blob(rng, 0, 0, rng.uniform(50, 90), rng.uniform(25, 40), 0.1),
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
                    ellipse(c[0], c[1], r, r * rng.uniform(0.85, 1), 20),
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
                    rect(0, i * h * 0.4, w, i * h * 0.4 + h),
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
                    blob(rng, 0, 0, rng.uniform(60, 100), rng.uniform(45, 70), 0.12),
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
                    poly((0, y), (rng.uniform(70, 120), y + rng.normal(0, 8))),
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
            Prim(rect(0, 0, h, 2 * r), MIXED, rng.uniform(0.2, 0.4), "flat"),
            Prim(
                rect(3, 3, h - 3, 2 * r - 3), ORGANIC, rng.uniform(3.0, 5.5), "round", edge=r * 0.8
            ),
        ],
    )


def _bottle(rng: np.random.Generator) -> Obj:
    w, h = rng.uniform(45, 75), rng.uniform(130, 210)
    nw = w * rng.uniform(0.3, 0.45)
    body = poly(
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
        Prim(rect(3, 3, w - 3, level), ORGANIC, rng.uniform(2.5, 5.5), "round", edge=w / 3)
    )
    if rng.random() < 0.5:
        prims.append(
            Prim(
                rect(w / 2 - nw / 2 - 1, h - 10, w / 2 + nw / 2 + 1, h),
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
            Prim(rounded_rect(0, 0, w, h, 5), MIXED, rng.uniform(0.25, 0.5), "round", edge=w / 2),
            Prim(rect(2, 8, w - 2, h - 8), ORGANIC, rng.uniform(1.0, 3.5), "round", edge=w / 2),
        ],
    )


def _laptop(rng: np.random.Generator) -> Obj:
    w, h = rng.uniform(220, 300), rng.uniform(150, 200)
    prims = [
        Prim(rounded_rect(0, 0, w, h, 8), MIXED, rng.uniform(0.35, 0.6)),
        Prim(
            rect(w * 0.1, h * 0.62, w * 0.9, h * 0.92),
            MIXED,
            rng.uniform(0.8, 1.2),
            texture=("stripes", 0.25, 18),
        ),
        Prim(rect(w * 0.15, h * 0.08, w * 0.6, h * 0.5), METAL, 0.12, texture=("grain", 0.6, 2)),
    ]
    for _ in range(int(rng.integers(4, 10))):
        x, y = rng.uniform(5, w - 5), rng.uniform(5, h - 5)
        prims.append(Prim(ellipse(x, y, 2.5, 2.5, 8), METAL, 0.5))
    prims.append(Prim(ellipse(w * 0.78, h * 0.3, 18, 18, 20), METAL, 0.15))
    prims.append(Prim(rect(w * 0.05, 0, w * 0.95, 6), METAL, 0.4))
    return Obj("laptop", prims)


def _phone(rng: np.random.Generator) -> Obj:
    w, h = rng.uniform(60, 80), rng.uniform(120, 160)
    return Obj(
        "phone",
        [
            Prim(rounded_rect(0, 0, w, h, 10), MIXED, 0.35),
            Prim(rect(w * 0.12, h * 0.3, w * 0.88, h * 0.9), MIXED, 0.9),
            Prim(rect(w * 0.2, h * 0.05, w * 0.8, h * 0.25), METAL, 0.2, texture=("grain", 0.5, 2)),
        ],
    )


def _charger(rng: np.random.Generator) -> Obj:
    w, h = rng.uniform(40, 70), rng.uniform(40, 70)
    prims = [
        Prim(rounded_rect(0, 0, w, h, 8), ORGANIC, 2.0, "round", edge=5),
        Prim(rect(w * 0.25, h * 0.25, w * 0.75, h * 0.7), METAL, rng.uniform(0.3, 0.7)),
    ]
    cable = curve(rng, w / 2, h, rng.uniform(120, 300), 10, 0.6)
    prims.append(Prim(cable, ORGANIC, 0.4, width=6))
    prims.append(Prim(cable, METAL, 0.12, width=2))
    return Obj("charger", prims)


def _powerbank(rng: np.random.Generator) -> Obj:
    n = int(rng.integers(2, 5))
    prims = [Prim(rounded_rect(0, 0, 70, n * 20 + 6, 6), ORGANIC, 1.0)]
    for i in range(n):
        prims.append(Prim(rect(3, 3 + i * 20, 67, 21 + i * 20), MIXED, 0.9, "round", edge=9))
        prims.append(Prim(rect(3, 11 + i * 20, 67, 13 + i * 20), METAL, 0.3))
    return Obj("powerbank", prims)


def _keys(rng: np.random.Generator) -> Obj:
    prims = [
        Prim(
            np.vstack([ellipse(0, 0, 14, 14, 16), ellipse(0, 0, 14, 14, 16)[:1]]),
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
                key @ rot(-a) + np.array([kx, ky], np.float32),
                MIXED if i % 3 == 2 else METAL,
                0.22,
            )
        )
    return Obj("keys", prims)


def _coins(rng: np.random.Generator) -> Obj:
    prims = []
    for _ in range(int(rng.integers(2, 9))):
        r = rng.uniform(8, 14)
        cx, cy = rng.normal(0, 14, 2)
        prims.append(Prim(ellipse(cx, cy, r, r, 16), METAL, rng.uniform(0.15, 0.3)))
    return Obj("coins", prims)


def _umbrella(rng: np.random.Generator) -> Obj:
    L = rng.uniform(220, 330)
    prims = [Prim(poly((0, 0), (L, 0)), METAL, 0.35, "round", edge=2, width=5)]
    for s in (-1, 1):
        for k in range(int(rng.integers(2, 5))):
            off = s * (4 + 3 * k)
            prims.append(Prim(poly((L * 0.15, off), (L * 0.85, off * 0.5)), METAL, 0.12, width=2))
    prims.append(
        Prim(
            rect(L * 0.1, -14, L * 0.9, 14),
            ORGANIC,
            0.8,
            "round",
            edge=10,
            texture=("noise", 0.4, 8),
        )
    )
    if rng.random() < 0.5:
        hook = ellipse(L + 18, 0, 18, 16, 16)[:9]
        prims.append(Prim(hook, ORGANIC, 2.0, width=9))
    else:
        prims.append(Prim(rounded_rect(L - 5, -9, L + 35, 9, 6), ORGANIC, 2.2, "round", edge=5))
    return Obj("umbrella", prims)


def _tool(rng: np.random.Generator) -> Obj:
    kind = rng.choice(["screwdriver", "wrench", "pliers", "scissors", "cutlery", "hairdryer"])
    if kind == "screwdriver":
        L = rng.uniform(130, 220)
        return Obj(
            kind,
            [
                Prim(rounded_rect(0, -12, L * 0.45, 12, 8), ORGANIC, 2.2, "round", edge=8),
                Prim(
                    poly((L * 0.4, 0), (L, 0)),
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
        jaw = ellipse(0, 0, 16, 16, 14)
        return Obj(
            kind,
            [
                Prim(poly((0, 0), (L, 0)), METAL, 0.6, width=12),
                Prim(jaw, METAL, 0.6, holes=[rect(-4, -6, 18, 6)]),
                Prim(ellipse(L, 0, 13, 13, 14), METAL, 0.6, holes=[ellipse(L, 0, 7, 7, 8)]),
            ],
        )
    if kind == "pliers":
        L = rng.uniform(120, 180)
        prims = []
        for s in (-1, 1):
            prims.append(Prim(poly((0, 0), (L * 0.35, s * 4), (L, s * 22)), METAL, 0.5, width=8))
            prims.append(Prim(poly((L * 0.45, s * 9), (L, s * 24)), ORGANIC, 2.0, width=14))
        return Obj(kind, prims)
    if kind == "scissors":
        L = rng.uniform(90, 150)
        prims = []
        for s in (-1, 1):
            prims.append(Prim(poly((0, s * 2), (L * 0.55, -s * 5), (L * 0.55, s * 3)), METAL, 0.25))
            ring = ellipse(L * 0.75, s * 14, 15, 11, 16)
            prims.append(Prim(np.vstack([ring, ring[:1]]), ORGANIC, 2.0, width=6))
        return Obj(kind, prims)
    if kind == "cutlery":
        prims = []
        for i in range(int(rng.integers(1, 4))):
            y = i * 22
            L = rng.uniform(140, 200)
            prims.append(Prim(poly((0, y), (L * 0.7, y)), METAL, 0.25, width=7))
            prims.append(Prim(ellipse(L * 0.82, y, L * 0.13, 11, 16), METAL, 0.2))
        return Obj(kind, prims)
    return Obj(
        kind,
        [
            Prim(ellipse(0, 0, 40, 35, 22), ORGANIC, 1.5, "round", edge=8),
            Prim(ellipse(0, 0, 18, 18, 16), METAL, 0.7, "dome"),
            Prim(rounded_rect(-15, 30, 15, 120, 8), ORGANIC, 2.0, "round", edge=8),
            Prim(curve(rng, 0, 120, 200, 8, 0.5), ORGANIC, 0.5, width=5),
        ],
    )


def _misc(rng: np.random.Generator) -> Obj:
    kind = rng.choice(["belt", "toiletries", "glasses", "headphones"])
    if kind == "belt":
        path = curve(rng, 0, 0, rng.uniform(200, 400), 10, 0.5)
        lo, hi = path[0] - 18, path[0] + 18
        return Obj(
            kind,
            [
                Prim(path, ORGANIC, 1.0, width=22),
                Prim(
                    rounded_rect(lo[0], lo[1], hi[0], hi[1], 6),
                    METAL,
                    0.35,
                    holes=[rect(*(path[0] - 10), *(path[0] + 10))],
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
                    rounded_rect(x, y, x + w, y + h, 8),
                    ORGANIC,
                    rng.uniform(1.5, 4),
                    "round",
                    edge=w / 3,
                )
            )
            if rng.random() < 0.4:
                prims.append(Prim(rect(x, y, x + w, y + 10), MIXED, 0.4))
        return Obj(kind, prims)
    if kind == "glasses":
        prims = []
        for cx in (-30, 30):
            ring = ellipse(cx, 0, 24, 17, 18)
            prims.append(Prim(np.vstack([ring, ring[:1]]), METAL, 0.2, width=3))
            prims.append(Prim(ring, ORGANIC, 0.6))
        prims.append(Prim(poly((-6, -4), (6, -4)), METAL, 0.2, width=3))
        return Obj(kind, prims)
    arc = ellipse(0, 0, 70, 70, 24)[13:24]
    (x0, y0), (x1, y1) = arc[0], arc[-1]
    return Obj(
        kind,
        [
            Prim(arc, ORGANIC, 1.0, width=10),
            Prim(ellipse(x0, y0, 24, 24, 18), ORGANIC, 2.0, "round", edge=8),
            Prim(ellipse(x1, y1, 24, 24, 18), ORGANIC, 2.0, "round", edge=8),
            Prim(ellipse(x0, y0, 9, 9, 12), METAL, 0.6),
            Prim(ellipse(x1, y1, 9, 9, 12), METAL, 0.6),
        ],
    )


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
CLUTTER_P = np.array([w for _, w in CLUTTER]) / sum(w for _, w in CLUTTER)
