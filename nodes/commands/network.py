"""`smartcustoms network ...`: configuration for a real (Besu) network."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nodes.cliutil import JsonOpt, chain_context, console, out

app = typer.Typer(no_args_is_help=True, help="Configuration for a real network.")


@app.command("besu")
def network_besu(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the network into.")],
    chain_id: Annotated[int, typer.Option(help="Chain id of the Besu network.")] = 1337_886,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing export.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a Hyperledger Besu QBFT network of the active members, allowlists from the registry."""
    from nodes.network.export import export_besu

    net = export_besu(chain_context(), out_dir, chain_id=chain_id, overwrite=overwrite)
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
