"""Child processes and ports: hygiene shared by the devnet, the broker and the launcher."""

from __future__ import annotations

import ctypes
import signal
import socket
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """`preexec_fn` for children: on Linux, ask the kernel to SIGTERM them if we die.

    Why: `make run` must leave no orphans even when it is killed with SIGKILL and gets
    no chance to stop its children itself.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def port_is_free(host: str, port: int) -> bool:
    """Whether we could listen on host:port right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (for tests and benchmarks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_port_run(n: int, host: str = "127.0.0.1") -> int:
    """The first of `n` consecutive free ports (oracle instances listen on base + index)."""
    for _ in range(50):
        base = free_port(host)
        if base + n < 65000 and all(port_is_free(host, base + i) for i in range(n)):
            return base
    raise RuntimeError(f"no run of {n} free ports found on {host}")
