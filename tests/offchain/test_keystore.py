"""The one keystore: keys made on first use, kept private, loaded the same by every process."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

import pytest
from eth_account import Account
from eth_keys import keys as eth_keys
from eth_utils import keccak
from nacl.public import SealedBox
from nacl.signing import VerifyKey

from offchain.keystore import Keystore, KeystoreError, member_admin_name, role_account_name

KINDS = {
    "accounts": lambda ks, n: ks.account(n),
    "nodes": lambda ks, n: ks.node_key(n),
    "box": lambda ks, n: ks.box_key(n),
    "signing": lambda ks, n: ks.signing_key(n),
}


def test_same_name_gives_same_key_across_instances(tmp_path: Path) -> None:
    first, second = Keystore(tmp_path), Keystore(tmp_path)
    assert first.account("TW/admin").key == second.account("TW/admin").key
    assert first.node_key("TW") == second.node_key("TW")
    assert bytes(first.box_key("TW")) == bytes(second.box_key("TW"))
    assert bytes(first.signing_key("dev/obu-1")) == bytes(second.signing_key("dev/obu-1"))


def test_different_names_and_kinds_give_different_keys(tmp_path: Path) -> None:
    ks = Keystore(tmp_path)
    assert ks.account("TW/admin").address != ks.account("SG/admin").address
    assert ks.account("TW").key != ks.node_key("TW")  # same name, another kind, another file
    assert bytes(ks.box_key("TW")) != bytes(ks.signing_key("TW"))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_key_files_are_private_hex_under_their_kind(tmp_path: Path, kind: str) -> None:
    ks = Keystore(tmp_path)
    assert not ks.exists(kind, "TW/x")
    KINDS[kind](ks, "TW/x")
    path = tmp_path / kind / "TW" / "x.key"
    assert ks.exists(kind, "TW/x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(bytes.fromhex(path.read_text().strip())) == 32
    assert [p.name for p in path.parent.iterdir()] == ["x.key"]  # no temp file left behind


@pytest.mark.parametrize(
    "name", ["../x", "a//b", ".hidden", "a/../b", "a/.b", "/abs", "a/", "", "a b", "a\\b"]
)
def test_invalid_names_are_rejected(tmp_path: Path, name: str) -> None:
    ks = Keystore(tmp_path)
    with pytest.raises(KeystoreError, match="invalid key name"):
        ks.account(name)
    assert not any(tmp_path.rglob("*")), "nothing may be written for a rejected name"


def test_name_with_trailing_newline_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError):
        Keystore(tmp_path).account("x\n")


def test_conventional_names_are_valid(tmp_path: Path) -> None:
    ks = Keystore(tmp_path)
    ks.account(member_admin_name("TW"))
    ks.account(role_account_name("TW", "ORACLE_OPERATOR"))
    assert ks.exists("accounts", "TW/admin")
    assert ks.exists("accounts", "TW/oracle_operator")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not hex at all\n", "is not hex"),
        ("abcd\n", "does not hold a valid 32-byte key"),
        ("", "does not hold a valid 32-byte key"),
        ("00" * 32 + "\n", "does not hold a valid 32-byte key"),  # zero is no secp256k1 key
        ("ff" * 32 + "\n", "does not hold a valid 32-byte key"),  # above the curve order
    ],
    ids=["not-hex", "short", "empty", "zero", "above-order"],
)
def test_corrupted_key_file_names_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "accounts" / "TW" / "admin.key"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(KeystoreError, match=message) as caught:
        Keystore(tmp_path).account("TW/admin")
    assert str(path) in str(caught.value)
    assert path.read_text() == content, "a corrupted key must not be silently replaced"


def test_an_existing_0x_prefixed_key_is_loaded(tmp_path: Path) -> None:
    secret = bytes(range(1, 33))
    path = tmp_path / "accounts" / "imported.key"
    path.parent.mkdir(parents=True)
    path.write_text("0x" + secret.hex() + "\n")
    assert Keystore(tmp_path).account("imported").key == secret


def _ask_for_key(root: str, barrier, results) -> None:
    barrier.wait()
    results.put(Keystore(Path(root)).account("race/new").key.hex())


def test_concurrent_creation_from_processes_yields_one_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(target=_ask_for_key, args=(str(tmp_path), barrier, results)) for _ in range(4)
    ]
    for p in procs:
        p.start()
    keys = [results.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert len(set(keys)) == 1
    assert Keystore(tmp_path).account("race/new").key.hex() == keys[0]
    assert [p.name for p in (tmp_path / "accounts" / "race").iterdir()] == ["new.key"]


def test_enode_id_is_the_uncompressed_public_key_of_the_node_key(tmp_path: Path) -> None:
    ks = Keystore(tmp_path)
    enode = ks.enode_id("TW")
    assert len(enode) == 128
    assert int(enode, 16) >= 0
    assert enode == eth_keys.PrivateKey(ks.node_key("TW")).public_key.to_bytes().hex()
    # independent check: the Ethereum address of the same key is the tail of keccak(pubkey)
    address = Account.from_key(ks.node_key("TW")).address
    assert address.lower() == "0x" + keccak(bytes.fromhex(enode))[-20:].hex()


def test_box_key_opens_what_was_sealed_for_its_public_key(tmp_path: Path) -> None:
    public = Keystore(tmp_path).box_key("SG").public_key
    sealed = SealedBox(public).encrypt(b"invoice 42")
    opened = SealedBox(Keystore(tmp_path).box_key("SG")).decrypt(sealed)
    assert opened == b"invoice 42"


def test_signing_key_signatures_verify_with_its_public_key(tmp_path: Path) -> None:
    verify = VerifyKey(bytes(Keystore(tmp_path).signing_key("dev/obu-1").verify_key))
    signed = Keystore(tmp_path).signing_key("dev/obu-1").sign(b"gps batch")
    assert verify.verify(signed) == b"gps batch"
