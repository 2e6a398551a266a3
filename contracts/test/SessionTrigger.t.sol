// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CheatBase} from "./utils/Vm.sol";
import {LuxFixtures} from "./utils/LuxFixtures.sol";
import {Recorder, Reentrant} from "./utils/TestTargets.sol";
import {SessionTrigger} from "../src/SessionTrigger.sol";
import {SessionGuestbook} from "../src/examples/SessionGuestbook.sol";
import {SessionContext} from "../src/examples/SessionContext.sol";
import {LuxMLDSAPrecompile} from "../src/verifiers/LuxMLDSAPrecompile.sol";
import {MLDSA87Verifier} from "../src/verifiers/MLDSA87Verifier.sol";
import {IMLDSAVerifier} from "../src/interfaces/IMLDSAVerifier.sol";

/// @notice SessionTrigger with the pure-Solidity verifier placed at the Lux precompile address, as on
/// the devnet. The signed actions (contracts/test/data/session-actions.json) name fixed trigger and
/// target addresses, so the contracts are placed there.
contract SessionTriggerTest is CheatBase, LuxFixtures {
    string constant ACTIONS = "contracts/test/data/session-actions.json";
    address constant PRECOMPILE = 0x0000000000000000000000000000000000012202;

    /// printed by `forge test -vv`
    event log_named_uint(string key, uint256 val);

    SessionTrigger trigger;
    SessionGuestbook guestbook;
    Recorder recorder;
    Reentrant reentrant;
    string json;
    bytes pk;
    bytes32 sid;

    receive() external payable {}

    function setUp() public {
        json = vm.readFile(ACTIONS);
        vm.assertEq(vm.parseJsonUint(json, ".chainId"), block.chainid, "fixtures are for this chain id");
        vm.etch(PRECOMPILE, address(new MLDSA87Verifier()).code);
        IMLDSAVerifier adapter = new LuxMLDSAPrecompile(PRECOMPILE);

        trigger = SessionTrigger(_addr(".trigger"));
        vm.etch(address(trigger), address(new SessionTrigger(adapter)).code);
        guestbook = SessionGuestbook(_addr(".guestbook"));
        vm.etch(address(guestbook), address(new SessionGuestbook(address(trigger))).code);
        recorder = Recorder(_addr(".recorder"));
        vm.etch(address(recorder), address(new Recorder()).code);
        reentrant = Reentrant(_addr(".reentrant"));
        vm.etch(address(reentrant), address(new Reentrant()).code);

        pk = vm.parseJsonBytes(json, ".publicKey");
        sid = vm.parseJsonBytes32(json, ".sessionId");
        vm.deal(address(this), 100 ether);
    }

    function _addr(string memory key) internal view returns (address) {
        return vm.parseJsonAddress(json, key);
    }

    function _action(string memory name) internal view returns (bytes memory m, bytes memory s, uint64 nonce) {
        string memory k = string.concat(".actions.", name);
        m = vm.parseJsonBytes(json, string.concat(k, ".message"));
        s = vm.parseJsonBytes(json, string.concat(k, ".signature"));
        nonce = uint64(vm.parseJsonUint(json, string.concat(k, ".nonce")));
    }

    function _note(uint64 nonce) internal view returns (string memory) {
        return string.concat(vm.parseJsonString(json, ".note"), " #", vm.toString(uint256(nonce)));
    }

    // ----------------------------------------------------------------- happy paths

    function test_sessionIdIsSha3OfKey() public view {
        vm.assertEq(trigger.sessionIdOf(pk), sid, "SHA3-256(pk)");
    }

    function test_executeFromSession_guestbook() public {
        (bytes memory m, bytes memory s, uint64 nonce) = _action("guestbook");
        vm.expectEmit(true, false, false, true, address(guestbook));
        emit SessionGuestbook.Signed(sid, _note(nonce));
        vm.expectEmit(true, true, true, true, address(trigger));
        emit SessionTrigger.SessionActionExecuted(sid, nonce, address(guestbook), 0, keccak256(m), address(this));
        (bool ok,) = trigger.executeFromSession(m, s, pk);
        vm.assertTrue(ok, "target call succeeded");
        vm.assertEq(guestbook.noteOf(sid), _note(nonce), "note stored under the appended session ID digest");
        vm.assertTrue(trigger.nonceUsed(sid, nonce), "nonce consumed");
        vm.assertFalse(trigger.nonceUsed(sid, nonce + 1), "other nonces untouched");
    }

    function test_decodeAction_matchesEncodeAction() public view {
        (bytes memory m,, uint64 nonce) = _action("value");
        SessionTrigger.Action memory a = trigger.decodeAction(m);
        vm.assertEq(a.version, 1, "version");
        vm.assertEq(a.chainId, 31337, "chain");
        vm.assertEq(a.trigger, address(trigger), "trigger");
        vm.assertEq(a.sessionId, sid, "session id");
        vm.assertEq(a.nonce, nonce, "nonce");
        vm.assertEq(a.deadline, vm.parseJsonUint(json, ".deadline"), "deadline");
        vm.assertEq(a.target, address(recorder), "target");
        vm.assertEq(a.value, 1 ether, "value");
        vm.assertEq(a.data, abi.encodeCall(Recorder.record, ()), "data");
        vm.assertEq(trigger.encodeAction(a), m, "encodeAction round trip");
    }

    function test_registerKey_thenExecuteRegistered() public {
        vm.expectEmit(true, false, false, false, address(trigger));
        emit SessionTrigger.KeyRegistered(sid, address(0));
        bytes32 id = trigger.registerKey(pk);
        vm.assertEq(id, sid, "returned id");
        vm.assertEq(trigger.publicKeyOf(sid), pk, "stored key");
        address store = trigger.keyStore(sid);
        vm.assertEq(trigger.registerKey(pk), sid, "idempotent");
        vm.assertEq(trigger.keyStore(sid), store, "same store");

        (bytes memory m, bytes memory s, uint64 nonce) = _action("guestbookRegistered");
        vm.expectEmit(true, true, true, true, address(trigger));
        emit SessionTrigger.SessionActionExecuted(sid, nonce, address(guestbook), 0, keccak256(m), address(this));
        (bool ok,) = trigger.executeRegistered(m, s);
        vm.assertTrue(ok, "executed");
        vm.assertEq(guestbook.noteOf(sid), _note(nonce), "note");
    }

    function test_registerKey_wrongLength() public {
        vm.expectRevert(abi.encodeWithSelector(SessionTrigger.InvalidPublicKeyLength.selector, 2591));
        trigger.registerKey(new bytes(2591));
    }

    function test_executeRegistered_unknownKey() public {
        (bytes memory m, bytes memory s,) = _action("guestbook");
        vm.expectRevert(abi.encodeWithSelector(SessionTrigger.KeyNotRegistered.selector, sid));
        trigger.executeRegistered(m, s);
    }

    function test_valueForwarding() public {
        (bytes memory m, bytes memory s, uint64 nonce) = _action("value");
        vm.expectRevert(abi.encodeWithSelector(SessionTrigger.ValueMismatch.selector, 1 ether, 0));
        trigger.executeFromSession(m, s, pk);

        vm.expectEmit(true, true, true, true, address(trigger));
        emit SessionTrigger.SessionActionExecuted(sid, nonce, address(recorder), 1 ether, keccak256(m), address(this));
        trigger.executeFromSession{value: 1 ether}(m, s, pk);
        vm.assertEq(recorder.received(), 1 ether, "value arrived");
        vm.assertEq(address(recorder).balance, 1 ether, "balance");
        vm.assertEq(address(trigger).balance, 0, "trigger keeps nothing");
        vm.assertEq(recorder.lastSessionId(), sid, "appended digest");
        vm.assertEq(recorder.lastData(), abi.encodePacked(Recorder.record.selector, sid), "calldata = data || id");
    }

    function test_failingTarget_emitsAndRefunds() public {
        (bytes memory m, bytes memory s, uint64 nonce) = _action("failing");
        uint256 before = address(this).balance;
        vm.expectEmit(true, true, true, true, address(trigger));
        emit SessionTrigger.SessionActionFailed(
            sid,
            nonce,
            address(recorder),
            1 ether,
            keccak256(m),
            address(this),
            abi.encodeWithSelector(Recorder.Nope.selector)
        );
        (bool ok, bytes memory ret) = trigger.executeFromSession{value: 1 ether}(m, s, pk);
        vm.assertFalse(ok, "reported failure");
        vm.assertEq(ret, abi.encodeWithSelector(Recorder.Nope.selector), "revert data returned");
        vm.assertEq(address(this).balance, before, "value refunded");
        vm.assertTrue(trigger.nonceUsed(sid, nonce), "nonce consumed by a failed call");
        vm.expectRevert(abi.encodeWithSelector(SessionTrigger.NonceUsed.selector, sid, nonce));
        trigger.executeFromSession{value: 1 ether}(m, s, pk);
    }

    function test_outOfGasTarget_revertsInsteadOfBurningTheAction() public {
        (bytes memory m, bytes memory s, uint64 nonce) = _action("burn");
        vm.expectRevert(SessionTrigger.InsufficientGas.selector);
        trigger.executeFromSession{gas: 40_000_000}(m, s, pk);
        vm.assertFalse(trigger.nonceUsed(sid, nonce), "nonce still usable");
    }

    // ------------------------------------------------------------------- rejections

    function test_replayRejected() public {
        (bytes memory m, bytes memory s, uint64 nonce) = _action("guestbook");
        trigger.executeFromSession(m, s, pk);
        vm.expectRevert(abi.encodeWithSelector(SessionTrigger.NonceUsed.selector, sid, nonce));
        trigger.executeFromSession(m, s, pk);
        trigger.registerKey(pk);
        vm.expectRevert(abi.encodeWithSelector(SessionTrigger.NonceUsed.selector, sid, nonce));
        trigger.executeRegistered(m, s);
    }

    function test_wrongChainRejected() public {
        (bytes memory m, bytes memory s,) = _action("wrongChain");
        vm.expectRevert(abi.encodeWithSelector(SessionTrigger.WrongChain.selector, 1, 31337));
        trigger.executeFromSession(m, s, pk);
        // and a valid action replayed on another chain
        (m, s,) = _action("guestbook");
        vm.chainId(1);
        vm.expectRevert(abi.encodeWithSelector(SessionTrigger.WrongChain.selector, 31337, 1));
        trigger.executeFromSession(m, s, pk);
    }

    function test_wrongContractRejected() public {
        (bytes memory m, bytes memory s,) = _action("wrongTrigger");
        vm.expectRevert(
            abi.encodeWithSelector(SessionTrigger.WrongTrigger.selector, address(trigger), _addr(".otherTrigger"))
        );
        trigger.executeFromSession(m, s, pk);
    }

    function test_deadline() public {
        (bytes memory m, bytes memory s,) = _action("expired");
        vm.warp(1001);
        vm.expectRevert(abi.encodeWithSelector(SessionTrigger.Expired.selector, 1000, 1001));
        trigger.executeFromSession(m, s, pk);
        // at the deadline itself the action is still valid
        (m, s,) = _action("boundary");
        vm.warp(1000);
        (bool ok,) = trigger.executeFromSession(m, s, pk);
        vm.assertTrue(ok, "valid at the deadline");
    }

    function test_wrongKeyHashRejected() public {
        (bytes memory m, bytes memory s,) = _action("guestbook");
        (bytes memory otherPk,,) = luxCase(0);
        vm.expectRevert(abi.encodeWithSelector(SessionTrigger.KeyMismatch.selector, sid, trigger.sessionIdOf(otherPk)));
        trigger.executeFromSession(m, s, otherPk);
        vm.expectRevert(abi.encodeWithSelector(SessionTrigger.InvalidPublicKeyLength.selector, 2592 + 1));
        trigger.executeFromSession(m, s, bytes.concat(pk, hex"00"));
    }

    function test_badSignatureRejected() public {
        (bytes memory m, bytes memory s, uint64 nonce) = _action("guestbook");
        s[777] ^= 0x01;
        vm.expectRevert(abi.encodeWithSelector(SessionTrigger.InvalidSignature.selector, sid, nonce));
        trigger.executeFromSession(m, s, pk);
        // a signature of another action by the same key
        (, bytes memory other,) = _action("guestbookRegistered");
        (m,,) = _action("guestbook");
        vm.expectRevert(abi.encodeWithSelector(SessionTrigger.InvalidSignature.selector, sid, nonce));
        trigger.executeFromSession(m, other, pk);
        vm.assertFalse(trigger.nonceUsed(sid, nonce), "nothing consumed");
    }

    function test_unsupportedVersionRejected() public {
        (bytes memory m, bytes memory s,) = _action("version2");
        vm.expectRevert(abi.encodeWithSelector(SessionTrigger.UnsupportedVersion.selector, 2));
        trigger.executeFromSession(m, s, pk);
    }

    function test_malformedActionRejected() public {
        (bytes memory m, bytes memory s,) = _action("guestbook");
        vm.expectRevert(SessionTrigger.MalformedAction.selector);
        trigger.executeFromSession(bytes.concat(m, hex"00"), s, pk);
        bytes memory short = new bytes(300);
        vm.expectRevert(SessionTrigger.MalformedAction.selector);
        trigger.executeFromSession(short, s, pk);
        bytes memory badOffset = bytes.concat(m);
        badOffset[287] = 0x40;
        vm.expectRevert(SessionTrigger.MalformedAction.selector);
        trigger.executeFromSession(badOffset, s, pk);
    }

    function test_selfTargetRejected() public {
        (bytes memory m, bytes memory s,) = _action("selfTarget");
        vm.expectRevert(abi.encodeWithSelector(SessionTrigger.InvalidTarget.selector, address(trigger)));
        trigger.executeFromSession(m, s, pk);
    }

    function test_executeRegistered_badSignature() public {
        trigger.registerKey(pk);
        (bytes memory m, bytes memory s, uint64 nonce) = _action("guestbook");
        s[4000] ^= 0x40;
        vm.expectRevert(abi.encodeWithSelector(SessionTrigger.InvalidSignature.selector, sid, nonce));
        trigger.executeRegistered(m, s);
    }

    function test_reentrancyBlocked() public {
        (bytes memory inner, bytes memory innerSig, uint64 innerNonce) = _action("inner");
        reentrant.arm(trigger, inner, innerSig, pk);
        (bytes memory m, bytes memory s, uint64 nonce) = _action("reenter");
        (bool ok,) = trigger.executeFromSession(m, s, pk);
        vm.assertTrue(ok, "outer call completed");
        vm.assertFalse(reentrant.reentered(), "inner action did not run");
        vm.assertEq(reentrant.reentryError(), abi.encodeWithSelector(SessionTrigger.Reentrancy.selector), "guard");
        vm.assertTrue(trigger.nonceUsed(sid, nonce), "outer nonce used");
        vm.assertFalse(trigger.nonceUsed(sid, innerNonce), "inner nonce unused");
        vm.assertEq(bytes(guestbook.noteOf(sid)).length, 0, "no note from the inner action");
        // the inner action itself is still valid afterwards
        trigger.executeFromSession(inner, innerSig, pk);
        vm.assertEq(guestbook.noteOf(sid), _note(innerNonce), "inner action later");
    }

    function test_guestbookOnlyTrustsTheTrigger() public {
        vm.expectRevert(abi.encodeWithSelector(SessionContext.NotSessionTrigger.selector, address(this)));
        guestbook.sign("forged");
        // even with a digest appended by hand
        (bool ok,) = address(guestbook).call(abi.encodePacked(abi.encodeCall(SessionGuestbook.sign, ("x")), sid));
        vm.assertFalse(ok, "forged suffix rejected");
    }

    /// Gas of each external entry point, for docs/contracts.md (`forge test --mt test_gasTable -vv`).
    /// The calls are measured from here, so the figures include the call itself but not the
    /// transaction's intrinsic and calldata cost.
    function test_gasTable() public {
        uint256 g = gasleft();
        trigger.sessionIdOf(pk);
        emit log_named_uint("sessionIdOf (SHA3-256 of 2592 bytes)", g - gasleft());

        (bytes memory m, bytes memory s,) = _action("guestbook");
        g = gasleft();
        trigger.decodeAction(m);
        emit log_named_uint("decodeAction", g - gasleft());

        g = gasleft();
        trigger.executeFromSession(m, s, pk);
        emit log_named_uint("executeFromSession (guestbook note, first write)", g - gasleft());

        g = gasleft();
        trigger.registerKey(pk);
        emit log_named_uint("registerKey (first time)", g - gasleft());
        g = gasleft();
        trigger.registerKey(pk);
        emit log_named_uint("registerKey (already registered)", g - gasleft());
        g = gasleft();
        trigger.publicKeyOf(sid);
        emit log_named_uint("publicKeyOf", g - gasleft());

        (m, s,) = _action("guestbookRegistered");
        g = gasleft();
        trigger.executeRegistered(m, s);
        emit log_named_uint("executeRegistered (guestbook note, overwrite)", g - gasleft());

        (m, s,) = _action("value");
        g = gasleft();
        trigger.executeFromSession{value: 1 ether}(m, s, pk);
        emit log_named_uint("executeFromSession (1 ether to a recorder)", g - gasleft());

        vm.prank(address(trigger));
        g = gasleft();
        (bool ok,) = address(guestbook).call(abi.encodePacked(abi.encodeCall(SessionGuestbook.sign, ("gas")), sid));
        emit log_named_uint("SessionGuestbook.sign (from the trigger, overwrite)", g - gasleft());
        vm.assertTrue(ok, "sign");
        vm.prank(address(trigger));
        g = gasleft();
        (ok,) = address(guestbook).call(abi.encodePacked(abi.encodeCall(SessionGuestbook.sign, ("gas")), ~sid));
        emit log_named_uint("SessionGuestbook.sign (from the trigger, new note)", g - gasleft());
        vm.assertTrue(ok, "sign new");
        g = gasleft();
        guestbook.noteOf(sid);
        emit log_named_uint("SessionGuestbook.noteOf", g - gasleft());

        g = gasleft();
        vm.assertEq(trigger.nonceUsed(sid, 1), true, "nonce");
        emit log_named_uint("nonceUsed (incl. the assertion)", g - gasleft());
    }
}
