"""Export a Hyperledger Besu QBFT network for the members of the consortium.

The embedded chain is a single anvil process. When customs administrations run the network
together, each needs its own validator; ``write_besu_network`` writes everything those validators
need — genesis, keys, Besu configuration, static nodes and the local permissioning files exported
from ConsortiumRegistry — into one directory. It is pure: it never talks to a chain; the CLI reads
the registry and passes the members in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_utils import is_address

from nodes.network.consortium import Consortium, resolve_consortium
from nodes.network.errors import NetworkConfigError
from nodes.network.files import SECRET_FILE_MODE, prepare_output_directory, write_atomic
from nodes.network.qbft import besu_validator_order, decode_qbft_extra_data, encode_qbft_extra_data
from nodes.network.render import (
    DATA_DIR,
    DEFAULT_ACCOUNT_BALANCE_WEI,
    GENESIS_FILE,
    NODE_CONFIG_FILE,
    PERMISSIONS_FILE,
    PRIVATE_KEY_FILE,
    PUBLIC_KEY_FILE,
    README_FILE,
    STATIC_NODES_FILE,
    Provenance,
    QbftSettings,
    render_genesis,
    render_node_config,
    render_permissions,
    render_private_key,
    render_public_key,
    render_readme,
    render_static_nodes,
)
from offchain.hexbytes import hex0x

DEFAULT_HOST = "127.0.0.1"
DEFAULT_P2P_PORT = 30303
DEFAULT_RPC_PORT = 8545


@dataclass(frozen=True)
class BesuMember:
    """One member administration as ConsortiumRegistry describes it, plus its validator's key.

    ``enodes`` are the member's other registered nodes: 128-hex public keys, or full
    ``enode://<pubkey>@<ip>:<port>`` URLs when the endpoint is known.
    """

    member_id: str
    name: str
    node_key: bytes
    accounts: tuple[str, ...]
    enodes: tuple[str, ...]
    host: str = DEFAULT_HOST
    p2p_port: int = DEFAULT_P2P_PORT
    rpc_port: int = DEFAULT_RPC_PORT


@dataclass(frozen=True)
class BesuNetwork:
    """What was written: the validator set as the genesis holds it, the allowlists, the files."""

    out: Path
    chain_id: int
    extra_data: str
    validators: tuple[str, ...]
    validator_enodes: dict[str, str]
    nodes_allowlist: tuple[str, ...]
    accounts_allowlist: tuple[str, ...]
    files: tuple[Path, ...]

    @property
    def fault_tolerance(self) -> int:
        """How many validators may fail while QBFT still finalises blocks."""
        return (len(self.validators) - 1) // 3


def write_besu_network(
    out: Path,
    members: Sequence[BesuMember],
    *,
    chain_id: int,
    registry_address: str | None = None,
    registry_block: int | None = None,
    block_period_s: int = 2,
    request_timeout_s: int = 10,
    epoch_length: int = 30000,
    prefunded: Mapping[str, int] | None = None,
    overwrite: bool = False,
) -> BesuNetwork:
    """Write a Besu QBFT network of ``members`` into ``out`` and describe what was written.

    ``registry_address`` and ``registry_block`` record where the allowlists came from, so the
    files say when they need re-exporting. ``prefunded`` adds or overrides genesis balances (wei)
    beyond the default funding of every member account.

    Raises NetworkConfigError, listing every problem, when the members or settings cannot form a
    working network, when ``out`` is not empty and ``overwrite`` is false, or when overwriting
    would change the genesis of a network that has already been started.
    """
    settings = _check_settings(chain_id, block_period_s, request_timeout_s, epoch_length)
    provenance = _check_provenance(registry_address, registry_block)
    balances = _check_balances(prefunded)
    consortium = resolve_consortium(members)
    validators = besu_validator_order([v.address for v in consortium.validators])
    extra_data = hex0x(encode_qbft_extra_data(validators))
    _assert_round_trip(extra_data, validators)

    genesis = render_genesis(settings, extra_data, _genesis_balances(consortium, balances))
    out = Path(out)
    prepare_output_directory(out, overwrite=overwrite)
    _refuse_genesis_change_of_started_network(out, consortium, genesis)

    written = _write_member_files(out, consortium, provenance)
    written.append(
        write_atomic(out / STATIC_NODES_FILE, render_static_nodes(consortium.validators))
    )
    written.append(
        write_atomic(out / README_FILE, render_readme(consortium, settings, provenance, validators))
    )
    # Genesis last: in a fresh directory, a genesis.json means every other file is complete.
    written.append(write_atomic(out / GENESIS_FILE, genesis))
    return BesuNetwork(
        out=out,
        chain_id=chain_id,
        extra_data=extra_data,
        validators=tuple(validators),
        validator_enodes={v.member_id: v.enode_url for v in consortium.validators},
        nodes_allowlist=consortium.nodes_allowlist,
        accounts_allowlist=consortium.accounts,
        files=tuple(written),
    )


def _check_settings(
    chain_id: int, block_period_s: int, request_timeout_s: int, epoch_length: int
) -> QbftSettings:
    problems = [
        f"{label} must be a positive integer, got {value!r}"
        for label, value in (
            ("chain_id", chain_id),
            ("block_period_s", block_period_s),
            ("request_timeout_s", request_timeout_s),
            ("epoch_length", epoch_length),
        )
        if not _positive_int(value)
    ]
    if problems:
        raise NetworkConfigError(problems)
    return QbftSettings(chain_id, block_period_s, request_timeout_s, epoch_length)


def _check_provenance(registry_address: str | None, registry_block: int | None) -> Provenance:
    problems = []
    if registry_address is not None and not (
        isinstance(registry_address, str) and is_address(registry_address)
    ):
        problems.append(f"registry_address {registry_address!r} is not an address")
    if registry_block is not None and not (_positive_int(registry_block) or registry_block == 0):
        problems.append(f"registry_block must be a block number (>= 0), got {registry_block!r}")
    if problems:
        raise NetworkConfigError(problems)
    return Provenance(registry_address, registry_block)


def _check_balances(prefunded: Mapping[str, int] | None) -> dict[str, int]:
    problems, balances = [], {}
    for address, wei in (prefunded or {}).items():
        if not (isinstance(address, str) and is_address(address)):
            problems.append(f"prefunded address {address!r} is not an address")
        elif not (_positive_int(wei) or wei == 0):
            problems.append(f"prefunded balance of {address} must be whole wei >= 0, got {wei!r}")
        else:
            balances["0x" + address.lower().removeprefix("0x")] = wei
    if problems:
        raise NetworkConfigError(problems)
    return balances


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _genesis_balances(consortium: Consortium, prefunded: Mapping[str, int]) -> dict[str, int]:
    balances = dict.fromkeys(consortium.accounts, DEFAULT_ACCOUNT_BALANCE_WEI)
    balances.update(prefunded)
    return balances


def _assert_round_trip(extra_data: str, validators: Sequence[str]) -> None:
    """Decode what was encoded before writing it: a wrong genesis must never reach disk."""
    decoded = decode_qbft_extra_data(extra_data)
    if (
        list(decoded.validators) != list(validators)
        or decoded.vote
        or decoded.round
        or decoded.seals
    ):
        raise AssertionError(f"QBFT extraData does not decode to its validators: {extra_data}")


def _refuse_genesis_change_of_started_network(
    out: Path, consortium: Consortium, genesis: str
) -> None:
    """A re-export after a vote must not swap the genesis under running validators."""
    existing = out / GENESIS_FILE
    if not existing.is_file() or existing.read_text("utf-8") == genesis:
        return
    started = [
        v.member_id for v in consortium.validators if (out / v.member_id / DATA_DIR).exists()
    ]
    if started:
        raise NetworkConfigError(
            f"{out} holds a network that has already run (data directory of "
            f"{', '.join(started)}) and the new genesis differs from its genesis.json. A running "
            "chain keeps its genesis: change validators with qbft_proposeValidatorVote, and "
            "export to a new directory to take only the new permissions_config.toml files"
        )


def _write_member_files(out: Path, consortium: Consortium, provenance: Provenance) -> list[Path]:
    permissions = render_permissions(consortium, provenance)
    written: list[Path] = []
    for validator in consortium.validators:
        directory = out / validator.member_id
        written += [
            write_atomic(
                directory / PRIVATE_KEY_FILE,
                render_private_key(validator.node_key),
                mode=SECRET_FILE_MODE,
            ),
            write_atomic(directory / PUBLIC_KEY_FILE, render_public_key(validator.pubkey)),
            write_atomic(directory / PERMISSIONS_FILE, permissions),
            write_atomic(directory / NODE_CONFIG_FILE, render_node_config(validator)),
        ]
    return written
