// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title What TransportLedger reverts with and logs
/// @notice The custom errors and events of TransportLedger (and the trip outcomes they carry),
/// so that off-chain readers and other contracts can decode its reverts and logs without its code.
interface ITransportLedger {
    // ---------------------------------------------------------------- types

    /// @notice How a trip ended; `None` while it is open. `Cancelled`: stopped before it
    /// could arrive (never departed, turned back, cargo seized), with the reason.
    enum Outcome {
        None,
        ArrivedIntact,
        ArrivedWithAlerts,
        SealBroken,
        Overdue,
        Cancelled
    }

    // ---------------------------------------------------------------- errors

    /// @notice `account` does not hold the VERIFIER (customs officer) role through an active member.
    /// @param account The calling account.
    error NotCustoms(address account);
    /// @notice `account` is a customs officer, but of another member than the one that started the trip.
    /// @param account The calling account.
    /// @param tripId The trip.
    /// @param tripMember The member that started the trip.
    error NotTripMember(address account, bytes32 tripId, bytes32 tripMember);
    /// @notice Trip, seal and vehicle ids, zones and the route hash must not be zero.
    /// @param field Which argument: "tripId", "sealId", "vehicleId", "originZone",
    /// "destinationZone" or "routeHash", right-padded with zeros.
    error ZeroId(bytes32 field);
    /// @notice A trip goes from one zone to another.
    /// @param zone The zone given as both origin and destination.
    error SameZone(bytes32 zone);
    /// @notice The deadline must be later than the current block time.
    /// @param deadline The rejected deadline.
    /// @param nowTs The block time.
    error DeadlineInPast(uint64 deadline, uint64 nowTs);
    /// @notice A trip with this id was started before (open or closed); ids are used once.
    /// @param tripId The trip.
    error TripExists(bytes32 tripId);
    /// @notice No trip with this id was ever started.
    /// @param tripId The trip.
    error UnknownTrip(bytes32 tripId);
    /// @notice The trip was closed; nothing more can be anchored or changed.
    /// @param tripId The trip.
    /// @param outcome How it ended.
    error TripAlreadyClosed(bytes32 tripId, Outcome outcome);
    /// @notice The zero root is not a Merkle root.
    error ZeroRoot();
    /// @notice A batch holds at least one event.
    error ZeroCount();
    /// @notice The first event of a batch cannot be later than its last.
    /// @param firstTs The rejected first timestamp.
    /// @param lastTs The rejected last timestamp.
    error InvalidTimeRange(uint64 firstTs, uint64 lastTs);
    /// @notice This root was anchored before (for this or another trip).
    /// @param root The root.
    /// @param tripId The trip it was anchored for.
    error RootAlreadyAnchored(bytes32 root, bytes32 tripId);
    /// @notice `None` is not an outcome.
    error InvalidOutcome();
    /// @notice `Overdue` can be recorded only once the deadline has passed.
    /// @param deadline The trip's deadline.
    error NotOverdue(uint64 deadline);
    /// @notice A cancellation must say why.
    /// @param tripId The trip.
    /// @param outcome The outcome that needs a reason.
    error ReasonRequired(bytes32 tripId, Outcome outcome);
    /// @notice The reason is longer than `MAX_REASON_BYTES`.
    /// @param length Its length in bytes.
    /// @param max The limit.
    error ReasonTooLong(uint256 length, uint256 max);

    // ---------------------------------------------------------------- events

    /// @notice A bonded trip was started.
    /// @param tripId The trip id.
    /// @param member The member whose officer started it.
    /// @param sealId The electronic seal's id.
    /// @param vehicleId The vehicle's id.
    /// @param originZone The zone the cargo leaves.
    /// @param destinationZone The zone the cargo must reach.
    /// @param routeHash The hash of the approved route.
    /// @param deadline Arrival deadline (unix seconds).
    /// @param by The starting officer's account.
    event TripStarted(
        bytes32 indexed tripId,
        bytes32 indexed member,
        bytes32 indexed sealId,
        bytes32 vehicleId,
        bytes32 originZone,
        bytes32 destinationZone,
        bytes32 routeHash,
        uint64 deadline,
        address by
    );

    /// @notice A batch of a trip's events was anchored.
    /// @param tripId The trip id.
    /// @param root The batch's Merkle root.
    /// @param count How many events the batch holds.
    /// @param firstTs Timestamp of its earliest event.
    /// @param lastTs Timestamp of its latest event.
    event EventsAnchored(bytes32 indexed tripId, bytes32 indexed root, uint32 count, uint64 firstTs, uint64 lastTs);

    /// @notice A trip was closed.
    /// @param tripId The trip id.
    /// @param outcome How it ended.
    /// @param byMember The trip's member, whose officer closed it.
    /// @param by The closing officer's account.
    /// @param reason Why, in the officer's words (empty for a trip closed on arrival).
    event TripClosed(bytes32 indexed tripId, Outcome outcome, bytes32 byMember, address by, string reason);
}
