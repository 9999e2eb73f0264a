// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title What other Smart Customs contracts ask the consortium registry
/// @notice Membership and role look-ups for contracts such as DocumentRegistry, PermitRegistry,
/// TransportLedger and AttestationHub, and the registry's custom errors and events (with the
/// proposal kinds and states they carry), so its reverts and logs decode without its code.
/// Membership and roles change only by majority vote of the member administrations, inside the
/// registry itself.
/// @dev Members are identified by a short ASCII id stored as `bytes32`, right-padded with zeros
/// (for example "TW"). The zero id means "no member".
interface IConsortiumRegistry {
    // ---------------------------------------------------------------- types

    /// @notice What a proposal asks the members to decide.
    enum ProposalKind {
        AddMember,
        RemoveMember,
        GrantRole,
        RevokeRole,
        Call
    }

    /// @notice Where a proposal stands. `Expired` is never stored: a `Pending` proposal reads as
    /// `Expired` once `block.timestamp >= expiresAt`.
    enum ProposalState {
        Pending,
        Executed,
        Rejected,
        Expired
    }

    // ---------------------------------------------------------------- errors

    /// @notice Roles change only through governance proposals.
    error GovernanceOnly();
    /// @notice The constructor was given no founding member.
    error NoMembers();
    /// @notice The voting period must be longer than zero seconds.
    /// @param votingPeriod The rejected value.
    error InvalidVotingPeriod(uint64 votingPeriod);
    /// @notice The zero id is not a valid member id.
    error InvalidMemberId();
    /// @notice The zero address is not valid here.
    error ZeroAddress();
    /// @notice `id` was never admitted.
    /// @param id The member id.
    error UnknownMember(bytes32 id);
    /// @notice `id` was admitted once but has been removed.
    /// @param id The member id.
    error MemberNotActive(bytes32 id);
    /// @notice `id` is already an active member.
    /// @param id The member id.
    error MemberExists(bytes32 id);
    /// @notice `id` is the last active member and cannot be removed.
    /// @param id The member id.
    error LastMember(bytes32 id);
    /// @notice `admin` is already bound to another member and cannot be this member's admin.
    /// @param admin The address.
    error AdminInUse(address admin);
    /// @notice `caller` is not the admin of member `memberId`.
    /// @param caller The calling account.
    /// @param memberId The member the call was about.
    error NotMemberAdmin(address caller, bytes32 memberId);
    /// @notice `caller` is not the admin of an active member.
    /// @param caller The calling account.
    error NotActiveMemberAdmin(address caller);
    /// @notice `role` is not one of the five consortium roles.
    /// @param role The role identifier.
    error UnknownRole(bytes32 role);
    /// @notice `account` is bound to member `boundTo`, so it cannot act for another member.
    /// @param account The account.
    /// @param boundTo The member it is bound to.
    error AccountOfOtherMember(address account, bytes32 boundTo);
    /// @notice `account` already holds `role`.
    /// @param role The role identifier.
    /// @param account The account.
    error RoleAlreadyGranted(bytes32 role, address account);
    /// @notice `account` does not hold `role`.
    /// @param role The role identifier.
    /// @param account The account.
    error RoleNotGranted(bytes32 role, address account);
    /// @notice A node public key must be 64 bytes (uncompressed secp256k1 without the 0x04 prefix).
    /// @param enodePubkey The rejected key.
    error InvalidEnode(bytes enodePubkey);
    /// @notice The node is already registered, by member `memberId`.
    /// @param enodeHash keccak256 of the node public key.
    /// @param memberId The member that registered it.
    error NodeTaken(bytes32 enodeHash, bytes32 memberId);
    /// @notice The node is not registered for member `memberId`.
    /// @param enodeHash keccak256 of the node public key.
    /// @param memberId The member the call was about.
    error UnknownNode(bytes32 enodeHash, bytes32 memberId);
    /// @notice No proposal has this id.
    /// @param id The proposal id.
    error UnknownProposal(uint256 id);
    /// @notice The proposal was already decided.
    /// @param id The proposal id.
    /// @param state Its state.
    error ProposalNotPending(uint256 id, ProposalState state);
    /// @notice The voting period of the proposal is over.
    /// @param id The proposal id.
    /// @param expiresAt When voting closed (unix seconds).
    error ProposalExpired(uint256 id, uint64 expiresAt);
    /// @notice The member already voted on the proposal.
    /// @param id The proposal id.
    /// @param memberId The member.
    error AlreadyVoted(uint256 id, bytes32 memberId);
    /// @notice `execute` found neither a majority for nor a blocking minority against the proposal.
    /// @param id The proposal id.
    /// @param yes Yes votes of active members.
    /// @param no No votes of active members.
    /// @param activeMembers Number of active members.
    error ProposalUndecided(uint256 id, uint256 yes, uint256 no, uint256 activeMembers);
    /// @notice A Call proposal must target another contract: not the zero address, not an account
    /// without code, not this registry.
    /// @param target The rejected target.
    error InvalidCallTarget(address target);
    /// @notice The call of a passed Call proposal ran out of gas; the transaction is reverted so
    /// the proposal stays open. Send the deciding vote (or `execute`) again with more gas.
    /// @param id The proposal id.
    error InsufficientGasForCall(uint256 id);

