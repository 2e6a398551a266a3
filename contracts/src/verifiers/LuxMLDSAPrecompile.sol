// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IMLDSAVerifier} from "../interfaces/IMLDSAVerifier.sol";

/// @title LuxMLDSAPrecompile
/// @notice IMLDSAVerifier over the Lux ML-DSA precompile's raw interface:
///         input  0x87 || pk (2592) || msgLen (32-byte big-endian) || sig (4627) || msg,
///         output one 32-byte word, 1 = valid.
/// @dev    `target` is the precompile address 0x0000000000000000000000000000000000012202 on Pars /
///         Lux, or the address of an MLDSA87Verifier (same interface) on any other chain; on a
///         local anvil the verifier's runtime code is placed at the precompile address.
///         Fail-closed: a call that reverts, returns anything but exactly 32 bytes, or returns a
///         word other than 1 is a failure; so is an account without code (a call to it
///         "succeeds" with empty return data, which is rejected by the length check).
contract LuxMLDSAPrecompile is IMLDSAVerifier {
    /// @notice The Lux ML-DSA precompile.
    address public constant LUX_MLDSA_PRECOMPILE = 0x0000000000000000000000000000000000012202;
    /// @notice ML-DSA-87 mode byte of the precompile input.
    uint8 public constant MODE_MLDSA87 = 0x87;
    uint256 public constant PUBLIC_KEY_LENGTH = 2592;
    uint256 public constant SIGNATURE_LENGTH = 4627;

    /// @notice Where verification requests are sent.
    address public immutable target;

    constructor(address target_) {
        target = target_;
    }

    /// @inheritdoc IMLDSAVerifier
    function verify(bytes calldata publicKey, bytes calldata message, bytes calldata signature)
        external
        view
        returns (bool)
    {
        if (publicKey.length != PUBLIC_KEY_LENGTH || signature.length != SIGNATURE_LENGTH) return false;
        bytes memory input = abi.encodePacked(MODE_MLDSA87, publicKey, message.length, signature, message);
        (bool ok, bytes memory ret) = target.staticcall(input);
        return ok && ret.length == 32 && abi.decode(ret, (uint256)) == 1;
    }
}
