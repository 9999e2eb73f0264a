"""The one exception family of consortium network configuration."""

from __future__ import annotations

from collections.abc import Sequence


class NetworkConfigError(ValueError):
    """The consortium description cannot become a working Besu network.

    The message names every problem found and what to change, so an operator can fix the
    registry or the command line in one pass instead of one error at a time. ``problems``
    holds the same sentences one by one for callers that render them differently.
    """

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems: tuple[str, ...] = (
            (problems,) if isinstance(problems, str) else tuple(problems)
        )
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            listed = "\n".join(f"  - {problem}" for problem in self.problems)
            message = f"{len(self.problems)} problems with the network description:\n{listed}"
        super().__init__(message)
