"""Training, export and fine-tuning of the X-ray network (PyTorch on CPU, the `train` extra).

The network is a small fully convolutional net: eight 3x3 convolutions (four of stride 2,
one dilated for context) and a 1x1 head give one logit per class on a 16 x 16 grid over
the 256-px letterboxed scan.  A class's image score is the maximum of its map, so a score
always points at a place, and the map is the heat map boxes are read from.  A second 1x1
head, averaged over the grid, says whether the picture is an X-ray scan at all (the scan
gate's learned half, `oracles.xray.gate`).  The shipped model may be two such nets behind
one input (`build_routed`): a colour expert for dual-energy pseudo-colour scans and a grey
expert for single-energy greyscale scans, chosen inside the graph by the picture's colour.

Training mixes four sources in every batch (`Sources`): synthetic scans in dual-energy
colour or, the same scene, single-energy grey; real greyscale crops (`oracles.xray.real`,
augmented by `oracles.xray.augment`); and pictures that are not scans
(`oracles.xray.nonscan`).  Losses: the image labels (binary cross-entropy on the max of
each map); the threat pixels where they are known (per cell: the generator's masks, and
"nothing anywhere" for clean real crops and non-scans), which teaches the map to sit on
the object; and scan / not a scan on the second head.  Real crops with a threat have no
pixel masks: only their image label counts (cell weight 0), except isolated objects laid
into composite bags, whose place is known.  Synthetic scans may be zoomed in or out
(`_zoom`) so an object's size in the input does not tell its class.

Nothing here is needed at run time: the exported ONNX file is all inference uses.
Fine-tuning reads the weights back from an ONNX file (batch-norm already folded into the
convolutions), so a retrain starts from exactly the model in service.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from oracles.xray import metrics, nonscan, synth
from oracles.xray.augment import RealPool, composite_view, real_view
from oracles.xray.errors import XrayError
from oracles.xray.preprocess import GRID, INPUT_SIZE, STRIDE, letterbox, reference_input, to_input

CLASSES = synth.CLASSES
# (in, out, stride, dilation) of the 3x3 convolutions
SPEC = [
    (3, 16, 2, 1),
    (16, 32, 2, 1),
    (32, 32, 1, 1),
    (32, 64, 2, 1),
    (64, 64, 1, 1),
    (64, 96, 2, 1),
    (96, 96, 1, 2),
    (96, 96, 1, 1),
]
ONNX_OPSET = 17
OUTPUTS = ["scores", "heat", "scan"]


def require_torch():
    """The torch module, or an XrayError that says how to install it."""
    try:
        import torch
    except ImportError:
        raise XrayError(
            "torch_missing",
            "training needs PyTorch, which inference does not: install it with "
            "pip install '.[train]' (torch==2.13.0, CPU build is enough)",
        ) from None
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    return torch


def build_net(fused: bool = False):
    """The network; `fused=True` has no batch-norm (biases instead), the shape of the ONNX.

    forward(x) -> (class logits (N, C, GRID, GRID), scan logit (N,)).
    """
    torch = require_torch()
    nn = torch.nn

    class XrayNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[Any] = []
            for cin, cout, stride, dil in SPEC:
                layers.append(nn.Conv2d(cin, cout, 3, stride, dil, dilation=dil, bias=fused))
                if not fused:
                    layers.append(nn.BatchNorm2d(cout))
                layers.append(nn.ReLU(inplace=True))
            self.features = nn.Sequential(*layers)
            self.head = nn.Conv2d(SPEC[-1][1], len(CLASSES), 1)
            self.scan = nn.Conv2d(SPEC[-1][1], 1, 1)

        def forward(self, x):
            f = self.features(x)
            return self.head(f), torch.mean(self.scan(f), dim=(1, 2, 3))

    return XrayNet()


# A picture is shown to the colour expert when at least COLOUR_SHARE of its pixels carry
# clear colour (max - min channel over CHROMA): dual-energy pseudo-colour scans have 20 %
# and more; a greyscale export has none (R = G = B, or a few levels apart after JPEG);
# in between (GREY_SHARE..COLOUR_SHARE) the two experts' maps are mixed linearly.
CHROMA = 0.1
GREY_SHARE = 0.005
COLOUR_SHARE = 0.02


def colour_weight(x):
    """(N, 3, H, W) input in 0..1 -> (N,) weight of the colour expert (0 grey .. 1 colour)."""
    torch = require_torch()
    chroma = torch.amax(x, dim=1) - torch.amin(x, dim=1)
    share = torch.mean((chroma > CHROMA).to(x.dtype), dim=(1, 2))
    return torch.clamp((share - GREY_SHARE) / (COLOUR_SHARE - GREY_SHARE), 0.0, 1.0)


def colour_weight_np(x: np.ndarray) -> np.ndarray:
    """`colour_weight` of a uint8 NHWC set, in numpy."""
    xf = x.astype(np.float32) / 255
    share = ((xf.max(-1) - xf.min(-1)) > CHROMA).mean((1, 2))
    return np.clip((share - GREY_SHARE) / (COLOUR_SHARE - GREY_SHARE), 0, 1)


def build_routed(colour, grey):
    """Two experts of the `build_net` kind behind one input, chosen by the picture's colour
    (`colour_weight`): one for dual-energy pseudo-colour scans, one for single-energy grey
    scans (synthetic and real).  Each keeps its own class and scan heads (and calibration);
    forward(x) -> (class logits, scan logit) of the expert the picture belongs to."""
    torch = require_torch()

    class RoutedNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.colour = colour
            self.grey = grey

        def forward(self, x):
            w = colour_weight(x)
            lc, sc = self.colour(x)
            lg, sg = self.grey(x)
            wv = w.view(-1, 1, 1, 1)
            return wv * lc + (1 - wv) * lg, w * sc + (1 - w) * sg

    return RoutedNet()


def experts(net) -> list:
    """The networks whose heads carry calibration: both experts of a routed net, or `net`."""
    return [net.colour, net.grey] if hasattr(net, "colour") else [net]


def _exportable(net):
    torch = require_torch()

    class Exported(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, image):
            logits, scan = self.net(image)
            heat = torch.sigmoid(logits)
            return torch.amax(heat, dim=(2, 3)), heat, torch.sigmoid(scan).unsqueeze(1)

    return Exported()


# --- data -------------------------------------------------------------------------------------


def _cells(mask: np.ndarray, lb_scale: float, pad: tuple[int, int]) -> np.ndarray:
    """A scan-sized bool mask -> the share of each heat-map cell it covers."""
    h, w = mask.shape
    nw, nh = max(1, round(w * lb_scale)), max(1, round(h * lb_scale))
    small = np.asarray(
        Image.fromarray(mask.astype(np.float32), mode="F").resize((nw, nh), Image.BILINEAR)
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
            cells[c] = np.clip(_cells(s.masks[c], lb.scale, (lb.pad_x, lb.pad_y)) * 4, 0, 1)
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


def _zoom(
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
            Image.fromarray(x).resize((n, n), Image.BILINEAR), np.uint8
        )
        big = np.zeros_like(up)
        for c in np.flatnonzero(up.reshape(len(up), -1).max(1) > 0):
            big[c, y0 : y0 + n, x0 : x0 + n] = np.asarray(
                Image.fromarray(up[c], "F").resize((n, n), Image.BILINEAR)
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
            Image.fromarray(x[y0 : y0 + side, x0 : x0 + side]).resize((s, s), Image.BILINEAR),
            np.uint8,
        )
        big = np.zeros_like(up)
        for c in np.flatnonzero(up.reshape(len(up), -1).max(1) > 0):
            win = up[c, y0 : y0 + side, x0 : x0 + side]
            big[c] = np.asarray(Image.fromarray(win, "F").resize((s, s), Image.BILINEAR))
    return img, np.clip(big.reshape(len(up), GRID, STRIDE, GRID, STRIDE).mean((2, 4)), 0, 1)


@dataclass
class Sources:
    """What one training batch is drawn from (see the module docstring).

    `grey_share`: synthetic scans shown in single-energy grey (0 for the colour expert, 1
    for the grey expert); `zoom`: synthetic scans zoomed in or out (`_zoom`); `pool`: real
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
                xs[k], ms[k] = _zoom(xs[k], ms[k], rng)
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
            j = rng.integers(0, len(self.nonscans), n_non)
            xn = self.nonscans[j].copy()
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


