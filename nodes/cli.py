"""`smartcustoms`: the command line of a Smart Customs installation.

Readable output for people, `--json` where a machine reads it; errors are one line saying
what went wrong and what to do, with exit code 1 (2 for usage errors).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.table import Table
from rich.text import Text

from nodes.cliutil import (
    ApiKeyOpt,
    AsMember,
    JsonOpt,
    LimitOpt,
    MemberOpt,
    NodeRequestFailed,
    OffsetOpt,
    console,
    cut_notice,
    err_console,
    esc,
    iso,
    node_call,
    out,
    print_json,
    say,
    settings,
)
from nodes.commands import audit as audit_commands
from nodes.commands import manifest as manifest_commands
from nodes.commands import pay as pay_commands
from nodes.commands import tariff as tariff_commands
from nodes.commands import trip as trip_commands
from nodes.commands import xray as xray_commands
from offchain.errors import CodedError
from offchain.settings import ROLE_NAMES

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Smart Customs: consortium chain and member nodes for partner customs.",
)
devnet_app = typer.Typer(no_args_is_help=True, help="The local anvil chain.")
members_app = typer.Typer(no_args_is_help=True, help="Consortium members and governance.")
node_app = typer.Typer(no_args_is_help=True, help="Run and administer a member node.")
network_app = typer.Typer(no_args_is_help=True, help="Configuration for a real network.")
app.add_typer(devnet_app, name="devnet")
app.add_typer(members_app, name="members")
app.add_typer(node_app, name="node")
doc_app = typer.Typer(no_args_is_help=True, help="Trade documents: submit, verify, revoke.")
trace_app = typer.Typer(no_args_is_help=True, help="Auditors' traces.")
app.add_typer(network_app, name="network")
app.add_typer(doc_app, name="doc")
permit_app = typer.Typer(no_args_is_help=True, help="Permits issued by permit agencies.")
oracle_app = typer.Typer(no_args_is_help=True, help="Oracle instances (clearance, ...).")
app.add_typer(permit_app, name="permit")
app.add_typer(oracle_app, name="oracle")
app.add_typer(trace_app, name="trace")
app.add_typer(trip_commands.app, name="trip")
app.add_typer(tariff_commands.app, name="classify")
app.add_typer(audit_commands.app, name="audit")
app.add_typer(xray_commands.app, name="xray")
app.add_typer(manifest_commands.app, name="manifest")
app.command("pay")(pay_commands.pay)
app.add_typer(pay_commands.declaration_app, name="declaration")
app.add_typer(pay_commands.guarantee_app, name="guarantee")
app.add_typer(pay_commands.gateway_app, name="gateway")

# Every error raised on purpose is a CodedError; a ValueError is bad input the parsers of
# the standard library and pydantic found (a date, a number, a file that is not JSON).
_HANDLED = (CodedError, ValueError)


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


# --- run ---------------------------------------------------------------------------


@app.command()
def run(as_json: JsonOpt = False) -> None:
    """Start the chain, deploy, and one node per member; stay in the foreground (Ctrl-C stops)."""
    from nodes.launcher import run as launch

    raise typer.Exit(launch(settings(), console, as_json=as_json))


# --- devnet ------------------------------------------------------------------------


@devnet_app.command("up")
def devnet_up(as_json: JsonOpt = False) -> None:
    """Start anvil in the background (state kept under var/chain)."""
    from chain import devnet

    pid, started = devnet.up(settings())
    st = devnet.status(settings()) | {"pid": pid, "started": started}
    out(
        st,
        as_json,
        lambda d: console.print(
            f"anvil {'started' if started else 'already running'} (pid {pid}) at {d['rpc_url']}"
        ),
    )


@devnet_app.command("down")
def devnet_down(as_json: JsonOpt = False) -> None:
    """Stop the background anvil; its state is saved."""
    from chain import devnet

    stopped = devnet.down(settings())
    out(
        {"stopped": stopped},
        as_json,
        lambda d: console.print("anvil stopped" if stopped else "no background anvil was running"),
    )


@devnet_app.command("status")
def devnet_status(as_json: JsonOpt = False) -> None:
    """Is a chain answering at the configured RPC URL?"""
    from chain import devnet

    st = devnet.status(settings())
    out(
        st,
        as_json,
        lambda d: console.print(
            f"{d['rpc_url']}: "
            + (
                f"[green]answering[/] (chain id {d['chain_id']}, pid {d['pid']})"
                if d["answering"]
                else "[red]not answering[/]"
            )
        ),
    )
    if not st["answering"]:
        raise typer.Exit(1)


# --- deploy ------------------------------------------------------------------------


@app.command()
def deploy(
    force: Annotated[
        bool, typer.Option(help="Deploy anew even if a deployment is reusable.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Compile and deploy the contracts (reuses a matching deployment)."""
    from chain.client import connect
    from chain.deploy import ensure_deployed

    s = settings()
    say = (lambda _m: None) if as_json else (lambda m: console.print(f"[dim]•[/] {m}"))
    dep, reused = ensure_deployed(s, connect(s), force=force, progress=say)
    data = dep.to_json() | {"reused": reused, "file": str(s.deployment_file)}
    out(
        data,
        as_json,
        lambda d: console.print(
            "\n".join(f"{n}: {c['address']}" for n, c in d["contracts"].items())
            + f"\nrecorded in {d['file']}"
        ),
    )


