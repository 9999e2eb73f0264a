"""Reading a user's declaration history: CSV or Parquet in, clean canonical columns out.

`load_table` reads the file as text (nothing guessed yet); `prepare` applies the column
mapping and checks every value a model relies on, refusing the file with an `AuditError`
that names the rows and the fix (or dropping those rows when the mapping says
`on_bad_rows = "drop"`; the report counts them).

The canonical frame is sorted by date (stable: rows of one day keep their file order) and
holds: `declaration_id, date (datetime64, day), day (int days since 1970-01-01), hs_code
(digits), hs2, hs4, hs6, importer, declarant, seller, courier, <categories>, net_mass,
price, tax_rate` and, when present, `label (0/1), critical, revenue`, plus the extra
columns that are kept (see `detect_extras`).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from oracles.audit.errors import AuditError
from oracles.audit.mapping import (
    CATEGORY_FIELDS,
    DEFAULT_NEGATIVE,
    ID_FIELDS,
    OUTCOME_FIELDS,
    REQUIRED,
    ColumnMapping,
)

MISSING = ""
_SHOW = 5
_DATE_FAMILIES = (
    ("YYYY-MM-DD", re.compile(r"^\d{4}-\d{1,2}-\d{1,2}(?:[ T][0-9:.+\-Z]*)?$"), "%Y-%m-%d"),
    ("YYYY/MM/DD", re.compile(r"^\d{4}/\d{1,2}/\d{1,2}$"), "%Y/%m/%d"),
    ("YYYYMMDD", re.compile(r"^\d{8}$"), "%Y%m%d"),
    ("DD/MM/YYYY or MM/DD/YYYY", re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$"), None),
    ("DD.MM.YYYY", re.compile(r"^\d{1,2}\.\d{1,2}\.\d{4}$"), "%d.%m.%Y"),
)


def load_table(source: Path | str | bytes, name: str = "") -> pd.DataFrame:
    """All columns of a CSV or Parquet file (a path or the bytes of an upload) as text.

    Parquet is recognised by its magic bytes, whatever the name.  Raises AuditError
    `unreadable_file` for anything else that does not parse, `empty_data` for no rows.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "upload")
    buf: io.BytesIO | Path  # what pandas reads: the upload's bytes or the file itself
    try:
        if isinstance(source, bytes):
            head, buf = source[:4], io.BytesIO(source)
        else:
            path = Path(source)
            if not path.is_file():
                raise AuditError("unreadable_file", f"{path} does not exist or is not a file")
            with path.open("rb") as fh:
                head = fh.read(4)
            buf = path
        if head == b"PAR1":
            frame = pd.read_parquet(buf)
            frame = frame.astype(object).where(frame.notna(), MISSING).astype(str)
        else:
            if not isinstance(buf, io.BytesIO) and str(buf).endswith((".parquet", ".pq")):
                raise AuditError(
                    "unreadable_file", f"{label} is named .parquet but is not a Parquet file"
                )
            frame = pd.read_csv(
                buf, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig"
            )
    except AuditError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise AuditError(
            "empty_data",
            f"{label} is empty: give a CSV with a header row and at least one declaration",
        ) from exc
    except UnicodeDecodeError as exc:
        raise AuditError(
            "unreadable_file", f"{label} is not UTF-8 text; save the CSV as UTF-8"
        ) from exc
    except Exception as exc:  # pandas / pyarrow raise many types for a broken file
        raise AuditError(
            "unreadable_file",
            f"{label} is neither a readable CSV nor Parquet file ({type(exc).__name__}: {exc})",
        ) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise AuditError("empty_data", f"{label} has a header but no rows")
    return frame


@dataclass
class Prepared:
    """A checked, canonical frame and what was done to get it."""

    frame: pd.DataFrame
    report: dict[str, Any] = field(default_factory=dict)
    extras: list[dict[str, Any]] = field(default_factory=list)  # kept extra columns

    @property
    def has_label(self) -> bool:
        return "label" in self.frame


def _rows(idx: pd.Index | np.ndarray) -> str:
    """File line numbers of frame rows (header is line 1)."""
    idx = list(idx)
    shown = ", ".join(str(int(i) + 2) for i in idx[:_SHOW])
    return shown + (f" and {len(idx) - _SHOW} more" if len(idx) > _SHOW else "")


