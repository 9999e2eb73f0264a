"""Rasterising objects into per-material thickness maps (`Renderer`).

Every object is scaled, foreshortened along one axis (an object lying at a slant is seen
shorter: a cheap stand-in for 3-D pose), mirrored, rotated and placed; the thickness of each
material is summed per pixel along the beam, so objects overlap freely.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from oracles.xray.synth.shapes import Obj, Prim, rot


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
    field_ = np.asarray(Image.fromarray(grid, mode="F").resize((w, h), Image.Resampling.BILINEAR))
    return np.clip(1 + amp * field_, 0.2, 2.0)


def _profile(mask: np.ndarray, prim: Prim, scale: float) -> np.ndarray:
    if prim.profile == "flat":
        return mask.astype(np.float32)
    dist = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1].astype(np.float32)
    r = max(float(dist.max()) if prim.profile == "dome" else prim.edge * scale, 1.0)
    x = np.clip(dist / r, 0, 1)
    return np.sqrt(x * (2 - x))


class Renderer:
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
        m = m @ rot(angle)
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
