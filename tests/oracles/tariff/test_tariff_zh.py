"""Chinese: Taiwan's 2020 schedule read against HS 2022, and the dialogue in Chinese."""

from __future__ import annotations

from offchain.tariff import nomenclature
from oracles.tariff.dialogue import Dialogue
from oracles.tariff.i18n import ZH_TEXT, language_of, said_in_chinese, short_zh, translate
from oracles.tariff.model import TariffModel
from oracles.tariff.questions import FACETS
from oracles.tariff.service import TariffService
from oracles.tariff.zh import schedule, training_texts


def test_every_chinese_code_is_an_hs2022_subheading_and_changes_are_flagged() -> None:
    sch = schedule()
    current = set(nomenclature().subheadings())
    assert set(sch.hs6) <= current
    assert "854140" in sch.deleted  # split into LEDs and solar cells in 2022
    assert sch.status("880621") == "new_in_hs2022"  # drones: no 2020 text
    assert sch.status("020230") == "same"
    assert sch.status("940550") == "heading_changed"  # 9405 was restructured in 2022
    assert "940540" in sch.deleted
    assert sch.describe("020230")["description_zh"]
    codes = {code for _text, code in training_texts()}
    assert codes <= current and not codes & sch.deleted


def test_language_and_translations_cover_every_question() -> None:
    assert language_of("冷凍牛肉") == "zh" and language_of("frozen beef") == "en"
    for facet in FACETS:
        assert facet.text in ZH_TEXT, facet.text
        assert all(label in ZH_TEXT for _, label, _ in facet.options)
    assert translate("Frozen", "zh") == "冷凍" and translate("Frozen", "en") == "Frozen"
    assert said_in_chinese("state", "冷凍去骨牛肉") and not said_in_chinese("state", "牛肉")


def test_the_dialogue_asks_in_chinese(tariff_model: TariffModel) -> None:
    d = Dialogue.start(tariff_model, "去骨牛肉")
    assert d.lang == "zh"
    assert d.pending is not None and d.pending.kind == "state"
    assert d.pending.text == ZH_TEXT[FACETS[0].text]
    labels = dict(d.pending.options)
    assert labels["frozen"] == "冷凍"
    d.answer(d.pending.id, "frozen")
    assert d.best() is not None and d.best()[0] == "020230"


def test_a_chinese_description_that_says_frozen_is_not_asked_again(
    tariff_model: TariffModel,
) -> None:
    d = Dialogue.start(tariff_model, "冷凍去骨牛肉")
    assert d.pending is None or d.pending.kind != "state"


def test_candidates_carry_chinese_and_english_texts(tariff_service: TariffService) -> None:
    out = tariff_service.classify("藍牙耳機")
    assert out["language"] == "zh"
    best = out["candidates"][0]
    assert best["hs6"] == "851830"
    assert best["description_zh"] and best["description"]
    assert best["zh_status"] in ("same", "heading_changed")
    assert "duty" in best and "regulations" in best


def test_the_short_chinese_text_is_the_subheading_s_own_words() -> None:
    full = schedule().hs6["851830"]
    assert full.count("；") >= 1 and short_zh(full) == full.split("；")[-1]
    # a last part that says nothing alone keeps the part before it
    assert short_zh("微音器；音響擴大機組；零件") == "音響擴大機組；零件"
    assert short_zh(None) is None and short_zh("冷凍牛肉") == "冷凍牛肉"
