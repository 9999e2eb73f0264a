// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortiumRegistry} from "./interfaces/IConsortiumRegistry.sol";
import {IPermitRegistry} from "./interfaces/IPermitRegistry.sol";
import {ConsortiumGated} from "./utils/ConsortiumGated.sol";

/// @title PermitRegistry
/// @notice Import and export permits approved by permit agencies of the consortium members, the
/// quantity drawn against them by cleared declarations, and their revocation. The permit
/// document itself stays off chain (offchain/permits.py defines its JSON format); the chain keeps
/// its hash and the facts clearance needs: holder, HS codes, quantity and unit, validity window.
/// @dev Conventions, shared with offchain/permits.py:
/// - `permitId` is `keccak256` of the permit number in upper case (agencies prefix their numbers,
///   so they are unique across the consortium); a permit id is used once, even after revocation.
/// - `holder` is `sha256("smartcustoms:holder:v1:" || importer id in upper case)`, so the
///   importer id never appears on chain in clear.
/// - HS codes are six-digit subheadings read as numbers, so leading zeros vanish: "020230" is
///   20230. Valid codes are 10000 (chapter 01) to 999999; they are given in strictly ascending
///   order (which also rules out duplicates), at most `MAX_HS_CODES` of them.
/// - Quantities are integers in thousandths of the permit's unit (`QUANTITY_DECIMALS` = 3), so
///   12.5 TNE is 12500. The unit is a UN/ECE Recommendation 20 code ("KGM", "TNE", "LTR",
///   "NAR", "PR", ...), ASCII, right-padded with zeros to 3 bytes. Draws are in the permit's
///   unit: converting a declared quantity is the caller's job.
/// - A permit is valid from `validFrom` to `validTo`, both inclusive (unix seconds).
///
/// Who may do what, as the ConsortiumRegistry says now (a removed member's accounts lose their
/// roles): an account with PERMIT_AGENCY issues, and revokes the permits of its own member. An
/// account with ORACLE_OPERATOR draws quantity down: the clearance oracle's operator, posting
/// decisions its oracles attested (a later version may ask for the attestation itself). A
/// permit of a member that is no longer active cannot be drawn: nobody could revoke it any more.
///
/// Storage: six slots per permit holding up to eight HS codes (one more slot per further eight),
/// one slot per draw. Issuer and revoker accounts are not stored: the events carry them.
contract PermitRegistry is ConsortiumGated, IPermitRegistry {
    // ---------------------------------------------------------------- types

    /// @notice The outcome of `check`, in the order the checks run (codes are stable; `IssuerInactive`
    /// came last, so it has the highest code although it is checked third).
    enum Status {
        Ok, // 0: the permit allows the quantity
        Unknown, // 1: no permit with this id
        Revoked, // 2: revoked by its agency
        NotYetValid, // 3: `at` is before validFrom
        Expired, // 4: `at` is after validTo
        WrongHolder, // 5: issued to another importer
        HsCodeNotCovered, // 6: the HS code is not on the permit
        InsufficientQuantity, // 7: less than the quantity remains
        IssuerInactive // 8: the issuing member was removed from the consortium
    }

    /// @notice A permit as returned by `permit`.
    /// @dev `revokedAt == 0` means not revoked (block timestamps are never zero).
    struct Permit {
        bytes32 holder;
        bytes32 documentHash;
        bytes32 issuerMember;
        uint128 quantity;
        uint128 remaining;
        uint64 validFrom;
        uint64 validTo;
        uint64 issuedAt;
        uint64 revokedAt;
        bytes3 unit;
        uint32[] hsCodes;
        string revocationReason;
    }

    /// @notice One line of `drawDownMany`.
    struct DrawLine {
        bytes32 permitId;
        uint32 hsCode;
        uint128 quantity;
    }

    /// @notice One question of `checkMany`; the arguments of `check`.
    struct Query {
        bytes32 permitId;
        bytes32 holder;
        uint32 hsCode;
        uint128 quantity;
        uint64 at;
    }

    /// @notice A draw as stored (one slot) and returned by `drawOf`; `drawnAt == 0` means none.
    struct Draw {
        uint128 quantity;
        uint40 drawnAt;
    }

    /// @dev Slots: holder | documentHash | issuerMember | quantity, remaining | validFrom,
    /// validTo, issuedAt, revokedAt, unit, hsCount | hsWords (8 codes of 32 bits per word,
    /// lowest bits first; only the words in use are ever written). `issuerMember == 0` means
    /// "never issued": only an account bound to a member can issue.
    struct Record {
        bytes32 holder;
        bytes32 documentHash;
        bytes32 issuerMember;
        uint128 quantity;
        uint128 remaining;
        uint64 validFrom;
        uint64 validTo;
        uint40 issuedAt;
        uint40 revokedAt;
        bytes3 unit;
        uint8 hsCount;
        uint256[4] hsWords;
    }

    // ---------------------------------------------------------------- constants

    /// @notice The largest number of HS codes one permit may cover.
    uint8 public constant MAX_HS_CODES = 32;
    /// @notice Quantities are integers in units of 10^-QUANTITY_DECIMALS of the permit's unit.
    uint8 public constant QUANTITY_DECIMALS = 3;

    uint32 private constant MIN_HS_CODE = 10_000;
    uint32 private constant MAX_HS_CODE = 999_999;
    uint256 private constant CODES_PER_WORD = 8;

    // ---------------------------------------------------------------- state

    /// @dev `registry.PERMIT_AGENCY_ROLE()` and `registry.ORACLE_OPERATOR_ROLE()`, read once.
    bytes32 private immutable _agencyRole;
    bytes32 private immutable _drawerRole;

    mapping(bytes32 permitId => Record) private _permits;
    mapping(bytes32 permitId => string reason) private _revocationReasons;
    mapping(bytes32 permitId => mapping(bytes32 declarationId => mapping(uint32 hsCode => Draw))) private
        _draws;

    // Errors and events are declared in IPermitRegistry; `registry` and `ZeroRegistry` in ConsortiumGated.

    // ---------------------------------------------------------------- constructor

    /// @param registry_ The ConsortiumRegistry that grants PERMIT_AGENCY and ORACLE_OPERATOR.
    constructor(IConsortiumRegistry registry_) ConsortiumGated(registry_) {
        _agencyRole = registry_.PERMIT_AGENCY_ROLE();
        _drawerRole = registry_.ORACLE_OPERATOR_ROLE();
    }

    // ---------------------------------------------------------------- issuing

    /// @notice Issues a permit on behalf of the caller's member.
    /// @dev Reverts `NotPermitAgency` unless the caller holds PERMIT_AGENCY through an active
    /// member, then `ZeroPermitId`, `ZeroHolder`, `ZeroDocumentHash`, `InvalidUnit`,
    /// `ZeroQuantity`, `InvalidValidity` (validTo <= validFrom, or validTo already past),
    /// `PermitExists`, `NoHsCodes`, `TooManyHsCodes`, `InvalidHsCode`, `HsCodesNotAscending`.
    /// @param permitId keccak256 of the permit number.
    /// @param holder The holder hash (see the contract's notes).
    /// @param hsCodes The six-digit HS codes covered, as numbers, strictly ascending.
    /// @param quantity The quantity, in thousandths of `unit`.
    /// @param unit The UN/ECE Rec 20 unit code, ASCII, left-aligned.
    /// @param validFrom Start of validity (unix seconds, inclusive).
    /// @param validTo End of validity (unix seconds, inclusive).
    /// @param documentHash SHA-256 of the permit document's canonical form.
    function issue(
        bytes32 permitId,
        bytes32 holder,
        uint32[] calldata hsCodes,
        uint128 quantity,
        bytes3 unit,
        uint64 validFrom,
        uint64 validTo,
        bytes32 documentHash
    ) external {
        bytes32 member = _requireMemberRole(_agencyRole, NotPermitAgency.selector);
        if (permitId == bytes32(0)) revert ZeroPermitId();
        if (holder == bytes32(0)) revert ZeroHolder();
        if (documentHash == bytes32(0)) revert ZeroDocumentHash();
        if (!_isUnitCode(unit)) revert InvalidUnit(unit);
        if (quantity == 0) revert ZeroQuantity();
        if (validTo <= validFrom || validTo < block.timestamp) revert InvalidValidity(validFrom, validTo);
        Record storage p = _permits[permitId];
        if (p.issuerMember != bytes32(0)) revert PermitExists(permitId);
        _storeHsCodes(p, hsCodes);

        p.holder = holder;
        p.documentHash = documentHash;
        p.issuerMember = member;
        p.quantity = quantity;
        p.remaining = quantity;
        p.validFrom = validFrom;
        p.validTo = validTo;
        p.issuedAt = uint40(block.timestamp);
        p.unit = unit;
        _emitIssued(permitId, p, hsCodes);
    }

    // ---------------------------------------------------------------- drawing down

    /// @notice Draws `quantity` of a permit for the goods of one declaration with one HS code.
    /// @dev Callable by ORACLE_OPERATOR accounts (else `NotDrawer`). Then reverts
    /// `ZeroDeclarationId`, `ZeroQuantity`, `UnknownPermit`, `AlreadyDrawn` (one draw per
    /// permit, declaration and HS code: a retried draw is refused, whatever else changed since),
    /// `PermitIsRevoked`, `IssuerNotActive`, `PermitNotValidAt` (block time outside the window),
    /// `HsCodeNotCovered`, `InsufficientQuantity`. Items of one declaration with the same HS
    /// code are drawn as one line (the caller sums them).
    /// @param permitId The permit.
    /// @param hsCode The HS code of the goods, six digits as a number.
    /// @param quantity The quantity, in thousandths of the permit's unit.
    /// @param declarationId The declaration the goods are cleared under.
    /// @return remaining What remains on the permit after the draw.
    function drawDown(bytes32 permitId, uint32 hsCode, uint128 quantity, bytes32 declarationId)
        external
        returns (uint128 remaining)
    {
        _requireDrawer();
        if (declarationId == bytes32(0)) revert ZeroDeclarationId();
        return _draw(permitId, hsCode, quantity, declarationId);
    }

    /// @notice Draws several lines for one declaration, all or nothing.
    /// @dev Same checks as `drawDown` for each line, in order; a line that repeats the permit
    /// and HS code of an earlier line reverts `AlreadyDrawn` (sum such items into one line).
    /// @param declarationId The declaration the goods are cleared under.
    /// @param lines The draws: permit, HS code, quantity in thousandths of the permit's unit.
    /// @return remaining For each line, what remains on its permit right after it.
    function drawDownMany(bytes32 declarationId, DrawLine[] calldata lines)
        external
        returns (uint128[] memory remaining)
    {
        _requireDrawer();
        if (declarationId == bytes32(0)) revert ZeroDeclarationId();
        remaining = new uint128[](lines.length);
        for (uint256 i = 0; i < lines.length; ++i) {
            remaining[i] = _draw(lines[i].permitId, lines[i].hsCode, lines[i].quantity, declarationId);
        }
    }

    // ---------------------------------------------------------------- revocation

    /// @notice Revokes a permit: it can no longer be drawn. Past draws stand.
    /// @dev Reverts `UnknownPermit`, `NotIssuingAgency` unless the caller holds PERMIT_AGENCY
    /// through the active member that issued the permit, `AlreadyRevoked`, `EmptyReason`.
    /// @param permitId The permit.
    /// @param reason Why (kept on chain, returned by `permit`).
    function revoke(bytes32 permitId, string calldata reason) external {
        Record storage p = _known(permitId);
        (bool ok, bytes32 member) = _memberRole(_agencyRole);
        if (!ok || member != p.issuerMember) revert NotIssuingAgency(msg.sender, permitId);
        if (p.revokedAt != 0) revert AlreadyRevoked(permitId);
        if (bytes(reason).length == 0) revert EmptyReason();

        p.revokedAt = uint40(block.timestamp);
        _revocationReasons[permitId] = reason;
        emit PermitRevoked(permitId, member, msg.sender, reason);
    }

    // ---------------------------------------------------------------- views

    /// @notice The permit with this id.
    /// @dev Reverts `UnknownPermit` if it was never issued; `exists` asks without reverting.
    /// @param permitId The permit.
    /// @return out The permit, with what remains and its revocation (if any).
    function permit(bytes32 permitId) external view returns (Permit memory out) {
        Record storage p = _known(permitId);
        out.holder = p.holder;
        out.documentHash = p.documentHash;
        out.issuerMember = p.issuerMember;
        out.quantity = p.quantity;
        out.remaining = p.remaining;
        out.validFrom = p.validFrom;
        out.validTo = p.validTo;
        out.issuedAt = p.issuedAt;
        out.revokedAt = p.revokedAt;
        out.unit = p.unit;
        out.hsCodes = _hsCodes(p);
        out.revocationReason = _revocationReasons[permitId];
    }

    /// @notice Whether a permit with this id was issued (revoked or not).
    /// @param permitId The permit.
    /// @return True if issued.
    function exists(bytes32 permitId) external view returns (bool) {
        return _permits[permitId].issuerMember != bytes32(0);
    }

    /// @notice What remains on a permit, in thousandths of its unit.
    /// @dev Reverts `UnknownPermit`. Says nothing about revocation or validity: see `check`.
    /// @param permitId The permit.
    /// @return The remaining quantity.
    function remaining(bytes32 permitId) external view returns (uint128) {
        return _known(permitId).remaining;
    }

    /// @notice The draw of a declaration on a permit for one HS code.
    /// @param permitId The permit.
    /// @param declarationId The declaration.
    /// @param hsCode The HS code.
    /// @return The draw; `drawnAt == 0` if there was none.
    function drawOf(bytes32 permitId, bytes32 declarationId, uint32 hsCode) external view returns (Draw memory) {
        return _draws[permitId][declarationId][hsCode];
    }

    /// @notice Whether the permit allows drawing `quantity` of goods with `hsCode` for `holder`
    /// at time `at`; the question the clearance oracle asks before it decides. Never reverts.
    /// @dev Checks in this order, and answers the first that fails: Unknown, Revoked,
    /// IssuerInactive, NotYetValid, Expired, WrongHolder, HsCodeNotCovered, InsufficientQuantity.
    /// A revoked permit fails for every `at`. A zero quantity passes the quantity check.
    /// @param permitId The permit.
    /// @param holder The holder hash of the declaration's importer.
    /// @param hsCode The HS code of the goods.
    /// @param quantity The quantity, in thousandths of the permit's unit.
    /// @param at The time to check validity at (unix seconds), e.g. the declaration's date.
    /// @return ok True if every check passes.
    /// @return reason The `Status` code (0 when ok).
    function check(bytes32 permitId, bytes32 holder, uint32 hsCode, uint128 quantity, uint64 at)
        public
        view
        returns (bool ok, Status reason)
    {
        reason = _status(permitId, holder, hsCode, quantity, at);
        ok = reason == Status.Ok;
    }

    /// @notice `check` for many questions in one call; each is answered on its own (quantities
    /// asked of the same permit are not added up).
    /// @param queries The questions.
    /// @return reasons For each, in order, its `Status` code (0 when ok).
    function checkMany(Query[] calldata queries) external view returns (Status[] memory reasons) {
        reasons = new Status[](queries.length);
        for (uint256 i = 0; i < queries.length; ++i) {
            Query calldata q = queries[i];
            reasons[i] = _status(q.permitId, q.holder, q.hsCode, q.quantity, q.at);
        }
    }

    // ---------------------------------------------------------------- internals

    function _requireDrawer() private view {
        _requireRole(_drawerRole, NotDrawer.selector);
    }

    function _draw(bytes32 permitId, uint32 hsCode, uint128 quantity, bytes32 declarationId)
        private
        returns (uint128 left)
    {
        if (quantity == 0) revert ZeroQuantity();
        Record storage p = _known(permitId);
        Draw storage d = _draws[permitId][declarationId][hsCode];
        if (d.drawnAt != 0) revert AlreadyDrawn(permitId, declarationId, hsCode);
        if (p.revokedAt != 0) revert PermitIsRevoked(permitId, _revocationReasons[permitId]);
        if (!registry.isActiveMember(p.issuerMember)) revert IssuerNotActive(permitId, p.issuerMember);
        if (block.timestamp < p.validFrom || block.timestamp > p.validTo) {
            revert PermitNotValidAt(permitId, uint64(block.timestamp));
        }
        if (!_covers(p, hsCode)) revert HsCodeNotCovered(permitId, hsCode);
        uint128 before = p.remaining;
        if (before < quantity) revert InsufficientQuantity(permitId, before, quantity);

        left = before - quantity;
        p.remaining = left;
        d.quantity = quantity;
        d.drawnAt = uint40(block.timestamp);
        emit PermitDrawn(permitId, declarationId, msg.sender, hsCode, quantity, left);
    }

    function _status(bytes32 permitId, bytes32 holder, uint32 hsCode, uint128 quantity, uint64 at)
        private
        view
        returns (Status)
    {
        Record storage p = _permits[permitId];
        if (p.issuerMember == bytes32(0)) return Status.Unknown;
        if (p.revokedAt != 0) return Status.Revoked;
        if (!registry.isActiveMember(p.issuerMember)) return Status.IssuerInactive;
        if (at < p.validFrom) return Status.NotYetValid;
        if (at > p.validTo) return Status.Expired;
        if (holder != p.holder) return Status.WrongHolder;
        if (!_covers(p, hsCode)) return Status.HsCodeNotCovered;
        if (p.remaining < quantity) return Status.InsufficientQuantity;
        return Status.Ok;
    }

    function _known(bytes32 permitId) private view returns (Record storage p) {
        p = _permits[permitId];
        if (p.issuerMember == bytes32(0)) revert UnknownPermit(permitId);
    }

    /// @dev Validates the codes and stores them, eight per word, lowest bits first; writes only
    /// the words in use.
    function _storeHsCodes(Record storage p, uint32[] calldata hsCodes) private {
        uint256 n = hsCodes.length;
        if (n == 0) revert NoHsCodes();
        if (n > MAX_HS_CODES) revert TooManyHsCodes(n);
        uint32 previous = 0;
        uint256 word = 0;
        for (uint256 i = 0; i < n; ++i) {
            uint32 code = hsCodes[i];
            if (code < MIN_HS_CODE || code > MAX_HS_CODE) revert InvalidHsCode(code);
            if (code <= previous) revert HsCodesNotAscending(previous, code);
            previous = code;
            word |= uint256(code) << (32 * (i % CODES_PER_WORD));
            if (i % CODES_PER_WORD == CODES_PER_WORD - 1 || i == n - 1) {
                p.hsWords[i / CODES_PER_WORD] = word;
                word = 0;
            }
        }
        p.hsCount = uint8(n);
    }

    /// @dev Reads the record back (warm slots) so `issue` stays within the stack limit.
    function _emitIssued(bytes32 permitId, Record storage p, uint32[] calldata hsCodes) private {
        emit PermitIssued(
            permitId,
            p.issuerMember,
            p.holder,
            msg.sender,
            hsCodes,
            p.quantity,
            p.unit,
            p.validFrom,
            p.validTo,
            p.documentHash
        );
    }

    /// @dev Two or three upper-case ASCII letters or digits, zero-padded on the right.
    function _isUnitCode(bytes3 unit) private pure returns (bool) {
        return _isUnitChar(unit[0]) && _isUnitChar(unit[1]) && (unit[2] == 0 || _isUnitChar(unit[2]));
    }

    function _isUnitChar(bytes1 c) private pure returns (bool) {
        return (c >= "A" && c <= "Z") || (c >= "0" && c <= "9");
    }

    function _covers(Record storage p, uint32 hsCode) private view returns (bool) {
        uint256 n = p.hsCount;
        uint256 word;
        for (uint256 i = 0; i < n; ++i) {
            if (i % CODES_PER_WORD == 0) word = p.hsWords[i / CODES_PER_WORD];
            uint32 code = uint32(word >> (32 * (i % CODES_PER_WORD)));
            if (code >= hsCode) return code == hsCode; // ascending: no match further on
        }
        return false;
    }

    function _hsCodes(Record storage p) private view returns (uint32[] memory codes) {
        uint256 n = p.hsCount;
        codes = new uint32[](n);
        uint256 word;
        for (uint256 i = 0; i < n; ++i) {
            if (i % CODES_PER_WORD == 0) word = p.hsWords[i / CODES_PER_WORD];
            codes[i] = uint32(word >> (32 * (i % CODES_PER_WORD)));
        }
    }
}
