"""From the members of ConsortiumRegistry to the nodes and allowlists of a Besu network.

This is where a member description is checked and turned into what every exported file shares:
the validator of each member (address, enode, endpoints), the accounts allowed to transact and
the enode URLs allowed to connect. All problems are gathered before raising, so an operator sees
every bad registry entry at once.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from eth_utils import is_address

from nodes.network.errors import NetworkConfigError
from nodes.network.keys import node_private_key, normalise_enode_pubkey

if TYPE_CHECKING:
    from nodes.network.besu import BesuMember

MEMBER_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
"""Member ids name the member's directory in the export, so they must be safe path segments."""

MAX_PORT = 65535

_ENODE_URL = re.compile(
    r"^enode://(?P<pubkey>[0-9a-fA-F]{128})@(?P<host>\[[^\]]+\]|[^:/?\[\]]+):(?P<port>\d{1,5})"
    r"(?:\?discport=\d{1,5})?$"
)


@dataclass(frozen=True)
class ValidatorNode:
    """One member's validator: who it is, the key it signs with and where it listens."""

    member_id: str
    name: str
    address: str
    pubkey: str
    host: str
    p2p_port: int
    rpc_port: int
    node_key: bytes = field(repr=False)

    @property
    def enode_url(self) -> str:
        return enode_url(self.pubkey, self.host, self.p2p_port)


@dataclass(frozen=True)
class ExtraNode:
    """A non-validator node a member registered; ``assigned`` when only its key was registered."""

    member_id: str
    url: str
    assigned: bool


@dataclass(frozen=True)
class Consortium:
    """Validated members, in the order given, with everything the export files share."""

    validators: tuple[ValidatorNode, ...]
    extra_nodes: tuple[ExtraNode, ...]
    accounts: tuple[str, ...]

    @property
    def nodes_allowlist(self) -> tuple[str, ...]:
        return tuple(v.enode_url for v in self.validators) + tuple(n.url for n in self.extra_nodes)


def enode_url(pubkey: str, host: str, port: int) -> str:
    """``enode://<pubkey>@host:port``, bracketing IPv6 hosts as enode URLs require."""
    shown = f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    return f"enode://{pubkey}@{shown}:{port}"


def resolve_consortium(members: Sequence[BesuMember]) -> Consortium:
    """Check ``members`` and derive validators, extra nodes and accounts.

    Raises NetworkConfigError listing every problem: no members, bad or duplicate member ids,
    bad or duplicate node keys, hosts that are not IP addresses, clashing ports, invalid or
    doubly claimed accounts, malformed extra enodes.
    """
    if not members:
        raise NetworkConfigError(
            "no members: a QBFT network needs at least one validator; register members in "
            "ConsortiumRegistry first"
        )
    problems: list[str] = []
    _check_member_ids(members, problems)
    validators = [v for m in members if (v := _resolve_validator(m, problems)) is not None]
    _check_unique_validators(validators, problems)
    endpoints = _claim_validator_endpoints(validators, problems)
    extra_nodes = _resolve_extra_nodes(members, validators, endpoints, problems)
    accounts = _resolve_accounts(members, problems)
    if problems:
        raise NetworkConfigError(problems)
    return Consortium(tuple(validators), tuple(extra_nodes), tuple(accounts))


def _check_member_ids(members: Sequence[BesuMember], problems: list[str]) -> None:
    spellings: dict[str, list[str]] = {}
    for member in members:
        member_id = member.member_id
        if not isinstance(member_id, str) or not MEMBER_ID_PATTERN.match(member_id):
            problems.append(
                f"member id {member_id!r} is not usable as a directory name; use 1-32 letters, "
                "digits, '-' or '_' starting with a letter or digit (for example 'TW')"
            )
            continue
        spellings.setdefault(member_id.casefold(), []).append(member_id)
    for ids in spellings.values():
        if len(ids) > 1:
            problems.append(
                f"duplicate member id {ids[0]!r}: given {len(ids)} times ({', '.join(map(repr, ids))}); "
                "member ids name directories, so they must be unique ignoring case"
            )


