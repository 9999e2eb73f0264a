"""Train the tariff model: phrasings, retrieval, the network, calibration.

Steps (deterministic for a seed and thread count):

1. training texts: the nomenclature's own phrasings (`phrases.nomenclature_phrases`), the
   trade names, the phrase bank (English and Chinese), Taiwan's schedule in Chinese, and
   real rulings — the `train` part of `data/rulings/` (split by `splits.part_of`, so the
   same description always lands in the same part) and all of a user's file;
2. retrieval: vocabulary and idf over the texts, prototypes and pruned centroids, and the
   four similarity weights chosen on the development rows;
3. the network (`supervised.py`, needs PyTorch) on the same TF-IDF rows, real rulings
   weighted up;
4. calibration on the development rows — the `dev` part of the rulings and of the
   evaluation sets (`data/eval/`, written by someone who never saw the training texts) and
   `data/dev.csv`: the weights of the two halves by log-likelihood (which makes softmax a
   calibrated probability), then `uncertain_below`, the lowest confidence at which the
   development rows answered at or above it are right `target_accuracy` of the time.

Nothing here reads a `test` part or `data/heldout.csv`: those are reported, never fitted.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import itertools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

from oracles.tariff import packing, splits, supervised
from oracles.tariff.corpus import contexts
from oracles.tariff.model import Calibration, TariffModel, confidence_scale
from oracles.tariff.phrases import (
    DATA_DIR,
    Phrase,
    bank_phrases,
    nomenclature_phrases,
    ruling_phrases,
    trade_phrases,
    zh_phrases,
)
from oracles.tariff.retrieval import Retrieval, Weights
from oracles.tariff.vectorizer import KIND_WEIGHTS, Vectorizer, normalize_rows

DEV_FILE = DATA_DIR / "dev.csv"
EVAL_DIR = DATA_DIR / "eval"
EVAL_FILES = ("listings.csv", "zh_names.csv", "parcel_lines.csv")
PROTOTYPE_SOURCES = frozenset({"official", "trade", "bank", "zh_official", "rulings"})
MIN_SOURCE_ROWS = 50  # a real source this large on dev sets its own accusation bar
CENTROID_KEEP = {6: 400, 4: 1200, 2: 3000}
PROTOTYPE_KEEP = 48  # features kept per prototype (a long title's rarest words decide)
GRID = {
    "proto": (1.0,),
    "code": (0.5, 1.0, 1.5),
    "head": (0.25, 0.5, 1.0),
    "chap": (0.0, 0.25, 0.5),
}
NET_WEIGHTS = (0.0, 0.5, 0.75, 1.0, 1.25, 1.5)
RETRIEVAL_WEIGHTS = (0.0, 2.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0)

Log = Callable[[str], None]


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 20260601
    min_df: int = 3  # a feature seen in fewer texts is noise (and weight in the artefact)
    char_weight: float = KIND_WEIGHTS["c:"]
    chapters: tuple[str, ...] = ()  # train on these HS chapters only (quick experiments)
    network: bool = True  # False: retrieval only (no PyTorch needed; lower accuracy)
    net: supervised.NetConfig = field(default_factory=supervised.NetConfig)
    target_accuracy: float = 0.9  # what the model asserts must be right this often (dev)

    def keeps(self, hs6: str) -> bool:
        return not self.chapters or hs6[:2] in self.chapters


# --- data -------------------------------------------------------------------------------


def training_phrases(config: TrainConfig, rulings: Sequence[splits.Ruling] = ()) -> list[Phrase]:
    """Every training text (step 1), in a fixed order."""
    out = list(nomenclature_phrases(config.seed))
    out += trade_phrases()
    out += bank_phrases()
    out += zh_phrases()
    out += ruling_phrases((r.text, r.code) for r in rulings)
    return [p for p in out if config.keeps(p.hs6)]


def development_rows(
    config: TrainConfig, rulings: Sequence[splits.Ruling] = ()
) -> list[tuple[str, str, str]]:
    """(text, hs6, stratum) rows the weights and thresholds are chosen on (step 4)."""
    rows = [(r.text, r.hs6, f"rulings:{r.source or 'user'}") for r in rulings]
    for name in EVAL_FILES:
        path = EVAL_DIR / name
        if path.exists():
            with open(path, encoding="utf-8", newline="") as f:
                for rec in csv.DictReader(f):
                    if splits.eval_part(rec["description"]) == "dev":
                        rows.append((rec["description"], rec["hs_code"][:6], name[:-4]))
    with open(DEV_FILE, encoding="utf-8", newline="") as f:
        rows += [(r["description"], r["hs_code"][:6], "dev.csv") for r in csv.DictReader(f)]
    return [r for r in rows if config.keeps(r[1])]


# --- retrieval --------------------------------------------------------------------------


def _prune(m: sparse.csr_matrix, keep: int) -> sparse.csr_matrix:
    """Keep each row's `keep` largest entries, renormalised."""
    m = sparse.csr_matrix(m)
    rows, cols, vals = [], [], []
    for r in range(m.shape[0]):
        s, e = m.indptr[r], m.indptr[r + 1]
        data, idx = m.data[s:e], m.indices[s:e]
        if len(data) > keep:
            top = np.argpartition(-data, keep)[:keep]
            data, idx = data[top], idx[top]
        rows.extend([r] * len(data))
        cols.extend(idx.tolist())
        vals.extend(data.tolist())
    out = sparse.csr_matrix((np.asarray(vals, dtype=np.float32), (rows, cols)), shape=m.shape)
    out.sort_indices()
    return packing.round_trip(normalize_rows(out))  # tuned on what a loaded model reads


