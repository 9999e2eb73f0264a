"""Merkle trees and proofs: the one implementation for documents, GPS batches and attestations.

Why this shape: whatever we anchor is checked on chain by OpenZeppelin's `MerkleProof`, so
the tree hashes pairs *commutatively* (`keccak256` of the two children in ascending byte
order, OZ's `Hashes.commutativeKeccak256`) and a proof is just the list of sibling hashes,
leaf to root, with no left/right flags.

Leaves follow OZ's StandardMerkleTree convention for a single `bytes32` value:
`leaf = keccak256(bytes.concat(keccak256(abi.encode(value))))`, which for 32 bytes is
`keccak(keccak(value))` (see `leaf_hash`).

Layout: simple bottom-up pairing.  Level 0 is the leaves in the order given; each next
level hashes neighbours (0,1), (2,3), ...; an odd last node is promoted to the next level
unchanged (it has no sibling there, so proofs of some leaves are shorter).  A leaf's index
in a receipt is therefore its position in the list the tree was built from.  For a power
of two number of leaves the root equals OZ StandardMerkleTree's root for the same leaves
built without sorting (`sortLeaves: false`); for other sizes the shapes differ, which does
not matter to verifiers: `MerkleProof.verify` and `verify` below accept any proof made of
commutative pair hashes.

Speed: `keccak256` is pycryptodome's C Keccak (the backend `eth_hash.auto` picks here).
Through its public `Crypto.Hash.keccak.new` each hash costs about 5-6 us, nearly all of it
Python object set-up; calling the same C functions on one reusable state per thread costs
about 1.3 us.  That path reaches into pycryptodome's `_raw_keccak_lib`, so it is checked
against a known digest at import and replaced by the public API if anything about it
differs.  Measured (scripts/bench/merkle.py): a 1,024-leaf tree from raw values plus all its
proofs in about 5 ms, proof verification at well over 5,000 documents per second.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

from Crypto.Hash import keccak as _keccak

from offchain.hexbytes import HASH_SIZE, hex0x

_EMPTY_DIGEST = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")


def _public_keccak256(data: bytes) -> bytes:
    return _keccak.new(data=data, digest_bits=256).digest()


def _raw_keccak256() -> Callable[[bytes], bytes] | None:
    """keccak256 on pycryptodome's C functions with one state per thread, or None.

    None when this pycryptodome does not expose what is needed (other version, ctypes
    instead of cffi) or its answer differs from the public API's.
    """
    try:
        from Crypto.Util._raw_api import SmartPointer, VoidPointer, ffi

        lib = _keccak._raw_keccak_lib  # type: ignore[attr-defined]  # private; checked below
        reset, absorb, squeeze = lib.keccak_reset, lib.keccak_absorb, lib.keccak_digest

        class _State(threading.local):
            def __init__(self) -> None:
                ptr = VoidPointer()
                if lib.keccak_init(ptr.address_of(), 2 * HASH_SIZE, 24):  # capacity, rounds
                    raise RuntimeError("keccak_init failed")
                self.ptr = SmartPointer(ptr.get(), lib.keccak_destroy)
                self.out = ffi.new("uint8_t[32]")
                self.view = ffi.buffer(self.out)

        local = _State()

        def raw_keccak256(data: bytes) -> bytes:
            state, out = local.ptr.get(), local.out
            reset(state)
            absorb(state, data, len(data))
            squeeze(state, out, HASH_SIZE, 0x01)  # 0x01: Keccak padding, not SHA-3's 0x06
            return local.view[:]

        probe = bytes(range(64))
        if raw_keccak256(b"") != _EMPTY_DIGEST or raw_keccak256(probe) != _public_keccak256(probe):
            return None
        return raw_keccak256
    except Exception:  # any surprise in a private API: use the public one
        return None


_fast_keccak256 = _raw_keccak256() or _public_keccak256


def keccak256(data: bytes) -> bytes:
    """Ethereum's keccak256 (not SHA3-256: the padding differs)."""
    if type(data) is not bytes:
        data = bytes(data)
    return _fast_keccak256(data)


def leaf_hash(value: bytes) -> bytes:
    """The leaf of a 32-byte value: `keccak256(keccak256(value))`.

    Why hash, and twice: if the values themselves were the leaves, any internal node (also
    32 bytes) could be presented as a "document hash" with the rest of its path as proof,
    proving a document that was never anchored (a second-preimage attack on the tree).
    Hashing makes a leaf differ from the node it would impersonate; hashing twice is OZ
    StandardMerkleTree's convention (`["bytes32"]` leaves, as the contracts use), under which
    a leaf is always the hash of 32 bytes and a node the hash of 64, so the two cannot be
    confused whatever the encoding of the value.

    Raises ValueError unless `value` is exactly 32 bytes.
    """
    _check_hash(value, "value")
    return _fast_keccak256(_fast_keccak256(bytes(value)))


