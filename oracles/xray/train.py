"""Training, export and fine-tuning of the X-ray network (PyTorch on CPU, the `train` extra).

The network is a small fully convolutional net: eight 3x3 convolutions (four of stride 2,
one dilated for context) and a 1x1 head give one logit per class on a 16 x 16 grid over
the 256-px letterboxed scan.  A class's image score is the maximum of its map, so a score
always points at a place, and the map is the heat map boxes are read from.  Training sees
two losses: the image labels (binary cross-entropy on the max) and the threat pixels the
generator knows (cross-entropy per cell), which teaches the map to sit on the object.

Nothing here is needed at run time: the exported ONNX file is all inference uses.
Fine-tuning reads the weights back from an ONNX file (batch-norm already folded into the
convolutions), so a retrain starts from exactly the model in service.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from oracles.xray import metrics, synth
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
    """The network; `fused=True` has no batch-norm (biases instead), the shape of the ONNX."""
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

        def forward(self, x):
            return self.head(self.features(x))  # (N, C, GRID, GRID) logits

    return XrayNet()


def _exportable(net):
    torch = require_torch()

    class Exported(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, image):
            heat = torch.sigmoid(self.net(image))
            return torch.amax(heat, dim=(2, 3)), heat

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


def render_one(args: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(seed, index) -> (input uint8 HWC, labels (C,), cell targets (C, GRID, GRID))."""
    seed, index = args
    s = synth.scan(seed, index, masks=True)
    x, lb = letterbox(s.image)
    cells = np.zeros((len(CLASSES), GRID, GRID), np.float32)
    assert s.masks is not None
    for c in range(len(CLASSES)):
        if s.masks[c].any():
            cells[c] = np.clip(_cells(s.masks[c], lb.scale, (lb.pad_x, lb.pad_y)) * 4, 0, 1)
    return x, s.labels, cells


