"""How member ids and role names become the bytes32 values the contracts use."""

from __future__ import annotations

from eth_utils import keccak

from offchain.settings import ROLE_NAMES


def member_id_bytes(member_id: str) -> bytes:
    """`"TW"` -> ASCII right-padded to 32 bytes, as ConsortiumRegistry stores ids."""
    raw = member_id.encode("ascii")
    if not raw or len(raw) > 32:
        raise ValueError(f"member id must be 1-32 ASCII characters, got {member_id!r}")
    return raw.ljust(32, b"\0")


def member_id_str(raw: bytes) -> str:
    return bytes(raw).rstrip(b"\0").decode("ascii", errors="replace")


def role_id(role: str) -> bytes:
    """keccak256 of the role name, e.g. ISSUER_ROLE = keccak256("ISSUER")."""
    name = role.upper().removesuffix("_ROLE")
    if name not in ROLE_NAMES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLE_NAMES)}")
    return keccak(text=name)


ROLE_BY_ID = {keccak(text=r): r for r in ROLE_NAMES}
