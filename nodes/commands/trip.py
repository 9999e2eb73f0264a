"""`smartcustoms trip ...`: bonded trips through a member node (devices, trips, alerts, proofs).

Every command talks to the node's HTTP API (the node owns the database and the chain
accounts), except `simulate`, which also publishes device messages to the MQTT broker like a
fleet of on-board units would, and `zones`, which reads the zone files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
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
    LimitOpt,
    MemberOpt,
    NodeRequestFailed,
    OffsetOpt,
    console,
    cut_notice,
    esc,
    iso,
    node_call,
    out,
    print_json,
    rows_or,
    say,
    settings,
)

app = typer.Typer(no_args_is_help=True, help="Bonded trips: devices, trips, alerts, proofs.")

_REL = re.compile(r"^\+(\d+(?:\.\d+)?)([smhd])$")
OUTCOMES = ("ARRIVED_INTACT", "ARRIVED_WITH_ALERTS", "SEAL_BROKEN", "OVERDUE", "CANCELLED")


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


def _key_file(device_id: str) -> Path:
    return settings().home / "devices" / f"{device_id}.key"


@app.command("device")
def device(
    device_id: Annotated[str, typer.Argument(help="The on-board unit's id, e.g. OBU-7.")],
    public_key: Annotated[
        str | None,
        typer.Argument(help="Its Ed25519 public key, 64 hex digits (or use --new)."),
    ] = None,
    new: Annotated[
        bool,
        typer.Option(
            "--new",
            help="Make a key pair: the private key is written to var/devices/ID.key "
            "(load it on the unit), the public key is registered.",
        ),
    ] = False,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register an on-board unit's public key with the node (--new makes the key pair)."""
    key_file = None
    if new == (public_key is not None):
        raise typer.BadParameter("give the unit's public key, or --new to make a key pair")
    if new:
        from nacl.signing import SigningKey

        key_file = _key_file(device_id)
        if key_file.exists():
            raise NodeRequestFailed(
                f"device_key_exists: {key_file} exists already; register its public key, or "
                "remove the file to make a new pair",
                "device_key_exists",
                f"{key_file} exists already",
            )
        signing = SigningKey.generate()
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(bytes(signing).hex() + "\n")
        public_key = bytes(signing.verify_key).hex()
    body = node_call(
        member, api_key, "POST", "/devices", json={"device": device_id, "public_key": public_key}
    )
    if key_file is not None:
        body["private_key_file"] = str(key_file)

    def show(d: dict[str, Any]) -> None:
        say(f"device {d['device']} registered, public key {d['public_key']}")
        if d.get("private_key_file"):
            say(f"  its private key (Ed25519 seed, hex) is in {d['private_key_file']}: load it "
                "on the unit, keep it secret")  # fmt: skip
        say(f"  next: smartcustoms trip start TRIP-ID --device {d['device']} ...")

    out(body, as_json, show)


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

    def render(d: dict[str, Any]) -> None:
        say(
            f"trip {d['trip']} started: {d['origin']} -> {d['destination']} on corridor "
            f"{d['corridor']}, deadline {iso(d['deadline'])}"
        )
        say(f"  tx {d['start_tx']}")

    out(body, as_json, render)


def _trip_table(trips: list[dict[str, Any]]) -> None:
    if not trips:
        say("no trips")
        return
    t = Table(title="Trips, newest first", title_justify="left")
    for col in ("trip", "route", "state", "outcome", "events", "started"):
        t.add_column(col, no_wrap=col != "route")
    for r in trips:
        t.add_row(
            esc(r["trip"]),
            f"{esc(r['origin'])} -> {esc(r['destination'])}",
            r["state"],
            r["outcome"] or "",
            str(r["events"]),
            iso(r["started_at"]),
        )
    console.print(t)


