"""Typed facade over PermitRegistry: issuing permits, drawing quantity down, revoking, checking.

Why a facade: callers (the CLI, the clearance oracle, the demo seeder, tests) speak in permit
numbers ("SG-SFA-IP-2026-004217"), importer ids, HS codes as "020230" and quantities as
Decimal in the permit's unit; the contract speaks bytes32, uint32 and thousandths as uint128.
The conversions (all defined once in `offchain.permits`), reading results back from events, and
telling "never issued" apart from a permit live here.  Reverts surface as
`chain.errors.ContractReverted` naming the contract's custom error (`NotPermitAgency`,
`PermitExists`, `InsufficientQuantity`, `AlreadyDrawn`, ...).

Argument forms accepted everywhere:
- a permit as `str`: the permit number, hashed with `offchain.permits.permit_id_bytes`; or the
  on-chain id as 32 `bytes` or as "0x" + 64 hex digits (a permit number is at most 64
  characters, so the two never collide);
- an HS code as "020230" or 20230;
- a quantity as Decimal, int or str, in the permit's unit, at most 3 decimals;
- a declaration id or holder hash as 32 bytes or "0x" + 64 hex digits;
- a time as unix seconds, an aware datetime, or a date (its 00:00:00 UTC).

Deployment: `deploy` puts a PermitRegistry on chain against a ConsortiumRegistry (tests use it;
the project's deployment calls the same constructor).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import IntEnum
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from chain.client import RevertDecoder
from chain.compiler import ContractArtifact
from chain.errors import ChainError, ContractReverted
from chain.events import ChainEvent, read_events
from chain.facade import Facade
from chain.ids import member_id_str
from chain.sender import TxSender, call
from offchain.hexbytes import Bytes32, hex0x
from offchain.permits import (
    Permit,
    hs_code_number,
    hs_code_str,
    permit_id_bytes,
    quantity_from_chain,
    quantity_to_chain,
    unit_bytes,
    unit_from_bytes,
)

PermitRef = str | bytes
"""A permit number, or the 32-byte on-chain permit id (bytes or 0x-hex)."""
Quantity = Decimal | int | str
When = int | datetime | date

_HEX32 = re.compile(r"0x[0-9a-fA-F]{64}")
_MEMBER_OF_ABI = [
    {
        "type": "function",
        "name": "memberOf",
        "stateMutability": "view",
        "inputs": [{"name": "account", "type": "address"}],
        "outputs": [{"name": "", "type": "bytes32"}],
    }
]


class CheckReason(IntEnum):
    """What `PermitRegistry.check` answers (the contract's `Status`); 0 means the permit allows it."""

    OK = 0
    UNKNOWN = 1
    REVOKED = 2
    NOT_YET_VALID = 3
    EXPIRED = 4
    WRONG_HOLDER = 5
    HS_CODE_NOT_COVERED = 6
    INSUFFICIENT_QUANTITY = 7
    ISSUER_INACTIVE = 8

    @property
    def text(self) -> str:
        return _REASON_TEXT[self]


_REASON_TEXT = {
    CheckReason.OK: "the permit allows this quantity",
    CheckReason.UNKNOWN: "no permit with this id was issued",
    CheckReason.REVOKED: "the permit was revoked by its agency",
    CheckReason.NOT_YET_VALID: "the permit is not valid yet at that time",
    CheckReason.EXPIRED: "the permit had expired at that time",
    CheckReason.WRONG_HOLDER: "the permit was issued to another importer",
    CheckReason.HS_CODE_NOT_COVERED: "the permit does not cover this HS code",
    CheckReason.INSUFFICIENT_QUANTITY: "less than this quantity remains on the permit",
    CheckReason.ISSUER_INACTIVE: "the member that issued the permit is no longer in the consortium",
}


class PermitAgencyMismatch(ChainError):
    """The permit file names one member as agency, the sending account acts for another."""

    code = "permit_agency_mismatch"


@dataclass(frozen=True)
class PermitCheck:
    """The answer of `check`: `reason_code` is 0 (OK) when `ok`, `reason_text` says it in words."""

    ok: bool
    reason_code: CheckReason
    reason_text: str

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reason_code": int(self.reason_code),
            "reason": self.reason_code.name.lower(),
            "reason_text": self.reason_text,
        }


