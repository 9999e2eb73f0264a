"""Train a tariff model from the nomenclature, the trade names and optional user rulings.

Steps (all deterministic for a seed):

1. phrasings: `phrases.nomenclature_phrases` + `phrases.trade_phrases` (+ rulings);
2. vocabulary and idf over them (features seen in at least `min_df` texts);
3. prototypes: every official text, trade-name text and ruling, as a row; centroids: the
   normalised sum of all phrasings per subheading, heading (plus the path texts) and
   chapter, each pruned to its `keep` heaviest features (keeps the artefact small);
4. weights: a small grid over how the four similarities add, chosen on a *development*
   split — one trade name in four held back from training, the hand-written
   `data/dev.csv` descriptions and a quarter of the rulings, never `data/heldout.csv` —
   then the softmax temperature that minimises the negative log-likelihood on that split;
5. the final model is refitted on everything with the chosen weights.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import itertools
import random
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from oracles.tariff.model import TariffModel, Weights, softmax_nll
from oracles.tariff.phrases import (
    DATA_DIR,
    Phrase,
    nomenclature_phrases,
    ruling_phrases,
    trade_names,
    trade_phrases,
)
from oracles.tariff.vectorizer import KIND_WEIGHTS, Vectorizer, normalize_rows

DEV_FILE = DATA_DIR / "dev.csv"
PROTOTYPE_SOURCES = frozenset({"official", "trade", "rulings"})
CENTROID_KEEP = {6: 400, 4: 1200, 2: 3000}
GRID = {
    "proto": (1.0,),
    "code": (0.25, 0.5, 1.0, 1.5),
    "head": (0.25, 0.5, 1.0, 1.5),
    "chap": (0.0, 0.25, 0.5),
}
TEMPERATURES = (0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1, 0.14, 0.2)


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 20260601
    min_df: int = 2
    dev_share: float = 0.25
    char_weight: float = KIND_WEIGHTS["c:"]
    chapters: tuple[str, ...] = ()  # train on these HS chapters only (quick experiments)

    def keeps(self, hs6: str) -> bool:
        return not self.chapters or hs6[:2] in self.chapters


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
    return normalize_rows(out)


def _group_sum(x: sparse.csr_matrix, groups: Sequence[int], n: int) -> sparse.csr_matrix:
    g = sparse.csr_matrix(
        (np.ones(len(groups), dtype=np.float32), (np.asarray(groups), np.arange(len(groups)))),
        shape=(n, len(groups)),
    )
    return sparse.csr_matrix(g @ x)


def fit(
    phrases: Sequence[Phrase], config: TrainConfig, weights: Weights, version: str
) -> TariffModel:
    """A model over `phrases` with the given weights (no tuning)."""
    kinds = {**KIND_WEIGHTS, "c:": config.char_weight}
    vec, counts = Vectorizer.fit(
        [p.text for p in phrases], min_df=config.min_df, kind_weights=kinds
    )
    x = vec.transform_counts(counts)
    codes = sorted({p.hs6 for p in phrases})
    headings = sorted({c[:4] for c in codes})
    chapters = sorted({c[:2] for c in codes})
    ci = {c: i for i, c in enumerate(codes)}
    hi = {h: i for i, h in enumerate(headings)}
    chi = {c: i for i, c in enumerate(chapters)}

    proto_rows = [i for i, p in enumerate(phrases) if p.source in PROTOTYPE_SOURCES]
    proto_rows.sort(key=lambda i: (ci[phrases[i].hs6], i))
    protos = x[proto_rows]
    proto_class = np.array([ci[phrases[i].hs6] for i in proto_rows], dtype=np.int64)
    # drop exact duplicate prototypes of one class (same text twice adds nothing)
    seen: set[tuple[int, str]] = set()
    keep = []
    for k, i in enumerate(proto_rows):
        key = (ci[phrases[i].hs6], phrases[i].text.lower())
        if key not in seen:
            seen.add(key)
            keep.append(k)
    protos, proto_class = protos[keep], proto_class[keep]

    code_rows = [i for i, p in enumerate(phrases) if p.source != "path"]
    c6 = _group_sum(x[code_rows], [ci[phrases[i].hs6] for i in code_rows], len(codes))
    c4 = _group_sum(x, [hi[p.hs6[:4]] for p in phrases], len(headings))
    c2 = _group_sum(x, [chi[p.hs6[:2]] for p in phrases], len(chapters))
    return TariffModel(
        version=version,
        vectorizer=vec,
        codes=codes,
        prototypes=sparse.csr_matrix(protos),
        proto_class=proto_class,
        centroids6=_prune(c6, CENTROID_KEEP[6]),
        centroids4=_prune(c4, CENTROID_KEEP[4]),
        centroids2=_prune(c2, CENTROID_KEEP[2]),
        headings=headings,
        chapters=chapters,
        weights=weights,
    )


def dev_split(
    config: TrainConfig, rulings: Sequence[tuple[str, str]] = ()
) -> tuple[set[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """(trade names held back, dev rows, training rulings): a seeded split for tuning."""
    rng = random.Random(config.seed)
    held: set[tuple[str, str]] = set()
    dev: list[tuple[str, str]] = []
    for code, names in sorted(trade_names().items()):
        if len(names) < 2:
            continue
        for name in names:
            if (
                rng.random() < config.dev_share
                and len(held & {(code, n) for n in names}) < len(names) - 1
            ):
                held.add((code, name))
                dev.append((name, code))
    dev.extend(_dev_rows())
    rulings = list(rulings)
    rng.shuffle(rulings)
    n_dev = int(len(rulings) * config.dev_share)
    dev.extend(rulings[:n_dev])
    return held, dev, rulings[n_dev:]


def _dev_rows() -> list[tuple[str, str]]:
    """The hand-written development descriptions (data/dev.csv), used for tuning only."""
    with open(DEV_FILE, encoding="utf-8", newline="") as f:
        return [(r["description"], r["hs_code"]) for r in csv.DictReader(f)]


def tune(model: TariffModel, dev: Sequence[tuple[str, str]]) -> tuple[Weights, dict[str, float]]:
    """The grid weights with the best dev mean reciprocal rank, then the best temperature."""
    rows = [(model.vector(t), model.index_of(c[:6])) for t, c in dev]
    rows = [(q, i) for q, i in rows if i is not None]
    sims = [model.similarities(q) for q, _ in rows]
    truth = np.array([i for _, i in rows])
    best: tuple[float, float, Weights] | None = None
    for p, c, h, ch in itertools.product(GRID["proto"], GRID["code"], GRID["head"], GRID["chap"]):
        w = Weights(p, c, h, ch)
        s = np.stack(
            [
                w.proto * d["proto"]
                + w.code * d["code"]
                + w.head * d["head"][model._class_head]
                + w.chap * d["chap"][model._class_chap]
                for d in sims
            ]
        )
        true_scores = s[np.arange(len(truth)), truth]
        rank = (s > true_scores[:, None]).sum(axis=1)
        mrr = float(np.where(rank < 10, 1.0 / (rank + 1), 0.0).mean())  # smoother than top-1
        key = (mrr, float((rank == 0).mean()), float((rank < 5).mean()))
        if best is None or key[0] > best[0][0]:
            best = (key, w)
    assert best is not None
    (mrr, top1, top5), w = best
    s = np.stack(
        [
            w.proto * d["proto"]
            + w.code * d["code"]
            + w.head * d["head"][model._class_head]
            + w.chap * d["chap"][model._class_chap]
            for d in sims
        ]
    )
    temps = {t: softmax_nll(s, truth, t) for t in TEMPERATURES}
    t_best = min(temps, key=lambda t: (temps[t], t))
    tuned = Weights(w.proto, w.code, w.head, w.chap, t_best)
    return tuned, {
        "dev_n": len(rows),
        "dev_top1": round(top1, 4),
        "dev_top5": round(top5, 4),
        "dev_mrr": round(mrr, 4),
        "dev_nll": round(temps[t_best], 4),
    }


CODE_FILES = ("text.py", "vectorizer.py", "phrases.py", "train.py", "model.py")


def model_version(phrases: Sequence[Phrase], config: TrainConfig) -> str:
    """`tariff-hs2022-<12 hex>`: a digest of every training text, label and setting, and of
    the code that turns text into features (so changed code never reuses a version)."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256(b"".join((here / f).read_bytes() for f in CODE_FILES))
    h.update(DEV_FILE.read_bytes())
    h.update(
        repr(
            (
                config.seed,
                config.min_df,
                config.dev_share,
                config.char_weight,
                config.chapters,
                sorted(CENTROID_KEEP.items()),
            )
        ).encode()
    )
    for p in phrases:
        h.update(f"{p.hs6}\t{p.source}\t{p.text}\n".encode())
    return f"tariff-hs2022-{h.hexdigest()[:12]}"


