// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IMLDSAVerifier
/// @notice The verifier adapter SessionTrigger is deployed with (ARCHITECTURE decision 12).
interface IMLDSAVerifier {
    /// @notice True iff `signature` is a valid FIPS 204 ML-DSA-87 signature of `message` under
    ///         `publicKey`, with the context string "lux-evm-precompile-mldsa-v1" (pure ML-DSA,
    ///         M' = 0x00 || 27 || ctx || message). Must return false, not revert, on malformed input.
    function verify(bytes calldata publicKey, bytes calldata message, bytes calldata signature)
        external
        view
        returns (bool);
}
