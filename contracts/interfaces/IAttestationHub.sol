// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title What other Smart Customs contracts ask the AttestationHub
/// @notice Oracle results (tariff classification, X-ray recognition, audit selection, clearance
/// decisions) accepted once a quorum of distinct registered oracles signed them, one at a time
/// or many under a Merkle root. For contracts such as PermitRegistry that act on attested
/// decisions, and for off-chain verifiers; with the hub's custom errors and events.
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

    // ---------------------------------------------------------------- errors

    /// @notice The constructor's kinds and quorums must have the same length.
    /// @param kinds Number of kinds given.
    /// @param quorums Number of quorums given.
    error LengthMismatch(uint256 kinds, uint256 quorums);
    /// @notice Oracle kinds are 1 (TARIFF) to 4 (CLEARANCE).
    /// @param kind The rejected kind.
    error UnknownKind(uint8 kind);
    /// @notice A quorum is 1 to `MAX_SIGNATURES` signers; every kind needs one from the start.
    /// @param kind The oracle kind.
    /// @param quorum The rejected quorum.
    error InvalidQuorum(uint8 kind, uint8 quorum);
    /// @notice A submission carries at most `MAX_SIGNATURES` signatures.
    /// @param count The number of signatures given.
    error TooManySignatures(uint256 count);
    /// @notice Only the ConsortiumRegistry (a passed governance Call proposal) may do this.
    /// @param caller The calling account.
    error OnlyGovernance(address caller);
    /// @notice `account` does not hold the ORACLE_OPERATOR role through an active member.
    /// @param account The calling account.
    error NotOracleOperator(address account);
    /// @notice `account` is not an ORACLE_OPERATOR of the member that operates the oracle.
    /// @param account The calling account.
    /// @param member The oracle's member.
    error NotOracleMember(address account, bytes32 member);
    /// @notice The zero address cannot be an oracle signer.
    error ZeroSigner();
    /// @notice The signer was registered before (an oracle key is registered once, for one kind;
    /// a deactivated key stays retired).
    /// @param signer The oracle signer.
    error OracleExists(address signer);
    /// @notice The signer is not a registered oracle.
    /// @param signer The recovered or given signer.
    error UnknownOracle(address signer);
    /// @notice The oracle was deactivated.
    /// @param signer The oracle signer.
    error InactiveOracle(address signer);
    /// @notice The oracle is registered for another kind than the one attested.
    /// @param signer The oracle signer.
    /// @param oracleKind The oracle's kind.
    /// @param kind The attested kind.
    error WrongKind(address signer, uint8 oracleKind, uint8 kind);
    /// @notice The member operating the oracle is no longer an active consortium member.
    /// @param signer The oracle signer.
    /// @param member The oracle's member.
    error OracleMemberInactive(address signer, bytes32 member);
    /// @notice Signature number `index` is malformed or does not recover to an address (wrong
    /// length, `v` not 27/28, high `s`, or not a point on the curve).
    /// @param index Position in the signatures array.
    error InvalidSignature(uint256 index);
    /// @notice Fewer distinct valid oracles signed than the kind's quorum.
    /// @param kind The attested kind.
    /// @param got Distinct signers.
    /// @param need The quorum.
    error BelowQuorum(uint8 kind, uint256 got, uint8 need);
    /// @notice This exact attestation (same EIP-712 digest) was accepted before.
    /// @param digest The EIP-712 digest.
    error AlreadyAttested(bytes32 digest);
    /// @notice `issuedAt` is more than `MAX_CLOCK_SKEW` ahead of the block time.
    /// @param issuedAt The attested time.
    /// @param latestAllowed The latest time accepted now.
    error IssuedInFuture(uint64 issuedAt, uint256 latestAllowed);
    /// @notice `issuedAt` is more than `MAX_AGE` behind the block time: sign the result again.
    /// @param issuedAt The attested time.
    /// @param earliestAllowed The earliest time accepted now.
    error AttestationTooOld(uint64 issuedAt, uint256 earliestAllowed);
    /// @notice A result for the same subject and kind issued later was accepted already.
    /// @param subject The subject.
    /// @param kind The kind.
    /// @param issuedAt The attested time.
    /// @param latestIssuedAt The time of the accepted result.
    error OlderThanLatest(bytes32 subject, uint8 kind, uint64 issuedAt, uint64 latestIssuedAt);
    /// @notice The zero subject cannot be attested.
    error ZeroSubject();
    /// @notice The zero root cannot be attested.
    error ZeroRoot();
    /// @notice A batch holds at least one result.
    error EmptyBatch();
    /// @notice A batch with this root was attested before; a root is attested once.
    /// @param root The Merkle root.
    error BatchExists(bytes32 root);
    /// @notice No batch with this root was attested.
    /// @param root The Merkle root.
    error UnknownBatch(bytes32 root);
    /// @notice Two model versions share a 64-bit id (keccak256 prefix); use another name.
    /// @param modelVersion The new model version.
    /// @param recorded The model version recorded under the id.
    error ModelIdCollision(bytes32 modelVersion, bytes32 recorded);

    // ---------------------------------------------------------------- events

    /// @notice An oracle signer was registered.
    /// @param signer The oracle's signing address.
    /// @param kind Its kind.
    /// @param member The member operating it.
    /// @param operator The ORACLE_OPERATOR account that registered it.
    event OracleRegistered(address indexed signer, uint8 indexed kind, bytes32 indexed member, address operator);
    /// @notice An oracle signer was deactivated; its signatures no longer count.
    /// @param signer The oracle's signing address.
    /// @param kind Its kind.
    /// @param member The member operating it.
    /// @param by The operator account, or the registry for a governance decision.
    event OracleDeactivated(address indexed signer, uint8 indexed kind, bytes32 indexed member, address by);
    /// @notice The quorum of a kind was set (at construction, or by governance).
    /// @param kind The oracle kind.
    /// @param previous The previous quorum (0 at construction).
    /// @param quorum The new quorum.
    event QuorumSet(uint8 indexed kind, uint8 previous, uint8 quorum);
    /// @notice A result was accepted.
    /// @param subject What the result is about.
    /// @param kind The oracle kind.
    /// @param resultHash Hash of the full off-chain result.
    /// @param modelVersion The model that computed it.
    /// @param issuedAt When the oracles issued it (unix seconds).
    /// @param signers The distinct oracles that signed, in signature order.
    event Attested(
        bytes32 indexed subject,
        uint8 indexed kind,
        bytes32 resultHash,
        bytes32 modelVersion,
        uint64 issuedAt,
        address[] signers
    );
    /// @notice A model version was seen for the first time and recorded under its id.
    /// @param id The id: the low 64 bits of `keccak256(abi.encode(modelVersion))`.
    /// @param modelVersion The model version.
    event ModelVersionRecorded(uint64 indexed id, bytes32 modelVersion);
    /// @notice A batch of results was accepted under one Merkle root.
    /// @param root The Merkle root.
    /// @param kind The oracle kind.
    /// @param count The number of results (leaves).
    /// @param modelVersion The model that computed them.
    /// @param issuedAt When the oracles issued them (unix seconds).
    /// @param signers The distinct oracles that signed, in signature order.
    event BatchAttested(
        bytes32 indexed root, uint8 indexed kind, uint32 count, bytes32 modelVersion, uint64 issuedAt, address[] signers
    );

    // ---------------------------------------------------------------- functions

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
