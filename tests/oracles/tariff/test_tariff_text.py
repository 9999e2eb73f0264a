"""Normalisation and features: the wording traders use meets the nomenclature's."""

from __future__ import annotations

from oracles.tariff.text import (
    MAX_CHARS,
    features,
    has_han,
    has_letters,
    normalize,
    quantity_features,
    segments,
    skeleton,
    words,
)


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


def test_a_listing_is_cut_into_title_category_and_decisive_attributes() -> None:
    text = (
        "2024 New TWS Earbuds Bluetooth 5.3 Hot Sale. Category: Consumer Electronics > "
        "Earphones & Headphones; Brand Name: ACME; Model Number: X9; Material: Plastic"
    )
    segs = segments(normalize(text))
    assert [s.kind for s in segs] == ["title", "category", "category", "attribute"]
    assert segs[2].text == "earphones & headphones" and segs[2].weight == 1.0  # the leaf
    assert segs[1].weight < 1.0
    f = features(text, query=True)
    assert "w:acme" not in f and "w:x9" not in f  # brand and model number never decide
    assert "w:new" not in f and "w:sale" not in f  # marketing words
    assert f["w:plastic"] > 0


def test_chinese_features_and_simplified_meets_traditional() -> None:
    trad, simp = features("藍牙耳機"), features("蓝牙耳机")
    assert trad == simp
    assert trad["h:耳機"] > 0 and trad["h:藍牙"] > 0 and trad["u:耳"] > 0
    assert not any(k.startswith("w:") for k in trad)
    assert has_han("USB 充電線") and not has_han("usb cable")
    assert "h:現貨" not in features("【現貨】 行動電源")  # shop brackets are noise


def test_quantities_meet_the_nomenclature_ranges() -> None:
    official = quantity_features(
        normalize("of a cylinder capacity exceeding 50cc but not exceeding 250cc")
    )
    assert quantity_features(normalize("honda 125cc scooter"))[0] in official
    assert quantity_features(normalize("yamaha 600cc"))[0] not in official
    assert quantity_features(normalize("2 kW motor")) == quantity_features(normalize("2000 W"))


def test_abbreviations_meet_the_words_they_shorten() -> None:
    assert skeleton("balsam") == skeleton("blsm") == "blsm"
    assert skeleton("raspberry") == skeleton("rspbrry")
    assert skeleton("tea") == ""  # too short to be an abbreviation
    assert features("albrto blsm shmp")["k:blsm"] > 0


def test_spaces_between_chinese_words_do_not_change_the_features():
    # sellers put spaces anywhere in a Chinese title; Chinese writes none between words
    assert features("電動 滑板車") == features("電動滑板車")
    assert features("藍牙 耳機 Bluetooth")["h:牙耳"] == 1.0