@app.command("list")
def list_trips(
    state: Annotated[str | None, typer.Option(help="open, arrived or closed")] = None,
    limit: LimitOpt = 50,
    offset: OffsetOpt = 0,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Trips of the node, newest first."""
    body = node_call(member, api_key, "GET", "/trips", params={"state": state} if state else {})
    page = body[offset : offset + limit]
    out(page, as_json, _trip_table)
    cut_notice(len(page), offset, limit, total=len(body))


def _status(d: dict[str, Any]) -> None:
    say(
        f"{d['trip']} {d['origin']} -> {d['destination']} ({d['corridor']}), {d['state']}"
        + (f", outcome {d['outcome']}" if d["outcome"] else "")
    )
    if d.get("close_reason"):
        say(f"  closed because: {d['close_reason']}")
    say(
        f"  device {d['device']}, seal {d['seal_id']}, vehicle {d['vehicle_id']}, "
        f"deadline {iso(d['deadline'])}"
    )
    ids = d.get("event_ids")
    say(
        f"  events {d['events']} ({d['flagged']} flagged), device time "
        f"{iso(d['first_ts'])} .. {iso(d['last_ts'])}"
    )
    if ids:
        say(
            f"  event ids {ids['first']} (first) .. {ids['last']} (last); list them with "
            f"smartcustoms trip events {d['trip']}; prove one with smartcustoms trip prove "
            f"{ids['last']}"
        )
    lp = d.get("last_point")
    if lp:
        say(
            f"  last point (event {lp['id']}) lat {lp['lat']:.5f} lon {lp['lon']:.5f}, "
            f"{lp['speed']:.0f} km/h, seal {lp['seal_state']}, at {iso(lp['ts'])}"
        )
    alerts = ", ".join(f"{k} x{n}" for k, n in sorted(d["alerts"].items())) or "none"
    say(f"  alerts: {alerts}")
    anchored = d["anchored"].get("anchored", {})
    say(
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
    """A trip: events (and their ids), last point, alerts, anchoring, its record on chain."""
    out(node_call(member, api_key, "GET", f"/trips/{trip_id}"), as_json, _status)


@app.command("events")
def events(
    trip_id: str,
    after_id: Annotated[
        int, typer.Option("--after-id", min=0, help="Only events with a larger id.")
    ] = 0,
    limit: LimitOpt = 20,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A trip's stored events in device-time order, with the ids `trip prove` takes."""
    rows = node_call(
        member,
        api_key,
        "GET",
        f"/trips/{trip_id}/events",
        params={"after_id": after_id, "limit": min(limit + 1, 5000)},
    )
    more = len(rows) > limit
    rows = rows[:limit]

    def show(rs: list[dict[str, Any]]) -> None:
        if not rs:
            say("no events")
        for e in rs:
            say(
                f"event {e['id']} seq {e['seq']} {iso(e['ts'])} lat {e['lat']:.5f} "
                f"lon {e['lon']:.5f} {e['speed']:.0f} km/h seal {e['seal_state']}"
                + (f" flag {e['flag']}" if e.get("flag") else "")
            )

    out(rows, as_json, show)
    if more:
        say(f"showing {len(rows)} (the --limit); more with --after-id {rows[-1]['id']}", err=True)


def _alert_line(a: dict[str, Any]) -> None:
    colour = {"critical": "red", "warning": "yellow"}.get(a["severity"], "cyan")
    console.print(
        f"#{a['id']} {iso(a['ts'])} [{colour}]{a['severity']:8}[/] "
        f"{esc(a['subject'])} {esc(a['kind'])}: {esc(a['detail'])}"
        + (f" (seen by {esc(a['acked_by'])})" if a.get("acked_by") else "")
    )


SeverityOpt = Annotated[
    str | None,
    typer.Option("--severity", help="Only these severities: info, warning, critical (comma list)."),
]


@app.command("alerts")
def alerts(
    trip_id: Annotated[str | None, typer.Argument(help="Only this trip")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep streaming new alerts (server-sent events)")
    ] = False,
    severity: SeverityOpt = None,
    after_id: Annotated[
        int, typer.Option("--after-id", min=0, help="Only alerts with a larger id.")
    ] = 0,
    limit: LimitOpt = 200,
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Alerts of the node (all trips, or one), oldest first; --follow streams new ones."""
    params: dict[str, Any] = {"limit": min(limit + 1, 5000), "after_id": after_id}
    if trip_id:
        params["subject"] = trip_id
    if severity:
        params["severity"] = severity
    rows = node_call(member, api_key, "GET", "/alerts", params=params)
    more = len(rows) > limit
    rows = rows[:limit]
    if not follow:
        out(rows, as_json, rows_or(_alert_line, "no alerts"))
        if more:
            say(f"showing {len(rows)} (the --limit); more with --after-id {rows[-1]['id']}",
                err=True)  # fmt: skip
        return
    for a in rows:
        print_json(a) if as_json else _alert_line(a)
    last = rows[-1]["id"] if rows else after_id
    _follow(member, api_key, last, trip_id, severity, as_json)


def _follow(
    member: str | None,
    api_key: str | None,
    last: int,
    trip_id: str | None,
    severity: str | None,
    as_json: bool,
) -> None:
    s = settings()
    member_id = member or s.members[0].id
    key = api_key or (s.node_dir(member_id) / "admin.apikey").read_text().strip()
    params = {"subject": trip_id} if trip_id else {}
    if severity:
        params["severity"] = severity
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
                        print_json(a) if as_json else _alert_line(a)
        except httpx.HTTPError:
            time.sleep(2.0)


@app.command("ack")
def ack(
    alert_ids: Annotated[
        list[int] | None, typer.Argument(help="Alert ids (the #N of `trip alerts`).")
    ] = None,
    severity: SeverityOpt = None,
    trip_id: Annotated[str | None, typer.Option("--trip", help="Only this trip's.")] = None,
    note: Annotated[str, typer.Option(help="What the officer did.")] = "",
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Acknowledge alerts: by id, or all of a severity at once (e.g. --severity info)."""
    if not alert_ids and not severity:
        raise typer.BadParameter("give alert ids, or --severity to acknowledge them all")
    if alert_ids:
        done = [
            node_call(member, api_key, "POST", f"/alerts/{i}/ack", json={"note": note})
            for i in alert_ids
        ]

        def render(ds: list[dict[str, Any]]) -> None:
            for a in ds:
                _alert_line(a)

        out(done, as_json, render)
        return
    res = node_call(
        member,
        api_key,
        "POST",
        "/alerts/ack",
        json={"severity": severity, "subject": trip_id, "note": note},
    )
    out(
        res,
        as_json,
        lambda d: say(f"{d['acknowledged']} alert(s) acknowledged, up to #{d['up_to_id']}"),
    )


@app.command("prove")
def prove(
    event_id: Annotated[
        int, typer.Argument(help="An event id (`trip status` and `trip events` show them).")
    ],
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """An event with its signed payload, Merkle proof and anchoring tx, checked on chain."""
    proof = node_call(member, api_key, "GET", f"/trips/events/{event_id}/proof")
    proof["verification"] = node_call(member, api_key, "POST", "/trips/proofs/verify", json=proof)

    def render(d: dict[str, Any]) -> None:
        e = d["event"]
        say(f"event {e['id']} of trip {e['trip']} (device {e['device']} seq {e['seq']}, "
            f"{iso(e['ts'])})")  # fmt: skip
        say(f"  root {d['root']} leaf {d['leaf_index']}")
        say(f"  tx {d['tx']} block {d['block']}")
        _checks(d["verification"])

    out(proof, as_json, render)


def _checks(v: dict[str, Any]) -> None:
    for c in v["checks"]:
        mark = "[green]ok[/]  " if c["ok"] else "[red]FAIL[/]"
        console.print(f"  {mark} {esc(c['check'])}: {esc(c['detail'])}")
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
    if not isinstance(doc, dict):
        raise NodeRequestFailed(f"{proof_file} holds no proof (write it with trip prove --json)")
    doc.pop("verification", None)
    result = node_call(member, api_key, "POST", "/trips/proofs/verify", json=doc)
    out(result, as_json, _checks)
    if not result["valid"]:
        raise typer.Exit(1)


def _closed(d: dict[str, Any]) -> None:
    say(f"trip {d['trip']} closed on chain: {d['outcome']}"
        + (f" ({d['reason']})" if d.get("reason") else ""))  # fmt: skip
    say(f"  tx {d['tx']}")


@app.command("close")
def close(
    trip_id: str,
    outcome: Annotated[
        str | None,
        typer.Option(
            help=f"{', '.join(OUTCOMES)} (default, once the trip arrived: from its alerts)",
        ),
    ] = None,
    reason: Annotated[
        str,
        typer.Option(help="Why (on chain); needed to close a trip that has not arrived."),
    ] = "",
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Anchor the trip's remaining events and close it on chain (early: with a reason)."""
    if outcome is not None and outcome.upper() not in OUTCOMES:
        raise typer.BadParameter(f"outcome must be one of {', '.join(OUTCOMES)}")
    body = node_call(
        member,
        api_key,
        "POST",
        f"/trips/{trip_id}/close",
        json={"outcome": outcome.upper() if outcome else None, "reason": reason},
    )
    out(body, as_json, _closed)


@app.command("cancel")
def cancel(
    trip_id: str,
    reason: Annotated[str, typer.Option(help="Why the trip is cancelled (on chain).")],
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel a trip that will not arrive: closed on chain as CANCELLED, with the reason."""
    body = node_call(member, api_key, "POST", f"/trips/{trip_id}/cancel", json={"reason": reason})
    out(body, as_json, _closed)


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
            say(f"zone {z['id']} {z['name']} ({z['kind']})")
        for c in d["corridors"]:
            say(
                f"corridor {c['id']} {c['from']} <-> {c['to']}, "
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
        say(
            f"published {d['published']} messages for {len(d['trips'])} trips "
            f"(prefix {d['prefix']}); watch with `smartcustoms trip alerts -f`"
        )
        for r in d["trips"]:
            extra = f" scenario {r['scenario']} -> expect {r['expect']}" if r["scenario"] else ""
            say(
                f"  {r['trip']} {r['origin']} -> {r['destination']}, "
                f"{r['messages']} messages{extra}"
            )

    out(result, as_json, render)
