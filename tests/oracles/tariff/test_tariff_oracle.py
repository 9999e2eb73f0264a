"""The tariff oracle: declared code vs prediction, duty gap, determinism, bad codes."""

from __future__ import annotations

import dataclasses
import json

import pytest

from offchain import attestation as att
from offchain.settings import REPO_ROOT
from offchain.tariff import TariffTable
from oracles.base import OracleError, canonical_json
from oracles.tariff.model import TariffModel
from oracles.tariff.oracle import TariffOracle

BEEF = REPO_ROOT / "examples" / "declarations" / "02-frozen-beef-nz-permit.json"


@pytest.fixture(scope="module")
def oracle(tariff_model: TariffModel) -> TariffOracle:
    return TariffOracle(tariff_model, TariffTable.load(REPO_ROOT / "data" / "tariff"))


def test_example_declaration_matches_its_codes(oracle: TariffOracle) -> None:
    request = {"declaration": json.loads(BEEF.read_text())}
    out = oracle.compute(request)
    assert out["mismatch"] is False and out["duty_gap"] == 0.0
    assert [i["predicted"] for i in out["items"]] == ["020230", "020230"]
    assert oracle.kind == att.TARIFF
    assert len(oracle.subject(request)) == 32


def test_misdeclared_item_is_flagged_with_the_duty_gap(oracle: TariffOracle) -> None:
    # cotton T-shirts declared as raw cotton (chapter 52, duty 0) to dodge apparel duty
    out = oracle.compute(
        {
            "items": [
                {
                    "sequence": 1,
                    "description": "Men's cotton knitted T-shirts, printed",
                    "hs_code": "520100",
                    "customs_value": "10000",
                    "quantity": "1000",
                    "unit": "C62",
                    "net_mass_kg": "200",
                    "origin_country": "VN",
                }
            ]
        }
    )
    item = out["items"][0]
    assert out["mismatch"] is True and item["mismatch"] is True
    assert item["predicted"] == "610910" and item["declared"] == "520100"
    line_t = oracle.table.lookup("610910").duty_pct
    line_c = oracle.table.lookup("520100").duty_pct
    assert out["duty_gap"] == pytest.approx(float((line_t - line_c) * 100))
    assert out["duty_gap"] > 0


def test_declared_code_outside_the_nomenclature(oracle: TariffOracle) -> None:
    out = oracle.compute(
        {"items": [{"description": "frozen boneless beef", "hs_code": "0202999999"}]}
    )
    item = out["items"][0]
    assert item["declared_known"] is False and item["mismatch"] is True
    assert "not an HS 2022 subheading" in item["reason"]


def test_unsure_model_does_not_accuse(oracle: TariffOracle) -> None:
    out = oracle.compute(
        {"items": [{"description": "Gefrorenes Rindfleisch ohne Knochen", "hs_code": "020230"}]}
    )
    assert out["mismatch"] is False
    assert out["items"][0]["reason"].startswith("uncertain")


def test_result_hash_is_deterministic_and_finite(oracle: TariffOracle) -> None:
    request = {"declaration": json.loads(BEEF.read_text())}
    a, b = oracle.evaluate(request), oracle.evaluate(request)
    assert a.result_hash == b.result_hash
    canonical_json(a.output)  # no NaN / Infinity (allow_nan=False would raise)


@pytest.mark.parametrize(
    "request_",
    [
        {},
        {"items": []},
        {"items": [{"description": "x"}]},
        {"declaration": {"bad": 1}},
    ],
)
def test_malformed_requests(oracle: TariffOracle, request_: dict) -> None:
    with pytest.raises(OracleError):
        oracle.compute(request_)


def test_malformed_declared_code(oracle: TariffOracle) -> None:
    with pytest.raises(OracleError) as exc:
        oracle.compute({"items": [{"description": "beef", "hs_code": "02-02"}]})
    assert exc.value.code == "invalid_hs_code"


def test_installation_factory_uses_the_active_model(tmp_path) -> None:
    from offchain.settings import Settings
    from oracles.tariff.config import SHIPPED_MODEL_DIR
    from oracles.tariff.oracle import tariff_oracle

    o = tariff_oracle(Settings(home=tmp_path / "var"), SHIPPED_MODEL_DIR)
    assert o.model_version.startswith("tariff-hs2022-")
    out = o.compute({"items": [{"description": "frozen boneless beef", "hs_code": "020230"}]})
    assert out["mismatch"] is False


def test_a_sure_chapter_contradicts_but_an_unsure_subheading_does_not(
    oracle: TariffOracle,
) -> None:
    text = "Men's cotton knitted T-shirts"
    # the model is unsure between 610910 and 6103 ensembles, sure of chapter 61
    out = oracle.compute({"items": [{"description": text, "hs_code": "848210"}]})
    item = out["items"][0]
    assert item["uncertain"] is True and item["mismatch"] is True
    assert "points to chapter 61" in item["reason"] or "points to heading" in item["reason"]
    # a code inside what the model is sure of is not contradicted by an unsure subheading
    out = oracle.compute({"items": [{"description": text, "hs_code": "610990"}]})
    item = out["items"][0]
    assert item["uncertain"] is True and item["mismatch"] is False
    assert item["reason"].startswith("uncertain")


def test_the_oracle_accuses_only_over_the_real_text_bar(tariff_model: TariffModel) -> None:
    """The assistant answers from `uncertain_below`; the oracle, whose mismatch is attested,
    only from `accuse_below` (set on real development lines): between the two, an item is
    uncertain, not a mismatch."""
    item = {"description": "Men's cotton knitted T-shirts, printed", "hs_code": "520100"}
    table = TariffTable.load(REPO_ROOT / "data" / "tariff")
    sure = TariffOracle(tariff_model, table).compute({"items": [item]})["items"][0]
    assert sure["mismatch"] is True
    cal = dataclasses.replace(tariff_model.calibration, accuse_below=0.9999)
    strict = TariffOracle(dataclasses.replace(tariff_model, calibration=cal), table)
    got = strict.compute({"items": [item]})["items"][0]
    assert got["mismatch"] is False and got["uncertain"] is True, got
    assert got["predicted"] == sure["predicted"] == "610910"


def test_the_shipped_accusation_bar_is_stricter_than_the_assistants(
    tariff_model: TariffModel,
) -> None:
    cal = tariff_model.calibration
    assert cal.uncertain_below < cal.accuse_below < 1.0
    assert tariff_model.meta["dev_real_accused_accuracy"] >= 0.89
