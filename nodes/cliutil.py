"""What every `smartcustoms` command group shares: console, options, settings, node calls.

Command groups live in `nodes/cli.py` and `nodes/commands/*.py`; they import from here (not
from each other) so a new group is one module and one `add_typer` line.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console

from offchain.settings import Settings, get_settings

console = Console()
err_console = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
AsMember = Annotated[str, typer.Option("--as", help="Member whose admin account acts, e.g. TW.")]


def settings() -> Settings:
    """The installation's settings (env and TOML), read once per process."""
    return get_settings()


def out(data: Any, as_json: bool, render=None) -> None:
    if as_json:
        print(json.dumps(data, default=str))
    elif render is not None:
        render(data)
    else:
        console.print(data)


MemberOpt = Annotated[
    str | None, typer.Option("--member", help="Member whose node to use (default: the first).")
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="SMARTCUSTOMS_API_KEY",
        help="Node API key (default: the node's admin key file under var/).",
    ),
]


class NodeRequestFailed(ValueError):
    """The node answered with an error (or did not answer); `code` is the node's error code."""

    def __init__(self, message: str, code: str = "node_request_failed") -> None:
        super().__init__(message)
        self.code = code


def node_call(member: str | None, api_key: str | None, method: str, path: str, **kw) -> Any:
    import httpx

    s = settings()
    member_id = member or s.members[0].id
    url = s.node_url(member_id)
    if api_key is None:
        key_file = s.node_dir(member_id) / "admin.apikey"
        if not key_file.exists():
            raise NodeRequestFailed(
                f"no API key: pass --api-key or set SMARTCUSTOMS_API_KEY ({key_file} does not "
                "exist; it is created when the node first starts)"
            )
        api_key = key_file.read_text().strip()
    try:
        headers = {"X-API-Key": api_key, **kw.pop("headers", {})}
        resp = httpx.request(
            method, f"{url}{path}", headers=headers, timeout=kw.pop("timeout", 60.0), **kw
        )
    except httpx.HTTPError as exc:
        raise NodeRequestFailed(
            f"node {member_id} does not answer at {url} ({type(exc).__name__}); start it with "
            "`make run` or `smartcustoms node serve --member " + member_id + "`"
        ) from exc
    try:
        body = resp.json()
    except ValueError:
        body = {"error": "http_error", "detail": resp.text[:300]}
    if resp.status_code >= 400:
        raise NodeRequestFailed(
            f"{body.get('error')}: {body.get('detail')}",
            str(body.get("error") or "node_request_failed"),
        )
    return body
