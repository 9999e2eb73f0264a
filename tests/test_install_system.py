"""scripts/install-system.sh's `apt_retry`: it waits while another apt holds apt's lock and
fails at once on any other apt error.  Run in bash with a stand-in for apt-get (a script
that answers as apt-get does): the real one would change this machine's packages."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "install-system.sh"
LOCKED = "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)"


def _apt_retry(tmp_path: Path, answers: list[tuple[int, str]]) -> tuple[int, str, int]:
    """(exit code, stderr, calls made) of `apt_retry fake-apt` whose n-th call prints
    answers[n][1] to stderr and exits with answers[n][0]."""
    calls = tmp_path / "calls"
    calls.write_text("0")
    cases = "\n".join(
        f"  {i + 1}) echo '{text}' >&2; exit {code};;" for i, (code, text) in enumerate(answers)
    )
    fake = tmp_path / "fake-apt"
    fake.write_text(
        f"#!/usr/bin/env bash\nn=$(( $(cat {calls}) + 1 )); echo $n > {calls}\n"
        f"case $n in\n{cases}\n  *) exit 0;;\nesac\n"
    )
    fake.chmod(0o755)
    run = subprocess.run(
        ["bash", "-c", f'source <(sed -n "/^apt_retry()/,/^}}/p" {SCRIPT}); apt_retry {fake}'],
        env={**os.environ, "APT_WAIT_S": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return run.returncode, run.stderr, int(calls.read_text())


def test_apt_waits_while_another_apt_holds_the_lock(tmp_path):
    code, err, calls = _apt_retry(tmp_path, [(100, LOCKED), (100, LOCKED), (0, "")])
    assert (code, calls) == (0, 3)
    assert err.count("apt is busy in another process; waiting") == 2


def test_apt_fails_at_once_on_any_other_error_and_shows_it(tmp_path):
    code, err, calls = _apt_retry(tmp_path, [(100, "E: Unable to locate package nosuch")])
    assert (code, calls) == (1, 1)
    assert "Unable to locate package nosuch" in err and "waiting" not in err
