// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MLDSA87Core} from "../../src/verifiers/MLDSA87Core.sol";

/// @notice Exposes MLDSA87Core's internal entry, Verify_internal(pk, M', sig), for the ACVP
/// vectors (whose messages are already the formatted M').
contract MLDSA87Harness is MLDSA87Core {
    function verifyInternal(bytes calldata pk, bytes calldata mPrime, bytes calldata sig) external pure returns (bool) {
        if (pk.length != MLDSA87_PK_LEN || sig.length != MLDSA87_SIG_LEN) return false;
        uint256 pkOff;
        uint256 sigOff;
        uint256 mOff;
        assembly {
            pkOff := pk.offset
            sigOff := sig.offset
            mOff := mPrime.offset
        }
        return _mldsa87VerifyInternal(pkOff, sigOff, mOff, mPrime.length, false);
    }
}