@dataclass(frozen=True)
class PermitQuery:
    """One question for `check_many` (the arguments of `check`)."""

    permit_id: PermitRef
    holder_hash: Bytes32
    hs_code: str | int
    quantity: Quantity
    at: When


@dataclass(frozen=True)
class IssueResult:
    """What issuing a permit produced (from its PermitIssued event)."""

    permit_id: bytes
    permit_number: str
    tx_hash: str
    block: int
    issued_at: int
    agency: str
    issuer_member: str
    document_hash: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "permit_id": hex0x(self.permit_id),
            "document_hash": hex0x(self.document_hash),
        }


@dataclass(frozen=True)
class DrawResult:
    """One draw on a permit (from its PermitDrawn event); quantities in the permit's unit."""

    permit_id: bytes
    declaration_id: bytes
    hs_code: str
    quantity: Decimal
    remaining: Decimal
    drawer: str
    tx_hash: str
    block: int

    def to_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "permit_id": hex0x(self.permit_id),
            "declaration_id": hex0x(self.declaration_id),
            "quantity": str(self.quantity),
            "remaining": str(self.remaining),
        }


@dataclass(frozen=True)
class RevokeResult:
    """A revocation (from its PermitRevoked event)."""

    permit_id: bytes
    by: str
    by_member: str
    reason: str
    tx_hash: str
    block: int

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "permit_id": hex0x(self.permit_id)}


@dataclass(frozen=True)
class Draw:
    """A stored draw of one declaration on one permit for one HS code."""

    quantity: Decimal
    drawn_at: int


@dataclass(frozen=True)
class PermitView:
    """A permit as the contract records it; quantities in `unit`, times in unix seconds."""

    permit_id: bytes
    holder_hash: bytes
    document_hash: bytes
    issuer_member: str
    hs_codes: tuple[str, ...]
    quantity: Decimal
    remaining: Decimal
    unit: str
    valid_from: int
    valid_to: int
    issued_at: int
    revoked_at: int | None
    revocation_reason: str | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "permit_id": hex0x(self.permit_id),
            "holder_hash": hex0x(self.holder_hash),
            "document_hash": hex0x(self.document_hash),
            "hs_codes": list(self.hs_codes),
            "quantity": str(self.quantity),
            "remaining": str(self.remaining),
            "revoked": self.revoked,
        }