def render_set(
    seed: int,
    n: int,
    workers: int = 2,
    log: Callable[[str], None] = lambda m: None,
    cache: Path | None = None,
) -> tuple[np.ndarray, ...]:
    """Scans 0..n-1 of data set `seed`, letterboxed: (X (N,S,S,3) uint8, Y (N,C), M).

    With `cache`, the set is kept as `<cache>/xray-<seed>-<n>.npz` and read back next time.
    """
    if cache is not None:
        path = Path(cache) / f"xray-{seed}-{n}-{INPUT_SIZE}.npz"
        if path.exists():
            with np.load(path) as z:
                log(f"read {n} scans of seed {seed} from {path}")
                return z["x"], z["y"], z["m"]
        out = render_set(seed, n, workers, log)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, x=out[0], y=out[1], m=out[2])
        return out
    t0 = time.time()
    x = np.zeros((n, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    y = np.zeros((n, len(CLASSES)), np.float32)
    m = np.zeros((n, len(CLASSES), GRID, GRID), np.float32)
    jobs = [(seed, i) for i in range(n)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = pool.map(render_one, jobs, chunksize=32)
            for i, (xi, yi, mi) in enumerate(results):
                x[i], y[i], m[i] = xi, yi, mi
    else:
        for i, job in enumerate(jobs):
            x[i], y[i], m[i] = render_one(job)
    log(f"rendered {n} scans of seed {seed} in {time.time() - t0:.0f} s")
    return x, y, m


# --- training ---------------------------------------------------------------------------------


def _augment(torch, xb, mb, rng: np.random.Generator):
    """The same random rotation by 90 degrees / mirror for a batch and its cell targets."""
    k = int(rng.integers(0, 4))
    if k:
        xb, mb = torch.rot90(xb, k, (2, 3)), torch.rot90(mb, k, (2, 3))
    if rng.random() < 0.5:
        xb, mb = torch.flip(xb, (3,)), torch.flip(mb, (3,))
    return xb, mb


def _loss(torch, logits, y, m, known=None):
    f = torch.nn.functional
    image = torch.amax(logits, dim=(2, 3))
    li = f.binary_cross_entropy_with_logits(image, y, reduction="none")
    if known is not None:  # fine-tuning: only the classes an officer decided on
        return (li * known).sum() / known.sum().clamp(min=1)
    pos_weight = torch.full((len(CLASSES), 1, 1), 3.0)
    ld = f.binary_cross_entropy_with_logits(logits, m, pos_weight=pos_weight)
    return li.mean() + 2 * ld


def predict_torch(net, x: np.ndarray, batch: int = 128) -> np.ndarray:
    """Image scores (N, C) of a letterboxed uint8 set, with the torch network."""
    torch = require_torch()
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = net(torch.from_numpy(to_input(x[i : i + batch])))
            out.append(torch.sigmoid(torch.amax(logits, dim=(2, 3))).numpy())
    return np.concatenate(out)


def train(
    data: tuple[np.ndarray, ...],
    val: tuple[np.ndarray, ...],
    *,
    epochs: int,
    batch: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    log: Callable[[str], None] = lambda m: None,
):
    """Train from scratch; the network at the epoch with the best mean validation AUC."""
    torch = require_torch()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x, y, m = data
    net = build_net()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (len(x) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    best, best_state = -1.0, None
    for epoch in range(epochs):
        net.train()
        t0, total = time.time(), 0.0
        order = rng.permutation(len(x))
        for b in range(len(x) // batch):
            idx = np.sort(order[b * batch : (b + 1) * batch])
            xb = torch.from_numpy(to_input(x[idx]))
            mb = torch.from_numpy(m[idx])
            xb, mb = _augment(torch, xb, mb, rng)
            loss = _loss(torch, net(xb), torch.from_numpy(y[idx]), mb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        scores = predict_torch(net, val[0])
        aucs = [metrics.auc(scores[:, i], val[1][:, i]) or 0.0 for i in range(len(CLASSES))]
        mean = float(np.mean(aucs))
        log(
            f"epoch {epoch + 1}/{epochs}: loss {total / (len(x) // batch):.4f}, val AUC "
            + " ".join(f"{c} {a:.4f}" for c, a in zip(CLASSES, aucs, strict=True))
            + f" ({time.time() - t0:.0f} s)"
        )
        if mean >= best:
            best = mean
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    net.eval()
    return net


# --- ONNX -------------------------------------------------------------------------------------


def export_onnx(net, path: Path, check: np.ndarray, tol: float = 1e-4) -> float:
    """Write `net` as ONNX; verify onnxruntime against torch on `check` (uint8 inputs).

    Returns the largest absolute difference of scores and heat maps; raises XrayError
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
        output_names=["scores", "heat"],
        dynamic_axes={"image": {0: "n"}, "scores": {0: "n"}, "heat": {0: "n"}},
        do_constant_folding=True,
    )
    sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    inp = to_input(check)
    with torch.no_grad():
        ts, th = (t.numpy() for t in wrapper(torch.from_numpy(inp)))
    os_, oh = sess.run(None, {"image": inp})
    diff = float(max(np.abs(ts - os_).max(), np.abs(th - oh).max()))
    if diff > tol:
        tmp.unlink()
        raise XrayError(
            "export_mismatch",
            f"ONNX and torch outputs differ by {diff:.2e} "
            f"(tolerance {tol:.0e}); the export is broken",
        )
    os.replace(tmp, path)
    return diff


def net_from_onnx(path: Path):
    """A fused torch network carrying the weights of an exported model (for fine-tuning)."""
    torch = require_torch()
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    net = build_net(fused=True)
    targets = [mod for mod in net.modules() if isinstance(mod, torch.nn.Conv2d)]
    if len(convs) != len(targets):
        raise XrayError(
            "model_invalid",
            f"{path} has {len(convs)} convolutions; this "
            f"network has {len(targets)}: not a model of this kind",
        )
    with torch.no_grad():
        for node, conv in zip(convs, targets, strict=True):
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


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def onnx_scores(path: Path, x: np.ndarray, batch: int = 64) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate(
        [
            sess.run(["scores"], {"image": to_input(x[i : i + batch])})[0]
            for i in range(0, len(x), batch)
        ]
    )


def reference_outputs(path: Path) -> list[float]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [round(float(v), 6) for v in sess.run(["scores"], {"image": reference_input()})[0][0]]


def thresholds(scores: np.ndarray, labels: np.ndarray, rate: float) -> dict[str, float]:
    """Alert thresholds per class: the validation score that keeps false alarms <= `rate`."""
    return {
        c: round(metrics.threshold_at_false_alarm(scores[:, i], labels[:, i], rate), 4)
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
    step mixes feedback with `replay` synthetic scans so the model does not forget what it
    knew.  Returns {"steps", "feedback", "replay", "seconds", "export_diff"}.
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
    rx, ry, rm = render_set(replay_seed, replay, workers=1) if replay else (None, None, None)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    half = max(1, batch // 2)
    for step in range(steps):
        net.train()
        idx = rng.integers(0, len(fx), half)
        loss = _loss(
            torch,
            net(torch.from_numpy(to_input(fx[idx]))),
            torch.from_numpy(fy[idx]),
            None,
            torch.from_numpy(fk[idx]),
        )
        if rx is not None:
            j = rng.integers(0, len(rx), batch - half)
            xb, mb = _augment(
                torch, torch.from_numpy(to_input(rx[j])), torch.from_numpy(rm[j]), rng
            )
            loss = loss + _loss(torch, net(xb), torch.from_numpy(ry[j]), mb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 50 == 0:
            log(f"fine-tune step {step + 1}/{steps}: loss {float(loss.detach()):.4f}")
    check = np.concatenate([fx[:16]] + ([rx[:16]] if rx is not None else []))
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
