"""Audit selection metrics: what share of the top-ranked declarations were frauds.

An audit team can check a fixed share of declarations; what matters is how many of those
it picks are frauds (precision at k %), how many of all frauds it catches (recall at k %)
and how much duty it recovers (revenue at k %, as a share of all revenue recovered).
Ranks are by score, ties broken by the row order given (stable), so figures repeat exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def top_k(n: int, pct: float) -> int:
    """How many rows `pct` % of `n` selects: at least one, rounded up."""
    return max(1, math.ceil(n * pct / 100.0))


def selection_metrics(
    y: np.ndarray, score: np.ndarray, revenue: np.ndarray | None = None
) -> dict[str, Any]:
    """{"n", "frauds", "fraud_rate", "precision_at_1pct", "precision_at_5pct",
    "recall_at_5pct", "revenue_at_5pct", "auc", "average_precision"}; AUC is None for one
    class, revenue figures None without a revenue column."""
    y = np.asarray(y, dtype="int64")
    score = np.asarray(score, dtype="float64")
    n = len(y)
    order = np.argsort(-score, kind="stable")
    frauds = int(y.sum())
    out: dict[str, Any] = {
        "n": n,
        "frauds": frauds,
        "fraud_rate": round(frauds / n, 6) if n else 0.0,
    }
    for pct in (1, 5, 10):
        k = top_k(n, pct)
        out[f"precision_at_{pct}pct"] = round(float(y[order[:k]].mean()), 6)
    k5 = top_k(n, 5)
    out["recall_at_5pct"] = round(float(y[order[:k5]].sum() / frauds), 6) if frauds else None
    if revenue is not None and np.nansum(revenue) > 0:
        rev = np.nan_to_num(np.asarray(revenue, dtype="float64"))
        out["revenue_at_5pct"] = round(float(rev[order[:k5]].sum() / rev.sum()), 6)
        out["revenue_at_5pct_amount"] = round(float(rev[order[:k5]].sum()), 2)
        out["revenue_total"] = round(float(rev.sum()), 2)
    else:
        out["revenue_at_5pct"] = None
    if 0 < frauds < n:
        out["auc"] = round(float(roc_auc_score(y, score)), 6)
        out["average_precision"] = round(float(average_precision_score(y, score)), 6)
    else:
        out["auc"] = None
        out["average_precision"] = None
    return out
