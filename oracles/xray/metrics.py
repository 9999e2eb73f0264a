"""Detection quality figures: ROC AUC and recall at a fixed false-alarm rate, per class.

Why these: an officer's queue has room for a known share of false alarms, so the useful
question is "at 5 % false alarms on clean bags, what share of firearms is caught?"; AUC
summarises the ranking over every threshold.  Both are computed exactly (ties counted as
half in the AUC, so a constant score gets 0.5, never a flattering number).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata


def auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """ROC AUC (Mann-Whitney U); None when only one class is present."""
    labels = np.asarray(labels).astype(bool)
    npos, nneg = int(labels.sum()), int((~labels).sum())
    if npos == 0 or nneg == 0:
        return None
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[labels].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def threshold_at_false_alarm(scores: np.ndarray, labels: np.ndarray, rate: float) -> float:
    """The lowest threshold `t` (alarm when score > t) whose false-alarm rate is <= `rate`."""
    neg = np.sort(np.asarray(scores, dtype=np.float64)[~np.asarray(labels).astype(bool)])[::-1]
    if neg.size == 0:
        return 0.0
    k = math.floor(rate * neg.size + 1e-9)  # negatives allowed above the threshold
    return float(neg[k]) if k < neg.size else float(neg[-1]) - 1e-12


def recall_at_false_alarm(
    scores: np.ndarray, labels: np.ndarray, rate: float = 0.05
) -> float | None:
    """Share of positives scoring above the threshold that keeps false alarms <= `rate`."""
    labels = np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        return None
    t = threshold_at_false_alarm(scores, labels, rate)
    return float((np.asarray(scores)[labels] > t).mean())


def report(
    scores: np.ndarray, labels: np.ndarray, classes: tuple[str, ...] | list[str], rate: float = 0.05
) -> dict:
    """{"n", "positives", "auc", "recall_at_5pct_false_alarm"} per class (rounded to 4 places)."""
    scores, labels = np.asarray(scores), np.asarray(labels)

    def r4(v: float | None) -> float | None:
        return None if v is None else round(v, 4)

    key = f"recall_at_{round(rate * 100):d}pct_false_alarm"
    return {
        "n": len(scores),
        "positives": {c: int(labels[:, i].sum()) for i, c in enumerate(classes)},
        "auc": {c: r4(auc(scores[:, i], labels[:, i])) for i, c in enumerate(classes)},
        key: {
            c: r4(recall_at_false_alarm(scores[:, i], labels[:, i], rate))
            for i, c in enumerate(classes)
        },
    }
