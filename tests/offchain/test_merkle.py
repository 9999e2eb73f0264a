"""offchain.merkle: OZ-compatible leaves and pair hashing, proofs that verify, and speed.

The on-chain side (the same proofs accepted by DocumentRegistry through OZ MerkleProof) is
in tests/contracts/test_document_registry.py.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from Crypto.Hash import keccak as pycryptodome_keccak
from eth_abi import encode
from eth_utils import keccak
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import offchain.merkle as merkle
from offchain.merkle import (
    MerkleTree,
    hash_pair,
    keccak256,
    leaf_hash,
    process_proof,
    verify,
)

hashes = st.binary(min_size=32, max_size=32)
value_lists = st.lists(hashes, min_size=1, max_size=70, unique=True)


def oz_standard_root(leaves: list[bytes]) -> bytes:
    """OZ StandardMerkleTree's array layout (`makeMerkleTree`), written out independently.

    Leaves go at the end of a `2n - 1` array in reverse order; node i has children 2i+1 and
    2i+2.  Used to show that for 2^k leaves our bottom-up tree has OZ's root.
    """
    tree: list[bytes] = [b""] * (2 * len(leaves) - 1)
    for i, leaf in enumerate(leaves):
        tree[len(tree) - 1 - i] = leaf
    for i in range(len(tree) - 1 - len(leaves), -1, -1):
        a, b = sorted((tree[2 * i + 1], tree[2 * i + 2]))
        tree[i] = keccak(a + b)
    return tree[0]


# ------------------------------------------------------------------ hashing


def test_keccak256_is_ethereum_keccak_not_sha3():
    assert keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )
    assert keccak256(b"abc") == keccak(b"abc")


@given(st.binary(max_size=300))
def test_keccak256_matches_eth_utils_for_any_input(data):
    assert keccak256(data) == keccak(data)
    assert keccak256(bytearray(data)) == keccak(data)


def test_fast_keccak_path_is_in_use():
    """The raw pycryptodome path is ~4x faster than `keccak.new`; if this fails, a
    pycryptodome upgrade changed its internals and Merkle work got slower (still correct)."""
    assert merkle._fast_keccak256 is not merkle._public_keccak256


def test_keccak256_is_correct_from_many_threads():
    """One Keccak state per thread: concurrent callers must not see each other's input."""
    inputs = [os.urandom(n % 200) for n in range(2_000)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(keccak256, inputs))
    assert got == [pycryptodome_keccak.new(data=d, digest_bits=256).digest() for d in inputs]


@given(hashes)
def test_leaf_hash_is_oz_standard_leaf_for_one_bytes32(value):
    # keccak256(bytes.concat(keccak256(abi.encode(value))))
    assert leaf_hash(value) == keccak(keccak(encode(["bytes32"], [value])))
    assert leaf_hash(value) == keccak(keccak(value))


@pytest.mark.parametrize("value", [b"", b"\x01" * 31, b"\x01" * 33, "00" * 32, None])
def test_leaf_hash_refuses_anything_but_32_bytes(value):
    with pytest.raises(ValueError, match="must be 32 bytes"):
        leaf_hash(value)


@given(hashes, hashes)
def test_hash_pair_is_commutative_keccak_of_sorted_pair(a, b):
    assert hash_pair(a, b) == hash_pair(b, a) == keccak(min(a, b) + max(a, b))


# ------------------------------------------------------------------ tree shape


def test_no_leaves_is_a_value_error():
    with pytest.raises(ValueError, match="at least one leaf"):
        MerkleTree([])
    with pytest.raises(ValueError, match="at least one leaf"):
        MerkleTree.from_values([])


def test_leaf_of_wrong_size_is_a_value_error():
    with pytest.raises(ValueError, match="leaf 1 must be 32 bytes"):
        MerkleTree([b"\x00" * 32, b"\x00" * 31])


def test_one_leaf_tree_has_the_leaf_as_root_and_an_empty_proof():
    value = os.urandom(32)
    tree = MerkleTree.from_values([value])
    assert len(tree) == 1
    assert tree.root == leaf_hash(value)
    assert tree.proof(0) == []
    assert tree.proofs() == [[]]
    assert verify([], tree.root, leaf_hash(value))


def test_three_leaves_pair_the_first_two_and_promote_the_third():
    leaves = [leaf_hash(os.urandom(32)) for _ in range(3)]
    tree = MerkleTree(leaves)
    assert tree.root == hash_pair(hash_pair(leaves[0], leaves[1]), leaves[2])
    assert tree.proof(0) == [leaves[1], leaves[2]]
    assert tree.proof(2) == [hash_pair(leaves[0], leaves[1])]  # promoted: one step shorter


@pytest.mark.parametrize("n", [1, 2, 4, 8, 64, 1024])
def test_power_of_two_trees_have_oz_standard_merkle_tree_root(n):
    leaves = [leaf_hash(os.urandom(32)) for _ in range(n)]
    assert MerkleTree(leaves).root == oz_standard_root(leaves)


