"""What every contract facade shares: the contract, the revert decoder, read calls."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from web3.contract import Contract
from web3.types import TxReceipt

from chain.client import RevertDecoder
from chain.compiler import ContractArtifact
from chain.sender import TxSender, call


class Facade:
    """Base of the typed facades (ConsortiumRegistry, DocumentRegistry, ...)."""

    name: ClassVar[str]

    def __init__(self, contract: Contract, decoder: RevertDecoder) -> None:
        self.contract = contract
        self.decoder = decoder
        decoder.name_contract(contract.address, self.name)

    @property
    def address(self) -> str:
        return self.contract.address

    @classmethod
    def deploy_new(
        cls, sender: TxSender, artifact: ContractArtifact, *ctor_args: Any, decoder: RevertDecoder
    ) -> tuple[Self, TxReceipt]:
        """Deploy a fresh instance (tests, tools) and return its facade and the receipt."""
        w3 = sender.w3
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = sender.transact(factory.constructor(*ctor_args))
        contract = w3.eth.contract(
            address=receipt["contractAddress"], abi=artifact.abi, decode_tuples=True
        )
        return cls(contract, decoder), receipt

    def _call(self, fn_name: str, *args: Any) -> Any:
        """A view call; reverts come back as ContractReverted with the custom error."""
        return call(getattr(self.contract.functions, fn_name)(*args), self.decoder)
