"""The one transaction sender: signs locally, manages nonces for concurrent callers, waits.

Why local nonce management: several threads of one node (API requests, batchers) send from
the same account.  Asking the chain for the nonce per transaction races and costs a round
trip; a counter under a lock does not.  On a nonce error the counter is resynchronised
from the chain once and the send retried.

Why `send_many`: from Python one transaction at a time runs at tens per second against
anvil; signing and sending a batch before waiting for the receipts pipelines the round
trips.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, Hash32
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractLogicError, TimeExhausted, Web3RPCError
from web3.providers.base import JSONBaseProvider
from web3.types import Nonce, RPCEndpoint, RPCResponse, TxParams, TxReceipt, Wei

from chain.client import RevertDecoder, chain_errors, endpoint
from chain.errors import ContractReverted, TransactionFailed
from offchain.hexbytes import hex0x

# What a transaction runs: a contract function, or a constructor (a deployment)
Call = ContractFunction | ContractConstructor

_NONCE_ERRORS = ("nonce too low", "nonce too high", "already known", "replacement transaction")
_FEE_TTL_S = 5.0
_TIP_WEI = 10**9  # 1 gwei


class TxSender:
    """Sends contract transactions from one account."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        decoder: RevertDecoder,
        *,
        receipt_timeout_s: float = 60.0,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.decoder = decoder
        self.receipt_timeout_s = receipt_timeout_s
        self._lock = threading.Lock()
        self._nonce: int | None = None
        self._gas_price: tuple[float, int] | None = None
        self._chain_id: int | None = None

    @property
    def address(self) -> str:
        return self.account.address

    def resync(self) -> None:
        """Forget the local nonce; the next send asks the chain (after a revert to snapshot)."""
        with self._lock:
            self._nonce = None

    def transact(self, fn: Call, *, gas: int | None = None) -> TxReceipt:
        """Send one call and wait for its receipt; ContractReverted names the custom error."""
        tx_hash = self.send(fn, gas=gas)
        return self.wait(tx_hash, fn)

    def deploy(
        self, abi: list[dict[str, Any]], bytecode: str, *args: Any, gas: int | None = None
    ) -> tuple[ChecksumAddress, TxReceipt]:
        """Deploy a contract; its address and the receipt (TransactionFailed if none made)."""
        receipt = self.transact(
            self.w3.eth.contract(abi=abi, bytecode=bytecode).constructor(*args), gas=gas
        )
        address = receipt["contractAddress"]
        if address is None:
            raise TransactionFailed(
                f"deployment {hex0x(receipt['transactionHash'])} created no contract"
            )
        return address, receipt

    def send(self, fn: Call, *, gas: int | None = None) -> bytes:
        """Sign and send without waiting; the gas estimate surfaces reverts before sending."""
        if gas is None:
            gas = self._estimate(fn)
        with self._lock:
            for attempt in (1, 2):
                nonce = self._next_nonce()
                raw = self._sign(fn, gas, nonce)
                try:
                    with chain_errors(endpoint(self.w3)):
                        tx_hash = self.w3.eth.send_raw_transaction(raw)
                except Web3RPCError as exc:
                    if attempt == 1 and any(s in str(exc).lower() for s in _NONCE_ERRORS):
                        self._nonce = None
                        continue
                    raise TransactionFailed(
                        f"{_contract_name(fn, self.decoder)}.{_fn_name(fn)} from "
                        f"{self.account.address} was refused: {exc}"
                    ) from exc
                self._nonce = nonce + 1
                return bytes(tx_hash)
        raise AssertionError("unreachable")

    def send_many(self, fns: Sequence[Call], *, gas: int | None = None) -> list[TxReceipt]:
        """Sign all, send them in one JSON-RPC batch, wait for all; receipts in input order.

        Each call is estimated first (unless `gas` is given), so a revert is reported before
        anything is sent.  The nonce is read from the chain once per batch (one round trip,
        cheap next to the batch), so another process sending from the same account does not
        break it.  If the node still refuses some for a nonce race, those are re-signed with
        fresh nonces and sent once more (they then execute after the others).  Any other
        refusal: every accepted transaction is still awaited, and TransactionFailed lists
        which were refused and which were mined.
        """
        if not fns:
            return []
        gases = [gas if gas is not None else self._estimate(fn) for fn in fns]
        hashes: dict[int, bytes] = {}
        pending = list(range(len(fns)))
        refused: list[tuple[int, str]] = []
        for attempt in (1, 2):
            with self._lock:
                self._nonce = None
                first = self._next_nonce()
                raws = [self._sign(fns[i], gases[i], first + k) for k, i in enumerate(pending)]
                responses = self._batch([("eth_sendRawTransaction", [hex0x(r)]) for r in raws])
                refused = []
                for i, resp in zip(pending, responses, strict=True):
                    if "error" in resp:
                        refused.append((i, str(resp["error"].get("message", resp["error"]))))
                    else:
                        hashes[i] = bytes.fromhex(resp["result"][2:])
                self._nonce = None if refused else first + len(pending)
            nonce_race = all(any(s in why.lower() for s in _NONCE_ERRORS) for _, why in refused)
            if not refused or attempt == 2 or not nonce_race:
                break
            pending = [i for i, _ in refused]
        order = sorted(hashes)
        mined = dict(
            zip(
                order,
                self._wait_all([hashes[i] for i in order], [fns[i] for i in order]),
                strict=True,
            )
        )
        if refused:
            lines = "; ".join(
                f"#{i} {_contract_name(fns[i], self.decoder)}.{_fn_name(fns[i])}: {why}"
                for i, why in refused
            )
            raise TransactionFailed(
                f"{len(refused)} of the batch of {len(fns)} were refused ({lines}); "
                f"mined: {sorted(mined) or 'none'}"
            )
        return [mined[i] for i in range(len(fns))]

    def _sign(self, fn: Call, gas: int, nonce: int) -> bytes:
        """The one place a transaction is built and signed: legacy gas price, our chain id."""
        params: TxParams = {
            "from": self.account.address,
            "nonce": Nonce(nonce),
            "gas": gas,
            "gasPrice": Wei(self._fee()),
            "chainId": self._chain(),
        }
        tx = fn.build_transaction(params)
        # eth-account takes any str-keyed dict; web3's TypedDict is one, its stubs disagree
        return self.account.sign_transaction(tx).raw_transaction  # type: ignore[arg-type]

    def _batch(self, calls: list[tuple[str, list[Any]]]) -> list[RPCResponse]:
        provider = self.w3.provider
        if not isinstance(provider, JSONBaseProvider):
            raise TransactionFailed(
                f"{type(provider).__name__} cannot send JSON-RPC batches; use an HTTP or IPC URL"
            )
        with chain_errors(endpoint(self.w3)):
            out = provider.make_batch_request([(RPCEndpoint(m), p) for m, p in calls])
        if not isinstance(out, list):  # the whole batch was refused
            raise TransactionFailed(f"the node refused the batch: {out.get('error', out)}")
        return out

    def _wait_all(self, hashes: list[bytes], fns: list[Call]) -> list[TxReceipt]:
        """Poll receipts of many transactions in batched requests."""
        receipts: dict[int, TxReceipt] = {}
        deadline = time.monotonic() + self.receipt_timeout_s
        while len(receipts) < len(hashes):
            pending = [i for i in range(len(hashes)) if i not in receipts]
            responses = self._batch(
                [("eth_getTransactionReceipt", [hex0x(hashes[i])]) for i in pending]
            )
            for i, resp in zip(pending, responses, strict=True):
                if resp.get("result"):
                    receipts[i] = self.w3.eth.wait_for_transaction_receipt(Hash32(hashes[i]))
            if len(receipts) < len(hashes):
                if time.monotonic() > deadline:
                    raise TransactionFailed(
                        f"{len(hashes) - len(receipts)} transactions were not mined within "
                        f"{self.receipt_timeout_s:.0f} s; is the chain producing blocks?"
                    )
                time.sleep(0.02)
        out = []
        for i, fn in enumerate(fns):
            if receipts[i]["status"] != 1:
                raise self._failure(hashes[i], receipts[i], fn)
            out.append(receipts[i])
        return out

    def wait(self, tx_hash: bytes, fn: Call | None = None) -> TxReceipt:
        try:
            with chain_errors(endpoint(self.w3)):
                receipt = self.w3.eth.wait_for_transaction_receipt(
                    Hash32(tx_hash), timeout=self.receipt_timeout_s, poll_latency=0.02
                )
        except TimeExhausted as exc:
            raise TransactionFailed(
                f"transaction {hex0x(tx_hash)} was not mined within "
                f"{self.receipt_timeout_s:.0f} s; is the chain producing blocks?"
            ) from exc
        if receipt["status"] != 1:
            raise self._failure(tx_hash, receipt, fn)
        return receipt

    def _estimate(self, fn: Call) -> int:
        try:
            with chain_errors(endpoint(self.w3)):
                estimate = fn.estimate_gas({"from": self.account.address})
        except ContractLogicError as exc:
            raise self.decoder.reverted(
                _contract_name(fn, self.decoder), _fn_name(fn), exc
            ) from exc
        return int(estimate * 1.2) + 10_000

    def _failure(
        self, tx_hash: bytes, receipt: TxReceipt, fn: Call | None
    ) -> ContractReverted | TransactionFailed:
        if isinstance(fn, ContractFunction):  # a constructor cannot be replayed as a call
            try:
                fn.call({"from": self.account.address}, block_identifier=receipt["blockNumber"])
            except ContractLogicError as exc:
                return self.decoder.reverted(_contract_name(fn, self.decoder), _fn_name(fn), exc)
        return TransactionFailed(
            f"transaction {hex0x(tx_hash)} failed in block {receipt['blockNumber']} "
            f"(gas used {receipt['gasUsed']})"
        )

    def _next_nonce(self) -> int:
        if self._nonce is None:
            with chain_errors(endpoint(self.w3)):
                self._nonce = self.w3.eth.get_transaction_count(self.account.address, "pending")
        return self._nonce

    def _fee(self) -> int:
        """Twice the latest base fee plus a fixed tip.

        Why not eth_gasPrice: anvil's suggestion follows the tips recently paid, so paying a
        multiple of it doubles the price with every transaction (seen: 3e10 -> 6e13 wei in 12
        transactions).  The base fee moves by at most 12.5% per block; twice it covers six
        full blocks.  On a zero-base-fee network (Besu QBFT) this is just the tip.
        """
        now = time.monotonic()
        if self._gas_price is None or now - self._gas_price[0] > _FEE_TTL_S:
            with chain_errors(endpoint(self.w3)):
                base = self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0
            self._gas_price = (now, 2 * int(base) + _TIP_WEI)
        return self._gas_price[1]

    def _chain(self) -> int:
        if self._chain_id is None:
            with chain_errors(endpoint(self.w3)):
                self._chain_id = self.w3.eth.chain_id
        return self._chain_id


def call(fn: ContractFunction, decoder: RevertDecoder, **kwargs: Any) -> Any:
    """A read-only call with the same error translation as transactions."""
    try:
        with chain_errors(endpoint(fn.w3)):
            return fn.call(**kwargs)
    except ContractLogicError as exc:
        raise decoder.reverted(_contract_name(fn, decoder), _fn_name(fn), exc) from exc


def _contract_name(fn: Call, decoder: RevertDecoder) -> str:
    return decoder.contract_names.get(getattr(fn, "address", None) or "", "contract")


__all__ = ["ContractReverted", "TxSender", "call"]


def _fn_name(fn: Any) -> str:
    return getattr(fn, "fn_name", None) or "constructor"
