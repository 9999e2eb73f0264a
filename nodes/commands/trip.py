"""`smartcustoms trip ...`: bonded trips through a member node (devices, trips, alerts, proofs).

Every command talks to the node's HTTP API (the node owns the database and the chain
accounts), except `simulate`, which also publishes device messages to the MQTT broker like a
fleet of on-board units would, and `zones`, which reads the zone files.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import Progress
from rich.table import Table

from nodes.cliutil import (
    ApiKeyOpt,
    JsonOpt,
    MemberOpt,
    NodeRequestFailed,
    console,
    node_call,
    out,
    settings,
)

app = typer.Typer(no_args_is_help=True, help="Bonded trips: devices, trips, alerts, proofs.")

_REL = re.compile(r"^\+(\d+(?:\.\d+)?)([smhd])$")


def parse_deadline(text: str, now: float | None = None) -> float:
    """`+2h`, `+90m`, Unix seconds, or ISO 8601 with a time zone -> Unix seconds."""
    now = time.time() if now is None else now
    m = _REL.fullmatch(text.strip())
    if m:
        return now + float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("use +2h, +90m, Unix seconds or ISO 8601") from None
    if when.tzinfo is None:
        raise typer.BadParameter("an ISO deadline needs a time zone, e.g. 2026-11-25T18:00+08:00")
    return when.timestamp()


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


@app.command("device")
def device(
    device_id: str,
    public_key: Annotated[str, typer.Argument(help="Ed25519 public key, 64 hex digits")],
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register an on-board unit's public key with the node."""
    body = node_call(
        member, api_key, "POST", "/devices", json={"device": device_id, "public_key": public_key}
    )
    out(body, as_json, lambda d: console.print(f"device [bold]{d['device']}[/] registered"))


