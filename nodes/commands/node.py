"""`smartcustoms node ...`: run and administer a member node (serve, API keys)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from nodes.cliutil import JsonOpt, out, say, settings

app = typer.Typer(no_args_is_help=True, help="Run and administer a member node.")


@app.command("serve")
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


@app.command("apikey")
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

    def render(d: dict[str, Any]) -> None:
        say(f"API key for {d['user']} ({d['role']}): {d['key']}")
        say("store it now: it is not shown again", style="dim")

    out({"key": key, "user": u.user, "role": u.role, "id": u.id}, as_json, render)