def _resolve(raw: pd.DataFrame, mapping: ColumnMapping, need_label: bool) -> dict[str, str]:
    present = set(raw.columns)
    absent = {
        f: c for f, c in mapping.columns.items() if c and f in mapping.explicit and c not in present
    }
    if absent:
        import difflib

        hints = []
        for f, c in sorted(absent.items()):
            close = difflib.get_close_matches(c, list(raw.columns), n=1)
            hints.append(f"{f} -> {c!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise AuditError(
            "unknown_columns",
            "the mapping names columns the file does not "
            f"have: {'; '.join(hints)}. The file's columns are: "
            f"{', '.join(raw.columns)}",
        )
    used = {f: c for f, c in mapping.columns.items() if c and c in present}
    needed = list(REQUIRED) + (["label"] if need_label else [])
    missing = [f for f in needed if f not in used]
    if missing:
        what = ", ".join(
            f"{f} (expected column {mapping.column(f)!r})" if mapping.column(f) else f
            for f in missing
        )
        fix = "name the column in the mapping file's [columns] section or with --map field=Column"
        if "label" in missing:
            fix = (
                "training and evaluation need the audit outcome (1 = fraud found); map it "
                'with label = "Your Column" or --map label=Column'
            )
        raise AuditError("missing_column", f"the file has no column for {what}; {fix}")
    return used


def _numbers(raw: pd.Series, what: str, *, required: bool) -> pd.Series:
    text = raw.str.strip()
    values = pd.to_numeric(text.str.replace(r"^\+", "", regex=True), errors="coerce")
    bad = values.isna() & (text != MISSING) | (values.isna() & required)
    bad |= ~np.isfinite(values.fillna(0.0))
    return values.astype("float64"), bad, what


def _parse_dates(raw: pd.Series, fmt: str | None) -> tuple[pd.Series, pd.Series, str]:
    text = raw.str.strip()
    if fmt:
        dates = pd.to_datetime(text, format=fmt, errors="coerce")
        return dates, dates.isna(), ""
    kinds = pd.Series(-1, index=text.index)
    for i, (_, rx, _) in enumerate(_DATE_FAMILIES):
        kinds[(kinds < 0) & text.str.match(rx)] = i
    unknown = kinds < 0
    families = sorted(set(kinds[~unknown]))
    if len(families) > 1:
        parts = []
        for i in families:
            rows = kinds.index[kinds == i]
            parts.append(
                f"{len(rows)} rows like {text[rows[0]]!r} ({_DATE_FAMILIES[i][0]}, "
                f"e.g. line {int(rows[0]) + 2})"
            )
        raise AuditError(
            "bad_date",
            "dates come in several formats: "
            + "; ".join(parts)
            + ". Use one format in the file, or set options.date_format in the "
            'mapping (e.g. "%d/%m/%Y") and fix the other rows',
        )
    if not families:
        raise AuditError(
            "bad_date",
            f"no date parses (first value {text.iloc[0]!r}); set "
            'options.date_format in the mapping, e.g. "%d/%m/%Y"',
        )
    name, _, fmt = _DATE_FAMILIES[families[0]]
    if fmt is None:  # 03/04/2024: day or month first?
        parts = text[~unknown].str.split("/", expand=True).astype(int)
        if (parts[0] > 12).any() and not (parts[1] > 12).any():
            fmt = "%d/%m/%Y"
        elif (parts[1] > 12).any() and not (parts[0] > 12).any():
            fmt = "%m/%d/%Y"
        else:
            raise AuditError(
                "bad_date",
                f"dates like {text.iloc[0]!r} could be day/month "
                'or month/day; set options.date_format to "%d/%m/%Y" or '
                '"%m/%d/%Y" in the mapping',
            )
    if name == "YYYY-MM-DD":
        text = text.str.slice(0, 10)
    dates = pd.to_datetime(text, format=fmt, errors="coerce")
    return dates, dates.isna(), name


