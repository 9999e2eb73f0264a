"""`make run`: the whole consortium on one machine, in the foreground.

Starts (or reuses) the anvil chain and the MQTT broker, compiles and deploys (or reuses the
deployment), starts one oracle instance and one node process per member, waits until each
answers /health, seeds demo documents, declarations and bonded trips (a small simulated
fleet keeps driving while it runs), prints where everything is, and stays in the
foreground.  Ctrl-C (or SIGTERM) stops the nodes first and the chain last,
so anvil writes its state file; children also die with us if we are killed outright
(PR_SET_PDEATHSIG), so nothing is left orphaned.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console

from chain.client import connect
from chain.deploy import ensure_deployed
from chain.devnet import Devnet, port_is_free, rpc_chain_id
from chain.errors import ChainError, PortInUse
from nodes.gateway import launch as gateway_launch
from nodes.transport.simulator import SCENARIOS, simulate
from offchain.broker import Broker, accepts
from offchain.declarations import load_declaration_json, load_declaration_xml
from offchain.doctypes import DOC_TYPES
from offchain.geo import GeoIndex
from offchain.keystore import Keystore
from offchain.procs import die_with_parent
from offchain.settings import REPO_ROOT, MemberConfig, Settings
from oracles.audit.service import train_demo
from oracles.audit.settings import model_dir as audit_model_dir
from oracles.instances import instance_url

HEALTH_TIMEOUT_S = 300.0  # six Python services importing at once on a busy 2-core machine
DEMO_TRIP_SCENARIOS = ("seal_open", "deviation", "swapped_key")
DEMO_CORRIDORS = ("TPP-TPE", "KEL-TPP", "KEL-TPE")
LIVE_TRIP_EVERY_S = 45.0
DEMO_DIR = REPO_ROOT / "examples"
DEMO_DECLARATIONS = (
    "01-machinery-parts-sg.json",
    "02-frozen-beef-nz-permit.json",
    "03-preference-astep-sg.json",
    "04-lithium-batteries-cn.xml",
    "05-undervalued-apparel-vn.xml",
    "06-arms-prohibited-hr.xml",
)


class LaunchError(ChainError):
    code = "launch_failed"


@dataclass
class NodeProcess:
    member: MemberConfig
    url: str
    log: Path
    process: subprocess.Popen
    what: str = "node"


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


class Launcher:
    def __init__(self, settings: Settings, console: Console | None = None) -> None:
        self.settings = settings
        self.console = console or Console()
        self.devnet: Devnet | None = None
        self.broker: Broker | None = None
        self.nodes: list[NodeProcess] = []
        self._live_stop = threading.Event()
        self._live: threading.Thread | None = None

    def say(self, msg: str) -> None:
        self.console.print(f"[dim]•[/] {msg}")

    def start(self) -> dict:
        """Bring everything up; returns the summary. Cleans up what it started on failure."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> dict:
        s = self.settings
        t0 = time.monotonic()
        for m in s.members:
            if not port_is_free(s.node_host, m.api_port):
                raise PortInUse(
                    f"{s.node_host}:{m.api_port} (node {m.id}) is already in use; stop the "
                    "process using it, or change the member's api_port in smartcustoms.toml"
                )
            oracle_port = int(instance_url(s, m.id).rsplit(":", 1)[1])
            if "ORACLE_OPERATOR" in m.roles and not port_is_free(s.node_host, oracle_port):
                raise PortInUse(
                    f"{s.node_host}:{oracle_port} (oracle instance of {m.id}) is already in "
                    "use; stop that process or set SMARTCUSTOMS_CLEARANCE__ORACLE_BASE_PORT"
                )
        gateway_launch.check_port(s)
        Keystore(s.keys_dir)  # keys are created on first use below
        if rpc_chain_id(s.chain.rpc_url) == s.chain.chain_id:
            self.say(f"using the chain already running at {s.chain.rpc_url}")
        else:
            self.devnet = Devnet.from_settings(s).start()
            self.say(f"anvil started at {self.devnet.rpc_url} (state in {s.chain_dir})")
        self._start_broker()
        w3 = connect(s)
        deployment, reused = ensure_deployed(s, w3, progress=self.say)
        self._ensure_audit_model()
        for m in s.members:
            if "ORACLE_OPERATOR" in m.roles:
                self.nodes.append(self._spawn_oracle(m))
        for m in s.members:
            self.nodes.append(self._spawn_node(m))
        self.nodes.append(
            self._spawn(
                "gateway",
                gateway_launch.process_member(s),
                s.payments.gateway_url,
                args=gateway_launch.serve_args(),
            )
        )
        self._wait_healthy()
        demo = self._seed_demo_documents()
        demo_declarations = self._seed_demo_clearance()
        demo_xray = self._seed_demo_xray()
        registered = gateway_launch.register_everywhere(s, self.say)
        demo_payments = gateway_launch.seed_demo(s, self.say)
        demo_trips = self._seed_demo_trips()
        self._start_live_trips()
        return {
            "rpc_url": s.chain.rpc_url,
            "chain_id": deployment.chain_id,
            "block": w3.eth.block_number,
            "deployment": str(s.deployment_file),
            "deployment_reused": reused,
            "contracts": {n: c.address for n, c in deployment.contracts.items()},
            "nodes": [
                {
                    "member": n.member.id,
                    "name": n.member.name,
                    "url": n.url,
                    "docs": f"{n.url}/docs",
                    "admin_api_key_file": str(s.node_dir(n.member.id) / "admin.apikey"),
                    "log": str(n.log),
                }
                for n in self.nodes
                if n.what == "node"
            ],
            "demo_documents": demo,
            "demo_declarations": demo_declarations,
            "demo_xray": demo_xray,
            "demo_trips": demo_trips,
            "gateway": {"url": s.payments.gateway_url, "registered_with": registered},
            "demo_payments": demo_payments,
            "broker": f"{s.transport.broker_host}:{s.transport.broker_port}",
            "oracles": [
                {"member": n.member.id, "url": n.url} for n in self.nodes if n.what == "oracle"
            ],
            "started_in_s": round(time.monotonic() - t0, 2),
        }

    def _spawn_node(self, m: MemberConfig) -> NodeProcess:
        return self._spawn("node", m, f"http://{self.settings.node_host}:{m.api_port}")

    def _spawn_oracle(self, m: MemberConfig) -> NodeProcess:
        return self._spawn("oracle", m, instance_url(self.settings, m.id))

    def _spawn(
        self, what: str, m: MemberConfig, url: str, *, args: list[str] | None = None
    ) -> NodeProcess:
        """`smartcustoms <what> serve --member <id>` (or `args`) as a child in its own
        process group, logging to var/log/<what>-<id>.log, dying with us."""
        log = self.settings.log_dir / f"{what}-{m.id}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "nodes.cli", *(args or [what, "serve", "--member", m.id])],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
                process_group=0,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return NodeProcess(m, url, log, proc, what=what)

    def _seed_demo_clearance(self) -> list[dict]:
        """On a new consortium, issue the example permit and lodge example declarations
        (dated today) at the first member's node, so every channel shows up."""
        s = self.settings
        first = s.members[0]
        examples = REPO_ROOT / "examples"
        key = (s.node_dir(first.id) / "admin.apikey").read_text().strip()
        url = s.node_url(first.id)
        today = dt.date.today()
        out = []
        with httpx.Client(timeout=60.0, headers={"X-API-Key": key}) as client:
            if client.get(f"{url}/declarations", params={"limit": 1}).json():
                return []
            permit_file = examples / "permits" / "frozen-beef-tw.json"
            if permit_file.exists():
                permit = json.loads(permit_file.read_text())
                if permit.get("agency") == first.id:
                    permit["valid_from"] = (today - dt.timedelta(days=1)).isoformat()
                    permit["valid_to"] = (today + dt.timedelta(days=365)).isoformat()
                    resp = client.post(f"{url}/permits", json=permit)
                    if resp.status_code != 201:
                        self.say(f"[yellow]demo permit refused: {resp.json().get('detail')}[/]")
            for name in DEMO_DECLARATIONS:
                path = examples / "declarations" / name
                if not path.exists():
                    continue
                decl = (
                    load_declaration_xml(path.read_bytes())
                    if path.suffix == ".xml"
                    else load_declaration_json(path.read_bytes())
                )
                body = decl.model_copy(update={"date": today}).to_json()
                resp = client.post(f"{url}/declarations", json=body)
                data = resp.json()
                if resp.status_code not in (200, 201):
                    self.say(f"[yellow]demo declaration {name} refused: {data.get('detail')}[/]")
                    continue
                out.append(
                    {
                        "file": name,
                        "declaration": data["declaration"],
                        "channel": data["channel"],
                        "reasons": [r["rule"] for r in data["reasons"]],
                    }
                )
        if out:
            self.say(
                "lodged demo declarations: "
                + ", ".join(f"{d['declaration']} → {d['channel']}" for d in out)
            )
        return out

    def _seed_demo_xray(self) -> dict:
        """On a new consortium, upload the example scan with a gun in the bag
        (examples/xray/bag1.png) at the first member's node: judged, alerted and attested by
        the members' XRAY instances, so a new user sees the X-ray flow and its console page.
        Returns {} when scans exist already or the upload fails (said, never fatal)."""
        s = self.settings
        first = s.members[0]
        path = REPO_ROOT / "examples" / "xray" / "bag1.png"
        if not path.exists():
            return {}
        key = (s.node_dir(first.id) / "admin.apikey").read_text().strip()
        url = s.node_url(first.id)
        try:
            with httpx.Client(timeout=120.0, headers={"X-API-Key": key}) as client:
                if client.get(f"{url}/xray/scans", params={"limit": 1}).json():
                    return {}
                resp = client.post(
                    f"{url}/xray/scans",
                    content=path.read_bytes(),
                    headers={"content-type": "image/png"},
                )
        except httpx.HTTPError as exc:
            self.say(f"[yellow]demo X-ray scan skipped: {exc}[/]")
            return {}
        rec = resp.json()
        if resp.status_code != 201:
            self.say(f"[yellow]demo X-ray scan refused: {rec.get('detail')}[/]")
            return {}
        out = {
            "file": str(path),
            "scan_id": rec["scan_id"],
            "verdict": rec["verdict"],
            "threats": [f"{t['class']} {t['score']:.2f}" for t in rec["threats"]],
            "attested": rec.get("attestation") is not None,
            "page": f"{url}/ui/xray/{rec['scan_id']}",
        }
        self.say(
            f"judged demo X-ray scan {path.name}: {out['verdict']}"
            + ("" if out["attested"] else " (not attested: see the node log)")
        )
        return out

    def _ensure_audit_model(self) -> None:
        """The AUDIT oracle needs a model; until the administration trains one on its own
        history, a demo model learns from the synthetic generator (a few seconds)."""
        folder = audit_model_dir(self.settings)
        if (folder / "card.json").exists():
            return
        self.say(
            "training a demo audit-selection model on synthetic history (train yours: "
            "smartcustoms audit train --data HISTORY.csv)"
        )
        train_demo(folder)

    def _start_broker(self) -> None:
        t = self.settings.transport
        if accepts(t.broker_host, t.broker_port):
            self.say(f"using the MQTT broker already running at {t.broker_host}:{t.broker_port}")
            return
        self.broker = Broker(t.broker_port, self.settings.home / "mqtt", t.broker_host).start()
        self.say(
            f"mosquitto started at {t.broker_host}:{t.broker_port} "
            f"(persistence in {self.settings.home / 'mqtt'})"
        )

    def _node_caller(self):
        first = self.settings.members[0]
        key = (self.settings.node_dir(first.id) / "admin.apikey").read_text().strip()
        client = httpx.Client(
            timeout=60.0, headers={"X-API-Key": key}, base_url=self.settings.node_url(first.id)
        )

        def call(method: str, path: str, **kw):
            resp = client.request(method, path, **kw)
            if resp.status_code >= 400:
                raise LaunchError(f"{method} {path}: {resp.text[:300]}")
            return resp.json()

        return first.id, call

    def _seed_demo_trips(self) -> list[dict]:
        """On a new consortium, drive a few bonded trips (three with incidents) at the first
        member's node, so `smartcustoms trip list` and the alert stream show something."""
        s = self.settings
        member, call = self._node_caller()
        if call("GET", "/trips"):
            return []
        t = s.transport
        geo = GeoIndex.load(t.zones_file, t.corridors_file)
        try:
            out = simulate(
                call,
                member,
                geo,
                (t.broker_host, t.broker_port),
                trips=5,
                rate=0,
                scenarios=DEMO_TRIP_SCENARIOS,
                corridors=DEMO_CORRIDORS,
                prefix="DEMO",
            )
        except (LaunchError, ConnectionError) as exc:
            self.say(f"[yellow]demo trips skipped: {exc}[/]")
            return []
        self.say(
            f"drove {len(out['trips'])} demo trips ({out['published']} signed fixes); "
            "see `smartcustoms trip list` and `smartcustoms trip alerts`"
        )
        return out["trips"]

    def _start_live_trips(self) -> None:
        """A trickle of new trips while the consortium runs: a live alert stream to watch."""
        s = self.settings
        t = s.transport
        member, call = self._node_caller()
        geo = GeoIndex.load(t.zones_file, t.corridors_file)
        rng = random.Random()

        def loop() -> None:
            n = 0
            while not self._live_stop.wait(LIVE_TRIP_EVERY_S):
                n += 1
                scenario = rng.choice((None, None, *SCENARIOS))
                try:
                    simulate(
                        call,
                        member,
                        geo,
                        (t.broker_host, t.broker_port),
                        trips=1,
                        rate=10.0,
                        scenarios=(scenario,) if scenario else (),
                        corridors=DEMO_CORRIDORS,
                        prefix=f"LIVE{int(time.time())}",
                    )
                except Exception as exc:  # a stopped node or broker ends the trickle quietly
                    if not self._live_stop.is_set():
                        self.say(f"[yellow]live demo trips stopped: {exc}[/]")
                    return

        self._live = threading.Thread(target=loop, name="live-trips", daemon=True)
        self._live.start()

    def _seed_demo_documents(self) -> list[dict]:
        """On a new consortium, send the example documents from the first member to the
        second, so a new user sees the whole flow; their receipts go to var/demo/."""
        s = self.settings
        if len(s.members) < 2 or not DEMO_DIR.is_dir():
            return []
        sender, receiver = s.members[0], s.members[1]
        key = (s.node_dir(sender.id) / "admin.apikey").read_text().strip()
        out_dir = s.home / "demo"
        url = s.node_url(sender.id)
        seeded = []
        with httpx.Client(timeout=60.0, headers={"X-API-Key": key}) as client:
            if client.get(f"{url}/documents", params={"limit": 1}).json()["documents"]:
                return []  # not a new consortium
            for dt in DOC_TYPES:
                example = DEMO_DIR / f"{dt.name}.xml"
                if not example.exists():
                    continue
                resp = client.post(
                    f"{url}/documents",
                    content=example.read_bytes(),
                    params={"type": dt.name, "to": receiver.id, "wait": 20},
                )
                body = resp.json()
                if resp.status_code not in (201, 202):
                    self.say(f"[yellow]demo {dt.name} refused: {body.get('detail')}[/]")
                    continue
                entry = {
                    "doc_type": dt.name,
                    "file": str(example),
                    "doc_hash": body["doc_hash"],
                    "state": body["state"],
                }
                if body.get("receipt"):
                    out_dir.mkdir(parents=True, exist_ok=True)
                    path = out_dir / f"{dt.name}.receipt.json"
                    path.write_text(json.dumps(body["receipt"], indent=2))
                    entry["receipt"] = str(path)
                seeded.append(entry)
        if seeded:
            self.say(
                f"sent {len(seeded)} demo documents {sender.id} → {receiver.id}; "
                f"receipts in {out_dir}"
            )
        return seeded

    def _wait_healthy(self) -> None:
        started = time.monotonic()
        deadline, next_note = started + HEALTH_TIMEOUT_S, started + 30.0
        pending = list(self.nodes)
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for n in list(pending):
                    if n.process.poll() is not None:
                        raise LaunchError(
                            f"{n.what} {n.member.id} exited with code {n.process.returncode}; "
                            f"last lines of {n.log}:\n{_tail(n.log)}"
                        )
                    try:
                        if client.get(f"{n.url}/health").status_code == 200:
                            pending.remove(n)
                            self.say(f"{n.what} {n.member.id} is up at {n.url}")
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    names = ", ".join(f"{n.what} {n.member.id}" for n in pending)
                    raise LaunchError(
                        f"{names} did not answer /health within {HEALTH_TIMEOUT_S:.0f} s; "
                        f"see their logs in {self.settings.log_dir}"
                    )
                if pending and time.monotonic() >= next_note:
                    waited = time.monotonic() - started
                    self.say(
                        f"waiting for {', '.join(f'{n.what} {n.member.id}' for n in pending)} "
                        f"({waited:.0f} s; a busy machine takes longer)"
                    )
                    next_note += 30.0
                if pending:
                    time.sleep(0.2)

    def wait(self) -> int:
        """Stay in the foreground until a signal or a child's death; 0 on a requested stop."""
        while True:
            for n in self.nodes:
                if n.process.poll() is not None:
                    self.console.print(
                        f"[red]{n.what} {n.member.id} stopped unexpectedly "
                        f"(code {n.process.returncode}); see {n.log}[/]"
                    )
                    return 1
            if self.devnet and self.devnet.process and self.devnet.process.poll() is not None:
                self.console.print("[red]anvil stopped unexpectedly; see var/log/anvil.log[/]")
                return 1
            time.sleep(0.5)

    def stop(self) -> None:
        """Nodes first (graceful SIGTERM, then SIGKILL), the chain last so it saves state."""
        self._live_stop.set()
        if self._live is not None:
            self._live.join(timeout=30)
            self._live = None
        for n in self.nodes:
            if n.process.poll() is None:
                n.process.send_signal(signal.SIGTERM)
        for n in self.nodes:
            try:
                n.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                n.process.kill()
                n.process.wait()
        self.nodes = []
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if self.devnet is not None:
            self.devnet.stop()
            self.devnet = None


