"""The packed storage of the retrieval matrices (`oracles/tariff/packing.py`)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from oracles.tariff import packing


def _matrix(seed: int = 7) -> sparse.csr_matrix:
    rng = np.random.default_rng(seed)
    m = sparse.random(60, 200_000, density=0.0004, random_state=rng, dtype=np.float32)
    m = sparse.csr_matrix(m)
    m.data = np.abs(m.data) + 1e-3
    m = sparse.vstack([m, sparse.csr_matrix((1, 200_000), dtype=np.float32)]).tolil()  # empty
    m[3, 0] = 0.5  # column 0 as a row's first entry (a gap of 0)
    m[3, 199_999] = 0.25  # and the last column (a gap over 65,535)
    return sparse.csr_matrix(m)


def test_pack_unpack_keeps_the_pattern_and_values_within_the_step() -> None:
    m = _matrix()
    back = packing.unpack(packing.pack(m, "x"), "x")
    m.sort_indices()
    assert back.shape == m.shape and back.nnz == m.nnz
    assert (back.indptr == m.indptr).all() and (back.indices == m.indices).all()
    rel = np.abs(back.data - m.data) / m.data
    assert rel.max() <= np.exp(packing.STEP / 2) - 1 + 1e-6  # half a log step
    assert back.getrow(60).nnz == 0 and back[3, 199_999] == pytest.approx(0.25, rel=0.03)


def test_a_round_tripped_matrix_is_stored_bit_for_bit() -> None:
    once = packing.round_trip(_matrix(3))
    twice = packing.round_trip(once)
    assert (once.data == twice.data).all() and (once.indices == twice.indices).all()


def test_negative_weights_are_refused_rather_than_stored_wrong() -> None:
    m = _matrix()
    m.data[0] = -1.0
    with pytest.raises(ValueError, match="positive"):
        packing.pack(m, "x")
