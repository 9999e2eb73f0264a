"""Reasons in plain words: which facts pushed a declaration's risk up.

Each feature's contribution to the model's margin (log-odds, `AuditModel.contributions`) is
summed per *factor* (importer history, unit value, ...); the factors that raised the risk
most become the reasons, each told from the row's own values ("unit value 31 % of the usual
for HS 610910 from CN").  A weight is the factor's contribution in log-odds: +0.7 roughly
doubles the odds of a finding.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

FACTORS: dict[str, tuple[str, ...]] = {
    "importer_history": (
        "te_importer",
        "imp_frauds_prev",
        "imp_n_prev",
        "imp_days_first",
        "imp_days_last",
    ),
    "declarant_history": ("te_declarant", "decl_frauds_prev", "decl_n_prev", "imp_decl_n_prev"),
    "seller_history": ("te_seller", "sel_frauds_prev", "sel_n_prev"),
    "courier_history": ("te_courier",),
    "goods": ("hs2", "hs4", "hs6", "te_hs6", "imp_hs6_n_prev", "tax_rate"),
    "unit_value": ("log_uv", "uv_ratio", "uv_ratio_hs6", "uv_ref_n", "mass_ratio", "log_mass"),
    "shipment_value": ("log_price", "imp_price_jump", "log_tax"),
    "origin": (
        "origin_ne_departure",
        "cat_departure_country",
        "cat_origin_country",
        "cat_origin_indicator",
        "cat_tax_type",
    ),
    "procedure": (
        "cat_office",
        "cat_process_type",
        "cat_import_type",
        "cat_import_use",
        "cat_payment_type",
        "cat_transport_mode",
    ),
    "calendar": ("dow", "month"),
}
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def factor_index(features: list[str]) -> dict[str, list[int]]:
    pos = {f: i for i, f in enumerate(features)}
    out = {k: [pos[f] for f in fs if f in pos] for k, fs in FACTORS.items()}
    for f in features:
        if f.startswith("x_"):
            out["extra:" + f[2:]] = [pos[f]]
    return {k: v for k, v in out.items() if v}


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def _n(x: float) -> int:
    return round(x) if math.isfinite(x) else 0


def describe(factor: str, row: pd.Series, feats: dict[str, float]) -> str:
    """One sentence for a factor of one declaration, from its values."""
    f = feats
    if factor == "importer_history":
        who = f"importer {row['importer']}"
        if f["imp_frauds_prev"] > 0:
            return (
                f"{who}: fraud found {_n(f['imp_frauds_prev'])} times in past audits "
                f"({_n(f['imp_n_prev'])} earlier declarations)"
            )
        if f["imp_n_prev"] == 0:
            return f"{who} is new: no earlier declaration"
        if f["imp_days_first"] < 90:
            return f"{who} first declared {_n(f['imp_days_first'])} days ago"
        return f"{who}: {_n(f['imp_n_prev'])} earlier declarations, no finding"
    if factor == "declarant_history":
        who = f"declarant {row['declarant'] or '(none)'}"
        if f["decl_frauds_prev"] > 0:
            return (
                f"{who}: fraud found {_n(f['decl_frauds_prev'])} times in past audits "
                f"({_n(f['decl_n_prev'])} earlier declarations)"
            )
        if f["imp_decl_n_prev"] == 0:
            return f"{who} never declared for this importer before"
        return f"{who}: past fraud rate {_pct(f['te_declarant'])} (smoothed)"
    if factor == "seller_history":
        who = f"seller {row['seller'] or '(none)'}"
        if f["sel_frauds_prev"] > 0:
            return (
                f"{who}: fraud found {_n(f['sel_frauds_prev'])} times in past audits "
                f"({_n(f['sel_n_prev'])} earlier declarations)"
            )
        return f"{who}: past fraud rate {_pct(f['te_seller'])} (smoothed)"
    if factor == "courier_history":
        return f"courier {row['courier'] or '(none)'}: past fraud rate {_pct(f['te_courier'])}"
    if factor == "goods":
        if f["imp_hs6_n_prev"] == 0 and f["imp_n_prev"] > 0:
            return f"HS {row['hs6']} is new for this importer (duty {f['tax_rate']:g} %)"
        return f"HS {row['hs6']}: past fraud rate {_pct(f['te_hs6'])}, duty {f['tax_rate']:g} %"
    if factor == "unit_value":
        if math.isfinite(f["uv_ratio"]):
            ratio = math.exp(f["uv_ratio"])
            where = f"HS {row['hs6']} from {row['origin_country'] or '?'}"
            if math.isfinite(f["mass_ratio"]) and abs(f["mass_ratio"]) > abs(f["uv_ratio"]):
                return (
                    f"net mass {math.exp(f['mass_ratio']):.2g}x the usual for HS "
                    f"{row['hs6']}; unit value {_pct(ratio)} of the usual for {where}"
                )
            return f"unit value {_pct(ratio)} of the usual for {where}"
        return "no unit value (zero mass or price)"
    if factor == "shipment_value":
        if math.isfinite(f["imp_price_jump"]):
            return (
                f"value {row['price']:,.0f} is {math.exp(f['imp_price_jump']):.2g}x this "
                "importer's usual"
            )
        return f"value {row['price']:,.0f} (duty about {math.expm1(f['log_tax']):,.0f})"
    if factor == "origin":
        if (
            row["origin_country"]
            and row["departure_country"]
            and row["origin_country"] != row["departure_country"]
        ):
            return (
                f"origin {row['origin_country']} declared, shipped from "
                f"{row['departure_country']} (tax type {row['tax_type'] or '-'}, origin "
                f"certificate {row['origin_indicator'] or '-'})"
            )
        return (
            f"origin {row['origin_country'] or '-'}, tax type {row['tax_type'] or '-'}, "
            f"origin certificate {row['origin_indicator'] or '-'}"
        )
    if factor == "procedure":
        return (
            f"office {row['office'] or '-'}, process {row['process_type'] or '-'}, "
            f"import type {row['import_type'] or '-'}, transport "
            f"{row['transport_mode'] or '-'}"
        )
    if factor == "calendar":
        return f"declared on a {_DAYS[int(f['dow'])]}" if math.isfinite(f["dow"]) else "date"
    if factor.startswith("extra:"):
        col = factor[6:]
        return f"{col} = {f.get('x_' + col)}"
    return factor


def reasons(
    frame: pd.DataFrame, X: np.ndarray, contrib: np.ndarray, features: list[str], top: int = 3
) -> list[list[dict[str, Any]]]:
    """Per row of `frame` (aligned with X and contrib): up to `top` factors that raised its
    risk, strongest first, as {"factor", "weight", "text"}."""
    groups = factor_index(features)
    names = list(groups)
    sums = np.stack([contrib[:, idx].sum(axis=1) for idx in groups.values()], axis=1)
    out = []
    for i in range(len(frame)):
        row = frame.iloc[i]
        feats = dict(zip(features, X[i].tolist(), strict=True))
        order = np.argsort(-sums[i], kind="stable")[:top]
        out.append(
            [
                {
                    "factor": names[j],
                    "weight": round(float(sums[i, j]), 3),
                    "text": describe(names[j], row, feats),
                }
                for j in order
                if sums[i, j] > 0.01
            ]
        )
    return out
