"""`smartcustoms devnet ...` and `smartcustoms deploy`: the local anvil chain and the contracts on it."""

from __future__ import annotations

from typing import Annotated

import typer

from nodes.cliutil import JsonOpt, console, out, settings

app = typer.Typer(no_args_is_help=True, help="The local anvil chain.")


@app.command("up")
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


@app.command("down")
def devnet_down(as_json: JsonOpt = False) -> None:
    """Stop the background anvil; its state is saved."""
    from chain import devnet

    stopped = devnet.down(settings())
    out(
        {"stopped": stopped},
        as_json,
        lambda d: console.print("anvil stopped" if stopped else "no background anvil was running"),
    )


@app.command("status")
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
