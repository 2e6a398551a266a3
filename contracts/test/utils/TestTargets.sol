// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {SessionTrigger} from "../../src/SessionTrigger.sol";

/// @notice Payable target: records what SessionTrigger sent it.
contract Recorder {
    uint256 public received;
    bytes public lastData;
    bytes32 public lastSessionId;

    error Nope();

    function record() external payable {
        received += msg.value;
        lastData = msg.data;
        lastSessionId = bytes32(msg.data[msg.data.length - 32:]);
    }

    function fail() external payable {
        revert Nope();
    }

    function burn() external payable {
        uint256 x;
        while (true) x++;
    }
}

/// @notice Malicious target: re-enters SessionTrigger with another signed action while being called.
contract Reentrant {
    SessionTrigger public trigger;
    bytes public innerMessage;
    bytes public innerSignature;
    bytes public innerPublicKey;
    bytes public reentryError;
    bool public reentered;

    function arm(SessionTrigger t, bytes calldata m, bytes calldata s, bytes calldata pk) external {
        trigger = t;
        innerMessage = m;
        innerSignature = s;
        innerPublicKey = pk;
    }

    function attack() external {
        try trigger.executeFromSession(innerMessage, innerSignature, innerPublicKey) {
            reentered = true;
        } catch (bytes memory err) {
            reentryError = err;
        }
    }
}

/// @notice Stand-ins for a precompile that misbehaves.
contract ReturnsTwoWords {
    fallback(bytes calldata) external returns (bytes memory) {
        return abi.encode(uint256(1), uint256(1));
    }
}

contract ReturnsTwo {
    fallback(bytes calldata) external returns (bytes memory) {
        return abi.encode(uint256(2));
    }
}

contract ReturnsShortOne {
    fallback(bytes calldata) external returns (bytes memory) {
        return hex"01";
    }
}

contract Reverts {
    fallback(bytes calldata) external returns (bytes memory) {
        revert("no");
    }
}

/// @notice Answers 1 iff the input has the precompile's layout
/// 0x87 || pk (2592) || msgLen (32) || sig (4627) || msg and pk, sig, msg are the expected ones.
contract LayoutChecker {
    bytes32 immutable expected;

    constructor(bytes memory pk, bytes memory m, bytes memory sig) {
        expected = keccak256(abi.encodePacked(pk, sig, m));
    }

    fallback(bytes calldata input) external returns (bytes memory) {
        bool ok = input.length >= 7252 && input[0] == 0x87 && uint256(bytes32(input[2593:2625])) == input.length - 7252
            && keccak256(abi.encodePacked(input[1:2593], input[2625:7252], input[7252:])) == expected;
        return abi.encode(ok ? uint256(1) : uint256(0));
    }
}
