"""The training loop (`train`), fine-tuning on officers' feedback (`finetune`), predictions.

Losses: image labels on the max of each class map, the threat cells where they are known,
and scan / not a scan on the second head; batches are turned by 90 degrees and mirrored.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from oracles.xray import metrics
from oracles.xray.errors import XrayError
from oracles.xray.preprocess import to_input
from oracles.xray.synth import CLASSES
from oracles.xray.train.data import Sources, nonscan_set, render_set
from oracles.xray.train.export import export_onnx, net_from_onnx, onnx_scores
from oracles.xray.train.net import build_net, require_torch


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
    # in order: each convolution of the features, then the class head (all its layers)
    groups = [[mod] for mod in net.features if isinstance(mod, torch.nn.Conv2d)]
    for group in [*groups, net.class_head()][:freeze]:
        for p in (p for mod in group for p in mod.parameters()):
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
