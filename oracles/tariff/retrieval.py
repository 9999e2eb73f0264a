"""Retrieval half of the tariff model: TF-IDF similarity to subheadings, headings, chapters.

A description is scored against every HS6 subheading as

    score = w_proto * best prototype cosine      (official text, trade names, rulings)
          + w_code  * cosine to the subheading's centroid (all its phrasings)
          + w_head  * cosine to its heading's centroid
          + w_chap  * cosine to its chapter's centroid

so a precise phrasing wins where it matches, and the heading and chapter levels carry a
description whose exact wording the subheading never saw.  It needs no training beyond
counting, explains itself (the words shared with the winning centroid), and covers every
subheading, even those with one official text; the supervised network (`supervised.py`)
is what learns which words decide.  `model.py` adds the two.

Inference is numpy/scipy sparse algebra: one sparse product per level, about a millisecond
per description on one core.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from oracles.tariff import packing
from oracles.tariff.text import features
from oracles.tariff.vectorizer import Vectorizer

MATRICES = ("prototypes", "centroids6", "centroids4", "centroids2")


@dataclass(frozen=True)
class Weights:
    """How the four similarities add up."""

    proto: float = 1.0
    code: float = 1.0
    head: float = 0.5
    chap: float = 0.25

    def to_json(self) -> dict[str, float]:
        return {"proto": self.proto, "code": self.code, "head": self.head, "chap": self.chap}


@dataclass
class Retrieval:
    """Vocabulary, prototypes and centroids for HS6, HS4 and HS2."""

    vectorizer: Vectorizer
    codes: list[str]  # HS6 codes, class order
    prototypes: sparse.csr_matrix  # one row per prototype text
    proto_class: np.ndarray  # class index of each prototype row
    centroids6: sparse.csr_matrix  # one row per class
    centroids4: sparse.csr_matrix  # one row per heading in `headings`
    centroids2: sparse.csr_matrix  # one row per chapter in `chapters`
    headings: list[str]
    chapters: list[str]
    weights: Weights = Weights()

    def __post_init__(self) -> None:
        self.class_head = np.array([self.headings.index(c[:4]) for c in self.codes])
        self.class_chap = np.array([self.chapters.index(c[:2]) for c in self.codes])
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

    def vector(self, text: str) -> sparse.csr_matrix:
        return self.vectorizer.query(features(text, query=True))

    def similarities(self, q: sparse.csr_matrix) -> dict[str, np.ndarray]:
        """Cosine of one query row to every prototype (max per class), class, heading, chapter."""
        cols, vals = q.indices, q.data.astype(np.float32)
        proto = _dot(cols, vals, self._proto_t)
        best = np.zeros(len(self.codes), dtype=np.float32)
        if len(proto):
            red = np.maximum.reduceat(proto, self._proto_starts)
            best = np.where(self._has_proto, red, 0.0).astype(np.float32)
        return {
            "proto": best,
            "code": _dot(cols, vals, self._c6_t),
            "head": _dot(cols, vals, self._c4_t),
            "chap": _dot(cols, vals, self._c2_t),
        }

    def combine(self, sims: dict[str, np.ndarray], weights: Weights | None = None) -> np.ndarray:
        w = weights or self.weights
        return (
            w.proto * sims["proto"]
            + w.code * sims["code"]
            + w.head * sims["head"][self.class_head]
            + w.chap * sims["chap"][self.class_chap]
        )

    def scores(self, q: sparse.csr_matrix) -> np.ndarray:
        return self.combine(self.similarities(q))

    def explain(self, q: sparse.csr_matrix, cls: int, n: int = 5) -> tuple[str, ...]:
        """The query words (or Chinese character runs) that weigh most toward class `cls`;
        a Chinese run overlapping one already listed (「凍鮭魚」 after 「鮭魚」) is not repeated."""
        c6 = self.centroids6
        s, e = c6.indptr[cls], c6.indptr[cls + 1]
        common, qi, ci = np.intersect1d(
            q.indices, c6.indices[s:e], assume_unique=True, return_indices=True
        )
        weight = q.data[qi] * c6.data[s:e][ci]
        out: list[str] = []
        for k in np.lexsort((common, -weight)):
            feat = self.vectorizer.vocabulary[common[k]]
            word = feat[2:]
            if feat.startswith(("w:", "h:")) and not any(_overlap(word, w) for w in out):
                out.append(word)
            if len(out) == n:
                break
        return tuple(out)

    # --- files --------------------------------------------------------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for `from_arrays` (matrices packed: `packing.py`)."""
        out: dict[str, np.ndarray] = {
            "idf": self.vectorizer.idf,
            "proto_class": self.proto_class.astype(np.int32),
        }
        for name in MATRICES:
            out.update(packing.pack(getattr(self, name), name))
        return out

    @classmethod
    def from_arrays(
        cls,
        arrays: dict[str, np.ndarray],
        vocabulary: list[str],
        doc: dict,
    ) -> Retrieval:
        def mat(name: str) -> sparse.csr_matrix:
            return packing.unpack(arrays, name)

        return cls(
            vectorizer=Vectorizer(vocabulary, arrays["idf"], doc.get("kind_weights")),
            codes=doc["codes"],
            prototypes=mat("prototypes"),
            proto_class=arrays["proto_class"].astype(np.int64),
            centroids6=mat("centroids6"),
            centroids4=mat("centroids4"),
            centroids2=mat("centroids2"),
            headings=doc["headings"],
            chapters=doc["chapters"],
            weights=Weights(**doc["retrieval_weights"]),
        )


def _dot(cols: np.ndarray, vals: np.ndarray, mat_t: sparse.csr_matrix) -> np.ndarray:
    """`q @ mat_t.T`-free: the dense product of a sparse query (cols, vals) with a
    feature-major matrix, as one bincount over the rows the query touches (scipy's sparse
    product spends most of a single query's time in checks, not arithmetic)."""
    n = mat_t.shape[1]
    if not len(cols):
        return np.zeros(n, dtype=np.float32)
    starts = mat_t.indptr[cols]
    lengths = mat_t.indptr[cols + 1] - starts
    if not lengths.sum():
        return np.zeros(n, dtype=np.float32)
    total = int(lengths.sum())
    idx = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)
    w = np.repeat(vals, lengths) * mat_t.data[idx]
    return np.bincount(mat_t.indices[idx], weights=w, minlength=n).astype(np.float32)


def _overlap(a: str, b: str) -> bool:
    """True when two explanation terms say the same thing: equal, or Chinese runs sharing
    a character pair."""
    if a == b:
        return True
    return not a.isascii() and any(a[i : i + 2] in b for i in range(len(a) - 1))
