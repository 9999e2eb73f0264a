// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title What DocumentRegistry reverts with and logs
/// @notice The custom errors and events of DocumentRegistry, so that off-chain readers and other
/// contracts can decode its reverts and logs without its code.
interface IDocumentRegistry {
    // ---------------------------------------------------------------- errors

    /// @notice `account` does not hold the ISSUER role through an active member.
    /// @param account The calling account.
    error NotIssuer(address account);
    /// @notice The zero root cannot be anchored.
    error ZeroRoot();
    /// @notice A batch holds 1 to `MAX_BATCH_SIZE` documents.
    /// @param count The rejected document count.
    error InvalidCount(uint32 count);
    /// @notice Document types are 1 to `MAX_DOC_TYPE`.
    /// @param docType The rejected type code.
    error UnknownDocType(uint8 docType);
    /// @notice The root was anchored before; a root is anchored once.
    /// @param root The Merkle root.
    error RootAlreadyAnchored(bytes32 root);
    /// @notice No batch with this root was ever anchored.
    /// @param root The Merkle root.
    error UnknownRoot(bytes32 root);
    /// @notice `account` is not an ISSUER of the (active) member that anchored the batch.
    /// @param account The calling account.
    /// @param root The batch's Merkle root.
    error NotBatchIssuer(address account, bytes32 root);
    /// @notice The proof does not show that the document is in the batch.
    /// @param root The batch's Merkle root.
    /// @param docHash The document hash.
    error NotInBatch(bytes32 root, bytes32 docHash);
    /// @notice Already revoked: the document `docHash` of the batch, or the whole batch when
    /// `docHash` is zero (a document of a revoked batch is revoked with it).
    /// @param root The batch's Merkle root.
    /// @param docHash The document hash, or zero for the batch.
    error AlreadyRevoked(bytes32 root, bytes32 docHash);

    // ---------------------------------------------------------------- events

    /// @notice A batch of documents was anchored.
    /// @param root The Merkle root of the batch.
    /// @param issuerMember The member the issuer acts for.
    /// @param issuer The anchoring account.
    /// @param docType The document type code.
    /// @param count The number of documents in the batch.
    /// @param anchoredAt The block timestamp.
    event BatchAnchored(
        bytes32 indexed root,
        bytes32 indexed issuerMember,
        address indexed issuer,
        uint8 docType,
        uint32 count,
        uint64 anchoredAt
    );

    /// @notice A whole batch was revoked; none of its documents is valid any more.
    /// @param root The Merkle root of the batch.
    /// @param byMember The member that revoked (the batch's issuer member).
    /// @param by The revoking account.
    /// @param reason Why, in the issuer's words.
    event BatchRevoked(bytes32 indexed root, bytes32 indexed byMember, address indexed by, string reason);

    /// @notice One document of a batch was revoked.
    /// @param docHash The document hash.
    /// @param root The Merkle root of its batch.
    /// @param byMember The member that revoked (the batch's issuer member).
    /// @param by The revoking account.
    /// @param reason Why, in the issuer's words.
    event DocumentRevoked(
        bytes32 indexed docHash, bytes32 indexed root, bytes32 indexed byMember, address by, string reason
    );
}
