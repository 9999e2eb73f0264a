"""What the tariff classifier refuses, each with a code a person or a program can act on.

`TariffInputError` is an `OracleError` (so an `OffchainError`): the node's error handler
turns it into `{"error": code, "detail": text}` with the status below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from oracles.base import OracleError


class TariffInputError(OracleError):
    """A description, answer, session, code or file the classifier cannot take.

    Codes: `empty_description`, `description_too_long`, `no_words` (only digits or
    punctuation), `unknown_session`, `session_expired`, `no_pending_question` (the
    dialogue has ended), `question_not_asked` (an answer to another question),
    `invalid_option`, `invalid_hs_code`, `unknown_hs_code` (not in HS 2022),
    `no_such_file`, `missing_column`, `no_training_rows`, `no_model`, `invalid_top`,
    `upload_too_large`, `bad_csv`.
    """

    STATUS: ClassVar[Mapping[str, int]] = {
        "unknown_session": 404,
        "unknown_hs_code": 404,
        "session_expired": 410,
        "no_pending_question": 409,
        "question_not_asked": 409,
        "description_too_long": 413,
        "upload_too_large": 413,
        "no_model": 503,
    }

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code, detail, self.STATUS.get(code, 422))
