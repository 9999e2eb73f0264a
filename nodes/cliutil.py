"""What every `smartcustoms` command group shares: console, options, settings, node calls.

Command groups live in `nodes/commands/*.py` (`nodes/cli.py` only registers them and turns
errors into one line); they import from here (not from each other) so a new group is one
module and one `add_typer` line.

The output convention, kept here so every command follows it:

- `--json` prints one valid JSON document (`print_json`; a stream prints one per line);
  errors under `--json` are `{"error", "detail"}` on stdout too.
- Human output never wraps or cuts an identifier: text is printed without line breaks of
  ours (the terminal folds long lines, copy and paste joins them), tables are drawn at least
  as wide as their longest word, and as wide as their content when piped.
- Times are ISO 8601 in UTC with the zone (`iso`), never Unix seconds.
- Text that is not ours (a user's input, an error's message, a node's answer) is printed
  literally: `say` does no markup at all; inside a styled line, pass it through `esc`.
  As a safety net the console leaves any bracketed text that is not a style alone, so
  `pip install '.[train]'` keeps its `[train]`.
- Lists say when they are cut and take `--limit` / `--offset` (`LimitOpt`, `OffsetOpt`,
  `cut_notice`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.errors import MarkupError, StyleSyntaxError
from rich.markup import escape
from rich.measure import Measurement
from rich.style import Style
from rich.table import Table
from rich.text import Text

from offchain.errors import CodedError
from offchain.settings import Settings, get_settings

# rich.markup's own tag pattern: what its parser would take for a tag.
_TAG = re.compile(r"(\\*)\[([a-z#/@][^[]*?)]")


def _is_style_tag(tag: str) -> bool:
    body = tag[1:] if tag.startswith("/") else tag
    if tag.startswith("/") and not body:
        return True  # [/] closes the last style
    if body.startswith("@") or body.startswith("link"):
        return True
    try:
        Style.parse(body)
    except (StyleSyntaxError, ValueError):
        return False
    return True


def escape_unknown_tags(text: str) -> str:
    """`text` with every bracketed word that is not a Rich style escaped, so it prints as
    written: `'.[train]'` stays `'.[train]'`; `[red]error:[/]` still colours."""

    def fix(m: re.Match[str]) -> str:
        backslashes, tag = m.group(1), m.group(2)
        if len(backslashes) % 2 or _is_style_tag(tag):
            return m.group(0)
        return f"{backslashes}\\[{tag}]"

    return _TAG.sub(fix, text)


class CliConsole(Console):
    """A Rich console that follows the CLI's output convention (see the module docstring)."""

    def __init__(self, **kw: Any) -> None:
        kw.setdefault("soft_wrap", True)
        kw.setdefault("emoji", False)
        kw.setdefault("highlight", False)
        super().__init__(**kw)

    def render_str(self, text: str, **kw: Any) -> Text:
        markup = kw.get("markup")
        if markup is None:
            markup = self._markup
        if markup:
            try:
                return super().render_str(escape_unknown_tags(text), **kw)
            except MarkupError:
                kw["markup"] = False
        return super().render_str(text, **kw)

    def print(self, *objects: Any, **kw: Any) -> None:
        tables = [o for o in objects if isinstance(o, Table)]
        if not tables:
            return super().print(*objects, **kw)
        wide = max(self._fit(t) for t in tables)
        if wide <= self.width:
            return super().print(*objects, **kw)
        saved = self._width
        self._width = wide
        try:
            kw.setdefault("crop", False)
            super().print(*objects, **kw)
        finally:
            self._width = saved

    def _fit(self, table: Table) -> int:
        """The width to draw `table` at: its content's when piped or when it fits; in a
        narrower terminal, long columns wrap between words, never inside one (each column
        keeps at least its longest word, so ids, hashes and outcomes stay whole)."""
        opts = self.options.update_width(100_000)
        try:
            ranges = [table._measure_column(self, opts, c) for c in table.columns]
            extra = table._extra_width
        except Exception:  # a Rich without these internals: draw at the content's width
            return Measurement.get(self, opts, table).maximum
        widths = [r.maximum for r in ranges]
        if not self.is_terminal or sum(widths) + extra <= self.width:
            return sum(widths) + extra
        floor = [r.minimum for r in ranges]
        target = self.width - extra
        while sum(widths) > target:
            slack = [w - f for w, f in zip(widths, floor, strict=True)]
            i = max(range(len(widths)), key=slack.__getitem__)
            if slack[i] <= 0:
                break
            widths[i] -= 1
        for column, w, r in zip(table.columns, widths, ranges, strict=True):
            if w < r.maximum:
                column.width = w - table._get_padding_width(column._index)
        return sum(widths) + extra


