"""What the CLI, the API and the oracle do with a model: train, score, rank, evaluate.

Knows nothing of HTTP or terminals: inputs are files or bytes, outputs are frames and
dicts; errors are `AuditError`s.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from oracles.audit import explain
from oracles.audit.data import load_table, prepare
from oracles.audit.errors import AuditError
from oracles.audit.mapping import ColumnMapping
from oracles.audit.metrics import selection_metrics, top_k
from oracles.audit.model import AuditModel, TrainConfig, train

SCORE_DECIMALS = 6


def train_file(
    data: Path | str | bytes,
    out_dir: Path,
    *,
    mapping: ColumnMapping,
    config: TrainConfig = TrainConfig(),
    progress: Callable[[str, float], None] | None = None,
) -> AuditModel:
    """Read, check and train; the model directory is written to `out_dir`."""
    raw = load_table(data)
    prep = prepare(raw, mapping, need_label=True)
    return train(
        prep.frame,
        out_dir,
        mapping=mapping,
        extras=prep.extras,
        data_report=prep.report,
        config=config,
        progress=progress,
        source=str(data) if not isinstance(data, bytes) else "upload",
    )


def train_demo(out_dir: Path, rows: int = 20_000, seed: int = 0) -> AuditModel:
    """A model trained on the synthetic generator's history: for `make run` and tests, so
    the AUDIT oracle has something to score with before an administration trains its own."""
    from oracles.audit.synth import generate

    history = generate(rows, seed=seed).to_csv(index=False).encode()
    return train_file(history, out_dir, mapping=ColumnMapping())


def prepare_for(
    model: AuditModel,
    data: Path | str | bytes | pd.DataFrame,
    *,
    need_label: bool,
    mapping: ColumnMapping | None = None,
):
    raw = data if isinstance(data, pd.DataFrame) else load_table(data)
    return prepare(raw, mapping or model.mapping, need_label=need_label, extras=model.extras)


def unseen(model: AuditModel, frame: pd.DataFrame) -> dict[str, int]:
    """Rows whose importer, declarant, seller or HS6 the training history never saw."""
    out = {}
    for k in ("importer", "declarant", "seller", "hs6"):
        table = model.state.keys.get(k)
        if table is not None:
            vals = frame[k]
            out[k] = int(((table.index.get_indexer(vals) < 0) & (vals != "")).sum())
    return out


def score_frame(
    model: AuditModel,
    frame: pd.DataFrame,
    *,
    reasons_top: int | None = 5000,
) -> pd.DataFrame:
    """The ranking: one row per declaration, riskiest first, with reasons for the first
    `reasons_top` rows (None: all)."""
    X, score = model.score(frame)
    score = np.round(score, SCORE_DECIMALS)
    order = np.argsort(-score, kind="stable")
    exp_rev = model.expected_revenue(frame, score)
    out = pd.DataFrame(
        {
            "rank": np.arange(1, len(frame) + 1),
            "declaration_id": frame["declaration_id"].to_numpy()[order],
            "date": frame["date"].dt.strftime("%Y-%m-%d").to_numpy()[order],
            "importer": frame["importer"].to_numpy()[order],
            "hs_code": frame["hs_code"].to_numpy()[order],
            "score": score[order],
            "expected_revenue": np.round(exp_rev[order], 2),
        }
    )
    k = len(frame) if reasons_top is None else min(reasons_top, len(frame))
    texts = [""] * len(frame)
    if k:
        top = order[:k]
        rs = explain.reasons(frame.iloc[top], X[top], model.contributions(X[top]), model.features)
        texts[:k] = ["; ".join(f"{r['text']} (+{r['weight']:.2f})" for r in row) for row in rs]
    out["reasons"] = texts
    return out


def companies(
    model: AuditModel, frame: pd.DataFrame, *, top: int = 20, by: str = "risk"
) -> list[dict[str, Any]]:
    """Importers ranked for post-clearance audit.

    risk: mean of the importer's three highest declaration scores (one very risky
    declaration is not enough to rank a big importer first, nor does volume alone);
    expected_frauds: sum of scores; expected_revenue: sum of score x expected recovery;
    past findings from the training history; reasons: the factors that weigh most over its
    three riskiest declarations.
    """
    if by not in ("risk", "revenue", "frauds"):
        raise AuditError("bad_request", f"rank companies by risk, revenue or frauds, not {by!r}")
    X, score = model.score(frame)
    exp_rev = model.expected_revenue(frame, score)
    df = pd.DataFrame(
        {
            "importer": frame["importer"].to_numpy(),
            "score": score,
            "rev": exp_rev,
            "i": np.arange(len(frame)),
        }
    )
    df = df.sort_values(["importer", "score"], ascending=[True, False], kind="stable")
    top3 = df.groupby("importer", sort=False).head(3)
    agg = df.groupby("importer", sort=True).agg(
        declarations=("score", "size"),
        max_score=("score", "max"),
        expected_frauds=("score", "sum"),
        expected_revenue=("rev", "sum"),
    )
    agg["risk"] = top3.groupby("importer", sort=True)["score"].mean()
    key = {"risk": "risk", "revenue": "expected_revenue", "frauds": "expected_frauds"}[by]
    agg = agg.sort_values([key, "max_score"], ascending=False, kind="stable").head(top)
    hist = model.state.keys.get("importer")
    rows = top3[top3["importer"].isin(agg.index)]
    idx = rows["i"].to_numpy()
    contrib = model.contributions(X[idx]) if len(idx) else np.zeros((0, X.shape[1]))
    groups = explain.factor_index(model.features)
    out = []
    for imp, r in agg.iterrows():
        sel = np.flatnonzero(rows["importer"].to_numpy() == imp)
        sums = {g: float(contrib[sel][:, cols].sum()) for g, cols in groups.items()}
        best = sorted((g for g in sums if sums[g] > 0.01), key=lambda g: -sums[g])[:3]
        first = int(idx[sel[0]])
        feats = dict(zip(model.features, X[first].tolist(), strict=True))
        reasons = [
            {
                "factor": g,
                "weight": round(sums[g], 3),
                "text": explain.describe(g, frame.iloc[first], feats),
            }
            for g in best
        ]
        past_n = past_f = 0
        if hist is not None and imp in hist.index:
            past_n, past_f = int(hist.at[imp, "n"]), int(hist.at[imp, "frauds"])
        out.append(
            {
                "importer": imp,
                "risk": round(float(r["risk"]), SCORE_DECIMALS),
                "max_score": round(float(r["max_score"]), SCORE_DECIMALS),
                "declarations": int(r["declarations"]),
                "expected_frauds": round(float(r["expected_frauds"]), 3),
                "expected_revenue": round(float(r["expected_revenue"]), 2),
                "past_declarations": past_n,
                "past_findings": past_f,
                "top_declarations": frame["declaration_id"].to_numpy()[idx[sel]].tolist(),
                "reasons": reasons,
            }
        )
    for rank, c in enumerate(out, start=1):
        c["rank"] = rank
    return out


def evaluate(model: AuditModel, frame: pd.DataFrame, *, baselines: bool = True) -> dict[str, Any]:
    """Selection metrics of the model on a labelled frame (labels never enter the features),
    and of the baselines trained with it on the same rows."""
    _, score = model.score(frame)
    y = frame["label"].to_numpy()
    rev = frame["revenue"].to_numpy() if "revenue" in frame else None
    out = selection_metrics(y, score, rev)
    out |= {
        "model_version": model.version,
        "backend": model.backend,
        "unseen": unseen(model, frame),
    }
    if baselines:
        out["baselines"] = {
            name: selection_metrics(y, b.predict_proba(frame)[:, 1], rev)
            for name, b in model.baselines().items()
        }
        for name, m in out["baselines"].items():
            out[f"{name}_precision_at_5pct"] = m["precision_at_5pct"]
    return out


def select(score: np.ndarray, pct: float | None = None, top: int | None = None) -> np.ndarray:
    """Positions of the selected rows: the `top` riskiest, or the riskiest `pct` %."""
    if top is None:
        top = top_k(len(score), 5.0 if pct is None else pct)
    if top < 0 or (pct is not None and not (0 < pct <= 100 and math.isfinite(pct))):
        raise AuditError("bad_request", "select a positive number of rows or a share in (0, 100] %")
    return np.argsort(-score, kind="stable")[:top]
