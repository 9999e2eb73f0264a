"""What other node services add to clearance, without clearance knowing them.

A hook may give the oracles more findings about a declaration (`before`, sent in the
clearance request under the hook's `name` and attested with the decision), add to the
answer once the decision is kept (`after`), give back what it reserved when no decision
was reached (`abandon`), and hear of an officer's re-route (`changed`).  The cargo manifest
service (matching cited transport documents) and the payment service (orders, release
state) are the two hooks of a node.
"""

from __future__ import annotations

from typing import Any, Protocol

from offchain.declarations import Declaration


class ClearanceHook(Protocol):
    name: str

    def before(self, decl: Declaration) -> dict[str, Any] | None:
        """Findings for the oracles (None: nothing to add)."""

    def abandon(self, decl: Declaration) -> None:
        """The declaration was not decided (oracles unavailable, ...): undo `before`."""

    def after(self, decl: Declaration, decision: dict[str, Any]) -> dict[str, Any]:
        """Fields to add to the answer; runs for new and repeated lodgings alike."""

    def changed(self, declaration_id: str) -> None:
        """An officer re-routed the declaration."""