def print_summary(console: Console, summary: dict) -> None:
    """Where everything is, one line per thing, readable on an 80-column terminal."""
    console.print("[bold]Smart Customs consortium is up[/]")
    for n in summary["nodes"]:
        console.print(f"  [bold]{n['member']}[/] {n['name']}")
        console.print(f"     API   {n['url']}   docs {n['docs']}")
        console.print(f"     web console {n['url']}/ui/ (sign in with the admin API key)")
        console.print(f"     admin API key in {_short(n['admin_api_key_file'])}")
    reused = "reused" if summary["deployment_reused"] else "new"
    console.print(
        f"  chain {summary['rpc_url']} (chain id {summary['chain_id']}, "
        f"block {summary['block']}), {reused} deployment:"
    )
    for name, addr in summary["contracts"].items():
        console.print(f"     {name} {addr}")
    for o in summary.get("oracles", []):
        console.print(f"  oracle instance of {o['member']}: {o['url']}")
    for d in summary.get("demo_declarations", []):
        console.print(
            f"  demo declaration {d['declaration']}: {d['channel']}"
            + (f" ({', '.join(d['reasons'])})" if d["reasons"] else "")
        )
    xr = summary.get("demo_xray") or {}
    if xr:
        console.print(
            f"  demo X-ray scan {_short(xr['file'])}: {xr['verdict']}"
            + (f" ({', '.join(xr['threats'])})" if xr["threats"] else "")
            + (", verdict attested on chain" if xr["attested"] else ", not attested")
            + f"; officer's page {xr['page']}"
        )
    gw = summary.get("gateway") or {}
    if gw:
        console.print(
            f"  payment gateway stand-in {gw['url']} (key registered with "
            f"{', '.join(gw['registered_with']) or 'no node'})"
        )
    demo_pay = (summary.get("demo_payments") or {}).get("payment")
    if demo_pay:
        d = summary["demo_payments"]["declaration"]
        console.print(
            f"  demo: declaration {d['declaration']} matched its manifest line, paid "
            f"({demo_pay['status']}), {demo_pay['release']}; try smartcustoms declaration "
            f"status {d['declaration']}"
        )
    if summary.get("demo_trips"):
        console.print(
            f"  MQTT broker {summary['broker']}; demo trips: "
            + ", ".join(
                t["trip"] + (f" ({t['scenario']})" if t["scenario"] else "")
                for t in summary["demo_trips"]
            )
        )
        console.print("  demo: smartcustoms trip list; smartcustoms trip alerts --follow")
    for d in summary.get("demo_documents", []):
        if d.get("receipt"):
            console.print(
                f"  demo: smartcustoms doc verify {_short(d['file'])} "
                f"--receipt {_short(d['receipt'])}"
            )
    hint = command_line_hint()
    if hint:
        console.print(f"  {hint}")
    console.print(f"[green]ready in {summary['started_in_s']} s[/] — press Ctrl-C to stop")


