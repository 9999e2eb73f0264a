"""Refitting one expert's class head on its frozen features (`refit_head`).

Why: the grey expert learnt real threats mostly through composite bags, and its class head
ranks plain real crops worse than its features allow (out of fold on the real training
split, firearm AUC 0.974 against 0.988 for a refitted head).  A head refit is cheap and
leaves everything the gate depends on -- the convolutions and the scan head -- as it was.
But a head fitted on scans alone judges more pictures that are not scans as threats, so the
refit also sees, as "nothing anywhere", the training non-scans that the expert's own scan
head lets through (`passing_nonscans`): only those ever reach the class scores.

The image score is the maximum of the class map, as in training (`fit._loss`), so a refit
head keeps the export of the network: only the class head's weights change.  The head may
have a hidden layer beside its linear one (`build_net(hidden=...)`, `widen_head`): on these
features a linear head that finds more real guns also fires on more pictures that are not
scans; with a hidden layer, out of fold on the real training split, fewer training non-scans
outscore weak guns (13.8 % -> 9.8 %) but firearm AUC gained only 0.002, so 2.2.0's head
stayed linear (MODEL_CARD).  A whole-picture term (`build_net(context=True)`) is what
2.5.0's head gained instead: out of fold, firearm AUC 0.973 -> 0.986 (`build_net`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oracles.xray.errors import XrayError
from oracles.xray.preprocess import to_input
from oracles.xray.train.fit import predict_scan
from oracles.xray.train.net import has_context, require_torch


@dataclass(frozen=True)
class HeadFit:
    """How the head is refitted (full-batch Adam on cached cell features)."""

    steps: int = 150
    lr: float = 5e-3
    weight_decay: float = 1e-3
    negative_weight: float = 3.0  # each passing non-scan counts this many scans
    # None: every grid cell of every picture; k: per class, each picture's k cells where
    # the head before the refit is highest -- a class's image score (the max) sits there at
    # the start and mostly stays there, and a hidden head fitted on all 1,024 cells of
    # 6,000 pictures takes hours on 2 cores
    cells: int | None = None


def cell_features(net, x: np.ndarray, batch: int = 64):
    """(N, channels, cells, 1) float tensor: the expert's last feature map of a letterboxed
    uint8 set, its grid cells in one column (a map the class head takes as it is)."""
    torch = require_torch()
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            f = net.features(torch.from_numpy(to_input(x[i : i + batch])))
            out.append(f.reshape(len(f), f.shape[1], -1, 1))
    return torch.cat(out)


def passing_nonscans(net, x: np.ndarray, threshold: float) -> np.ndarray:
    """Bool mask of the pictures in `x` (letterboxed uint8) whose scan-likeness under `net`'s
    own scan head is at least `threshold`: the non-scans its class scores would judge."""
    return predict_scan(net, x) >= threshold


def refit_head(
    net, scans: np.ndarray, labels: np.ndarray, negatives: np.ndarray, fit: HeadFit = HeadFit()
) -> dict[str, float]:
    """Refit `net`'s class head -- every layer of it (`class_head()`), a hidden one too --
    in place on `scans` (letterboxed uint8) with image labels `labels` (N, C) and
    `negatives` (pictures that must score nothing anywhere); starts from the current head.
    Returns the first and last training loss."""
    return refit_head_on(net, cell_features(net, scans), labels, cell_features(net, negatives), fit)


def refit_head_on(
    net, scan_cells, labels: np.ndarray, negative_cells, fit: HeadFit = HeadFit()
) -> dict[str, float]:
    """`refit_head` on features already taken (`cell_features`): several fits over the same
    pictures (cross-validation, variants) then pay for the convolutions once."""
    torch = require_torch()
    if fit.cells is not None and has_context(net):
        raise XrayError(
            "model_invalid",
            "a class head with a whole-picture term is refitted on every cell (cells=None): "
            "its term is the mean over all of them",
        )
    feats = torch.cat([scan_cells, negative_cells])
    if fit.cells is not None and fit.cells * labels.shape[1] < feats.shape[2]:
        feats = _top_cells(net, feats, fit.cells)
    target = torch.from_numpy(
        np.concatenate([labels, np.zeros((len(negative_cells), labels.shape[1]))]).astype(
            np.float32
        )
    )
    weight = torch.cat(
        [
            torch.ones(len(scan_cells)),
            torch.full((len(negative_cells),), float(fit.negative_weight)),
        ]
    )
    weight = weight / weight.sum()
    params = [p for layer in net.class_head() for p in layer.parameters()]
    opt = torch.optim.Adam(params, lr=fit.lr, weight_decay=fit.weight_decay)
    losses = []
    for _ in range(fit.steps):
        logits = torch.amax(net.classify(feats), dim=(2, 3))
        per = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, target, reduction="none"
        ).mean(1)
        loss = (per * weight).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    for p in params:
        p.grad = None
    return {"first_loss": round(losses[0], 6), "last_loss": round(losses[-1], 6)}


def _top_cells(net, feats, k: int, chunk: int = 256):
    """`feats` (N, channels, cells, 1) cut to each picture's k cells of highest logit per
    class under `net`'s current head (k x classes columns; a cell high for two classes comes
    twice, which a max does not mind)."""
    torch = require_torch()
    out = []
    with torch.no_grad():
        for i in range(0, len(feats), chunk):
            f = feats[i : i + chunk]
            top = torch.topk(net.classify(f)[..., 0], k, dim=2).indices.flatten(1)
            out.append(torch.gather(f, 2, top[:, None, :, None].expand(-1, f.shape[1], -1, 1)))
    return torch.cat(out)
