"""Typed facade over ConsortiumRegistry: members, roles, governance, permissioning.

Why a facade: callers (nodes, CLI, tests) speak in member ids like "TW" and role names like
"ISSUER"; the contract speaks bytes32.  The conversions, the proposal-id parsing from
events, and the error translation live here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.logs import DISCARD
from web3.types import TxReceipt

from chain.facade import Facade
from chain.ids import ROLE_BY_ID, member_id_bytes, member_id_str, role_id
from chain.sender import TxSender
from offchain.hexbytes import hex0x

PROPOSAL_KINDS = ("add_member", "remove_member", "grant_role", "revoke_role", "call")
PROPOSAL_STATES = ("pending", "executed", "rejected", "expired")


@dataclass(frozen=True)
class Member:
    id: str
    name: str
    admin: str
    active: bool
    x25519_key: str
    joined_at: int
    nodes: tuple[str, ...]
    accounts: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "admin": self.admin,
            "active": self.active,
            "x25519_key": self.x25519_key,
            "joined_at": self.joined_at,
            "nodes": list(self.nodes),
            "accounts": list(self.accounts),
        }


@dataclass(frozen=True)
class Proposal:
    id: int
    kind: str
    state: str
    proposer_member: str
    proposer: str
    created_at: int
    expires_at: int
    member_id: str
    role: str | None
    account: str
    name: str
    x25519_key: str
    yes: int
    no: int

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ConsortiumRegistry(Facade):
    """Reads and governance transactions on one deployed ConsortiumRegistry."""

    name = "ConsortiumRegistry"

    # --- members -------------------------------------------------------------------

    def member(self, member_id: str) -> Member:
        """One member (active or removed); ContractReverted(UnknownMember) if never seen."""
        return _member(self._call("getMember", member_id_bytes(member_id)))

    def members(self, *, active_only: bool = False) -> list[Member]:
        ids = self._call("activeMemberIds" if active_only else "memberIds")
        return [_member(self._call("getMember", raw)) for raw in ids]

    def active_member_count(self) -> int:
        return self._call("activeMemberCount")

    def is_active_member(self, member_id: str) -> bool:
        return self._call("isActiveMember", member_id_bytes(member_id))

    def member_of(self, account: str) -> str | None:
        raw = self._call("memberOf", Web3.to_checksum_address(account))
        return member_id_str(raw) or None

    def has_role(self, role: str, account: str) -> bool:
        return self._call("hasRole", role_id(role), Web3.to_checksum_address(account))

    def roles_of(self, account: str) -> list[str]:
        return [
            name
            for rid, name in ROLE_BY_ID.items()
            if self._call("hasRole", rid, Web3.to_checksum_address(account))
        ]

    # --- self-service by a member's admin ---------------------------------------------

    def add_node(self, sender: TxSender, member_id: str, enode_id: str) -> TxReceipt:
        return sender.transact(
            self.contract.functions.addNode(member_id_bytes(member_id), _enode(enode_id))
        )

    def remove_node(self, sender: TxSender, member_id: str, enode_id: str) -> TxReceipt:
        return sender.transact(
            self.contract.functions.removeNode(member_id_bytes(member_id), _enode(enode_id))
        )

    def set_x25519_key(self, sender: TxSender, member_id: str, key: bytes) -> TxReceipt:
        return sender.transact(
            self.contract.functions.setX25519Key(member_id_bytes(member_id), key)
        )

    def set_member_admin(self, sender: TxSender, member_id: str, admin: str) -> TxReceipt:
        return sender.transact(
            self.contract.functions.setMemberAdmin(
                member_id_bytes(member_id), Web3.to_checksum_address(admin)
            )
        )

    # --- governance -------------------------------------------------------------------

    def propose_add_member(
        self, sender: TxSender, member_id: str, name: str, admin: str, x25519_key: bytes
    ) -> Proposal:
        fn = self.contract.functions.proposeAddMember(
            member_id_bytes(member_id), name, Web3.to_checksum_address(admin), x25519_key
        )
        return self._proposed(sender.transact(fn))

    def propose_remove_member(self, sender: TxSender, member_id: str) -> Proposal:
        fn = self.contract.functions.proposeRemoveMember(member_id_bytes(member_id))
        return self._proposed(sender.transact(fn))

    def propose_grant_role(
        self, sender: TxSender, role: str, account: str, member_id: str
    ) -> Proposal:
        fn = self.contract.functions.proposeGrantRole(
            role_id(role), Web3.to_checksum_address(account), member_id_bytes(member_id)
        )
        return self._proposed(sender.transact(fn))

    def propose_revoke_role(self, sender: TxSender, role: str, account: str) -> Proposal:
        fn = self.contract.functions.proposeRevokeRole(
            role_id(role), Web3.to_checksum_address(account)
        )
        return self._proposed(sender.transact(fn))

    def propose_call(self, sender: TxSender, target: str, data: bytes | str) -> Proposal:
        """Propose that the registry call `target` with `data` once the members pass it.

        How settings of other contracts that obey only the registry change (for example
        `AttestationHub.setQuorum`).  The returned proposal's `account` is the target; read
        the calldata back with `proposal_call`.  If the call reverts when the proposal passes,
        the proposal is rejected and `ProposalInvalidated` carries the target's error.
        """
        raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else bytes(data)
        fn = self.contract.functions.proposeCall(Web3.to_checksum_address(target), raw)
        return self._proposed(sender.transact(fn))

    def proposal_call(self, proposal_id: int) -> tuple[str, bytes]:
        """(target, calldata) of a Call proposal; (zero address, b"") for other kinds."""
        target, data = self._call("proposalCall", proposal_id)
        return target, bytes(data)

    def vote(self, sender: TxSender, proposal_id: int, support: bool) -> Proposal:
        sender.transact(self.contract.functions.vote(proposal_id, support))
        return self.proposal(proposal_id)

    def execute(self, sender: TxSender, proposal_id: int) -> Proposal:
        sender.transact(self.contract.functions.execute(proposal_id))
        return self.proposal(proposal_id)

    def proposal(self, proposal_id: int) -> Proposal:
        return _proposal(self._call("getProposal", proposal_id))

    def proposal_count(self) -> int:
        return self._call("proposalCount")

    def proposals(self) -> list[Proposal]:
        return [self.proposal(i) for i in range(1, self.proposal_count() + 1)]

    def has_voted(self, proposal_id: int, member_id: str) -> bool:
        return self._call("hasVoted", proposal_id, member_id_bytes(member_id))

    def _proposed(self, receipt: TxReceipt) -> Proposal:
        events = self.contract.events.ProposalCreated().process_receipt(receipt, errors=DISCARD)
        return self.proposal(events[0]["args"]["id"])

    # --- Besu permissioning -------------------------------------------------------------

    def transaction_allowed(self, sender: str, target: str | None = None) -> bool:
        return self._call(
            "transactionAllowed",
            Web3.to_checksum_address(sender),
            Web3.to_checksum_address(target or "0x" + "00" * 20),
            0,
            0,
            0,
            b"",
        )

    def connection_allowed(self, enode_id: str, host: str = "127.0.0.1", port: int = 30303) -> bool:
        return self._call("connectionAllowed", enode_id, host, port)


def _enode(enode_id: str) -> bytes:
    text = enode_id.removeprefix("enode://").split("@", 1)[0].removeprefix("0x")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"enode id must be 128 hex digits, got {enode_id!r}") from None
    if len(raw) != 64:
        raise ValueError(f"enode id must be 64 bytes (128 hex digits), got {len(raw)} bytes")
    return raw


def _member(m: Any) -> Member:
    return Member(
        id=member_id_str(m.id),
        name=m.name,
        admin=m.admin,
        active=m.active,
        x25519_key=hex0x(m.x25519Key),
        joined_at=m.joinedAt,
        nodes=tuple(bytes(n).hex() for n in m.nodes),
        accounts=tuple(m.accounts),
    )


def _proposal(p: Any) -> Proposal:
    return Proposal(
        id=p.id,
        kind=PROPOSAL_KINDS[p.kind],
        state=PROPOSAL_STATES[p.state],
        proposer_member=member_id_str(p.proposerMember),
        proposer=p.proposer,
        created_at=p.createdAt,
        expires_at=p.expiresAt,
        member_id=member_id_str(p.memberId),
        role=ROLE_BY_ID.get(bytes(p.role)),
        account=p.account,
        name=p.name,
        x25519_key=hex0x(p.x25519Key),
        yes=p.yes,
        no=p.no,
    )
