// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Besu on-chain node permissioning, interface version 2
/// @notice The interface Hyperledger Besu calls with `--permissions-nodes-contract-version=2`
/// (EEA client specification v6) to decide whether a peer may connect.
/// @dev Besu calls `connectionAllowed(string,string,uint16)` once for each end of a connection,
/// passing the node id as 128 lower-case hex characters without a `0x` prefix, the host (an IP
/// address or, with DNS enabled, a host name) and the P2P listening port. A revert is a failed
/// check, so implementations should answer `false` instead of reverting.
interface INodePermissioning {
    /// @notice Tells Besu that the node allowlist changed and its cached answers are stale.
    /// @param addsRestrictions True when the change may forbid a connection that was allowed
    /// before (a node was removed), false when it only allows more (a node was added).
    event NodePermissionsUpdated(bool addsRestrictions);

    /// @notice Whether the node `enodeId` reachable at `enodeHost:enodePort` may connect.
    /// @param enodeId The node public key as hex (64 bytes, 128 hex characters).
    /// @param enodeHost The node's host: an IP address or a DNS name.
    /// @param enodePort The node's P2P listening port.
    /// @return True if the node may connect.
    function connectionAllowed(string calldata enodeId, string calldata enodeHost, uint16 enodePort)
        external
        view
        returns (bool);
}