# --- training ---------------------------------------------------------------------------------


def _augment(torch, xb, maps, rng: np.random.Generator):
    """The same random rotation by 90 degrees / mirror for a batch and its cell maps
    (targets and weights)."""
    k = int(rng.integers(0, 4))
    if k:
        xb, maps = torch.rot90(xb, k, (2, 3)), [torch.rot90(m, k, (2, 3)) for m in maps]
    if rng.random() < 0.5:
        xb, maps = torch.flip(xb, (3,)), [torch.flip(m, (3,)) for m in maps]
    return xb, maps


def _loss(torch, out, y, m=None, w=None, scan=None, known=None):
    """Image labels + threat cells (where known: cell weights `w`) + scan / not a scan.

    `known` (fine-tuning on officers' decisions): only the classes an officer decided on
    count, and nothing else.
    """
    f = torch.nn.functional
    logits, scan_logit = out
    image = torch.amax(logits, dim=(2, 3))
    li = f.binary_cross_entropy_with_logits(image, y, reduction="none")
    if known is not None:
        return (li * known).sum() / known.sum().clamp(min=1)
    pos_weight = torch.full((len(CLASSES), 1, 1), 3.0)
    ld = f.binary_cross_entropy_with_logits(logits, m, pos_weight=pos_weight, reduction="none")
    counted = (w.sum((1, 2, 3)) > 0).to(ld.dtype)
    ld = (ld * w).mean((1, 2, 3)).sum() / counted.sum().clamp(min=1)
    ls = f.binary_cross_entropy_with_logits(scan_logit, scan)
    return li.mean() + 2 * ld + 0.5 * ls


