"""What selectivity raises: a declaration it cannot judge, a rule file it cannot use."""

from __future__ import annotations

from offchain.errors import OffchainError


class SelectivityError(OffchainError):
    """Selectivity could not evaluate: a bad input, seed or re-route request."""

    code = "selectivity_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class RulesError(SelectivityError):
    """A rule file that cannot be used; `detail` reads `file:rule: key: problem`.

    `source` is the file, `rule_id` the rule (or `rule #N` when it has no id, None for the
    file-level sections), `key` the offending key path (`when.any[1].hs`), `problem` what is
    wrong and how to write it instead.
    """

    code = "rules_invalid"

    def __init__(self, source: str, rule_id: str | None, key: str | None, problem: str) -> None:
        where = f"{source}:{rule_id}" if rule_id else source
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")
        self.source = source
        self.rule_id = rule_id
        self.key = key
        self.problem = problem
