"""The text of each exported file, as pure functions of the validated consortium.

Keeping rendering free of I/O makes every file testable by parsing it back, and makes the export
deterministic: the same registry state always yields byte-identical files, so a re-export after a
governance change shows up as a readable diff.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from string import Template

from nodes.network.consortium import Consortium, ValidatorNode
from offchain.hexbytes import hex0x

# Besu format facts, each from Besu's documentation or source.
GENESIS_MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
"""BFT blocks must carry this mixHash ("ctical byzantine fault tolerance"); Besu's QBFT genesis
examples use it for the genesis block too."""

GENESIS_GAS_LIMIT = "0x29b92700"
"""700,000,000 gas, the block gas limit of Besu's QBFT genesis example: ample for contract
deployments on a private network without the unbounded 0x1fffffffffffff."""

MILESTONES: Mapping[str, int] = {
    "berlinBlock": 0,
    "londonBlock": 0,
    "shanghaiTime": 0,
    "cancunTime": 0,
}
"""All forks up to Cancun from genesis: solc 0.8.30 and OpenZeppelin 5 emit PUSH0 (Shanghai) and
MCOPY (Cancun). Shanghai and later forks are activated by timestamp, earlier ones by block."""

DEFAULT_ACCOUNT_BALANCE_WEI = 10**24
"""One million ether per member account. Gas is free (zeroBaseFee, min-gas-price 0), but tools
that price transactions themselves still check balances, so accounts start funded."""

RPC_APIS = ("ETH", "NET", "WEB3", "QBFT", "PERM")
"""QBFT to watch validators; PERM so perm_reloadPermissionsFromFile can apply a re-export."""

RPC_HOST = "127.0.0.1"
"""JSON-RPC stays on loopback: each member's services run beside its validator."""

PERMISSIONS_FILE = "permissions_config.toml"
NODE_CONFIG_FILE = "config.toml"
PRIVATE_KEY_FILE = "key"
PUBLIC_KEY_FILE = "key.pub"
DATA_DIR = "data"
GENESIS_FILE = "genesis.json"
STATIC_NODES_FILE = "static-nodes.json"
README_FILE = "README.md"


@dataclass(frozen=True)
class QbftSettings:
    """Network-wide values that go into the genesis file."""

    chain_id: int
    block_period_s: int
    request_timeout_s: int
    epoch_length: int


@dataclass(frozen=True)
class Provenance:
    """Where the allowlists came from, printed into the files that must be re-exported."""

    registry_address: str | None
    registry_block: int | None

    def describe(self) -> str:
        where = self.registry_address or "an unrecorded address"
        when = (
            "an unrecorded block" if self.registry_block is None else f"block {self.registry_block}"
        )
        return f"ConsortiumRegistry at {where}, {when}"


def member_path(member_id: str, filename: str) -> str:
    """A path relative to the network directory; Besu resolves config paths from its cwd."""
    return f"{member_id}/{filename}"


def render_genesis(settings: QbftSettings, extra_data: str, balances: Mapping[str, int]) -> str:
    """The QBFT genesis file; ``balances`` maps lowercase 0x addresses to wei."""
    document = {
        "config": {
            "chainId": settings.chain_id,
            **MILESTONES,
            "zeroBaseFee": True,
            "qbft": {
                "blockperiodseconds": settings.block_period_s,
                "epochlength": settings.epoch_length,
                "requesttimeoutseconds": settings.request_timeout_s,
            },
        },
        "nonce": "0x0",
        "timestamp": "0x0",
        "extraData": extra_data,
        "gasLimit": GENESIS_GAS_LIMIT,
        "difficulty": "0x1",
        "mixHash": GENESIS_MIX_HASH,
        "coinbase": "0x" + "00" * 20,
        "alloc": {
            address.removeprefix("0x"): {"balance": hex(wei)}
            for address, wei in sorted(balances.items())
        },
    }
    return json.dumps(document, indent=2) + "\n"


def render_permissions(consortium: Consortium, provenance: Provenance) -> str:
    """Besu's local permissioning file (``accounts-allowlist`` and ``nodes-allowlist``)."""
    header = [
        "Besu local permissioning, exported by `smartcustoms network besu`",
        f"from {provenance.describe()}.",
        "Re-export after every membership, account or node change in ConsortiumRegistry,",
        "then call perm_reloadPermissionsFromFile on each validator (or restart it).",
    ]
    return _toml(
        header,
        [
            ("accounts-allowlist", list(consortium.accounts)),
            ("nodes-allowlist", list(consortium.nodes_allowlist)),
        ],
    )


