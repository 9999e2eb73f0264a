"""Features never see the future: a row's features depend only on rows of earlier days."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from oracles.audit import features as F
from oracles.audit.data import prepare
from oracles.audit.mapping import ColumnMapping


@pytest.fixture(scope="module")
def frame(history: pd.DataFrame) -> pd.DataFrame:
    return prepare(history, ColumnMapping(), need_label=True).frame


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())  # NaN == NaN here


def test_future_rows_do_not_change_past_features(frame: pd.DataFrame) -> None:
    X = F.build(frame)
    cut = int(np.median(frame["day"]))
    past = (frame["day"] <= cut).to_numpy()
    changed = frame.copy()
    fut = ~past
    changed.loc[fut, "label"] = 1 - changed.loc[fut, "label"]
    changed.loc[fut, "price"] *= 7.0
    changed.loc[fut, "net_mass"] *= 0.1
    changed.loc[fut, "importer"] = changed.loc[fut, "importer"].iloc[::-1].to_numpy()
    X2 = F.build(changed)
    _same(X[past], X2[past])
    assert not np.allclose(np.nan_to_num(X[fut].to_numpy()), np.nan_to_num(X2[fut].to_numpy()))
    # and cutting the future off altogether gives the same past features
    _same(X[past], F.build(frame[past].copy()))


def test_a_label_reaches_only_later_days(frame: pd.DataFrame) -> None:
    X = F.build(frame)
    busy = frame["importer"].value_counts().index[0]
    rows = frame.index[frame["importer"] == busy]
    i = rows[len(rows) // 2]
    flipped = frame.copy()
    flipped.loc[i, "label"] = 1 - flipped.loc[i, "label"]
    X2 = F.build(flipped)
    day = frame.loc[i, "day"]
    upto = (frame["day"] <= day).to_numpy()  # the row itself and its own day included
    _same(X[upto], X2[upto])
    later = (frame["importer"] == busy).to_numpy() & (frame["day"] > day).to_numpy()
    assert (X.loc[later, "imp_frauds_prev"] != X2.loc[later, "imp_frauds_prev"]).all()


def test_target_encoding_is_smoothed_past_rate() -> None:
    rows = [("A", 1, 1), ("B", 1, 0), ("A", 2, 0), ("A", 2, 1), ("A", 3, 0)]
    frame = pd.DataFrame(
        {
            "declaration_id": [f"d{i}" for i in range(5)],
            "importer": [r[0] for r in rows],
            "label": [r[2] for r in rows],
            "date": pd.to_datetime([f"2024-01-0{r[1]}" for r in rows]),
            "declarant": "X",
            "seller": "S",
            "courier": "",
            "hs_code": "610910",
            "hs2": "61",
            "hs4": "6109",
            "hs6": "610910",
            "net_mass": 10.0,
            "price": 100.0,
            "tax_rate": 5.0,
            **{f: "" for f in F.CATEGORY_FIELDS},
        }
    )
    frame["day"] = frame["date"].to_numpy("datetime64[D]").astype("int64")
    X = F.build(frame)
    m = F.SMOOTHING
    prior1 = (1 + F.PRIOR_A) / (2 + F.PRIOR_N)  # day 2 sees the 2 rows of day 1
    assert X.loc[2, "te_importer"] == pytest.approx((1 + m * prior1) / (1 + m))
    assert X.loc[3, "te_importer"] == X.loc[2, "te_importer"]  # same day: not each other
    prior2 = (2 + F.PRIOR_A) / (4 + F.PRIOR_N)
    assert X.loc[4, "te_importer"] == pytest.approx((2 + m * prior2) / (3 + m))
    assert X.loc[0, "imp_n_prev"] == 0 and X.loc[4, "imp_n_prev"] == 3
    assert X.loc[4, "imp_days_first"] == 2 and X.loc[4, "imp_days_last"] == 1


def test_scoring_uses_training_labels_only(frame: pd.DataFrame) -> None:
    cut = frame["day"].iloc[3000]  # split between days, as a history and a later file are
    train, later = frame[frame["day"] < cut].copy(), frame[frame["day"] >= cut].copy()
    n = len(train)
    state = F.fit_state(train)
    Xs = F.build(later, state)
    relabelled = later.assign(label=1 - later["label"])
    _same(Xs, F.build(relabelled, state))
    # counts that need no label continue the training history exactly
    full = F.build(frame)
    np.testing.assert_array_equal(Xs["imp_n_prev"].to_numpy(), full["imp_n_prev"].to_numpy()[n:])
    np.testing.assert_array_equal(
        Xs["imp_hs6_n_prev"].to_numpy(), full["imp_hs6_n_prev"].to_numpy()[n:]
    )
