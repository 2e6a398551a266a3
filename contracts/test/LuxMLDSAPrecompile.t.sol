// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CheatBase} from "./utils/Vm.sol";
import {LuxFixtures} from "./utils/LuxFixtures.sol";
import {ReturnsTwoWords, ReturnsTwo, ReturnsShortOne, Reverts, LayoutChecker} from "./utils/TestTargets.sol";
import {LuxMLDSAPrecompile} from "../src/verifiers/LuxMLDSAPrecompile.sol";
import {MLDSA87Verifier} from "../src/verifiers/MLDSA87Verifier.sol";

contract LuxMLDSAPrecompileTest is CheatBase, LuxFixtures {
    address constant PRECOMPILE = 0x0000000000000000000000000000000000012202;
    LuxMLDSAPrecompile adapter;
    bytes pk;
    bytes m;
    bytes sig;

    function setUp() public {
        adapter = new LuxMLDSAPrecompile(PRECOMPILE);
        (pk, m, sig) = luxCase(1);
    }

    function test_missingPrecompileFails() public view {
        vm.assertEq(PRECOMPILE.code.length, 0, "nothing at the address");
        vm.assertFalse(adapter.verify(pk, m, sig), "no code there must not verify");
    }

    function _etch(address impl) internal {
        vm.etch(PRECOMPILE, impl.code);
    }

    function test_malformedReturnFails() public {
        _etch(address(new ReturnsTwoWords()));
        vm.assertFalse(adapter.verify(pk, m, sig), "64-byte return");
        _etch(address(new ReturnsTwo()));
        vm.assertFalse(adapter.verify(pk, m, sig), "word 2");
        _etch(address(new ReturnsShortOne()));
        vm.assertFalse(adapter.verify(pk, m, sig), "1-byte return");
        _etch(address(new Reverts()));
        vm.assertFalse(adapter.verify(pk, m, sig), "revert");
    }

    function test_sendsThePrecompileLayout() public {
        _etch(address(new LayoutChecker(pk, m, sig)));
        vm.assertTrue(adapter.verify(pk, m, sig), "layout 0x87 || pk || msgLen || sig || msg");
        vm.assertFalse(adapter.verify(pk, bytes.concat(m, hex"00"), sig), "checker is not a stub");
    }

    function test_wrongLengthsFail() public {
        _etch(address(new LayoutChecker(pk, m, sig)));
        vm.assertFalse(adapter.verify(new bytes(2591), m, sig), "short key");
        vm.assertFalse(adapter.verify(pk, m, new bytes(4628)), "long signature");
    }

    function test_solidityVerifierAtPrecompileAddress() public {
        _etch(address(new MLDSA87Verifier()));
        vm.assertTrue(adapter.verify(pk, m, sig), "valid Lux-context signature");
        bytes memory bad = bytes.concat(sig);
        bad[100] ^= 0x10;
        vm.assertFalse(adapter.verify(pk, m, bad), "flipped bit");
    }

    function test_solidityVerifierAnywhere() public {
        LuxMLDSAPrecompile other = new LuxMLDSAPrecompile(address(new MLDSA87Verifier()));
        vm.assertTrue(other.verify(pk, m, sig), "verifier deployed at an ordinary address");
    }
}
