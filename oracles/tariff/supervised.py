"""The supervised half of the tariff model: a small fastText-style network over text features.

Why it exists next to retrieval: retrieval asks "which subheading's phrasings does this text
look like?", so every word counts by its rarity.  Real listings bury the goods among
keywords ("for iPhone 15 Pro Max", "Gift for Women", "2024 New"), and a parcel line is
three abbreviations.  A network trained on ~100,000 labelled phrasings learns which words
*decide* a code (case -> 3926/4202, not 8517) and which are noise, which retrieval cannot.

Shape: the sparse TF-IDF row of a text (the same features as retrieval, `text.py`) times an
embedding matrix gives a dense vector (sum of feature embeddings weighted by TF-IDF), layer
normalised; three linear heads give logits for the subheading (HS6), heading (HS4) and
chapter (HS2).  A subheading's log-probability adds its heading's and chapter's, half and
quarter weighted, so a description the net has not seen still lands in the right heading.

Inference is numpy only (the embedding rows a text uses, one dense product per head): the
matrices ship as `.npy` arrays, the embedding in int8 with one scale per row (4x smaller
than float32; the error is far below what moves a ranking).  Training needs PyTorch
(`pip install '.[train]'`): `fit` is deterministic for a seed and thread count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import sparse

HEAD_WEIGHTS = (1.0, 0.5, 0.25)  # HS6, HS4, HS2 log-probabilities in a subheading's score
ARRAYS = ("emb_q", "emb_scale", "w6", "b6", "w4", "b4", "w2", "b2")


@dataclass(frozen=True)
class NetConfig:
    """Training settings (recorded in the model's metadata)."""

    dim: int = 96  # 160 measured the same on dev (HS6 65.7 %) at twice the artefact size
    epochs: int = 8
    batch: int = 512
    lr: float = 3e-3
    feature_dropout: float = 0.2
    label_smoothing: float = 0.05
    ruling_weight: float = 3.0  # a real ruling counts this many times a written phrase
    seed: int = 20260601
    threads: int = 2


class NeedsTorch(RuntimeError):
    """Training the network needs PyTorch, which inference does not."""


@dataclass
class Net:
    """A trained network: int8 embedding with row scales, three heads, the class maps."""

    emb_q: np.ndarray  # (V, D) int8
    emb_scale: np.ndarray  # (V,) float32
    w6: np.ndarray  # (D, C6)
    b6: np.ndarray
    w4: np.ndarray  # (D, C4)
    b4: np.ndarray
    w2: np.ndarray  # (D, C2)
    b2: np.ndarray
    head_of: np.ndarray  # (C6,) heading index of each subheading
    chapter_of: np.ndarray  # (C6,) chapter index of each subheading

    def log_probs(self, x: sparse.csr_matrix) -> np.ndarray:
        """(N, C6) combined log-probabilities of each subheading for TF-IDF rows `x`."""
        out = np.empty((x.shape[0], self.w6.shape[1]), dtype=np.float32)
        for i in range(x.shape[0]):
            s, e = x.indptr[i], x.indptr[i + 1]
            cols, vals = x.indices[s:e], x.data[s:e].astype(np.float32)
            rows = self.emb_q[cols].astype(np.float32) * self.emb_scale[cols, None]
            h = vals @ rows if len(cols) else np.zeros(self.w6.shape[0], dtype=np.float32)
            h = (h - h.mean()) / np.sqrt(h.var() + 1e-5)
            out[i] = (
                HEAD_WEIGHTS[0] * _log_softmax(h @ self.w6 + self.b6)
                + HEAD_WEIGHTS[1] * _log_softmax(h @ self.w4 + self.b4)[self.head_of]
                + HEAD_WEIGHTS[2] * _log_softmax(h @ self.w2 + self.b2)[self.chapter_of]
            )
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        out = {f"net_{k}": getattr(self, k) for k in ARRAYS}
        out["net_w6"] = self.w6.astype(np.float16)
        out["net_w4"] = self.w4.astype(np.float16)
        out["net_w2"] = self.w2.astype(np.float16)
        return out

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], head_of: np.ndarray, chapter_of: np.ndarray
    ) -> Net:
        got = {k: arrays[f"net_{k}"] for k in ARRAYS}
        for k in ("w6", "w4", "w2", "b6", "b4", "b2", "emb_scale"):
            got[k] = got[k].astype(np.float32)
        return cls(**got, head_of=head_of, chapter_of=chapter_of)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