def prepare(
    raw: pd.DataFrame,
    mapping: ColumnMapping,
    *,
    need_label: bool,
    extras: list[dict[str, Any]] | None = None,
) -> Prepared:
    """Map, check and sort a raw frame.

    `extras`: the extra columns a model was trained with (scoring); None detects them
    (training).  Raises AuditError (see errors.py) for anything a model cannot use.
    """
    if raw.empty:
        raise AuditError("empty_data", "the file has no rows")
    used = _resolve(raw, mapping, need_label)
    n0 = len(raw)
    out: dict[str, Any] = {}
    problems: list[tuple[str, str, pd.Series]] = []

    for f in ("declaration_id", *ID_FIELDS, *CATEGORY_FIELDS):
        out[f] = raw[used[f]].str.strip() if f in used else pd.Series(MISSING, index=raw.index)
    empty_id = out["declaration_id"] == MISSING
    if empty_id.any():
        problems.append(("bad_value", "empty declaration ids", empty_id))
    empty_imp = out["importer"] == MISSING
    if empty_imp.any():
        problems.append(("bad_value", "empty importer ids", empty_imp))

    hs = raw[used["hs_code"]].str.replace(r"[.\s]", "", regex=True)
    bad_hs = ~hs.str.fullmatch(r"\d{4,10}")
    if bad_hs.any():
        problems.append(("bad_value", "HS codes that are not 4 to 10 digits", bad_hs))
    hs = hs.where(hs.str.len() >= 6, hs.str.pad(6, side="right", fillchar="0"))
    out["hs_code"] = hs

    for f, required in (("net_mass", True), ("price", True), ("tax_rate", False)):
        if f in used:
            values, bad, _ = _numbers(raw[used[f]], f, required=required)
            if bad.any():
                shown = raw[used[f]][bad].head(3).tolist()
                problems.append(
                    ("bad_number", f"non-numeric {used[f]!r} values (e.g. {shown})", bad)
                )
            out[f] = values
        else:
            out[f] = pd.Series(np.nan, index=raw.index)
    for f, limit in (("net_mass", None), ("price", None), ("tax_rate", 1000.0)):
        v = out[f]
        neg = v < 0
        if limit is not None:
            neg |= v > limit
        if neg.any():
            what = (
                f"negative {used.get(f, f)!r}"
                if limit is None
                else f"{used.get(f, f)!r} below 0 or above {limit:g}"
            )
            problems.append(("bad_value", f"{what} (e.g. {v[neg].head(3).tolist()})", neg))

    dates, bad_dates, date_family = _parse_dates(raw[used["date"]], mapping.date_format)
    if bad_dates.any():
        problems.append(
            (
                "bad_date",
                "dates that do not parse (e.g. "
                f"{raw[used['date']][bad_dates].head(3).tolist()}); set "
                "options.date_format in the mapping",
                bad_dates,
            )
        )
    out["date"] = dates

    if "label" in used:
        lab = raw[used["label"]].str.strip().str.lower()
        pos = lab.isin(mapping.label_positive)
        neg = lab.isin(DEFAULT_NEGATIVE) & ~pos
        bad_lab = ~(pos | neg)
        if bad_lab.any() and not need_label:  # scoring: outcomes are not read, only kept
            used = {f: c for f, c in used.items() if f not in OUTCOME_FIELDS}
        elif bad_lab.any():
            problems.append(
                (
                    "bad_value",
                    f"labels that are neither fraud nor clean (e.g. "
                    f"{raw[used['label']][bad_lab].head(3).tolist()}); list the "
                    "fraud values in options.label_positive",
                    bad_lab,
                )
            )
        if "label" in used:
            out["label"] = pos.astype("int8")
    if "critical" in used:
        crit = raw[used["critical"]].str.strip().str.lower()
        out["critical"] = crit.isin(mapping.label_positive).astype("int8")
    if "revenue" in used:
        values, bad, _ = _numbers(raw[used["revenue"]], "revenue", required=False)
        if bad.any() and need_label:
            problems.append(("bad_number", f"non-numeric {used['revenue']!r} values", bad))
        out["revenue"] = values.fillna(0.0)

    frame = pd.DataFrame(out)
    dropped = 0
    if problems:
        if mapping.on_bad_rows != "drop":
            code, what, mask = problems[0]
            more = f" (and {len(problems) - 1} other problems)" if len(problems) > 1 else ""
            count = int(mask.sum())
            rows = "1 row" if count == 1 else f"{count} rows"
            lines = "line" if count == 1 else "lines"
            raise AuditError(
                code,
                f"{rows} with {what} at {lines} "
                f"{_rows(mask.index[mask])}{more}; fix them, or set "
                'options.on_bad_rows = "drop" in the mapping to skip them',
            )
        bad_any = np.logical_or.reduce([m.to_numpy() for _, _, m in problems])
        dropped = int(bad_any.sum())
        frame = frame[~bad_any]
        if frame.empty:
            raise AuditError("empty_data", "every row had a problem and was dropped")

    mapped_cols = set(used.values())
    candidates = [c for c in raw.columns if c not in mapped_cols]
    if extras is None:
        extras, ignored = detect_extras(raw.loc[frame.index, candidates], frame.get("label"))
    else:
        ignored = [
            {"column": c, "why": "not used by this model"}
            for c in candidates
            if c not in {e["column"] for e in extras}
        ]
    for e in extras:
        col = e["column"]
        name = "x_" + col
        if col not in raw.columns:
            frame[name] = np.nan
        elif e["kind"] == "numeric":
            frame[name] = pd.to_numeric(
                raw.loc[frame.index, col].str.strip(), errors="coerce"
            ).astype("float64")
        else:
            cats = {c: i for i, c in enumerate(e["categories"])}
            frame[name] = raw.loc[frame.index, col].str.strip().map(cats).astype("float64")

    frame["hs2"] = frame["hs_code"].str.slice(0, 2)
    frame["hs4"] = frame["hs_code"].str.slice(0, 4)
    frame["hs6"] = frame["hs_code"].str.slice(0, 6)
    frame["day"] = frame["date"].to_numpy("datetime64[D]").astype("int64")
    frame = frame.sort_values("day", kind="stable").reset_index(names="row")
    report = {
        "rows_read": n0,
        "rows_used": len(frame),
        "rows_dropped": dropped,
        "date_format": mapping.date_format or date_family,
        "date_range": [str(frame["date"].min().date()), str(frame["date"].max().date())],
        "columns_used": {f: c for f, c in used.items()},
        "fields_absent": sorted(
            f for f in mapping.columns if f not in used and f not in OUTCOME_FIELDS
        ),
        "extras_used": [{"column": e["column"], "kind": e["kind"]} for e in extras],
        "extras_ignored": ignored,
    }
    if "label" in frame:
        report["frauds"] = int(frame["label"].sum())
        report["fraud_rate"] = round(float(frame["label"].mean()), 6)
    return Prepared(frame, report, extras)


