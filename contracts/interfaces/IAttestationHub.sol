// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title What other Smart Customs contracts ask the AttestationHub
/// @notice Oracle results (tariff classification, X-ray recognition, audit selection, clearance
/// decisions) accepted once a quorum of distinct registered oracles signed them, one at a time
/// or many under a Merkle root. For contracts such as PermitRegistry that act on attested
/// decisions, and for off-chain verifiers.
/// @dev Kinds: TARIFF 1, XRAY 2, AUDIT 3, CLEARANCE 4. Digests are EIP-712 under the domain
/// `{name: "SmartCustoms AttestationHub", version: "1", chainId, verifyingContract}`.
interface IAttestationHub {
    /// @notice One signed result about one subject (a declaration, an image, a company).
    struct Attestation {
        bytes32 subject;
        uint8 kind;
        bytes32 resultHash;
        bytes32 modelVersion;
        uint64 issuedAt;
        uint64 nonce;
    }

    /// @notice Many results of one kind under one Merkle root; each leaf is
    /// `keccak256(bytes.concat(keccak256(abi.encode(subject, resultHash))))`.
    struct BatchAttestation {
        bytes32 root;
        uint8 kind;
        uint32 count;
        bytes32 modelVersion;
        uint64 issuedAt;
        uint64 nonce;
    }

    /// @notice The latest accepted result for a (subject, kind); `signerCount == 0` means none.
    /// With the subject and kind, the fields give the accepted attestation back.
    struct Result {
        bytes32 resultHash;
        bytes32 modelVersion;
        uint64 issuedAt;
        uint64 nonce;
        uint8 signerCount;
    }

    /// @notice An attested batch; `signerCount == 0` means "never attested".
    struct Batch {
        bytes32 modelVersion;
        uint8 kind;
        uint32 count;
        uint64 issuedAt;
        uint64 nonce;
        uint40 attestedAt;
        uint8 signerCount;
    }

    /// @notice Accepts one result signed by at least `quorum(a.kind)` distinct oracles.
    /// @param a The attestation, as signed.
    /// @param signatures 65-byte `(r, s, v)` signatures of `hashAttestation(a)`.
    function submit(Attestation calldata a, bytes[] calldata signatures) external;

    /// @notice Accepts a Merkle root of many results signed by at least `quorum(b.kind)` oracles.
    /// @param b The batch attestation, as signed.
    /// @param signatures 65-byte `(r, s, v)` signatures of `hashBatch(b)`.
    function submitBatch(BatchAttestation calldata b, bytes[] calldata signatures) external;

    /// @notice The latest result accepted by `submit` for a subject and kind.
    /// @param subject The subject.
    /// @param kind The oracle kind.
    /// @return The result; all zero if none was accepted.
    function latest(bytes32 subject, uint8 kind) external view returns (Result memory);

    /// @notice The attested batch with this root; reverts `UnknownBatch` if there is none.
    /// @param root The Merkle root.
    /// @return The batch record.
    function batchOf(bytes32 root) external view returns (Batch memory);

    /// @notice Whether `root` is an attested batch and `proof` shows the result is in it.
    /// @param root The batch's Merkle root.
    /// @param subject The subject.
    /// @param resultHash The result hash.
    /// @param proof The Merkle proof, leaf to root.
    /// @return True if attested and included.
    function verifyResult(bytes32 root, bytes32 subject, bytes32 resultHash, bytes32[] calldata proof)
        external
        view
        returns (bool);

    /// @notice Whether exactly this attestation was accepted (latest, or superseded since).
    /// @param a The attestation.
    /// @return True if accepted.
    function isAttested(Attestation calldata a) external view returns (bool);

    /// @notice Whether exactly this batch attestation was accepted.
    /// @param b The batch attestation.
    /// @return True if accepted.
    function isBatchAttested(BatchAttestation calldata b) external view returns (bool);

    /// @notice The number of distinct oracles that must sign a result of `kind`.
    /// @param kind The oracle kind.
    /// @return The quorum.
    function quorum(uint8 kind) external view returns (uint8);

    /// @notice The EIP-712 digest oracles sign for `a`.
    /// @param a The attestation.
    /// @return digest The digest.
    function hashAttestation(Attestation calldata a) external view returns (bytes32 digest);

    /// @notice The EIP-712 digest oracles sign for a batch `b`.
    /// @param b The batch attestation.
    /// @return digest The digest.
    function hashBatch(BatchAttestation calldata b) external view returns (bytes32 digest);
}
