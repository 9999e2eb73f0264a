"""Features of a declaration, computed only from what was known before its date.

Why "strictly before its date": a model is trained on history and then asked about new
declarations.  If a training row's features saw its own label, a later label, or even a row
of the same day, the model would learn from information it never has when it scores, and
its measured precision would be a lie.  Every history feature of a row therefore uses rows
with an *earlier date* only; rows of the same day never see each other.

* **Target encoding** (importer, declarant, seller, courier, HS6): the smoothed past fraud
  rate `(frauds + m * prior) / (audited + m)`, m = `SMOOTHING`, the prior itself being the
  past rate of all declarations.  Each row is its own fold and only earlier rows count
  (expanding, out-of-fold by construction); for new data the counts of the whole training
  history are used (`HistoryState`).
* **Unit value**: log(price / net mass) and its gap to the *median* log unit value of the
  same HS6 x origin in the past (falling back to HS6, then HS4, then all goods when the
  group has fewer than `MIN_REF` earlier declarations); net mass against the HS6 norm.
* **Party history**: per importer, earlier declarations, past frauds, days since first and
  last declaration, price against its usual level, whether this HS6 / declarant is new to it.
* **Goods and route**: HS2 / HS4 / HS6 as numbers (neighbouring codes are related goods),
  duty rate and duty amount, origin against departure, the categorical fields as codes of
  the training vocabulary (unseen values become "missing"), calendar.

Scoring uses the training history (`HistoryState`) plus, for counts that need no label, the
earlier rows of the file being scored.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from oracles.audit.mapping import CATEGORY_FIELDS

SMOOTHING = 10.0
MIN_REF = 5
PRIOR_A, PRIOR_N = 1.0, 20.0  # the prior before any history: 1 fraud in 20
TE_KEYS = ("importer", "declarant", "seller", "courier", "hs6")
COUNT_KEYS = ("imp_hs6", "imp_decl")
_SHORT = {"importer": "imp", "declarant": "decl", "seller": "sel", "courier": "cour", "hs6": "hs6"}
MEDIAN_LEVELS = ("hs6_origin", "hs6", "hs4")

BASE_FEATURES = (
    "te_importer",
    "te_declarant",
    "te_seller",
    "te_courier",
    "te_hs6",
    "imp_frauds_prev",
    "decl_frauds_prev",
    "sel_frauds_prev",
    "imp_n_prev",
    "decl_n_prev",
    "sel_n_prev",
    "imp_days_first",
    "imp_days_last",
    "imp_price_jump",
    "imp_hs6_n_prev",
    "imp_decl_n_prev",
    "hs2",
    "hs4",
    "hs6",
    "log_price",
    "log_mass",
    "log_uv",
    "uv_ratio",
    "uv_ratio_hs6",
    "uv_ref_n",
    "mass_ratio",
    "tax_rate",
    "log_tax",
    "origin_ne_departure",
    *(f"cat_{f}" for f in CATEGORY_FIELDS),
    "dow",
    "month",
)


@dataclass
class HistoryState:
    """What training history leaves for scoring: per-key counts, medians, vocabularies."""

    keys: dict[str, pd.DataFrame] = field(default_factory=dict)  # n, frauds, first, last, lp
    medians: dict[str, pd.DataFrame] = field(default_factory=dict)  # med, n
    mass_means: pd.DataFrame | None = None  # hs6 -> mean log mass, n
    vocab: dict[str, list[str]] = field(default_factory=dict)
    global_n: int = 0
    global_frauds: int = 0
    global_median: float = float("nan")
    last_day: int = 0

    def to_tables(self) -> dict[str, pd.DataFrame]:
        tables = {f"key_{k}": v.reset_index(names="key") for k, v in self.keys.items()}
        tables |= {f"median_{k}": v.reset_index(names="key") for k, v in self.medians.items()}
        if self.mass_means is not None:
            tables["mass_hs6"] = self.mass_means.reset_index(names="key")
        return tables

    def meta(self) -> dict[str, Any]:
        return {
            "vocab": self.vocab,
            "global_n": self.global_n,
            "global_frauds": self.global_frauds,
            "global_median": self.global_median,
            "last_day": self.last_day,
        }

    @classmethod
    def from_tables(cls, tables: dict[str, pd.DataFrame], meta: dict[str, Any]) -> HistoryState:
        st = cls(
            vocab={k: list(v) for k, v in meta["vocab"].items()},
            global_n=int(meta["global_n"]),
            global_frauds=int(meta["global_frauds"]),
            global_median=float(meta["global_median"]),
            last_day=int(meta["last_day"]),
        )
        for name, t in tables.items():
            t = t.set_index("key")
            if name.startswith("key_"):
                st.keys[name[4:]] = t
            elif name.startswith("median_"):
                st.medians[name[7:]] = t
            elif name == "mass_hs6":
                st.mass_means = t
        return st


def _key_series(frame: pd.DataFrame) -> dict[str, pd.Series]:
    keys = {k: frame[k] for k in TE_KEYS}
    keys["imp_hs6"] = frame["importer"] + "|" + frame["hs6"]
    keys["imp_decl"] = frame["importer"] + "|" + frame["declarant"]
    return keys


def _median_keys(frame: pd.DataFrame) -> dict[str, pd.Series]:
    return {
        "hs6_origin": frame["hs6"] + "|" + frame["origin_country"],
        "hs6": frame["hs6"],
        "hs4": frame["hs4"],
    }


def _expanding(
    keys: pd.Series, day: np.ndarray, values: dict[str, np.ndarray], *, days: bool = False
) -> dict[str, np.ndarray]:
    """Per row, over rows of the same key with an earlier day: count and sums (and with
    `days`, the first and last such day).

    `day` must be sorted ascending.  Rows of the same key and day never see each other.
    """
    codes, _ = pd.factorize(keys, use_na_sentinel=False)
    d0 = day - (day.min() if len(day) else 0)
    key_day = codes.astype("int64") * (int(d0.max(initial=0)) + 1) + d0
    df = pd.DataFrame({"k": codes, "kd": key_day, "d": day} | values)
    g = df.groupby("k", sort=False)
    gd = df.groupby("kd", sort=False)
    out = {"n": (g.cumcount() - gd.cumcount()).to_numpy().astype("float64")}
    for name, v in values.items():
        cum = g[name].cumsum().to_numpy() - v
        same = gd[name].cumsum().to_numpy() - v
        out[name] = cum - same
    if days:
        seen = out["n"] > 0
        out["first"] = np.where(seen, g["d"].transform("first").to_numpy(), np.nan)
        df["prev_d"] = g["d"].shift()
        out["last"] = np.where(
            seen, df.groupby("kd", sort=False)["prev_d"].transform("first").to_numpy(), np.nan
        )
    return out


class _Lookup:
    """Values of a state table for many keys, the keys located once."""

    def __init__(self, table: pd.DataFrame | None, keys: pd.Series) -> None:
        self.table = table
        self.n = len(keys)
        if table is None or table.empty:
            self.idx = None
        else:
            self.idx = table.index.get_indexer(keys)
            self.found = self.idx >= 0
            self.safe = np.maximum(self.idx, 0)

    def __call__(self, col: str, fill: float) -> np.ndarray:
        if self.idx is None or self.table is None:  # idx is None whenever table is None
            return np.full(self.n, fill)
        vals = self.table[col].to_numpy(dtype="float64")
        return np.where(self.found, vals[self.safe], fill)


def _past_medians(
    day: np.ndarray, keys: dict[str, pd.Series], luv: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Median and count of log unit value per level over earlier days (a pass in date order)."""
    n = len(day)
    out = {lvl: (np.full(n, np.nan), np.zeros(n)) for lvl in (*MEDIAN_LEVELS, "all")}
    key_lists = {lvl: keys[lvl].tolist() for lvl in MEDIAN_LEVELS}
    stores: dict[str, dict[str, list[float]]] = {lvl: {} for lvl in MEDIAN_LEVELS}
    everything: list[float] = []
    finite = np.isfinite(luv)
    bounds = np.flatnonzero(np.diff(day)) + 1
    starts = np.r_[0, bounds]
    ends = np.r_[bounds, n]
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        for lvl in MEDIAN_LEVELS:
            med, cnt = out[lvl]
            store, klist = stores[lvl], key_lists[lvl]
            for i in range(s, e):
                lst = store.get(klist[i])
                if lst:
                    m = len(lst)
                    med[i] = (lst[(m - 1) // 2] + lst[m // 2]) / 2
                    cnt[i] = m
        if everything:
            m = len(everything)
            out["all"][0][s:e] = (everything[(m - 1) // 2] + everything[m // 2]) / 2
            out["all"][1][s:e] = m
        for i in range(s, e):
            if finite[i]:
                v = float(luv[i])
                for lvl in MEDIAN_LEVELS:
                    lst = stores[lvl].setdefault(key_lists[lvl][i], [])
                    insort(lst, v)
                insort(everything, v)
    return out


def _safe_log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.nan)


def build(
    frame: pd.DataFrame,
    state: HistoryState | None = None,
    extras: list[dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """The feature matrix of a canonical frame (see data.prepare), in `feature_names` order.

    `state=None`: training mode, history comes from the frame itself (labels included).
    With a state: scoring mode, label history from the state only.
    """
    day = frame["day"].to_numpy()
    if len(day) > 1 and (np.diff(day) < 0).any():
        raise ValueError("features need rows in date order (data.prepare sorts them)")
    n = len(frame)
    price = frame["price"].to_numpy(dtype="float64")
    mass = frame["net_mass"].to_numpy(dtype="float64")
    rate = frame["tax_rate"].to_numpy(dtype="float64")
    lp = _safe_log(price)
    lmass = _safe_log(mass)
    with np.errstate(divide="ignore", invalid="ignore"):
        luv = np.where((price > 0) & (mass > 0), lp - lmass, np.nan)
    feats: dict[str, np.ndarray] = {}
    keys = _key_series(frame)
    training = state is None
    # the label history: the frame's own labels in training mode, none (the state's) in scoring
    label_vals: dict[str, np.ndarray] = (
        {"y": frame["label"].to_numpy(dtype="float64")} if state is None else {}
    )

    # global prior (past rate)
    if state is None:
        g = _expanding(pd.Series(np.zeros(n, dtype="int64")), day, label_vals)
        prior = (g["y"] + PRIOR_A) / (g["n"] + PRIOR_N)
    else:
        prior = np.full(n, (state.global_frauds + PRIOR_A) / (state.global_n + PRIOR_N))

    lp0 = np.nan_to_num(lp)
    lm0 = np.nan_to_num(lmass)
    for k, ks in keys.items():
        vals = dict(label_vals)
        if k == "importer":
            vals |= {"lp": lp0}
        if k == "hs6":
            vals |= {"lm": lm0, "lm_n": np.isfinite(lmass).astype("float64")}
        within = _expanding(ks, day, vals, days=k == "importer")
        if state is None:
            n_prev, frauds = within["n"], within["y"]
            if k == "importer":
                first, last, lp_sum = within["first"], within["last"], within["lp"]
            if k == "hs6":
                lm_sum, lm_n = within["lm"], within["lm_n"]
        else:
            look = _Lookup(state.keys.get(k), ks)
            n_st = look("n", 0.0)
            frauds = look("frauds", 0.0)
            n_prev = n_st + within["n"]
            if k == "importer":
                first = np.where(n_st > 0, look("first", np.nan), within["first"])
                last = np.where(within["n"] > 0, within["last"], look("last", np.nan))
                lp_sum = look("lp", 0.0) + within["lp"]
            if k == "hs6":
                mlook = _Lookup(state.mass_means, ks)
                lm_sum = mlook("sum", 0.0) + within["lm"]
                lm_n = mlook("n", 0.0) + within["lm_n"]
            n_label = n_st
        s = _SHORT.get(k, k)
        if k in TE_KEYS:
            n_lab = n_prev if training else n_label
            feats[f"te_{k}"] = (frauds + SMOOTHING * prior) / (n_lab + SMOOTHING)
            if k in ("importer", "declarant", "seller"):
                feats[f"{s}_frauds_prev"] = frauds
                feats[f"{s}_n_prev"] = n_prev
        if k == "importer":
            feats["imp_days_first"] = np.where(np.isnan(first), 0.0, day - first)
            feats["imp_days_last"] = day - last
            with np.errstate(divide="ignore", invalid="ignore"):
                feats["imp_price_jump"] = np.where(n_prev > 0, lp - lp_sum / n_prev, np.nan)
        if k == "hs6":
            with np.errstate(divide="ignore", invalid="ignore"):
                feats["mass_ratio"] = np.where(lm_n > 0, lmass - lm_sum / lm_n, np.nan)
        if k == "imp_hs6":
            feats["imp_hs6_n_prev"] = n_prev
        if k == "imp_decl":
            feats["imp_decl_n_prev"] = n_prev

    mkeys = _median_keys(frame)
    if state is None:
        meds = _past_medians(day, mkeys, luv)
    else:
        meds = {}
        for lvl in MEDIAN_LEVELS:
            look = _Lookup(state.medians.get(lvl), mkeys[lvl])
            meds[lvl] = (look("med", np.nan), look("n", 0.0))
        meds["all"] = (np.full(n, state.global_median), np.full(n, float(state.global_n)))
    ref = np.full(n, np.nan)
    ref_n = np.zeros(n)
    for lvl in (*MEDIAN_LEVELS, "all"):
        med, cnt = meds[lvl]
        use = np.isnan(ref) & (cnt >= MIN_REF)
        ref[use], ref_n[use] = med[use], cnt[use]
    feats["uv_ratio"] = luv - ref
    med6, cnt6 = meds["hs6"]
    feats["uv_ratio_hs6"] = np.where(cnt6 >= MIN_REF, luv - med6, np.nan)
    feats["uv_ref_n"] = ref_n

    feats["hs2"] = pd.to_numeric(frame["hs2"]).to_numpy(dtype="float64")
    feats["hs4"] = pd.to_numeric(frame["hs4"]).to_numpy(dtype="float64")
    feats["hs6"] = pd.to_numeric(frame["hs6"]).to_numpy(dtype="float64")
    feats["log_price"] = lp
    feats["log_mass"] = lmass
    feats["log_uv"] = luv
    feats["tax_rate"] = rate
    feats["log_tax"] = np.log1p(np.nan_to_num(price * rate / 100.0).clip(0))
    dep, org = frame["departure_country"], frame["origin_country"]
    feats["origin_ne_departure"] = np.where(
        (dep == "") | (org == ""), np.nan, (dep != org).astype("float64")
    )
    vocab = state.vocab if state is not None else vocabularies(frame)
    for f in CATEGORY_FIELDS:
        feats[f"cat_{f}"] = pd.Index(vocab[f]).get_indexer(frame[f]).astype("float64")
        feats[f"cat_{f}"][feats[f"cat_{f}"] < 0] = np.nan
    dates = frame["date"]
    feats["dow"] = dates.dt.day_of_week.to_numpy(dtype="float64")
    feats["month"] = dates.dt.month.to_numpy(dtype="float64")
    for e in extras or ():
        name = "x_" + e["column"]
        feats[name] = frame[name].to_numpy(dtype="float64") if name in frame else np.full(n, np.nan)
    names = feature_names(extras)
    return pd.DataFrame({k: feats[k] for k in names}, index=frame.index)


def feature_names(extras: list[dict[str, Any]] | None = None) -> list[str]:
    return [*BASE_FEATURES, *("x_" + e["column"] for e in extras or ())]


def vocabularies(frame: pd.DataFrame) -> dict[str, list[str]]:
    return {f: sorted(v for v in frame[f].unique().tolist() if v != "") for f in CATEGORY_FIELDS}


def fit_state(frame: pd.DataFrame) -> HistoryState:
    """The history a training frame leaves for scoring later declarations."""
    price = frame["price"].to_numpy(dtype="float64")
    mass = frame["net_mass"].to_numpy(dtype="float64")
    lp = _safe_log(price)
    lmass = _safe_log(mass)
    with np.errstate(divide="ignore", invalid="ignore"):
        luv = np.where((price > 0) & (mass > 0), lp - lmass, np.nan)
    st = HistoryState(
        vocab=vocabularies(frame),
        global_n=len(frame),
        global_frauds=int(frame["label"].sum()),
        global_median=float(np.nanmedian(luv)) if np.isfinite(luv).any() else float("nan"),
        last_day=int(frame["day"].max()),
    )
    for k, ks in _key_series(frame).items():
        df = pd.DataFrame(
            {
                "key": ks.to_numpy(),
                "y": frame["label"].to_numpy(dtype="float64"),
                "d": frame["day"].to_numpy(),
                "lp": np.nan_to_num(lp),
            }
        )
        agg = df.groupby("key", sort=True).agg(
            n=("y", "size"),
            frauds=("y", "sum"),
            first=("d", "min"),
            last=("d", "max"),
            lp=("lp", "sum"),
        )
        agg["n"] = agg["n"].astype("float64")
        if k != "importer":
            agg = agg.drop(columns="lp")
        st.keys[k] = agg
    for lvl, ks in _median_keys(frame).items():
        df = pd.DataFrame({"key": ks.to_numpy(), "v": luv}).dropna()
        st.medians[lvl] = (
            df.groupby("key", sort=True)["v"].agg(med="median", n="size").astype("float64")
        )
    df = pd.DataFrame({"key": frame["hs6"].to_numpy(), "v": lmass}).dropna()
    st.mass_means = df.groupby("key", sort=True)["v"].agg(sum="sum", n="size").astype("float64")
    return st