def predict_torch(net, x: np.ndarray, batch: int = 128, logits: bool = False) -> np.ndarray:
    """Image scores (N, C) of a letterboxed uint8 set with the torch network (or, with
    `logits`, the maximum logit per class: what calibration is fitted on)."""
    torch = require_torch()
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            lg = torch.amax(net(torch.from_numpy(to_input(x[i : i + batch])))[0], dim=(2, 3))
            out.append(lg.numpy() if logits else torch.sigmoid(lg).numpy())
    return np.concatenate(out)


def predict_scan(net, x: np.ndarray, batch: int = 128) -> np.ndarray:
    """Scan-likeness (N,) of a letterboxed uint8 set with the torch network."""
    torch = require_torch()
    net.eval()
    with torch.no_grad():
        return np.concatenate(
            [
                torch.sigmoid(net(torch.from_numpy(to_input(x[i : i + batch])))[1]).numpy()
                for i in range(0, len(x), batch)
            ]
        )


def validation_score(
    net, val: dict[str, tuple[np.ndarray, np.ndarray]]
) -> tuple[float, dict[str, list[float]]]:
    """Mean over the sets of the mean AUC over their classes with both labels present
    (each set counts the same, however many classes it has); the AUCs per set."""
    aucs: dict[str, list[float]] = {}
    for name, (x, y) in val.items():
        scores = predict_torch(net, x)
        aucs[name] = [
            a for i in range(len(CLASSES)) if (a := metrics.auc(scores[:, i], y[:, i])) is not None
        ]
    means = [float(np.mean(v)) for v in aucs.values() if v]
    return float(np.mean(means)) if means else 0.0, aucs


