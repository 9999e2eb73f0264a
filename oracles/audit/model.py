"""Training, saving, loading and running the audit risk model.

Training (`train`) on a prepared history:

1. leak-free features (`features.build`), rows in date order;
2. a **time-based split**: the last `validation_share` of days is held out;
3. scikit-learn `HistGradientBoostingClassifier` fitted on the earlier part, early-stopped
   on the held-out later part (never on a random split: it would let the model peek at
   the future);
4. **calibration**: a logistic (Platt) map from the model's margin to a probability,
   fitted on the held-out part, so a score of 0.3 means about 30 % of such declarations
   end in a finding; then (`refit`, default) the trees are refitted on the whole history
   with 10 % more trees than early stopping chose, so the latest months teach them too
   (the calibration carries over: the margins keep their scale);
5. the two baselines (`baselines.py`) on the same split, for the model card;
6. the history state (`features.fit_state`) of the *whole* history, for scoring;
7. export to ONNX (`onnx_export.py`), kept only if its margins equal scikit-learn's on the
   held-out rows (within `EXACT_TOL`);
8. a model directory: `card.json` (machine-readable card, format version, checksums),
   `MODEL_CARD.md`, `model.onnx`, `model.joblib`, `baselines.joblib`, `state/*.parquet`.

`AuditModel.load` refuses a directory of another format version or scikit-learn version, or
whose files do not match their checksums.  The `.joblib` files are pickles: load model
directories you or your administration produced, never one from an untrusted source.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from oracles.audit import features as F
from oracles.audit.baselines import BASELINES
from oracles.audit.errors import AuditError
from oracles.audit.mapping import ColumnMapping
from oracles.audit.metrics import selection_metrics
from oracles.audit.onnx_export import EXACT_TOL, OnnxMargin, hgb_to_onnx

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
FORMAT_NAME = "smartcustoms-audit-model"
MIN_ROWS = 200
MIN_VAL_FRAUDS = 5
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class TrainConfig:
    learning_rate: float = 0.1
    max_iter: int = 300
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0
    n_iter_no_change: int = 20
    validation_share: float = 0.2
    refit: bool = True  # refit on the whole history with the early-stopped tree count
    # OpenMP threads for fitting; None: 1 below 200,000 rows (see _threads)
    threads: int | None = None
    baselines: bool = True
    seed: int = 0


def _threads(config: TrainConfig, rows: int) -> int:
    """Fitting threads.  Why one by default: scikit-learn's OpenMP threads spin while they
    wait, and on a machine shared with other jobs a 2,500-row fit measured 25-30 s with two
    threads against under 2 s with one; on idle cores a second thread gains little below a
    few hundred thousand rows."""
    if config.threads is not None:
        return max(1, config.threads)
    return 1 if rows < 200_000 else (os.cpu_count() or 1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -500, 500)))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sk_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def time_split(frame: pd.DataFrame, share: float) -> np.ndarray:
    """Boolean mask of the held-out (latest) rows: the last `share` of the date range's rows,
    cut at a day boundary so no day is split."""
    day = frame["day"].to_numpy()
    cut = np.quantile(day, 1 - share, method="higher")
    val = day >= cut
    if val.all():  # one single day: nothing earlier
        raise AuditError(
            "too_few_rows",
            "all declarations share one date; time-based validation needs several days of history",
        )
    return val


def train(
    frame: pd.DataFrame,
    out_dir: Path,
    *,
    mapping: ColumnMapping,
    extras: list[dict[str, Any]],
    data_report: dict[str, Any],
    config: TrainConfig = TrainConfig(),
    progress: Progress | None = None,
    source: str = "",
) -> AuditModel:
    """Train on a prepared frame (`data.prepare(..., need_label=True)`), write `out_dir`.

    Raises AuditError `one_class` (labels all equal), `too_few_rows` (under MIN_ROWS rows,
    or too few frauds in either part of the time split).
    """
    with threadpool_limits(_threads(config, len(frame))):
        return _train(
            frame,
            out_dir,
            mapping=mapping,
            extras=extras,
            data_report=data_report,
            config=config,
            progress=progress,
            source=source,
        )


def _train(
    frame: pd.DataFrame,
    out_dir: Path,
    *,
    mapping: ColumnMapping,
    extras: list[dict[str, Any]],
    data_report: dict[str, Any],
    config: TrainConfig = TrainConfig(),
    progress: Progress | None = None,
    source: str = "",
) -> AuditModel:

    say = progress or (lambda _msg, _frac: None)
    t0 = time.perf_counter()
    y = frame["label"].to_numpy(dtype="int64")
    if len(np.unique(y)) < 2:
        only = "fraud" if y[0] else "clean"
        raise AuditError(
            "one_class",
            f"every one of the {len(y)} declarations is labelled "
            f"{only}; a model needs audited declarations of both outcomes "
            "(check the label column and options.label_positive)",
        )
    if len(frame) < MIN_ROWS:
        raise AuditError(
            "too_few_rows", f"{len(frame)} declarations; training needs at least {MIN_ROWS}"
        )
    val = time_split(frame, config.validation_share)
    for part, mask in (("earlier (training)", ~val), ("later (validation)", val)):
        if y[mask].sum() < MIN_VAL_FRAUDS or (1 - y[mask]).sum() < MIN_VAL_FRAUDS:
            raise AuditError(
                "too_few_rows",
                f"the {part} part of the time split has "
                f"{int(y[mask].sum())} frauds and {int((1 - y[mask]).sum())} "
                f"clean declarations; each part needs {MIN_VAL_FRAUDS} of both "
                "(give a longer history)",
            )
    say("features", 0.05)
    X = F.build(frame, None, extras)
    names = list(X.columns)
    Xn = X.to_numpy(dtype="float64")
    say("gradient boosting", 0.25)
    model = HistGradientBoostingClassifier(
        learning_rate=config.learning_rate,
        max_iter=config.max_iter,
        max_leaf_nodes=config.max_leaf_nodes,
        min_samples_leaf=config.min_samples_leaf,
        l2_regularization=config.l2_regularization,
        early_stopping=True,
        n_iter_no_change=config.n_iter_no_change,
        scoring="loss",
        random_state=config.seed,
    )
    model.fit(Xn[~val], y[~val], X_val=Xn[val], y_val=y[val])
    say("calibration", 0.6)
    margin_val = model.decision_function(Xn[val])
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(margin_val.reshape(-1, 1), y[val])
    cal = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
    score_val = _sigmoid(cal[0] * margin_val + cal[1])
    rev_val = frame["revenue"].to_numpy()[val] if "revenue" in frame else None
    metrics = {"oracle": selection_metrics(y[val], score_val, rev_val)}
    held_out_trees = int(model.n_iter_)
    if config.refit:
        say("refit on all history", 0.65)
        model = HistGradientBoostingClassifier(
            learning_rate=config.learning_rate,
            max_iter=max(1, round(held_out_trees * 1.1)),
            max_leaf_nodes=config.max_leaf_nodes,
            min_samples_leaf=config.min_samples_leaf,
            l2_regularization=config.l2_regularization,
            early_stopping=False,
            random_state=config.seed,
        ).fit(Xn, y)
    train_s = time.perf_counter() - t0
    baselines = {}
    if config.baselines:
        say("baselines", 0.7)
        for name, make in BASELINES.items():
            b = make().fit(frame[~val], y[~val])
            metrics[name] = selection_metrics(y[val], b.predict_proba(frame[val])[:, 1], rev_val)
            baselines[name] = b
    say("history state", 0.85)
    state = F.fit_state(frame)
    tax = (frame["price"] * frame["tax_rate"].fillna(0) / 100).to_numpy()
    if "revenue" in frame and frame["revenue"][frame["label"] == 1].sum() > 0:
        found = frame["label"].to_numpy() == 1
        rev_factor = float(frame["revenue"].to_numpy()[found].sum() / max(tax[found].sum(), 1e-9))
        rev_basis = "revenue recovered / duty declared, over past findings"
    else:
        rev_factor, rev_basis = 1.0, "no revenue column: expected revenue is the duty at stake"

    say("export", 0.9)
    out_dir = Path(out_dir)
    (out_dir / "state").mkdir(parents=True, exist_ok=True)
    onnx_info: dict[str, Any] = {"exported": False}
    try:
        blob = hgb_to_onnx(model, len(names))
        sample = Xn[val][:5000]
        diff = float(
            np.max(np.abs(OnnxMargin(blob).margin(sample) - model.decision_function(sample)))
        )
        onnx_info = {
            "exported": diff <= EXACT_TOL,
            "max_abs_margin_diff": diff,
            "rows_checked": len(sample),
            "tolerance": EXACT_TOL,
        }
        if diff <= EXACT_TOL:
            (out_dir / "model.onnx").write_bytes(blob)
        else:
            onnx_info["why_not"] = "margins differ from scikit-learn's; scoring uses sklearn"
    except Exception as exc:  # any exporter or onnxruntime failure: score with sklearn
        onnx_info["why_not"] = f"export failed: {type(exc).__name__}: {exc}"
    if not onnx_info["exported"] and (out_dir / "model.onnx").exists():
        (out_dir / "model.onnx").unlink()
    joblib.dump(model, out_dir / "model.joblib", compress=3)
    if baselines:
        joblib.dump(baselines, out_dir / "baselines.joblib", compress=3)
    elif (out_dir / "baselines.joblib").exists():
        (out_dir / "baselines.joblib").unlink()
    for old in (out_dir / "state").glob("*.parquet"):
        old.unlink()
    for name, table in state.to_tables().items():
        table.to_parquet(out_dir / "state" / f"{name}.parquet", index=False)
    files = sorted(
        p.relative_to(out_dir).as_posix()
        for p in out_dir.rglob("*")
        if p.is_file() and p.name not in ("card.json", "MODEL_CARD.md")
    )
    checksums = {f: _sha256(out_dir / f) for f in files}
    digest = hashlib.sha256(json.dumps(checksums, sort_keys=True).encode()).hexdigest()
    version = f"audit-{digest[:12]}"
    n_trees = int(model.n_iter_)
    day = frame["day"].to_numpy()
    card = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_version": version,
        "created_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "library": {
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "python": platform.python_version(),
        },
        "source": source,
        "mapping": mapping.to_json(),
        "data": data_report
        | {
            "train_rows": int((~val).sum()),
            "validation_rows": int(val.sum()),
            "validation_from": str(pd.Timestamp(int(day[val].min()), unit="D").date()),
            "importers": int(frame["importer"].nunique()),
            "hs6_codes": int(frame["hs6"].nunique()),
        },
        "features": names,
        "extras": extras,
        "model": {
            "kind": "HistGradientBoostingClassifier",
            "trees": n_trees,
            "held_out_trees": held_out_trees,
            "refit": config.refit,
            "params": asdict(config),
            "calibration": {"method": "platt", "a": cal[0], "b": cal[1]},
        },
        "revenue": {"factor": rev_factor, "basis": rev_basis},
        "metrics": metrics,
        "onnx": onnx_info,
        "train_seconds": round(train_s, 3),
        "state": state.meta(),
        "files": checksums,
    }
    (out_dir / "card.json").write_text(json.dumps(card, indent=1, default=str))
    (out_dir / "MODEL_CARD.md").write_text(model_card_markdown(card))
    say("done", 1.0)
    return AuditModel(
        out_dir, card, model, state, OnnxMargin(blob) if onnx_info["exported"] else None
    )


class AuditModel:
    """A loaded model directory: scores canonical frames, explains them."""

    def __init__(
        self,
        path: Path,
        card: dict[str, Any],
        model: HistGradientBoostingClassifier,
        state: F.HistoryState,
        onnx: OnnxMargin | None,
    ) -> None:
        self.path = Path(path)
        self.card = card
        self.sk = model
        self.state = state
        self.onnx = onnx
        cal = card["model"]["calibration"]
        self._a, self._b = float(cal["a"]), float(cal["b"])

    @property
    def version(self) -> str:
        return self.card["model_version"]

    @property
    def features(self) -> list[str]:
        return list(self.card["features"])

    @property
    def extras(self) -> list[dict[str, Any]]:
        return list(self.card.get("extras", []))

    @property
    def mapping(self) -> ColumnMapping:
        return ColumnMapping.from_json(self.card["mapping"])

    @property
    def backend(self) -> str:
        return "onnxruntime" if self.onnx is not None else "scikit-learn"

    @classmethod
    def load(cls, path: Path | str) -> AuditModel:
        """Raises AuditError model_missing / model_incompatible / model_corrupt."""
        path = Path(path)
        card_file = path / "card.json"
        if not card_file.is_file():
            raise AuditError(
                "model_missing",
                f"{path} is not an audit model directory (no "
                "card.json); train one with `smartcustoms audit train`",
            )
        try:
            card = json.loads(card_file.read_text())
        except ValueError as exc:
            raise AuditError("model_corrupt", f"{card_file} is not valid JSON") from exc
        if card.get("format") != FORMAT_NAME or card.get("format_version") != FORMAT_VERSION:
            raise AuditError(
                "model_incompatible",
                f"{path} was written as "
                f"{card.get('format')!r} format version "
                f"{card.get('format_version')!r}; this version reads "
                f"{FORMAT_NAME!r} version {FORMAT_VERSION}. Retrain it with "
                "`smartcustoms audit train`",
            )
        trained = card.get("library", {}).get("scikit-learn", "?")
        if _sk_minor(trained) != _sk_minor(sklearn.__version__):
            raise AuditError(
                "model_incompatible",
                f"{path} was trained with scikit-learn "
                f"{trained}; this installation has {sklearn.__version__}. "
                "Retrain it with `smartcustoms audit train`",
            )
        for f, digest in card.get("files", {}).items():
            p = path / f
            if not p.is_file() or _sha256(p) != digest:
                raise AuditError(
                    "model_corrupt",
                    f"{p} is missing or changed since training "
                    "(checksum mismatch); retrain or restore the directory",
                )
        model = joblib.load(path / "model.joblib")
        tables = {p.stem: pd.read_parquet(p) for p in sorted((path / "state").glob("*.parquet"))}
        state = F.HistoryState.from_tables(tables, card["state"])
        onnx = None
        if card.get("onnx", {}).get("exported") and (path / "model.onnx").is_file():
            try:
                onnx = OnnxMargin((path / "model.onnx").read_bytes())
            except Exception as exc:  # an older onnxruntime: score with sklearn
                log.warning(
                    "audit model %s: onnxruntime cannot load model.onnx (%s); "
                    "scoring with scikit-learn",
                    path,
                    exc,
                )
        return cls(path, card, model, state, onnx)

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        return F.build(frame, self.state, self.extras).to_numpy(dtype="float64")

    def margin(self, X: np.ndarray) -> np.ndarray:
        if self.onnx is not None:
            return self.onnx.margin(X)
        return self.sk.decision_function(X)

    def calibrate(self, margin: np.ndarray) -> np.ndarray:
        return _sigmoid(self._a * margin + self._b)

    def score(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(X, probability of a finding) for each row of a prepared frame."""
        X = self.matrix(frame)
        return X, self.calibrate(self.margin(X))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per row and feature, its share of the margin (log-odds), by following each tree's
        path and crediting each split's feature with the change in node value (Saabas).

        Rows' contributions plus the model's baseline add up to its margin.
        """
        return tree_contributions(self.sk, X)

    def baselines(self) -> dict[str, Any]:
        p = self.path / "baselines.joblib"
        return joblib.load(p) if p.is_file() else {}

    def expected_revenue(self, frame: pd.DataFrame, score: np.ndarray) -> np.ndarray:
        tax = (frame["price"] * frame["tax_rate"].fillna(0) / 100).to_numpy(dtype="float64")
        return score * np.nan_to_num(tax) * float(self.card["revenue"]["factor"])


def tree_contributions(model: HistGradientBoostingClassifier, X: np.ndarray) -> np.ndarray:
    n, nf = X.shape
    out = np.zeros((n, nf))
    lr = float(model.learning_rate)
    rows = np.arange(n)
    for (pred,) in model._predictors:
        nodes = pred.nodes
        value = nodes["value"].astype("float64").copy()
        internal = nodes["is_leaf"] == 0
        value[internal] *= lr  # split nodes keep the unshrunk value, leaves the shrunk one
        value[0] = 0.0
        is_leaf = nodes["is_leaf"].astype(bool)
        feat = nodes["feature_idx"]
        thr = nodes["num_threshold"]
        miss_left = nodes["missing_go_to_left"].astype(bool)
        left = nodes["left"].astype("int64")
        right = nodes["right"].astype("int64")
        node = np.zeros(n, dtype="int64")
        active = rows
        while len(active):
            nd = node[active]
            keep = ~is_leaf[nd]
            active, nd = active[keep], nd[keep]
            if not len(active):
                break
            f = feat[nd]
            x = X[active, f]
            go_left = np.where(np.isnan(x), miss_left[nd], x <= thr[nd])
            child = np.where(go_left, left[nd], right[nd])
            np.add.at(out, (active, f), value[child] - value[nd])
            node[active] = child
    return out


def model_card_markdown(card: dict[str, Any]) -> str:
    """The human model card: data, features, metrics against the baselines, version."""
    d = card["data"]
    m = card["metrics"]
    lines = [
        f"# Audit risk model {card['model_version']}",
        "",
        f"Format {card['format']} v{card['format_version']}, created {card['created_at']}, "
        f"scikit-learn {card['library']['scikit-learn']}. Source: {card.get('source') or '-'}.",
        "",
        "## Intended use",
        "Ranks declarations and importers for **post-clearance audit**. Scores are calibrated "
        "probabilities that an audit finds fraud, learnt from past audit outcomes; they rank, "
        "they do not prove anything. Audit selection remains a decision of an officer.",
        "",
        "## Data",
        f"- {d['rows_used']} declarations used ({d['rows_dropped']} dropped), "
        f"{d['date_range'][0]} to {d['date_range'][1]}, fraud rate {d.get('fraud_rate')}",
        f"- time split: {d['train_rows']} earlier rows for training, {d['validation_rows']} "
        f"rows from {d['validation_from']} held out for early stopping, calibration and metrics",
        f"- {d['importers']} importers, {d['hs6_codes']} HS6 codes; date format "
        f"{d.get('date_format')}",
        f"- fields absent: {', '.join(d.get('fields_absent') or []) or 'none'}",
        f"- extra columns used: {', '.join(e['column'] + ' (' + e['kind'] + ')' for e in card['extras']) or 'none'}",
        f"- extra columns ignored: "
        f"{'; '.join(i['column'] + ': ' + i['why'] for i in d.get('extras_ignored', [])) or 'none'}",
        "",
        "## Features",
        "Computed from earlier dates only (no leakage): smoothed past fraud rates of importer, "
        "declarant, seller, courier and HS6; importer history (declarations, findings, days "
        "since first/last, price jump, new HS6 or broker); HS2/HS4/HS6; unit value and its "
        "gap to the past HS6 x origin median; mass against the HS6 norm; duty rate and amount; "
        "origin vs departure; categorical fields; calendar.",
        "",
        f"`{'`, `'.join(card['features'])}`",
        "",
        "## Model",
        f"HistGradientBoostingClassifier, {card['model']['trees']} trees ("
        + (
            f"early-stopped at {card['model']['held_out_trees']} on the held-out period, then "
            "refitted on the whole history with 10 % more trees"
            if card["model"].get("refit")
            else "early-stopped on the held-out period"
        )
        + f"), Platt calibration a={card['model']['calibration']['a']:.4f}, "
        f"b={card['model']['calibration']['b']:.4f}. Scoring backend: "
        + (
            "onnxruntime (exact export, max margin difference "
            f"{card['onnx'].get('max_abs_margin_diff', 0):.1e})"
            if card["onnx"]["exported"]
            else f"scikit-learn ({card['onnx'].get('why_not', 'no ONNX export')})"
        ),
        f"Training took {card['train_seconds']} s.",
        "",
        "## Metrics on the held-out (latest) period",
        "",
        "The oracle's figures are those of the early-stopped model before any refit; the same "
        "period chose its tree count and calibration, so they lean optimistic. Measure on a "
        "later file with `smartcustoms audit evaluate`.",
        "",
        "| model | precision@1% | precision@5% | recall@5% | revenue@5% | AUC |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in m.items():
        cells = [
            r[k]
            for k in (
                "precision_at_1pct",
                "precision_at_5pct",
                "recall_at_5pct",
                "revenue_at_5pct",
                "auc",
            )
        ]
        lines.append(
            f"| {name} | " + " | ".join("-" if c is None else f"{c:.3f}" for c in cells) + " |"
        )
    lines += [
        "",
        "Baselines: `logistic` = logistic regression on one-hot categories and log values; "
        "`plain_gbm` = HistGradientBoostingClassifier with default settings, ids as native "
        "categories (254 most frequent values each). Same training rows, same held-out rows.",
        "",
        "## Limits",
        "- Labels exist only for audited declarations; a model learns what past audits looked "
        "for. Keep a share of random audits so it can learn what they missed.",
        "- Expected revenue: " + card["revenue"]["basis"] + ".",
        "- Scores for importers, declarants or goods never seen in training fall back to the "
        "overall rates.",
        "",
    ]
    return "\n".join(lines)
