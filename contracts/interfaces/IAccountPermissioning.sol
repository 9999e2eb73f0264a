// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Besu on-chain account permissioning
/// @notice The interface Hyperledger Besu calls (`--permissions-accounts-contract-address`) to
/// decide whether a transaction may enter the pool and be mined.
/// @dev Besu simulates `transactionAllowed` as a view call against the head block; a revert is a
/// failed check, so implementations should answer `false` instead of reverting.
interface IAccountPermissioning {
    /// @notice Tells Besu that the account allowlist changed and its cached answers are stale.
    /// @param addsRestrictions True when the change may forbid something that was allowed before
    /// (an account was removed), false when it only allows more (an account was added).
    event AccountPermissionsUpdated(bool addsRestrictions);

    /// @notice Whether `sender` may send this transaction.
    /// @param sender The account that signed the transaction.
    /// @param target The recipient, or the zero address for a contract creation.
    /// @param value The wei sent with the transaction.
    /// @param gasPrice The gas price offered.
    /// @param gasLimit The gas limit of the transaction.
    /// @param payload The transaction data.
    /// @return True if the transaction is allowed.
    function transactionAllowed(
        address sender,
        address target,
        uint256 value,
        uint256 gasPrice,
        uint256 gasLimit,
        bytes calldata payload
    ) external view returns (bool);
}
