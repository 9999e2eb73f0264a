"""The README, run as a new user runs it (issue #20): so it cannot drift again.

A consortium is started the way `make run` starts it (`smartcustoms run`), with its own
home under a temporary folder and free ports, never the developer's.  Then every line of
every `sh` block of README.md runs, in order, as written, from a working folder where the
README's relative paths mean what they mean in the repository (`examples/`, `.venv/`) and
`var/` is the test consortium's home:

- `localhost:8000` (and the other default ports) become the test's ports;
- `<placeholders>` are filled from what earlier commands printed (`FILL` says from where;
  a placeholder nothing printed fails the test: the README would send a user nowhere);
- variables set by one line (`KEY=$(…)`) and `. .venv/bin/activate` hold for later lines;
- a command whose comment says it "runs until Ctrl-C" runs for a few seconds, then gets
  the Ctrl-C;
- `EXPECT` checks, for some commands, that they do what the text says; every `--json`
  output must parse.

One test per README section, in README order, on one worker (`xdist_group`; `make test`
runs pytest with `--dist loadgroup`).  A section being rebuilt in another room may be
listed in `OTHER_ROOMS` for a while: a line there that fails is reported as a skip with the
reason, not a failure (none is listed today).
Finally, every `smartcustoms …` written inline in the text must name a real command and real
options.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import typer.main

from chain.devnet import free_port
from offchain.procs import free_port_run
from offchain.settings import REPO_ROOT

README = REPO_ROOT / "README.md"
MEMBERS = ("TW", "SG", "NZ")
DEFAULT_NODE_PORTS = {"TW": 8000, "SG": 8001, "NZ": 8002}
COMMAND_TIMEOUT_S = 600
FOLLOW_S = 8.0  # how long a "runs until Ctrl-C" command runs before its Ctrl-C

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("readme")]


# --- reading the README ------------------------------------------------------------------------


@dataclass
class Line:
    """One command of a `sh` block: continuation lines joined, as the shell reads it."""

    section: str
    text: str
    lineno: int

    @property
    def comment(self) -> str:
        return self.text.split(" # ", 1)[1] if " # " in self.text else ""

    @property
    def command(self) -> str:
        return self.text.split(" # ", 1)[0]


def _sections() -> dict[str, list[Line]]:
    sections: dict[str, list[Line]] = {}
    heading, in_sh, pending, start = "(top)", False, "", 0
    for n, raw in enumerate(README.read_text().splitlines(), 1):
        if not in_sh:
            if raw.startswith("## "):
                heading = raw[3:].strip()
            elif raw.strip() == "```sh":
                in_sh = True
                sections.setdefault(heading, [])
            continue
        if raw.strip() == "```":
            in_sh = False
            continue
        if not pending:
            start = n
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        text = (pending + raw).strip()
        pending = ""
        if text and not text.startswith("#"):
            sections[heading].append(Line(heading, " ".join(text.split()), start))
    return sections


SECTIONS = _sections()

# Rooms of other engineers: a failing line there is a skip naming the room.
OTHER_ROOMS: dict[str, str] = {}  # section -> whose room, while a section is being rebuilt
# Lines not run, and why (matched as substrings of the line).
NOT_RUN = {
    "make run": "the test starts the consortium itself with `smartcustoms run`, what make runs",
    "make test": "the test suite is what runs this test",
    "classify train": "retrains the tariff model (minutes of CPU, PyTorch); "
    "tests/oracles/tariff covers training",
    "xray retrain": "fine-tunes with PyTorch on officers' feedback, which a new consortium has "
    "none of; tests/oracles/xray covers it",
    "xray synth --n 500": "500 synthetic scans take minutes and ~275 MB; tests/oracles/xray runs "
    "synth and evaluate on small sets",
    "xray evaluate --data data/xray-test": "evaluates the 500 scans of the line not run above",
    "path/to/": "a folder of the reader's own scans",
}
# Where each placeholder's value comes from: the newest earlier output that matches.
FILL = {
    "doc_hash": re.compile(r'"doc_hash": "(0x[0-9a-f]{64})"'),
    "event id": re.compile(r"prove one with smartcustoms trip prove (\d+)"),
    "declaration": re.compile(r'"declaration": "([A-Za-z0-9][A-Za-z0-9./_-]*)"'),
}
PLACEHOLDER = re.compile(r"<([a-z_][a-z_ ]*)>")


# --- the consortium ----------------------------------------------------------------------------


@dataclass
class Run:
    line: Line
    command: str
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Session:
    workdir: Path
    env: dict[str, str]
    ports: dict[str, int]
    prelude: list[str] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)

    def node(self, member: str) -> str:
        return f"http://127.0.0.1:{self.ports[member]}"

    def admin_key(self, member: str) -> str:
        return (self.workdir / "var" / "nodes" / member / "admin.apikey").read_text().strip()

    def localise(self, text: str) -> str:
        for member, port in DEFAULT_NODE_PORTS.items():
            for host in ("localhost", "127.0.0.1"):
                text = text.replace(f"{host}:{port}", f"{host}:{self.ports[member]}")
        return text

    def fill(self, text: str) -> str:
        def value(m: re.Match[str]) -> str:
            name = m.group(1)
            pattern = FILL.get(name)
            assert pattern is not None, (
                f"README placeholder <{name}> has no rule in FILL: the text must say which "
                "earlier command prints it, and FILL where to find it"
            )
            for run in reversed(self.runs):
                found = pattern.findall(run.stdout)
                if found:
                    return found[-1]
            raise AssertionError(f"no earlier command printed a value for <{name}>")

        return PLACEHOLDER.sub(value, text)


def _env(home: Path) -> tuple[dict[str, str], dict[str, int]]:
    ports = {m: free_port() for m in MEMBERS}
    members = [
        {"id": "TW", "name": "Taiwan Customs Administration", "api_port": ports["TW"]},
        {"id": "SG", "name": "Singapore Customs", "api_port": ports["SG"]},
        {"id": "NZ", "name": "New Zealand Customs Service", "api_port": ports["NZ"]},
    ]
    env = {
        **os.environ,
        "SMARTCUSTOMS_HOME": str(home),
        "SMARTCUSTOMS_CHAIN__ANVIL_PORT": str(free_port()),
        "SMARTCUSTOMS_MEMBERS": json.dumps(members),
        "SMARTCUSTOMS_CLEARANCE__ORACLE_BASE_PORT": str(free_port_run(len(MEMBERS))),
        "SMARTCUSTOMS_TRANSPORT__BROKER_PORT": str(free_port()),
        "SMARTCUSTOMS_PAYMENTS__GATEWAY_PORT": str(free_port()),
        "NO_COLOR": "1",
        "COLUMNS": "80",  # a plain terminal: nothing may be cut at 80 columns
    }
    for name in ("SMARTCUSTOMS_CONFIG", "SMARTCUSTOMS_API_KEY", "VIRTUAL_ENV"):
        env.pop(name, None)
    venv_bin = str(REPO_ROOT / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin
    )  # the README's `. .venv/bin/activate` must be what puts smartcustoms on PATH
    return env, ports


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Iterator[Session]:
    workdir = tmp_path_factory.mktemp("readme")
    (workdir / "examples").symlink_to(REPO_ROOT / "examples")
    (workdir / ".venv").symlink_to(REPO_ROOT / ".venv")
    env, ports = _env(workdir / "var")
    log = (workdir / "run.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nodes.cli", "run", "--json"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=env,
        cwd=workdir,
    )
    try:
        summary = proc.stdout.readline()
        if not summary:
            proc.wait(timeout=60)
            raise AssertionError(
                f"smartcustoms run exited {proc.returncode}: {(workdir / 'run.log').read_text()}"
            )
        json.loads(summary)
        yield Session(workdir, env, ports)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _run(s: Session, line: Line) -> Run:
    command = s.fill(s.localise(line.text))
    script = "\n".join(["set -o pipefail", *s.prelude, command])
    if "runs until Ctrl-C" in line.comment:
        proc = subprocess.Popen(
            ["bash", "-c", script],
            cwd=s.workdir,
            env=s.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        time.sleep(FOLLOW_S)
        assert proc.poll() is None, f"`{line.text}` ended before its Ctrl-C: {proc.stderr.read()}"
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        return Run(line, command, 0, out, err)
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=s.workdir,
        env=s.env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    return Run(line, command, done.returncode, done.stdout, done.stderr)


# --- what the text says the commands do --------------------------------------------------------


def _json(run: Run):
    return json.loads(run.stdout)


def _proposal(s: Session, pid: int) -> dict:
    key = {"X-API-Key": s.admin_key("TW")}
    return httpx.get(f"{s.node('TW')}/proposals/{pid}", headers=key, timeout=30).json()


def _members_unchanged(s: Session) -> None:
    members = httpx.get(f"{s.node('SG')}/members", timeout=30).json()
    assert {m["id"]: m["active"] for m in members} == dict.fromkeys(MEMBERS, True), members


EXPECT: dict[str, Callable[[Session, Run], None]] = {
    "smartcustoms --help": lambda s, r: "Usage: smartcustoms" in r.stdout,
    "localhost:8000/proposals/1 ": lambda s, r: (
        _proposal(s, 1)["state"] == "rejected" and _members_unchanged(s) is None
    ),
    "doc verify examples/certificate-of-origin.xml": lambda s, r: (
        r.stdout.count("ok ") == 6 and "VALID" in r.stdout
    ),
    "doc revoke": lambda s, r: "revoked 0x" in r.stdout,
    "--new-id --today --json": lambda s, r: "-" in _json(r)["declaration"][17:],
    "permit show IP-TW-2025-0042": lambda s, r: "permit IP-TW-2025-0042" in r.stdout,
    "trip device OBU-7 --new": lambda s, r: (s.workdir / "var/devices/OBU-7.key").exists(),
    "trip cancel T-0042": lambda s, r: "CANCELLED" in r.stdout,
    "trip status DEMO-002": lambda s, r: "event ids" in r.stdout,
    "trip verify proof.json": lambda s, r: r.stdout.rstrip().endswith("valid"),
    "trip alerts --follow": lambda s, r: bool(r.stdout.strip()),
    "members vote 2 --as NZ --no": lambda s, r: (
        "rejected" in r.stdout.lower() and _members_unchanged(s) is None
    ),
    "declaration inspect": lambda s, r: "released" in r.stdout,
    # released, unless this installation's random sampling seed picked it (about 2 %)
    "declaration status TW-IM-2025-000201": lambda s, r: (
        "released" in r.stdout or "RANDOM: random selection" in r.stdout
    ),
    "declaration status <declaration> --json": lambda s, r: (
        _json(r)["release"]["state"] == "held" and "C2" in _json(r)["release"]["waiting_for"][0]
    ),
    "smartcustoms pay <declaration> --json": lambda s, r: _json(r)["status"] == "applied",
    "guarantee list": lambda s, r: "G-42" in r.stdout and "500000.00 of 500000.00" not in r.stdout,
    "--arrive-in 1d": lambda s, r: _json(r)["manifest"] == "MF-XAIR-2025-0751",
    "trip list --state closed": lambda s, r: "T-0042" in r.stdout and "CANCELLED" in r.stdout,
    "trip zones": lambda s, r: "corridor KEL-TPE" in r.stdout,
    "doc inbox --member SG": lambda s, r: "commercial-invoice" in r.stdout and "valid" in r.stdout,
    "trace doc": lambda s, r: "trace of 0x" in r.stdout and "✗" not in r.stdout,
    "devnet status": lambda s, r: "answering" in r.stdout,
    "network besu": lambda s, r: (s.workdir / "besu-net" / "genesis.json").exists(),
    "--guarantee G-42": lambda s, r: "guarantee G-42" in r.stdout,
    "audit evaluate": lambda s, r: _json(r)["n"] > 0,
}


def _check(s: Session, run: Run) -> None:
    where = f"README.md:{run.line.lineno} `{run.line.text}`"
    assert run.returncode == 0, f"{where} exited {run.returncode}:\n{run.stdout}\n{run.stderr}"
    assert "Traceback" not in run.stderr, f"{where}:\n{run.stderr}"
    if run.line.text.startswith("curl "):  # curl -s exits 0 on an HTTP error: read the answer
        try:
            answer = json.loads(run.stdout)
        except ValueError:
            answer = None
        assert not (isinstance(answer, dict) and "error" in answer), f"{where}:\n{run.stdout}"
    if " --json" in run.line.command and ">" not in run.command:
        lines = "--follow" in run.line.command or "one JSON line per" in run.line.comment
        for doc in run.stdout.splitlines() if lines else [run.stdout]:
            try:
                json.loads(doc)
            except ValueError:
                raise AssertionError(f"{where} printed invalid JSON:\n{run.stdout}") from None
    for needle, check in EXPECT.items():
        if needle in run.line.command + " ":
            assert check(s, run) is not False, (
                f"{where} did not do what the README says:\n{run.stdout}\n{run.stderr}"
            )


@pytest.mark.parametrize("section", list(SECTIONS))
def test_readme_section_runs_as_written(section: str, session: Session) -> None:
    earlier = list(SECTIONS)[: list(SECTIONS).index(section)]
    ran = {r.line.section for r in session.runs}
    missing = [
        s
        for s in earlier
        if s not in ran
        and s not in OTHER_ROOMS
        and any(not any(k in line.command for k in NOT_RUN) for line in SECTIONS[s])
    ]
    assert not missing, (
        f"sections {missing} did not run before {section!r} in this session: the README "
        "test's sections must run in order on one worker (`--dist loadgroup`, which needs "
        "a pytest that pytest-xdist can group: see pyproject.toml)"
    )
    skipped: list[str] = []
    for line in SECTIONS[section]:
        why = next((w for k, w in NOT_RUN.items() if k in line.command), None)
        if why:
            skipped.append(f"`{line.text}`: {why}")
            continue
        run = _run(session, line)
        session.runs.append(run)
        print(f"$ {run.command}\n{run.stdout}{run.stderr}")
        if section in OTHER_ROOMS and run.returncode != 0:
            tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or [""]
            skipped.append(f"`{line.text}` fails ({tail[0]}): {OTHER_ROOMS[section]}")
            continue
        _check(session, run)
        first = shlex.split(line.text, comments=True)[:1]
        if re.fullmatch(r"[A-Z_]+=.*", line.text) or first in (["."], ["source"]):
            session.prelude.append(session.localise(line.text))
    if section in OTHER_ROOMS and skipped:
        pytest.skip(f"{section}: " + "; ".join(skipped))


def test_the_readme_has_the_sections_a_new_user_walks_through():
    want = {
        "Using a node",
        "Trade documents between customs (flows 1, 2 and 6)",
        "Clearance: declarations, permits, attested oracles (flows 3 and 4)",
        "Bonded cargo between free-trade zones (flow 5)",
        "Post-clearance audit selection (oracle AUDIT)",
        "Advance cargo information and e-payment",
        "The command line",
    }
    assert want <= set(SECTIONS), sorted(SECTIONS)
    text = README.read_text()
    # Item 1: the first governance example must not change the consortium.
    first_votes = re.findall(r"proposals/1/votes.*?-d \'(\{[^\']*\})\'", text, re.S)
    assert first_votes and all(json.loads(v)["support"] is False for v in first_votes)


# --- inline commands ---------------------------------------------------------------------------


def _command_tree():
    from nodes.cli import app

    root = typer.main.get_command(app)
    return root, root.context_class(root, info_name="smartcustoms")


def _inline_commands() -> list[str]:
    text = README.read_text()
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # blocks are run above
    spans = re.findall(r"`(smartcustoms [^`]+)`", text)
    return [" ".join(s.split()) for s in spans]


@pytest.mark.parametrize("inline", sorted(set(_inline_commands())))
def test_inline_commands_name_real_commands_and_options(inline: str) -> None:
    root, ctx = _command_tree()
    words = shlex.split(re.sub(r"<[^>]*>", "X", inline))[1:]
    command, path = root, ["smartcustoms"]
    while hasattr(command, "list_commands") and words and not words[0].startswith("-"):
        if words[0] in ("…", "...", "GROUP", "ARGS"):
            return  # a pattern, not a command
        sub = command.get_command(ctx, words[0])
        assert sub is not None, f"`{inline}`: `{' '.join(path)}` has no command {words[0]!r}"
        ctx = type(ctx)(sub, parent=ctx, info_name=words[0])
        command, path, words = sub, [*path, words[0]], words[1:]
    known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    for w in words:
        if w.startswith("--"):
            assert w.split("=")[0] in known, f"`{inline}`: `{' '.join(path)}` has no option {w}"
