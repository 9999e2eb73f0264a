// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortiumGated} from "../interfaces/IConsortiumGated.sol";
import {IConsortiumRegistry} from "../interfaces/IConsortiumRegistry.sol";

/// @title ConsortiumGated
/// @notice Base of the contracts whose callers must hold a role of the ConsortiumRegistry through
/// an active member: the registry, set once, and the role checks.
/// @dev Each contract reads the role identifiers it needs from the registry once, in its
/// constructor (immutables), and names a missing role in its own custom error that takes the
/// account alone (`error NotIssuer(address account)`), so a revert says which role was missing.
abstract contract ConsortiumGated is IConsortiumGated {
    /// @inheritdoc IConsortiumGated
    IConsortiumRegistry public immutable registry;

    /// @param registry_ The ConsortiumRegistry; reverts `ZeroRegistry` for the zero address.
    constructor(IConsortiumRegistry registry_) {
        if (address(registry_) == address(0)) revert ZeroRegistry();
        registry = registry_;
    }

    /// @dev The caller's member, if the caller holds `role` through an active member; otherwise
    /// reverts with the custom error whose selector is `notAllowed`, called with the caller.
    /// @param role The role identifier.
    /// @param notAllowed The selector of an error that takes one `address account` argument.
    function _requireMemberRole(bytes32 role, bytes4 notAllowed) internal view returns (bytes32 member) {
        bool ok;
        (ok, member) = _memberRole(role);
        if (!ok) _revertWithAccount(notAllowed);
    }

    /// @dev As `_requireMemberRole`, for callers that do not need the member (one storage read
    /// less in the registry).
    function _requireRole(bytes32 role, bytes4 notAllowed) internal view {
        (bool ok,) = _askRegistry(IConsortiumRegistry.hasRole.selector, role, 0x20);
        if (!ok) _revertWithAccount(notAllowed);
    }

    /// @dev `registry.memberRole(role, msg.sender)`: whether the caller holds `role` through an
    /// active member, and the caller's member whatever the answer, for checks that also compare
    /// the member and revert with their own error.
    function _memberRole(bytes32 role) internal view returns (bool ok, bytes32 member) {
        return _askRegistry(IConsortiumRegistry.memberRole.selector, role, 0x40);
    }

    /// @dev Calls `registry.<selector>(role, msg.sender)` and reads an answer of `size` bytes
    /// (0x20: a bool; 0x40: a bool and a bytes32), as the high-level call would, without its
    /// memory allocation and copying: every gated function pays this, so it is kept lean. A
    /// revert of the registry is passed on; an answer too short or not starting with a bool
    /// reverts without data, as ABI decoding would. `second` is meaningful only for size 0x40.
    function _askRegistry(bytes4 selector, bytes32 role, uint256 size)
        private
        view
        returns (bool first, bytes32 second)
    {
        address target = address(registry);
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 0x04), role)
            mstore(add(ptr, 0x24), caller())
            if iszero(staticcall(gas(), target, ptr, 0x44, 0x00, 0x40)) {
                returndatacopy(ptr, 0x00, returndatasize())
                revert(ptr, returndatasize())
            }
            let word := mload(0x00)
            if or(lt(returndatasize(), size), gt(word, 1)) { revert(0x00, 0x00) }
            first := word
            second := mload(0x20)
        }
    }

    /// @dev Reverts with `abi.encodeWithSelector(selector, msg.sender)`, built in scratch space.
    function _revertWithAccount(bytes4 selector) private view {
        assembly ("memory-safe") {
            mstore(0x00, selector)
            mstore(0x04, caller())
            revert(0x00, 0x24)
        }
    }
}