console = CliConsole()
err_console = CliConsole(stderr=True)


def esc(value: Any) -> str:
    """`value` as text safe inside a styled line: brackets are shown, not taken as styles."""
    return escape(str(value))


def say(text: Any, *, err: bool = False, style: str | None = None) -> None:
    """Print `text` literally (no markup, no emoji codes), optionally in one style."""
    (err_console if err else console).print(Text(str(text), style=style or ""))


def _plain(value: Any) -> Any:
    """JSON-safe: non-finite floats become null (JSON has no NaN), tuples lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def print_json(data: Any, *, indent: int | None = None) -> None:
    """One valid JSON document on stdout (what `--json` prints)."""
    print(
        json.dumps(_plain(data), default=str, ensure_ascii=False, allow_nan=False, indent=indent),
        flush=True,
    )


def out(data: Any, as_json: bool, render=None) -> None:
    """`--json`: the data as JSON; otherwise `render(data)`, or indented JSON if none."""
    if as_json:
        print_json(data)
    elif render is not None:
        render(data)
    else:
        print_json(data, indent=2)


def rows_or(line: Callable[[Any], None], empty: str) -> Callable[[list[Any]], None]:
    """A renderer for `out` of a list: `line(row)` for each row, or `empty` said when the
    list is empty (so a person never gets a blank answer)."""

    def render(rows: list[Any]) -> None:
        for r in rows:
            line(r)
        if not rows:
            say(empty)

    return render


_UNIX = re.compile(r"^\d{9,11}(\.\d+)?$")


def iso(value: Any) -> str:
    """A time for people: ISO 8601 in UTC with its zone (`2026-12-06T22:50:45Z`).

    Takes Unix seconds (number or digits) or ISO 8601 text (converted to UTC; a text
    without a zone is shown as given). None or empty is `-`.
    """
    if value is None or value == "":
        return "-"
    if isinstance(value, int | float) or (isinstance(value, str) and _UNIX.match(value)):
        when = dt.datetime.fromtimestamp(float(value), dt.UTC)
    else:
        try:
            when = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
        if when.tzinfo is None:
            return str(value)
        when = when.astimezone(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def cut_notice(shown: int, offset: int, limit: int, total: int | None = None) -> None:
    """Say on stderr that a list was cut, and how to see the rest (nothing if it was not)."""
    if total is not None:
        if offset + shown < total:
            say(
                f"showing {offset + 1}-{offset + shown} of {total}; more with "
                f"--offset {offset + shown} (or a larger --limit)",
                err=True,
            )
    elif shown >= limit:
        say(
            f"showing {shown} (the --limit); there may be more: --offset {offset + shown}",
            err=True,
        )


def settings() -> Settings:
    """The installation's settings (env and TOML), read once per process."""
    return get_settings()


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
AsMember = Annotated[str, typer.Option("--as", help="Member whose admin account acts, e.g. TW.")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=10_000, help="Show at most N.")]
OffsetOpt = Annotated[int, typer.Option("--offset", min=0, help="Skip the first N.")]

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


class NodeRequestFailed(CodedError, ValueError):
    """The node answered with an error (or did not answer); `code` is the node's error code,
    `detail` its explanation (the message is `code: detail`)."""

    code = "node_request_failed"

    def __init__(
        self, message: str, code: str = "node_request_failed", detail: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail if detail is not None else message


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
                "exist; it is created when the node first starts)",
                "no_api_key",
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
            "`make run` or `smartcustoms node serve --member " + member_id + "`",
            "node_unavailable",
        ) from exc
    try:
        body = resp.json()
    except ValueError:
        body = {"error": "http_error", "detail": resp.text[:300]}
    if resp.status_code >= 400:
        code = str(body.get("error") or "node_request_failed")
        detail = str(body.get("detail"))
        prefix = f"{code}: "
        detail = detail.removeprefix(prefix)
        raise NodeRequestFailed(prefix + detail, code, detail)
    return body


def chain_context():
    """The chain as this installation's settings describe it (contracts, keys, senders)."""
    from chain.context import Chain

    return Chain(settings())


def member_admin_sender(chain, member_id: str):
    """The sender of `member_id`'s admin account (governance votes and proposals)."""
    from offchain.keystore import member_admin_name

    settings().member(member_id)
    return chain.sender(member_admin_name(member_id))