def test_from_values_keeps_the_order_given():
    values = [os.urandom(32) for _ in range(5)]
    tree = MerkleTree.from_values(values)
    assert tree.leaves == tuple(leaf_hash(v) for v in values)
    assert len(tree) == 5
    assert repr(tree) == f"MerkleTree(leaves=5, root=0x{tree.root.hex()})"


@pytest.mark.parametrize("index", [-1, 5, 100])
def test_proof_of_a_position_outside_the_tree_is_an_index_error(index):
    tree = MerkleTree.from_values([os.urandom(32) for _ in range(5)])
    with pytest.raises(IndexError, match=f"leaf index {index} out of range"):
        tree.proof(index)


# ------------------------------------------------------------------ properties


@given(value_lists)
def test_every_proof_verifies(values):
    tree = MerkleTree.from_values(values)
    proofs = tree.proofs()
    assert proofs == [tree.proof(i) for i in range(len(values))]
    for value, proof in zip(values, proofs, strict=True):
        assert len(proof) <= (len(values) - 1).bit_length()
        assert process_proof(proof, leaf_hash(value)) == tree.root
        assert verify(proof, tree.root, leaf_hash(value))


@given(value_lists, st.data())
def test_proof_of_one_leaf_does_not_verify_another(values, data):
    assume(len(values) >= 2)
    tree = MerkleTree.from_values(values)
    i = data.draw(st.integers(0, len(values) - 1), label="proof of")
    j = data.draw(st.integers(0, len(values) - 1).filter(lambda j: j != i), label="leaf")
    assert not verify(tree.proof(i), tree.root, leaf_hash(values[j]))


@given(value_lists, value_lists, st.data())
def test_proof_does_not_verify_against_another_root(values, others, data):
    tree, other = MerkleTree.from_values(values), MerkleTree.from_values(others)
    assume(tree.root != other.root)
    i = data.draw(st.integers(0, len(values) - 1))
    assert not verify(tree.proof(i), other.root, leaf_hash(values[i]))


@given(value_lists, st.data())
def test_tampering_any_proof_element_fails(values, data):
    assume(len(values) >= 2)
    tree = MerkleTree.from_values(values)
    i = data.draw(st.integers(0, len(values) - 1), label="leaf")
    proof = tree.proof(i)
    k = data.draw(st.integers(0, len(proof) - 1), label="element")
    bit = data.draw(st.integers(0, 255), label="bit")
    tampered = list(proof)
    flipped = int.from_bytes(proof[k], "big") ^ (1 << bit)
    tampered[k] = flipped.to_bytes(32, "big")
    assert not verify(tampered, tree.root, leaf_hash(values[i]))


@given(value_lists, st.data())
def test_dropping_or_adding_a_proof_element_fails(values, data):
    assume(len(values) >= 2)
    tree = MerkleTree.from_values(values)
    i = data.draw(st.integers(0, len(values) - 1), label="leaf")
    proof = tree.proof(i)
    leaf = leaf_hash(values[i])
    assert not verify(proof[:-1], tree.root, leaf)
    assert not verify([*proof, data.draw(hashes, label="extra")], tree.root, leaf)


@settings(max_examples=50)
@given(value_lists)
def test_an_internal_node_cannot_pass_as_a_document(values):
    """The second-preimage attack that hashing the leaves prevents."""
    assume(len(values) >= 2)
    tree = MerkleTree.from_values(values)
    node = hash_pair(tree.leaves[0], tree.leaves[1])  # parent of leaves 0 and 1
    rest_of_path = tree.proof(0)[1:]
    assert verify(rest_of_path, tree.root, node)  # were values the leaves, this would pass
    assert not verify(rest_of_path, tree.root, leaf_hash(node))  # but a value is hashed first


@pytest.mark.parametrize(
    ("proof", "root", "leaf"),
    [
        ([b"\x00" * 31], b"\x00" * 32, b"\x00" * 32),
        ([], b"\x00" * 31, b"\x00" * 32),
        ([], b"\x00" * 32, b"\x00" * 33),
        (["00" * 32], b"\x00" * 32, b"\x00" * 32),
        ([None], b"\x00" * 32, b"\x00" * 32),
    ],
    ids=["short-element", "short-root", "long-leaf", "hex-element", "none-element"],
)
def test_verify_says_false_for_malformed_input_and_process_proof_raises(proof, root, leaf):
    assert verify(proof, root, leaf) is False
    if len(root) == 32:
        with pytest.raises(ValueError, match="must be 32 bytes"):
            process_proof(proof, leaf)


def test_bytearray_inputs_work_like_bytes():
    values = [os.urandom(32) for _ in range(3)]
    tree = MerkleTree.from_values([bytearray(v) for v in values])
    assert tree.root == MerkleTree.from_values(values).root
    proof = [bytearray(p) for p in tree.proof(1)]
    assert verify(proof, bytearray(tree.root), bytearray(leaf_hash(values[1])))


# Speed (tree building, proof verification) is measured by scripts/bench/merkle.py.


def test_every_proof_of_a_1024_leaf_tree_verifies():
    values = [os.urandom(32) for _ in range(1024)]
    tree = MerkleTree.from_values(values)
    pairs = list(zip(tree.proofs(), tree.leaves, strict=True))
    assert all(verify(p, tree.root, leaf) for p, leaf in pairs)
