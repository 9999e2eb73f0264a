// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortiumRegistry} from "./IConsortiumRegistry.sol";

/// @title What every contract gated by the consortium registry shares
/// @notice DocumentRegistry, PermitRegistry, TransportLedger and AttestationHub let an account act
/// only while it holds a role of the ConsortiumRegistry through an active member.
interface IConsortiumGated {
    /// @notice The registry address must not be zero.
    error ZeroRegistry();

    /// @notice The consortium registry that says who holds which role, for which member.
    /// @return The registry.
    function registry() external view returns (IConsortiumRegistry);
}
