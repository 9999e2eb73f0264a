"""`smartcustoms manifest ...`: cargo manifests (advance cargo information) at a member node.

Every command talks to the node's HTTP API: the node validates, anchors and risk-assesses,
and forwards departure manifests to the importing member.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from nodes.cliutil import ApiKeyOpt, JsonOpt, MemberOpt, console, esc, node_call, out, rows_or, say

app = typer.Typer(
    no_args_is_help=True, help="Cargo manifests: lodge, show, pre-arrival risk, matching."
)


def _summary(d: dict[str, Any]) -> None:
    dup = " (already lodged)" if d.get("duplicate") else ""
    console.print(
        f"manifest [bold]{esc(d['manifest'])}[/] ({d['type']}, {d['lines']} lines){dup}: "
        f"{esc(d['state'])}"
        + (" [yellow]late[/]" if d["late"] else "")
        + (f", forwarded to {esc(d['forwarded_to'])}" if d.get("forwarded_to") else "")
    )
    say(f"  {d['loading_port']} → {d['discharge_port']}, arrival {d['arrival']}")
    say(f"  document hash {d['doc_hash']}")
    flags = d["pre_arrival"]
    say(f"  pre-arrival: C3 {flags['C3']}, C2 {flags['C2']}, C1 {flags['C1']}")
    if d.get("receipt"):
        say(f"  anchored in tx {d['receipt']['tx']} (block {d['receipt']['block']})")


def _lines(rows: list[dict[str, Any]], title: str) -> None:
    table = Table(title=title, title_justify="left")
    for col in ("transport document", "lane", "consignee", "goods", "packages", "kg", "left",
                "arrival", "flags"):  # fmt: skip
        table.add_column(col)
    for r in rows:
        td = r["transport_document"]
        flags = r["pre_arrival"]["flags"]
        table.add_row(
            f"{td['number']}/{td['line']}",
            r["pre_arrival"]["lane"],
            r["consignee"]["name"],
            r["description"][:40],
            str(r["packages"]),
            r["gross_mass_kg"],
            str(r.get("remaining_packages", "")),
            r["arrival"],
            ", ".join(f["rule"] for f in flags) or "-",
        )
    console.print(table)


_DAYS = re.compile(r"^\+?(\d+(?:\.\d+)?)([hd])$")


def redated(raw: bytes, arrive_in: str) -> bytes:
    """The manifest in `raw` as JSON, arriving `arrive_in` (`2d`, `12h`) from now and
    departing as long before that as the file says: example files carry old dates, and a
    node refuses an arrival more than `manifests.max_arrival_age_days` back."""
    import datetime as dt
    import json

    from offchain.manifests import load_manifest

    m = _DAYS.fullmatch(arrive_in.strip())
    if not m:
        raise typer.BadParameter("use a duration such as 2d or 12h", param_hint="--arrive-in")
    ahead = dt.timedelta(**{"days" if m.group(2) == "d" else "hours": float(m.group(1))})
    doc = load_manifest(raw).manifest.to_json()
    voyage = dt.datetime.fromisoformat(doc["arrival"]) - dt.datetime.fromisoformat(doc["departure"])
    arrival = dt.datetime.now(dt.UTC).replace(microsecond=0) + ahead
    doc["arrival"] = arrival.isoformat()
    doc["departure"] = (arrival - voyage).isoformat()
    return json.dumps(doc).encode()


@app.command("submit")
def submit(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    wait: Annotated[float, typer.Option(help="Seconds to wait for the anchoring receipt.")] = 0,
    arrive_in: Annotated[
        str | None,
        typer.Option(
            "--arrive-in",
            help="Re-date it to arrive this long from now (2d, 12h), the voyage as long as "
            "the file says (example files carry old dates).",
        ),
    ] = None,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Lodge a cargo manifest (XML or JSON): anchored, risk-assessed before arrival."""
    ctype = "application/xml" if file.suffix.lower() == ".xml" else "application/json"
    body = file.read_bytes()
    if arrive_in is not None:
        body, ctype = redated(body, arrive_in), "application/json"
    res = node_call(
        member,
        api_key,
        "POST",
        "/manifests",
        content=body,
        headers={"Content-Type": ctype},
        params={"wait": wait},
        timeout=max(60.0, wait + 30),
    )
    out(res, as_json, _summary)


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="Manifest id or document hash.")],
    sender: Annotated[str | None, typer.Option(help="Member that sent a received one.")] = None,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One manifest: its lines, pre-arrival flags and what declarations took of them."""
    res = node_call(
        member, api_key, "GET", f"/manifests/{ref}", params={"sender": sender} if sender else None
    )

    def render(d: dict[str, Any]) -> None:
        _summary(d)
        _lines(d["lines_detail"], "lines")

    out(res, as_json, render)


@app.command("list")
def list_manifests(
    source: Annotated[str | None, typer.Option(help="lodged | partner")] = None,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Manifests lodged at the node or received from partner customs."""
    params = {"source": source} if source else None
    res = node_call(member, api_key, "GET", "/manifests", params=params)

    out(res, as_json, rows_or(_summary, "no manifests"))


@app.command("pre-arrival")
def pre_arrival(
    lane: Annotated[str | None, typer.Option(help="C2 or C3 (default both)")] = None,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Lines flagged by pre-arrival risk rules, soonest arrival first (officers)."""
    res = node_call(
        member,
        api_key,
        "GET",
        "/manifests/lines/pre-arrival",
        params={"lane": lane} if lane else None,
    )
    out(res, as_json, lambda rows: _lines(rows, "pre-arrival risk"))


@app.command("undeclared")
def undeclared(
    days: Annotated[int | None, typer.Option(help="Days after arrival (default: setting).")] = None,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Arrived lines not fully declared after N days (officers)."""
    params = {"days": days} if days is not None else None
    res = node_call(member, api_key, "GET", "/manifests/lines/undeclared", params=params)
    out(res, as_json, lambda rows: _lines(rows, "undeclared lines"))


@app.command("crosscheck")
def crosscheck(
    member: MemberOpt = None, api_key: ApiKeyOpt = None, as_json: JsonOpt = False
) -> None:
    """The carrier's lines against the exporting customs' (differences and gaps)."""
    res = node_call(member, api_key, "GET", "/manifests/crosscheck")

    def render(d: dict[str, Any]) -> None:
        _lines(d["differ"], "reported differently by the exporting customs")
        _lines(d["not_reported"], "exported, arrival passed, not reported by the carrier")
        _lines(d["not_exported"], "reported by the carrier, not in the exporter's manifest")

    out(res, as_json, render)


@app.command("reconcile")
def reconcile(
    ref: Annotated[str, typer.Argument(help="Id of a departure manifest sent to a partner.")],
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask the importing customs how it saw a departure manifest this node sent."""
    res = node_call(member, api_key, "GET", f"/manifests/{ref}/reconciliation")

    def render(d: dict[str, Any]) -> None:
        say(f"{d['member']} on manifest {d['manifest']}:")
        for line in d["lines"]:
            td = line["transport_document"]
            extra = "; ".join(line.get("differences") or [])
            say(f"  {td['number']}/{td['line']}: {line['status']} {extra}")

    out(res, as_json, render)
