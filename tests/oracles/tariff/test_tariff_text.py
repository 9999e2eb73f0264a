"""Normalisation and features: the wording traders use meets the nomenclature's."""

from __future__ import annotations

from oracles.tariff.text import MAX_CHARS, features, has_letters, normalize, words


def test_nomenclature_phrases_become_trade_words() -> None:
    assert "woven" in normalize("Trousers; of cotton (not knitted or crocheted)")
    assert words(normalize("T-shirts; knitted or crocheted")) == ["tshirt", "knit"]
    assert words(normalize("knit")) == words(normalize("knitted")) == ["knit"]
    assert words(normalize("T-Shirts")) == words(normalize("tshirt")) == ["tshirt"]


def test_negated_clauses_are_dropped() -> None:
    assert "cotton" not in words(normalize("of textile materials (other than cotton)"))


def test_plurals_and_spellings_meet() -> None:
    assert words(normalize("tires, fibers")) == words(normalize("tyre fibre"))
    assert words(normalize("boxes batteries")) == ["box", "battery"]


def test_words_after_for_weigh_half() -> None:
    f = features("phone case for smartphones")
    assert f["w:case"] == 1.0
    assert f["w:smartphone"] == 0.5


def test_long_text_is_cut_and_digits_are_not_words() -> None:
    assert len(normalize("a" * (MAX_CHARS * 3))) == MAX_CHARS
    assert words(normalize("8507.60 36 V")) == []
    assert not has_letters("8507.60 / 123")
    assert has_letters("冷凍牛肉")


def test_ed_and_ing_forms_meet_their_stem() -> None:
    assert words(normalize("skimmed printed roasting canned")) == ["skim", "print", "roast", "can"]
    assert words(normalize("dried")) == ["dried"]  # too short a stem to cut


def test_packing_is_not_the_goods() -> None:
    assert words(normalize("Refined sunflower oil 5 L PET bottles, 25 kg bags")) == [
        "refin",
        "sunflower",
        "oil",
    ]
    assert "bag" in words(normalize("plastic bags for garbage"))  # bags as the goods stay


def test_query_weighs_the_first_phrase_and_its_head_word() -> None:
    q = features("sunflower seed oil, refined", query=True)
    assert q["w:oil"] > q["w:seed"] > q["w:refin"]
    doc = features("sunflower seed oil, refined")
    assert doc["w:oil"] == doc["w:seed"] == doc["w:refin"] == 1.0