def command_line_hint() -> str | None:
    """How to type `smartcustoms` in another terminal, when it is not on PATH yet."""
    here = Path(sys.executable).parent
    found = shutil.which("smartcustoms")
    if found and Path(found).resolve().parent == here.resolve():
        return None
    activate = here / "activate"
    where = _short(str(activate)) if activate.exists() else _short(str(here / "smartcustoms"))
    return (
        f"command line: in another terminal run `. {where}`, then `smartcustoms --help`"
        if activate.exists()
        else f"command line: {where}"
    )


def _short(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def run(settings: Settings, console: Console | None = None, *, as_json: bool = False) -> int:
    """Entry point of `smartcustoms run`: start, wait, stop cleanly."""
    # With --json, stdout carries only the summary line; progress goes to stderr.
    console = Console(stderr=True) if as_json else (console or Console())
    launcher = Launcher(settings, console)
    old_term = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        try:
            summary = launcher.start()
        except (KeyboardInterrupt, _Stop):
            console.print("stopped during start-up")
            return 130
        if as_json:
            print(json.dumps(summary), flush=True)
        else:
            print_summary(console, summary)
        try:
            code = launcher.wait()
        except (KeyboardInterrupt, _Stop):
            code = 0
        console.print("stopping nodes and chain…")
        launcher.stop()
        console.print("stopped cleanly")
        return code
    finally:
        signal.signal(signal.SIGTERM, old_term)
        launcher.stop()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
