// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title What PermitRegistry reverts with and logs
/// @notice The custom errors and events of PermitRegistry, so that off-chain readers and other
/// contracts can decode its reverts and logs without its code.
interface IPermitRegistry {
    // ---------------------------------------------------------------- errors

    /// @notice `account` does not hold the PERMIT_AGENCY role through an active member.
    /// @param account The calling account.
    error NotPermitAgency(address account);
    /// @notice `account` does not hold the ORACLE_OPERATOR role through an active member.
    /// @param account The calling account.
    error NotDrawer(address account);
    /// @notice `account` is not a PERMIT_AGENCY account of the (active) member that issued the permit.
    /// @param account The calling account.
    /// @param permitId The permit.
    error NotIssuingAgency(address account, bytes32 permitId);
    /// @notice The zero permit id is not valid.
    error ZeroPermitId();
    /// @notice The zero holder hash is not valid.
    error ZeroHolder();
    /// @notice The zero document hash is not valid.
    error ZeroDocumentHash();
    /// @notice The zero declaration id is not valid.
    error ZeroDeclarationId();
    /// @notice The unit must be two or three upper-case ASCII letters or digits, zero-padded on the
    /// right (for example "KGM", or "PR" as 0x505200).
    /// @param unit The rejected unit.
    error InvalidUnit(bytes3 unit);
    /// @notice A permit with this id was issued before (revoked or not).
    /// @param permitId The permit.
    error PermitExists(bytes32 permitId);
    /// @notice The window must end after it starts, and must not have ended already.
    /// @param validFrom The rejected start.
    /// @param validTo The rejected end.
    error InvalidValidity(uint64 validFrom, uint64 validTo);
    /// @notice A permit covers at least one HS code.
    error NoHsCodes();
    /// @notice A permit covers at most `MAX_HS_CODES` HS codes.
    /// @param count The number given.
    error TooManyHsCodes(uint256 count);
    /// @notice An HS code must be a six-digit number from 010000 to 999999 (10000 to 999999).
    /// @param code The rejected code.
    error InvalidHsCode(uint32 code);
    /// @notice HS codes must be given in strictly ascending order (so without duplicates).
    /// @param previous The code before.
    /// @param code The code out of order.
    error HsCodesNotAscending(uint32 previous, uint32 code);
    /// @notice Quantities must be above zero.
    error ZeroQuantity();
    /// @notice No permit with this id was ever issued.
    /// @param permitId The permit.
    error UnknownPermit(bytes32 permitId);
    /// @notice The permit was revoked.
    /// @param permitId The permit.
    /// @param reason The issuing agency's reason.
    error PermitIsRevoked(bytes32 permitId, string reason);
    /// @notice The member that issued the permit is no longer an active member.
    /// @param permitId The permit.
    /// @param issuerMember The issuing member.
    error IssuerNotActive(bytes32 permitId, bytes32 issuerMember);
    /// @notice The permit is not valid at `time` (before validFrom or after validTo).
    /// @param permitId The permit.
    /// @param time The block timestamp.
    error PermitNotValidAt(bytes32 permitId, uint64 time);
    /// @notice The permit does not cover this HS code.
    /// @param permitId The permit.
    /// @param hsCode The HS code.
    error HsCodeNotCovered(bytes32 permitId, uint32 hsCode);
    /// @notice Less than the requested quantity remains on the permit.
    /// @param permitId The permit.
    /// @param remaining What remains.
    /// @param requested What was asked for.
    error InsufficientQuantity(bytes32 permitId, uint128 remaining, uint128 requested);
    /// @notice This declaration already drew on this permit for this HS code.
    /// @param permitId The permit.
    /// @param declarationId The declaration.
    /// @param hsCode The HS code.
    error AlreadyDrawn(bytes32 permitId, bytes32 declarationId, uint32 hsCode);
    /// @notice The permit was revoked before.
    /// @param permitId The permit.
    error AlreadyRevoked(bytes32 permitId);
    /// @notice A revocation must say why.
    error EmptyReason();

    // ---------------------------------------------------------------- events

    /// @notice A permit was issued; with the other events, enough to rebuild every permit.
    /// @param permitId The permit id.
    /// @param issuerMember The member the agency acts for.
    /// @param holder The holder hash.
    /// @param agency The issuing account.
    /// @param hsCodes The HS codes covered, ascending.
    /// @param quantity The quantity, in thousandths of `unit`.
    /// @param unit The UN/ECE Rec 20 unit code.
    /// @param validFrom Start of validity (unix seconds, inclusive).
    /// @param validTo End of validity (unix seconds, inclusive).
    /// @param documentHash SHA-256 of the permit document's canonical form.
    event PermitIssued(
        bytes32 indexed permitId,
        bytes32 indexed issuerMember,
        bytes32 indexed holder,
        address agency,
        uint32[] hsCodes,
        uint128 quantity,
        bytes3 unit,
        uint64 validFrom,
        uint64 validTo,
        bytes32 documentHash
    );

    /// @notice A declaration drew quantity from a permit.
    /// @param permitId The permit id.
    /// @param declarationId The declaration.
    /// @param drawer The oracle operator account that posted the draw.
    /// @param hsCode The HS code of the goods.
    /// @param quantity The quantity drawn, in thousandths of the permit's unit.
    /// @param remaining What remains after the draw.
    event PermitDrawn(
        bytes32 indexed permitId,
        bytes32 indexed declarationId,
        address indexed drawer,
        uint32 hsCode,
        uint128 quantity,
        uint128 remaining
    );

    /// @notice A permit was revoked; it can no longer be drawn.
    /// @param permitId The permit id.
    /// @param byMember The issuing member, whose agency revoked.
    /// @param by The revoking account.
    /// @param reason Why, in the agency's words.
    event PermitRevoked(bytes32 indexed permitId, bytes32 indexed byMember, address by, string reason);
}
