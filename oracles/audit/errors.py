"""The one exception family of the audit oracle: `AuditError(code, detail)`.

Codes (HTTP status the API answers with):
  unreadable_file     the file is not CSV or Parquet, or cannot be read (400)
  empty_data          no rows (400)
  unknown_columns     the mapping names columns the file does not have (400)
  missing_column      a required field has no column (the label for training, ...) (400)
  bad_mapping         the mapping file or a --map flag is malformed (400)
  bad_number          prices, masses or tax rates that are not numbers (422)
  bad_value           numbers out of range: negative mass or price, tax rate over 1000 (422)
  bad_date            dates that do not parse, or several date formats in one file (422)
  one_class           the label column holds only one class: nothing to learn from (422)
  too_few_rows        not enough rows (or frauds) to train and validate on (422)
  model_missing       no model directory / model file where one was expected (404)
  model_incompatible  a model directory written by another format or library version (409)
  model_corrupt       a model file whose checksum does not match its card (409)
"""

from __future__ import annotations

from offchain.errors import OffchainError


class AuditError(OffchainError):
    """Audit data or model refused; `detail` says what is wrong and how to fix it."""

    code: str = "audit_error"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code, detail)
