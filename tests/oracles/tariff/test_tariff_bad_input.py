"""Every bad input the issue names gets a clear refusal or a clearly unsure answer."""

from __future__ import annotations

import pytest

from oracles.tariff.errors import TariffInputError
from oracles.tariff.service import TariffService


def _refused(svc: TariffService, text: object) -> TariffInputError:
    with pytest.raises(TariffInputError) as exc:
        svc.classify(text)  # type: ignore[arg-type]
    return exc.value


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_or_whitespace_description(tariff_service: TariffService, text: str) -> None:
    err = _refused(tariff_service, text)
    assert err.code == "empty_description" and err.http_status == 422


def test_non_text_description(tariff_service: TariffService) -> None:
    assert _refused(tariff_service, None).code == "empty_description"


def test_100_kb_description_is_refused_quickly(tariff_service: TariffService) -> None:
    err = _refused(tariff_service, "frozen beef " * 9000)
    assert err.code == "description_too_long" and err.http_status == 413
    assert "107999 characters" in err.detail


@pytest.mark.parametrize("text", ["12345678", "0202.30", "  42 / 17 - 3 ", "8507.60.10"])
def test_only_digits(tariff_service: TariffService, text: str) -> None:
    err = _refused(tariff_service, text)
    assert err.code == "no_words"
    if sum(ch.isdigit() for ch in text) >= 6:
        assert "looks like an HS code" in err.detail


@pytest.mark.parametrize(
    "text",
    [
        "Gefrorenes Rindfleisch ohne Knochen, vakuumverpackt",
        "Замороженная говядина без костей",
        "เนื้อวัวแช่แข็งไม่มีกระดูก",
    ],
)
def test_untrained_language_gives_a_clearly_unsure_answer(
    tariff_service: TariffService, text: str
) -> None:
    out = tariff_service.classify(text)
    assert out["uncertain"] is True and out["low_confidence"] is True
    assert out["confidence"] < 0.2
    assert all(c["confidence"] < 0.2 for c in out["candidates"])
    assert "not sure" in out["advice"]


def test_chinese_is_understood_not_refused(tariff_service: TariffService) -> None:
    """Chinese was the untrained language of the first model; now it is a first-class one."""
    out = tariff_service.classify("冷凍去骨牛肉")
    assert out["language"] == "zh"
    assert out["candidates"][0]["hs6"] == "020230"
    assert out["candidates"][0]["description_zh"]
    assert out["uncertain"] is False


def test_english_gibberish_is_not_a_confident_answer(tariff_service: TariffService) -> None:
    out = tariff_service.classify("zxqv plorb wuzzle")
    assert out["uncertain"] is True


def test_known_english_is_not_flagged(tariff_service: TariffService) -> None:
    out = tariff_service.classify("frozen boneless beef cuts")
    assert out["uncertain"] is False
    assert out["candidates"][0]["hs6"] == "020230"
    assert out["confidence"] > 0.8


@pytest.mark.parametrize("code", ["999999", "020299", "0202999999"])
def test_hs_code_not_in_the_nomenclature(tariff_service: TariffService, code: str) -> None:
    with pytest.raises(TariffInputError) as exc:
        tariff_service.check_code(code)
    assert exc.value.code == "unknown_hs_code" and exc.value.http_status == 404


@pytest.mark.parametrize("code", ["02023", "beef", "12345678901"])
def test_malformed_hs_code(tariff_service: TariffService, code: str) -> None:
    with pytest.raises(TariffInputError) as exc:
        tariff_service.check_code(code)
    assert exc.value.code == "invalid_hs_code"


@pytest.mark.parametrize("top", [0, 21, -1])
def test_top_out_of_range(tariff_service: TariffService, top: int) -> None:
    with pytest.raises(TariffInputError) as exc:
        tariff_service.classify("frozen beef", top)
    assert exc.value.code == "invalid_top"


def test_answer_to_a_question_not_asked_in_a_session(tariff_service: TariffService) -> None:
    started = tariff_service.start("beef boneless")
    sid = started["session"]
    assert started["question"]["id"] == "q1"
    with pytest.raises(TariffInputError) as exc:
        tariff_service.answer(sid, "q2", "frozen")
    assert exc.value.code == "question_not_asked"
    done = tariff_service.answer(sid, "q1", "frozen")
    assert done["candidates"][0]["hs6"] == "020230" and done["question"] is None
    with pytest.raises(TariffInputError) as exc:
        tariff_service.answer(sid, "q1", "frozen")
    assert exc.value.code == "no_pending_question"


def test_expired_and_unknown_sessions(tariff_service: TariffService) -> None:
    now = [1000.0]
    tariff_service.sessions.clock = lambda: now[0]
    sid = tariff_service.start("beef boneless")["session"]
    now[0] += tariff_service.settings.session_ttl_s + 1
    with pytest.raises(TariffInputError) as exc:
        tariff_service.answer(sid, "q1", "frozen")
    assert exc.value.code == "session_expired" and exc.value.http_status == 410
    with pytest.raises(TariffInputError) as exc:
        tariff_service.answer("0" * 32, "q1", "frozen")
    assert exc.value.code == "unknown_session" and exc.value.http_status == 404


def test_a_file_that_is_not_utf8_csv(tariff_service: TariffService, tmp_path) -> None:
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("description,hs_code\nCaf\xe9 torr\xe9,090121\n".encode("latin-1"))
    with pytest.raises(TariffInputError) as exc:
        tariff_service.evaluate_file(bad)
    assert exc.value.code == "bad_csv"
    with pytest.raises(TariffInputError) as exc:
        tariff_service.evaluate_file(tmp_path / "missing.csv")
    assert exc.value.code == "no_such_file"


def test_evaluate_stops_at_the_row_limit(tariff_service: TariffService, tmp_path) -> None:
    data = tmp_path / "many.csv"
    data.write_text("description,hs_code\n" + "frozen boneless beef,020230\n" * 30)
    out = tariff_service.evaluate_file(data, limit=10)
    assert out["n"] == 10 and out["skipped"] == 1 and "limit 10" in out["problems"][0]
