"""Synthetic declaration history in the public layout, with the fraud patterns audits find.

Used by tests, the demo and the benchmark; never a substitute for real data.  The world:

* **Goods**: ~300 HS6 codes in 33 chapters, each with a typical value per kg, a duty rate and
  a popularity; within a chapter some headings pay less duty than others.
* **Parties**: importers (a few big, many small; some enter during the period), customs
  brokers (declarants), foreign sellers and express couriers, each importer using a few of
  them.  Every party has a hidden propensity to defraud: most are honest, some occasional,
  a few repeat offenders; brokers and sellers can be complicit.
* **Honest prices** scatter around the goods' norm (log-sd 0.45, plus each importer's own
  price level and the origin's price level), so a low price alone is weak evidence.

A declaration is fraudulent with a probability driven by its parties' hidden propensities,
the duty at stake and noise the model cannot see; a fraudulent one follows one pattern:

1. **undervaluation** (45 %): price declared at 25-70 % of the real one;
2. **misclassification** (20 %): goods declared under a lower-duty heading of the same
   chapter (the price still fits the real goods, not the declared heading);
3. **origin laundering** (15 %): non-preferential goods declared with a free-trade
   partner's origin to get the preferential rate, often shipped straight from the real
   origin, often without an origin certificate;
4. **mismatched net mass** (20 %): net mass declared at a third to a half (or 2-3x) of
   the real one;

and **new importers with large shipments**: a share of importers entering mid-period are
fly-by-night firms, very likely to defraud on shipments far larger than usual in their first
three months.

Audits are imperfect: 8 % of frauds go undetected (label 0) and 0.4 % of clean
declarations get a finding (label 1), so no model can be perfect.  The label base rate is
about 6-8 %.  `Revenue` is the duty recovered (with a 50 % penalty) on a finding;
`Critical Fraud` marks the top fifth of findings by revenue.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COUNTRIES = {  # origin price level
    "CN": 0.75,
    "VN": 0.8,
    "TH": 0.85,
    "MY": 0.9,
    "ID": 0.8,
    "IN": 0.8,
    "KR": 1.1,
    "JP": 1.25,
    "TW": 1.1,
    "US": 1.2,
    "DE": 1.35,
    "FR": 1.3,
    "IT": 1.3,
    "GB": 1.25,
    "AU": 1.1,
    "NZ": 1.1,
    "SG": 1.05,
    "MX": 0.85,
    "BR": 0.85,
    "TR": 0.85,
    "PL": 0.95,
    "NL": 1.2,
    "ES": 1.15,
    "CH": 1.4,
    "BD": 0.7,
    "PK": 0.7,
    "PH": 0.8,
    "KH": 0.7,
    "LK": 0.75,
    "CA": 1.15,
}
FTA = ["VN", "TH", "MY", "ID", "SG", "AU", "NZ", "KR", "PH", "KH"]
CHAPTERS = {  # chapter: (log value per kg, duty rate %)
    "03": (2.3, 20),
    "04": (1.6, 30),
    "08": (1.2, 30),
    "09": (2.0, 8),
    "16": (2.2, 20),
    "20": (1.4, 30),
    "21": (2.0, 8),
    "22": (1.1, 30),
    "33": (3.4, 8),
    "39": (1.5, 8),
    "40": (1.5, 8),
    "42": (3.6, 8),
    "44": (0.2, 5),
    "48": (0.9, 0),
    "52": (1.7, 8),
    "61": (3.3, 13),
    "62": (3.4, 13),
    "63": (2.0, 13),
    "64": (3.2, 13),
    "69": (1.0, 8),
    "70": (1.1, 8),
    "71": (6.5, 8),
    "72": (-0.4, 0),
    "73": (0.9, 0),
    "76": (1.3, 8),
    "82": (2.6, 8),
    "84": (3.0, 0),
    "85": (3.4, 8),
    "87": (2.4, 8),
    "90": (4.5, 8),
    "94": (1.8, 8),
    "95": (2.4, 8),
    "96": (2.3, 8),
}
COLUMNS = [
    "Declaration ID",
    "Date",
    "Office ID",
    "Process Type",
    "Import Type",
    "Import Use",
    "Payment Type",
    "Mode of Transport",
    "Declarant ID",
    "Importer ID",
    "Seller ID",
    "Courier ID",
    "HS6 Code",
    "Country of Departure",
    "Country of Origin",
    "Tax Rate",
    "Tax Type",
    "Country of Origin Indicator",
    "Net Mass",
    "Item Price",
    "Fraud",
    "Critical Fraud",
    "Revenue",
]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate(
    rows: int,
    seed: int = 0,
    *,
    start: str = "2023-01-01",
    days: int = 730,
    base_logit: float = -3.8,
    truth: bool = False,
) -> pd.DataFrame:
    """`rows` declarations in the public layout (plus a `Revenue` column), sorted by date.

    `truth=True` adds `_p`, each declaration's true probability of a finding: the ranking no
    model can beat, to see how far a model is from the best possible on this world.
    """
    if rows < 1:
        raise ValueError("rows must be at least 1")
    rng = np.random.default_rng(seed)

    # goods
    hs_codes, hs_luv, hs_rate, hs_chapter = [], [], [], []
    for ch, (luv, ch_rate) in CHAPTERS.items():
        for _ in range(int(rng.integers(5, 14))):
            code = f"{ch}{rng.integers(1, 99):02d}{rng.integers(10, 99):02d}"
            if code in hs_codes:
                continue
            hs_codes.append(code)
            hs_luv.append(luv + rng.normal(0, 0.6))
            hs_rate.append(max(0.0, ch_rate + float(rng.choice([-5, -3, 0, 0, 0, 2, 5]))))
            hs_chapter.append(ch)
    hs_codes_a = np.array(hs_codes)
    hs_luv_a, hs_rate_a = np.array(hs_luv), np.array(hs_rate)
    hs_chapter_a = np.array(hs_chapter)
    hs_pop = rng.zipf(1.6, len(hs_codes)).clip(1, 50).astype(float)
    # lower-duty sibling in the same chapter (misclassification target), -1 if none
    sibling = np.full(len(hs_codes), -1)
    for i in range(len(hs_codes)):
        lower = np.flatnonzero((hs_chapter_a == hs_chapter_a[i]) & (hs_rate_a < hs_rate_a[i]))
        if len(lower):
            sibling[i] = rng.choice(lower)
    hs_lmass = rng.normal(5.5, 1.3, len(hs_codes)) - 0.35 * (hs_luv_a - 2)
    countries = np.array(list(COUNTRIES))
    c_level = np.log(np.array(list(COUNTRIES.values())))
    c_index = {c: i for i, c in enumerate(countries)}
    fta_idx = np.array([c_index[c] for c in FTA])

    # parties
    n_imp = max(30, rows // 30)
    n_decl = max(8, rows // 150)
    n_sel = max(30, rows // 40)
    n_cour = 15
    kind = rng.choice(3, n_imp, p=[0.87, 0.09, 0.04])  # honest, occasional, repeat offender
    imp_risk = np.choose(kind, [-1.5, 0.5, 6.0]) + rng.normal(0, 0.5, n_imp)
    imp_start = np.where(rng.random(n_imp) < 0.7, 0, rng.integers(0, days, n_imp))
    phoenix = (imp_start > 0) & (rng.random(n_imp) < 0.2)
    imp_weight = rng.lognormal(0, 1.2, n_imp) * np.where(phoenix, 0.5, 1.0)
    imp_price = rng.normal(0, 0.25, n_imp)
    imp_size = rng.normal(0, 0.5, n_imp)
    imp_office = rng.integers(0, 15, n_imp)
    decl_risk = np.where(rng.random(n_decl) < 0.06, 1.3, 0.0) + rng.normal(0, 0.2, n_decl)
    sel_risk = np.where(rng.random(n_sel) < 0.05, 1.1, 0.0) + rng.normal(0, 0.2, n_sel)
    cour_risk = np.where(np.arange(n_cour) == 3, 0.8, 0.0)
    bad_decl = np.flatnonzero(decl_risk > 0.6)
    bad_sel = np.flatnonzero(sel_risk > 0.6)

    imp_decls = [rng.choice(n_decl, rng.integers(1, 3)) for _ in range(n_imp)]
    imp_sels = [rng.choice(n_sel, rng.integers(1, 5)) for _ in range(n_imp)]
    for j in np.flatnonzero(kind > 0):
        if len(bad_decl) and rng.random() < 0.5:
            imp_decls[j][0] = rng.choice(bad_decl)
        if len(bad_sel) and rng.random() < 0.5:
            imp_sels[j][0] = rng.choice(bad_sel)
    chapters = np.array(list(CHAPTERS))
    imp_chapters = [rng.choice(chapters, rng.integers(1, 4), replace=False) for _ in range(n_imp)]
    imp_origins = [
        rng.choice(len(countries), rng.integers(1, 4), replace=False) for _ in range(n_imp)
    ]

    # declarations
    imp = rng.choice(n_imp, rows, p=imp_weight / imp_weight.sum())
    day = (imp_start[imp] + rng.random(rows) * (days - imp_start[imp])).astype(int)
    pick = rng.random((rows, 3))
    decl = np.array(
        [imp_decls[i][int(p * len(imp_decls[i]))] for i, p in zip(imp, pick[:, 0], strict=True)]
    )
    sel = np.array(
        [imp_sels[i][int(p * len(imp_sels[i]))] for i, p in zip(imp, pick[:, 1], strict=True)]
    )
    origin = np.array(
        [imp_origins[i][int(p * len(imp_origins[i]))] for i, p in zip(imp, pick[:, 2], strict=True)]
    )
    hs = np.empty(rows, dtype=int)
    for i in np.unique(imp):
        rows_i = np.flatnonzero(imp == i)
        cand = np.flatnonzero(np.isin(hs_chapter_a, imp_chapters[i]))
        w = hs_pop[cand] / hs_pop[cand].sum()
        hs[rows_i] = rng.choice(cand, len(rows_i), p=w)
    express = rng.random(rows) < 0.25
    courier = np.where(express, rng.integers(0, n_cour, rows), -1)
    departure = np.where(rng.random(rows) < 0.9, origin, rng.choice(len(countries), rows))
    rate = hs_rate_a[hs].copy()
    tax_type = np.where(rate == 0, "E", "A").astype(object)
    at_fta = np.isin(origin, fta_idx) & (rate > 0)
    fta_use = at_fta & (rng.random(rows) < 0.7)
    tax_type[fta_use] = "FTA"
    indicator = np.where(
        fta_use,
        np.where(rng.random(rows) < 0.95, "Y", "N"),
        np.where(rng.random(rows) < 0.3, "Y", "N"),
    ).astype(object)

    lmass = hs_lmass[hs] + imp_size[imp] + rng.normal(0, 0.8, rows)
    mass = np.exp(lmass)
    true_luv = hs_luv_a[hs] + c_level[origin] + imp_price[imp] + rng.normal(0, 0.45, rows)
    price = mass * np.exp(true_luv)

    # who defrauds
    age = day - imp_start[imp]
    big = lmass - hs_lmass[hs] > 0.8
    logit = (
        base_logit
        + imp_risk[imp]
        + decl_risk[decl]
        + sel_risk[sel]
        + np.where(courier >= 0, cour_risk[np.maximum(courier, 0)], 0.0)
        + 0.05 * (rate - 8)
        + np.where(phoenix[imp] & (age < 90) & big, 4.5, 0.0)
        + rng.normal(0, 0.6, rows)
    )
    p_fraud = _sigmoid(logit)
    fraud = rng.random(rows) < p_fraud
    pattern = rng.choice(4, rows, p=[0.45, 0.20, 0.15, 0.20])
    pattern[(pattern == 1) & (sibling[hs] < 0)] = 0
    pattern[(pattern == 2) & (np.isin(origin, fta_idx) | (rate == 0))] = 0
    pattern[~fraud] = -1

    declared_price = price.copy()
    declared_mass = mass.copy()
    declared_hs = hs.copy()
    declared_origin = origin.copy()
    revenue = np.zeros(rows)
    u = rng.random(rows)
    m = pattern == 0
    declared_price[m] = price[m] * (0.25 + 0.45 * u[m])
    revenue[m] = (price[m] - declared_price[m]) * rate[m] / 100
    m = pattern == 1
    declared_hs[m] = sibling[hs[m]]
    new_rate = hs_rate_a[declared_hs[m]]
    revenue[m] = price[m] * (rate[m] - new_rate) / 100
    rate[m] = new_rate
    tax_type[m] = np.where(new_rate == 0, "E", tax_type[m])
    m = pattern == 2
    declared_origin[m] = rng.choice(fta_idx, m.sum())
    departure[m] = np.where(rng.random(m.sum()) < 0.6, origin[m], declared_origin[m])
    new_rate = np.round(rate[m] * 0.3, 1)
    revenue[m] = price[m] * (rate[m] - new_rate) / 100
    rate[m] = new_rate
    tax_type[m] = "FTA"
    indicator[m] = np.where(rng.random(m.sum()) < 0.5, "Y", "N")
    m = pattern == 3
    factor = np.where(rng.random(m.sum()) < 0.7, 0.33 + 0.2 * u[m], 2.0 + u[m])
    declared_mass[m] = mass[m] * factor
    revenue[m] = price[m] * rate[m] / 100 * (0.1 + 0.3 * u[m])

    detected = fraud & (rng.random(rows) > 0.08)
    false_find = ~fraud & (rng.random(rows) < 0.004)
    label = detected | false_find
    revenue = np.where(detected, revenue * 1.5 + 10, 0.0)
    revenue = np.where(false_find, declared_price * rate / 100 * 0.05 + 10, revenue)
    critical = np.zeros(rows, dtype=int)
    if label.any():
        critical = (label & (revenue >= np.quantile(revenue[label], 0.8))).astype(int)

    order = np.argsort(day, kind="stable")
    dates = pd.Timestamp(start) + pd.to_timedelta(day[order], unit="D")
    year = dates.year.astype(str)
    frame = pd.DataFrame(
        {
            "Declaration ID": [f"D{y}{i:08d}" for i, y in enumerate(year, start=1)],
            "Date": dates.strftime("%Y-%m-%d"),
            "Office ID": np.where(
                rng.random(rows) < 0.8, imp_office[imp], rng.integers(0, 15, rows)
            )[order]
            + 10,
            "Process Type": rng.choice(["B", "D", "F", "K"], rows, p=[0.6, 0.2, 0.15, 0.05]),
            "Import Type": np.where(
                express, "21", rng.choice(["11", "29", "31"], rows, p=[0.8, 0.15, 0.05])
            )[order],
            "Import Use": rng.choice(
                ["10", "21", "22", "40", "90"], rows, p=[0.55, 0.2, 0.1, 0.1, 0.05]
            ),
            "Payment Type": rng.choice(["11", "13", "43"], rows, p=[0.7, 0.2, 0.1]),
            "Mode of Transport": np.where(
                express, "40", rng.choice(["10", "40", "50"], rows, p=[0.7, 0.25, 0.05])
            )[order],
            "Declarant ID": np.char.add("BRK", decl[order].astype(str)),
            "Importer ID": np.char.add("IMP", imp[order].astype(str)),
            "Seller ID": np.char.add("SEL", sel[order].astype(str)),
            "Courier ID": np.where(
                courier[order] >= 0, np.char.add("CR", courier[order].astype(str)), ""
            ),
            "HS6 Code": hs_codes_a[declared_hs[order]],
            "Country of Departure": countries[departure[order]],
            "Country of Origin": countries[declared_origin[order]],
            "Tax Rate": rate[order],
            "Tax Type": tax_type[order],
            "Country of Origin Indicator": indicator[order],
            "Net Mass": np.round(declared_mass[order], 2),
            "Item Price": np.round(declared_price[order], 2),
            "Fraud": label[order].astype(int),
            "Critical Fraud": critical[order],
            "Revenue": np.round(revenue[order], 2),
        }
    )
    if truth:
        frame["_p"] = (p_fraud * 0.92 + (1 - p_fraud) * 0.004)[order]
        return frame[[*COLUMNS, "_p"]]
    return frame[COLUMNS]