def _group_sum(x: sparse.csr_matrix, groups: Sequence[int], n: int) -> sparse.csr_matrix:
    g = sparse.csr_matrix(
        (np.ones(len(groups), dtype=np.float32), (np.asarray(groups), np.arange(len(groups)))),
        shape=(n, len(groups)),
    )
    return sparse.csr_matrix(g @ x)


def fit_retrieval(
    phrases: Sequence[Phrase], x: sparse.csr_matrix, vec: Vectorizer, codes: list[str]
) -> Retrieval:
    """Prototypes and centroids over the TF-IDF rows `x` of `phrases` (step 2)."""
    headings = sorted({c[:4] for c in codes})
    chapters = sorted({c[:2] for c in codes})
    ci = {c: i for i, c in enumerate(codes)}
    hi = {h: i for i, h in enumerate(headings)}
    chi = {c: i for i, c in enumerate(chapters)}
    proto_rows = [i for i, p in enumerate(phrases) if p.source in PROTOTYPE_SOURCES]
    proto_rows.sort(key=lambda i: (ci[phrases[i].hs6], i))
    seen: set[tuple[int, str]] = set()
    keep = []
    for i in proto_rows:  # the same text twice in one class adds nothing
        key = (ci[phrases[i].hs6], phrases[i].text.lower())
        if key not in seen:
            seen.add(key)
            keep.append(i)
    code_rows = [i for i, p in enumerate(phrases) if p.source != "path"]
    c6 = _group_sum(x[code_rows], [ci[phrases[i].hs6] for i in code_rows], len(codes))
    c4 = _group_sum(x, [hi[p.hs6[:4]] for p in phrases], len(headings))
    c2 = _group_sum(x, [chi[p.hs6[:2]] for p in phrases], len(chapters))
    return Retrieval(
        vectorizer=vec,
        codes=codes,
        prototypes=_prune(x[keep], PROTOTYPE_KEEP),
        proto_class=np.array([ci[phrases[i].hs6] for i in keep], dtype=np.int64),
        centroids6=_prune(c6, CENTROID_KEEP[6]),
        centroids4=_prune(c4, CENTROID_KEEP[4]),
        centroids2=_prune(c2, CENTROID_KEEP[2]),
        headings=headings,
        chapters=chapters,
    )


