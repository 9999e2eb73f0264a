"""The embedded anvil: start/stop, port conflicts, state on disk, the detached devnet."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from chain import devnet as devnet_mod
from chain.devnet import Devnet, free_port, port_is_free, rpc_chain_id
from chain.errors import ChainError, ChainUnavailable, PortInUse
from offchain.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.contract

CHAIN_ID = 31337
ADDRESS = "0x" + "ab" * 20


def _gone(pid: int, timeout_s: float = 10.0) -> bool:
    """True once `pid` no longer runs (exited, or a zombie nobody reaped yet)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _rpc(url: str, method: str, params: list) -> object:
    return Web3(Web3.HTTPProvider(url)).provider.make_request(method, params)["result"]


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Devnet]:
    dn = Devnet(
        "127.0.0.1", free_port(), CHAIN_ID, tmp_path / "chain", log_file=tmp_path / "anvil.log"
    )
    yield dn
    dn.stop()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Settings]:
    s = Settings(home=tmp_path / "var", chain={"anvil_port": free_port(), "chain_id": 4242})
    yield s
    devnet_mod.down(s)


def test_start_answers_and_stop_leaves_no_process(net: Devnet) -> None:
    assert net.start() is net
    pid = net.process.pid
    assert rpc_chain_id(net.rpc_url) == CHAIN_ID
    assert not port_is_free(net.host, net.port)
    net.stop()
    assert net.process is None
    assert _gone(pid)
    assert rpc_chain_id(net.rpc_url) is None
    assert port_is_free(net.host, net.port)
    net.stop()  # stopping twice is harmless


def test_context_manager_starts_and_stops(tmp_path: Path) -> None:
    with Devnet("127.0.0.1", free_port(), 999, None) as dn:
        pid = dn.process.pid
        assert rpc_chain_id(dn.rpc_url) == 999
    assert _gone(pid)


def test_second_devnet_on_the_same_port_raises_port_in_use(net: Devnet, tmp_path: Path) -> None:
    net.start()
    other = Devnet("127.0.0.1", net.port, CHAIN_ID, None)
    with pytest.raises(PortInUse) as caught:
        other.start()
    assert f"127.0.0.1:{net.port}" in str(caught.value)
    assert "SMARTCUSTOMS_CHAIN__ANVIL_PORT" in str(caught.value)
    assert other.process is None
    assert rpc_chain_id(net.rpc_url) == CHAIN_ID  # the first one is untouched


def test_port_taken_by_a_foreign_listener_raises_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUse, match=str(port)):
            Devnet("127.0.0.1", port, CHAIN_ID, None).start()


def test_state_survives_a_restart(net: Devnet) -> None:
    net.start()
    _rpc(net.rpc_url, "anvil_setBalance", [ADDRESS, hex(123_456_789)])
    _rpc(net.rpc_url, "anvil_mine", [hex(5)])
    net.stop()
    assert net.state_file.exists()
    assert json.loads(net.state_file.read_text())  # anvil wrote real JSON on SIGINT
    net.start()
    w3 = Web3(Web3.HTTPProvider(net.rpc_url))
    assert w3.eth.get_balance(Web3.to_checksum_address(ADDRESS)) == 123_456_789
    assert w3.eth.block_number == 5


def test_periodic_state_dump_survives_a_crash(tmp_path: Path) -> None:
    dn = Devnet("127.0.0.1", free_port(), CHAIN_ID, tmp_path / "chain", state_interval_s=1)
    dn.start()
    try:
        _rpc(dn.rpc_url, "anvil_setBalance", [ADDRESS, hex(42)])
        deadline = time.monotonic() + 10
        while not (dn.state_file.exists() and ADDRESS[2:] in dn.state_file.read_text().lower()):
            assert time.monotonic() < deadline, "anvil never dumped its state"
            time.sleep(0.1)
        dn.process.kill()  # a crash: no dump on the way out
        dn.process.wait()
        dn.process = None
        dn.start()
        assert int(_rpc(dn.rpc_url, "eth_getBalance", [ADDRESS, "latest"]), 16) == 42
    finally:
        dn.stop()


def test_without_state_dir_a_restart_is_a_fresh_chain(tmp_path: Path) -> None:
    dn = Devnet("127.0.0.1", free_port(), CHAIN_ID, None)
    with dn:
        _rpc(dn.rpc_url, "anvil_setBalance", [ADDRESS, hex(1)])
    with dn:
        assert int(_rpc(dn.rpc_url, "eth_getBalance", [ADDRESS, "latest"]), 16) == 0
    assert not list(tmp_path.iterdir())


def _fake_anvil(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    path = tmp_path / "anvil"
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)
    monkeypatch.setenv("SMARTCUSTOMS_ANVIL", str(path))