class PermitRegistry(Facade):
    """Issuing, drawing, revocation and lookups on one deployed PermitRegistry."""

    name = "PermitRegistry"

    def __init__(self, contract: Contract, decoder: RevertDecoder) -> None:
        super().__init__(contract, decoder)
        self._registry: Contract | None = None

    # --- issuing --------------------------------------------------------------------

    def issue(self, sender: TxSender, permit: Permit) -> IssueResult:
        """Issue a checked permit from a PERMIT_AGENCY account of the member `permit.agency`.

        PermitAgencyMismatch (nothing sent) when the account acts for another member;
        ContractReverted for the contract's refusals (NotPermitAgency, PermitExists,
        InvalidValidity when the permit has already expired, ...).
        """
        member = self._member_of(sender.address)
        if member is not None and member != permit.agency:
            raise PermitAgencyMismatch(
                f"permit {permit.permit_id} names {permit.agency} as its agency, but "
                f"{sender.address} acts for {member}; issue it from a PERMIT_AGENCY account "
                f"of {permit.agency}"
            )
        fn = self.contract.functions.issue(
            permit.id_bytes,
            permit.holder_hash,
            sorted(permit.hs_numbers),
            permit.chain_quantity,
            unit_bytes(permit.unit),
            permit.valid_from_ts,
            permit.valid_to_ts,
            permit.document_hash,
        )
        receipt = sender.transact(fn)
        for event in self.contract.events.PermitIssued().process_receipt(receipt, errors=DISCARD):
            args = event["args"]
            if bytes(args["permitId"]) == permit.id_bytes:
                block = receipt["blockNumber"]
                return IssueResult(
                    permit_id=permit.id_bytes,
                    permit_number=permit.permit_id,
                    tx_hash=Web3.to_hex(receipt["transactionHash"]),
                    block=block,
                    issued_at=self.contract.w3.eth.get_block(block)["timestamp"],
                    agency=args["agency"],
                    issuer_member=member_id_str(args["issuerMember"]),
                    document_hash=bytes(args["documentHash"]),
                )
        raise AssertionError(f"issue receipt has no PermitIssued event for {permit.permit_id}")

    def _member_of(self, account: str) -> str | None:
        if self._registry is None:
            self._registry = self.contract.w3.eth.contract(
                address=self._call("registry"), abi=_MEMBER_OF_ABI
            )
        raw = call(self._registry.functions.memberOf(account), self.decoder)
        return member_id_str(raw) or None

    # --- drawing down ---------------------------------------------------------------

    def draw_down(
        self,
        sender: TxSender,
        permit_id: PermitRef,
        hs_code: str | int,
        quantity: Quantity,
        declaration_id: Bytes32,
    ) -> DrawResult:
        """Draw `quantity` (in the permit's unit) for one declaration and HS code.

        From an ORACLE_OPERATOR account (NotDrawer otherwise).  A repeated draw of the same
        declaration, permit and HS code reverts AlreadyDrawn.
        """
        fn = self.contract.functions.drawDown(
            _permit_id(permit_id),
            hs_code_number(hs_code),
            quantity_to_chain(quantity),
            _hash32(declaration_id, "declaration_id"),
        )
        return self._draws(sender.transact(fn))[0]

    def draw_down_many(
        self,
        sender: TxSender,
        declaration_id: Bytes32,
        lines: Sequence[tuple[PermitRef, str | int, Quantity]],
    ) -> list[DrawResult]:
        """Draw `(permit, hs_code, quantity)` lines of one declaration, all or nothing.

        Items with the same permit and HS code must be summed into one line (AlreadyDrawn).
        """
        raw = [(_permit_id(p), hs_code_number(c), quantity_to_chain(q)) for p, c, q in lines]
        fn = self.contract.functions.drawDownMany(_hash32(declaration_id, "declaration_id"), raw)
        return self._draws(sender.transact(fn))

    def _draws(self, receipt: TxReceipt) -> list[DrawResult]:
        out = []
        for event in self.contract.events.PermitDrawn().process_receipt(receipt, errors=DISCARD):
            a = event["args"]
            out.append(
                DrawResult(
                    permit_id=bytes(a["permitId"]),
                    declaration_id=bytes(a["declarationId"]),
                    hs_code=hs_code_str(a["hsCode"]),
                    quantity=quantity_from_chain(a["quantity"]),
                    remaining=quantity_from_chain(a["remaining"]),
                    drawer=a["drawer"],
                    tx_hash=Web3.to_hex(receipt["transactionHash"]),
                    block=receipt["blockNumber"],
                )
            )
        return out

    # --- revocation -----------------------------------------------------------------

    def revoke(self, sender: TxSender, permit_id: PermitRef, reason: str) -> RevokeResult:
        """Revoke a permit from a PERMIT_AGENCY account of its issuing member; say why."""
        raw = _permit_id(permit_id)
        receipt = sender.transact(self.contract.functions.revoke(raw, reason))
        for event in self.contract.events.PermitRevoked().process_receipt(receipt, errors=DISCARD):
            a = event["args"]
            return RevokeResult(
                permit_id=raw,
                by=a["by"],
                by_member=member_id_str(a["byMember"]),
                reason=a["reason"],
                tx_hash=Web3.to_hex(receipt["transactionHash"]),
                block=receipt["blockNumber"],
            )
        raise AssertionError("revoke receipt has no PermitRevoked event")

    # --- lookups --------------------------------------------------------------------

    def permit(self, permit_id: PermitRef) -> PermitView | None:
        """The permit, or None if it was never issued."""
        raw = _permit_id(permit_id)
        try:
            p = self._call("permit", raw)
        except ContractReverted as exc:
            if exc.error == "UnknownPermit":
                return None
            raise
        return PermitView(
            permit_id=raw,
            holder_hash=bytes(p.holder),
            document_hash=bytes(p.documentHash),
            issuer_member=member_id_str(p.issuerMember),
            hs_codes=tuple(hs_code_str(c) for c in p.hsCodes),
            quantity=quantity_from_chain(p.quantity),
            remaining=quantity_from_chain(p.remaining),
            unit=unit_from_bytes(p.unit),
            valid_from=p.validFrom,
            valid_to=p.validTo,
            issued_at=p.issuedAt,
            revoked_at=p.revokedAt or None,
            revocation_reason=p.revocationReason if p.revokedAt else None,
        )

    def exists(self, permit_id: PermitRef) -> bool:
        return self._call("exists", _permit_id(permit_id))

    def remaining(self, permit_id: PermitRef) -> Decimal | None:
        """What remains, in the permit's unit; None if never issued."""
        try:
            return quantity_from_chain(self._call("remaining", _permit_id(permit_id)))
        except ContractReverted as exc:
            if exc.error == "UnknownPermit":
                return None
            raise

    def draw_of(
        self, permit_id: PermitRef, declaration_id: Bytes32, hs_code: str | int
    ) -> Draw | None:
        """The draw of a declaration on a permit for one HS code, or None."""
        d = self._call(
            "drawOf",
            _permit_id(permit_id),
            _hash32(declaration_id, "declaration_id"),
            hs_code_number(hs_code),
        )
        return None if d.drawnAt == 0 else Draw(quantity_from_chain(d.quantity), d.drawnAt)

    def check(
        self,
        permit_id: PermitRef,
        holder_hash: Bytes32,
        hs_code: str | int,
        quantity: Quantity,
        at: When,
    ) -> PermitCheck:
        """Whether the permit allows `quantity` of `hs_code` for this holder at time `at`."""
        _, reason = self._call("check", *_query(permit_id, holder_hash, hs_code, quantity, at))
        return _check(reason)

    def check_many(self, queries: Sequence[PermitQuery]) -> list[PermitCheck]:
        """`check` for many questions in one call; each answered on its own, in order."""
        if not queries:
            return []
        raw = [_query(q.permit_id, q.holder_hash, q.hs_code, q.quantity, q.at) for q in queries]
        return [_check(r) for r in self._call("checkMany", raw)]

    def history(self, permit_id: PermitRef, *, from_block: int = 0) -> list[ChainEvent]:
        """Every event of the permit (issued, drawn, revoked), oldest first."""
        return list(
            read_events(
                self.contract.w3,
                self.contract,
                self.name,
                from_block=from_block,
                topics=[Web3.to_hex(_permit_id(permit_id))],
            )
        )

    def max_hs_codes(self) -> int:
        return self._call("MAX_HS_CODES")