def _ranks(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    true_scores = scores[np.arange(len(truth)), truth]
    return (scores > true_scores[:, None]).sum(axis=1)


def tune_retrieval(
    retrieval: Retrieval, q: sparse.csr_matrix, truth: np.ndarray
) -> tuple[Weights, dict[str, float]]:
    """The grid weights with the best development mean reciprocal rank (top 10)."""
    sims = [retrieval.similarities(q[i]) for i in range(q.shape[0])]
    best: tuple[float, Weights] | None = None
    for p, c, h, ch in itertools.product(GRID["proto"], GRID["code"], GRID["head"], GRID["chap"]):
        w = Weights(p, c, h, ch)
        rank = _ranks(np.stack([retrieval.combine(s, w) for s in sims]), truth)
        mrr = float(np.where(rank < 10, 1.0 / (rank + 1), 0.0).mean())
        if best is None or mrr > best[0]:
            best = (mrr, w)
    assert best is not None
    return best[1], {"dev_retrieval_mrr": round(best[0], 4)}


# --- calibration ------------------------------------------------------------------------


def calibrate(
    retr: np.ndarray,
    net: np.ndarray | None,
    truth: np.ndarray,
    coverage: np.ndarray,
    target_accuracy: float,
    real: np.ndarray | None = None,
) -> tuple[Calibration, dict[str, float]]:
    """Weights of the halves by development log-likelihood, then the "uncertain" threshold
    on every row and the oracle's accusation threshold on the real rows.

    `real`: per row, the source of a real row (e.g. "rulings:uk_fpo_extra_refs") or "" for
    written ones; None: every row counts as one real source.  The accusation bar is the
    strictest of the sources with at least `MIN_SOURCE_ROWS` rows (all real rows together
    when none has that many): an accusation must hold on each kind of real text, not on
    their mix, where the easier kind hides the harder (real parcel lines were right 84 %
    at a bar set on all real dev rows, search references 92 %)."""
    rows = np.arange(len(truth))
    best: tuple[float, float, float] | None = None
    for a, b in itertools.product(NET_WEIGHTS if net is not None else (0.0,), RETRIEVAL_WEIGHTS):
        if a == 0 and b == 0:
            continue
        z = b * retr + (a * net if net is not None else 0.0)
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = float(-logp[rows, truth].mean())
        if best is None or nll < best[0]:
            best = (nll, a, b)
    assert best is not None
    nll, a, b = best
    z = b * retr + (a * net if net is not None else 0.0)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    top = p.argmax(axis=1)
    conf = p[rows, top] * np.array([confidence_scale(c) for c in coverage])
    correct = top == truth
    threshold = uncertain_threshold(conf, correct, target_accuracy)
    answered = conf >= threshold
    sources = np.full(len(truth), "all") if real is None else np.asarray(real)
    is_real = sources != ""
    if not is_real.any():
        sources, is_real = np.full(len(truth), "all"), np.ones(len(truth), bool)
    big = [s for s in set(sources[is_real]) if (sources == s).sum() >= MIN_SOURCE_ROWS]
    groups = [sources == s for s in sorted(big)] or [is_real]
    accuse = max(
        [threshold] + [uncertain_threshold(conf[g], correct[g], target_accuracy) for g in groups]
    )
    real = is_real
    accused = real & (conf >= accuse)
    cal = Calibration(net=a, retrieval=b, uncertain_below=threshold, accuse_below=accuse)
    return cal, {
        "dev_n": len(truth),
        "dev_nll": round(nll, 4),
        "dev_hs6": round(float(correct.mean()), 4),
        "dev_answered": round(float(answered.mean()), 4),
        "dev_answered_accuracy": _share(correct[answered]),
        "dev_real_n": int(real.sum()),
        "dev_real_accused": round(float(accused.sum() / real.sum()), 4),
        "dev_real_accused_accuracy": _share(correct[accused]),
    }


def _share(flags: np.ndarray) -> float:
    return round(float(flags.mean()), 4) if len(flags) else 0.0


def uncertain_threshold(conf: np.ndarray, correct: np.ndarray, target: float) -> float:
    """The lowest confidence t such that rows with confidence >= t are right >= `target`
    of the time (1.0, i.e. never assert, when no such t exists)."""
    order = np.argsort(-conf, kind="stable")
    running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    good = np.nonzero(running >= target)[0]
    if not len(good):
        return 1.0
    return round(float(conf[order][good.max()]), 4)


# --- the whole ----------------------------------------------------------------------------

CODE_FILES = (
    "text.py",
    "vectorizer.py",
    "phrases.py",
    "zh.py",
    "splits.py",
    "train.py",
    "retrieval.py",
    "supervised.py",
    "model.py",
    "packing.py",
)


def model_version(phrases: Sequence[Phrase], config: TrainConfig) -> str:
    """`tariff-hs2022-<12 hex>`: a digest of every training text, label and setting, and of
    the code that turns text into features and trains (changed code never reuses a version)."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256(b"".join((here / f).read_bytes() for f in CODE_FILES))
    h.update(DEV_FILE.read_bytes())
    h.update(repr(asdict(config)).encode())
    h.update(repr((sorted(CENTROID_KEEP.items()), PROTOTYPE_KEEP)).encode())
    for p in phrases:
        h.update(f"{p.hs6}\t{p.source}\t{p.text}\n".encode())
    return f"tariff-hs2022-{h.hexdigest()[:12]}"


def train(
    rulings: Sequence[splits.Ruling] = (),
    config: TrainConfig | None = None,
    log: Log = print,
) -> TariffModel:
    """Train on the shipped data plus `rulings` (a user's own, all of them trained on: to
    measure on your rulings, keep a file apart and run `classify evaluate` on it)."""
    config = config or TrainConfig()
    t0 = time.monotonic()
    known = contexts()
    parts = splits.split(r for r in splits.read_rulings() if r.hs6 in known)
    users = [r for r in rulings if r.hs6 in known]
    phrases = training_phrases(config, [*parts["train"], *users])
    texts = {r.text for r in users}
    mine = [i for i, p in enumerate(phrases) if p.source == "rulings" and p.text in texts]
    dev = development_rows(config, parts["dev"])
    log(f"{len(phrases)} training texts, {len(dev)} development rows")
    kinds = {**KIND_WEIGHTS, "c:": config.char_weight}
    vec, counts = Vectorizer.fit([p.text for p in phrases], config.min_df, kinds, always=mine)
    x = vec.transform_counts(counts)
    codes = sorted({p.hs6 for p in phrases})
    retrieval = fit_retrieval(phrases, x, vec, codes)
    ci = {c: i for i, c in enumerate(codes)}
    dev = [r for r in dev if r[1] in ci]
    q = sparse.vstack([retrieval.vector(t) for t, _, _ in dev]).tocsr()
    truth = np.array([ci[c] for _, c, _ in dev])
    retrieval.weights, retr_metrics = tune_retrieval(retrieval, q, truth)
    log(f"retrieval weights {retrieval.weights.to_json()} ({time.monotonic() - t0:.0f} s)")
    net = None
    if config.network:
        rows = [i for i, p in enumerate(phrases) if p.source != "path"]
        w = [config.net.ruling_weight if phrases[i].source == "rulings" else 1.0 for i in rows]
        net = supervised.fit(
            x[rows],
            [ci[phrases[i].hs6] for i in rows],
            retrieval.class_head,
            retrieval.class_chap,
            w,
            config.net,
            log,
        )
    retr = np.stack([retrieval.scores(q[i]) for i in range(q.shape[0])])
    net_lp = net.log_probs(q) if net is not None else None
    coverage = np.array([vec.coverage(t) for t, _, _ in dev])
    real = np.array([s if s.startswith("rulings:") else "" for _, _, s in dev])
    calibration, cal_metrics = calibrate(
        retr, net_lp, truth, coverage, config.target_accuracy, real
    )
    log(f"calibration {calibration.to_json()} {cal_metrics}")
    version = model_version(phrases, config)
    model = TariffModel(version, retrieval, net, calibration)
    model.meta = {
        "trained_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "train_seconds": round(time.monotonic() - t0, 1),
        "texts": dict(sorted(Counter(p.source for p in phrases).items())),
        "classes": len(codes),
        "features": len(vec),
        "prototypes": int(retrieval.prototypes.shape[0]),
        "rulings_train": len(parts["train"]),
        "rulings_dev": len(parts["dev"]),
        "rulings_test_held_out": len(parts["test"]),
        "user_rulings": len(rulings),
        "network": asdict(config.net) if net is not None else None,
        "dev_strata": dict(sorted(Counter(s for _, _, s in dev).items())),
        **retr_metrics,
        **cal_metrics,
    }
    log(f"model {version} ({model.meta['train_seconds']} s)")
    return model


def train_and_save(
    out_dir: Path,
    rulings: Sequence[splits.Ruling] = (),
    config: TrainConfig | None = None,
    log: Log = print,
) -> TariffModel:
    model = train(rulings, config, log)
    model.save(Path(out_dir))
    return model
