"""Helpers shared by the ConsortiumRegistry contract tests.

Governance takes several transactions per change (propose, then votes until a strict
majority); these fixtures say in one line what a test needs as background ("JP is a
fourth member", "NZ was removed") so the test body shows only the behaviour under test.
Every fixture that changes chain state depends on `snapshot`, so the chain is rewound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from web3 import Web3
from web3.logs import DISCARD
from web3.types import TxReceipt

from chain.errors import ContractReverted
from chain.registry import ConsortiumRegistry, Proposal
from chain.sender import TxSender

GENESIS = ("TW", "SG", "NZ")
JP_NAME = "Japan Customs"
JP_KEY = bytes(range(1, 33))


@pytest.fixture
def reverts() -> Callable[..., AbstractContextManager[pytest.ExceptionInfo[ContractReverted]]]:
    """`with reverts("NotMemberAdmin", caller=addr):` the block reverts with that custom error.

    Only the named arguments are compared; addresses are compared without regard to case
    (the ABI decoder returns them in lower case).
    """

    @contextmanager
    def expect(error: str, **args: Any) -> Iterator[pytest.ExceptionInfo[ContractReverted]]:
        with pytest.raises(ContractReverted) as caught:
            yield caught
        assert caught.value.error == error, str(caught.value)
        got = {k: _comparable(caught.value.error_args.get(k)) for k in args}
        assert got == {k: _comparable(v) for k, v in args.items()}, str(caught.value)

    return expect


def _comparable(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x"):
        return value.lower()
    return value


@pytest.fixture
def logs(registry: ConsortiumRegistry) -> Callable[[TxReceipt, str], list[dict[str, Any]]]:
    """`logs(receipt, "Voted")`: the decoded arguments of each such event in the receipt."""

    def read(receipt: TxReceipt, event: str) -> list[dict[str, Any]]:
        found = getattr(registry.contract.events, event)().process_receipt(receipt, errors=DISCARD)
        return [dict(e["args"]) for e in found]

    return read


@pytest.fixture
def advance_time(w3: Web3) -> Callable[[int], None]:
    """Move the chain clock forward and mine a block, so views see the new time."""

    def advance(seconds: int) -> None:
        w3.provider.make_request("evm_increaseTime", [seconds])
        w3.provider.make_request("evm_mine", [])

    return advance


@pytest.fixture
def outsider(funded: Callable[[str], TxSender], snapshot: None) -> TxSender:
    """A funded account that no member ever heard of."""
    return funded("outsider")


@pytest.fixture
def decide(
    registry: ConsortiumRegistry, admin: Callable[[str], TxSender]
) -> Callable[..., Proposal]:
    """`decide(proposal_id, "SG", "NZ", support=True)`: those members vote, in order."""

    def run(proposal_id: int, *voters: str, support: bool = True) -> Proposal:
        for member in voters:
            registry.vote(admin(member), proposal_id, support)
        return registry.proposal(proposal_id)

    return run


@pytest.fixture
def remove_member(
    registry: ConsortiumRegistry, admin: Callable[[str], TxSender], snapshot: None
) -> Callable[[str], Proposal]:
    """`remove_member("NZ")`: the active members vote it out; returns the executed proposal."""

    def run(member_id: str) -> Proposal:
        others = [m.id for m in registry.members(active_only=True) if m.id != member_id]
        proposal = registry.propose_remove_member(admin(others[0]), member_id)
        for member in [*others[1:], member_id]:  # the member itself votes yes when needed
            if registry.proposal(proposal.id).state != "pending":
                break
            registry.vote(admin(member), proposal.id, True)
        proposal = registry.proposal(proposal.id)
        assert proposal.state == "executed", proposal
        return proposal

    return run


@pytest.fixture
def admit_member(
    registry: ConsortiumRegistry, admin: Callable[[str], TxSender], snapshot: None
) -> Callable[..., Proposal]:
    """`admit_member("JP", admin_address)`: the active members vote it in."""

    def run(member_id: str, admin_address: str, name: str = JP_NAME, key: bytes = JP_KEY):
        voters = [m.id for m in registry.members(active_only=True)]
        proposal = registry.propose_add_member(
            admin(voters[0]), member_id, name, admin_address, key
        )
        for member in voters[1:]:
            if registry.proposal(proposal.id).state != "pending":
                break
            registry.vote(admin(member), proposal.id, True)
        proposal = registry.proposal(proposal.id)
        assert proposal.state == "executed", proposal
        return proposal

    return run


@pytest.fixture
def jp_admin(funded: Callable[[str], TxSender], admit_member: Callable[..., Proposal]) -> TxSender:
    """Admits JP as a fourth member (TW proposes, SG seconds); returns JP's admin sender."""
    sender = funded("JP/admin")
    admit_member("JP", sender.address)
    return sender