def test_anvil_that_exits_at_start_points_at_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_anvil(tmp_path, monkeypatch, "echo 'error: bad flag' >&2; exit 3")
    dn = Devnet("127.0.0.1", free_port(), CHAIN_ID, None, log_file=tmp_path / "log" / "anvil.log")
    with pytest.raises(ChainError, match="anvil exited with code 3 at start") as caught:
        dn.start()
    assert str(tmp_path / "log" / "anvil.log") in str(caught.value)
    assert "bad flag" in (tmp_path / "log" / "anvil.log").read_text()


def test_anvil_that_never_answers_is_stopped_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_anvil(tmp_path, monkeypatch, "exec sleep 30")
    dn = Devnet("127.0.0.1", free_port(), CHAIN_ID, None)
    with pytest.raises(ChainUnavailable, match=f"anvil did not answer at {dn.rpc_url}"):
        dn.start(timeout_s=0.5)
    assert dn.process is None  # stopped, not left behind


def test_rpc_chain_id_is_none_on_a_closed_port() -> None:
    assert rpc_chain_id(f"http://127.0.0.1:{free_port()}", timeout=0.5) is None


def test_rpc_chain_id_is_none_for_a_non_rpc_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        # accepts the connection but never answers: the timeout applies
        started = time.monotonic()
        assert rpc_chain_id(f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=0.3) is None
        assert time.monotonic() - started < 5


def test_detached_up_status_down(home: Settings) -> None:
    assert devnet_mod.status(home)["answering"] is False
    pid, started = devnet_mod.up(home)
    assert started is True
    assert (home.run_dir / "anvil.pid").read_text().strip() == str(pid)
    st = devnet_mod.status(home)
    assert st == {
        "rpc_url": home.chain.rpc_url,
        "answering": True,
        "chain_id": 4242,
        "pid": pid,
        "state_file": str(home.chain_dir / "anvil-state.json"),
    }
    assert devnet_mod.up(home) == (pid, False)  # reuses the running one

    assert devnet_mod.down(home) is True
    assert _gone(pid)
    assert not (home.run_dir / "anvil.pid").exists()
    assert (home.chain_dir / "anvil-state.json").exists()
    assert devnet_mod.status(home)["answering"] is False
    assert devnet_mod.status(home)["pid"] is None
    assert devnet_mod.down(home) is False


def test_detached_devnet_keeps_state_across_down_and_up(home: Settings) -> None:
    devnet_mod.up(home)
    _rpc(home.chain.rpc_url, "anvil_setBalance", [ADDRESS, hex(77)])
    devnet_mod.down(home)
    assert devnet_mod.up(home)[1] is True
    assert int(_rpc(home.chain.rpc_url, "eth_getBalance", [ADDRESS, "latest"]), 16) == 77


def test_detached_up_refuses_a_port_taken_by_someone_else(home: Settings) -> None:
    foreign = Devnet("127.0.0.1", home.chain.anvil_port, 1, None).start()  # other chain id
    try:
        with pytest.raises(PortInUse, match=str(home.chain.anvil_port)):
            devnet_mod.up(home)
        assert not (home.run_dir / "anvil.pid").exists()
    finally:
        foreign.stop()


def test_stale_pidfile_of_a_dead_process_is_ignored(home: Settings) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    home.run_dir.mkdir(parents=True)
    (home.run_dir / "anvil.pid").write_text(str(dead.pid))
    assert devnet_mod.status(home)["pid"] is None
    assert devnet_mod.down(home) is False
    assert not (home.run_dir / "anvil.pid").exists()


def test_down_does_not_kill_an_unrelated_process_with_a_stale_pid(home: Settings) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        home.run_dir.mkdir(parents=True)
        (home.run_dir / "anvil.pid").write_text(str(bystander.pid))
        assert devnet_mod.status(home)["pid"] is None
        assert devnet_mod.down(home, timeout_s=2) is False
        assert bystander.poll() is None, "an unrelated process was killed"
    finally:
        bystander.kill()
        bystander.wait()


def test_anvil_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    code = (
        "import sys, time\n"
        "from chain.devnet import Devnet, free_port\n"
        "dn = Devnet('127.0.0.1', free_port(), 31337, None).start()\n"
        "print(dn.process.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    anvil_pid = None
    try:
        anvil_pid = int(parent.stdout.readline())
        assert not _gone(anvil_pid, timeout_s=0.2)
        parent.send_signal(signal.SIGKILL)  # no chance to clean up
        parent.wait()
        assert _gone(anvil_pid), "anvil outlived the process that started it"
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
        if anvil_pid is not None and not _gone(anvil_pid, timeout_s=0):
            os.kill(anvil_pid, signal.SIGKILL)
