"""The one keystore: development keys for members, nodes, oracles and devices.

Keys are generated on first use under `var/keys/` (never committed) and loaded from there
afterwards, so every process of one installation agrees on the same identities.  Each key
is a 32-byte secret stored as hex in its own file with mode 0600; creation is atomic and
race-free (several node processes may start at once and ask for the same key).

Kinds of key, one directory each:
- `accounts/`  secp256k1 transaction signers (member admins, role holders, oracles, deployer)
- `nodes/`     secp256k1 node keys; their public key is the node's enode id
- `box/`       X25519 keys for sealed-box encryption of documents between members
- `signing/`   Ed25519 keys (devices such as on-board units)
- `secrets/`   other 32-byte secrets (the selectivity sampling seed)

Node-to-node envelopes are signed with the member's ISSUER account (`accounts/`), which the
registry binds to the member, so the receiver can check membership on chain.

A production node keeps the same layout on an encrypted volume or swaps this module's
loader for an HSM; nothing else reads key files directly.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys import keys as eth_keys
from nacl.public import PrivateKey as BoxPrivateKey
from nacl.signing import SigningKey

from offchain.errors import CodedError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$")
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class KeystoreError(CodedError, ValueError):
    """A key name or key file that cannot be used."""

    code = "keystore_error"


class Keystore:
    """Loads keys by name from a directory, creating missing ones."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def account(self, name: str) -> LocalAccount:
        """The secp256k1 account called `name` (e.g. `TW/admin`, `deployer`)."""
        return Account.from_key(self._secret("accounts", name, _valid_secp256k1))

    def node_key(self, name: str) -> bytes:
        """A node's 32-byte secp256k1 private key; its public key is the enode id."""
        return self._secret("nodes", name, _valid_secp256k1)

    def enode_id(self, name: str) -> str:
        """The 128-hex-digit enode id (uncompressed public key without prefix) of a node."""
        return eth_keys.PrivateKey(self.node_key(name)).public_key.to_bytes().hex()

    def box_key(self, name: str) -> BoxPrivateKey:
        """The X25519 key used to open documents sealed for `name` (a member id)."""
        return BoxPrivateKey(self._secret("box", name, lambda _: True))

    def signing_key(self, name: str) -> SigningKey:
        """The Ed25519 key called `name` (a device or a node envelope signer)."""
        return SigningKey(self._secret("signing", name, lambda _: True))

    def secret(self, name: str) -> bytes:
        """A 32-byte random secret (e.g. the selectivity sampling seed), made on first use."""
        return self._secret("secrets", name, lambda _: True)

    def exists(self, kind: str, name: str) -> bool:
        return self._path(kind, name).exists()

    def _path(self, kind: str, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise KeystoreError(
                f"invalid key name {name!r}: use letters, digits, '.', '_', '-' and '/' "
                "between parts (no leading dot, no '..')"
            )
        return self.root / kind / f"{name}.key"

    def _secret(self, kind: str, name: str, valid) -> bytes:
        path = self._path(kind, name)
        if not path.exists():
            self._create(path, valid)
        text = path.read_text().strip()
        try:
            raw = bytes.fromhex(text.removeprefix("0x"))
        except ValueError as exc:
            raise KeystoreError(f"key file {path} is not hex; delete it to regenerate") from exc
        if len(raw) != 32 or not valid(raw):
            raise KeystoreError(f"key file {path} does not hold a valid 32-byte key")
        return raw

    @staticmethod
    def _create(path: Path, valid) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        while True:
            raw = secrets.token_bytes(32)
            if valid(raw):
                break
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (raw.hex() + "\n").encode())
            os.fsync(fd)
            os.close(fd)
            with contextlib.suppress(FileExistsError):  # another process won the race
                os.link(tmp, path)  # atomic: never a half-written key file
        finally:
            os.unlink(tmp)


def _valid_secp256k1(raw: bytes) -> bool:
    return 0 < int.from_bytes(raw, "big") < _SECP256K1_N


# Naming of the consortium's identities: one convention, used by deployment and nodes.


def member_admin_name(member_id: str) -> str:
    """Key name of a member's admin account (proposes and votes in governance)."""
    return f"{member_id}/admin"


def role_account_name(member_id: str, role: str) -> str:
    """Key name of the account through which a member exercises `role`."""
    return f"{member_id}/{role.lower()}"


def oracle_account_name(member_id: str, kind: str) -> str:
    """Key name of the signer of a member's oracle instance of `kind` (e.g. CLEARANCE)."""
    return f"{member_id}/oracle-{kind.lower()}"


DEPLOYER = "deployer"