def deploy(
    sender: TxSender,
    artifact: ContractArtifact,
    registry_address: str,
    decoder: RevertDecoder,
) -> tuple[PermitRegistry, TxReceipt]:
    """Deploy a PermitRegistry that asks `registry_address` (a ConsortiumRegistry) for roles."""
    return PermitRegistry.deploy_new(
        sender, artifact, Web3.to_checksum_address(registry_address), decoder=decoder
    )


# ---------------------------------------------------------------------------- conversions


def _permit_id(ref: PermitRef) -> bytes:
    if isinstance(ref, str):
        return bytes.fromhex(ref[2:]) if _HEX32.fullmatch(ref) else permit_id_bytes(ref)
    raw = bytes(ref)
    if len(raw) != 32:
        raise ValueError(f"a permit id as bytes must be 32 bytes, got {len(raw)}")
    return raw


def _hash32(value: Bytes32, what: str) -> bytes:
    if isinstance(value, str):
        if not _HEX32.fullmatch(value):
            raise ValueError(f"{what} must be 0x and 64 hex digits, got {value!r}")
        return bytes.fromhex(value[2:])
    raw = bytes(value)
    if len(raw) != 32:
        raise ValueError(f"{what} must be 32 bytes, got {len(raw)}")
    return raw


def _timestamp(at: When) -> int:
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("a datetime must carry its time zone (naive times are ambiguous)")
        return int(at.timestamp())
    if isinstance(at, date):
        return int(datetime.combine(at, time(0, 0), tzinfo=UTC).timestamp())
    if isinstance(at, bool) or not isinstance(at, int) or at < 0:
        raise ValueError(f"time must be unix seconds, a datetime or a date, got {at!r}")
    return at


def _query(
    permit_id: PermitRef, holder: Bytes32, hs_code: str | int, quantity: Quantity, at: When
) -> tuple[bytes, bytes, int, int, int]:
    return (
        _permit_id(permit_id),
        _hash32(holder, "holder_hash"),
        hs_code_number(hs_code),
        quantity_to_chain(quantity),
        _timestamp(at),
    )


def _check(reason: int) -> PermitCheck:
    code = CheckReason(reason)
    return PermitCheck(code is CheckReason.OK, code, code.text)