def _resolve_validator(member: BesuMember, problems: list[str]) -> ValidatorNode | None:
    owner = f"member {member.member_id!r}"
    checks = [
        _check_name(member.name, owner, problems),
        _check_host(member.host, owner, problems),
        _check_port(member.p2p_port, f"{owner} p2p_port", problems),
        _check_port(member.rpc_port, f"{owner} rpc_port", problems),
    ]
    try:
        key = node_private_key(member.node_key, owner=owner)
    except NetworkConfigError as exc:
        problems.extend(exc.problems)
        return None
    if not all(checks):
        return None
    return ValidatorNode(
        member_id=member.member_id,
        name=member.name,
        address=key.public_key.to_checksum_address(),
        pubkey=key.public_key.to_bytes().hex(),
        host=member.host,
        p2p_port=member.p2p_port,
        rpc_port=member.rpc_port,
        node_key=bytes(member.node_key),
    )


def _check_name(name: object, owner: str, problems: list[str]) -> bool:
    """Names are printed into TOML comments and a Markdown table: one line of text, no '|'."""
    if not isinstance(name, str) or not name.strip() or not name.isprintable() or "|" in name:
        problems.append(f"{owner}: name {name!r} must be one line of printable text without '|'")
        return False
    return True


def _check_host(host: object, owner: str, problems: list[str]) -> bool:
    try:
        ipaddress.ip_address(host)  # type: ignore[arg-type]
    except ValueError:
        problems.append(
            f"{owner}: host {host!r} is not an IP address; Besu's nodes-allowlist matches enode "
            "URLs by IP (hostnames need --Xdns-enabled), so give the node's IP address"
        )
        return False
    return True


def _check_port(port: object, owner: str, problems: list[str]) -> bool:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= MAX_PORT:
        problems.append(f"{owner} must be a TCP port between 1 and {MAX_PORT}, got {port!r}")
        return False
    return True


def _check_unique_validators(validators: Sequence[ValidatorNode], problems: list[str]) -> None:
    by_address: dict[str, str] = {}
    for validator in validators:
        other = by_address.setdefault(validator.address, validator.member_id)
        if other != validator.member_id:
            problems.append(
                f"duplicate node key: members {other!r} and {validator.member_id!r} share "
                f"validator {validator.address}; each member needs its own node key"
            )


def _claim_validator_endpoints(
    validators: Sequence[ValidatorNode], problems: list[str]
) -> dict[tuple[str, int], str]:
    """Every (ip, port) a validator listens on, refusing two listeners on one endpoint."""
    used: dict[tuple[str, int], str] = {}
    for v in validators:
        for port, role in ((v.p2p_port, "p2p"), (v.rpc_port, "rpc")):
            endpoint = (_canonical_ip(v.host), port)
            label = f"member {v.member_id!r} {role}"
            if endpoint in used:
                problems.append(
                    f"{label} port {v.host}:{port} is already used by {used[endpoint]}; "
                    "give every node on one host its own p2p_port and rpc_port"
                )
            used.setdefault(endpoint, label)
    return used


def _resolve_extra_nodes(
    members: Sequence[BesuMember],
    validators: Sequence[ValidatorNode],
    used: dict[tuple[str, int], str],
    problems: list[str],
) -> list[ExtraNode]:
    """Extra enodes as URLs; a bare public key gets the next free port on the member's host.

    Besu's local nodes-allowlist matches node id, IP and port together, so a key alone cannot be
    allowlisted. Rather than guess silently, the export assigns the endpoint and the README tells
    the operator to start that node there (or to register the full enode URL instead).
    """
    validator_of = {v.pubkey: v.member_id for v in validators}
    home = {v.member_id: v for v in validators}
    seen: dict[str, str] = {}
    nodes: list[ExtraNode] = []
    for member in members:
        if isinstance(member.enodes, str):
            problems.append(
                f"member {member.member_id!r}: enodes must be a sequence, not one string"
            )
            continue
        for entry in member.enodes:
            node = _resolve_extra_node(member, entry, home.get(member.member_id), used, problems)
            if node is None:
                continue
            pubkey = node.url[len("enode://") :].split("@", 1)[0]
            clash = validator_of.get(pubkey) or seen.get(pubkey)
            if clash is not None:
                problems.append(
                    f"member {member.member_id!r}: extra enode {pubkey[:16]}... is already "
                    f"registered for member {clash!r}; list each node once"
                )
                continue
            seen[pubkey] = member.member_id
            nodes.append(node)
    return nodes