def train(
    rulings: Sequence[tuple[str, str]] = (), config: TrainConfig | None = None, log=print
) -> TariffModel:
    """Tune on the dev split, then fit the final model on everything."""
    config = config or TrainConfig()
    t0 = time.monotonic()
    base = [p for p in nomenclature_phrases(config.seed) if config.keeps(p.hs6)]
    held, dev, train_rulings = dev_split(config, rulings)
    dev = [(t, c) for t, c in dev if config.keeps(c)]
    dev_phrases = base + [p for p in trade_phrases(skip=held) if config.keeps(p.hs6)]
    dev_phrases += list(ruling_phrases(train_rulings))
    log(f"tuning on {len(dev)} dev rows ({len(dev_phrases)} training texts)")
    dev_model = fit(dev_phrases, config, Weights(), "dev")
    weights, dev_metrics = tune(dev_model, dev)
    log(f"weights {weights.to_json()} dev {dev_metrics}")
    all_phrases = base + [p for p in trade_phrases() if config.keeps(p.hs6)]
    all_phrases += list(ruling_phrases(rulings))
    version = model_version(all_phrases, config)
    model = fit(all_phrases, config, weights, version)
    sources = Counter(p.source for p in all_phrases)
    per_code: dict[str, int] = defaultdict(int)
    for p in all_phrases:
        per_code[p.hs6] += 1
    model.meta = {
        "trained_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "train_seconds": round(time.monotonic() - t0, 1),
        "texts": dict(sorted(sources.items())),
        "classes": len(model.codes),
        "features": len(model.vectorizer),
        "prototypes": int(model.prototypes.shape[0]),
        "rulings": len(rulings),
        "seed": config.seed,
        **dev_metrics,
    }
    log(f"model {version}: {model.meta}")
    return model


def train_and_save(
    out_dir: Path,
    rulings: Sequence[tuple[str, str]] = (),
    config: TrainConfig | None = None,
    log=print,
) -> TariffModel:
    model = train(rulings, config, log)
    model.save(Path(out_dir))
    return model
