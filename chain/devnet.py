"""The embedded chain: an anvil process with its state kept on disk.

Why a manager: tests, `make run` and the CLI all need "an anvil on this port, ready, and
stopped cleanly", with a clear message when the port is taken.  State is dumped to
`var/chain/anvil-state.json` every few seconds and on a clean stop, and loaded on start, so a
restart keeps the chain.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from chain.errors import ChainError, ChainUnavailable, PortInUse
from offchain.procs import die_with_parent, port_is_free
from offchain.procs import free_port as free_port  # re-exported for tests and scripts
from offchain.settings import REPO_ROOT, Settings


def anvil_binary() -> str:
    """Path of the anvil binary shipped by npm's @foundry-rs/anvil (or on PATH)."""
    env = os.environ.get("SMARTCUSTOMS_ANVIL")
    if env:
        return env
    for candidate in (
        REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil",
        REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-arm64" / "bin" / "anvil",
    ):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("anvil")
    if found:
        return found
    raise ChainError(
        "anvil not found: run `npm ci` in the repository (it installs @foundry-rs/anvil) "
        "or set SMARTCUSTOMS_ANVIL to an anvil binary"
    )


def rpc_chain_id(url: str, timeout: float = 2.0) -> int | None:
    """The chain id answered at `url`, or None when nothing answers there."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    req = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(json.loads(resp.read())["result"], 16)
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return None


@dataclass
class Devnet:
    """One anvil process. Use as a context manager or call start()/stop()."""

    host: str
    port: int
    chain_id: int
    state_dir: Path | None
    state_interval_s: int = 2
    log_file: Path | None = None
    process: subprocess.Popen | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Devnet:
        c = settings.chain
        return cls(
            host=c.anvil_host,
            port=c.anvil_port,
            chain_id=c.chain_id,
            state_dir=settings.chain_dir,
            state_interval_s=c.anvil_state_interval_s,
            log_file=settings.log_dir / "anvil.log",
        )

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state_file(self) -> Path | None:
        return self.state_dir / "anvil-state.json" if self.state_dir else None

    def command(self) -> list[str]:
        cmd = [
            anvil_binary(),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--accounts",
            "1",
            "--gas-limit",
            "60000000",
        ]
        if self.state_file is not None:
            cmd += ["--state", str(self.state_file), "--state-interval", str(self.state_interval_s)]
        return cmd

    def start(self, timeout_s: float = 20.0) -> Devnet:
        """Start anvil and wait until it answers; PortInUse when the port is taken."""
        if not port_is_free(self.host, self.port):
            raise PortInUse(
                f"{self.host}:{self.port} is already in use. If it is our own devnet, "
                "`smartcustoms devnet status` tells; otherwise stop that process or choose "
                "another port with SMARTCUSTOMS_CHAIN__ANVIL_PORT"
            )
        if self.state_dir:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        log = None
        if self.log_file:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            self.command(),
            stdout=subprocess.DEVNULL if log is None else log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            process_group=0,
        )
        if log is not None:
            log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ChainError(
                    f"anvil exited with code {self.process.returncode} at start; "
                    f"see {self.log_file or 'its output'}"
                )
            if rpc_chain_id(self.rpc_url, timeout=0.5) == self.chain_id:
                return self
            time.sleep(0.05)
        self.stop()
        raise ChainUnavailable(f"anvil did not answer at {self.rpc_url} within {timeout_s:.0f} s")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop anvil with SIGINT so it writes its state file, then make sure it is gone."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> Devnet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Detached devnet for `smartcustoms devnet up|down|status`.


def _pidfile(settings: Settings) -> Path:
    return settings.run_dir / "anvil.pid"


def up(settings: Settings) -> tuple[int, bool]:
    """Start a detached anvil; returns (pid, started). Reuses one that already runs."""
    pidfile = _pidfile(settings)
    pid = _alive_pid(pidfile)
    if pid and rpc_chain_id(settings.chain.rpc_url) == settings.chain.chain_id:
        return pid, False
    devnet = Devnet.from_settings(settings)
    if not port_is_free(devnet.host, devnet.port):
        raise PortInUse(
            f"{devnet.host}:{devnet.port} is taken by a process this installation did not "
            "start; stop it or set SMARTCUSTOMS_CHAIN__ANVIL_PORT"
        )
    state_dir, log_file = devnet.state_dir, devnet.log_file
    assert state_dir is not None and log_file is not None, "from_settings sets both"
    state_dir.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            devnet.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(str(proc.pid))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ChainError(f"anvil exited at start; see {devnet.log_file}")
        if rpc_chain_id(devnet.rpc_url, 0.5) == devnet.chain_id:
            return proc.pid, True
        time.sleep(0.05)
    raise ChainUnavailable(f"anvil did not answer at {devnet.rpc_url}; see {devnet.log_file}")


def down(settings: Settings, timeout_s: float = 10.0) -> bool:
    """Stop the detached anvil (state is saved). False when none was running."""
    pidfile = _pidfile(settings)
    pid = _alive_pid(pidfile)
    if not pid:
        pidfile.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    return True


def status(settings: Settings) -> dict:
    pid = _alive_pid(_pidfile(settings))
    chain_id = rpc_chain_id(settings.chain.rpc_url)
    return {
        "rpc_url": settings.chain.rpc_url,
        "answering": chain_id is not None,
        "chain_id": chain_id,
        "pid": pid,
        "state_file": str(settings.chain_dir / "anvil-state.json"),
    }


def _alive_pid(pidfile: Path) -> int | None:
    """The pid in `pidfile` if that process is alive and is an anvil (pids get reused)."""
    with contextlib.suppress(FileNotFoundError, ValueError):
        pid = int(pidfile.read_text().strip())
        if _alive(pid) and _is_anvil(pid):
            return pid
    return None


def _is_anvil(pid: int) -> bool:
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return False
    return Path(argv0.decode(errors="replace")).name == "anvil"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True
