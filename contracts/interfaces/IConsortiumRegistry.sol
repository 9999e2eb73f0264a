// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title What other Smart Customs contracts ask the consortium registry
/// @notice Membership and role look-ups for contracts such as DocumentRegistry, PermitRegistry,
/// TransportLedger and AttestationHub. Membership and roles change only by majority vote of the
/// member administrations, inside the registry itself.
/// @dev Members are identified by a short ASCII id stored as `bytes32`, right-padded with zeros
/// (for example "TW"). The zero id means "no member".
interface IConsortiumRegistry {
    /// @notice The role of accounts that anchor trade documents (`keccak256("ISSUER")`).
    /// @return The role identifier.
    function ISSUER_ROLE() external view returns (bytes32);

    /// @notice The role of accounts that verify documents (`keccak256("VERIFIER")`).
    /// @return The role identifier.
    function VERIFIER_ROLE() external view returns (bytes32);

    /// @notice The role of accounts that operate attesting oracles (`keccak256("ORACLE_OPERATOR")`).
    /// @return The role identifier.
    function ORACLE_OPERATOR_ROLE() external view returns (bytes32);

    /// @notice The role of accounts that audit provenance (`keccak256("AUDITOR")`).
    /// @return The role identifier.
    function AUDITOR_ROLE() external view returns (bytes32);

    /// @notice The role of accounts of permit-issuing agencies (`keccak256("PERMIT_AGENCY")`).
    /// @return The role identifier.
    function PERMIT_AGENCY_ROLE() external view returns (bytes32);

    /// @notice Whether `account` holds `role` through a member that is active now.
    /// @param role The role identifier.
    /// @param account The account to check.
    /// @return True if the role was granted and the account's member is active.
    function hasRole(bytes32 role, address account) external view returns (bool);

    /// @notice The member `account` is bound to.
    /// @param account The account to look up.
    /// @return The member id, or zero if the account is bound to no member.
    function memberOf(address account) external view returns (bytes32);

    /// @notice Whether `memberId` is a member of the consortium now.
    /// @param memberId The member id.
    /// @return True if the member was admitted and has not been removed since.
    function isActiveMember(bytes32 memberId) external view returns (bool);

    /// @notice Role check and member look-up in one call.
    /// @param role The role identifier.
    /// @param account The account to check.
    /// @return ok Same as `hasRole(role, account)`.
    /// @return memberId Same as `memberOf(account)`, whatever `ok` is.
    function memberRole(bytes32 role, address account) external view returns (bool ok, bytes32 memberId);

    /// @notice How many members are active now.
    /// @return The number of active members.
    function activeMemberCount() external view returns (uint256);
}
