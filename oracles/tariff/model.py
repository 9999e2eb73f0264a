"""The tariff classifier: retrieval and a supervised network, added and calibrated.

A description gets one logit per HS 2022 subheading:

    logit = a * network log-probability   (supervised.py: which words decide a code)
          + b * retrieval score            (retrieval.py: which phrasings it looks like)

with `a` and `b` chosen on development rows (real rulings held back from training and the
evaluation sets' dev part), which also sets the scale: softmax(logit) is a probability
that the development rows say is calibrated.  The confidence of the best code is that
probability, damped when few of the description's words are known (a language or jargon
the model never saw gets a low confidence, not a confident wrong code).  Below
`uncertain_below` — chosen on development rows so that what the model does answer is
right at the target rate — the answer is "uncertain": the dialogue asks, and the TARIFF
oracle accuses no one.

Files (a model folder): `model.json` (classes, weights, calibration, metadata),
`vocabulary.txt`, `retrieval.npz` (idf and the packed similarity matrices, `packing.py`)
and `network.npz` (int8 embedding and heads) -- plain arrays, no pickle, each file well
under the repository's 20 MB limit.  Inference is numpy/scipy only.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from threadpoolctl import ThreadpoolController

from oracles.tariff.retrieval import Retrieval
from oracles.tariff.supervised import Net
from oracles.tariff.text import features
from oracles.tariff.vectorizer import Vectorizer

FORMAT = 3
MODEL_FILE = "model.json"
RETRIEVAL_FILE = "retrieval.npz"
NETWORK_FILE = "network.npz"
VOCAB_FILE = "vocabulary.txt"
COVERAGE_FULL = 0.6  # a description with this share of known words gets its full confidence


@cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


def confidence_scale(coverage: float) -> float:
    """Factor on the probabilities of a description whose known-word share is `coverage`:
    a text mostly in words the model never saw cannot be judged surely, whatever it ranks."""
    return min(1.0, coverage / COVERAGE_FULL)


@dataclass(frozen=True)
class Calibration:
    """How the halves add up, and when the model says "uncertain"."""

    net: float = 1.0  # weight of the network's log-probability
    retrieval: float = 10.0  # weight of the retrieval score
    uncertain_below: float = 0.5  # confidence under which the best code is not asserted
    # Confidence under which the TARIFF oracle accuses no one.  `uncertain_below` is set on
    # all development rows, whose hand-written part is easier than real traffic: on real
    # parcel lines the answers it lets through are right 74-86 % of the time, not 90 %.
    # An accusation is attested on chain and sends a declaration to review, so its bar is
    # set on the real lines alone (0.0 in models before it: `uncertain_below` then holds).
    accuse_below: float = 0.0

    def to_json(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Prediction:
    """One ranked subheading: code, logit, confidence and the words that led there."""

    hs6: str
    score: float
    confidence: float
    words: tuple[str, ...]


@dataclass
class TariffModel:
    """A loaded model; thread-safe (read-only after loading)."""

    version: str
    retrieval: Retrieval
    net: Net | None
    calibration: Calibration = field(default_factory=Calibration)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._code_index = {c: i for i, c in enumerate(self.codes)}

    @property
    def codes(self) -> list[str]:
        return self.retrieval.codes

    @property
    def vectorizer(self) -> Vectorizer:
        return self.retrieval.vectorizer

    # --- scoring ----------------------------------------------------------------------

    def vector(self, text: str) -> sparse.csr_matrix:
        return self.retrieval.vector(text)

    def logits(self, q: sparse.csr_matrix, calibration: Calibration | None = None) -> np.ndarray:
        """Calibrated logits of every subheading for one query row (softmax = probability).

        BLAS runs on one thread here: these products are small, and a multi-threaded BLAS
        on a busy machine spends 50x their time waiting for its threads.
        """
        c = calibration or self.calibration
        with _blas().limit(limits=1, user_api="blas"):
            out = c.retrieval * self.retrieval.scores(q)
            if self.net is not None and c.net:
                out = out + c.net * self.net.log_probs(q)[0]
        return out

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        z = np.exp(logits - logits.max())
        return z / z.sum()

    def predict(self, text: str, top: int = 5) -> tuple[list[Prediction], dict[str, float]]:
        """The `top` subheadings for a description and the query's diagnostics.

        Diagnostics: `coverage` (share of known words), `margin` (probability gap between
        the first two) and `uncertain` (1.0 when the best confidence is under the threshold).
        """
        counts = features(text, query=True)
        q = self.vectorizer.query(counts)
        coverage = self.vectorizer.known_share(counts)
        logits = self.logits(q)
        probs = self.probabilities(logits) * confidence_scale(coverage)
        order = np.lexsort((np.arange(len(logits)), -np.round(logits, 6)))[: max(top, 2)]
        preds = [
            Prediction(
                self.codes[i],
                round(float(logits[i]), 6),
                round(float(probs[i]), 4),
                self.explain(q, i),
            )
            for i in order[:top]
        ]
        best = float(probs[order[0]])
        diag = {
            "coverage": round(coverage, 4),
            "margin": round(best - float(probs[order[1]]), 4),
            "uncertain": float(best < self.calibration.uncertain_below),
        }
        return preds, diag

    def explain(self, q: sparse.csr_matrix, cls: int, n: int = 5) -> tuple[str, ...]:
        return self.retrieval.explain(q, cls, n)

    def index_of(self, hs6: str) -> int | None:
        return self._code_index.get(hs6)

    # --- files --------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the model to `folder` (created): model.json, vocabulary.txt and the arrays."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / VOCAB_FILE).write_text(
            "\n".join(self.vectorizer.vocabulary) + "\n", encoding="utf-8"
        )
        _save(folder / RETRIEVAL_FILE, self.retrieval.arrays())
        if self.net is not None:
            _save(folder / NETWORK_FILE, self.net.arrays())
        else:
            (folder / NETWORK_FILE).unlink(missing_ok=True)  # not a stale one from before
        r = self.retrieval
        doc = {
            "format": FORMAT,
            "version": self.version,
            "codes": r.codes,
            "headings": r.headings,
            "chapters": r.chapters,
            "retrieval_weights": r.weights.to_json(),
            "calibration": self.calibration.to_json(),
            "kind_weights": self.vectorizer.kind_weights,
            "network": self.net is not None,
            "meta": self.meta,
        }
        (folder / MODEL_FILE).write_text(
            json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )

    @classmethod
    def load(cls, folder: Path) -> TariffModel:
        """Read a model directory; ValueError names what is missing or inconsistent."""
        folder = Path(folder)
        missing = [f for f in (MODEL_FILE, RETRIEVAL_FILE, VOCAB_FILE) if not (folder / f).exists()]
        if missing:
            raise ValueError(
                f"{folder} is not a tariff model directory: missing "
                f"{', '.join(missing)}; train one with `smartcustoms classify train`"
            )
        doc = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT:
            raise ValueError(
                f"{folder}: model format {doc.get('format')!r}, this code reads {FORMAT}; "
                "retrain it with `smartcustoms classify train`"
            )
        vocab = (folder / VOCAB_FILE).read_text(encoding="utf-8").split("\n")[:-1]
        retrieval = Retrieval.from_arrays(_arrays(folder / RETRIEVAL_FILE), vocab, doc)
        net = None
        if doc.get("network"):
            if not (folder / NETWORK_FILE).exists():
                raise ValueError(
                    f"{folder}: model.json says the model has a network but {NETWORK_FILE} "
                    "is missing; copy the whole model folder again"
                )
            net = Net.from_arrays(
                _arrays(folder / NETWORK_FILE), retrieval.class_head, retrieval.class_chap
            )
        return cls(
            version=doc["version"],
            retrieval=retrieval,
            net=net,
            calibration=Calibration(**doc["calibration"]),
            meta=doc.get("meta", {}),
        )


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    named: dict[str, Any] = arrays  # numpy's stubs would read a key as `allow_pickle`
    np.savez_compressed(path, **named)


def _arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of one model file; ValueError saying which file is damaged (numpy's own
    message for a file that is not an .npz talks about pickles)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(
            f"{path} is damaged or not a model array file ({type(exc).__name__}); copy the "
            "whole model folder again or retrain it with `smartcustoms classify train`"
        ) from None
