// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {IConsortiumRegistry} from "./interfaces/IConsortiumRegistry.sol";
import {ITransportLedger} from "./interfaces/ITransportLedger.sol";
import {ConsortiumGated} from "./utils/ConsortiumGated.sol";
import {MerkleLeaf} from "./utils/MerkleLeaf.sol";

/// @title TransportLedger
/// @notice Bonded cargo trips between free-trade zones: a customs officer starts a trip (seal,
/// vehicle, origin and destination zone, hash of the approved route, deadline), the member's
/// customs node anchors the trip's tracking events in Merkle-rooted batches, and an officer
/// closes the trip with its outcome and, when it ends otherwise than by arriving, the reason.
/// A trip may be closed at any time (an officer who stops it early says why in the reason);
/// `Cancelled` records a trip that will not run, and needs a reason. The events themselves
/// (GPS fixes, seal states) stay off chain; one of them is proven with its hash, its Merkle
/// proof and the anchored root.
/// @dev Conventions, shared with chain/transport.py:
/// - Trip, seal, vehicle and zone ids are `keccak256` of their UTF-8 text ("TRIP-2026-000123",
///   "KEELUNG-PORT"); the route hash is the hash of the approved corridor's canonical form.
/// - Merkle leaves are `MerkleLeaf.hash(eventHash)`: OpenZeppelin's StandardMerkleTree leaf of
///   one `bytes32` value, pairs hashed commutatively (offchain/merkle.py builds the trees).
/// - Times are unix seconds; a trip is overdue once the block time is past its deadline.
///
/// Who may act: the customs officer's role is VERIFIER (officers verify cargo and seals; ISSUER
/// is the exporting side's document anchoring). A VERIFIER account of an active member starts
/// trips for that member; only VERIFIER accounts of the starting member anchor a trip's events
/// and close it. A member removed by governance loses its roles, so it can neither start new
/// trips nor touch its open ones.
///
/// Storage: seven slots per trip plus one for its index, and ONE slot per anchored batch
/// (the batch refers to its trip by a 32-bit index instead of the 32-byte id), since batches
/// are many per trip. Starting and closing accounts are not stored: the events carry them.
contract TransportLedger is ConsortiumGated, ITransportLedger {
    // ---------------------------------------------------------------- types

    // Outcome is declared in ITransportLedger.

    /// @notice A trip as stored and as returned by `trip`.
    /// @dev Slots: sealId | vehicleId | originZone | destinationZone | routeHash | member |
    /// deadline, startedAt, lastEventTs, eventCount, index, outcome (64+40+64+32+32+8 bits).
    /// `startedAt == 0` means "never started" (block timestamps are never zero).
    struct Trip {
        bytes32 sealId;
        bytes32 vehicleId;
        bytes32 originZone;
        bytes32 destinationZone;
        bytes32 routeHash;
        bytes32 member;
        uint64 deadline;
        uint40 startedAt;
        uint64 lastEventTs;
        uint32 eventCount;
        uint32 index;
        Outcome outcome;
    }

    /// @notice An anchored batch of a trip's events, as returned by `batchOf`;
    /// `anchoredAt == 0` (and `tripId == 0`) means "never anchored".
    struct Batch {
        bytes32 tripId;
        uint32 count;
        uint64 firstTs;
        uint64 lastTs;
        uint40 anchoredAt;
    }

    /// @dev A batch as stored: one slot (32+32+64+64+40 bits).
    struct BatchRecord {
        uint32 tripIndex;
        uint32 count;
        uint64 firstTs;
        uint64 lastTs;
        uint40 anchoredAt;
    }

    // ---------------------------------------------------------------- state

    /// @dev `registry.VERIFIER_ROLE()`, read once.
    bytes32 private immutable _customsRole;

    /// @notice How many trips were started; trip indexes run from 1 to this.
    uint32 public tripCount;

    /// @notice The longest reason a close records, in bytes of UTF-8 (it is event data).
    uint256 public constant MAX_REASON_BYTES = 256;

    mapping(bytes32 tripId => Trip) private _trips;
    mapping(uint32 index => bytes32 tripId) private _tripIds;
    mapping(bytes32 root => BatchRecord) private _batches;

    // Errors and events are declared in ITransportLedger; `registry` and `ZeroRegistry` in ConsortiumGated.

    // ---------------------------------------------------------------- constructor

    /// @param registry_ The ConsortiumRegistry that grants the VERIFIER (customs officer) role.
    constructor(IConsortiumRegistry registry_) ConsortiumGated(registry_) {
        _customsRole = registry_.VERIFIER_ROLE();
    }

    // ---------------------------------------------------------------- trips

    /// @notice Starts a bonded trip on behalf of the caller's member.
    /// @dev Reverts `NotCustoms` unless the caller holds VERIFIER through an active member, then
    /// `ZeroId`, `SameZone`, `DeadlineInPast`, `TripExists`.
    /// @param tripId keccak256 of the trip number.
    /// @param sealId keccak256 of the electronic seal's id.
    /// @param vehicleId keccak256 of the vehicle's id (plate or container number).
    /// @param originZone keccak256 of the origin zone's id.
    /// @param destinationZone keccak256 of the destination zone's id.
    /// @param routeHash Hash of the approved route (corridor).
    /// @param deadline Arrival deadline, unix seconds, later than now.
    function startTrip(
        bytes32 tripId,
        bytes32 sealId,
        bytes32 vehicleId,
        bytes32 originZone,
        bytes32 destinationZone,
        bytes32 routeHash,
        uint64 deadline
    ) external {
        bytes32 member = _requireMemberRole(_customsRole, NotCustoms.selector);
        if (tripId == bytes32(0)) revert ZeroId("tripId");
        if (sealId == bytes32(0)) revert ZeroId("sealId");
        if (vehicleId == bytes32(0)) revert ZeroId("vehicleId");
        if (originZone == bytes32(0)) revert ZeroId("originZone");
        if (destinationZone == bytes32(0)) revert ZeroId("destinationZone");
        if (routeHash == bytes32(0)) revert ZeroId("routeHash");
        if (originZone == destinationZone) revert SameZone(originZone);
        if (deadline <= block.timestamp) revert DeadlineInPast(deadline, uint64(block.timestamp));
        Trip storage t = _trips[tripId];
        if (t.startedAt != 0) revert TripExists(tripId);

        uint32 index = ++tripCount;
        _tripIds[index] = tripId;
        t.sealId = sealId;
        t.vehicleId = vehicleId;
        t.originZone = originZone;
        t.destinationZone = destinationZone;
        t.routeHash = routeHash;
        t.member = member;
        t.deadline = deadline;
        t.startedAt = uint40(block.timestamp);
        t.index = index;
        emit TripStarted(
            tripId, member, sealId, vehicleId, originZone, destinationZone, routeHash, deadline, msg.sender
        );
    }

    /// @notice Anchors a batch of an open trip's events as one Merkle root.
    /// @dev Reverts `NotCustoms`, `UnknownTrip`, `NotTripMember`, `TripAlreadyClosed`, `ZeroRoot`,
    /// `ZeroCount`, `InvalidTimeRange`, `RootAlreadyAnchored`. Batches may overlap in time
    /// (late events are anchored in a later batch); the trip keeps the latest timestamp seen.
    /// @param tripId The trip.
    /// @param root Merkle root over `leaf(eventHash)` of the batch's events.
    /// @param count How many events the batch holds (at least one).
    /// @param firstTs Timestamp of the batch's earliest event.
    /// @param lastTs Timestamp of the batch's latest event.
    function anchorEvents(bytes32 tripId, bytes32 root, uint32 count, uint64 firstTs, uint64 lastTs) external {
        Trip storage t = _openTripOfCaller(tripId);
        if (root == bytes32(0)) revert ZeroRoot();
        if (count == 0) revert ZeroCount();
        if (firstTs > lastTs) revert InvalidTimeRange(firstTs, lastTs);
        BatchRecord storage b = _batches[root];
        if (b.anchoredAt != 0) revert RootAlreadyAnchored(root, _tripIds[b.tripIndex]);

        b.tripIndex = t.index;
        b.count = count;
        b.firstTs = firstTs;
        b.lastTs = lastTs;
        b.anchoredAt = uint40(block.timestamp);
        t.eventCount += count;
        if (lastTs > t.lastEventTs) t.lastEventTs = lastTs;
        emit EventsAnchored(tripId, root, count, firstTs, lastTs);
    }

    /// @notice Closes an open trip with its outcome, at arrival or earlier, with the reason.
    /// @dev Reverts `NotCustoms`, `UnknownTrip`, `NotTripMember`, `TripAlreadyClosed` (also when closed
    /// before), `InvalidOutcome` for `None`, `NotOverdue` for `Overdue` before the deadline passed,
    /// `ReasonRequired` for `Cancelled` without a reason, `ReasonTooLong` past `MAX_REASON_BYTES`.
    /// The reason is kept in the `TripClosed` event only (not in storage).
    /// @param tripId The trip.
    /// @param outcome How it ended.
    /// @param reason Why it ended so (may be empty, except for `Cancelled`).
    function closeTrip(bytes32 tripId, Outcome outcome, string calldata reason) external {
        Trip storage t = _openTripOfCaller(tripId);
        if (outcome == Outcome.None) revert InvalidOutcome();
        if (outcome == Outcome.Overdue && block.timestamp <= t.deadline) revert NotOverdue(t.deadline);
        uint256 length = bytes(reason).length;
        if (length > MAX_REASON_BYTES) revert ReasonTooLong(length, MAX_REASON_BYTES);
        if (outcome == Outcome.Cancelled && length == 0) revert ReasonRequired(tripId, outcome);
        t.outcome = outcome;
        emit TripClosed(tripId, outcome, t.member, msg.sender, reason);
    }

    // ---------------------------------------------------------------- views

    /// @notice A trip as recorded.
    /// @dev Reverts `UnknownTrip` if it was never started.
    /// @param tripId The trip.
    /// @return The trip.
    function trip(bytes32 tripId) external view returns (Trip memory) {
        Trip memory t = _trips[tripId];
        if (t.startedAt == 0) revert UnknownTrip(tripId);
        return t;
    }

    /// @notice Whether the trip was started and not closed yet.
    /// @param tripId The trip.
    /// @return True if open.
    function isOpen(bytes32 tripId) external view returns (bool) {
        Trip storage t = _trips[tripId];
        return t.startedAt != 0 && t.outcome == Outcome.None;
    }

    /// @notice The batch anchored under `root`; all zeros if none. Never reverts.
    /// @param root The Merkle root.
    /// @return The batch.
    function batchOf(bytes32 root) external view returns (Batch memory) {
        BatchRecord memory b = _batches[root];
        return Batch(_tripIds[b.tripIndex], b.count, b.firstTs, b.lastTs, b.anchoredAt);
    }

    /// @notice The Merkle leaf of an event hash: `keccak256(bytes.concat(keccak256(abi.encode(eventHash))))`.
    /// @param eventHash The event's hash.
    /// @return The leaf.
    function eventLeaf(bytes32 eventHash) public pure returns (bytes32) {
        return MerkleLeaf.hash(eventHash);
    }

    /// @notice Whether `root` was anchored and `proof` shows `eventHash` is in its batch.
    /// @param root The batch's Merkle root.
    /// @param eventHash The event's hash.
    /// @param proof The Merkle proof, leaf to root.
    /// @return True if anchored and included.
    function verifyEvent(bytes32 root, bytes32 eventHash, bytes32[] calldata proof) external view returns (bool) {
        return _batches[root].anchoredAt != 0 && MerkleProof.verifyCalldata(proof, root, eventLeaf(eventHash));
    }

    // ---------------------------------------------------------------- internals

    /// @dev The open trip `tripId`, if the caller is a customs officer of its member.
    function _openTripOfCaller(bytes32 tripId) private view returns (Trip storage t) {
        bytes32 member = _requireMemberRole(_customsRole, NotCustoms.selector);
        t = _trips[tripId];
        if (t.startedAt == 0) revert UnknownTrip(tripId);
        if (member != t.member) revert NotTripMember(msg.sender, tripId, t.member);
        if (t.outcome != Outcome.None) revert TripAlreadyClosed(tripId, t.outcome);
    }
}
