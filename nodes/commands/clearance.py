"""`smartcustoms declare` and `smartcustoms permit ...`: declarations and the permits they draw on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from nodes.cliutil import (
    ApiKeyOpt,
    JsonOpt,
    MemberOpt,
    NodeRequestFailed,
    chain_context,
    console,
    esc,
    iso,
    node_call,
    out,
    say,
)

permit_app = typer.Typer(no_args_is_help=True, help="Permits issued by permit agencies.")


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

    def render(d: dict[str, Any]) -> None:
        say(
            f"permit {d.get('permit_number') or permit.permit_id} issued by "
            f"{d.get('issuer_member')} at {iso(d.get('issued_at'))}"
        )
        say(f"  on-chain id {d['permit_id']}, tx {d['tx_hash']} (block {d['block']})")
        say(f"  valid {iso(permit.valid_from_ts)} to {iso(permit.valid_to_ts)}")

    out(res, as_json, render)


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

    view = chain_context().permits.permit(permit_id_bytes(permit_number))
    if view is None:
        raise NodeRequestFailed(
            f"unknown_permit: no permit {permit_number} on chain", "unknown_permit",
            f"no permit {permit_number} on chain",
        )  # fmt: skip
    data = {"permit_number": permit_number, **view.to_json()}
    out(data, as_json, _permit_lines)
