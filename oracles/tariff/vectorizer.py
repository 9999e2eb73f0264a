"""TF-IDF vectors over the features of `oracles.tariff.text`, in numpy/scipy only.

Why not scikit-learn's TfidfVectorizer: the shipped model must give the same numbers on any
installation, and a pickled scikit-learn object is tied to its version.  Here the whole
state is a vocabulary list and an idf array, saved as plain files; the arithmetic is
sublinear tf (1 + log tf) x smooth idf, L2-normalised rows (as scikit-learn's defaults).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence

import numpy as np
from scipy import sparse

from oracles.tariff.text import Weights, features, skeleton

# Relative weight of each feature kind (see `oracles.tariff.text`): words, bigrams, character
# n-grams, consonant skeletons, quantities, single Chinese characters, Chinese 2-3-grams.
KIND_WEIGHTS = {"w:": 1.0, "b:": 1.0, "c:": 0.35, "k:": 1.0, "n:": 1.0, "u:": 0.4, "h:": 1.0}
COVERAGE_KINDS = ("w:", "h:")  # what counts as a "word" when asking how much is known


class Vectorizer:
    """Feature string -> column, with its inverse document frequency."""

    def __init__(
        self,
        vocabulary: Sequence[str],
        idf: np.ndarray,
        kind_weights: dict[str, float] | None = None,
    ) -> None:
        if len(vocabulary) != len(idf):
            raise ValueError(f"{len(vocabulary)} features but {len(idf)} idf values")
        self.vocabulary = list(vocabulary)
        self.index = {f: i for i, f in enumerate(self.vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float32)
        self.kind_weights = dict(kind_weights or KIND_WEIGHTS)
        kw = self.kind_weights
        self._scale = np.array([kw.get(f[:2], 1.0) for f in self.vocabulary], dtype=np.float32)

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        min_df: int = 1,
        kind_weights: dict[str, float] | None = None,
        always: Collection[int] = (),
    ) -> tuple[Vectorizer, list[Weights]]:
        """Learn vocabulary and idf; also returns each text's feature counts (for reuse).

        A feature in fewer than `min_df` texts is dropped, unless a text whose index is in
        `always` has it: a user's own ruling may name a brand nothing else names, and that
        brand is exactly what the user trained for."""
        counts = [features(t) for t in texts]
        df: Counter[str] = Counter()
        for c in counts:
            df.update(c.keys())
        kept = {f for i in always for f in counts[i]}
        vocab = sorted(f for f, n in df.items() if n >= min_df or f in kept)
        n_docs = len(counts)
        idf = np.array([np.log((1 + n_docs) / (1 + df[f])) + 1.0 for f in vocab], dtype=np.float32)
        return cls(vocab, idf, kind_weights), counts

    def __len__(self) -> int:
        return len(self.vocabulary)

    def transform_counts(self, counts: Sequence[Mapping[str, float]]) -> sparse.csr_matrix:
        """L2-normalised tf-idf rows for precomputed feature counts (unknown features dropped)."""
        indptr = [0]
        indices: list[int] = []
        data: list[float] = []
        for c in counts:
            cols = [(self.index[f], n) for f, n in c.items() if f in self.index]
            cols.sort()
            for j, n in cols:
                indices.append(j)
                data.append(_tf(n) * self.idf[j] * self._scale[j])
            indptr.append(len(indices))
        m = sparse.csr_matrix(
            (
                np.asarray(data, dtype=np.float32),
                np.asarray(indices, dtype=np.int32),
                np.asarray(indptr, dtype=np.int64),
            ),
            shape=(len(counts), len(self.vocabulary)),
        )
        return normalize_rows(m)

    def query(self, counts: Mapping[str, float]) -> sparse.csr_matrix:
        """One L2-normalised row for a query's feature counts, built with numpy directly
        (the general path's scipy checks cost more than the arithmetic for one row)."""
        pairs = sorted((self.index[f], n) for f, n in counts.items() if f in self.index)
        cols = np.fromiter((j for j, _ in pairs), dtype=np.int32, count=len(pairs))
        tf = np.fromiter((_tf(n) for _, n in pairs), dtype=np.float32, count=len(pairs))
        vals = tf * self.idf[cols] * self._scale[cols]
        norm = float(np.sqrt((vals * vals).sum()))
        if norm > 0:
            vals /= norm
        indptr = np.array([0, len(cols)], dtype=np.int64)
        return sparse.csr_matrix((vals, cols, indptr), shape=(1, len(self.vocabulary)))

    def known_share(self, counts: Mapping[str, float]) -> float:
        """Share of a text's words the vocabulary knows, from its feature counts: a Latin
        word counts as known when the word or its consonant skeleton is (parcel lines
        abbreviate: "blsm" for "balsam"); Chinese counts its character pairs.  0 for a
        language the model never saw."""
        words = [f for f in counts if f.startswith(COVERAGE_KINDS)]
        if not words:
            return 0.0
        skeletons = {f[2:] for f in counts if f.startswith("k:") and f in self.index}
        known = sum(
            1
            for w in words
            if w in self.index or (w.startswith("w:") and skeleton(w[2:]) in skeletons)
        )
        return known / len(words)

    def transform(self, texts: Iterable[str]) -> sparse.csr_matrix:
        return self.transform_counts([features(t) for t in texts])

    def coverage(self, text: str) -> float:
        """Share of the text's words (Chinese: character pairs) the vocabulary knows; 0 for a
        language it never saw."""
        return self.known_share(features(text))


def _tf(n: float) -> float:
    """Sublinear term frequency; a half-weighted single word (0.5) counts 0.5."""
    return 1.0 + float(np.log(n)) if n >= 1 else float(n)


def normalize_rows(m: sparse.csr_matrix) -> sparse.csr_matrix:
    """Each row scaled to unit L2 norm (empty rows stay empty)."""
    m = sparse.csr_matrix(m, dtype=np.float32)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms).astype(np.float32) @ m)
