"""What every contract facade shares: the contract, the revert decoder, read calls."""

from __future__ import annotations

from typing import Any, ClassVar

from web3.contract import Contract

from chain.client import RevertDecoder
from chain.sender import call


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

    def _call(self, fn_name: str, *args: Any) -> Any:
        """A view call; reverts come back as ContractReverted with the custom error."""
        return call(getattr(self.contract.functions, fn_name)(*args), self.decoder)
