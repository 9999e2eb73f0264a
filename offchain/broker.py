"""The embedded MQTT broker: a mosquitto process with its own config and persistence dir.

Why a manager: tests, benchmarks and `make run` all need "a mosquitto on this port, ready,
stopped cleanly, restartable", with a clear message when the port is taken or the binary is
missing.  Persistence is on, so a broker restart keeps persistent sessions, their
subscriptions and the QoS 1 messages still queued for them (mosquitto writes its database on
SIGTERM and every `autosave_interval` seconds).

The embedded default listens on 127.0.0.1 only and allows anonymous clients.  A production
broker must use TLS (`certfile`/`keyfile`) and authentication (`password_file` or client
certificates) with an ACL that lets a device publish only to its own member's topics.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from offchain.errors import OffchainError
from offchain.procs import die_with_parent, free_port


class BrokerError(OffchainError):
    """The broker cannot be started or does not answer."""

    code = "broker_error"


class BrokerPortInUse(BrokerError):
    """Something already listens on the broker's port."""

    code = "broker_port_in_use"


def mosquitto_binary() -> str:
    """Path of mosquitto: $SMARTCUSTOMS_MOSQUITTO, /usr/sbin/mosquitto or PATH."""
    env = os.environ.get("SMARTCUSTOMS_MOSQUITTO")
    if env:
        return env
    if Path("/usr/sbin/mosquitto").exists():
        return "/usr/sbin/mosquitto"
    found = shutil.which("mosquitto")
    if found:
        return found
    raise BrokerError(
        "mosquitto not found: install it (`apt-get install mosquitto`) "
        "or set SMARTCUSTOMS_MOSQUITTO to a mosquitto binary"
    )


def accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class Broker:
    """One mosquitto process. Use as a context manager or call start()/stop()/restart()."""

    def __init__(self, port: int, data_dir: Path | str, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.data_dir = Path(data_dir)
        self.process: subprocess.Popen | None = None

    @property
    def config_file(self) -> Path:
        return self.data_dir / "mosquitto.conf"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "mosquitto.log"

    def write_config(self) -> Path:
        """Write mosquitto.conf; limits are raised so a busy ingester is never starved."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",  # embedded default only; see the module docstring
            "persistence true",
            f"persistence_location {self.data_dir}/",
            "autosave_interval 1",
            "max_inflight_messages 0",  # no cap: the ingester acks after its batch commits
            "max_queued_messages 0",  # keep everything queued for an absent ingester
            "log_dest stderr",
        ]
        if os.geteuid() == 0:  # else mosquitto drops to user `mosquitto`, who cannot write here
            lines.append(f"user {getpass.getuser()}")
        self.config_file.write_text("\n".join(lines) + "\n")
        return self.config_file

    def start(self, timeout_s: float = 10.0) -> Broker:
        """Start mosquitto and wait until it accepts connections."""
        if accepts(self.host, self.port):
            raise BrokerPortInUse(
                f"{self.host}:{self.port} is already in use; stop that process or choose "
                "another broker port"
            )
        binary = mosquitto_binary()
        conf = self.write_config()
        log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [binary, "-c", str(conf)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
                process_group=0,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if "Address already in use" in self._log_since(log_start):
                    raise BrokerPortInUse(
                        f"{self.host}:{self.port} was taken by another process while mosquitto "
                        "started; choose another broker port"
                    )
                raise BrokerError(
                    f"mosquitto exited with code {self.process.returncode} at start; "
                    f"see {self.log_file}"
                )
            # accepting is not enough: another process may have taken the port after the
            # check above; only our mosquitto's own "running" line says it is ours
            if " running" in self._log_since(log_start) and accepts(self.host, self.port):
                return self
            time.sleep(0.02)
        self.stop()
        raise BrokerError(f"mosquitto did not accept on {self.host}:{self.port} in {timeout_s} s")

    def _log_since(self, offset: int) -> str:
        with self.log_file.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (mosquitto saves its persistence database), then make sure it is gone."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def restart(self) -> Broker:
        self.stop()
        return self.start()

    def __enter__(self) -> Broker:
        return self if self.process is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_broker(data_dir: Path | str, host: str = "127.0.0.1", attempts: int = 5) -> Broker:
    """A started broker on a free port (tests, benchmarks): a port found free can be taken by
    another process before mosquitto binds it, so a few ports are tried."""
    for _ in range(attempts - 1):
        try:
            return Broker(free_port(host), data_dir, host).start()
        except BrokerPortInUse:
            continue
    return Broker(free_port(host), data_dir, host).start()
