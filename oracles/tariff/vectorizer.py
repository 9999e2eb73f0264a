"""TF-IDF vectors over the features of `oracles.tariff.text`, in numpy/scipy only.

Why not scikit-learn's TfidfVectorizer: the shipped model must give the same numbers on any
installation, and a pickled scikit-learn object is tied to its version.  Here the whole
state is a vocabulary list and an idf array, saved as plain files; the arithmetic is
sublinear tf (1 + log tf) x smooth idf, L2-normalised rows (as scikit-learn's defaults).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse

from oracles.tariff.text import features

# Relative weight of each feature kind: words, bigrams, character n-grams ("w:", "b:", "c:").
KIND_WEIGHTS = {"w:": 1.0, "b:": 1.0, "c:": 0.35}


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
        cls, texts: Iterable[str], min_df: int = 1, kind_weights: dict[str, float] | None = None
    ) -> tuple[Vectorizer, list[Counter[str]]]:
        """Learn vocabulary and idf; also returns each text's feature counts (for reuse)."""
        counts = [features(t) for t in texts]
        df: Counter[str] = Counter()
        for c in counts:
            df.update(c.keys())
        vocab = sorted(f for f, n in df.items() if n >= min_df)
        n_docs = len(counts)
        idf = np.array([np.log((1 + n_docs) / (1 + df[f])) + 1.0 for f in vocab], dtype=np.float32)
        return cls(vocab, idf, kind_weights), counts

    def __len__(self) -> int:
        return len(self.vocabulary)

    def transform_counts(self, counts: Sequence[Counter[str]]) -> sparse.csr_matrix:
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

    def transform(self, texts: Iterable[str]) -> sparse.csr_matrix:
        return self.transform_counts([features(t) for t in texts])

    def coverage(self, text: str) -> float:
        """Share of the text's words the vocabulary knows (0 for a language it never saw)."""
        words = [f for f in features(text) if f.startswith("w:")]
        if not words:
            return 0.0
        return sum(1 for w in words if w in self.index) / len(words)


def _tf(n: float) -> float:
    """Sublinear term frequency; a half-weighted single word (0.5) counts 0.5."""
    return 1.0 + float(np.log(n)) if n >= 1 else float(n)


def normalize_rows(m: sparse.csr_matrix) -> sparse.csr_matrix:
    """Each row scaled to unit L2 norm (empty rows stay empty)."""
    m = sparse.csr_matrix(m, dtype=np.float32)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms).astype(np.float32) @ m)
