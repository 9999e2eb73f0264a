// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title MerkleLeaf
/// @notice The leaves of the Merkle trees whose roots Smart Customs anchors, in OpenZeppelin's
/// StandardMerkleTree convention: the leaf of values `v` is `keccak256(bytes.concat(keccak256(
/// abi.encode(v))))`, hashed twice so that no leaf can pass for an inner node. Pairs are hashed
/// commutatively, as OpenZeppelin's `MerkleProof` expects; offchain/merkle.py builds the trees.
/// @dev Computed in scratch space: the same hash as the formula, without allocating memory.
library MerkleLeaf {
    /// @notice The leaf of one `bytes32` value (a document or tracking-event hash).
    /// @param value The value.
    /// @return leaf `keccak256(bytes.concat(keccak256(abi.encode(value))))`.
    function hash(bytes32 value) internal pure returns (bytes32 leaf) {
        assembly ("memory-safe") {
            mstore(0x00, value)
            mstore(0x00, keccak256(0x00, 0x20))
            leaf := keccak256(0x00, 0x20)
        }
    }

    /// @notice The leaf of a pair of `bytes32` values (an attested subject and its result hash).
    /// @param a The first value.
    /// @param b The second value.
    /// @return leaf `keccak256(bytes.concat(keccak256(abi.encode(a, b))))`.
    function hash(bytes32 a, bytes32 b) internal pure returns (bytes32 leaf) {
        assembly ("memory-safe") {
            mstore(0x00, a)
            mstore(0x20, b)
            mstore(0x00, keccak256(0x00, 0x40))
            leaf := keccak256(0x00, 0x20)
        }
    }
}
