"""`smartcustoms`: the command line of a Smart Customs installation.

Readable output for people, `--json` where a machine reads it; errors are one line saying
what went wrong and what to do, with exit code 1 (2 for usage errors).
"""

from __future__ import annotations

import sys

import click
import typer
from rich.text import Text

from nodes.cliutil import (
    JsonOpt,
    console,
    err_console,
    print_json,
    settings,
)
from nodes.commands import audit as audit_commands
from nodes.commands import clearance as clearance_commands
from nodes.commands import devnet as devnet_commands
from nodes.commands import documents as document_commands
from nodes.commands import manifest as manifest_commands
from nodes.commands import members as members_commands
from nodes.commands import network as network_commands
from nodes.commands import node as node_commands
from nodes.commands import oracle as oracle_commands
from nodes.commands import pay as pay_commands
from nodes.commands import tariff as tariff_commands
from nodes.commands import trip as trip_commands
from nodes.commands import xray as xray_commands
from offchain.errors import CodedError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Smart Customs: consortium chain and member nodes for partner customs.",
)
app.add_typer(devnet_commands.app, name="devnet")
app.add_typer(members_commands.app, name="members")
app.add_typer(node_commands.app, name="node")
app.add_typer(network_commands.app, name="network")
app.add_typer(document_commands.app, name="doc")
app.add_typer(clearance_commands.permit_app, name="permit")
app.add_typer(oracle_commands.app, name="oracle")
app.add_typer(document_commands.trace_app, name="trace")
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


# --- run ---------------------------------------------------------------------------


@app.command()
def run(as_json: JsonOpt = False) -> None:
    """Start the chain, deploy, and one node per member; stay in the foreground (Ctrl-C stops)."""
    from nodes.launcher import run as launch

    raise typer.Exit(launch(settings(), console, as_json=as_json))


app.command("deploy")(devnet_commands.deploy)
app.command("declare")(clearance_commands.declare)


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
        # every exception typer raises here is its vendored ClickException (a TyperException
        # with show()); a bare TyperException has none, so its message is printed the same way
        if hasattr(exc, "show"):
            exc.show()
        else:
            typer.echo(f"Error: {exc.format_message()}", err=True)
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
