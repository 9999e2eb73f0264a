"""What training sees: rendered synthetic sets, pictures that are not scans, and batches.

`render_set` letterboxes synthetic scans with their labels and per-cell threat targets
(`mask_cells`), `nonscan_set` the pictures that are not scans; `Sources` draws each batch
from those, real crops and composite bags, and may zoom synthetic scans (`zoom_view`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from oracles.xray import nonscan, synth
from oracles.xray.augment import RealPool, composite_view, real_view
from oracles.xray.preprocess import GRID, INPUT_SIZE, STRIDE, letterbox
from oracles.xray.synth import CLASSES


def mask_cells(mask: np.ndarray, lb_scale: float, pad: tuple[int, int]) -> np.ndarray:
    """A scan-sized bool mask -> the share of each heat-map cell it covers."""
    h, w = mask.shape
    nw, nh = max(1, round(w * lb_scale)), max(1, round(h * lb_scale))
    small = np.asarray(
        Image.fromarray(mask.astype(np.float32), mode="F").resize(
            (nw, nh), Image.Resampling.BILINEAR
        )
    )
    canvas = np.zeros((INPUT_SIZE, INPUT_SIZE), np.float32)
    canvas[pad[1] : pad[1] + nh, pad[0] : pad[0] + nw] = small
    return canvas.reshape(GRID, STRIDE, GRID, STRIDE).mean((1, 3))


def render_one(args: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(seed, index) -> (colour input uint8 HWC, grey input uint8 HW, labels (C,), cell
    targets (C, GRID, GRID)): the same scene in dual-energy colour and single-energy grey."""
    seed, index = args
    s = synth.scan(seed, index, masks=True, energies=True)
    x, lb = letterbox(s.image)
    assert s.low is not None and s.high is not None
    # what synth.scan(seed, index, display="grey") shows, without rendering the scene twice
    g, _ = letterbox(synth.greyscale(s.low, s.high, np.random.default_rng([seed, index, 1])))
    cells = np.zeros((len(CLASSES), GRID, GRID), np.float32)
    assert s.masks is not None
    for c in range(len(CLASSES)):
        if s.masks[c].any():
            cells[c] = np.clip(mask_cells(s.masks[c], lb.scale, (lb.pad_x, lb.pad_y)) * 4, 0, 1)
    return x, g[..., 0], s.labels, cells


