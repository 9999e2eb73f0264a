"""What every contract facade shares: the contract, the revert decoder, read calls."""

from __future__ import annotations

from typing import Any, ClassVar, Self

import eth_abi
from eth_typing import HexStr
from eth_utils import function_signature_to_4byte_selector
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.types import TxReceipt

from chain.client import RevertDecoder, chain_errors, endpoint
from chain.compiler import ContractArtifact
from chain.sender import TxSender, call
from offchain.hexbytes import hex0x


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
        address, receipt = sender.deploy(artifact.abi, artifact.bytecode, *ctor_args)
        contract = sender.w3.eth.contract(address=address, abi=artifact.abi, decode_tuples=True)
        return cls(contract, decoder), receipt

    def _call(self, fn_name: str, *args: Any) -> Any:
        """A view call; reverts come back as ContractReverted with the custom error."""
        return call(getattr(self.contract.functions, fn_name)(*args), self.decoder)

    def _call_encoded(
        self, fn_name: str, arg_types: list[str], args: list[Any], out_types: list[str]
    ) -> tuple[Any, ...]:
        """A view call with its arguments ABI-encoded here (eth_abi), for long arrays.

        Why: web3 runs every argument through its formatters, about a quarter of a
        millisecond per element of a `bytes32[]`, so asking for the status of a batch of
        1,024 documents cost longer than the call itself.  Same reverts as `_call`.
        """
        signature = f"{fn_name}({','.join(arg_types)})"
        data = function_signature_to_4byte_selector(signature) + eth_abi.encode(arg_types, args)
        w3 = self.contract.w3
        try:
            with chain_errors(endpoint(w3)):
                raw = w3.eth.call({"to": self.contract.address, "data": HexStr(hex0x(data))})
        except ContractLogicError as exc:
            raise self.decoder.reverted(self.name, fn_name, exc) from exc
        return eth_abi.decode(out_types, bytes(raw))
