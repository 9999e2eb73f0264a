"""The question dialogue: the question that separates close candidates, and its answers."""

from __future__ import annotations

import pytest

from oracles.tariff.dialogue import MAX_QUESTIONS, Dialogue, simulate, truthful_answer
from oracles.tariff.errors import TariffInputError
from oracles.tariff.model import TariffModel
from oracles.tariff.questions import FACETS, facet_option


def test_fresh_or_frozen_is_asked_when_the_state_is_missing(tariff_model: TariffModel) -> None:
    d = Dialogue.start(tariff_model, "beef boneless")
    assert d.pending is not None
    assert d.pending.kind == "state"
    ids = [o for o, _ in d.pending.options]
    assert {"fresh", "frozen"} <= set(ids)
    top_two = {c for c, _ in d.ranked()[:2]}
    assert top_two == {"020130", "020230"}


@pytest.mark.parametrize(("answer", "hs6"), [("frozen", "020230"), ("fresh", "020130")])
def test_an_answer_narrows_to_the_right_subheading(
    tariff_model: TariffModel, answer: str, hs6: str
) -> None:
    d = Dialogue.start(tariff_model, "beef boneless")
    d.answer("q1", answer)
    best = d.best()
    assert best is not None and best[0] == hs6
    assert best[1] > 0.6
    assert all(facet_option("state", c) in (answer, None) for c in d.scores)


def test_knitted_or_woven_separates_apparel(tariff_model: TariffModel) -> None:
    d = Dialogue.start(tariff_model, "trousers")
    asked = []
    while d.pending is not None:
        asked.append(d.pending.kind)
        d.answer(d.pending.id, truthful_answer(d.pending, "610463"))
    assert {"construction", "fibre", "gender"} & set(asked), asked
    assert d.best()[0] == "610463"
    assert len(asked) <= 4


def test_answer_to_a_question_not_asked_is_refused(tariff_model: TariffModel) -> None:
    d = Dialogue.start(tariff_model, "beef boneless")
    with pytest.raises(TariffInputError) as exc:
        d.answer("q7", "frozen")
    assert exc.value.code == "question_not_asked" and exc.value.http_status == 409
    with pytest.raises(TariffInputError) as exc:
        d.answer("q1", "knitted")
    assert exc.value.code == "invalid_option"
    assert d.pending is not None and d.pending.id == "q1"  # nothing changed


def test_no_answer_once_the_dialogue_ended(tariff_model: TariffModel) -> None:
    d = Dialogue.start(tariff_model, "frozen boneless beef cuts")
    assert d.pending is None and d.reason == "confident"
    with pytest.raises(TariffInputError) as exc:
        d.answer("q1", "frozen")
    assert exc.value.code == "no_pending_question"


def test_dialogue_survives_json_and_stops_within_the_limit(tariff_model: TariffModel) -> None:
    d = Dialogue.start(tariff_model, "shirts")
    again = Dialogue.from_json(d.to_json())
    assert again.to_json() == d.to_json()
    n = 0
    while again.pending is not None:
        again.answer(again.pending.id, "unknown")
        n += 1
    assert n <= MAX_QUESTIONS


def test_simulated_truthful_user_reaches_the_code(tariff_model: TariffModel) -> None:
    asked, ok = simulate(tariff_model, "beef boneless", "020230")
    assert ok and asked == 1
    asked, ok = simulate(tariff_model, "frozen boneless beef cuts", "020230")
    assert ok and asked == 0


def test_every_facet_option_is_named_by_some_subheading() -> None:
    from oracles.tariff.corpus import contexts

    codes = list(contexts())
    for facet in FACETS:
        named = {facet_option(facet.key, c) for c in codes}
        for oid, _, _ in facet.options:
            assert oid in named, f"facet {facet.key} option {oid} matches no subheading"


@pytest.mark.parametrize(
    ("text", "kind", "truth"),
    [
        ("shoes", "uppers", "640399"),
        ("batteries", "chemistry", "850760"),
        ("chairs", "frame", "940161"),
        ("coffee", "roasted", "090111"),
    ],
)
def test_domain_questions_come_from_how_descriptions_differ(
    tariff_model: TariffModel, text: str, kind: str, truth: str
) -> None:
    d = Dialogue.start(tariff_model, text)
    kinds = []
    while d.pending is not None:
        kinds.append(d.pending.kind)
        d.answer(d.pending.id, truthful_answer(d.pending, truth))
    # the domain question comes first, or right after the kind of product ("coffee" is
    # beans in 0901 or an extract in 2101: which one is the first thing to settle)
    assert kind in kinds[:2] and kinds[0] in (kind, "heading"), kinds
    assert truth in [c for c, _ in d.ranked()[:3]], (kinds, d.ranked()[:3])


def test_none_of_these_removes_the_listed_candidates(tariff_model: TariffModel) -> None:
    d = Dialogue.start(tariff_model, "rice")
    assert d.pending is not None and d.pending.kind in ("heading", "subheading")
    shown = {o for o, _ in d.pending.options} - {"none", "unknown"}
    d.answer(d.pending.id, "none")
    assert not shown & {
        c if d.asked[0]["question"]["kind"] == "subheading" else c[:4] for c in d.scores
    }


@pytest.mark.parametrize(
    ("text", "stated"),
    [
        ("men's cotton knitted t-shirts", {"fibre", "gender"}),
        ("純棉針織T恤", {"fibre"}),  # 純棉: pure cotton
        ("woollen knitted jumper", {"fibre"}),
    ],
)
def test_a_facet_the_description_states_is_never_asked(
    tariff_model: TariffModel, text: str, stated: set[str]
) -> None:
    """Asking "what material?" after "cotton" tells the trader the text was not read; and
    a question answered "don't know" is not asked again word for word."""
    d = Dialogue.start(tariff_model, text)
    asked = []
    while d.pending is not None:
        asked.append((d.pending.kind, tuple(o for o, _ in d.pending.options)))
        d.answer(d.pending.id, "unknown")
    assert not stated & {kind for kind, _ in asked}, asked
    assert len(asked) == len(set(asked)), f"a question came back: {asked}"