def detect_extras(raw: pd.DataFrame, label: pd.Series | None) -> tuple[list[dict], list[dict]]:
    """Which unknown columns to use, and why the others are not.

    Numbers (98 % of filled cells parse) become numeric features, text with at most 30
    values becomes a category; constants, identifiers and free text are ignored.  A column
    that alone separates the labels almost perfectly (AUC >= 0.97) is refused as a likely
    audit outcome: a model trained on it would fail on new declarations.
    """
    used: list[dict] = []
    ignored: list[dict] = []
    for col in raw.columns:
        text = raw[col].str.strip()
        filled = text[text != MISSING]
        if filled.nunique() <= 1:
            ignored.append({"column": col, "why": "constant or empty"})
            continue
        nums = pd.to_numeric(filled, errors="coerce")
        if nums.notna().mean() >= 0.98 and filled.nunique() > 30:
            entry = {"column": col, "kind": "numeric"}
            values = pd.to_numeric(text, errors="coerce")
        elif filled.nunique() <= 30:
            cats = sorted(filled.unique().tolist())
            entry = {"column": col, "kind": "category", "categories": cats}
            values = text.map({c: i for i, c in enumerate(cats)})
        else:
            ignored.append(
                {
                    "column": col,
                    "why": f"text with {filled.nunique()} distinct "
                    "values (an identifier or free text)",
                }
            )
            continue
        if label is not None and label.nunique() == 2 and _single_auc(values, label) >= 0.97:
            ignored.append(
                {
                    "column": col,
                    "why": "separates frauds almost perfectly on its "
                    "own: looks like an audit outcome (leak)",
                }
            )
            continue
        used.append(entry)
    return used, ignored


def _single_auc(values: pd.Series, label: pd.Series) -> float:
    from sklearn.metrics import roc_auc_score

    v = values.astype("float64").fillna(-1e30).to_numpy()
    y = label.to_numpy()
    auc = roc_auc_score(y, v)
    return max(auc, 1 - auc)
