"""Detection quality figures: ROC AUC, recall at a fixed false-alarm rate and expected
calibration error, per class.

Why these: an officer's queue has room for a known share of false alarms, so the useful
question is "at 5 % false alarms on clean bags, what share of firearms is caught?"; AUC
summarises the ranking over every threshold.  Both are computed exactly (ties counted as
half in the AUC, so a constant score gets 0.5, never a flattering number).  The expected
calibration error says whether a score of 0.9 means "9 in 10 such bags hold one": the
gap between score and observed frequency, averaged over ten score bins weighted by size.
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


def ece(scores: np.ndarray, labels: np.ndarray, bins: int = 10) -> float | None:
    """Expected calibration error of probabilities `scores` for binary `labels` (equal-width
    bins over 0..1); None for an empty set."""
    s = np.clip(np.asarray(scores, dtype=np.float64), 0, 1)
    y = np.asarray(labels).astype(np.float64)
    if s.size == 0:
        return None
    which = np.minimum((s * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            total += sel.sum() * abs(s[sel].mean() - y[sel].mean())
    return float(total / s.size)


def rate_key(rate: float) -> str:
    """`recall_at_5pct_false_alarm` for 0.05 (the key the reports use)."""
    return f"recall_at_{rate * 100:g}pct_false_alarm"


def report(
    scores: np.ndarray,
    labels: np.ndarray,
    classes: tuple[str, ...] | list[str],
    rate: float = 0.05,
    rates: tuple[float, ...] | None = None,
) -> dict:
    """{"n", "positives", "auc", "recall_at_<r>pct_false_alarm" for each rate, "ece"} per
    class, rounded to 4 places (`rates` defaults to just `rate`)."""
    scores, labels = np.asarray(scores), np.asarray(labels)

    def r4(v: float | None) -> float | None:
        return None if v is None else round(v, 4)

    out: dict = {
        "n": len(scores),
        "positives": {c: int(labels[:, i].sum()) for i, c in enumerate(classes)},
        "auc": {c: r4(auc(scores[:, i], labels[:, i])) for i, c in enumerate(classes)},
    }
    for r in rates or (rate,):
        out[rate_key(r)] = {
            c: r4(recall_at_false_alarm(scores[:, i], labels[:, i], r))
            for i, c in enumerate(classes)
        }
    out["ece"] = {c: r4(ece(scores[:, i], labels[:, i])) for i, c in enumerate(classes)}
    return out


def verdict_shares(verdicts: list[str], labels: np.ndarray) -> dict[str, dict[str, float]]:
    """Shares of `threat`, `uncertain` and `clear` verdicts among the scans that carry
    nothing (`clean`: threat = false alarms, uncertain = extra looks at the image) and among
    those that carry something (`carrying`: clear = not even looked at); what is left of a
    group was refused as not a scan.  A group without scans is left out."""
    carrying = np.asarray(labels).max(axis=1) > 0
    return {
        group: {
            v: round(sum(verdicts[k] == v for k in idx) / len(idx), 4)
            for v in ("threat", "uncertain", "clear")
        }
        for group, idx in (
            ("clean", np.flatnonzero(~carrying)),
            ("carrying", np.flatnonzero(carrying)),
        )
        if len(idx)
    }
