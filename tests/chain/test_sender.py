"""The one transaction sender: local nonces for concurrent callers, pipelining, reverts."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable

import pytest
from eth_account import Account
from web3 import Web3

from chain.client import RevertDecoder
from chain.context import Chain
from chain.deploy import fund_dev_accounts
from chain.devnet import Devnet, free_port
from chain.errors import ChainUnavailable, ContractReverted, TransactionFailed
from chain.ids import member_id_bytes
from chain.registry import ConsortiumRegistry
from chain.sender import TxSender

pytestmark = pytest.mark.contract

TW = member_id_bytes("TW")
SG = member_id_bytes("SG")


def _set_key(registry: ConsortiumRegistry, key: bytes, member: bytes = TW):
    return registry.contract.functions.setX25519Key(member, key)


def _chain_nonce(w3: Web3, sender: TxSender) -> int:
    return w3.eth.get_transaction_count(sender.address)


def _key_of(registry: ConsortiumRegistry, member_id: str) -> str:
    return registry.member(member_id).x25519_key


@pytest.mark.usefixtures("snapshot")
def test_one_transaction_is_mined(
    w3: Web3, registry: ConsortiumRegistry, admin: Callable[[str], TxSender]
) -> None:
    key = os.urandom(32)
    receipt = admin("TW").transact(_set_key(registry, key))
    assert receipt["status"] == 1
    assert _key_of(registry, "TW") == "0x" + key.hex()


@pytest.mark.usefixtures("snapshot")
def test_concurrent_callers_share_one_nonce_counter(
    w3: Web3, registry: ConsortiumRegistry, admin: Callable[[str], TxSender]
) -> None:
    sender = admin("TW")
    start_nonce = _chain_nonce(w3, sender)
    receipts: list = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(10):
                receipt = sender.transact(_set_key(registry, os.urandom(32)))
                with lock:
                    receipts.append(receipt)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert len(receipts) == 40
    assert all(r["status"] == 1 for r in receipts)
    nonces = sorted(w3.eth.get_transaction(r["transactionHash"])["nonce"] for r in receipts)
    assert nonces == list(range(start_nonce, start_nonce + 40))
    assert _chain_nonce(w3, sender) == start_nonce + 40


@pytest.mark.usefixtures("snapshot")
def test_send_many_returns_receipts_in_order(
    w3: Web3, registry: ConsortiumRegistry, admin: Callable[[str], TxSender]
) -> None:
    keys = [os.urandom(32) for _ in range(6)]
    receipts = admin("TW").send_many([_set_key(registry, k) for k in keys])
    assert len(receipts) == 6
    changed = [
        registry.contract.events.X25519KeyChanged().process_receipt(r)[0]["args"]["key"]
        for r in receipts
    ]
    assert changed == keys
    nonces = [w3.eth.get_transaction(r["transactionHash"])["nonce"] for r in receipts]
    assert nonces == sorted(nonces) and len(set(nonces)) == 6
    assert _key_of(registry, "TW") == "0x" + keys[-1].hex()


@pytest.mark.usefixtures("snapshot")
def test_send_many_and_transact_from_threads_share_one_nonce_counter(
    w3: Web3, registry: ConsortiumRegistry, admin: Callable[[str], TxSender]
) -> None:
    sender = admin("TW")
    start_nonce = _chain_nonce(w3, sender)
    receipts: list = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def one_by_one() -> None:
        barrier.wait()
        for _ in range(10):
            receipts.append(sender.transact(_set_key(registry, os.urandom(32))))

    def batched() -> None:
        barrier.wait()
        for _ in range(2):
            receipts.extend(sender.send_many([_set_key(registry, os.urandom(32))] * 5))

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guarded(w)) for w in (one_by_one, batched) * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    nonces = sorted(w3.eth.get_transaction(r["transactionHash"])["nonce"] for r in receipts)
    assert nonces == list(range(start_nonce, start_nonce + 40))


def test_send_many_of_nothing_sends_nothing(admin: Callable[[str], TxSender]) -> None:
    assert admin("TW").send_many([]) == []


@pytest.mark.usefixtures("snapshot")
def test_send_many_reports_a_revert_before_anything_is_sent(
    w3: Web3, registry: ConsortiumRegistry, admin: Callable[[str], TxSender]
) -> None:
    sender = admin("TW")
    nonce, block = _chain_nonce(w3, sender), w3.eth.block_number
    batch = [
        _set_key(registry, os.urandom(32)),
        _set_key(registry, os.urandom(32), member=SG),
        _set_key(registry, os.urandom(32)),
    ]
    with pytest.raises(ContractReverted) as caught:
        sender.send_many(batch)
    assert caught.value.error == "NotMemberAdmin"
    assert _chain_nonce(w3, sender) == nonce
    assert w3.eth.block_number == block


@pytest.mark.usefixtures("snapshot")
def test_send_many_decodes_a_transaction_that_fails_when_mined(
    w3: Web3, registry: ConsortiumRegistry, admin: Callable[[str], TxSender]
) -> None:
    sender = admin("TW")
    nonce = _chain_nonce(w3, sender)
    key = os.urandom(32)
    batch = [_set_key(registry, key), _set_key(registry, os.urandom(32), member=SG)]
    with pytest.raises(ContractReverted) as caught:
        sender.send_many(batch, gas=100_000)
    assert caught.value.error == "NotMemberAdmin"
    assert _chain_nonce(w3, sender) == nonce + 2  # both mined, the second failed
    assert _key_of(registry, "TW") == "0x" + key.hex()


@pytest.mark.usefixtures("snapshot")
def test_send_many_resyncs_when_the_nonce_moves_behind_its_back(
    w3: Web3, chain: Chain, registry: ConsortiumRegistry, admin: Callable[[str], TxSender]
) -> None:
    sender = admin("TW")
    sender.transact(_set_key(registry, os.urandom(32)))
    TxSender(w3, sender.account, chain.decoder).transact(_set_key(registry, os.urandom(32)))
    keys = [os.urandom(32) for _ in range(3)]
    receipts = sender.send_many([_set_key(registry, k) for k in keys])
    changed = [
        registry.contract.events.X25519KeyChanged().process_receipt(r)[0]["args"]["key"]
        for r in receipts
    ]
    assert changed == keys


@pytest.mark.usefixtures("snapshot")
def test_send_many_refused_in_the_middle_tells_what_was_mined(
    w3: Web3, chain: Chain, registry: ConsortiumRegistry, admin: Callable[[str], TxSender]
) -> None:
    sender = admin("TW")
    sender.transact(_set_key(registry, os.urandom(32)))
    # another sender of the same account takes the nonce the batch will start with
    TxSender(w3, sender.account, chain.decoder).transact(_set_key(registry, os.urandom(32)))
    before = _chain_nonce(w3, sender)
    keys = [os.urandom(32) for _ in range(3)]
    try:
        sender.send_many([_set_key(registry, k) for k in keys])
    except TransactionFailed as exc:
        refused = len(re.findall(r"#\d+ ", str(exc).split("; mined")[0]))
        mined = _chain_nonce(w3, sender) - before
        assert mined == refused, f"{mined} of the batch were mined, but: {exc}"
    else:
        assert _key_of(registry, "TW") == "0x" + keys[-1].hex()


@pytest.mark.usefixtures("snapshot")
def test_a_reverting_call_raises_before_anything_is_sent(
    w3: Web3, registry: ConsortiumRegistry, admin: Callable[[str], TxSender]
) -> None:
    sender = admin("TW")
    nonce, block = _chain_nonce(w3, sender), w3.eth.block_number
    with pytest.raises(ContractReverted) as caught:
        sender.transact(_set_key(registry, os.urandom(32), member=SG))  # TW may not touch SG
    exc = caught.value
    assert exc.error == "NotMemberAdmin"
    assert exc.error_args["memberId"] == SG
    assert exc.error_args["caller"].lower() == sender.address.lower()
    assert str(exc).startswith("ConsortiumRegistry.setX25519Key reverted: NotMemberAdmin(")
    assert "memberId='SG'" in str(exc)
    assert _chain_nonce(w3, sender) == nonce
    assert w3.eth.block_number == block
    # the local counter did not move either: the next send uses the same nonce
    receipt = sender.transact(_set_key(registry, os.urandom(32)))
    assert w3.eth.get_transaction(receipt["transactionHash"])["nonce"] == nonce


@pytest.mark.usefixtures("snapshot")
def test_a_transaction_that_fails_when_mined_is_decoded(
    w3: Web3, registry: ConsortiumRegistry, admin: Callable[[str], TxSender]
) -> None:
    sender = admin("TW")
    nonce = _chain_nonce(w3, sender)
    with pytest.raises(ContractReverted) as caught:
        # an explicit gas limit skips the estimate, so the revert happens on chain
        sender.transact(_set_key(registry, os.urandom(32), member=SG), gas=100_000)
    assert caught.value.error == "NotMemberAdmin"
    assert _chain_nonce(w3, sender) == nonce + 1  # it was mined, and failed


@pytest.mark.usefixtures("snapshot")
def test_sender_resyncs_when_the_nonce_moves_behind_its_back(
    w3: Web3, chain: Chain, registry: ConsortiumRegistry, admin: Callable[[str], TxSender]
) -> None:
    sender = admin("TW")
    sender.transact(_set_key(registry, os.urandom(32)))  # the sender now counts locally
    intruder = TxSender(w3, sender.account, chain.decoder)  # e.g. another process, same key
    intruder.transact(_set_key(registry, os.urandom(32)))
    intruder.transact(_set_key(registry, os.urandom(32)))
    before = _chain_nonce(w3, sender)

    key = os.urandom(32)
    receipt = sender.transact(_set_key(registry, key))
    assert receipt["status"] == 1
    assert w3.eth.get_transaction(receipt["transactionHash"])["nonce"] == before
    assert _key_of(registry, "TW") == "0x" + key.hex()
    sender.transact(_set_key(registry, os.urandom(32)))  # and keeps counting from there
    assert _chain_nonce(w3, sender) == before + 2


@pytest.mark.usefixtures("snapshot")
def test_a_refused_transaction_raises_transaction_failed(
    w3: Web3, chain: Chain, registry: ConsortiumRegistry
) -> None:
    broke = TxSender(w3, chain.keys.account("test/broke"), chain.decoder)
    with pytest.raises(TransactionFailed) as caught:
        broke.transact(_set_key(registry, os.urandom(32)), gas=100_000)
    message = str(caught.value)
    assert "ConsortiumRegistry.setX25519Key" in message
    assert broke.address in message
    assert "was refused" in message


@pytest.mark.usefixtures("snapshot")
def test_a_transaction_never_mined_times_out(
    w3: Web3, chain: Chain, registry: ConsortiumRegistry, admin: Callable[[str], TxSender]
) -> None:
    sender = TxSender(w3, admin("TW").account, chain.decoder, receipt_timeout_s=0.5)
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        with pytest.raises(TransactionFailed, match="was not mined within"):
            sender.transact(_set_key(registry, os.urandom(32)))
    finally:
        w3.provider.make_request("anvil_dropAllTransactions", [])
        w3.provider.make_request("evm_setAutomine", [True])


def test_chain_down_raises_chain_unavailable(
    chain: Chain, registry: ConsortiumRegistry, admin: Callable[[str], TxSender]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    dead = Web3(Web3.HTTPProvider(url))
    contract = dead.eth.contract(address=registry.address, abi=registry.contract.abi)
    sender = TxSender(dead, admin("TW").account, RevertDecoder())
    fn = contract.functions.setX25519Key(TW, os.urandom(32))
    with pytest.raises(ChainUnavailable, match="no chain answers"):
        sender.transact(fn)  # fails at the gas estimate
    with pytest.raises(ChainUnavailable, match="no chain answers"):
        sender.transact(fn, gas=100_000)  # fails at the nonce
    with pytest.raises(ChainUnavailable):
        sender.send_many([fn, fn], gas=100_000)


def test_chain_going_down_between_sends_raises_chain_unavailable(
    chain: Chain, registry: ConsortiumRegistry
) -> None:
    with Devnet("127.0.0.1", free_port(), 31337, None) as private:
        w3 = Web3(Web3.HTTPProvider(private.rpc_url))
        account = chain.keys.account("test/private-chain")
        fund_dev_accounts(w3, [account.address], 10**18)
        sender = TxSender(w3, account, RevertDecoder())
        # no code at that address on this chain: a plain call that succeeds
        fn = w3.eth.contract(address=registry.address, abi=registry.contract.abi).functions
        sender.transact(fn.setX25519Key(TW, os.urandom(32)))
        # the sender now has its nonce, fee and chain id cached; only the send itself is left
    with pytest.raises(ChainUnavailable, match="no chain answers"):
        sender.transact(fn.setX25519Key(TW, os.urandom(32)), gas=100_000)


def test_chain_unavailable_from_the_sender_names_the_url(registry: ConsortiumRegistry) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    dead = Web3(Web3.HTTPProvider(url))
    sender = TxSender(dead, Account.create(), RevertDecoder())
    fn = dead.eth.contract(address=registry.address, abi=registry.contract.abi).functions
    with pytest.raises(ChainUnavailable, match=url):
        sender.transact(fn.setX25519Key(TW, os.urandom(32)))
