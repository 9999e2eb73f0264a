// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

import {IAccountPermissioning} from "./interfaces/IAccountPermissioning.sol";
import {IConsortiumRegistry} from "./interfaces/IConsortiumRegistry.sol";
import {INodePermissioning} from "./interfaces/INodePermissioning.sol";

/// @title ConsortiumRegistry
/// @notice The partner customs administrations of the Smart Customs consortium: who they are,
/// which accounts act for them and with which roles, which nodes they run. Membership and roles
/// change only by a strict majority vote of the active members. The registry is also the single
/// source of truth for Besu permissioning: an account may transact while it is bound to an active
/// member, a node may connect while it belongs to an active member.
/// @dev Nobody holds `DEFAULT_ADMIN_ROLE`; the public `grantRole` / `revokeRole` of AccessControl
/// always revert, so governance is the only way to change roles. Invariant kept by every state
/// change: an account that was granted a role is bound to a member, and that member is active
/// (removing a member revokes the roles of all its accounts and unbinds them).
contract ConsortiumRegistry is AccessControl, IConsortiumRegistry, IAccountPermissioning, INodePermissioning {
    using EnumerableSet for EnumerableSet.AddressSet;
    using EnumerableSet for EnumerableSet.Bytes32Set;

    // ---------------------------------------------------------------- types

    // ProposalKind and ProposalState are declared in IConsortiumRegistry.

    /// @notice A founding member, admitted by the constructor.
    struct GenesisMember {
        bytes32 id;
        string name;
        address admin;
        bytes32 x25519Key;
    }

    /// @notice A role granted by the constructor to an account of a founding member.
    struct GenesisGrant {
        bytes32 role;
        address account;
        bytes32 memberId;
    }

    /// @notice A member as returned by `getMember`.
    struct Member {
        bytes32 id;
        string name;
        address admin;
        bool active;
        bytes32 x25519Key;
        uint64 joinedAt;
        bytes[] nodes;
        address[] accounts;
    }

    /// @notice A proposal as returned by `getProposal`. Which parameters matter depends on `kind`:
    /// AddMember uses memberId, name, account (the admin) and x25519Key; RemoveMember uses
    /// memberId; GrantRole uses role, account and memberId; RevokeRole uses role and account (its
    /// memberId records, for filtering, the member the account was bound to when proposed); Call
    /// uses account (the target contract), and `proposalCall` returns what will be called.
    /// `yes` and `no` count the votes of the members active at the time of the call.
    struct Proposal {
        uint256 id;
        ProposalKind kind;
        ProposalState state;
        bytes32 proposerMember;
        address proposer;
        uint64 createdAt;
        uint64 expiresAt;
        bytes32 memberId;
        bytes32 role;
        address account;
        string name;
        bytes32 x25519Key;
        uint256 yes;
        uint256 no;
    }

    enum Choice {
        None,
        Yes,
        No
    }

    /// @dev `admissions` counts how many times the id was admitted (0 = never seen). Ballots
    /// remember it, so the vote of an earlier membership does not count for a re-admitted member.
    struct MemberRecord {
        string name;
        address admin;
        bool active;
        uint64 joinedAt;
        uint32 admissions;
        bytes32 x25519Key;
        EnumerableSet.Bytes32Set nodeHashes;
        EnumerableSet.AddressSet accounts;
    }

    struct ProposalRecord {
        ProposalKind kind;
        ProposalState state;
        uint64 createdAt;
        uint64 expiresAt;
        address proposer;
        bytes32 proposerMember;
        bytes32 memberId;
        bytes32 role;
        address account;
        bytes32 x25519Key;
        string name;
    }

    struct Ballot {
        Choice choice;
        uint32 admission;
    }

    // ---------------------------------------------------------------- roles

    /// @notice The role of accounts that anchor trade documents.
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER");
    /// @notice The role of accounts that verify documents.
    bytes32 public constant VERIFIER_ROLE = keccak256("VERIFIER");
    /// @notice The role of accounts that operate attesting oracles.
    bytes32 public constant ORACLE_OPERATOR_ROLE = keccak256("ORACLE_OPERATOR");
    /// @notice The role of accounts that audit provenance.
    bytes32 public constant AUDITOR_ROLE = keccak256("AUDITOR");
    /// @notice The role of accounts of permit-issuing agencies.
    bytes32 public constant PERMIT_AGENCY_ROLE = keccak256("PERMIT_AGENCY");

    uint256 private constant ENODE_PUBKEY_LENGTH = 64;

    // ---------------------------------------------------------------- state

    /// @notice Seconds a proposal stays open for votes after it is created.
    uint64 public immutable votingPeriod;

    /// @notice How many proposals were ever created; proposal ids run from 1 to this number.
    uint256 public proposalCount;

    bytes32[] private _memberIds;
    uint256 private _activeCount;
    mapping(bytes32 memberId => MemberRecord) private _members;
    mapping(address account => bytes32 memberId) private _memberOf;
    mapping(bytes32 enodeHash => bytes32 memberId) private _nodeOwner;
    mapping(bytes32 enodeHash => bytes enodePubkey) private _enodes;
    mapping(uint256 proposalId => ProposalRecord) private _proposals;
    mapping(uint256 proposalId => mapping(bytes32 memberId => Ballot)) private _ballots;
    /// @dev The calldata of Call proposals; their target is the record's `account`.
    mapping(uint256 proposalId => bytes data) private _callData;

    // Errors and events are declared in IConsortiumRegistry.

    // ---------------------------------------------------------------- modifiers

    modifier onlyMemberAdmin(bytes32 memberId) {
        _requireMemberAdmin(memberId);
        _;
    }

    // ---------------------------------------------------------------- constructor

    /// @notice Founds the consortium with its first members and role grants.
    /// @dev Emits the same events as the governance path would (MemberAdded, AccountBound,
    /// RoleGranted, ...) so the history can be rebuilt from logs alone. Each grant's member must be
    /// one of `members`.
    /// @param votingPeriod_ Seconds a proposal stays open for votes; must be above zero.
    /// @param members The founding members; at least one.
    /// @param grants The founding role grants.
    constructor(uint64 votingPeriod_, GenesisMember[] memory members, GenesisGrant[] memory grants) {
        if (votingPeriod_ == 0) revert InvalidVotingPeriod(votingPeriod_);
        if (members.length == 0) revert NoMembers();
        votingPeriod = votingPeriod_;

        for (uint256 i = 0; i < members.length; ++i) {
            GenesisMember memory m = members[i];
            _revertIfError(_addMemberError(m.id, m.admin));
            _admitMember(m.id, m.name, m.admin, m.x25519Key);
        }
        for (uint256 i = 0; i < grants.length; ++i) {
            GenesisGrant memory g = grants[i];
            _revertIfError(_grantRoleError(g.role, g.account, g.memberId));
            _grantMemberRole(g.role, g.account, g.memberId);
        }
    }

    // ---------------------------------------------------------------- AccessControl overrides

    /// @notice Whether `account` holds `role` through a member that is active now.
    /// @param role The role identifier.
    /// @param account The account to check.
    /// @return True if the role was granted and the account's member is active.
    function hasRole(bytes32 role, address account)
        public
        view
        override(AccessControl, IConsortiumRegistry)
        returns (bool)
    {
        return super.hasRole(role, account) && _members[_memberOf[account]].active;
    }

    /// @notice Disabled: roles are granted only by a GrantRole proposal.
    /// @dev Always reverts with `GovernanceOnly()`.
    function grantRole(bytes32, address) public pure override {
        revert GovernanceOnly();
    }

    /// @notice Disabled: roles are revoked only by a RevokeRole proposal (or member removal).
    /// @dev Always reverts with `GovernanceOnly()`.
    function revokeRole(bytes32, address) public pure override {
        revert GovernanceOnly();
    }

    /// @notice Gives up one of the caller's own roles at once, without a vote.
    /// @dev Kept on purpose: it can only take rights away, and it lets the holder of a key that may
    /// be compromised act before the members meet. An account left with no role that is not its
    /// member's admin is unbound from the member.
    /// @param role The role to give up.
    /// @param callerConfirmation Must be the caller (AccessControl's guard against mistakes).
    function renounceRole(bytes32 role, address callerConfirmation) public override {
        super.renounceRole(role, callerConfirmation);
        _releaseIfIdle(callerConfirmation);
    }

    /// @notice ERC-165: AccessControl plus the registry and both Besu permissioning interfaces.
    /// @param interfaceId The interface identifier.
    /// @return True if the interface is implemented.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IConsortiumRegistry).interfaceId
            || interfaceId == type(IAccountPermissioning).interfaceId
            || interfaceId == type(INodePermissioning).interfaceId || super.supportsInterface(interfaceId);
    }

    // ---------------------------------------------------------------- self-service

    /// @notice Sets the member's X25519 public key for encrypted document exchange.
    /// @param memberId The caller's member.
    /// @param key The new key (zero clears it).
    function setX25519Key(bytes32 memberId, bytes32 key) external onlyMemberAdmin(memberId) {
        _members[memberId].x25519Key = key;
        emit X25519KeyChanged(memberId, key);
    }

    /// @notice Registers a node of the member; the node may then connect to the network.
    /// @param memberId The caller's member.
    /// @param enodePubkey The node's 64-byte public key (the enode id).
    function addNode(bytes32 memberId, bytes calldata enodePubkey) external onlyMemberAdmin(memberId) {
        if (enodePubkey.length != ENODE_PUBKEY_LENGTH) revert InvalidEnode(enodePubkey);
        bytes32 enodeHash = keccak256(enodePubkey);
        bytes32 owner = _nodeOwner[enodeHash];
        if (owner != bytes32(0)) revert NodeTaken(enodeHash, owner);

        _nodeOwner[enodeHash] = memberId;
        _enodes[enodeHash] = enodePubkey;
        _members[memberId].nodeHashes.add(enodeHash);
        emit NodeAdded(memberId, enodeHash, enodePubkey);
        emit NodePermissionsUpdated(false);
    }

    /// @notice Unregisters a node of the member; it may no longer connect.
    /// @param memberId The caller's member.
    /// @param enodePubkey The node's 64-byte public key.
    function removeNode(bytes32 memberId, bytes calldata enodePubkey) external onlyMemberAdmin(memberId) {
        bytes32 enodeHash = keccak256(enodePubkey);
        if (_nodeOwner[enodeHash] != memberId) revert UnknownNode(enodeHash, memberId);
        _removeNode(memberId, enodeHash);
    }

    /// @notice Hands the member's administration to another account (key rotation).
    /// @dev The new admin is bound to the member. The old admin stays bound only if it still holds
    /// a role. Setting the current admin again changes nothing and emits nothing.
    /// @param memberId The caller's member.
    /// @param newAdmin The new admin account; not bound to another member.
    function setMemberAdmin(bytes32 memberId, address newAdmin) external onlyMemberAdmin(memberId) {
        if (newAdmin == address(0)) revert ZeroAddress();
        bytes32 boundTo = _memberOf[newAdmin];
        if (boundTo != bytes32(0) && boundTo != memberId) revert AdminInUse(newAdmin);

        MemberRecord storage m = _members[memberId];
        address oldAdmin = m.admin;
        if (newAdmin == oldAdmin) return;

        m.admin = newAdmin;
        emit MemberAdminChanged(memberId, oldAdmin, newAdmin);
        if (boundTo == bytes32(0)) _bindAccount(newAdmin, memberId);
        _releaseIfIdle(oldAdmin);
    }

    // ---------------------------------------------------------------- governance

    /// @notice Proposes to admit a member, or to re-admit a removed one with new details.
    /// @dev Counts as the proposer member's yes vote, so with a single active member it executes
    /// at once.
    /// @param id The new member's id (ASCII, right-padded with zeros); not zero, not active.
    /// @param name The administration's name.
    /// @param admin Its admin account; not zero, not bound to any member.
    /// @param x25519Key Its X25519 public key for encrypted document exchange.
    /// @return proposalId The id of the new proposal.
    function proposeAddMember(bytes32 id, string calldata name, address admin, bytes32 x25519Key)
        external
        returns (uint256 proposalId)
    {
        bytes32 proposer = _requireActiveMemberAdmin();
        _revertIfError(_addMemberError(id, admin));
        ProposalRecord storage p;
        (proposalId, p) = _newProposal(ProposalKind.AddMember, proposer);
        p.memberId = id;
        p.name = name;
        p.account = admin;
        p.x25519Key = x25519Key;
        _open(proposalId, p);
    }

    /// @notice Proposes to remove an active member. Its roles, accounts and nodes are dropped.
    /// @dev Counts as the proposer member's yes vote.
    /// @param id The member to remove; active and not the last active member.
    /// @return proposalId The id of the new proposal.
    function proposeRemoveMember(bytes32 id) external returns (uint256 proposalId) {
        bytes32 proposer = _requireActiveMemberAdmin();
        _revertIfError(_removeMemberError(id));
        ProposalRecord storage p;
        (proposalId, p) = _newProposal(ProposalKind.RemoveMember, proposer);
        p.memberId = id;
        _open(proposalId, p);
    }

    /// @notice Proposes to grant `role` to `account`, binding the account to `memberId`.
    /// @dev Counts as the proposer member's yes vote.
    /// @param role One of the five consortium roles.
    /// @param account The account; not zero, not bound to another member, not holding the role.
    /// @param memberId The active member the account acts for.
    /// @return proposalId The id of the new proposal.
    function proposeGrantRole(bytes32 role, address account, bytes32 memberId) external returns (uint256 proposalId) {
        bytes32 proposer = _requireActiveMemberAdmin();
        _revertIfError(_grantRoleError(role, account, memberId));
        ProposalRecord storage p;
        (proposalId, p) = _newProposal(ProposalKind.GrantRole, proposer);
        p.role = role;
        p.account = account;
        p.memberId = memberId;
        _open(proposalId, p);
    }

    /// @notice Proposes to revoke `role` from `account`.
    /// @dev Counts as the proposer member's yes vote. On execution an account left with no role
    /// that is not its member's admin is unbound.
    /// @param role One of the five consortium roles.
    /// @param account An account holding the role.
    /// @return proposalId The id of the new proposal.
    function proposeRevokeRole(bytes32 role, address account) external returns (uint256 proposalId) {
        bytes32 proposer = _requireActiveMemberAdmin();
        _revertIfError(_revokeRoleError(role, account));
        ProposalRecord storage p;
        (proposalId, p) = _newProposal(ProposalKind.RevokeRole, proposer);
        p.role = role;
        p.account = account;
        p.memberId = _memberOf[account];
        _open(proposalId, p);
    }

    /// @notice Proposes that the registry call `target` with `data`: how the members change
    /// settings of other Smart Customs contracts that obey only the registry (for example the
    /// AttestationHub quorum, or deactivating an oracle).
    /// @dev Counts as the proposer member's yes vote. When the proposal passes, the registry
    /// calls `target` (no value). If that call reverts, the proposal is rejected with the
    /// target's revert data in `ProposalInvalidated`, and the deciding vote still goes through;
    /// if it runs out of gas, the vote reverts with `InsufficientGasForCall` instead.
    /// @param target The contract to call; not zero, not this registry, must hold code.
    /// @param data The calldata: selector and ABI-encoded arguments.
    /// @return proposalId The id of the new proposal.
    function proposeCall(address target, bytes calldata data) external returns (uint256 proposalId) {
        bytes32 proposer = _requireActiveMemberAdmin();
        _revertIfError(_callTargetError(target));
        ProposalRecord storage p;
        (proposalId, p) = _newProposal(ProposalKind.Call, proposer);
        p.account = target;
        _callData[proposalId] = data;
        _open(proposalId, p);
    }

    /// @notice Casts the caller's member's vote; executes or rejects the proposal when the vote
    /// decides it.
    /// @dev Passed when yes * 2 > active members; rejected when no * 2 >= active members (a tie
    /// rejects). Only votes of members active now count.
    /// @param proposalId The proposal.
    /// @param support True for yes, false for no.
    function vote(uint256 proposalId, bool support) external {
        bytes32 memberId = _requireActiveMemberAdmin();
        _requireOpen(proposalId);
        if (hasVoted(proposalId, memberId)) revert AlreadyVoted(proposalId, memberId);
        _castVote(proposalId, memberId, support);
    }

    /// @notice Counts the votes again and settles the proposal: executes it if it has a majority
    /// now, rejects it if it can no longer pass. Anyone may call.
    /// @dev Needed when membership changed after the votes were cast: removing a member changes
    /// both the number of active members and which votes count. Reverts with `ProposalUndecided`
    /// when the proposal is still open either way.
    /// @param proposalId The proposal.
    function execute(uint256 proposalId) external {
        _requireOpen(proposalId);
        (uint256 yes, uint256 no) = _tally(proposalId);
        if (!_settle(proposalId, yes, no)) revert ProposalUndecided(proposalId, yes, no, _activeCount);
    }

    // ---------------------------------------------------------------- Besu permissioning

    /// @notice Whether `sender` may transact: true while it is bound to an active member (its admin
    /// or an account granted a role). Never reverts.
    /// @param sender The account that signed the transaction.
    /// @return True if the transaction is allowed.
    function transactionAllowed(
        address sender,
        address, /* target */
        uint256, /* value */
        uint256, /* gasPrice */
        uint256, /* gasLimit */
        bytes calldata /* payload */
    ) external view returns (bool) {
        return _members[_memberOf[sender]].active;
    }

    /// @notice Whether the node may connect: true while its public key belongs to an active member.
    /// Host and port are not checked. Never reverts; a malformed id answers false.
    /// @param enodeId The node public key as 128 hex characters, with or without `0x`, any case.
    /// @return True if the node may connect.
    function connectionAllowed(
        string calldata enodeId,
        string calldata, /* enodeHost */
        uint16 /* enodePort */
    ) external view returns (bool) {
        (bool ok, bytes memory pubkey) = _parseEnodeId(enodeId);
        if (!ok) return false;
        return _members[_nodeOwner[keccak256(pubkey)]].active;
    }

    // ---------------------------------------------------------------- views

    /// @notice A member with its nodes and accounts; removed members are returned with
    /// `active == false`.
    /// @param id The member id.
    /// @return The member.
    function getMember(bytes32 id) external view returns (Member memory) {
        MemberRecord storage m = _knownMember(id);
        return Member({
            id: id,
            name: m.name,
            admin: m.admin,
            active: m.active,
            x25519Key: m.x25519Key,
            joinedAt: m.joinedAt,
            nodes: nodesOf(id),
            accounts: m.accounts.values()
        });
    }

    /// @notice Every member id ever admitted, in order of first admission.
    /// @return The ids.
    function memberIds() external view returns (bytes32[] memory) {
        return _memberIds;
    }

    /// @notice The ids of the active members, in order of first admission.
    /// @return ids The ids.
    function activeMemberIds() external view returns (bytes32[] memory ids) {
        ids = new bytes32[](_activeCount);
        uint256 n = 0;
        for (uint256 i = 0; i < _memberIds.length; ++i) {
            if (_members[_memberIds[i]].active) ids[n++] = _memberIds[i];
        }
    }

    /// @notice How many members are active now.
    /// @return The number of active members.
    function activeMemberCount() external view returns (uint256) {
        return _activeCount;
    }

    /// @notice Whether `id` is a member now.
    /// @param id The member id.
    /// @return True if admitted and not removed since.
    function isActiveMember(bytes32 id) external view returns (bool) {
        return _members[id].active;
    }

    /// @notice The member `account` is bound to.
    /// @param account The account.
    /// @return The member id, or zero if unbound.
    function memberOf(address account) external view returns (bytes32) {
        return _memberOf[account];
    }

    /// @notice The accounts bound to a member: its admin and the accounts granted roles for it.
    /// @param id The member id (reverts `UnknownMember` if never admitted).
    /// @return The accounts, in no particular order.
    function accountsOf(bytes32 id) external view returns (address[] memory) {
        return _knownMember(id).accounts.values();
    }

    /// @notice The 64-byte public keys of a member's nodes.
    /// @param id The member id (reverts `UnknownMember` if never admitted).
    /// @return nodes The public keys, in no particular order.
    function nodesOf(bytes32 id) public view returns (bytes[] memory nodes) {
        bytes32[] memory hashes = _knownMember(id).nodeHashes.values();
        nodes = new bytes[](hashes.length);
        for (uint256 i = 0; i < hashes.length; ++i) {
            nodes[i] = _enodes[hashes[i]];
        }
    }

    /// @notice Role check and member look-up in one call, for other contracts.
    /// @param role The role identifier.
    /// @param account The account.
    /// @return ok Same as `hasRole(role, account)`.
    /// @return memberId Same as `memberOf(account)`, whatever `ok` is.
    function memberRole(bytes32 role, address account) external view returns (bool ok, bytes32 memberId) {
        return (hasRole(role, account), _memberOf[account]);
    }

    /// @notice A proposal with its parameters, state and current vote counts.
    /// @param proposalId The proposal.
    /// @return proposal The proposal.
    function getProposal(uint256 proposalId) external view returns (Proposal memory proposal) {
        ProposalRecord storage p = _knownProposal(proposalId);
        proposal.id = proposalId;
        proposal.kind = p.kind;
        proposal.state = proposalState(proposalId);
        proposal.proposerMember = p.proposerMember;
        proposal.proposer = p.proposer;
        proposal.createdAt = p.createdAt;
        proposal.expiresAt = p.expiresAt;
        proposal.memberId = p.memberId;
        proposal.role = p.role;
        proposal.account = p.account;
        proposal.name = p.name;
        proposal.x25519Key = p.x25519Key;
        (proposal.yes, proposal.no) = _tally(proposalId);
    }

    /// @notice What a Call proposal calls; zero target and empty data for other kinds.
    /// @param proposalId The proposal.
    /// @return target The contract the registry calls when the proposal passes.
    /// @return data The calldata.
    function proposalCall(uint256 proposalId) external view returns (address target, bytes memory data) {
        ProposalRecord storage p = _knownProposal(proposalId);
        if (p.kind != ProposalKind.Call) return (address(0), "");
        return (p.account, _callData[proposalId]);
    }

    /// @notice Where a proposal stands.
    /// @param proposalId The proposal.
    /// @return The state; `Expired` for a pending proposal whose voting period is over.
    function proposalState(uint256 proposalId) public view returns (ProposalState) {
        ProposalRecord storage p = _knownProposal(proposalId);
        if (p.state == ProposalState.Pending && block.timestamp >= p.expiresAt) return ProposalState.Expired;
        return p.state;
    }

    /// @notice Whether a member voted on a proposal during its current (or latest) membership.
    /// @param proposalId The proposal.
    /// @param memberId The member.
    /// @return True if it voted.
    function hasVoted(uint256 proposalId, bytes32 memberId) public view returns (bool) {
        _knownProposal(proposalId);
        Ballot storage b = _ballots[proposalId][memberId];
        return b.choice != Choice.None && b.admission == _members[memberId].admissions;
    }

    // ---------------------------------------------------------------- proposal internals

    function _newProposal(ProposalKind kind, bytes32 proposerMember)
        private
        returns (uint256 proposalId, ProposalRecord storage p)
    {
        proposalId = ++proposalCount;
        p = _proposals[proposalId];
        p.kind = kind;
        p.proposer = msg.sender;
        p.proposerMember = proposerMember;
        p.createdAt = uint64(block.timestamp);
        p.expiresAt = p.createdAt + votingPeriod;
    }

    /// @dev Announces a filled-in proposal and records the proposer member's yes vote.
    function _open(uint256 proposalId, ProposalRecord storage p) private {
        emit ProposalCreated(
            proposalId, p.kind, p.proposerMember, p.expiresAt, p.memberId, p.role, p.account, p.name, p.x25519Key
        );
        if (p.kind == ProposalKind.Call) emit CallProposed(proposalId, p.account, _callData[proposalId]);
        _castVote(proposalId, p.proposerMember, true);
    }

    function _castVote(uint256 proposalId, bytes32 memberId, bool support) private {
        _ballots[proposalId][memberId] =
            Ballot({choice: support ? Choice.Yes : Choice.No, admission: _members[memberId].admissions});
        (uint256 yes, uint256 no) = _tally(proposalId);
        emit Voted(proposalId, memberId, support, yes, no);
        _settle(proposalId, yes, no);
    }

    /// @dev Counts the ballots of the members active now, cast during their current membership.
    /// Walks every member id ever admitted; that list grows only by governance, so it stays short.
    function _tally(uint256 proposalId) private view returns (uint256 yes, uint256 no) {
        for (uint256 i = 0; i < _memberIds.length; ++i) {
            bytes32 memberId = _memberIds[i];
            MemberRecord storage m = _members[memberId];
            Ballot storage b = _ballots[proposalId][memberId];
            if (!m.active || b.admission != m.admissions) continue;
            if (b.choice == Choice.Yes) ++yes;
            else if (b.choice == Choice.No) ++no;
        }
    }

    /// @dev Executes on a strict majority, rejects once a majority is out of reach (a tie
    /// rejects); returns whether the proposal was decided.
    function _settle(uint256 proposalId, uint256 yes, uint256 no) private returns (bool decided) {
        if (yes * 2 > _activeCount) {
            _execute(proposalId);
            return true;
        }
        if (no * 2 >= _activeCount) {
            _reject(proposalId);
            return true;
        }
        return false;
    }

    /// @dev The state may have changed since the proposal was checked (for example the account was
    /// bound to another member meanwhile). Then the proposal is rejected with the reason in
    /// `ProposalInvalidated` instead of reverting, so the deciding vote still goes through.
    function _execute(uint256 proposalId) private {
        ProposalRecord storage p = _proposals[proposalId];
        bytes memory reason = _proposalError(p);
        if (reason.length != 0) {
            emit ProposalInvalidated(proposalId, reason);
            _reject(proposalId);
            return;
        }
        p.state = ProposalState.Executed;
        if (p.kind == ProposalKind.AddMember) {
            _admitMember(p.memberId, p.name, p.account, p.x25519Key);
        } else if (p.kind == ProposalKind.RemoveMember) {
            _expelMember(p.memberId);
        } else if (p.kind == ProposalKind.GrantRole) {
            _grantMemberRole(p.role, p.account, p.memberId);
        } else if (p.kind == ProposalKind.RevokeRole) {
            _revokeMemberRole(p.role, p.account);
        } else {
            (bool ok, bytes memory returnData) = _performCall(proposalId, p.account);
            if (!ok) {
                emit ProposalInvalidated(proposalId, returnData);
                _reject(proposalId);
                return;
            }
        }
        emit ProposalExecuted(proposalId);
    }

    /// @dev The state is already Executed, so the target cannot re-enter to decide this proposal
    /// again. A callee that used up the gas it was given (all but 1/64 of what was left) most
    /// likely ran out of it because the sender gave too little: revert rather than let the voter's
    /// gas limit reject a proposal the members passed.
    function _performCall(uint256 proposalId, address target) private returns (bool ok, bytes memory returnData) {
        uint256 gasBefore = gasleft();
        (ok, returnData) = target.call(_callData[proposalId]);
        if (!ok && gasleft() <= gasBefore / 63) revert InsufficientGasForCall(proposalId);
    }

    function _reject(uint256 proposalId) private {
        _proposals[proposalId].state = ProposalState.Rejected;
        emit ProposalRejected(proposalId);
    }

    function _requireOpen(uint256 proposalId) private view {
        ProposalRecord storage p = _knownProposal(proposalId);
        if (p.state != ProposalState.Pending) revert ProposalNotPending(proposalId, p.state);
        if (block.timestamp >= p.expiresAt) revert ProposalExpired(proposalId, p.expiresAt);
    }

    function _knownProposal(uint256 proposalId) private view returns (ProposalRecord storage) {
        if (proposalId == 0 || proposalId > proposalCount) revert UnknownProposal(proposalId);
        return _proposals[proposalId];
    }

    // ---------------------------------------------------------------- validation
    //
    // Each check returns the ABI-encoded custom error that makes the change invalid, or empty
    // bytes. Proposing (and the constructor) revert with it; executing records it and rejects.

    function _proposalError(ProposalRecord storage p) private view returns (bytes memory) {
        if (p.kind == ProposalKind.AddMember) return _addMemberError(p.memberId, p.account);
        if (p.kind == ProposalKind.RemoveMember) return _removeMemberError(p.memberId);
        if (p.kind == ProposalKind.GrantRole) return _grantRoleError(p.role, p.account, p.memberId);
        if (p.kind == ProposalKind.RevokeRole) return _revokeRoleError(p.role, p.account);
        return _callTargetError(p.account);
    }

    function _callTargetError(address target) private view returns (bytes memory) {
        if (target == address(0) || target == address(this) || target.code.length == 0) {
            return abi.encodeWithSelector(InvalidCallTarget.selector, target);
        }
        return "";
    }

    function _addMemberError(bytes32 id, address admin) private view returns (bytes memory) {
        if (id == bytes32(0)) return abi.encodeWithSelector(InvalidMemberId.selector);
        if (_members[id].active) return abi.encodeWithSelector(MemberExists.selector, id);
        if (admin == address(0)) return abi.encodeWithSelector(ZeroAddress.selector);
        if (_memberOf[admin] != bytes32(0)) return abi.encodeWithSelector(AdminInUse.selector, admin);
        return "";
    }

    function _removeMemberError(bytes32 id) private view returns (bytes memory) {
        bytes memory inactive = _activeMemberError(id);
        if (inactive.length != 0) return inactive;
        if (_activeCount <= 1) return abi.encodeWithSelector(LastMember.selector, id);
        return "";
    }

    function _grantRoleError(bytes32 role, address account, bytes32 memberId) private view returns (bytes memory) {
        if (!_isConsortiumRole(role)) return abi.encodeWithSelector(UnknownRole.selector, role);
        if (account == address(0)) return abi.encodeWithSelector(ZeroAddress.selector);
        bytes memory inactive = _activeMemberError(memberId);
        if (inactive.length != 0) return inactive;
        bytes32 boundTo = _memberOf[account];
        if (boundTo != bytes32(0) && boundTo != memberId) {
            return abi.encodeWithSelector(AccountOfOtherMember.selector, account, boundTo);
        }
        if (super.hasRole(role, account)) return abi.encodeWithSelector(RoleAlreadyGranted.selector, role, account);
        return "";
    }

    function _revokeRoleError(bytes32 role, address account) private view returns (bytes memory) {
        if (!_isConsortiumRole(role)) return abi.encodeWithSelector(UnknownRole.selector, role);
        if (!super.hasRole(role, account)) return abi.encodeWithSelector(RoleNotGranted.selector, role, account);
        return "";
    }

    function _activeMemberError(bytes32 id) private view returns (bytes memory) {
        if (id == bytes32(0)) return abi.encodeWithSelector(InvalidMemberId.selector);
        if (_members[id].admissions == 0) return abi.encodeWithSelector(UnknownMember.selector, id);
        if (!_members[id].active) return abi.encodeWithSelector(MemberNotActive.selector, id);
        return "";
    }

    /// @dev Reverts with an error produced by one of the checks above, if there is one.
    function _revertIfError(bytes memory err) private pure {
        if (err.length == 0) return;
        assembly ("memory-safe") {
            revert(add(err, 0x20), mload(err))
        }
    }

    // ---------------------------------------------------------------- state changes

    function _admitMember(bytes32 id, string memory name, address admin, bytes32 x25519Key) private {
        MemberRecord storage m = _members[id];
        if (m.admissions == 0) _memberIds.push(id);
        m.admissions += 1;
        m.name = name;
        m.admin = admin;
        m.active = true;
        m.joinedAt = uint64(block.timestamp);
        m.x25519Key = x25519Key;
        _activeCount += 1;
        emit MemberAdded(id, name, admin, x25519Key);
        _bindAccount(admin, id);
    }

    /// @dev Roles are revoked while the member is still active: AccessControl's `_revokeRole` asks
    /// `hasRole`, which answers false for accounts of inactive members.
    function _expelMember(bytes32 id) private {
        MemberRecord storage m = _members[id];
        address[] memory accounts = m.accounts.values();
        for (uint256 i = 0; i < accounts.length; ++i) {
            _revokeAllRoles(accounts[i]);
            _unbindAccount(accounts[i], id);
        }
        bytes32[] memory nodeHashes = m.nodeHashes.values();
        for (uint256 i = 0; i < nodeHashes.length; ++i) {
            _removeNode(id, nodeHashes[i]);
        }
        m.active = false;
        _activeCount -= 1;
        emit MemberRemoved(id);
    }

    function _grantMemberRole(bytes32 role, address account, bytes32 memberId) private {
        if (_memberOf[account] == bytes32(0)) _bindAccount(account, memberId);
        _grantRole(role, account);
    }

    function _revokeMemberRole(bytes32 role, address account) private {
        _revokeRole(role, account);
        _releaseIfIdle(account);
    }

    function _revokeAllRoles(address account) private {
        bytes32[5] memory roles = _consortiumRoles();
        for (uint256 i = 0; i < roles.length; ++i) {
            _revokeRole(roles[i], account);
        }
    }

    /// @dev Unbinds an account that no longer has a reason to act for its member: it holds no role
    /// and is not the member's admin.
    function _releaseIfIdle(address account) private {
        bytes32 memberId = _memberOf[account];
        if (memberId == bytes32(0) || _members[memberId].admin == account) return;
        bytes32[5] memory roles = _consortiumRoles();
        for (uint256 i = 0; i < roles.length; ++i) {
            if (super.hasRole(roles[i], account)) return;
        }
        _unbindAccount(account, memberId);
    }

    function _bindAccount(address account, bytes32 memberId) private {
        _memberOf[account] = memberId;
        _members[memberId].accounts.add(account);
        emit AccountBound(account, memberId);
        emit AccountPermissionsUpdated(false);
    }

    function _unbindAccount(address account, bytes32 memberId) private {
        delete _memberOf[account];
        _members[memberId].accounts.remove(account);
        emit AccountUnbound(account, memberId);
        emit AccountPermissionsUpdated(true);
    }

    function _removeNode(bytes32 memberId, bytes32 enodeHash) private {
        delete _nodeOwner[enodeHash];
        delete _enodes[enodeHash];
        _members[memberId].nodeHashes.remove(enodeHash);
        emit NodeRemoved(memberId, enodeHash);
        emit NodePermissionsUpdated(true);
    }

    // ---------------------------------------------------------------- small helpers

    function _requireActiveMemberAdmin() private view returns (bytes32 memberId) {
        memberId = _memberOf[msg.sender];
        MemberRecord storage m = _members[memberId];
        if (!m.active || m.admin != msg.sender) revert NotActiveMemberAdmin(msg.sender);
    }

    function _requireMemberAdmin(bytes32 memberId) private view {
        _revertIfError(_activeMemberError(memberId));
        if (_members[memberId].admin != msg.sender) revert NotMemberAdmin(msg.sender, memberId);
    }

    function _knownMember(bytes32 id) private view returns (MemberRecord storage m) {
        m = _members[id];
        if (m.admissions == 0) revert UnknownMember(id);
    }

    function _consortiumRoles() private pure returns (bytes32[5] memory) {
        return [ISSUER_ROLE, VERIFIER_ROLE, ORACLE_OPERATOR_ROLE, AUDITOR_ROLE, PERMIT_AGENCY_ROLE];
    }

    function _isConsortiumRole(bytes32 role) private pure returns (bool) {
        bytes32[5] memory roles = _consortiumRoles();
        for (uint256 i = 0; i < roles.length; ++i) {
            if (roles[i] == role) return true;
        }
        return false;
    }

    /// @dev Decodes 128 hex characters, optionally prefixed by `0x`, into the 64-byte public key.
    function _parseEnodeId(string calldata enodeId) private pure returns (bool ok, bytes memory pubkey) {
        bytes calldata text = bytes(enodeId);
        if (text.length == 2 * ENODE_PUBKEY_LENGTH + 2 && text[0] == "0" && (text[1] == "x" || text[1] == "X")) {
            text = text[2:];
        }
        if (text.length != 2 * ENODE_PUBKEY_LENGTH) return (false, "");
        pubkey = new bytes(ENODE_PUBKEY_LENGTH);
        for (uint256 i = 0; i < ENODE_PUBKEY_LENGTH; ++i) {
            (bool highOk, uint8 high) = _hexDigit(text[2 * i]);
            (bool lowOk, uint8 low) = _hexDigit(text[2 * i + 1]);
            if (!highOk || !lowOk) return (false, "");
            pubkey[i] = bytes1(high * 16 + low);
        }
        return (true, pubkey);
    }

    function _hexDigit(bytes1 c) private pure returns (bool ok, uint8 value) {
        if (c >= "0" && c <= "9") return (true, uint8(c) - uint8(bytes1("0")));
        if (c >= "a" && c <= "f") return (true, uint8(c) - uint8(bytes1("a")) + 10);
        if (c >= "A" && c <= "F") return (true, uint8(c) - uint8(bytes1("A")) + 10);
        return (false, 0);
    }
}
