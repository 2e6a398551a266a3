// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CheatBase} from "./Vm.sol";

/// @notice Reads contracts/test/data/mldsa87-lux-signatures.json: ML-DSA-87 signatures made by
/// pars-crypto with the context "lux-evm-precompile-mldsa-v1" over raw messages M.
abstract contract LuxFixtures is CheatBase {
    string internal constant LUX_FIXTURES = "contracts/test/data/mldsa87-lux-signatures.json";

    function luxCount() internal view returns (uint256 n) {
        string memory json = vm.readFile(LUX_FIXTURES);
        vm.assertEq(vm.parseJsonString(json, ".context"), "lux-evm-precompile-mldsa-v1", "fixture context");
        while (true) {
            try this.luxHasCase(json, n) returns (bool has) {
                if (!has) break;
            } catch {
                break;
            }
            n++;
        }
    }

    /// @dev External so a missing index can be caught.
    function luxHasCase(string memory json, uint256 i) external pure returns (bool) {
        return vm.parseJsonBytes(json, string.concat(".cases[", vm.toString(i), "].publicKey")).length == 2592;
    }

    function luxCase(uint256 i) internal view returns (bytes memory pk, bytes memory m, bytes memory sig) {
        string memory json = vm.readFile(LUX_FIXTURES);
        string memory c = string.concat(".cases[", vm.toString(i), "]");
        pk = vm.parseJsonBytes(json, string.concat(c, ".publicKey"));
        m = vm.parseJsonBytes(json, string.concat(c, ".message"));
        sig = vm.parseJsonBytes(json, string.concat(c, ".signature"));
    }

    /// @notice The Lux precompile's raw input: 0x87 || pk || msgLen (32-byte BE) || sig || msg.
    function precompileInput(bytes memory pk, bytes memory m, bytes memory sig) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(0x87), pk, uint256(m.length), sig, m);
    }
}
