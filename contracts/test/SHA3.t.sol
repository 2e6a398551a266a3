// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CheatBase} from "./utils/Vm.sol";
import {LuxFixtures} from "./utils/LuxFixtures.sol";
import {SHA3} from "../src/libraries/SHA3.sol";

contract SHA3Test is CheatBase, LuxFixtures {
    /// bytes (i*7+1) mod 256 for i < n — the same inputs as the expected digests below, which
    /// are Python's hashlib.sha3_256 of them.
    function _input(uint256 n) internal pure returns (bytes memory d) {
        d = new bytes(n);
        for (uint256 i = 0; i < n; i++) {
            d[i] = bytes1(uint8((i * 7 + 1) & 0xff));
        }
    }

    function test_knownDigests() public pure {
        vm.assertEq(SHA3.sha3_256(""), 0xa7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a, "empty");
        vm.assertEq(SHA3.sha3_256("abc"), 0x3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532, "abc");
        vm.assertEq(SHA3.sha3_256(_input(3)), 0x87006fc41b38735b9f02c804367b5db7528b5a28004fe212cbc92fa817b2d2b1, "3");
        // one byte short of a block, exactly a block, one byte over (padding corner cases)
        vm.assertEq(
            SHA3.sha3_256(_input(135)), 0x64ccd300c1cf3d3846046bd588a1613e5ba619c09d45d4b7cc9afa093af29e19, "135"
        );
        vm.assertEq(
            SHA3.sha3_256(_input(136)), 0xf106d1024a855c6a20d300bb53ec5472a1bae126fa630fee78219b51add7d768, "136"
        );
        vm.assertEq(
            SHA3.sha3_256(_input(137)), 0xfa4d0b0141ec2c69a5dc314ed611a0819b920e95d13d586df89f370809e9465a, "137"
        );
        vm.assertEq(
            SHA3.sha3_256(_input(300)), 0x4d1a6b334c009ba6ef8abe2080f061eb62985e0f02c5863ccfe0cec88b4098ed, "300"
        );
    }

    function test_notKeccak() public pure {
        vm.assertTrue(SHA3.sha3_256("abc") != keccak256("abc"), "SHA3-256 differs from keccak256");
    }

    function test_keepsMemoryIntact(bytes memory data) public pure {
        bytes memory copy = bytes.concat(data);
        bytes32 h = SHA3.sha3_256(data);
        vm.assertEq(data, copy, "input unchanged");
        vm.assertEq(SHA3.sha3_256(data), h, "deterministic");
    }

    /// Session IDs computed by pars-crypto (0x05 || SHA3-256(pk), in the Lux fixture file) agree
    /// with SHA3.sol: the on-chain session ID digest is the Session ID without its 0x05 prefix.
    function test_matchesParsCryptoSessionIds() public view {
        string memory json = vm.readFile(LUX_FIXTURES);
        uint256 n = luxCount();
        vm.assertGe(n, 1, "cases");
        for (uint256 i = 0; i < n; i++) {
            (bytes memory pk,,) = luxCase(i);
            bytes memory id = vm.parseBytes(
                string.concat("0x", vm.parseJsonString(json, string.concat(".cases[", vm.toString(i), "].sessionId")))
            );
            vm.assertEq(id.length, 33, "Session ID length");
            vm.assertEq(uint8(id[0]), 5, "Session ID prefix");
            bytes32 digest;
            assembly {
                digest := mload(add(id, 33))
            }
            vm.assertEq(SHA3.sha3_256(pk), digest, "SHA3-256(pk) = Session ID without the prefix");
        }
    }
}
