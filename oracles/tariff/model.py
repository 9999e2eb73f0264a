"""The tariff classifier: TF-IDF retrieval over subheading prototypes, heading and chapter.

A description is scored against every HS6 subheading as

    score = w_proto * best prototype cosine      (official text, trade names, rulings)
          + w_code  * cosine to the subheading's centroid (all its phrasings)
          + w_head  * cosine to its heading's centroid
          + w_chap  * cosine to its chapter's centroid

so a precise trade name wins where it matches, and the heading and chapter levels carry a
description whose exact wording the subheading never saw.  Confidence is a softmax of the
scores at a fitted temperature, damped by how many of the description's words the model
knows at all: a language it never saw gets a low confidence, not a confident wrong code.

Inference is numpy/scipy sparse algebra (see MODEL_CARD.md for why not ONNX): one sparse
product per level, a few milliseconds per description on one core.  `TariffModel.load`
reads a model directory written by `save`; every array is a plain `.npy`/`.npz` file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from oracles.tariff.text import features
from oracles.tariff.vectorizer import Vectorizer

FORMAT = 1
MODEL_FILE = "model.json"
ARRAYS_FILE = "arrays.npz"
VOCAB_FILE = "vocabulary.txt"


@dataclass(frozen=True)
class Weights:
    """How the four similarities add up, and the softmax temperature of the confidence."""

    proto: float = 1.0
    code: float = 0.5
    head: float = 0.5
    chap: float = 0.25
    temperature: float = 0.05

    def to_json(self) -> dict[str, float]:
        return {
            "proto": self.proto,
            "code": self.code,
            "head": self.head,
            "chap": self.chap,
            "temperature": self.temperature,
        }


@dataclass(frozen=True)
class Prediction:
    """One ranked subheading: code, score, confidence and the features that led there."""

    hs6: str
    score: float
    confidence: float
    words: tuple[str, ...]


@dataclass
class TariffModel:
    """A trained model: vocabulary, prototypes and centroids for HS6, HS4 and HS2."""

    version: str
    vectorizer: Vectorizer
    codes: list[str]  # HS6 codes, class order
    prototypes: sparse.csr_matrix  # one row per prototype text
    proto_class: np.ndarray  # class index of each prototype row
    centroids6: sparse.csr_matrix  # one row per class
    centroids4: sparse.csr_matrix  # one row per heading in `headings`
    centroids2: sparse.csr_matrix  # one row per chapter in `chapters`
    headings: list[str]
    chapters: list[str]
    weights: Weights = field(default_factory=Weights)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._class_head = np.array([self.headings.index(c[:4]) for c in self.codes])
        self._class_chap = np.array([self.chapters.index(c[:2]) for c in self.codes])
        self._code_index = {c: i for i, c in enumerate(self.codes)}
        order = np.argsort(self.proto_class, kind="stable")
        if not np.array_equal(order, np.arange(len(order))):
            raise ValueError("prototype rows must be sorted by class")
        self._proto_t = sparse.csr_matrix(self.prototypes.T)
        self._c6_t = sparse.csr_matrix(self.centroids6.T)
        self._c4_t = sparse.csr_matrix(self.centroids4.T)
        self._c2_t = sparse.csr_matrix(self.centroids2.T)
        starts = np.searchsorted(self.proto_class, np.arange(len(self.codes)))
        self._has_proto = np.isin(np.arange(len(self.codes)), self.proto_class)
        self._proto_starts = np.minimum(starts, max(len(self.proto_class) - 1, 0))

    # --- scoring ----------------------------------------------------------------------

    def vector(self, text: str) -> sparse.csr_matrix:
        return self.vectorizer.transform_counts([features(text, query=True)])

    def similarities(self, q: sparse.csr_matrix) -> dict[str, np.ndarray]:
        """Cosine of the query to every prototype (max per class), class, heading, chapter."""
        proto = (q @ self._proto_t).toarray().ravel()
        best = np.zeros(len(self.codes), dtype=np.float32)
        if len(proto):
            red = np.maximum.reduceat(proto, self._proto_starts)
            best = np.where(self._has_proto, red, 0.0).astype(np.float32)
        return {
            "proto": best,
            "code": (q @ self._c6_t).toarray().ravel(),
            "head": (q @ self._c4_t).toarray().ravel(),
            "chap": (q @ self._c2_t).toarray().ravel(),
        }

    def scores(self, q: sparse.csr_matrix, weights: Weights | None = None) -> np.ndarray:
        w = weights or self.weights
        s = self.similarities(q)
        return (
            w.proto * s["proto"]
            + w.code * s["code"]
            + w.head * s["head"][self._class_head]
            + w.chap * s["chap"][self._class_chap]
        )

    def predict(self, text: str, top: int = 5) -> tuple[list[Prediction], dict[str, float]]:
        """The `top` subheadings for a description and the query's diagnostics.

        Diagnostics: `coverage` (share of known words), `best_similarity` (raw cosine of
        the best class), `margin` (score gap between the first two).
        """
        q = self.vector(text)
        scores = self.scores(q)
        coverage = self.vectorizer.coverage(text)
        order = np.lexsort((np.arange(len(scores)), -np.round(scores, 6)))[: max(top, 2)]
        conf = self.confidences(scores, coverage)
        preds = [
            Prediction(
                self.codes[i],
                round(float(scores[i]), 6),
                round(float(conf[i]), 4),
                self.explain(q, i),
            )
            for i in order[:top]
        ]
        diag = {
            "coverage": round(coverage, 4),
            "best_similarity": round(float(scores[order[0]]), 6),
            "margin": round(float(scores[order[0]] - scores[order[1]]), 6),
        }
        return preds, diag

    def confidences(self, scores: np.ndarray, coverage: float) -> np.ndarray:
        """Softmax of the scores at the fitted temperature, damped by vocabulary coverage."""
        z = (scores - scores.max()) / self.weights.temperature
        p = np.exp(z)
        p /= p.sum()
        return p * min(1.0, coverage)

    def explain(self, q: sparse.csr_matrix, cls: int, n: int = 5) -> tuple[str, ...]:
        """The query words that weigh most toward class `cls` (via its centroid)."""
        row = self.centroids6.getrow(cls)
        prod = q.multiply(row).tocoo()
        pairs = sorted(zip(prod.data, prod.col, strict=True), key=lambda t: (-t[0], t[1]))
        out: list[str] = []
        for _, col in pairs:
            feat = self.vectorizer.vocabulary[col]
            if feat.startswith("w:") and feat[2:] not in out:
                out.append(feat[2:])
            if len(out) == n:
                break
        return tuple(out)

    def index_of(self, hs6: str) -> int | None:
        return self._code_index.get(hs6)

    # --- files --------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the model to `folder` (created): model.json, vocabulary.txt, arrays.npz."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / VOCAB_FILE).write_text(
            "\n".join(self.vectorizer.vocabulary) + "\n", encoding="utf-8"
        )
        arrays: dict[str, np.ndarray] = {
            "idf": self.vectorizer.idf,
            "proto_class": self.proto_class.astype(np.int32),
        }
        for name in ("prototypes", "centroids6", "centroids4", "centroids2"):
            m: sparse.csr_matrix = getattr(self, name)
            arrays[f"{name}_data"] = m.data.astype(np.float16)
            arrays[f"{name}_indices"] = m.indices.astype(np.int32)
            arrays[f"{name}_indptr"] = m.indptr.astype(np.int64)
            arrays[f"{name}_shape"] = np.array(m.shape, dtype=np.int64)
        np.savez_compressed(folder / ARRAYS_FILE, **arrays)
        doc = {
            "format": FORMAT,
            "version": self.version,
            "codes": self.codes,
            "headings": self.headings,
            "chapters": self.chapters,
            "weights": self.weights.to_json(),
            "meta": self.meta,
            "kind_weights": self.vectorizer.kind_weights,
        }
        (folder / MODEL_FILE).write_text(
            json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8"
        )

    @classmethod
    def load(cls, folder: Path) -> TariffModel:
        """Read a model directory; ValueError names what is missing or inconsistent."""
        folder = Path(folder)
        missing = [f for f in (MODEL_FILE, ARRAYS_FILE, VOCAB_FILE) if not (folder / f).exists()]
        if missing:
            raise ValueError(
                f"{folder} is not a tariff model directory: missing "
                f"{', '.join(missing)}; train one with `smartcustoms classify train`"
            )
        doc = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT:
            raise ValueError(
                f"{folder}: model format {doc.get('format')!r}, this code reads {FORMAT}"
            )
        vocab = (folder / VOCAB_FILE).read_text(encoding="utf-8").split("\n")[:-1]
        with np.load(folder / ARRAYS_FILE) as z:
            arrays = {k: z[k] for k in z.files}

        def mat(name: str) -> sparse.csr_matrix:
            return sparse.csr_matrix(
                (
                    arrays[f"{name}_data"].astype(np.float32),
                    arrays[f"{name}_indices"],
                    arrays[f"{name}_indptr"],
                ),
                shape=tuple(arrays[f"{name}_shape"]),
            )

        return cls(
            version=doc["version"],
            vectorizer=Vectorizer(vocab, arrays["idf"], doc.get("kind_weights")),
            codes=doc["codes"],
            prototypes=mat("prototypes"),
            proto_class=arrays["proto_class"].astype(np.int64),
            centroids6=mat("centroids6"),
            centroids4=mat("centroids4"),
            centroids2=mat("centroids2"),
            headings=doc["headings"],
            chapters=doc["chapters"],
            weights=Weights(**doc["weights"]),
            meta=doc.get("meta", {}),
        )


def softmax_nll(scores: np.ndarray, true_idx: Sequence[int], temperature: float) -> float:
    """Mean negative log-likelihood of the true classes under softmax(scores / T)."""
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    rows = np.arange(len(true_idx))
    return float(-logp[rows, np.asarray(true_idx)].mean()) if len(true_idx) else math.nan
