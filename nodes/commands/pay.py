"""`smartcustoms pay`, `declaration ...`, `guarantee ...`, `gateway ...`: duties payable.

`pay DECLARATION` does what a trader does: read the declaration's payment order from the
customs node, then pay it through the payment gateway (the stand-in `make run` starts), which
checks the order with the node, takes the money and confirms it to the node with a signed
callback.  `--guarantee G` defers instead, against the importer's registered guarantee.
"""

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
    console,
    esc,
    node_call,
    out,
    say,
    settings,
)

declaration_app = typer.Typer(
    no_args_is_help=True, help="A declaration's release state, payment and officers' checks."
)
guarantee_app = typer.Typer(no_args_is_help=True, help="Traders' guarantees for deferred duties.")
gateway_app = typer.Typer(no_args_is_help=True, help="The payment gateway stand-in.")


def _paid(d: dict[str, Any]) -> None:
    status = d.get("status") or d.get("state")
    colour = "green" if status == "applied" else "yellow"
    console.print(
        f"paid {d['amount']} {d['currency']} for order {d['order']}: [{colour}]{status}[/]"
        + (f" (gateway transaction {d['transaction']})" if d.get("transaction") else "")
    )
    if d.get("receipt"):
        say(f"  receipt {d['receipt']}")
    if d.get("error"):
        say(f"  {d['error']}: {d['detail']}", style="yellow")


def pay(
    declaration: Annotated[str, typer.Argument(help="Declaration id lodged at the node.")],
    guarantee: Annotated[
        str | None, typer.Option(help="Defer against this guarantee instead of paying.")
    ] = None,
    payer: Annotated[str | None, typer.Option(help="Payer's name (default: the importer).")] = None,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pay a declaration's duties through the payment gateway (or defer on a guarantee)."""
    if guarantee:
        res = node_call(
            member,
            api_key,
            "POST",
            f"/declarations/{declaration}/defer",
            json={"guarantee": guarantee},
        )
        out(res, as_json, lambda d: console.print(
            f"order {d['order']['reference']} secured by guarantee {guarantee}; release: "
            f"{d['release']['state']}"
        ))  # fmt: skip
        return
    view = node_call(member, api_key, "GET", f"/declarations/{declaration}/payment")
    order = view["order"]
    if order is None:
        raise NodeRequestFailed(
            f"nothing_to_pay: declaration {declaration} levies no duties", "nothing_to_pay"
        )
    s = settings()
    member_id = member or s.members[0].id
    body = {
        "member": member_id,
        "order": order["reference"],
        "amount": order["amount"],
        "currency": order["currency"],
        "payer": {
            "name": payer or order["importer_name"] or "payer",
            **({"id": order["importer_id"], "id_scheme": order["importer_scheme"]}
               if order["importer_id"] and not payer else {}),
        },
    }  # fmt: skip
    res = _gateway_call("POST", "/pay", json=body)
    out(res, as_json, _paid)


def _gateway_call(method: str, path: str, **kw: Any) -> Any:
    import httpx

    url = settings().payments.gateway_url
    try:
        resp = httpx.request(method, url + path, timeout=60.0, **kw)
    except httpx.HTTPError as exc:
        raise NodeRequestFailed(
            f"the payment gateway does not answer at {url} ({type(exc).__name__}); start it "
            "with `make run` or `smartcustoms gateway serve`",
            "gateway_unavailable",
        ) from None
    try:
        data = resp.json()
    except ValueError:
        data = {"error": "gateway_error", "detail": resp.text[:300]}
    if resp.status_code >= 400:
        raise NodeRequestFailed(
            f"{data.get('error')}: {data.get('detail')}", str(data.get("error"))
        )
    return data


@declaration_app.command("status")
def status(
    declaration: Annotated[str, typer.Argument(help="Declaration id lodged at the node.")],
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Release state (awaiting_payment, released, held), what it waits for, the payment."""
    res = node_call(member, api_key, "GET", f"/declarations/{declaration}/status")

    def render(d: dict[str, Any]) -> None:
        r = d["release"]
        colour = {"released": "green", "awaiting_payment": "yellow", "held": "red"}[r["state"]]
        console.print(f"declaration {esc(d['declaration'])}: channel {esc(d['channel'])}, "
                      f"[bold {colour}]{r['state']}[/]")  # fmt: skip
        for why in r["waiting_for"]:
            say(f"  waiting for: {why}")
        if r["payment"]:
            p = r["payment"]
            say(f"  order {p['reference']}: {p['amount']} {p['currency']}, {p['state']}")
        for reason in d["reasons"]:
            say(f"  [{reason['channel']}] {reason['rule']}: {reason['text']}")
        for line in (d.get("manifest") or {}).get("lines", []):
            say(f"  manifest {line['number']}/{line['line']}: {line['status']} "
                          + "; ".join(line["problems"]))  # fmt: skip

    out(res, as_json, render)


@declaration_app.command("inspect")
def inspect(
    declaration: Annotated[str, typer.Argument(help="Declaration id lodged at the node.")],
    outcome: Annotated[str, typer.Option(help="passed | failed")],
    note: Annotated[str, typer.Option(help="What was checked or found.")],
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record the outcome of a documentary check or inspection (officers)."""
    res = node_call(
        member, api_key, "POST", f"/declarations/{declaration}/inspection",
        json={"outcome": outcome, "note": note},
    )  # fmt: skip
    out(res, as_json, lambda d: say(f"declaration {declaration}: {d['state']}"))


@guarantee_app.command("register")
def guarantee_register(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a trader's guarantee (JSON: guarantee_id, holder, issuer, amount, ...)."""
    res = node_call(member, api_key, "POST", "/payments/guarantees",
                    json=json.loads(file.read_text()))  # fmt: skip
    out(res, as_json, lambda d: console.print(
        f"guarantee {d['id']}: {d['available']} {d['currency']} available"))  # fmt: skip


@guarantee_app.command("list")
def guarantee_list(
    member: MemberOpt = None, api_key: ApiKeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Registered guarantees and what each has available."""
    res = node_call(member, api_key, "GET", "/payments/guarantees")

    def render(rows: list[dict[str, Any]]) -> None:
        for g in rows:
            say(
                f"{g['id']} {g['holder_scheme']}-{g['holder_id']}: "
                f"{g['available']} of {g['amount']} {g['currency']}"
            )

    out(res, as_json, render)


@gateway_app.command("serve")
def gateway_serve(
    port: Annotated[int | None, typer.Option(help="Port (default: payments.gateway_port).")] = None,
) -> None:
    """Serve the payment gateway stand-in (a real HTTP service with its own key)."""
    import uvicorn

    from nodes.gateway.app import create_gateway_app

    s = settings()
    uvicorn.run(
        create_gateway_app(s),
        host=s.payments.gateway_host,
        port=port or s.payments.gateway_port,
        log_level="info",
        access_log=False,
    )


@gateway_app.command("register")
def gateway_register(
    member: Annotated[str, typer.Option(help="Member whose node trusts the gateway.")],
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register the stand-in gateway's public key with a node (admin API key)."""
    from nodes.gateway.app import register_with_node

    s = settings()
    key_file = s.node_dir(member) / "admin.apikey"
    if api_key is None and not key_file.exists():
        raise NodeRequestFailed(
            f"no API key: pass --api-key or set SMARTCUSTOMS_API_KEY ({key_file} does not exist; "
            "it is created when the node first starts)"
        )
    res = register_with_node(s, member, api_key or key_file.read_text().strip())
    out(res, as_json, lambda d: say(f"gateway {d['id']} registered with {member}"))
