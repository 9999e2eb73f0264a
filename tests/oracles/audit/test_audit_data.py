"""Reading users' files: every bad input the issue lists is refused with a code and a fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oracles.audit.data import load_table, prepare
from oracles.audit.errors import AuditError
from oracles.audit.mapping import DEFAULT_COLUMNS, ColumnMapping, load_mapping


def _write(tmp_path: Path, frame: pd.DataFrame, name: str = "f.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _refused(
    code: str, frame: pd.DataFrame, mapping: ColumnMapping | None = None, need_label: bool = True
) -> AuditError:
    with pytest.raises(AuditError) as info:
        prepare(frame, mapping or ColumnMapping(), need_label=need_label)
    assert info.value.code == code, info.value
    return info.value


def test_default_layout_is_accepted_as_is(history: pd.DataFrame) -> None:
    prep = prepare(history, ColumnMapping(), need_label=True)
    assert len(prep.frame) == len(history)
    assert prep.frame["day"].is_monotonic_increasing
    assert set(prep.report["columns_used"]) == set(DEFAULT_COLUMNS)
    assert prep.report["extras_used"] == [] and prep.report["extras_ignored"] == []
    assert 0.02 <= prep.report["fraud_rate"] <= 0.10


def test_public_layout_without_revenue_column(history: pd.DataFrame) -> None:
    prep = prepare(history.drop(columns="Revenue"), ColumnMapping(), need_label=True)
    assert "revenue" not in prep.frame
    assert "revenue" not in prep.report["fields_absent"]  # outcome fields are optional


def test_missing_label_column(history: pd.DataFrame) -> None:
    err = _refused("missing_column", history.drop(columns="Fraud"))
    assert "label" in err.detail and "--map label=" in err.detail
    # scoring does not need it
    assert len(
        prepare(history.drop(columns="Fraud"), ColumnMapping(), need_label=False).frame
    ) == len(history)


def test_mapping_naming_absent_columns(history: pd.DataFrame, tmp_path: Path) -> None:
    toml = tmp_path / "m.toml"
    toml.write_text('[columns]\nimporter = "Importer Code"\nlabel = "Fraud"\n')
    err = _refused("unknown_columns", history, load_mapping(toml))
    assert "Importer Code" in err.detail and "did you mean 'Importer ID'" in err.detail
    err = _refused("unknown_columns", history, load_mapping(None, ["seller=Vendor"]))
    assert "Vendor" in err.detail


def test_mapping_renames_columns(history: pd.DataFrame) -> None:
    renamed = history.rename(columns={"Importer ID": "IMP", "Fraud": "AUDIT_RESULT"})
    renamed["AUDIT_RESULT"] = renamed["AUDIT_RESULT"].map({"1": "FOUND", "0": "NONE"})
    bad = load_mapping(None, ["importer=IMP", "label=AUDIT_RESULT"])
    _refused("bad_value", renamed, bad)  # "FOUND" is not a known positive value
    good = bad.with_overrides({}, label_positive=["found"])
    mapped = ColumnMapping.from_json(good.to_json() | {"label_positive": ["found"]})
    frame = prepare(
        renamed.assign(AUDIT_RESULT=renamed["AUDIT_RESULT"].str.replace("NONE", "0")),
        mapped,
        need_label=True,
    ).frame
    assert frame["label"].sum() == (history["Fraud"] == "1").sum()


def test_bad_mapping_files(tmp_path: Path) -> None:
    for text, needle in (
        ("[columns]\nimporter = 3\n", "column name"),
        ('[columns]\nimporterr = "X"\n', "unknown fields importerr"),
        ("[colums]\n", "unknown sections"),
        ("[columns\n", "not valid TOML"),
    ):
        path = tmp_path / "bad.toml"
        path.write_text(text)
        with pytest.raises(AuditError) as info:
            load_mapping(path)
        assert info.value.code == "bad_mapping" and needle in info.value.detail
    with pytest.raises(AuditError, match="field=Column"):
        load_mapping(None, ["importer"])


def test_empty_files(tmp_path: Path, history: pd.DataFrame) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(AuditError) as info:
        load_table(empty)
    assert info.value.code == "empty_data"
    header_only = _write(tmp_path, history.head(0), "header.csv")
    with pytest.raises(AuditError) as info:
        load_table(header_only)
    assert info.value.code == "empty_data"
    with pytest.raises(AuditError) as info:
        load_table(tmp_path / "absent.csv")
    assert info.value.code == "unreadable_file"


def test_non_numeric_prices(history: pd.DataFrame) -> None:
    bad = history.copy()
    bad.loc[5, "Item Price"] = "12,50 USD"
    bad.loc[9, "Item Price"] = ""
    err = _refused("bad_number", bad)
    assert "lines 7, 11" in err.detail and "on_bad_rows" in err.detail
    dropped = prepare(bad, ColumnMapping().with_overrides({}, on_bad_rows="drop"), need_label=True)
    assert dropped.report["rows_dropped"] == 2
    assert len(dropped.frame) == len(history) - 2


def test_negative_mass(history: pd.DataFrame) -> None:
    bad = history.copy()
    bad.loc[3, "Net Mass"] = "-4.5"
    err = _refused("bad_value", bad)
    assert "negative 'Net Mass'" in err.detail and "line 5" in err.detail


def test_dates_in_mixed_formats(history: pd.DataFrame) -> None:
    bad = history.copy()
    bad.loc[10, "Date"] = "03/02/2023"
    err = _refused("bad_date", bad)
    assert "several formats" in err.detail and "YYYY-MM-DD" in err.detail
    assert "DD/MM/YYYY or MM/DD/YYYY" in err.detail and "line 12" in err.detail


def test_day_first_dates_and_explicit_format(history: pd.DataFrame) -> None:
    dates = pd.to_datetime(history["Date"])
    dmy = history.assign(Date=dates.dt.strftime("%d/%m/%Y"))
    frame = prepare(dmy, ColumnMapping(), need_label=True).frame  # days > 12 tell the order
    assert (frame["date"].to_numpy() == np.sort(dates.to_numpy())).all()
    ambiguous = history.head(20).assign(Date="03/04/2023")
    err = _refused("bad_date", ambiguous)
    assert "date_format" in err.detail
    fixed = prepare(
        ambiguous, ColumnMapping().with_overrides({}, date_format="%m/%d/%Y"), need_label=True
    ).frame
    assert str(fixed["date"].iloc[0].date()) == "2023-03-04"


def test_hs_codes_of_6_to_10_digits(history: pd.DataFrame) -> None:
    h = history.head(50).copy()
    h.loc[0, "HS6 Code"] = "6109.10.0010"
    h.loc[1, "HS6 Code"] = "61091000"
    frame = prepare(h, ColumnMapping(), need_label=True).frame.set_index("row")
    assert frame.loc[0, "hs6"] == "610910" and frame.loc[0, "hs_code"] == "6109100010"
    assert frame.loc[1, "hs4"] == "6109" and frame.loc[1, "hs2"] == "61"
    h.loc[2, "HS6 Code"] = "61A910"
    _refused("bad_value", h)


def test_extra_columns_used_when_useful(history: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    h = history.copy()
    h["Container Size"] = rng.choice(["20", "40", "45"], len(h))
    h["Insurance"] = (rng.random(len(h)) * 100).round(2).astype(str)
    h["Clerk Note"] = [f"note {i}" for i in range(len(h))]
    h["Audit Result Code"] = h["Fraud"]  # an outcome: would leak
    prep = prepare(h, ColumnMapping(), need_label=True)
    used = {e["column"]: e["kind"] for e in prep.report["extras_used"]}
    assert used == {"Container Size": "category", "Insurance": "numeric"}
    why = {e["column"]: e["why"] for e in prep.report["extras_ignored"]}
    assert "identifier or free text" in why["Clerk Note"]
    assert "leak" in why["Audit Result Code"]
    assert prep.frame["x_Insurance"].notna().all()


def test_parquet_reads_like_csv(history: pd.DataFrame, tmp_path: Path) -> None:
    csv = _write(tmp_path, history.head(300))
    pq = tmp_path / "f.parquet"
    history.head(300).to_parquet(pq, index=False)
    a = prepare(load_table(csv), ColumnMapping(), need_label=True).frame
    b = prepare(load_table(pq), ColumnMapping(), need_label=True).frame
    pd.testing.assert_frame_equal(a, b)
    fake = tmp_path / "fake.parquet"
    fake.write_text("not parquet")
    with pytest.raises(AuditError, match="not a Parquet file"):
        load_table(fake)


def test_scoring_ignores_unreadable_outcomes(history: pd.DataFrame) -> None:
    h = history.head(100).assign(Fraud="pending")
    frame = prepare(h, ColumnMapping(), need_label=False).frame
    assert "label" not in frame and len(frame) == 100
    _refused("bad_value", h)  # training and evaluation do need them


def test_parquet_with_native_types(history: pd.DataFrame, tmp_path: Path) -> None:
    typed = history.head(200).copy()
    typed["Date"] = pd.to_datetime(typed["Date"])
    for col in ("Net Mass", "Item Price", "Tax Rate", "Revenue"):
        typed[col] = typed[col].astype(float)
    typed["Fraud"] = typed["Fraud"].astype(int)
    path = tmp_path / "typed.parquet"
    typed.to_parquet(path, index=False)
    frame = prepare(load_table(path), ColumnMapping(), need_label=True).frame
    text = prepare(history.head(200), ColumnMapping(), need_label=True).frame
    np.testing.assert_array_equal(frame["day"], text["day"])
    np.testing.assert_allclose(frame["price"], text["price"])
    np.testing.assert_array_equal(frame["label"], text["label"])
