// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MLDSA87Core} from "./MLDSA87Core.sol";

/// @title MLDSA87Verifier
/// @notice A pure-Solidity/Yul stand-in for the Lux ML-DSA precompile
///         (0x0000000000000000000000000000000000012202), with the same raw interface and result.
/// @dev    Input (raw calldata, no selector):
///           0x87 || pk (2592) || msgLen (32-byte big-endian) || sig (4627) || msg (msgLen bytes)
///         The signature is checked as FIPS 204 pure ML-DSA-87 (Algorithm 3) with the context string
///         "lux-evm-precompile-mldsa-v1", i.e. M' = 0x00 || 27 || ctx || msg.
///         Output: one 32-byte word, 1 if the signature is valid, 0 otherwise. Malformed input (empty,
///         another mode byte, too short, or msgLen not equal to the bytes that follow the signature)
///         also returns 0; the contract never reverts on input data. It has no functions and no
///         storage, so its runtime code can be copied to any address (e.g. with anvil_setCode).
contract MLDSA87Verifier is MLDSA87Core {
    /// Offsets of the fields in the raw input.
    uint256 private constant PK_OFF = 1;
    uint256 private constant LEN_OFF = PK_OFF + MLDSA87_PK_LEN; // 2593
    uint256 private constant SIG_OFF = LEN_OFF + 32; // 2625
    uint256 private constant MSG_OFF = SIG_OFF + MLDSA87_SIG_LEN; // 7252

    fallback(bytes calldata input) external returns (bytes memory) {
        bool ok;
        if (input.length >= MSG_OFF && uint8(input[0]) == 0x87) {
            uint256 msgLen = uint256(bytes32(input[LEN_OFF:SIG_OFF]));
            if (msgLen == input.length - MSG_OFF) {
                ok = _mldsa87VerifyInternal(PK_OFF, SIG_OFF, MSG_OFF, msgLen, true);
            }
        }
        return abi.encode(ok ? uint256(1) : uint256(0));
    }
}
