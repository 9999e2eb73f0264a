"""Session fixtures: a real anvil on a free port, the real compiled contracts deployed once.

Each test that changes chain state takes `snapshot`, which rewinds the chain afterwards
(anvil's evm_snapshot / evm_revert), so tests stay independent without redeploying.  A
module that rewinds once for all its tests uses `rewinding` the same way.

anvil's revert also turns its clock back to the restored head block, i.e. by the time since
that block (a minute or more after a long module), and later blocks keep that lag: a later
test's attestation, stamped with the wall clock, is then refused as `IssuedInFuture`.  So
every rewind here catches the chain's clock up with the wall clock, once, for everyone.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from chain.client import connect
from chain.context import Chain
from chain.deploy import Deployment, ensure_deployed, fund_dev_accounts
from chain.devnet import Devnet, free_port
from chain.registry import ConsortiumRegistry
from chain.sender import TxSender
from offchain.keystore import Keystore, member_admin_name, role_account_name
from offchain.settings import MemberConfig, Settings

# Tests stop `smartcustoms run` and `--follow` commands with SIGINT, as Ctrl-C does.  A suite
# started in the background by a non-interactive shell (`make test &`, nohup, some CI
# runners) inherits SIGINT ignored, and so would every child: they would never stop.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

VOTING_PERIOD_S = 3600


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("var")
    members = [
        MemberConfig(id=mid, name=name, api_port=free_port())
        for mid, name in (
            ("TW", "Taiwan Customs Administration"),
            ("SG", "Singapore Customs"),
            ("NZ", "New Zealand Customs Service"),
        )
    ]
    return Settings(
        home=home,
        chain={"anvil_port": free_port(), "voting_period_s": VOTING_PERIOD_S},
        members=members,
        documents={"batch_interval_s": 0.3, "delivery_base_s": 0.2, "delivery_cap_s": 2.0},
        # Nodes of most tests have no broker; transport tests give theirs one.
        transport={"ingest": False},
    )


@pytest.fixture(scope="session")
def devnet(settings: Settings) -> Iterator[Devnet]:
    with Devnet.from_settings(settings) as dn:
        yield dn


@pytest.fixture(scope="session")
def w3(devnet: Devnet, settings: Settings) -> Web3:
    return connect(settings)


@pytest.fixture(scope="session")
def deployment(settings: Settings, w3: Web3) -> Deployment:
    dep, _ = ensure_deployed(settings, w3)
    return dep


@pytest.fixture(scope="session")
def chain(settings: Settings, w3: Web3, deployment: Deployment) -> Chain:
    return Chain(settings, w3=w3, deployment=deployment)


@pytest.fixture(scope="session")
def registry(chain: Chain) -> ConsortiumRegistry:
    return chain.registry


@pytest.fixture(scope="session")
def keys(settings: Settings) -> Keystore:
    return Keystore(settings.keys_dir)


def rewind(w3: Web3, chain: Chain, snap: str) -> None:
    """Revert to `snap`, catch the chain's clock up with the wall clock (see the module
    docstring: the next block is stamped now, or just after the head if that is later),
    and make the senders read their nonces again."""
    w3.provider.make_request("evm_revert", [snap])
    head = w3.eth.get_block("latest").timestamp
    w3.provider.make_request("evm_setNextBlockTimestamp", [max(int(time.time()), head + 1)])
    w3.provider.make_request("evm_mine", [])  # later blocks follow the wall clock from here
    chain.resync_senders()


@pytest.fixture(scope="session")
def rewinding(w3: Web3, chain: Chain) -> Callable[[], AbstractContextManager[None]]:
    """`with rewinding(): ...`: the chain as it was before the block, its clock caught up.

    For fixtures of any scope, e.g. a module that rewinds once after all its tests::

        @pytest.fixture(scope="module", autouse=True)
        def rewound_after_module(rewinding):
            with rewinding():
                yield
    """

    @contextmanager
    def rewound() -> Iterator[None]:
        snap = w3.provider.make_request("evm_snapshot", [])["result"]
        try:
            yield
        finally:
            rewind(w3, chain, snap)

    return rewound


@pytest.fixture
def snapshot(rewinding) -> Iterator[None]:
    """Rewind the chain after the test (clock caught up); senders forget their nonces."""
    with rewinding():
        yield


@pytest.fixture(scope="session")
def admin(chain: Chain) -> Callable[[str], TxSender]:
    """`admin("TW")` is the sender of TW's governance account."""
    return lambda member_id: chain.sender(member_admin_name(member_id))


@pytest.fixture(scope="session")
def role_account(keys: Keystore) -> Callable[[str, str], LocalAccount]:
    """`role_account("TW", "ISSUER")` is the account TW holds the ISSUER role with."""
    return lambda member_id, role: keys.account(role_account_name(member_id, role))


@pytest.fixture(scope="session")
def funded(chain: Chain, w3: Web3, settings: Settings) -> Callable[[str], TxSender]:
    """`funded("JP/admin")`: a sender for a new keystore account with gas money."""

    def make(name: str) -> TxSender:
        acct = chain.keys.account(name)
        fund_dev_accounts(w3, [acct.address], settings.chain.dev_funding_wei)
        return chain.sender(acct)

    return make


@pytest.fixture
def tmp_home(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture(scope="session")
def uncertain_scan_png() -> bytes:
    """PNG bytes of a generated grey scan the shipped X-ray model judges `uncertain` (a
    class in the review band, none over its alert threshold): the first such of seed 7,
    found by judging them, so a retrained model does not break the tests that need one."""
    import io

    from PIL import Image

    from oracles.xray import synth
    from oracles.xray.model import XrayModel

    model = XrayModel()
    for i in range(60):
        img = Image.fromarray(synth.scan(7, i, size=256, display="grey").image)
        if model.detect(img).verdict == "uncertain":
            buf = io.BytesIO()
            img.save(buf, "PNG")
            return buf.getvalue()
    raise AssertionError("no generated grey scan of seed 7 is uncertain for the shipped model")