def quantize_rows(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 matrix, float32 scale per row) with m ~= q * scale[:, None]."""
    scale = np.abs(m).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.round(m / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def fit(
    x: sparse.csr_matrix,
    y6: Sequence[int],
    head_of: np.ndarray,
    chapter_of: np.ndarray,
    weights: Sequence[float],
    config: NetConfig,
    log: Callable[[str], None] = lambda _m: None,
) -> Net:
    """Train on TF-IDF rows `x` with subheading labels `y6` (indices into the class list).

    `head_of` / `chapter_of` map each subheading to its heading / chapter index; `weights`
    is each row's weight in the loss.  Raises NeedsTorch when PyTorch is not installed.
    """
    try:
        import torch
    except ImportError:
        raise NeedsTorch(
            "training the tariff network needs PyTorch (CPU is enough): "
            "pip install '.[train]'; inference does not"
        ) from None
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    n, v = x.shape
    c6, c4, c2 = len(head_of), int(head_of.max()) + 1, int(chapter_of.max()) + 1
    x = sparse.csr_matrix(x, dtype=np.float32)
    y6_t = torch.as_tensor(np.asarray(y6), dtype=torch.long)
    y4_t = torch.as_tensor(head_of[np.asarray(y6)], dtype=torch.long)
    y2_t = torch.as_tensor(chapter_of[np.asarray(y6)], dtype=torch.long)
    w_t = torch.as_tensor(np.asarray(weights, dtype=np.float32))
    emb = torch.nn.EmbeddingBag(v, config.dim, mode="sum", sparse=True)
    torch.nn.init.normal_(emb.weight, 0.0, 0.05)
    linears = [torch.nn.Linear(config.dim, c) for c in (c6, c4, c2)]
    heads = torch.nn.ModuleList(linears)
    steps = config.epochs * max(1, n // config.batch)
    opt = torch.optim.Adam(heads.parameters(), lr=config.lr)
    opt_e = torch.optim.SparseAdam(list(emb.parameters()), lr=config.lr)
    scheds = [
        torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps),
        torch.optim.lr_scheduler.OneCycleLR(
            opt_e, max_lr=config.lr, total_steps=steps, cycle_momentum=False
        ),
    ]
    ce = torch.nn.functional.cross_entropy
    t0 = time.monotonic()
    for epoch in range(config.epochs):
        perm = np.random.RandomState(config.seed + epoch).permutation(n)
        total = 0.0
        for s in range(max(1, n // config.batch)):
            rows = perm[s * config.batch : (s + 1) * config.batch]
            sub = x[rows]
            wts = torch.from_numpy(sub.data.copy())
            keep = torch.rand(len(wts)) >= config.feature_dropout
            h = emb(
                torch.from_numpy(sub.indices.astype(np.int64)),
                torch.from_numpy(sub.indptr[:-1].astype(np.int64)),
                per_sample_weights=wts * keep,
            )
            h = torch.nn.functional.layer_norm(h, (config.dim,))
            r = torch.from_numpy(rows)
            wr = w_t[r]
            loss = sum(
                (
                    hw * (ce(head(h), y[r], reduction="none", label_smoothing=ls) * wr).mean()
                    for hw, head, y, ls in zip(
                        HEAD_WEIGHTS,
                        linears,
                        (y6_t, y4_t, y2_t),
                        (config.label_smoothing, 0.0, 0.0),
                        strict=True,
                    )
                ),
                torch.zeros(()),  # a tensor start (0 + loss is the loss, bit for bit)
            )
            opt.zero_grad()
            opt_e.zero_grad()
            loss.backward()
            opt.step()
            opt_e.step()
            for sch in scheds:
                sch.step()
            total += float(loss.detach())
        log(
            f"network epoch {epoch + 1}/{config.epochs}: loss {total / max(1, n // config.batch):.3f}"
            f" ({time.monotonic() - t0:.0f} s)"
        )
    with torch.no_grad():
        q, scale = quantize_rows(emb.weight.numpy())
        w = [(hd.weight.numpy().T.copy(), hd.bias.numpy().copy()) for hd in linears]
    net = Net(q, scale, w[0][0], w[0][1], w[1][0], w[1][1], w[2][0], w[2][1], head_of, chapter_of)
    return Net.from_arrays(net.arrays(), head_of, chapter_of)  # the stored (float16) heads


def config_json(config: NetConfig) -> dict[str, Any]:
    return asdict(config)


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True
