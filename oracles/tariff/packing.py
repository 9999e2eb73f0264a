"""How the retrieval matrices are stored: small enough for git, read back bit for bit.

The model's sparse TF-IDF matrices (4.5 million prototype entries, 3.4 million centroid
entries) were half of a 54 MB artefact as float16 values and int32 column indices.  Two
facts make them smaller without changing what the model computes:

- Column indices within a row are sorted, so each is stored as the gap from the previous
  one, and the gaps' bytes as planes (all low bytes, then all second bytes, ...): most
  gaps fit one byte, so the upper planes are near-constant and compress to little.
- Every value is a share of its row's largest value (rows are L2-normalised), and a
  similarity is a sum of products: a relative error of 1 % in one entry moves a cosine by
  far less than the gap between two codes.  Values are stored as 8-bit codes on a log
  scale (ratio to the row maximum from 1 down to 1e-5, steps of 4.6 %, at most 2.3 %
  off), with the row maximum as float32.

`round_trip` is applied when the model is trained, so the matrices the development rows
are tuned and calibrated on are exactly the ones a loaded model reads (`pack` / `unpack`
of a round-tripped matrix give the same float32 values bit for bit).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

LOG_RANGE = 1e-5  # the smallest ratio to a row's maximum a code stands for
STEP = float(np.log(1 / LOG_RANGE) / 255)


def _planes(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.view(np.uint8).reshape(-1, a.itemsize).T)


def _unplanes(p: np.ndarray, dtype: type) -> np.ndarray:
    return np.ascontiguousarray(p.T).view(dtype).reshape(-1)


def _row_ids(indptr: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))


def _decode(codes: np.ndarray, row_max: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    per = row_max[_row_ids(indptr)]
    return (per * np.exp(-codes.astype(np.float32) * np.float32(STEP))).astype(np.float32)


def pack(m: sparse.csr_matrix, name: str) -> dict[str, np.ndarray]:
    """Arrays `{name}_*` that `unpack` turns back into `m` (values to 8-bit log codes)."""
    m = sparse.csr_matrix(m, dtype=np.float32, copy=True)
    m.sum_duplicates()
    m.sort_indices()
    if m.nnz and (m.data <= 0).any():
        raise ValueError(f"{name}: packing keeps positive similarity weights only")
    counts = np.diff(m.indptr)
    rows = _row_ids(m.indptr)
    row_max = np.zeros(m.shape[0], dtype=np.float32)
    np.maximum.at(row_max, rows, m.data)
    ratio = m.data / row_max[rows]
    codes = np.clip(np.round(-np.log(ratio) / STEP), 0, 255).astype(np.uint8)
    gaps = m.indices.astype(np.int64)
    gaps[1:] -= m.indices[:-1]
    firsts = m.indptr[:-1][counts > 0]
    gaps[firsts] = m.indices[firsts]
    return {
        f"{name}_shape": np.array(m.shape, dtype=np.int64),
        f"{name}_counts": counts.astype(np.int32),
        f"{name}_gaps": _planes(gaps.astype(np.uint32)),
        f"{name}_codes": codes,
        f"{name}_rowmax": row_max,
    }


def unpack(arrays: dict[str, np.ndarray], name: str) -> sparse.csr_matrix:
    """The float32 CSR matrix `pack` stored under `name`."""
    counts = arrays[f"{name}_counts"].astype(np.int64)
    indptr = np.concatenate(([0], np.cumsum(counts)))
    gaps = _unplanes(arrays[f"{name}_gaps"], np.uint32).astype(np.int64)
    starts = indptr[:-1][counts > 0]
    # a row's indices are the running sum of its gaps: subtract what earlier rows added
    total = np.cumsum(gaps)
    offset = np.zeros(len(gaps), dtype=np.int64)
    offset[starts] = total[starts] - gaps[starts]
    indices = total - np.maximum.accumulate(offset)
    data = _decode(arrays[f"{name}_codes"], arrays[f"{name}_rowmax"], indptr)
    shape = tuple(int(s) for s in arrays[f"{name}_shape"])
    return sparse.csr_matrix((data, indices.astype(np.int32), indptr), shape=shape)


def round_trip(m: sparse.csr_matrix) -> sparse.csr_matrix:
    """`m` with the values a stored copy will have (what training must tune on)."""
    return unpack(pack(m, "m"), "m")