def pair_leaf_hash(first: bytes, second: bytes) -> bytes:
    """The leaf of a pair of 32-byte values: `keccak256(keccak256(first ++ second))`.

    OZ StandardMerkleTree's leaf for `["bytes32", "bytes32"]` values (`abi.encode` of two
    static words is their concatenation), as AttestationHub uses for `(subject, resultHash)`
    results in a batch.  A leaf is the double hash of 64 bytes and an internal node the single
    hash of 64 bytes, so one cannot pass for the other.

    Raises ValueError unless both values are exactly 32 bytes.
    """
    _check_hash(first, "first value")
    _check_hash(second, "second value")
    return _fast_keccak256(_fast_keccak256(bytes(first) + bytes(second)))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """The parent of two nodes: keccak256 of both, smaller first (OZ commutative hashing)."""
    return keccak256(bytes(a + b if a < b else b + a))


def process_proof(proof: Iterable[bytes], leaf: bytes) -> bytes:
    """The root that `proof` leads to from `leaf` (OZ `MerkleProof.processProof`).

    Raises ValueError if the leaf or a proof element is not 32 bytes.
    """
    _check_hash(leaf, "leaf")
    h = _fast_keccak256
    node = bytes(leaf)
    for sibling in proof:
        _check_hash(sibling, "proof element")
        node = h(node + sibling if node < sibling else bytes(sibling) + node)
    return node


def verify(proof: Iterable[bytes], root: bytes, leaf: bytes) -> bool:
    """Whether `proof` shows that `leaf` is in the tree with `root` (OZ `MerkleProof.verify`).

    Never raises for malformed input: a leaf, root or proof element that is not 32 bytes
    simply does not verify, so untrusted receipts can be passed as they come.
    """
    try:
        return len(root) == HASH_SIZE and process_proof(proof, leaf) == root
    except (ValueError, TypeError):
        return False


class MerkleTree:
    """A tree over leaves that are already hashed (see `leaf_hash` / `from_values`).

    All levels are kept, so `proof` is a walk up the levels and `proofs` costs
    O(n log n) in total.  Raises ValueError for no leaves or a leaf that is not 32 bytes.
    """

    __slots__ = ("_levels",)

    def __init__(self, leaves: Sequence[bytes]) -> None:
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        for i, leaf in enumerate(leaves):
            _check_hash(leaf, f"leaf {i}")
        level = [bytes(leaf) for leaf in leaves]
        levels = [level]
        h = _fast_keccak256
        while len(level) > 1:
            pairs = len(level) - 1
            up = [
                h(a + b if a < b else b + a)
                for a, b in zip(level[0:pairs:2], level[1::2], strict=True)
            ]
            if len(level) % 2:
                up.append(level[-1])  # odd last node: promoted unchanged
            levels.append(up)
            level = up
        self._levels: list[list[bytes]] = levels

    @classmethod
    def from_values(cls, values: Iterable[bytes]) -> MerkleTree:
        """A tree over `leaf_hash(v)` of each 32-byte value (e.g. document hashes), in order."""
        return cls([leaf_hash(v) for v in values])

    @property
    def root(self) -> bytes:
        return self._levels[-1][0]

    @property
    def leaves(self) -> tuple[bytes, ...]:
        return tuple(self._levels[0])

    def __len__(self) -> int:
        return len(self._levels[0])

    def proof(self, index: int) -> list[bytes]:
        """Sibling hashes from leaf `index` up to the root; empty for a one-leaf tree.

        Raises IndexError if `index` is not a leaf position (negative indexes are refused
        too: a receipt's index is a position, not a Python offset).
        """
        if not 0 <= index < len(self):
            raise IndexError(f"leaf index {index} out of range for a tree of {len(self)} leaves")
        out = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                out.append(level[sibling])
            index >>= 1
        return out

    def proofs(self) -> list[list[bytes]]:
        """The proof of every leaf, in leaf order."""
        levels = self._levels[:-1]
        out: list[list[bytes]] = []
        for index in range(len(self)):
            proof = []
            i = index
            for level in levels:
                sibling = i ^ 1
                if sibling < len(level):
                    proof.append(level[sibling])
                i >>= 1
            out.append(proof)
        return out

    def __repr__(self) -> str:
        return f"MerkleTree(leaves={len(self)}, root={hex0x(self.root)})"


def _check_hash(value: object, what: str) -> None:
    if not isinstance(value, (bytes, bytearray)) or len(value) != HASH_SIZE:
        shown = f"{len(value)} bytes" if isinstance(value, (bytes, bytearray)) else type(value)
        raise ValueError(f"{what} must be {HASH_SIZE} bytes, got {shown}")
