"""Child-process hygiene shared by the devnet, the broker and the launcher."""

from __future__ import annotations

import ctypes
import signal
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
