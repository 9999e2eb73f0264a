"""The consortium as the chain records it: members, and governance proposals by this node."""

from __future__ import annotations

import re
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from nodes.api.deps import AdminDep, NodeDep, ProposalId
from nodes.api.responses import MemberOut, ProposalOut
from nodes.errors import ApiError
from offchain.settings import ROLE_NAMES

router = APIRouter(tags=["consortium"])

_ADDRESS = r"^0x[0-9a-fA-F]{40}$"
_MEMBER_ID = r"^[A-Z][A-Z0-9_-]{0,30}$"


class ProposalIn(BaseModel):
    """A governance proposal made by this node's member; which fields matter depends on kind."""

    kind: Literal["add_member", "remove_member", "grant_role", "revoke_role"]
    member_id: str | None = Field(None, pattern=_MEMBER_ID, description="target member")
    name: str | None = Field(None, min_length=1, max_length=200)
    admin: str | None = Field(None, pattern=_ADDRESS, description="new member's admin account")
    x25519_key: str | None = Field(None, pattern=r"^(0x)?[0-9a-fA-F]{64}$")
    role: str | None = Field(None, description=f"one of {', '.join(ROLE_NAMES)}")
    account: str | None = Field(None, pattern=_ADDRESS)


class VoteIn(BaseModel):
    support: bool


@router.get("/members", response_model=list[MemberOut], summary="Members of the consortium")
def list_members(ctx: NodeDep, active_only: bool = False) -> list[dict]:
    return [m.to_json() for m in ctx.chain.registry.members(active_only=active_only)]


@router.get("/members/{member_id}", response_model=MemberOut, summary="One member")
def get_member(member_id: str, ctx: NodeDep) -> dict:
    return ctx.chain.registry.member(_member_id(member_id)).to_json()


@router.get("/proposals", response_model=list[ProposalOut], summary="Governance proposals")
def list_proposals(ctx: NodeDep) -> list[dict]:
    return [p.to_json() for p in ctx.chain.registry.proposals()]


@router.get("/proposals/{proposal_id}", response_model=ProposalOut, summary="One proposal")
def get_proposal(proposal_id: ProposalId, ctx: NodeDep) -> dict:
    return ctx.chain.registry.proposal(proposal_id).to_json()


@router.post(
    "/proposals",
    response_model=ProposalOut,
    status_code=201,
    summary="Propose a membership or role change (counts as this member's yes vote)",
)
def propose(
    body: ProposalIn,
    ctx: NodeDep,
    _: AdminDep,
) -> dict:
    reg, sender = ctx.chain.registry, ctx.governance_sender()
    need = _required(body)
    if body.kind == "add_member":
        key = bytes.fromhex(need("x25519_key").removeprefix("0x"))
        p = reg.propose_add_member(sender, need("member_id"), need("name"), need("admin"), key)
    elif body.kind == "remove_member":
        p = reg.propose_remove_member(sender, need("member_id"))
    elif body.kind == "grant_role":
        p = reg.propose_grant_role(sender, need("role"), need("account"), need("member_id"))
    else:
        p = reg.propose_revoke_role(sender, need("role"), need("account"))
    return p.to_json()


@router.post(
    "/proposals/{proposal_id}/votes",
    response_model=ProposalOut,
    summary="Vote on a proposal as this member",
)
def vote(
    proposal_id: ProposalId,
    body: VoteIn,
    ctx: NodeDep,
    _: AdminDep,
) -> dict:
    return ctx.chain.registry.vote(ctx.governance_sender(), proposal_id, body.support).to_json()


@router.post(
    "/proposals/{proposal_id}/execute",
    response_model=ProposalOut,
    summary="Re-tally a proposal after membership changed, executing or rejecting it",
)
def execute(
    proposal_id: ProposalId,
    ctx: NodeDep,
    _: AdminDep,
) -> dict:
    return ctx.chain.registry.execute(ctx.governance_sender(), proposal_id).to_json()


def _member_id(raw: str) -> str:
    if not re.match(_MEMBER_ID, raw):
        raise ApiError(400, "invalid_member_id", f"{raw!r} is not a member id (e.g. TW, SG, NZ)")
    return raw


def _required(body: ProposalIn):
    fields = {
        "add_member": ("member_id", "name", "admin", "x25519_key"),
        "remove_member": ("member_id",),
        "grant_role": ("role", "account", "member_id"),
        "revoke_role": ("role", "account"),
    }[body.kind]
    missing = [f for f in fields if getattr(body, f) in (None, "")]
    if missing:
        raise ApiError(
            422,
            "invalid_request",
            f"a {body.kind} proposal needs {', '.join(fields)}; missing: {', '.join(missing)}",
        )
    return lambda name: getattr(body, name)