def render_set(
    seed: int,
    n: int,
    workers: int = 2,
    log: Callable[[str], None] = lambda m: None,
    cache: Path | None = None,
) -> tuple[np.ndarray, ...]:
    """Scans 0..n-1 of data set `seed`, letterboxed: (X colour (N,S,S,3) uint8, G grey
    (N,S,S) uint8, Y (N,C), M (N,C,GRID,GRID)).

    With `cache`, the set is kept as `<cache>/xray-<seed>-<n>-<S>-cg.npz` and read back.
    """
    if cache is not None:
        path = Path(cache) / f"xray-{seed}-{n}-{INPUT_SIZE}-cg.npz"
        if path.exists():
            with np.load(path) as z:
                log(f"read {n} scans of seed {seed} from {path}")
                return z["x"], z["g"], z["y"], z["m"]
        out = render_set(seed, n, workers, log)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, x=out[0], g=out[1], y=out[2], m=out[3])
        return out
    t0 = time.time()
    x = np.zeros((n, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    g = np.zeros((n, INPUT_SIZE, INPUT_SIZE), np.uint8)
    y = np.zeros((n, len(CLASSES)), np.float32)
    m = np.zeros((n, len(CLASSES), GRID, GRID), np.float32)
    jobs = [(seed, i) for i in range(n)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            for i, r in enumerate(pool.map(render_one, jobs, chunksize=32)):
                x[i], g[i], y[i], m[i] = r
    else:
        for i, job in enumerate(jobs):
            x[i], g[i], y[i], m[i] = render_one(job)
    log(f"rendered {n} scans of seed {seed} in {time.time() - t0:.0f} s")
    return x, g, y, m


def grey_rgb(g: np.ndarray) -> np.ndarray:
    """(..., S, S) grey -> (..., S, S, 3) with R = G = B."""
    return np.repeat(g[..., None], 3, axis=-1)


def _nonscan_one(args: tuple[int, int, list[np.ndarray]]) -> np.ndarray:
    seed, i, photos = args
    return letterbox(nonscan.picture(seed, i, photos))[0]


def nonscan_set(
    seed: int, n: int, photos: list[np.ndarray], cache: Path | None = None
) -> np.ndarray:
    """(n, S, S, 3) uint8: letterboxed pictures that are not scans (`oracles.xray.nonscan`)."""
    if cache is not None:
        path = Path(cache) / f"nonscan-{seed}-{n}-{len(photos)}-{INPUT_SIZE}.npz"
        if path.exists():
            with np.load(path) as z:
                return z["x"]
    x = np.stack([_nonscan_one((seed, i, photos)) for i in range(n)])
    if cache is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, x=x)
    return x


def grey_of(x: np.ndarray) -> np.ndarray:
    """(..., S, S, 3) uint8 pictures -> the same in grey (luminance, R = G = B)."""
    lum = x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114
    return grey_rgb(np.clip(lum + 0.5, 0, 255).astype(np.uint8))


def zoom_view(
    x: np.ndarray, cells: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic scan and its cell targets zoomed out (shrunk onto an empty belt) or in
    (a window holding every threat cell, enlarged), so an object's size in the input
    stops telling what it is; labels are unchanged (no threat is cut)."""
    s = INPUT_SIZE
    up = np.kron(cells, np.ones((1, STRIDE, STRIDE), np.float32))  # (C, S, S)
    if rng.random() < 0.5:
        f = rng.uniform(0.45, 0.95)
        n = max(STRIDE, round(s * f))
        y0, x0 = int(rng.integers(0, s - n + 1)), int(rng.integers(0, s - n + 1))
        img = np.full_like(x, 255)
        img[y0 : y0 + n, x0 : x0 + n] = np.asarray(
            Image.fromarray(x).resize((n, n), Image.Resampling.BILINEAR), np.uint8
        )
        big = np.zeros_like(up)
        for c in np.flatnonzero(up.reshape(len(up), -1).max(1) > 0):
            big[c, y0 : y0 + n, x0 : x0 + n] = np.asarray(
                Image.fromarray(up[c], "F").resize((n, n), Image.Resampling.BILINEAR)
            )
    else:
        hot = np.argwhere(cells.max(0) > 0)
        side = round(s * rng.uniform(0.55, 0.95))
        if len(hot):
            (r0, c0), (r1, c1) = hot.min(0) * STRIDE, (hot.max(0) + 1) * STRIDE
            side = max(side, r1 - r0, c1 - c0)
            if side >= s:
                return x, cells
            y0 = int(rng.integers(max(0, r1 - side), min(r0, s - side) + 1))
            x0 = int(rng.integers(max(0, c1 - side), min(c0, s - side) + 1))
        else:
            y0, x0 = int(rng.integers(0, s - side + 1)), int(rng.integers(0, s - side + 1))
        img = np.asarray(
            Image.fromarray(x[y0 : y0 + side, x0 : x0 + side]).resize(
                (s, s), Image.Resampling.BILINEAR
            ),
            np.uint8,
        )
        big = np.zeros_like(up)
        for c in np.flatnonzero(up.reshape(len(up), -1).max(1) > 0):
            win = up[c, y0 : y0 + side, x0 : x0 + side]
            big[c] = np.asarray(Image.fromarray(win, "F").resize((s, s), Image.Resampling.BILINEAR))
    return img, np.clip(big.reshape(len(up), GRID, STRIDE, GRID, STRIDE).mean((2, 4)), 0, 1)


@dataclass
class Sources:
    """What one training batch is drawn from (see the module docstring).

    `grey_share`: synthetic scans shown in single-energy grey (0 for the colour expert, 1
    for the grey expert); `zoom`: synthetic scans zoomed in or out (`zoom_view`); `pool`: real
    crops, shown alone (`augment.real_view`) or, `composite_share` of the time, as bags
    put together from several (`augment.composite_view`); `nonscan_grey`: pictures that
    are not scans shown in grey.
    """

    synth: tuple[np.ndarray, ...]  # render_set output
    pool: RealPool | None = None
    nonscans: np.ndarray | None = None  # (K, S, S, 3) uint8
    grey_share: float = 0.35
    per_batch: tuple[int, int, int] = (18, 10, 4)  # synthetic, real, not-a-scan
    composite_share: float = 0.5
    zoom: float = 0.0
    nonscan_grey: float = 0.0

    def batch(self, rng: np.random.Generator, idx: np.ndarray) -> tuple[np.ndarray, ...]:
        """(x uint8 NHWC, y (N,C), cells (N,C,G,G), cell weights (N,C,G,G), is_scan (N,),
        colour (N,)) for the synthetic scans `idx` plus randomly drawn real crops and
        non-scans; `colour` marks the synthetic scans shown in dual-energy colour.  A cell
        weight is 0 where a threat's place is not known (real crops with a threat)."""
        sx, sg, sy, sm = self.synth
        n_cls = sy.shape[1]
        grey = rng.random(len(idx)) < self.grey_share
        xs = np.where(grey[:, None, None, None], grey_rgb(sg[idx]), sx[idx])
        ms = sm[idx].copy()
        if self.zoom:
            for k in np.flatnonzero(rng.random(len(idx)) < self.zoom):
                xs[k], ms[k] = zoom_view(xs[k], ms[k], rng)
        x, y, m = [xs], [sy[idx]], [ms]
        w = [np.ones((len(idx), n_cls, GRID, GRID), np.float32)]
        scan, colour = [np.ones(len(idx), np.float32)], [~grey]
        n_real = self.per_batch[1] if self.pool is not None and len(self.pool) else 0
        if n_real:
            assert self.pool is not None
            clean = np.flatnonzero(sy.sum(1) == 0)
            bags = sg[rng.choice(clean, 8)] if len(clean) else None
            for _ in range(n_real):
                if rng.random() < self.composite_share:
                    xi, lab, cells, wi = composite_view(self.pool, rng, bags)
                else:
                    j = self.pool.draw(rng)
                    lab = self.pool.labels[j]
                    xi = real_view(self.pool.images[j], bool(lab.any()), rng, bags)
                    cells = np.zeros((n_cls, GRID, GRID), np.float32)
                    wi = np.ones((n_cls, GRID, GRID), np.float32)
                    wi[lab > 0] = 0  # where the threat is is not known
                x.append(xi[None])
                y.append(lab[None])
                m.append(cells[None])
                w.append(wi[None])
                scan.append(np.ones(1, np.float32))
                colour.append(np.zeros(1, bool))
        n_non = self.per_batch[2] if self.nonscans is not None and len(self.nonscans) else 0
        if n_non:
            assert self.nonscans is not None
            picks = rng.integers(0, len(self.nonscans), n_non)
            xn = self.nonscans[picks].copy()
            g = rng.random(n_non) < self.nonscan_grey
            if g.any():
                xn[g] = grey_of(xn[g])
            x.append(xn)
            y.append(np.zeros((n_non, n_cls), np.float32))
            m.append(np.zeros((n_non, n_cls, GRID, GRID), np.float32))
            w.append(np.ones((n_non, n_cls, GRID, GRID), np.float32))
            scan.append(np.zeros(n_non, np.float32))
            colour.append(np.zeros(n_non, bool))
        return tuple(np.concatenate(a) for a in (x, y, m, w, scan, colour))