    // ---------------------------------------------------------------- events

    /// @notice A member was admitted (at genesis or by proposal), or a removed member re-admitted.
    /// @param id The member id.
    /// @param name The administration's name.
    /// @param admin The account that administers the member.
    /// @param x25519Key The member's X25519 public key for encrypted document exchange.
    event MemberAdded(bytes32 indexed id, string name, address indexed admin, bytes32 x25519Key);
    /// @notice A member was removed; its roles, accounts and nodes were dropped before this event.
    /// @param id The member id.
    event MemberRemoved(bytes32 indexed id);
    /// @notice A member rotated its admin account.
    /// @param id The member id.
    /// @param oldAdmin The previous admin.
    /// @param newAdmin The new admin.
    event MemberAdminChanged(bytes32 indexed id, address indexed oldAdmin, address indexed newAdmin);
    /// @notice A member changed its X25519 public key.
    /// @param id The member id.
    /// @param key The new key.
    event X25519KeyChanged(bytes32 indexed id, bytes32 key);
    /// @notice A member registered a node.
    /// @param id The member id.
    /// @param enodeHash keccak256 of the node public key.
    /// @param enodePubkey The 64-byte node public key.
    event NodeAdded(bytes32 indexed id, bytes32 indexed enodeHash, bytes enodePubkey);
    /// @notice A node was unregistered, by its member or because the member was removed.
    /// @param id The member id.
    /// @param enodeHash keccak256 of the node public key.
    event NodeRemoved(bytes32 indexed id, bytes32 indexed enodeHash);
    /// @notice An account now acts for a member.
    /// @param account The account.
    /// @param memberId The member.
    event AccountBound(address indexed account, bytes32 indexed memberId);
    /// @notice An account no longer acts for a member.
    /// @param account The account.
    /// @param memberId The member it acted for.
    event AccountUnbound(address indexed account, bytes32 indexed memberId);
    /// @notice A proposal was created. Which parameters matter depends on `kind` (see `Proposal`).
    /// @param id The proposal id.
    /// @param kind What is proposed.
    /// @param proposerMember The member whose admin proposed it.
    /// @param expiresAt When voting closes (unix seconds).
    /// @param memberId The member to add or remove; for GrantRole the member to bind the account to;
    /// for RevokeRole the member the account is bound to.
    /// @param role The role to grant or revoke.
    /// @param account The admin of the member to add, the account to grant or revoke a role, or the
    /// contract a Call proposal calls (its calldata is in `CallProposed`).
    /// @param name The name of the member to add.
    /// @param x25519Key The X25519 key of the member to add.
    event ProposalCreated(
        uint256 indexed id,
        ProposalKind kind,
        bytes32 indexed proposerMember,
        uint64 expiresAt,
        bytes32 indexed memberId,
        bytes32 role,
        address account,
        string name,
        bytes32 x25519Key
    );
    /// @notice A member voted; the counts are those right after the vote.
    /// @param id The proposal id.
    /// @param memberId The voting member.
    /// @param support True for yes.
    /// @param yes Yes votes of active members.
    /// @param no No votes of active members.
    event Voted(uint256 indexed id, bytes32 indexed memberId, bool support, uint256 yes, uint256 no);
    /// @notice A proposal passed and its change was applied.
    /// @param id The proposal id.
    event ProposalExecuted(uint256 indexed id);
    /// @notice A proposal was rejected: by vote, or because it became invalid (see ProposalInvalidated).
    /// @param id The proposal id.
    event ProposalRejected(uint256 indexed id);
    /// @notice A proposal that passed could no longer be applied, so it was rejected instead.
    /// @dev Emitted just before `ProposalRejected`.
    /// @param id The proposal id.
    /// @param reason The ABI-encoded custom error of this contract that says why (for example
    /// `MemberExists(id)` or `LastMember(id)`).
    event ProposalInvalidated(uint256 indexed id, bytes reason);
    /// @notice What a Call proposal will call; emitted right after its `ProposalCreated`.
    /// @param id The proposal id.
    /// @param target The contract to call.
    /// @param data The calldata (function selector and arguments).
    event CallProposed(uint256 indexed id, address indexed target, bytes data);

    // ---------------------------------------------------------------- functions

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
