"""`smartcustoms oracle ...`: this member's oracle instance."""

from __future__ import annotations

from typing import Annotated

import typer

from nodes.cliutil import settings

app = typer.Typer(no_args_is_help=True, help="Oracle instances (clearance, ...).")


@app.command("serve")
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
