"""Reading contract events in pages of blocks, oldest first.

Why pages: nodes cap `eth_getLogs` ranges (Besu and public RPCs refuse wide ones), and an
auditor's trace may span the whole chain.  Each page is one request filtered by address
and, when given, by event topics.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from eth_utils import event_abi_to_log_topic, filter_abi_by_type
from web3 import Web3
from web3._utils.events import get_event_data
from web3.contract import Contract
from web3.exceptions import MismatchedABI
from web3.types import FilterParams

from chain.client import chain_errors
from offchain.hexbytes import hex0x


@dataclass(frozen=True)
class ChainEvent:
    """One decoded log, with where it happened."""

    contract: str
    event: str
    args: dict[str, Any]
    block_number: int
    tx_hash: str
    log_index: int

    def to_json(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "event": self.event,
            "args": {k: _jsonable(v) for k, v in self.args.items()},
            "block": self.block_number,
            "tx": self.tx_hash,
            "log_index": self.log_index,
        }


def read_events(
    w3: Web3,
    contract: Contract,
    contract_name: str,
    *,
    events: Iterable[str] | None = None,
    from_block: int = 0,
    to_block: int | None = None,
    page_blocks: int = 2_000,
    topics: list[Any] | None = None,
) -> Iterator[ChainEvent]:
    """Yield decoded events of `contract` in chain order, paging through blocks."""
    if page_blocks < 1:
        raise ValueError(f"page_blocks must be at least 1, got {page_blocks}")
    abis = list(filter_abi_by_type("event", contract.abi))
    if events is not None:
        wanted = set(events)
        unknown = wanted - {a["name"] for a in abis}
        if unknown:
            raise ValueError(f"{contract_name} has no event(s) {sorted(unknown)}")
        abis = [a for a in abis if a["name"] in wanted]
    by_topic = {event_abi_to_log_topic(a): a for a in abis}
    topic0 = [Web3.to_hex(t) for t in by_topic]
    with chain_errors():
        last = w3.eth.block_number if to_block is None else to_block
    start = max(0, from_block)
    while start <= last:
        end = min(last, start + page_blocks - 1)
        flt: FilterParams = {
            "address": contract.address,
            "fromBlock": start,
            "toBlock": end,
            "topics": [topic0, *(topics or [])],
        }
        with chain_errors():
            logs = w3.eth.get_logs(flt)
        for log in logs:
            abi = by_topic.get(bytes(log["topics"][0]))
            if abi is None:
                continue
            try:
                data = get_event_data(w3.codec, abi, log)
            except MismatchedABI:
                continue
            yield ChainEvent(
                contract=contract_name,
                event=data["event"],
                args=dict(data["args"]),
                block_number=data["blockNumber"],
                tx_hash=Web3.to_hex(data["transactionHash"]),
                log_index=data["logIndex"],
            )
        start = end + 1


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return hex0x(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value