def render_node_config(validator: ValidatorNode) -> str:
    """The Besu configuration file of one member's validator."""
    member = validator.member_id
    permissions = member_path(member, PERMISSIONS_FILE)
    header = [
        f"Besu configuration of the validator of {member} ({validator.name}).",
        "Paths are relative to the network directory: run",
        f"  besu --config-file={member_path(member, NODE_CONFIG_FILE)}",
        "from there.",
    ]
    return _toml(
        header,
        [
            ("data-path", member_path(member, DATA_DIR)),
            ("genesis-file", GENESIS_FILE),
            ("node-private-key-file", member_path(member, PRIVATE_KEY_FILE)),
            ("profile", "ENTERPRISE"),
            ("min-gas-price", 0),
            ("p2p-host", validator.host),
            ("p2p-port", validator.p2p_port),
            ("discovery-enabled", False),
            ("static-nodes-file", STATIC_NODES_FILE),
            ("rpc-http-enabled", True),
            ("rpc-http-host", RPC_HOST),
            ("rpc-http-port", validator.rpc_port),
            ("rpc-http-api", list(RPC_APIS)),
            ("host-allowlist", ["localhost", RPC_HOST]),
            ("permissions-nodes-config-file-enabled", True),
            ("permissions-nodes-config-file", permissions),
            ("permissions-accounts-config-file-enabled", True),
            ("permissions-accounts-config-file", permissions),
        ],
    )


def render_static_nodes(validators: Sequence[ValidatorNode]) -> str:
    """The enode URLs every validator keeps connected to (discovery is off)."""
    return json.dumps([v.enode_url for v in validators], indent=2) + "\n"


def render_private_key(node_key: bytes) -> str:
    """One line of 0x-prefixed hex, as Besu's KeyPairUtil writes and reads the ``key`` file."""
    return hex0x(node_key)


def render_public_key(pubkey: str) -> str:
    return "0x" + pubkey


def render_readme(
    consortium: Consortium,
    settings: QbftSettings,
    provenance: Provenance,
    validators_in_extra_data: Sequence[str],
) -> str:
    """Operator instructions, filled from the template next to this module."""
    template = Template(
        resources.files("nodes.network.templates").joinpath("README.md").read_text("utf-8")
    )
    count = len(consortium.validators)
    return template.substitute(
        chain_id=settings.chain_id,
        validator_count=count,
        fault_tolerance=(count - 1) // 3,
        block_period_s=settings.block_period_s,
        provenance=provenance.describe(),
        member_table=_member_table(consortium.validators),
        start_commands="\n".join(
            f"    besu --config-file={member_path(v.member_id, NODE_CONFIG_FILE)}"
            for v in consortium.validators
        ),
        service_settings=_service_settings(consortium.validators, settings.chain_id),
        extra_validators="\n".join(f"- `{a}`" for a in validators_in_extra_data),
        extra_nodes=_extra_nodes_section(consortium),
    )


def _member_table(validators: Sequence[ValidatorNode]) -> str:
    rows = [
        "| member | administration | validator address | enode URL | JSON-RPC |",
        "|---|---|---|---|---|",
    ]
    rows += [
        f"| {v.member_id} | {v.name} | `{v.address}` | `{v.enode_url}` | "
        f"`http://{RPC_HOST}:{v.rpc_port}` |"
        for v in validators
    ]
    return "\n".join(rows)


def _service_settings(validators: Sequence[ValidatorNode], chain_id: int) -> str:
    blocks = [
        f"    # {v.member_id}\n"
        f"    export SMARTCUSTOMS_RPC_URL=http://{RPC_HOST}:{v.rpc_port}\n"
        f"    export SMARTCUSTOMS_CHAIN_ID={chain_id}"
        for v in validators
    ]
    return "\n\n".join(blocks)


def _extra_nodes_section(consortium: Consortium) -> str:
    if not consortium.extra_nodes:
        return "No extra nodes are registered; only the validators may connect."
    lines = [
        "These non-validator nodes are in every nodes-allowlist. Besu matches the node key, IP",
        "and port together, so each must listen exactly where listed (`--p2p-host`, `--p2p-port`).",
        "Entries marked *assigned* were registered as a bare public key, so this export chose the",
        "next free port on the member's host; register the full enode URL to choose it yourself.",
        "",
    ]
    lines += [
        f"- {n.member_id}: `{n.url}`" + (" (*assigned*)" if n.assigned else "")
        for n in consortium.extra_nodes
    ]
    return "\n".join(lines)


TomlValue = str | int | bool | list[str]


def _toml(header: Sequence[str], pairs: Sequence[tuple[str, TomlValue]]) -> str:
    lines = [f"# {line}" if line else "#" for line in header]
    lines.append("")
    lines += [f"{key} = {_toml_value(value)}" for key, value in pairs]
    return "\n".join(lines) + "\n"


def _toml_value(value: TomlValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if not value:
        return "[]"
    items = "".join(f"  {_toml_string(item)},\n" for item in value)
    return f"[\n{items}]"


def _toml_string(text: str) -> str:
    """A TOML basic string; JSON's ASCII escapes (\\", \\\\, \\n, \\uXXXX) are all valid TOML."""
    return json.dumps(text, ensure_ascii=True)