# --- members -----------------------------------------------------------------------


def _chain():
    from chain.context import Chain

    return Chain(settings())


def _admin(chain, member_id: str):
    from offchain.keystore import member_admin_name

    settings().member(member_id)
    return chain.sender(member_admin_name(member_id))


@members_app.command("list")
def members_list(
    active: Annotated[bool, typer.Option("--active", help="Only active members.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Members as ConsortiumRegistry records them."""
    data = [m.to_json() for m in _chain().registry.members(active_only=active)]
    out(data, as_json, _member_table)


@members_app.command("show")
def members_show(member_id: str, as_json: JsonOpt = False) -> None:
    """One member, with its nodes and accounts."""
    chain = _chain()
    m = chain.registry.member(member_id).to_json()
    m["roles"] = {a: chain.registry.roles_of(a) for a in m["accounts"]}
    out(m, as_json, _member_lines)


class ProposalKind(StrEnum):
    add = "add"
    remove = "remove"
    grant = "grant"
    revoke = "revoke"


@members_app.command("propose")
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
    chain = _chain()
    reg, sender = chain.registry, _admin(chain, as_member)

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


@members_app.command("vote")
def members_vote(
    proposal_id: int,
    as_member: AsMember,
    support: Annotated[bool, typer.Option("--yes/--no", help="Vote for or against.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Vote on a proposal as a member."""
    chain = _chain()
    p = chain.registry.vote(_admin(chain, as_member), proposal_id, support)
    out(p.to_json(), as_json, _proposal_line)


@members_app.command("execute")
def members_execute(proposal_id: int, as_member: AsMember, as_json: JsonOpt = False) -> None:
    """Re-tally a proposal after membership changed (executes or rejects it)."""
    chain = _chain()
    p = chain.registry.execute(_admin(chain, as_member), proposal_id)
    out(p.to_json(), as_json, _proposal_line)


@members_app.command("proposals")
def members_proposals(as_json: JsonOpt = False) -> None:
    """All governance proposals and their state."""
    data = [p.to_json() for p in _chain().registry.proposals()]
    out(data, as_json, lambda ps: [_proposal_line(p) for p in ps] or say("no proposals"))


# --- node --------------------------------------------------------------------------


@node_app.command("serve")
def node_serve(
    member: Annotated[str, typer.Option(help="Member id of this node, e.g. TW.")],
    port: Annotated[int | None, typer.Option(help="Port (default: the member's api_port).")] = None,
) -> None:
    """Serve one member node's API (OpenAPI docs at /docs)."""
    import uvicorn

    from nodes.app import create_app

    s = settings()
    cfg = s.member(member)
    uvicorn.run(
        create_app(cfg.id, s),
        host=s.node_host,
        port=port or cfg.api_port,
        log_level="info",
        access_log=False,
    )


@node_app.command("apikey")
def node_apikey(
    member: Annotated[str, typer.Option(help="Member id of the node.")],
    user: Annotated[str, typer.Option(help="User name.")],
    role: Annotated[
        str, typer.Option(help="admin | exporter | officer | auditor | agency | carrier")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Create an API key for a node user; the key is shown once."""
    from nodes.context import NodeContext

    ctx = NodeContext.open(settings(), member)
    key, u = ctx.api_keys.create(user, role)
    out(
        {"key": key, "user": u.user, "role": u.role, "id": u.id},
        as_json,
        lambda d: (
            say(f"API key for {d['user']} ({d['role']}): {d['key']}"),
            say("store it now: it is not shown again", style="dim"),
        ),
    )


# --- network -----------------------------------------------------------------------


@network_app.command("besu")
def network_besu(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the network into.")],
    chain_id: Annotated[int, typer.Option(help="Chain id of the Besu network.")] = 1337_886,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing export.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a Hyperledger Besu QBFT network of the active members, allowlists from the registry."""
    from nodes.network.export import export_besu

    net = export_besu(_chain(), out_dir, chain_id=chain_id, overwrite=overwrite)
    data = {
        "out": str(net.out),
        "chain_id": net.chain_id,
        "validators": list(net.validators),
        "nodes_allowlist": list(net.nodes_allowlist),
        "accounts_allowlist": list(net.accounts_allowlist),
        "files": [str(f) for f in net.files],
    }
    out(
        data,
        as_json,
        lambda d: console.print(
            f"Besu QBFT network of {len(d['validators'])} validators written to {d['out']}; "
            f"see {d['out']}/README.md"
        ),
    )


# --- documents ---------------------------------------------------------------------


@doc_app.command("submit")
def doc_submit(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    doc_type: Annotated[
        str,
        typer.Option("--type", help="certificate-of-origin | commercial-invoice | packing-list"),
    ],
    to: Annotated[str, typer.Option("--to", help="Importing member id, e.g. SG.")],
    wait: Annotated[float, typer.Option(help="Seconds to wait for the anchor (max 60).")] = 30,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a document through this member's node; prints the receipt once anchored."""
    res = node_call(
        member,
        api_key,
        "POST",
        "/documents",
        params={"type": doc_type, "to": to, "wait": min(wait, 60)},
        content=file.read_bytes(),
        timeout=wait + 30,
    )
    data = res.get("receipt") or res
    out(
        data,
        as_json,
        lambda _d: (
            say(
                f"document {res['doc_hash']} ({res['doc_type']} for {res['recipient']}): "
                f"{res['state']}" + (" (already submitted)" if res.get("duplicate") else "")
            ),
            "receipt" in res
            and say(
                f"  root {res['receipt']['root']}, tx {res['receipt']['tx']}, "
                f"leaf {res['receipt']['leaf_index']}"
            ),
        ),
    )


@doc_app.command("verify")
def doc_verify(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    receipt: Annotated[
        Path,
        typer.Option(exists=True, dir_okay=False, readable=True, help="The receipt JSON file."),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Verify a document and its receipt against the chain (no node needed); exit 1 if invalid."""
    from chain.verification import verify_document
    from offchain.receipt import Receipt
    from offchain.xmlsafe import XmlLimits

    s = settings()
    chain = _chain()
    limits = XmlLimits(s.documents.max_xml_bytes, s.documents.max_xml_depth)
    verdict = verify_document(
        file.read_bytes(),
        Receipt.from_json(receipt.read_text()),
        documents=chain.documents,
        registry=chain.registry,
        chain_id=chain.w3.eth.chain_id,
        limits=limits,
    ).to_json()

    def show(v: dict) -> None:
        for c in v["checks"]:
            mark = "[green]ok[/]  " if c["ok"] else "[red]FAIL[/]"
            console.print(f"{mark} {esc(c['name']):<12} {esc(c['detail'])}")
        console.print("[bold green]VALID[/]" if v["valid"] else "[bold red]INVALID[/]")

    out(verdict, as_json, show)
    if not verdict["valid"]:
        raise typer.Exit(1)


@doc_app.command("revoke")
def doc_revoke(
    doc_hash: str,
    reason: Annotated[str, typer.Option(help="Why (recorded on chain).")],
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke one anchored document submitted through this member's node."""
    res = node_call(
        member, api_key, "POST", f"/documents/{doc_hash}/revoke", json={"reason": reason}
    )
    out(res, as_json, lambda d: say(f"revoked {d['doc_hash']} in tx {d['tx']}"))


@doc_app.command("status")
def doc_status(
    doc_hash: str, member: MemberOpt = None, api_key: ApiKeyOpt = None, as_json: JsonOpt = False
) -> None:
    """State, receipt and delivery of a document submitted through this node."""
    res = node_call(member, api_key, "GET", f"/documents/{doc_hash}")
    out(
        res,
        as_json,
        lambda d: say(f"{d['doc_hash']} {d['doc_type']} → {d['recipient']}: {d['state']}"),
    )


@doc_app.command("inbox")
def doc_inbox(
    limit: LimitOpt = 100,
    offset: OffsetOpt = 0,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Documents this member's node received from partner customs, newest first."""
    ask = min(limit + 1, 500)  # one more than shown tells whether the list goes on
    rows = node_call(member, api_key, "GET", "/inbox", params={"limit": ask, "offset": offset})
    more = len(rows) > limit or (len(rows) == ask == limit)
    rows = rows[:limit]

    def show(rows: list) -> None:
        if not rows and not offset:
            say("inbox is empty")
        for r in rows:
            mark = (
                "[green]valid[/]"
                if r["valid"]
                else f"[red]INVALID[/] {esc(r['verdict']['reason'])}"
            )
            console.print(
                f"{iso(r['received_at'])} from {esc(r['sender'])} {esc(r['doc_type'])} "
                f"{r['doc_hash']} {mark}"
            )

    out(rows, as_json, show)
    if more:
        cut_notice(len(rows), offset, limit)


@trace_app.command("doc")
def trace_doc(
    doc_hash: str, member: MemberOpt = None, api_key: ApiKeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Every on-chain event and node record about a document, re-verified, in time order."""
    res = node_call(member, api_key, "GET", f"/trace/documents/{doc_hash}")

    def show(t: dict) -> None:
        say(f"trace of {t['doc_hash']} on node {t['member']}")
        for e in t["timeline"]:
            ok = "[green]✓[/]" if e["reverified"]["ok"] else "[red]✗[/]"
            console.print(
                f"{iso(e['at'])}  {esc(e['source']):<5} {esc(e['kind']):<9} {ok} "
                f"{esc(e['reverified']['detail'])}"
            )

    out(res, as_json, show)


# --- clearance -----------------------------------------------------------------------


def _decision_lines(d: dict) -> None:
    colour = {"C1": "green", "C2": "yellow", "C3": "red"}.get(d["channel"], "white")
    console.print(
        f"declaration {esc(d['declaration'])}: [bold {colour}]{esc(d['channel'])}[/]"
        + (" (already lodged)" if d.get("duplicate") else "")
    )
    duties = d["duties"]
    currency = f" {duties['currency']}" if duties.get("currency") else ""
    say(
        f"  duty {duties['duty']}{currency}, tax {duties['tax']}{currency}, "
        f"total {duties['total']}{currency}"
    )
    for r in d["reasons"]:
        say(f"  [{r['channel']}] {r['rule']}: {r['text']}")
    for p in d["permits"]:
        say(f"  permit {p['permit']} (item {p['item']}): " + ("ok" if p["ok"] else p["reason"]))
    for doc in d["documents"]:
        say(f"  document {doc['doc_hash']}: " + ("ok" if doc["ok"] else doc["reason"]))
    for line in (d.get("manifest") or {}).get("lines", []):
        say(f"  manifest line {line['number']}/{line['line']}: {line.get('status', '')} "
            + "; ".join(line.get("problems") or []))  # fmt: skip
    a = d["attestation"]
    say(f"  attested in tx {a['tx']} by {len(a['signers'])} oracles")
    order = d.get("payment")
    if order:
        say(f"  payment order {order['reference']}: {order['amount']} {order['currency']}, due "
            f"{order['due_date']}; pay it with: smartcustoms pay {d['declaration']}")  # fmt: skip
    release = d.get("release")
    if release:
        say(f"  release: {release['state']}"
            + "".join(f"; waiting for {w}" for w in release.get("waiting_for") or []))  # fmt: skip


_DECLARE_HINTS = {
    "declaration_exists": "to lodge this file again as a new declaration, add --new-id "
    "(or --id NEW-ID)",
    "date_too_old": "the file's date is too old for the node's [dates] window; --today "
    "lodges it dated today",
    "date_in_future": "--today lodges it dated today",
}


def _fresh_id(old: str) -> str:
    """`old` with a suffix of the current UTC time: a new declaration id (max 35 chars)."""
    import datetime as dt

    stamp = dt.datetime.now(dt.UTC).strftime("%y%m%d%H%M%S")
    return f"{old[: 35 - len(stamp) - 1]}-{stamp}"


@app.command("declare")
def declare(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    new_id: Annotated[
        bool,
        typer.Option("--new-id", help="Lodge under a new id: the file's id and the time."),
    ] = False,
    declaration_id: Annotated[
        str | None, typer.Option("--id", help="Lodge under this declaration id.")
    ] = None,
    today: Annotated[
        bool, typer.Option("--today", help="Date it today (UTC), whatever the file says.")
    ] = False,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Lodge a declaration (XML or JSON) at this member's node: attested channel and duties."""
    ctype = "application/xml" if file.suffix.lower() == ".xml" else "application/json"
    body = file.read_bytes()
    if new_id or declaration_id or today:
        import datetime as dt

        from offchain.declarations import load_declaration_json, load_declaration_xml

        load = load_declaration_xml if ctype == "application/xml" else load_declaration_json
        decl = load(body)
        changes: dict = {}
        if declaration_id or new_id:
            changes["declaration_id"] = declaration_id or _fresh_id(decl.declaration_id)
        if today:
            changes["date"] = dt.datetime.now(dt.UTC).date()
        body = json.dumps(decl.model_copy(update=changes).to_json()).encode()
        ctype = "application/json"
    try:
        res = node_call(
            member,
            api_key,
            "POST",
            "/declarations",
            content=body,
            headers={"Content-Type": ctype},
            timeout=60,
        )
    except NodeRequestFailed as exc:
        hint = _DECLARE_HINTS.get(exc.code)
        if hint is None:
            raise
        raise NodeRequestFailed(f"{exc}; {hint}", exc.code, f"{exc.detail}; {hint}") from None
    out(res, as_json, _decision_lines)


@permit_app.command("issue")
def permit_issue(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    from_today: Annotated[
        bool,
        typer.Option(
            "--from-today", help="Valid from today (UTC) for as many days as the file says."
        ),
    ] = False,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue a permit (JSON file) through the agency member's node."""
    from offchain.permits import load_permit

    raw = file.read_bytes()
    permit = load_permit(raw)
    if from_today:
        import datetime as dt

        days = max(1, round((permit.valid_to_ts - permit.valid_from_ts) / 86400))
        start = dt.datetime.now(dt.UTC).date()
        doc = json.loads(raw)
        doc["valid_from"] = start.isoformat()
        doc["valid_to"] = (start + dt.timedelta(days=days - 1)).isoformat()
        raw = json.dumps(doc).encode()
        permit = load_permit(raw)
    res = node_call(
        member or permit.agency,
        api_key,
        "POST",
        "/permits",
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    out(
        res,
        as_json,
        lambda d: (
            say(f"permit {d.get('permit_number') or permit.permit_id} issued by "
                f"{d.get('issuer_member')} at {iso(d.get('issued_at'))}"),
            say(f"  on-chain id {d['permit_id']}, tx {d['tx_hash']} (block {d['block']})"),
            say(f"  valid {iso(permit.valid_from_ts)} to {iso(permit.valid_to_ts)}"),
        ),
    )  # fmt: skip


def _permit_lines(d: dict) -> None:
    state = f"revoked {iso(d['revoked_at'])}: {d['revocation_reason']}" if d["revoked"] else (
        "in force")  # fmt: skip
    say(f"permit {d['permit_number']} ({state}), issued by {d['issuer_member']} "
        f"at {iso(d['issued_at'])}")  # fmt: skip
    say(f"  HS codes {', '.join(d['hs_codes'])}: {d['remaining']} of {d['quantity']} "
        f"{d['unit']} remaining")  # fmt: skip
    say(f"  valid {iso(d['valid_from'])} to {iso(d['valid_to'])}")
    say(f"  on-chain id {d['permit_id']}")
    say(f"  holder hash {d['holder_hash']}, document hash {d['document_hash']}")


@permit_app.command("show")
def permit_show(permit_number: str, as_json: JsonOpt = False) -> None:
    """A permit as the chain records it (remaining quantity, validity, revocation)."""
    from offchain.permits import permit_id_bytes

    view = _chain().permits.permit(permit_id_bytes(permit_number))
    if view is None:
        raise NodeRequestFailed(
            f"unknown_permit: no permit {permit_number} on chain", "unknown_permit",
            f"no permit {permit_number} on chain",
        )  # fmt: skip
    data = {"permit_number": permit_number, **view.to_json()}
    out(data, as_json, _permit_lines)


@oracle_app.command("serve")
def oracle_serve(
    member: Annotated[str, typer.Option(help="Member operating this instance, e.g. TW.")],
    port: Annotated[
        int | None,
        typer.Option(help="Port (default: clearance.oracle_base_port + the member's index)."),
    ] = None,
) -> None:
    """Serve this member's oracle instance (signs results for AttestationHub)."""
    import uvicorn

    from oracles.instances import instance_url, member_instances
    from oracles.service import create_instance_app

    s = settings()
    s.member(member)
    app_ = create_instance_app(member, member_instances(s, member))
    port = port or int(instance_url(s, member).rsplit(":", 1)[1])
    uvicorn.run(app_, host=s.node_host, port=port, log_level="info", access_log=False)


def main() -> None:
    """Console-script entry: run the app, turning known errors into one readable line."""
    as_json = "--json" in sys.argv
    try:
        rc = app(standalone_mode=False)  # returns the code of a typer.Exit raised inside
        sys.exit(rc if isinstance(rc, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except (click.ClickException, typer.TyperException) as exc:
        exc.show()
        if as_json:  # stdout stays valid JSON for a program reading it
            print_json({"error": "usage", "detail": exc.format_message()})
        sys.exit(getattr(exc, "exit_code", 2))
    except _HANDLED as exc:
        code = getattr(exc, "code", type(exc).__name__)
        if as_json:
            detail = getattr(exc, "detail", None) or str(exc)
            print_json({"error": code, "detail": str(detail)})
        else:
            err_console.print(Text.assemble(("error:", "red"), " ", str(exc)))
        sys.exit(1)


if __name__ == "__main__":
    main()
