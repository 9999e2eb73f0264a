// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {IConsortiumRegistry} from "./interfaces/IConsortiumRegistry.sol";
import {IDocumentRegistry} from "./interfaces/IDocumentRegistry.sol";
import {ConsortiumGated} from "./utils/ConsortiumGated.sol";
import {MerkleLeaf} from "./utils/MerkleLeaf.sol";

/// @title DocumentRegistry
/// @notice Anchors trade documents (certificates of origin, invoices, packing lists) as one
/// Merkle root per batch, and records revocations of whole batches or single documents. The
/// documents themselves stay off chain; a partner customs node checks a document with its
/// receipt (document hash, Merkle proof, root) against the anchored root.
/// @dev Merkle leaves are `MerkleLeaf.hash(docHash)`: OpenZeppelin's StandardMerkleTree leaf
/// of one `bytes32` value, pairs hashed commutatively (offchain/merkle.py builds the trees).
///
/// Only accounts that hold the ISSUER role of the ConsortiumRegistry through an active member
/// may anchor; only an issuer of the member that anchored a batch may revoke in it, so a member
/// removed by governance can neither anchor nor revoke (its accounts lose their roles).
///
/// Anchoring is kept to two fresh storage slots and no per-document storage, so a batch of
/// 1,024 documents costs under 100 gas per document. The block of an anchoring is not stored:
/// the `BatchAnchored` log, indexed by root, carries it.
///
/// Document types: 1 certificate of origin, 2 commercial invoice, 3 packing list (trade
/// documents), 4 cargo manifest and 5 payment receipt (records a customs node anchors for its
/// carriers and traders). Any other code is refused, so a typo cannot anchor documents of a
/// type nobody reads; a new type comes with a new version of this contract.
contract DocumentRegistry is ConsortiumGated, IDocumentRegistry {
    // ---------------------------------------------------------------- types

    /// @notice An anchored batch, as stored (two slots) and as returned by `batchOf`.
    /// @dev Slot 0 packs issuer (160 bits), count (32), anchoredAt (40), docType (8) and
    /// revoked (8); slot 1 is the issuer's member id. `issuer == address(0)` means "never
    /// anchored", since only an issuer account can anchor.
    struct Batch {
        address issuer;
        uint32 count;
        uint40 anchoredAt;
        uint8 docType;
        bool revoked;
        bytes32 issuerMember;
    }

    /// @notice A revocation of a batch or of one document in a batch.
    /// @dev `revokedAt == 0` means "not revoked" (block timestamps are never zero).
    struct Revocation {
        address by;
        uint40 revokedAt;
        string reason;
    }

    // ---------------------------------------------------------------- constants

    /// @notice The largest number of documents one batch may hold.
    uint32 public constant MAX_BATCH_SIZE = 1024;
    /// @notice The highest document type code (1 certificate of origin, 2 invoice, 3 packing
    /// list, 4 cargo manifest, 5 payment receipt).
    uint8 public constant MAX_DOC_TYPE = 5;

    // ---------------------------------------------------------------- state

    /// @dev `registry.ISSUER_ROLE()`, read once at construction.
    bytes32 private immutable _issuerRole;

    mapping(bytes32 root => Batch) private _batches;
    mapping(bytes32 root => Revocation) private _batchRevocations;
    mapping(bytes32 root => mapping(bytes32 docHash => Revocation)) private _documentRevocations;

    // Errors and events are declared in IDocumentRegistry; `registry` and `ZeroRegistry` in ConsortiumGated.

    // ---------------------------------------------------------------- constructor

    /// @param registry_ The ConsortiumRegistry that grants the ISSUER role.
    constructor(IConsortiumRegistry registry_) ConsortiumGated(registry_) {
        _issuerRole = registry_.ISSUER_ROLE();
    }

    // ---------------------------------------------------------------- anchoring

    /// @notice Anchors the Merkle root of a batch of documents of one type.
    /// @dev Reverts `NotIssuer` unless the caller holds the ISSUER role through an active member,
    /// then `ZeroRoot`, `InvalidCount`, `UnknownDocType`, `RootAlreadyAnchored`. The root is the
    /// batch's identifier in every other function.
    /// @param root The Merkle root (leaves as described in the contract's notes).
    /// @param count The number of documents in the batch, 1 to `MAX_BATCH_SIZE`; verifiers may
    /// refuse a receipt whose leaf index is not below it.
    /// @param docType The document type code, 1 to `MAX_DOC_TYPE`.
    function anchorBatch(bytes32 root, uint32 count, uint8 docType) external {
        bytes32 member = _requireMemberRole(_issuerRole, NotIssuer.selector);
        if (root == bytes32(0)) revert ZeroRoot();
        if (count == 0 || count > MAX_BATCH_SIZE) revert InvalidCount(count);
        if (docType == 0 || docType > MAX_DOC_TYPE) revert UnknownDocType(docType);
        if (_batches[root].issuer != address(0)) revert RootAlreadyAnchored(root);

        uint40 anchoredAt = uint40(block.timestamp);
        _batches[root] = Batch({
            issuer: msg.sender,
            count: count,
            anchoredAt: anchoredAt,
            docType: docType,
            revoked: false,
            issuerMember: member
        });
        emit BatchAnchored(root, member, msg.sender, docType, count, anchoredAt);
    }

    // ---------------------------------------------------------------- revocation

    /// @notice Revokes a whole batch; every document in it reads as revoked from now on.
    /// @dev Reverts `UnknownRoot`, `NotBatchIssuer` unless the caller is an ISSUER of the active
    /// member that anchored the batch, `AlreadyRevoked(root, 0)`.
    /// @param root The batch's Merkle root.
    /// @param reason Why (kept on chain, readable with `batchRevocation`).
    function revokeBatch(bytes32 root, string calldata reason) external {
        Batch storage batch = _knownBatch(root);
        bytes32 member = _requireBatchIssuer(batch, root);
        if (batch.revoked) revert AlreadyRevoked(root, bytes32(0));

        batch.revoked = true;
        _batchRevocations[root] = Revocation({by: msg.sender, revokedAt: uint40(block.timestamp), reason: reason});
        emit BatchRevoked(root, member, msg.sender, reason);
    }

    /// @notice Revokes one document of a batch, shown to be in it by its Merkle proof.
    /// @dev Reverts `UnknownRoot`, `NotBatchIssuer` (as for `revokeBatch`), `NotInBatch`,
    /// `AlreadyRevoked(root, 0)` if the batch is revoked, `AlreadyRevoked(root, docHash)`.
    /// @param root The batch's Merkle root.
    /// @param docHash The document hash.
    /// @param proof The Merkle proof of the document in the batch.
    /// @param reason Why (kept on chain, readable with `documentRevocation`).
    function revokeDocument(bytes32 root, bytes32 docHash, bytes32[] calldata proof, string calldata reason)
        external
    {
        Batch storage batch = _knownBatch(root);
        bytes32 member = _requireBatchIssuer(batch, root);
        if (!MerkleProof.verifyCalldata(proof, root, documentLeaf(docHash))) revert NotInBatch(root, docHash);
        if (batch.revoked) revert AlreadyRevoked(root, bytes32(0));
        Revocation storage revocation = _documentRevocations[root][docHash];
        if (revocation.revokedAt != 0) revert AlreadyRevoked(root, docHash);

        revocation.by = msg.sender;
        revocation.revokedAt = uint40(block.timestamp);
        revocation.reason = reason;
        emit DocumentRevoked(docHash, root, member, msg.sender, reason);
    }

    // ---------------------------------------------------------------- views

    /// @notice The batch anchored with `root`.
    /// @dev Reverts `UnknownRoot` if it was never anchored, so a caller cannot mistake an empty
    /// record for a batch; `isAnchored` asks without reverting.
    /// @param root The Merkle root.
    /// @return The batch record.
    function batchOf(bytes32 root) external view returns (Batch memory) {
        return _knownBatch(root);
    }

    /// @notice Whether a batch with this root was anchored (revoked or not).
    /// @param root The Merkle root.
    /// @return True if anchored.
    function isAnchored(bytes32 root) external view returns (bool) {
        return _batches[root].issuer != address(0);
    }

    /// @notice The Merkle leaf of a document hash: `keccak256(bytes.concat(keccak256(abi.encode(docHash))))`.
    /// @param docHash The document hash.
    /// @return The leaf.
    function documentLeaf(bytes32 docHash) public pure returns (bytes32) {
        return MerkleLeaf.hash(docHash);
    }

    /// @notice Whether `root` is anchored and `proof` shows `docHash` is in its batch.
    /// @dev Says nothing about revocation: ask `documentStatus` for that.
    /// @param root The batch's Merkle root.
    /// @param docHash The document hash.
    /// @param proof The Merkle proof, leaf to root.
    /// @return True if anchored and included.
    function verifyDocument(bytes32 root, bytes32 docHash, bytes32[] calldata proof) external view returns (bool) {
        return _batches[root].issuer != address(0) && MerkleProof.verifyCalldata(proof, root, documentLeaf(docHash));
    }

    /// @notice Anchoring and revocation state of a document, without its proof.
    /// @dev `anchored` is about the root; that the document is in the batch is shown by its proof
    /// (checked off chain, or with `verifyDocument`). Never reverts.
    /// @param root The batch's Merkle root.
    /// @param docHash The document hash.
    /// @return anchored Whether the root was anchored.
    /// @return batchRevoked Whether the whole batch was revoked.
    /// @return docRevoked Whether this document of the batch was revoked on its own.
    function documentStatus(bytes32 root, bytes32 docHash)
        external
        view
        returns (bool anchored, bool batchRevoked, bool docRevoked)
    {
        Batch storage batch = _batches[root];
        return (
            batch.issuer != address(0),
            batch.revoked,
            _documentRevocations[root][docHash].revokedAt != 0
        );
    }

    /// @notice `documentStatus` for many documents of one batch in one call (for verifiers).
    /// @param root The batch's Merkle root.
    /// @param docHashes The document hashes.
    /// @return anchored Whether the root was anchored.
    /// @return batchRevoked Whether the whole batch was revoked.
    /// @return docRevoked For each document hash, in order, whether it was revoked on its own.
    function documentStatuses(bytes32 root, bytes32[] calldata docHashes)
        external
        view
        returns (bool anchored, bool batchRevoked, bool[] memory docRevoked)
    {
        Batch storage batch = _batches[root];
        anchored = batch.issuer != address(0);
        batchRevoked = batch.revoked;
        docRevoked = new bool[](docHashes.length);
        mapping(bytes32 => Revocation) storage revocations = _documentRevocations[root];
        for (uint256 i = 0; i < docHashes.length; ++i) {
            docRevoked[i] = revocations[docHashes[i]].revokedAt != 0;
        }
    }

    /// @notice The revocation of a whole batch, with its reason.
    /// @param root The batch's Merkle root.
    /// @return The revocation; `revokedAt == 0` if the batch is not revoked (or unknown).
    function batchRevocation(bytes32 root) external view returns (Revocation memory) {
        return _batchRevocations[root];
    }

    /// @notice The revocation of one document of a batch, with its reason.
    /// @param root The batch's Merkle root.
    /// @param docHash The document hash.
    /// @return The revocation; `revokedAt == 0` if the document was not revoked on its own.
    function documentRevocation(bytes32 root, bytes32 docHash) external view returns (Revocation memory) {
        return _documentRevocations[root][docHash];
    }

    // ---------------------------------------------------------------- internals

    function _knownBatch(bytes32 root) private view returns (Batch storage batch) {
        batch = _batches[root];
        if (batch.issuer == address(0)) revert UnknownRoot(root);
    }

    /// @dev The caller must hold ISSUER through an active member, and that member must be the
    /// one that anchored the batch; returns the member.
    function _requireBatchIssuer(Batch storage batch, bytes32 root) private view returns (bytes32 member) {
        bool ok;
        (ok, member) = _memberRole(_issuerRole);
        if (!ok || member != batch.issuerMember) revert NotBatchIssuer(msg.sender, root);
    }
}
