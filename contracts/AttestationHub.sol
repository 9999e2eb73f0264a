// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {IAttestationHub} from "./interfaces/IAttestationHub.sol";
import {IConsortiumRegistry} from "./interfaces/IConsortiumRegistry.sol";
import {ConsortiumGated} from "./utils/ConsortiumGated.sol";
import {MerkleLeaf} from "./utils/MerkleLeaf.sol";

/// @title AttestationHub
/// @notice Results of the off-chain oracle services (AI tariff classification, X-ray image
/// recognition, post-clearance audit selection, clearance decisions) accepted on chain once
/// enough independent oracles signed them. An oracle is a signing key of one kind, registered
/// by an ORACLE_OPERATOR account of a consortium member; a result counts when at least
/// `quorum(kind)` distinct registered, active oracles of that kind, whose members are still
/// active in the ConsortiumRegistry, signed it as EIP-712 typed data.
/// @dev Typed data, domain `{name: "SmartCustoms AttestationHub", version: "1", chainId,
/// verifyingContract: this}`:
///
///   Attestation(bytes32 subject,uint8 kind,bytes32 resultHash,bytes32 modelVersion,uint64 issuedAt,uint64 nonce)
///   BatchAttestation(bytes32 root,uint8 kind,uint32 count,bytes32 modelVersion,uint64 issuedAt,uint64 nonce)
///
/// A batch attests many results under one Merkle root. Its leaves are
/// `MerkleLeaf.hash(subject, resultHash)`: OpenZeppelin's StandardMerkleTree leaf of
/// `(bytes32 subject, bytes32 resultHash)`, pairs hashed commutatively (offchain/merkle.py
/// builds the trees).
///
/// Rules shared by `submit` and `submitBatch`:
/// - every signature must be valid (65 bytes, low s) and recover to a registered oracle that is
///   active, of the attested kind, and operated for an active member; one bad signature rejects
///   the whole submission, with an error that names the signer;
/// - a signer that appears more than once is counted once (the extra signatures are checked,
///   then ignored), and the `Attested` event lists each signer once;
/// - `issuedAt` may be at most `MAX_CLOCK_SKEW` seconds ahead of the block time and at most
///   `MAX_AGE` seconds behind it: an oracle's result is submitted while it is fresh, and a
///   signed result that was held back cannot be played in much later;
/// - a digest is accepted once (`AlreadyAttested`), whatever its signers.
///
/// Storage is kept to two fresh slots per accepted single result, so a 2-of-3 `submit` about a
/// new subject stays near 110,000 gas: per (subject, kind) the latest result's hash in one slot,
/// and its issuedAt, nonce, model id and signer count packed in the other. A model version is
/// stored once, under a 64-bit id (the low bits of its keccak256), since oracles attest
/// thousands of results with the same few models. A result replaces the latest only if it was
/// issued no earlier; the latest record holds everything of its digest, so a replay of it is
/// recognised without a per-digest slot, and only when a result is superseded is its digest
/// archived (`isAttested` answers for both).
///
/// Quorums change only through ConsortiumRegistry governance: a Call proposal that calls
/// `setQuorum` passes by majority of the members, and the registry makes the call.
contract AttestationHub is EIP712, ConsortiumGated, IAttestationHub {
    // ---------------------------------------------------------------- types
    //
    // Attestation, BatchAttestation, Result and Batch are declared in IAttestationHub.

    /// @dev A `Result` as stored: two slots, the model version by id (see `_modelVersions`).
    struct StoredResult {
        bytes32 resultHash;
        uint64 issuedAt;
        uint64 nonce;
        uint64 modelId;
        uint8 signerCount;
    }

    /// @notice A registered oracle, as stored and returned by `oracle`.
    /// @dev Two slots: kind, active and registeredAt packed, then the member id. `kind == 0` means
    /// "never registered".
    struct Oracle {
        uint8 kind;
        bool active;
        uint64 registeredAt;
        bytes32 member;
    }

    // ---------------------------------------------------------------- constants

    /// @notice Oracle kind: AI tariff classification (HS code check).
    uint8 public constant TARIFF = 1;
    /// @notice Oracle kind: X-ray image recognition.
    uint8 public constant XRAY = 2;
    /// @notice Oracle kind: post-clearance audit risk selection.
    uint8 public constant AUDIT = 3;
    /// @notice Oracle kind: clearance decision (channel C1 / C2 / C3).
    uint8 public constant CLEARANCE = 4;

    /// @notice How far (seconds) `issuedAt` may be ahead of the block time: clocks of oracle hosts
    /// and validators drift a little.
    uint64 public constant MAX_CLOCK_SKEW = 5 minutes;
    /// @notice How old (seconds) a signed result may be when it is submitted. An older one must be
    /// signed again with a new `issuedAt`.
    uint64 public constant MAX_AGE = 1 hours;
    /// @notice The most signatures one submission may carry, and so the highest quorum.
    uint8 public constant MAX_SIGNATURES = 32;

    /// @dev keccak256 of the Attestation type string.
    bytes32 private constant ATTESTATION_TYPEHASH = keccak256(
        "Attestation(bytes32 subject,uint8 kind,bytes32 resultHash,bytes32 modelVersion,uint64 issuedAt,uint64 nonce)"
    );
    /// @dev keccak256 of the BatchAttestation type string.
    bytes32 private constant BATCH_TYPEHASH = keccak256(
        "BatchAttestation(bytes32 root,uint8 kind,uint32 count,bytes32 modelVersion,uint64 issuedAt,uint64 nonce)"
    );

    // ---------------------------------------------------------------- state

    /// @dev `registry.ORACLE_OPERATOR_ROLE()`, read once at construction.
    bytes32 private immutable _operatorRole;

    /// @dev Quorum per kind, index 1..4 (index 0 unused); one slot.
    uint8[5] private _quorums;
    mapping(address signer => Oracle) private _oracles;
    mapping(uint8 kind => address[]) private _oraclesOfKind;
    /// @dev Digests of single results that were superseded by a newer one.
    mapping(bytes32 digest => bool) private _superseded;
    mapping(bytes32 subject => mapping(uint8 kind => StoredResult)) private _latest;
    mapping(uint64 modelId => bytes32 modelVersion) private _modelVersions;
    /// @dev A `Batch` takes two slots: modelVersion, then kind, count, issuedAt, nonce,
    /// attestedAt and signerCount packed.
    mapping(bytes32 root => Batch) private _batches;

    // Errors and events are declared in IAttestationHub; `registry` and `ZeroRegistry` in ConsortiumGated.

    // ---------------------------------------------------------------- constructor

    /// @param registry_ The ConsortiumRegistry (roles, members, governance).
    /// @param kinds The oracle kinds to configure; together they must cover kinds 1 to 4.
    /// @param quorums The initial quorum of each kind in `kinds`, at least 1.
    constructor(IConsortiumRegistry registry_, uint8[] memory kinds, uint8[] memory quorums)
        EIP712("SmartCustoms AttestationHub", "1")
        ConsortiumGated(registry_)
    {
        if (kinds.length != quorums.length) revert LengthMismatch(kinds.length, quorums.length);
        _operatorRole = registry_.ORACLE_OPERATOR_ROLE();
        for (uint256 i = 0; i < kinds.length; ++i) {
            _setQuorum(kinds[i], quorums[i]);
        }
        for (uint8 kind = TARIFF; kind <= CLEARANCE; ++kind) {
            if (_quorums[kind] == 0) revert InvalidQuorum(kind, 0);
        }
    }

    // ---------------------------------------------------------------- oracle registry

    /// @notice Registers an oracle signing key of one kind, operated for the caller's member.
    /// @dev Reverts `NotOracleOperator` unless the caller holds ORACLE_OPERATOR through an active
    /// member, then `ZeroSigner`, `UnknownKind`, `OracleExists`.
    /// @param signer The address the oracle signs with.
    /// @param kind Its kind, 1 to 4.
    function registerOracle(address signer, uint8 kind) external {
        bytes32 member = _requireMemberRole(_operatorRole, NotOracleOperator.selector);
        if (signer == address(0)) revert ZeroSigner();
        _requireKind(kind);
        if (_oracles[signer].kind != 0) revert OracleExists(signer);

        _oracles[signer] = Oracle({kind: kind, active: true, registeredAt: uint64(block.timestamp), member: member});
        _oraclesOfKind[kind].push(signer);
        emit OracleRegistered(signer, kind, member, msg.sender);
    }

    /// @notice Deactivates an oracle for good (a retired or compromised key).
    /// @dev Callable by an ORACLE_OPERATOR of the oracle's member, or by the registry (a passed
    /// governance Call proposal, for an oracle whose member does not act). Reverts
    /// `UnknownOracle`, `InactiveOracle`, `NotOracleMember`.
    /// @param signer The oracle's signing address.
    function deactivateOracle(address signer) external {
        Oracle storage o = _oracles[signer];
        if (o.kind == 0) revert UnknownOracle(signer);
        if (!o.active) revert InactiveOracle(signer);
        if (msg.sender != address(registry)) {
            (bool ok, bytes32 member) = _memberRole(_operatorRole);
            if (!ok || member != o.member) revert NotOracleMember(msg.sender, o.member);
        }
        o.active = false;
        emit OracleDeactivated(signer, o.kind, o.member, msg.sender);
    }

    // ---------------------------------------------------------------- governance

    /// @notice Sets the number of distinct oracles that must sign a result of `kind`.
    /// @dev Only the ConsortiumRegistry may call (`OnlyGovernance`): propose it with
    /// `registry.proposeCall(hub, abi.encodeCall(AttestationHub.setQuorum, (kind, k)))`.
    /// Reverts `UnknownKind`, and `InvalidQuorum` for zero or more than `MAX_SIGNATURES`. The
    /// quorum is not checked against the number of oracles: those change, and a quorum no set of
    /// oracles can meet only stops new results of the kind until governance lowers it.
    /// @param kind The oracle kind, 1 to 4.
    /// @param k The new quorum, 1 to `MAX_SIGNATURES`.
    function setQuorum(uint8 kind, uint8 k) external {
        if (msg.sender != address(registry)) revert OnlyGovernance(msg.sender);
        _setQuorum(kind, k);
    }

    // ---------------------------------------------------------------- attesting

    /// @notice Accepts one result signed by at least `quorum(a.kind)` distinct oracles.
    /// @dev Anyone may submit (the signatures are the authority). Reverts `UnknownKind`,
    /// `ZeroSubject`, `IssuedInFuture`, `AttestationTooOld`, `AlreadyAttested`,
    /// `OlderThanLatest`, then per signature `InvalidSignature`, `UnknownOracle`,
    /// `InactiveOracle`, `WrongKind`, `OracleMemberInactive`, then `BelowQuorum`, and
    /// `ModelIdCollision` (practically never). The result becomes `latest(a.subject, a.kind)`;
    /// one issued in the same second as the latest replaces it too, so a correction need not
    /// wait. The result it replaces stays attested (`isAttested`).
    /// @param a The attestation, as signed.
    /// @param signatures 65-byte `(r, s, v)` signatures of `hashAttestation(a)`.
    function submit(Attestation calldata a, bytes[] calldata signatures) external {
        _requireKind(a.kind);
        if (a.subject == bytes32(0)) revert ZeroSubject();
        _requireFresh(a.issuedAt);
        bytes32 digest = hashAttestation(a);
        StoredResult storage latest_ = _latest[a.subject][a.kind];
        uint64 latestIssuedAt = latest_.issuedAt;
        bytes32 previous;
        if (latestIssuedAt != 0) {
            previous = _storedDigest(a.subject, a.kind, latest_);
            if (digest == previous || _superseded[digest]) revert AlreadyAttested(digest);
            if (a.issuedAt < latestIssuedAt) {
                revert OlderThanLatest(a.subject, a.kind, a.issuedAt, latestIssuedAt);
            }
        }
        uint64 modelId = _recordModel(a.modelVersion);

        address[] memory signers = _checkSigners(digest, a.kind, signatures);
        if (previous != bytes32(0)) _superseded[previous] = true;
        latest_.resultHash = a.resultHash;
        latest_.issuedAt = a.issuedAt;
        latest_.nonce = a.nonce;
        latest_.modelId = modelId;
        latest_.signerCount = uint8(signers.length);
        emit Attested(a.subject, a.kind, a.resultHash, a.modelVersion, a.issuedAt, signers);
    }

    /// @notice Accepts a Merkle root of many results signed by at least `quorum(b.kind)` distinct
    /// oracles; each result is then shown with its proof (`verifyResult`).
    /// @dev Same rules and errors as `submit` (with `ZeroRoot` and `EmptyBatch` instead of
    /// `ZeroSubject`, and `BatchExists` for a root attested before). `latest` is not updated:
    /// results in batches are found through their root.
    /// @param b The batch attestation, as signed.
    /// @param signatures 65-byte `(r, s, v)` signatures of `hashBatch(b)`.
    function submitBatch(BatchAttestation calldata b, bytes[] calldata signatures) external {
        _requireKind(b.kind);
        if (b.root == bytes32(0)) revert ZeroRoot();
        if (b.count == 0) revert EmptyBatch();
        _requireFresh(b.issuedAt);
        bytes32 digest = hashBatch(b);
        Batch storage batch = _batches[b.root];
        if (batch.signerCount != 0) {
            if (_sameBatch(batch, b)) revert AlreadyAttested(digest);
            revert BatchExists(b.root);
        }

        address[] memory signers = _checkSigners(digest, b.kind, signatures);
        batch.modelVersion = b.modelVersion;
        batch.kind = b.kind;
        batch.count = b.count;
        batch.issuedAt = b.issuedAt;
        batch.nonce = b.nonce;
        batch.attestedAt = uint40(block.timestamp);
        batch.signerCount = uint8(signers.length);
        emit BatchAttested(b.root, b.kind, b.count, b.modelVersion, b.issuedAt, signers);
    }

    // ---------------------------------------------------------------- views

    /// @notice The EIP-712 digest oracles sign for `a` (domain of this contract and chain).
    /// @param a The attestation.
    /// @return digest The digest.
    function hashAttestation(Attestation calldata a) public view returns (bytes32 digest) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(ATTESTATION_TYPEHASH, a.subject, a.kind, a.resultHash, a.modelVersion, a.issuedAt, a.nonce)
            )
        );
    }

    /// @notice The EIP-712 digest oracles sign for a batch `b`.
    /// @param b The batch attestation.
    /// @return digest The digest.
    function hashBatch(BatchAttestation calldata b) public view returns (bytes32 digest) {
        return _hashTypedDataV4(
            keccak256(abi.encode(BATCH_TYPEHASH, b.root, b.kind, b.count, b.modelVersion, b.issuedAt, b.nonce))
        );
    }

    /// @notice The latest result accepted by `submit` for a subject and kind.
    /// @param subject The subject.
    /// @param kind The oracle kind.
    /// @return The result; all zero (`signerCount == 0`) if none was accepted.
    function latest(bytes32 subject, uint8 kind) external view returns (Result memory) {
        StoredResult storage r = _latest[subject][kind];
        return Result({
            resultHash: r.resultHash,
            modelVersion: _modelVersions[r.modelId],
            issuedAt: r.issuedAt,
            nonce: r.nonce,
            signerCount: r.signerCount
        });
    }

    /// @notice The attested batch with this root.
    /// @dev Reverts `UnknownBatch` if none was attested.
    /// @param root The Merkle root.
    /// @return batch The batch record.
    function batchOf(bytes32 root) external view returns (Batch memory batch) {
        batch = _batches[root];
        if (batch.signerCount == 0) revert UnknownBatch(root);
    }

    /// @notice The Merkle leaf of one result in a batch:
    /// `keccak256(bytes.concat(keccak256(abi.encode(subject, resultHash))))`.
    /// @param subject The subject.
    /// @param resultHash The result hash.
    /// @return The leaf.
    function resultLeaf(bytes32 subject, bytes32 resultHash) public pure returns (bytes32) {
        return MerkleLeaf.hash(subject, resultHash);
    }

    /// @notice Whether `root` is an attested batch and `proof` shows the result is in it.
    /// @param root The batch's Merkle root.
    /// @param subject The subject.
    /// @param resultHash The result hash.
    /// @param proof The Merkle proof, leaf to root.
    /// @return True if attested and included.
    function verifyResult(bytes32 root, bytes32 subject, bytes32 resultHash, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        return _batches[root].signerCount != 0
            && MerkleProof.verifyCalldata(proof, root, resultLeaf(subject, resultHash));
    }

    /// @notice Whether exactly this attestation was accepted: it is the latest result of its
    /// subject and kind, or was until a newer one replaced it.
    /// @param a The attestation.
    /// @return True if accepted.
    function isAttested(Attestation calldata a) external view returns (bool) {
        bytes32 digest = hashAttestation(a);
        StoredResult storage r = _latest[a.subject][a.kind];
        return _superseded[digest] || (r.signerCount != 0 && _storedDigest(a.subject, a.kind, r) == digest);
    }

    /// @notice Whether exactly this batch attestation was accepted.
    /// @param b The batch attestation.
    /// @return True if accepted.
    function isBatchAttested(BatchAttestation calldata b) external view returns (bool) {
        Batch storage batch = _batches[b.root];
        return batch.signerCount != 0 && _sameBatch(batch, b);
    }

    /// @notice The number of distinct oracles that must sign a result of `kind`.
    /// @param kind The oracle kind, 1 to 4 (`UnknownKind` otherwise).
    /// @return The quorum.
    function quorum(uint8 kind) external view returns (uint8) {
        _requireKind(kind);
        return _quorums[kind];
    }

    /// @notice A registered oracle.
    /// @param signer The oracle's signing address.
    /// @return kind Its kind (0 if never registered).
    /// @return member The member operating it.
    /// @return active False once deactivated. Whether its member is active is `registry`'s to say.
    /// @return registeredAt When it was registered (unix seconds).
    function oracle(address signer)
        external
        view
        returns (uint8 kind, bytes32 member, bool active, uint64 registeredAt)
    {
        Oracle storage o = _oracles[signer];
        return (o.kind, o.member, o.active, o.registeredAt);
    }

    /// @notice Every signer ever registered for a kind, in order of registration, deactivated
    /// ones included (ask `oracle` for each one's state).
    /// @param kind The oracle kind, 1 to 4 (`UnknownKind` otherwise).
    /// @return The signers.
    function oraclesOf(uint8 kind) external view returns (address[] memory) {
        _requireKind(kind);
        return _oraclesOfKind[kind];
    }

    // ---------------------------------------------------------------- internals

    /// @dev Recovers every signer, checks each against the oracle registry and the consortium,
    /// drops repeats, and checks the quorum; returns the distinct signers in signature order.
    function _checkSigners(bytes32 digest, uint8 kind, bytes[] calldata signatures)
        private
        view
        returns (address[] memory signers)
    {
        if (signatures.length > MAX_SIGNATURES) revert TooManySignatures(signatures.length);
        signers = new address[](signatures.length);
        uint256 count = 0;
        bytes32 checkedMember;
        for (uint256 i = 0; i < signatures.length; ++i) {
            address signer = _recover(digest, signatures[i], i);
            bool seen = false;
            for (uint256 j = 0; j < count; ++j) {
                if (signers[j] == signer) {
                    seen = true;
                    break;
                }
            }
            if (seen) continue;
            Oracle storage o = _oracles[signer];
            uint8 oracleKind = o.kind;
            if (oracleKind == 0) revert UnknownOracle(signer);
            if (!o.active) revert InactiveOracle(signer);
            if (oracleKind != kind) revert WrongKind(signer, oracleKind, kind);
            bytes32 member = o.member;
            if (member != checkedMember) {
                if (!registry.isActiveMember(member)) revert OracleMemberInactive(signer, member);
                checkedMember = member;
            }
            signers[count++] = signer;
        }
        uint8 need = _quorums[kind];
        if (count < need) revert BelowQuorum(kind, count, need);
        assembly ("memory-safe") {
            mstore(signers, count)
        }
    }

    /// @dev A 65-byte `(r, s, v)` signature; anything ECDSA refuses is `InvalidSignature(index)`.
    function _recover(bytes32 digest, bytes calldata signature, uint256 index) private pure returns (address) {
        if (signature.length != 65) revert InvalidSignature(index);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := calldataload(signature.offset)
            s := calldataload(add(signature.offset, 0x20))
            v := byte(0, calldataload(add(signature.offset, 0x40)))
        }
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, v, r, s);
        if (err != ECDSA.RecoverError.NoError) revert InvalidSignature(index);
        return signer;
    }

    /// @dev The digest of the stored latest result of (subject, kind).
    function _storedDigest(bytes32 subject, uint8 kind, StoredResult storage r) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    ATTESTATION_TYPEHASH,
                    subject,
                    kind,
                    r.resultHash,
                    _modelVersions[r.modelId],
                    r.issuedAt,
                    r.nonce
                )
            )
        );
    }

    /// @dev The id a model version is stored under, recording it the first time it is seen.
    function _recordModel(bytes32 modelVersion) private returns (uint64 id) {
        id = uint64(uint256(keccak256(abi.encode(modelVersion))));
        bytes32 recorded = _modelVersions[id];
        if (recorded == modelVersion) return id;
        if (recorded != bytes32(0)) revert ModelIdCollision(modelVersion, recorded);
        _modelVersions[id] = modelVersion;
        emit ModelVersionRecorded(id, modelVersion);
    }

    function _sameBatch(Batch storage batch, BatchAttestation calldata b) private view returns (bool) {
        return batch.kind == b.kind && batch.count == b.count && batch.modelVersion == b.modelVersion
            && batch.issuedAt == b.issuedAt && batch.nonce == b.nonce;
    }

    function _requireFresh(uint64 issuedAt) private view {
        if (issuedAt > block.timestamp + MAX_CLOCK_SKEW) revert IssuedInFuture(issuedAt, block.timestamp + MAX_CLOCK_SKEW);
        if (uint256(issuedAt) + MAX_AGE < block.timestamp) revert AttestationTooOld(issuedAt, block.timestamp - MAX_AGE);
    }

    function _setQuorum(uint8 kind, uint8 k) private {
        _requireKind(kind);
        if (k == 0 || k > MAX_SIGNATURES) revert InvalidQuorum(kind, k);
        uint8 previous = _quorums[kind];
        _quorums[kind] = k;
        emit QuorumSet(kind, previous, k);
    }

    function _requireKind(uint8 kind) private pure {
        if (kind < TARIFF || kind > CLEARANCE) revert UnknownKind(kind);
    }
}
