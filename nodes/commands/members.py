"""`smartcustoms members ...`: the consortium as ConsortiumRegistry records it, and governance."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from nodes.cliutil import (
    AsMember,
    JsonOpt,
    chain_context,
    console,
    esc,
    iso,
    member_admin_sender,
    out,
    rows_or,
    say,
)
from offchain.settings import ROLE_NAMES

app = typer.Typer(no_args_is_help=True, help="Consortium members and governance.")


def _member_table(members: list[dict]) -> None:
    table = Table(title="Consortium members", title_justify="left")
    for col in ("id", "name", "active", "admin", "nodes", "accounts"):
        table.add_column(col)
    for m in members:
        table.add_row(
            esc(m["id"]),
            esc(m["name"]),
            "yes" if m["active"] else "[red]no[/]",
            m["admin"],
            str(len(m["nodes"])),
            str(len(m["accounts"])),
        )
    console.print(table)


def _proposal_line(p: dict) -> None:
    target = p["member_id"] or ""
    if p["role"]:
        target = f"{p['role']} for {p['account']} ({p['member_id']})"
    console.print(
        f"proposal #{p['id']} {esc(p['kind'])} {esc(target)}: [bold]{esc(p['state'])}[/] "
        f"(yes {p['yes']}, no {p['no']}, expires {iso(p['expires_at'])})"
    )


def _member_lines(m: dict) -> None:
    state = "active" if m["active"] else "removed"
    console.print(
        f"[bold]{esc(m['id'])}[/] {esc(m['name'])}: {state}, joined {iso(m.get('joined_at'))}"
    )
    say(f"  admin       {m['admin']}")
    say(f"  x25519 key  {m['x25519_key']}")
    for enode in m["nodes"]:
        say(f"  node        {enode}")
    for account in m["accounts"]:
        roles = ", ".join(m["roles"].get(account) or []) or "admin (governance)"
        say(f"  account     {account} {roles}")


@app.command("list")
def members_list(
    active: Annotated[bool, typer.Option("--active", help="Only active members.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Members as ConsortiumRegistry records them."""
    data = [m.to_json() for m in chain_context().registry.members(active_only=active)]
    out(data, as_json, _member_table)


@app.command("show")
def members_show(member_id: str, as_json: JsonOpt = False) -> None:
    """One member, with its nodes and accounts."""
    chain = chain_context()
    m = chain.registry.member(member_id).to_json()
    m["roles"] = {a: chain.registry.roles_of(a) for a in m["accounts"]}
    out(m, as_json, _member_lines)


class ProposalKind(StrEnum):
    add = "add"
    remove = "remove"
    grant = "grant"
    revoke = "revoke"


@app.command("propose")
def members_propose(
    kind: Annotated[ProposalKind, typer.Argument(help="add | remove | grant | revoke")],
    as_member: AsMember,
    member: Annotated[str | None, typer.Option(help="Target member id.")] = None,
    name: Annotated[str | None, typer.Option(help="Name of a member to add.")] = None,
    admin: Annotated[str | None, typer.Option(help="Admin account of a member to add.")] = None,
    x25519_key: Annotated[
        str | None, typer.Option(help="Hex X25519 key of a member to add.")
    ] = None,
    role: Annotated[str | None, typer.Option(help=f"One of {', '.join(ROLE_NAMES)}.")] = None,
    account: Annotated[str | None, typer.Option(help="Account to grant/revoke a role.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Propose a membership or role change; counts as the proposing member's yes vote."""
    chain = chain_context()
    reg, sender = chain.registry, member_admin_sender(chain, as_member)

    def need(value: str | None, flag: str) -> str:
        if not value:
            raise typer.BadParameter(f"`{kind.value}` needs --{flag}")
        return value

    if kind is ProposalKind.add:
        key = bytes.fromhex(need(x25519_key, "x25519-key").removeprefix("0x"))
        p = reg.propose_add_member(
            sender, need(member, "member"), need(name, "name"), need(admin, "admin"), key
        )
    elif kind is ProposalKind.remove:
        p = reg.propose_remove_member(sender, need(member, "member"))
    elif kind is ProposalKind.grant:
        p = reg.propose_grant_role(
            sender, need(role, "role"), need(account, "account"), need(member, "member")
        )
    else:
        p = reg.propose_revoke_role(sender, need(role, "role"), need(account, "account"))
    out(p.to_json(), as_json, _proposal_line)


@app.command("vote")
def members_vote(
    proposal_id: int,
    as_member: AsMember,
    support: Annotated[bool, typer.Option("--yes/--no", help="Vote for or against.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Vote on a proposal as a member."""
    chain = chain_context()
    p = chain.registry.vote(member_admin_sender(chain, as_member), proposal_id, support)
    out(p.to_json(), as_json, _proposal_line)


@app.command("execute")
def members_execute(proposal_id: int, as_member: AsMember, as_json: JsonOpt = False) -> None:
    """Re-tally a proposal after membership changed (executes or rejects it)."""
    chain = chain_context()
    p = chain.registry.execute(member_admin_sender(chain, as_member), proposal_id)
    out(p.to_json(), as_json, _proposal_line)


@app.command("proposals")
def members_proposals(as_json: JsonOpt = False) -> None:
    """All governance proposals and their state."""
    data = [p.to_json() for p in chain_context().registry.proposals()]

    out(data, as_json, rows_or(_proposal_line, "no proposals"))
