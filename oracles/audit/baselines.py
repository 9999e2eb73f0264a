"""The two reference models every training run is compared with, on the same rows.

* **logistic**: scikit-learn `LogisticRegression` on one-hot categories (ids included, rare
  values pooled) and standardised log price, log mass, log unit value and duty rate.
* **plain_gbm**: `HistGradientBoostingClassifier()` with default settings (a fixed
  `random_state`, so its random early-stopping split repeats) on the raw
  columns, every categorical column (ids and HS6 included) as a native category.  Native
  categories are limited to 255 values, so the 254 most frequent values of a column keep
  their own category and the rest share one (scikit-learn's `max_categories`).

Neither sees history features or target encodings: they show what the oracle's features
add.  They are refitted on the oracle's training part and scored on the same validation
rows and, later, on any evaluation file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from oracles.audit.mapping import CATEGORY_FIELDS, ID_FIELDS

CATEGORIES = [*CATEGORY_FIELDS, *ID_FIELDS, "hs6"]
NUMBERS = ["net_mass", "price", "tax_rate"]


def _raw(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[CATEGORIES + NUMBERS]


def _logs(x: pd.DataFrame) -> np.ndarray:
    price = x["price"].to_numpy(dtype="float64")
    mass = x["net_mass"].to_numpy(dtype="float64")
    lp = np.log1p(np.clip(price, 0, None))
    lm = np.log1p(np.clip(mass, 0, None))
    return np.nan_to_num(np.c_[lp, lm, lp - lm, x["tax_rate"].to_numpy(dtype="float64")])


def logistic() -> Pipeline:
    pre = ColumnTransformer(
        [
            (
                "cat",
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5),
                CATEGORIES,
            ),
            ("num", make_pipeline(FunctionTransformer(_logs), StandardScaler()), NUMBERS),
        ]
    )
    return make_pipeline(FunctionTransformer(_raw), pre, LogisticRegression(max_iter=2000))


def plain_gbm() -> Pipeline:
    pre = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                    max_categories=255,
                ),
                CATEGORIES,
            ),
            ("num", "passthrough", NUMBERS),
        ]
    )
    mask = [True] * len(CATEGORIES) + [False] * len(NUMBERS)
    return make_pipeline(
        FunctionTransformer(_raw),
        pre,
        HistGradientBoostingClassifier(categorical_features=mask, random_state=0),
    )


BASELINES = {"logistic": logistic, "plain_gbm": plain_gbm}
