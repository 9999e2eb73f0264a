"""`smartcustoms doc ...` and `smartcustoms trace doc`: trade documents and their audit trace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nodes.cliutil import (
    ApiKeyOpt,
    JsonOpt,
    LimitOpt,
    MemberOpt,
    OffsetOpt,
    chain_context,
    console,
    cut_notice,
    esc,
    iso,
    node_call,
    out,
    say,
    settings,
)

app = typer.Typer(no_args_is_help=True, help="Trade documents: submit, verify, revoke.")
trace_app = typer.Typer(no_args_is_help=True, help="Auditors' traces.")


@app.command("submit")
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

    def render(_d: dict[str, Any]) -> None:
        say(
            f"document {res['doc_hash']} ({res['doc_type']} for {res['recipient']}): "
            f"{res['state']}" + (" (already submitted)" if res.get("duplicate") else "")
        )
        if "receipt" in res:
            say(
                f"  root {res['receipt']['root']}, tx {res['receipt']['tx']}, "
                f"leaf {res['receipt']['leaf_index']}"
            )

    out(data, as_json, render)


@app.command("verify")
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
    chain = chain_context()
    limits = XmlLimits.from_settings(s.documents)
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


@app.command("revoke")
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


@app.command("status")
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


@app.command("inbox")
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
