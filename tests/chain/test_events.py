"""read_events: decoded contract events in chain order, paged by blocks."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest
from web3 import Web3

from chain.devnet import Devnet, free_port
from chain.events import read_events
from chain.ids import member_id_bytes
from chain.registry import ConsortiumRegistry
from chain.sender import TxSender

pytestmark = pytest.mark.contract

NAME = "ConsortiumRegistry"
EVENT_ABI = {"type": "event", "name": "Ping", "inputs": [], "anonymous": False}


@pytest.fixture
def history(
    snapshot: None, w3: Web3, registry: ConsortiumRegistry, admin: Callable[[str], TxSender]
) -> tuple[int, list[bytes]]:
    """Five key changes by TW and SG, one block each; (first block, keys in order)."""
    start = w3.eth.block_number + 1
    keys = [os.urandom(32) for _ in range(5)]
    for i, key in enumerate(keys):
        member = "TW" if i % 2 == 0 else "SG"
        registry.set_x25519_key(admin(member), member, key)
    assert w3.eth.block_number == start + 4
    return start, keys


def _events(w3: Web3, registry: ConsortiumRegistry, **kwargs: object) -> list:
    return list(read_events(w3, registry.contract, NAME, **kwargs))


@pytest.mark.parametrize("page_blocks", [1, 2, 3, 1000])
def test_pages_of_any_size_give_the_same_events_in_order(
    w3: Web3, registry: ConsortiumRegistry, history: tuple[int, list[bytes]], page_blocks: int
) -> None:
    start, keys = history
    expected = _events(w3, registry, from_block=start, page_blocks=1_000_000)
    got = _events(w3, registry, from_block=start, page_blocks=page_blocks)
    assert got == expected
    assert [e.args["key"] for e in got] == keys
    assert [e.block_number for e in got] == list(range(start, start + 5))
    assert [e.args["id"] for e in got] == [
        member_id_bytes(m) for m in ("TW", "SG", "TW", "SG", "TW")
    ]


def test_whole_history_from_genesis_in_chain_order(
    w3: Web3, registry: ConsortiumRegistry, history: tuple[int, list[bytes]]
) -> None:
    small = _events(w3, registry, page_blocks=1)
    assert small == _events(w3, registry)
    positions = [(e.block_number, e.log_index) for e in small]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    names = [e.event for e in small]
    assert names.count("MemberAdded") >= 3  # the genesis members
    assert names.count("NodeAdded") >= 3  # their nodes, registered by the deployment
    assert names[-5:] == ["X25519KeyChanged"] * 5
    assert all(e.contract == NAME for e in small)


def test_filter_by_event_name(
    w3: Web3, registry: ConsortiumRegistry, history: tuple[int, list[bytes]]
) -> None:
    nodes = _events(w3, registry, events=["NodeAdded"], page_blocks=1)
    assert nodes and {e.event for e in nodes} == {"NodeAdded"}
    both = _events(w3, registry, events=["NodeAdded", "X25519KeyChanged"])
    assert {e.event for e in both} == {"NodeAdded", "X25519KeyChanged"}
    assert len(both) == len(nodes) + 5


def test_filter_by_indexed_topic(
    w3: Web3, registry: ConsortiumRegistry, history: tuple[int, list[bytes]]
) -> None:
    start, keys = history
    sg = _events(
        w3,
        registry,
        events=["X25519KeyChanged"],
        from_block=start,
        topics=[Web3.to_hex(member_id_bytes("SG"))],
    )
    assert [e.args["key"] for e in sg] == [keys[1], keys[3]]


def test_block_range_bounds_are_inclusive(
    w3: Web3, registry: ConsortiumRegistry, history: tuple[int, list[bytes]]
) -> None:
    start, keys = history
    middle = _events(w3, registry, from_block=start + 1, to_block=start + 3, page_blocks=2)
    assert [e.args["key"] for e in middle] == keys[1:4]
    assert _events(w3, registry, from_block=w3.eth.block_number + 1) == []


def test_unknown_event_name_raises_value_error(w3: Web3, registry: ConsortiumRegistry) -> None:
    with pytest.raises(ValueError, match=r"ConsortiumRegistry has no event\(s\) \['Nope'\]"):
        _events(w3, registry, events=["NodeAdded", "Nope"])


def test_to_json_makes_bytes_readable(
    w3: Web3, registry: ConsortiumRegistry, history: tuple[int, list[bytes]]
) -> None:
    start, keys = history
    event = _events(w3, registry, from_block=start, to_block=start)[0]
    data = event.to_json()
    assert data["event"] == "X25519KeyChanged"
    assert data["args"] == {
        "id": "0x" + member_id_bytes("TW").hex(),
        "key": "0x" + keys[0].hex(),
    }
    assert data["block"] == start
    assert data["tx"].startswith("0x") and len(data["tx"]) == 66


def test_non_positive_page_size_is_rejected() -> None:
    with Devnet("127.0.0.1", free_port(), 31337, None) as private:
        w3 = Web3(Web3.HTTPProvider(private.rpc_url))
        w3.provider.make_request("anvil_mine", ["0x3"])
        contract = w3.eth.contract(address="0x" + "11" * 20, abi=[EVENT_ABI])
        outcome: list[BaseException | None] = []

        def first_page() -> None:
            try:
                list(read_events(w3, contract, "X", from_block=1, page_blocks=0))
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        worker = threading.Thread(target=first_page, daemon=True)
        worker.start()
        worker.join(timeout=3)
    worker.join(timeout=10)  # with the chain stopped, a looping reader fails and ends
    assert isinstance(outcome[0], ValueError), outcome