def train(
    sources: Sources,
    val: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    epochs: int,
    batch: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    init=None,
    teacher=None,
    steps_per_epoch: int | None = None,
    checkpoint: Callable[[Any, int, float], None] | None = None,
    freeze: int = 0,
    log: Callable[[str], None] = lambda m: None,
):
    """Train (from scratch, or from `init`, a network to start from); the network at the
    epoch with the best mean validation AUC over the sets in `val` ({name: (x, y)}).

    `steps_per_epoch`: batches between two validations (default: one pass over the
    synthetic scans); `checkpoint(net, epoch, mean AUC)` is called after each validation
    (to keep the weights of a long run on disk).  `freeze`: the first convolutions kept
    as they are, counting the eight of the features and then the class head (3: the
    costly full-resolution ones, training then takes about a quarter less time per batch;
    9: everything but the scan head, whose class maps then stay exactly as they were).

    `teacher` (a network, e.g. the previous model): on synthetic scans shown in colour the
    class maps are also pulled towards the teacher's (soft targets), so learning grey and
    real scans does not cost what the teacher already knew about dual-energy colour.
    """
    torch = require_torch()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n_synth = len(sources.synth[0])
    mixed = sources.pool is not None or sources.nonscans is not None
    per = sources.per_batch[0] if mixed else batch
    if not mixed:
        sources = Sources(sources.synth, grey_share=sources.grey_share, per_batch=(batch, 0, 0))
    net = init if init is not None else build_net()
    convs = [mod for mod in net.features if isinstance(mod, torch.nn.Conv2d)] + [net.head]
    for conv in convs[:freeze]:
        for p in conv.parameters():
            p.requires_grad_(False)
    opt = torch.optim.AdamW(
        [p for p in net.parameters() if p.requires_grad], lr=lr, weight_decay=1e-4
    )
    steps_per_epoch = steps_per_epoch or n_synth // per
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.15
    )
    best, best_state = -1.0, None
    for epoch in range(epochs):
        net.train()
        t0, total = time.time(), 0.0
        order = np.concatenate(
            [rng.permutation(n_synth) for _ in range(-(-steps_per_epoch * per // n_synth))]
        )
        for b in range(steps_per_epoch):
            idx = np.sort(order[b * per : (b + 1) * per])
            if epoch == 0 and b == 20:
                log(f"20 batches in {time.time() - t0:.0f} s")
            x, y, m, w, scan, colour = sources.batch(rng, idx)
            xb, (mb, wb) = _augment(
                torch,
                torch.from_numpy(to_input(x)),
                [torch.from_numpy(m), torch.from_numpy(w)],
                rng,
            )
            out = net(xb)
            loss = _loss(torch, out, torch.from_numpy(y), mb, wb, torch.from_numpy(scan))
            if teacher is not None and colour.any():
                sel = torch.from_numpy(np.flatnonzero(colour))
                with torch.no_grad():
                    soft = torch.sigmoid(teacher(xb[sel])[0])
                loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(
                    out[0][sel], soft
                )
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        mean, aucs = validation_score(net, val)
        log(
            f"epoch {epoch + 1}/{epochs}: loss {total / steps_per_epoch:.4f}, val AUC "
            + "; ".join(f"{k} " + " ".join(f"{a:.4f}" for a in v) for k, v in aucs.items())
            + f" (mean {mean:.4f}, {time.time() - t0:.0f} s)"
        )
        if mean >= best:
            best = mean
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        if checkpoint is not None:
            checkpoint(net, epoch + 1, mean)
    net.load_state_dict(best_state)
    net.eval()
    return net


# --- calibration ------------------------------------------------------------------------------


def fit_platt(
    logits: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, float]:
    """(a, b) with sigmoid(a * logit + b) the calibrated probability (Platt scaling).

    Fitted by maximum likelihood against Platt's smoothed targets, with a bounded slope so
    a set the network separates perfectly still gives finite, monotone scores.  `weights`:
    how much each sample counts (default 1).
    """
    from scipy.optimize import minimize

    z = np.asarray(logits, np.float64)
    y = np.asarray(labels, np.float64)
    wt = np.ones_like(z) if weights is None else np.asarray(weights, np.float64)
    npos, nneg = (wt * y).sum(), (wt * (1 - y)).sum()
    t = np.where(y > 0, (npos + 1) / (npos + 2), 1 / (nneg + 2))

    def nll(p: np.ndarray) -> tuple[float, np.ndarray]:
        u = p[0] * z + p[1]
        loss = wt * (np.logaddexp(0, u) - t * u)
        g = wt * (1 / (1 + np.exp(-u)) - t)
        return float(loss.sum()), np.array([(g * z).sum(), g.sum()])

    res = minimize(nll, [1.0, 0.0], jac=True, method="L-BFGS-B", bounds=[(0.05, 5.0), (-30, 30)])
    return float(res.x[0]), float(res.x[1])


def calibrate(net, a: Sequence[float], b: Sequence[float]) -> None:
    """Fold per-class Platt scaling into the class head: logit' = a * logit + b, so the
    exported scores and heat maps are calibrated and the ONNX file's hash covers it."""
    torch = require_torch()
    with torch.no_grad():
        at = torch.tensor(a, dtype=net.head.weight.dtype)
        bt = torch.tensor(b, dtype=net.head.weight.dtype)
        net.head.weight.mul_(at.view(-1, 1, 1, 1))
        net.head.bias.mul_(at).add_(bt)


# --- ONNX -------------------------------------------------------------------------------------


def export_onnx(net, path: Path, check: np.ndarray, tol: float = 1e-4) -> float:
    """Write `net` as ONNX; verify onnxruntime against torch on `check` (uint8 inputs).

    Returns the largest absolute difference of the outputs; raises XrayError
    ("export_mismatch") if it is over `tol`.
    """
    torch = require_torch()
    import onnxruntime as ort

    net.eval()
    wrapper = _exportable(net).eval()
    dummy = torch.from_numpy(to_input(check[:2]))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.onnx.export(
        wrapper,
        (dummy,),
        str(tmp),
        dynamo=False,
        opset_version=ONNX_OPSET,
        input_names=["image"],
        output_names=OUTPUTS,
        dynamic_axes={k: {0: "n"} for k in ["image", *OUTPUTS]},
        do_constant_folding=True,
    )
    sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    inp = to_input(check)
    with torch.no_grad():
        want = [t.numpy() for t in wrapper(torch.from_numpy(inp))]
    got = sess.run(OUTPUTS, {"image": inp})
    diff = float(max(np.abs(w - g).max() for w, g in zip(want, got, strict=True)))
    if diff > tol:
        tmp.unlink()
        raise XrayError(
            "export_mismatch",
            f"ONNX and torch outputs differ by {diff:.2e} "
            f"(tolerance {tol:.0e}); the export is broken",
        )
    os.replace(tmp, path)
    return diff


def net_from_onnx(path: Path, *, partial: bool = False, expert: str | None = None):
    """A fused torch network carrying the weights of an exported model (for fine-tuning).

    A routed model (two experts, `build_routed`) comes back routed, or, with `expert`
    ("colour" / "grey"), as that expert alone.  `partial`: the file may lack the scan head
    (models before it had one); the head then keeps its fresh initial weights.
    """
    torch = require_torch()
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    if any(k.startswith("net.colour.") for k in init):
        subs = {
            name: {
                k[len(f"net.{name}.") :]: v for k, v in init.items() if k.startswith(f"net.{name}.")
            }
            for name in ("colour", "grey")
        }
        nets = {}
        for name, other in (("colour", "grey"), ("grey", "colour")):
            # the exporter keeps one copy of a tensor both experts hold identically (layers
            # one expert took unchanged from the other): a weight missing here is the other's
            sub = {**{k: v for k, v in subs[other].items() if k not in subs[name]}, **subs[name]}
            nets[name] = _load_expert(path, sub, partial)
        if expert is not None:
            return nets[expert]
        net = build_routed(nets["colour"], nets["grey"])
        net.eval()
        return net
    if expert == "colour" and "net.scan.weight" in init:
        raise XrayError("model_invalid", f"{path} is not a routed model: it has no colour expert")
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    net = build_net(fused=True)
    targets = [mod for mod in net.modules() if isinstance(mod, torch.nn.Conv2d)]
    if len(convs) != len(targets) and not (partial and len(convs) == len(targets) - 1):
        raise XrayError(
            "model_invalid",
            f"{path} has {len(convs)} convolutions; this "
            f"network has {len(targets)}: not a model of this kind",
        )
    with torch.no_grad():
        for node, conv in zip(convs, targets[: len(convs)], strict=True):
            w = init[node.input[1]]
            if tuple(w.shape) != tuple(conv.weight.shape):
                raise XrayError(
                    "model_invalid",
                    f"{path}: weight {node.input[1]} has shape "
                    f"{w.shape}, expected {tuple(conv.weight.shape)}",
                )
            conv.weight.copy_(torch.from_numpy(w.copy()))
            conv.bias.copy_(torch.from_numpy(init[node.input[2]].copy()))
    net.eval()
    return net


def _load_expert(path: Path, weights: dict[str, np.ndarray], partial: bool):
    """A fused `build_net` network from its parameters by name ("features.0.weight", ...)."""
    torch = require_torch()
    net = build_net(fused=True)
    state = net.state_dict()
    missing = [k for k in state if k not in weights and not (partial and k.startswith("scan."))]
    if missing:
        raise XrayError(
            "model_invalid", f"{path} lacks {', '.join(missing[:3])}: not a model of this kind"
        )
    with torch.no_grad():
        for k, v in state.items():
            if k in weights:
                if tuple(weights[k].shape) != tuple(v.shape):
                    raise XrayError(
                        "model_invalid",
                        f"{path}: weight {k} has shape {weights[k].shape}, expected {tuple(v.shape)}",
                    )
                v.copy_(torch.from_numpy(weights[k].copy()))
    net.eval()
    return net


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def onnx_outputs(path: Path, x: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(scores (N, C), scan (N,)) of a letterboxed uint8 set with onnxruntime."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    scores, scan = [], []
    for i in range(0, len(x), batch):
        out = dict(zip(names, sess.run(None, {"image": to_input(x[i : i + batch])}), strict=True))
        scores.append(out["scores"])
        scan.append(out["scan"][:, 0] if "scan" in out else np.ones(len(out["scores"])))
    return np.concatenate(scores), np.concatenate(scan)


def onnx_scores(path: Path, x: np.ndarray, batch: int = 64) -> np.ndarray:
    return onnx_outputs(path, x, batch)[0]


def reference_outputs(path: Path) -> dict[str, list[float]]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    scores, scan = sess.run(["scores", "scan"], {"image": reference_input()})
    return {
        "scores": [round(float(v), 6) for v in scores[0]],
        "scan": round(float(scan[0, 0]), 6),
    }


def thresholds(scores: np.ndarray, labels: np.ndarray, rate: float) -> dict[str, float]:
    """Alert thresholds per class: the lowest 4-place value t such that alarming on a
    (4-place) score >= t keeps false alarms <= `rate` on this set."""
    return {
        c: round(
            math.floor(metrics.threshold_at_false_alarm(scores[:, i], labels[:, i], rate) * 1e4)
            / 1e4
            + 1e-4,
            4,
        )
        for i, c in enumerate(CLASSES)
    }


def write_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    path = folder / "manifest.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


# --- fine-tuning on officers' feedback ------------------------------------------------------


def finetune(
    base_onnx: Path,
    samples: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    out_file: Path,
    *,
    steps: int = 150,
    batch: int = 16,
    lr: float = 2e-4,
    replay: int = 256,
    replay_seed: int = 1_000_003,
    seed: int = 0,
    log: Callable[[str], None] = lambda m: None,
) -> dict[str, Any]:
    """Fine-tune the model in `base_onnx` on officer labels; write the new ONNX to `out_file`.

    `samples`: (letterboxed uint8 input, labels (C,), known (C,)) -- `known` marks the classes
    an officer confirmed (label 1) or rejected (label 0); the others do not count.  Each
    step mixes feedback with `replay` synthetic scans (and as many pictures that are not
    scans, for the scan head) so the model does not forget what it knew.  Returns
    {"steps", "feedback", "replay", "seconds", "export_diff"}.
    """
    torch = require_torch()
    if not samples:
        raise XrayError(
            "no_feedback",
            "no confirmed or rejected alerts to learn from: officers "
            "give feedback with `smartcustoms xray feedback`",
        )
    t0 = time.time()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = net_from_onnx(base_onnx)
    fx = np.stack([s[0] for s in samples])
    fy = np.stack([s[1] for s in samples]).astype(np.float32)
    fk = np.stack([s[2] for s in samples]).astype(np.float32)
    # the fused network must compute what the base model does before we change it
    diff = np.abs(predict_torch(net, fx[:8]) - onnx_scores(base_onnx, fx[:8])).max()
    if diff > 1e-4:
        raise XrayError(
            "model_invalid",
            f"{base_onnx} does not load back into the network (outputs differ by {diff:.2e})",
        )
    sources = None
    if replay:
        sources = Sources(
            render_set(replay_seed, replay, workers=1),
            nonscans=nonscan_set(replay_seed, max(8, replay // 4), []),
            per_batch=(max(1, batch // 2), 0, max(1, batch // 8)),
        )
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    half = max(1, batch // 2)
    for step in range(steps):
        net.train()
        idx = rng.integers(0, len(fx), half)
        loss = _loss(
            torch,
            net(torch.from_numpy(to_input(fx[idx]))),
            torch.from_numpy(fy[idx]),
            known=torch.from_numpy(fk[idx]),
        )
        if sources is not None:
            j = np.sort(rng.choice(len(sources.synth[0]), sources.per_batch[0], replace=False))
            x, y, m, w, scan, _ = sources.batch(rng, j)
            xb, (mb, wb) = _augment(
                torch,
                torch.from_numpy(to_input(x)),
                [torch.from_numpy(m), torch.from_numpy(w)],
                rng,
            )
            loss = loss + _loss(torch, net(xb), torch.from_numpy(y), mb, wb, torch.from_numpy(scan))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 50 == 0:
            log(f"fine-tune step {step + 1}/{steps}: loss {float(loss.detach()):.4f}")
    check = np.concatenate([fx[:16]] + ([sources.synth[0][:16]] if sources else []))
    export_diff = export_onnx(net, out_file, check)
    return {
        "steps": steps,
        "feedback": len(samples),
        "replay": replay,
        "seconds": round(time.time() - t0, 1),
        "export_diff": export_diff,
    }


def stderr_log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