@app.command("start")
def start(
    trip_id: str,
    device_id: Annotated[str, typer.Option("--device", help="Registered on-board unit")],
    seal: Annotated[str, typer.Option(help="Electronic seal id")],
    vehicle: Annotated[str, typer.Option(help="Vehicle (truck) id")],
    origin: Annotated[str, typer.Option("--from", help="Origin zone, e.g. TW-KEL")],
    destination: Annotated[str, typer.Option("--to", help="Destination zone, e.g. TW-TPE")],
    deadline: Annotated[str, typer.Option(help="+2h, Unix seconds or ISO 8601")] = "+4h",
    corridor: Annotated[
        str | None, typer.Option(help="Corridor id (default: the one joining the zones)")
    ] = None,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a bonded trip on chain and bind its device."""
    body = node_call(
        member,
        api_key,
        "POST",
        "/trips",
        json={
            "trip": trip_id,
            "device": device_id,
            "seal_id": seal,
            "vehicle_id": vehicle,
            "origin": origin,
            "destination": destination,
            "corridor": corridor,
            "deadline": parse_deadline(deadline),
        },
    )
    out(
        body,
        as_json,
        lambda d: console.print(
            f"trip [bold]{d['trip']}[/] started: {d['origin']} -> {d['destination']} on corridor "
            f"{d['corridor']}, deadline {_when(d['deadline'])}, tx {d['start_tx']}"
        ),
    )


def _trip_table(trips: list[dict[str, Any]]) -> None:
    t = Table(title="Trips", title_justify="left")
    for col in ("trip", "route", "state", "outcome", "events", "started"):
        t.add_column(col)
    for r in trips:
        t.add_row(
            r["trip"],
            f"{r['origin']} -> {r['destination']}",
            r["state"],
            r["outcome"] or "",
            str(r["events"]),
            _when(r["started_at"]),
        )
    console.print(t)


@app.command("list")
def list_trips(
    state: Annotated[str | None, typer.Option(help="open, arrived or closed")] = None,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Trips of the node, newest first."""
    body = node_call(member, api_key, "GET", "/trips", params={"state": state} if state else {})
    out(body, as_json, _trip_table)


def _status(d: dict[str, Any]) -> None:
    console.print(
        f"[bold]{d['trip']}[/] {d['origin']} -> {d['destination']} "
        f"({d['corridor']}), [bold]{d['state']}[/]"
        + (f", outcome {d['outcome']}" if d["outcome"] else "")
    )
    console.print(
        f"  device {d['device']}, seal {d['seal_id']}, vehicle {d['vehicle_id']}, "
        f"deadline {_when(d['deadline'])}"
    )
    console.print(
        f"  events {d['events']} ({d['flagged']} flagged), device time "
        f"{_when(d['first_ts'])} .. {_when(d['last_ts'])}"
    )
    lp = d.get("last_point")
    if lp:
        console.print(
            f"  last point lat {lp['lat']:.5f} lon {lp['lon']:.5f}, "
            f"{lp['speed']:.0f} km/h, seal {lp['seal_state']}"
        )
    alerts = ", ".join(f"{k} x{n}" for k, n in sorted(d["alerts"].items())) or "none"
    console.print(f"  alerts: {alerts}")
    anchored = d["anchored"].get("anchored", {})
    console.print(
        f"  anchored: {anchored.get('events') or 0} events in "
        f"{anchored.get('batches') or 0} batches"
        + (
            f"; {d['anchored']['prepared']['batches']} batch(es) waiting for the chain"
            if "prepared" in d["anchored"]
            else ""
        )
    )


@app.command("status")
def status(
    trip_id: str, member: MemberOpt = None, api_key: ApiKeyOpt = None, as_json: JsonOpt = False
) -> None:
    """A trip: events, last point, alerts, anchoring and its record on chain."""
    out(node_call(member, api_key, "GET", f"/trips/{trip_id}"), as_json, _status)


def _alert_line(a: dict[str, Any]) -> None:
    colour = {"critical": "red", "warning": "yellow"}.get(a["severity"], "cyan")
    console.print(
        f"[dim]#{a['id']}[/] {_when(a['ts'])} [{colour}]{a['severity']:8}[/] "
        f"[bold]{a['subject']}[/] {a['kind']}: {a['detail']}"
    )


@app.command("alerts")
def alerts(
    trip_id: Annotated[str | None, typer.Argument(help="Only this trip")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep streaming new alerts (server-sent events)")
    ] = False,
    limit: int = 200,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Alerts of the node (all trips, or one), oldest first; --follow streams new ones."""
    params: dict[str, Any] = {"limit": limit}
    if trip_id:
        params["subject"] = trip_id
    rows = node_call(member, api_key, "GET", "/alerts", params=params)
    if not follow:
        out(rows, as_json, lambda rs: [_alert_line(a) for a in rs] or console.print("no alerts"))
        return
    for a in rows:
        print(json.dumps(a)) if as_json else _alert_line(a)
    _follow(member, api_key, rows[-1]["id"] if rows else 0, trip_id, as_json)


def _follow(
    member: str | None, api_key: str | None, last: int, trip_id: str | None, as_json: bool
) -> None:
    s = settings()
    member_id = member or s.members[0].id
    key = api_key or (s.node_dir(member_id) / "admin.apikey").read_text().strip()
    params = {"subject": trip_id} if trip_id else {}
    while True:  # reconnect with Last-Event-ID: nothing is missed across drops
        try:
            with httpx.stream(
                "GET",
                f"{s.node_url(member_id)}/alerts/stream",
                params=params,
                headers={"X-API-Key": key, "Last-Event-ID": str(last)},
                timeout=httpx.Timeout(10.0, read=60.0),
            ) as r:
                if r.status_code >= 400:
                    raise NodeRequestFailed(f"stream refused: {r.status_code} {r.read()[:200]!r}")
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        a = json.loads(line[6:])
                        last = a["id"]
                        print(json.dumps(a), flush=True) if as_json else _alert_line(a)
        except httpx.HTTPError:
            time.sleep(2.0)


@app.command("prove")
def prove(
    event_id: int, member: MemberOpt = None, api_key: ApiKeyOpt = None, as_json: JsonOpt = False
) -> None:
    """An event with its signed payload, Merkle proof and anchoring tx, checked on chain."""
    proof = node_call(member, api_key, "GET", f"/trips/events/{event_id}/proof")
    proof["verification"] = node_call(member, api_key, "POST", "/trips/proofs/verify", json=proof)

    def render(d: dict[str, Any]) -> None:
        e = d["event"]
        console.print(
            f"event {e['id']} of trip [bold]{e['trip']}[/] (device {e['device']} "
            f"seq {e['seq']}, {_when(e['ts'])})"
        )
        console.print(f"  root {d['root']} leaf {d['leaf_index']}, tx {d['tx']} block {d['block']}")
        _checks(d["verification"])

    out(proof, as_json, render)


def _checks(v: dict[str, Any]) -> None:
    for c in v["checks"]:
        mark = "[green]ok[/]  " if c["ok"] else "[red]FAIL[/]"
        console.print(f"  {mark} {c['check']}: {c['detail']}")
    console.print("[green]valid[/]" if v["valid"] else "[red]NOT valid[/]")


@app.command("verify")
def verify(
    proof_file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="JSON written by `trip prove --json`"),
    ],
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-check a saved proof against the chain (exit 1 if it does not hold)."""
    try:
        doc = json.loads(proof_file.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise NodeRequestFailed(f"{proof_file} is not JSON: {exc}") from None
    doc.pop("verification", None)
    result = node_call(member, api_key, "POST", "/trips/proofs/verify", json=doc)
    out(result, as_json, _checks)
    if not result["valid"]:
        raise typer.Exit(1)


@app.command("close")
def close(
    trip_id: str,
    outcome: Annotated[
        str | None,
        typer.Option(
            help="ARRIVED_INTACT, ARRIVED_WITH_ALERTS, "
            "SEAL_BROKEN, OVERDUE (default: "
            "from the alerts)"
        ),
    ] = None,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Anchor the trip's remaining events and close it on chain."""
    body = node_call(member, api_key, "POST", f"/trips/{trip_id}/close", json={"outcome": outcome})
    out(
        body,
        as_json,
        lambda d: console.print(f"trip [bold]{d['trip']}[/] closed: {d['outcome']} (tx {d['tx']})"),
    )


@app.command("zones")
def zones(as_json: JsonOpt = False) -> None:
    """The zones and approved corridors trips can use (from the configured GeoJSON files)."""
    from offchain.geo import GeoIndex

    t = settings().transport
    geo = GeoIndex.load(t.zones_file, t.corridors_file)
    data = {
        "zones": [{"id": z.id, "name": z.name, "kind": z.kind} for z in geo.zones.values()],
        "corridors": [
            {
                "id": c.id,
                "from": c.from_zone,
                "to": c.to_zone,
                "buffer_m": c.buffer_m,
                "km": round(c.line.length / 1000, 1),
            }
            for c in geo.corridors.values()
        ],
    }

    def render(d: dict[str, Any]) -> None:
        for z in d["zones"]:
            console.print(f"zone [bold]{z['id']}[/] {z['name']} ({z['kind']})")
        for c in d["corridors"]:
            console.print(
                f"corridor [bold]{c['id']}[/] {c['from']} <-> {c['to']}, "
                f"{c['km']} km, buffer {c['buffer_m']:.0f} m"
            )

    out(data, as_json, render)


@app.command("simulate")
def simulate_cmd(
    trips: Annotated[int, typer.Option(min=1, max=500, help="Trips to drive")] = 3,
    rate: Annotated[
        float,
        typer.Option(min=0, help="Messages per second over all trips (0: as fast as possible)"),
    ] = 200.0,
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            help="Inject a scenario in one trip (repeat for more): deviation, long_stop, "
            "seal_open, swapped_key, replay, gps_jump"
        ),
    ] = None,
    corridor: Annotated[list[str] | None, typer.Option(help="Drive only these corridors")] = None,
    interval: Annotated[float, typer.Option(min=1, help="Seconds between fixes")] = 20.0,
    seed: int = 0,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Drive simulated trips: register devices, start trips on chain, publish signed fixes."""
    from nodes.transport.simulator import simulate
    from offchain.geo import GeoIndex

    s = settings()
    t = s.transport
    geo = GeoIndex.load(t.zones_file, t.corridors_file)
    member_id = member or s.members[0].id

    def call(method: str, path: str, **kw: Any) -> Any:
        return node_call(member_id, api_key, method, path, **kw)

    try:
        with Progress(console=console, transient=True, disable=as_json) as progress:
            task = progress.add_task("publishing", total=None)
            result = simulate(
                call,
                member_id,
                geo,
                (t.broker_host, t.broker_port),
                trips=trips,
                rate=rate,
                scenarios=scenario or (),
                corridors=corridor,
                interval_s=interval,
                seed=seed,
                progress=lambda n: progress.advance(task, n),
            )
    except ConnectionError as exc:
        raise NodeRequestFailed(str(exc)) from None

    def render(d: dict[str, Any]) -> None:
        console.print(
            f"published {d['published']} messages for {len(d['trips'])} trips "
            f"(prefix {d['prefix']}); watch with `smartcustoms trip alerts -f`"
        )
        for r in d["trips"]:
            extra = f" scenario {r['scenario']} -> expect {r['expect']}" if r["scenario"] else ""
            console.print(
                f"  {r['trip']} {r['origin']} -> {r['destination']}, "
                f"{r['messages']} messages{extra}"
            )

    out(result, as_json, render)
