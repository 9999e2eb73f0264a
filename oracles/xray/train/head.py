"""Refitting one expert's class head on its frozen features (`refit_head`).

Why: the grey expert learnt real threats mostly through composite bags, and its class head
ranks plain real crops worse than its features allow (out of fold on the real training
split, firearm AUC 0.974 against 0.988 for a refitted head).  A head refit is cheap and
leaves everything the gate depends on -- the convolutions and the scan head -- as it was.
But a head fitted on scans alone judges more pictures that are not scans as threats, so the
refit also sees, as "nothing anywhere", the training non-scans that the expert's own scan
head lets through (`passing_nonscans`): only those ever reach the class scores.

The image score is the maximum of the class map, as in training (`fit._loss`), so a refit
head keeps the shape and the export of the network: only `head.weight` and `head.bias`
change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oracles.xray.preprocess import to_input
from oracles.xray.train.fit import predict_scan
from oracles.xray.train.net import require_torch


@dataclass(frozen=True)
class HeadFit:
    """How the head is refitted (full-batch Adam on cached cell features)."""

    steps: int = 150
    lr: float = 5e-3
    weight_decay: float = 1e-3
    negative_weight: float = 3.0  # each passing non-scan counts this many scans


def cell_features(net, x: np.ndarray, batch: int = 64):
    """(N, cells, channels) float tensor: the expert's last feature map of a letterboxed
    uint8 set, one row per grid cell."""
    torch = require_torch()
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            f = net.features(torch.from_numpy(to_input(x[i : i + batch])))
            out.append(f.permute(0, 2, 3, 1).reshape(len(f), -1, f.shape[1]))
    return torch.cat(out)


def passing_nonscans(net, x: np.ndarray, threshold: float) -> np.ndarray:
    """Bool mask of the pictures in `x` (letterboxed uint8) whose scan-likeness under `net`'s
    own scan head is at least `threshold`: the non-scans its class scores would judge."""
    return predict_scan(net, x) >= threshold


def refit_head(
    net, scans: np.ndarray, labels: np.ndarray, negatives: np.ndarray, fit: HeadFit = HeadFit()
) -> dict[str, float]:
    """Refit `net`'s class head in place on `scans` (letterboxed uint8) with image labels
    `labels` (N, C) and `negatives` (pictures that must score nothing anywhere); starts from
    the current head.  Returns the first and last training loss."""
    torch = require_torch()
    feats = torch.cat([cell_features(net, scans), cell_features(net, negatives)])
    target = torch.from_numpy(
        np.concatenate([labels, np.zeros((len(negatives), labels.shape[1]))]).astype(np.float32)
    )
    weight = torch.cat(
        [torch.ones(len(scans)), torch.full((len(negatives),), float(fit.negative_weight))]
    )
    weight = weight / weight.sum()
    w = net.head.weight.detach().clone().requires_grad_(True)
    b = net.head.bias.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([w, b], lr=fit.lr, weight_decay=fit.weight_decay)
    losses = []
    for _ in range(fit.steps):
        logits = torch.amax(feats @ w[:, :, 0, 0].T + b, dim=1)
        per = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, target, reduction="none"
        ).mean(1)
        loss = (per * weight).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        net.head.weight.copy_(w.detach())
        net.head.bias.copy_(b.detach())
    return {"first_loss": round(losses[0], 6), "last_loss": round(losses[-1], 6)}
