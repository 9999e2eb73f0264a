"""Connecting to the chain, and turning web3's failures into errors a person can act on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import requests
from eth_abi import decode as abi_decode
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import (
    BadResponseFormat,
    ContractLogicError,
    ProviderConnectionError,
    Web3RPCError,
)

from chain.errors import ChainUnavailable, ContractReverted
from offchain.settings import Settings, get_settings

_CONNECTION_ERRORS = (requests.ConnectionError, requests.Timeout, ProviderConnectionError)


def connect(settings: Settings | None = None, *, rpc_url: str | None = None) -> Web3:
    """A Web3 connected to the configured chain; ChainUnavailable when nothing answers."""
    settings = settings or get_settings()
    url = rpc_url or settings.chain.rpc_url
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": settings.chain.request_timeout_s}))
    with chain_errors(url):
        try:
            w3.eth.chain_id  # noqa: B018 - a real round trip, so a dead endpoint fails here
        except (requests.HTTPError, BadResponseFormat, ValueError) as exc:
            raise ChainUnavailable(
                f"{url} answers, but not as an Ethereum JSON-RPC node ({type(exc).__name__}); "
                "check SMARTCUSTOMS_CHAIN__RPC_URL"
            ) from exc
    return w3


@contextlib.contextmanager
def chain_errors(url: str = "the configured RPC URL") -> Iterator[None]:
    """Re-raise transport failures as ChainUnavailable with the fix in the message."""
    try:
        yield
    except _CONNECTION_ERRORS as exc:
        raise ChainUnavailable(
            f"no chain answers at {url} ({type(exc).__name__}); start the devnet with "
            "`smartcustoms devnet up` or `make run`, or point SMARTCUSTOMS_CHAIN__RPC_URL "
            "at a running node"
        ) from exc


def _type_str(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_type_str(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return param["type"]


class RevertDecoder:
    """Maps revert data to the custom error's name and arguments, across all our ABIs."""

    _BUILTIN = {
        keccak(text="Error(string)")[:4]: ("Error", [{"name": "reason", "type": "string"}]),
        keccak(text="Panic(uint256)")[:4]: ("Panic", [{"name": "code", "type": "uint256"}]),
    }

    def __init__(self, abis: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self._errors: dict[bytes, tuple[str, list[dict[str, Any]]]] = dict(self._BUILTIN)
        self.contract_names: dict[str, str] = {}
        for abi in (abis or {}).values():
            self.add_abi(abi)

    def name_contract(self, address: str, name: str) -> None:
        """Let messages say `ConsortiumRegistry.vote` instead of an address."""
        self.contract_names[address] = name

    def add_abi(self, abi: list[dict[str, Any]]) -> None:
        for item in abi:
            if item.get("type") != "error":
                continue
            sig = f"{item['name']}({','.join(_type_str(i) for i in item['inputs'])})"
            self._errors[keccak(text=sig)[:4]] = (item["name"], item["inputs"])

    def decode(self, data: str | bytes | None) -> tuple[str, dict[str, Any]]:
        """(error name, {arg: value}); unknown selectors come back as hex, never raise."""
        raw = _revert_bytes(data)
        if len(raw) < 4:
            return ("EmptyRevert", {}) if not raw else ("UnknownError", {"data": raw})
        known = self._errors.get(raw[:4])
        if known is None:
            return "UnknownError", {"selector": raw[:4], "data": raw[4:]}
        name, inputs = known
        try:
            values = abi_decode([_type_str(i) for i in inputs], raw[4:])
        except Exception:  # malformed payload: still say which error it was
            return name, {"data": raw[4:]}
        return name, {
            i["name"] or f"arg{n}": v for n, (i, v) in enumerate(zip(inputs, values, strict=True))
        }

    def reverted(self, contract: str, function: str, exc: Exception) -> ContractReverted:
        data = getattr(exc, "data", None)
        name, args = self.decode(data)
        if name in ("EmptyRevert", "UnknownError") and isinstance(exc, Web3RPCError):
            args = {**args, "message": str(exc)}
        return ContractReverted(contract, function, name, args, raw=str(data or ""))


def _revert_bytes(data: str | bytes | dict | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, dict):
        data = data.get("data") or ""
    if isinstance(data, bytes):
        return data
    text = str(data)
    if text.startswith("Reverted "):
        text = text.split(" ", 1)[1]
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        return b""


def is_revert(exc: BaseException) -> bool:
    return isinstance(exc, ContractLogicError)


def endpoint(w3: Web3) -> str:
    """The URL a Web3 talks to, for error messages."""
    return str(getattr(w3.provider, "endpoint_uri", None) or "the configured RPC URL")
