"""The container a scan shows: a suitcase, a backpack, a parcel or a tray."""

from __future__ import annotations

import numpy as np

from oracles.xray.synth.render import Renderer
from oracles.xray.synth.shapes import (
    METAL,
    MIXED,
    ORGANIC,
    Obj,
    Prim,
    curve,
    ellipse,
    poly,
    rect,
    rounded_rect,
)


def draw_bag(rng: np.random.Generator, r: Renderer, s: float) -> tuple[float, float, float, float]:
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
            [Prim(rounded_rect(0, 0, bw / s, bh / s, radius), mat, thick, "round", edge=edge)],
        )
        r.draw(o, cx, cy, 0.0, s, 1.0, False)

    if kind == "suitcase":
        shell(ORGANIC, rng.uniform(0.4, 0.9), 14, 20)
        side = rng.integers(0, 2)
        for k in (0.3, 0.7):  # trolley rods along one side
            if side:
                path = poly((bw * k / s, 6), (bw * k / s, bh / s - 6))
            else:
                path = poly((6, bh * k / s), (bw / s - 6, bh * k / s))
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
                        Prim(ellipse(0, 0, 12, 12, 16), ORGANIC, 3.0, "dome"),
                        Prim(ellipse(0, 0, 3, 3, 8), METAL, 0.6),
                    ],
                )
                r.draw(wheel, ex, ey, 0.0, s, 1.0, False)
        zip_ = Obj(
            "zip",
            [Prim(rounded_rect(0, 0, bw / s - 20, bh / s - 20, 16)[::1], METAL, 0.06, width=3)],
        )
        r.draw(zip_, cx, cy, 0.0, s, 1.0, False)
    elif kind == "backpack":
        shell(ORGANIC, rng.uniform(0.3, 0.6), 25, 60)
        strap = Obj("strap", [Prim(curve(rng, 0, 0, bh * 0.8 / s, 6, 0.2), ORGANIC, 1.0, width=30)])
        r.draw(strap, cx + rng.normal(0, bw * 0.15), cy, rng.uniform(0, 6.3), s, 1.0, False)
    elif kind == "parcel":
        shell(ORGANIC, rng.uniform(0.5, 1.2), 3, 2)
        tape = Obj("tape", [Prim(rect(0, 0, bw / s, 18), ORGANIC, 0.4)])
        r.draw(tape, cx, cy + rng.normal(0, bh * 0.1), 0.0, 1.0 * s, 1.0, False)
    else:
        shell(ORGANIC, rng.uniform(0.8, 1.5), 6, 10)
    inset = 0.08
    return (x0 + inset * bw, y0 + inset * bh, x1 - inset * bw, y1 - inset * bh)
