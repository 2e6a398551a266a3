// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title SessionContext
/// @notice Base for contracts called by SessionTrigger: SessionTrigger appends the authorising
///         32-byte session ID digest (SHA3-256 of the signer's ML-DSA-87 public key) to the calldata
///         (ERC-2771 style). Only calls from the trusted trigger carry a meaningful suffix.
abstract contract SessionContext {
    /// @notice The SessionTrigger whose calls are trusted.
    address public immutable sessionTrigger;

    error NotSessionTrigger(address caller);

    constructor(address trigger) {
        sessionTrigger = trigger;
    }

    /// @dev The session ID digest that authorised the current call; reverts unless the caller is
    ///      the trigger.
    function _sessionId() internal view returns (bytes32 id) {
        if (msg.sender != sessionTrigger || msg.data.length < 36) revert NotSessionTrigger(msg.sender);
        assembly {
            id := calldataload(sub(calldatasize(), 32))
        }
    }
}
