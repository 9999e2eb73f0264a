"""What the tariff classifier refuses, each with a code a person or a program can act on.

`TariffInputError` is an `OracleError` (so an `OffchainError`): the node's error handler
turns it into `{"error": code, "detail": text}` with the status of its code in
`offchain.errors.HTTP_STATUS` (the one table of statuses).
"""

from __future__ import annotations

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

    code = "tariff_input_error"  # its statuses: `offchain.errors.HTTP_STATUS`