def _resolve_extra_node(
    member: BesuMember,
    entry: object,
    validator: ValidatorNode | None,
    used: dict[tuple[str, int], str],
    problems: list[str],
) -> ExtraNode | None:
    owner = f"member {member.member_id!r} extra enode"
    text = entry.strip() if isinstance(entry, str) else ""
    if text.startswith("enode://"):
        return _parse_extra_url(member.member_id, text, owner, used, problems)
    try:
        pubkey = normalise_enode_pubkey(text or repr(entry), owner=owner)
    except NetworkConfigError as exc:
        problems.extend(exc.problems)
        return None
    if validator is None:
        return None  # the member's own problems are already reported
    port = _next_free_port(validator.host, validator.p2p_port, used)
    used[(_canonical_ip(validator.host), port)] = f"{owner} {pubkey[:16]}..."
    return ExtraNode(member.member_id, enode_url(pubkey, validator.host, port), assigned=True)


def _parse_extra_url(
    member_id: str, url: str, owner: str, used: dict[tuple[str, int], str], problems: list[str]
) -> ExtraNode | None:
    match = _ENODE_URL.match(url)
    if match is None:
        problems.append(f"{owner} {url!r} is not an enode URL (enode://<128 hex>@<ip>:<port>)")
        return None
    host = match["host"].strip("[]")
    port = int(match["port"])
    try:
        pubkey = normalise_enode_pubkey(match["pubkey"], owner=owner)
    except NetworkConfigError as exc:
        problems.extend(exc.problems)
        return None
    if not (_check_host(host, owner, problems) and _check_port(port, f"{owner} port", problems)):
        return None
    endpoint = (_canonical_ip(host), port)
    if endpoint in used:
        problems.append(f"{owner} {host}:{port} is already used by {used[endpoint]}")
        return None
    used[endpoint] = f"{owner} {pubkey[:16]}..."
    return ExtraNode(member_id, enode_url(pubkey, host, port), assigned=False)


def _next_free_port(host: str, after: int, used: dict[tuple[str, int], str]) -> int:
    ip = _canonical_ip(host)
    port = after + 1
    while (ip, port) in used:
        port += 1
    if port > MAX_PORT:
        raise NetworkConfigError(f"no free port left above {after} on {host} for an extra node")
    return port


def _resolve_accounts(members: Sequence[BesuMember], problems: list[str]) -> list[str]:
    """All members' accounts, lowercase and 0x-prefixed as Besu's allowlist examples write them."""
    owner_of: dict[str, str] = {}
    for member in members:
        for account in _member_accounts(member, problems):
            other = owner_of.setdefault(account, member.member_id)
            if other != member.member_id:
                problems.append(
                    f"account {account} is listed by both members {other!r} and "
                    f"{member.member_id!r}; an account belongs to one member in ConsortiumRegistry"
                )
    if not owner_of and not problems:
        problems.append(
            "no member has an account: with account permissioning on, nobody could send a "
            "transaction; register at least one account per member in ConsortiumRegistry"
        )
    return list(owner_of)


def _member_accounts(member: BesuMember, problems: list[str]) -> Iterable[str]:
    if isinstance(member.accounts, str):
        problems.append(f"member {member.member_id!r}: accounts must be a sequence, not one string")
        return []
    accounts: dict[str, None] = {}
    for account in member.accounts:
        if not isinstance(account, str) or not is_address(account):
            problems.append(
                f"member {member.member_id!r}: account {account!r} is not a valid address "
                "(0x followed by 40 hex digits, with a correct checksum if mixed case)"
            )
            continue
        accounts[_lower_address(account)] = None
    return list(accounts)


def _lower_address(address: str) -> str:
    return "0x" + address.lower().removeprefix("0x")


def _canonical_ip(host: str) -> str:
    return str(ipaddress.ip_address(host))
