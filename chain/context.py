"""One object that holds what a process needs to use the deployed contracts.

Why: a node, the CLI and the tests all need the same four things — a connection, the
compiled ABIs, the deployment record, and one TxSender per account (so that concurrent
callers in one process share a nonce counter).  Building them in one place keeps that
consistent.
"""

from __future__ import annotations

import threading
from functools import cached_property

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from chain.attestations import AttestationHub
from chain.client import RevertDecoder, connect
from chain.compiler import ContractArtifact, all_abis, compile_contracts
from chain.deploy import Deployment, load_deployment, reusable
from chain.documents import DocumentRegistry
from chain.errors import DeploymentMissing
from chain.permits import PermitRegistry
from chain.registry import ConsortiumRegistry
from chain.sender import TxSender
from chain.transport import TransportLedger
from offchain.keystore import Keystore
from offchain.settings import Settings, get_settings


class Chain:
    """Connection + artifacts + deployment + senders for one process."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        w3: Web3 | None = None,
        deployment: Deployment | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self._w3 = w3
        self._deployment = deployment
        self._senders: dict[str, TxSender] = {}
        self._lock = threading.Lock()
        self.keys = Keystore(self.settings.keys_dir)

    @property
    def w3(self) -> Web3:
        if self._w3 is None:
            self._w3 = connect(self.settings)
        return self._w3

    @cached_property
    def artifacts(self) -> dict[str, ContractArtifact]:
        return compile_contracts(self.settings)

    @cached_property
    def decoder(self) -> RevertDecoder:
        return RevertDecoder(all_abis(self.artifacts))

    @property
    def deployment(self) -> Deployment:
        if self._deployment is None:
            found = load_deployment(self.settings.deployment_file)
            if found is None:
                raise DeploymentMissing(
                    f"no deployment recorded at {self.settings.deployment_file}; run "
                    "`smartcustoms deploy` (or `make run`)"
                )
            why = reusable(self.w3, found, self.artifacts)
            if why is not None:
                raise DeploymentMissing(
                    f"the recorded deployment does not match the chain: {why}; run "
                    "`smartcustoms deploy`"
                )
            self._deployment = found
        return self._deployment

    def contract(self, name: str) -> Contract:
        return self.w3.eth.contract(
            address=Web3.to_checksum_address(self.deployment.address(name)),
            abi=self.artifacts[name].abi,
            decode_tuples=True,
        )

    @cached_property
    def registry(self) -> ConsortiumRegistry:
        return ConsortiumRegistry(self.contract("ConsortiumRegistry"), self.decoder)

    @cached_property
    def documents(self) -> DocumentRegistry:
        return DocumentRegistry(self.contract("DocumentRegistry"), self.decoder)

    @cached_property
    def permits(self) -> PermitRegistry:
        return PermitRegistry(self.contract("PermitRegistry"), self.decoder)

    @cached_property
    def transport(self) -> TransportLedger:
        return TransportLedger(self.contract("TransportLedger"), self.decoder)

    @cached_property
    def attestations(self) -> AttestationHub:
        return AttestationHub(self.contract("AttestationHub"), self.decoder)

    def sender(self, account: LocalAccount | str) -> TxSender:
        """The process-wide sender of an account (by key name or LocalAccount)."""
        acct = self.keys.account(account) if isinstance(account, str) else account
        with self._lock:
            found = self._senders.get(acct.address)
            if found is None:
                found = TxSender(
                    self.w3,
                    acct,
                    self.decoder,
                    receipt_timeout_s=self.settings.chain.receipt_timeout_s,
                )
                self._senders[acct.address] = found
            return found

    def resync_senders(self) -> None:
        """After the chain was rewound (tests' evm_revert), nonces must be read again."""
        with self._lock:
            for sender in self._senders.values():
                sender.resync()
