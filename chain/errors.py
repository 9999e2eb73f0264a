"""Errors of the chain layer, each with a message a person can act on."""

from __future__ import annotations

import re
import time
from typing import Any

from offchain.errors import CodedError
from offchain.hexbytes import hex0x


class ChainError(CodedError):
    """Base of everything the chain layer raises on purpose; the class is the code."""

    code = "chain_error"


class ChainUnavailable(ChainError):
    """No Ethereum JSON-RPC endpoint answers at the configured URL."""

    code = "chain_unavailable"


class PortInUse(ChainError):
    """A port we must listen on is already taken by another process."""

    code = "port_in_use"


class CompileError(ChainError):
    """Solidity sources did not compile; the message lists `file:line: message` lines."""

    code = "compile_error"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Solidity compilation failed:\n" + "\n".join(problems))


class DeploymentMissing(ChainError):
    """The contracts are not deployed on the chain we talk to."""

    code = "deployment_missing"


class ContractReverted(ChainError):
    """A contract call reverted; carries the decoded custom error, not a hex blob."""

    code = "contract_reverted"

    def __init__(
        self,
        contract: str,
        function: str,
        error: str,
        args: dict[str, Any] | None = None,
        raw: str = "",
    ) -> None:
        self.contract = contract
        self.function = function
        self.error = error
        self.error_args = args or {}
        self.raw = raw
        shown = ", ".join(f"{k}={_show(v, k)}" for k, v in self.error_args.items())
        super().__init__(f"{contract}.{function} reverted: {error}({shown})")


class TransactionFailed(ChainError):
    """A transaction was mined but failed, or was never mined in time."""

    code = "transaction_failed"


def readable(value: Any) -> Any:
    """Decoded error arguments as a person reads them: bytes32 ids as text, bytes as hex."""
    if isinstance(value, bytes):
        stripped = value.rstrip(b"\0")
        if stripped and len(value) == 32 and all(32 < b < 127 for b in stripped):
            return stripped.decode()
        return hex0x(value)
    if isinstance(value, (list, tuple)):
        return [readable(v) for v in value]
    return value


_TIME_ARGS = re.compile(r"(deadline|now|time|.*(At|Ts|Time|From|To|Before|After))$")


def _show(value: Any, name: str = "") -> str:
    """An error argument as a person reads it; a time (by its name: `deadline`, `validTo`,
    `issuedAt`, `nowTs`, ...) as ISO 8601 in UTC, not Unix seconds."""
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and _TIME_ARGS.fullmatch(name)
        and 0 < value < 2**40
    ):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))
    shown = readable(value)
    return repr(shown) if isinstance(shown, str) and not shown.startswith("0x") else str(shown)
