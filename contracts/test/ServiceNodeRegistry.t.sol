// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CheatBase} from "./utils/Vm.sol";
import {RegistryHandler} from "./utils/RegistryHandler.sol";
import {ServiceNodeRegistry} from "../src/ServiceNodeRegistry.sol";

/// @notice An operator contract that tries to re-enter withdraw from its receive hook.
contract ReenteringOperator {
    ServiceNodeRegistry immutable reg;
    bytes32 public id;

    constructor(ServiceNodeRegistry r) {
        reg = r;
    }

    function register(ServiceNodeRegistry.Registration calldata r) external payable {
        id = reg.register{value: msg.value}(r);
    }

    function exit() external {
        reg.requestExit(id);
    }

    function withdraw() external {
        reg.withdraw(id);
    }

    receive() external payable {
        reg.withdraw(id); // must fail: guarded (and already Withdrawn)
    }
}

abstract contract RegistryFixture is CheatBase {
    ServiceNodeRegistry reg;
    address gov = address(0x60F);
    address alice = address(0xA11CE);
    address bob = address(0xB0B);
    uint256 constant MIN = 1 ether;
    uint64 constant UNBONDING = 1 days;

    function _deploy() internal {
        _deploy(UNBONDING);
    }

    function _deploy(uint64 unbonding) internal {
        reg = new ServiceNodeRegistry(gov, MIN, unbonding);
        vm.deal(alice, 1000 ether);
        vm.deal(bob, 1000 ether);
    }

    function _reg(bytes memory peer) internal pure returns (ServiceNodeRegistry.Registration memory r) {
        string[] memory addrs = new string[](2);
        addrs[0] = "/ip4/127.0.0.1/tcp/9000";
        addrs[1] = "/ip4/127.0.0.1/udp/9000/quic-v1";
        r = ServiceNodeRegistry.Registration(
            peer,
            keccak256(abi.encodePacked("mldsa", peer)),
            abi.encodePacked(keccak256(peer), bytes32(0)),
            addrs,
            "alice's node"
        );
    }

    function _register(address op, bytes memory peer, uint256 stake) internal returns (bytes32 id) {
        vm.prank(op);
        id = reg.register{value: stake}(_reg(peer));
    }
}

contract ServiceNodeRegistryTest is RegistryFixture {
    function setUp() public {
        _deploy();
    }

    // ---------------------------------------------------------------- registration

    function test_register() public {
        ServiceNodeRegistry.Registration memory r = _reg("peer-1");
        bytes32 id = keccak256("peer-1");
        vm.expectEmit(true, true, false, true, address(reg));
        emit ServiceNodeRegistry.NodeRegistered(
            id, alice, 2 ether, r.peerId, r.mldsaKeyHash, r.onionKey, r.multiaddrs, r.name
        );
        vm.roll(42);
        vm.prank(alice);
        vm.assertEq(reg.register{value: 2 ether}(r), id, "nodeId = keccak256(peerId)");
        vm.assertEq(reg.nodeIdOf("peer-1"), id, "nodeIdOf");

        ServiceNodeRegistry.Node memory n = reg.getNode(id);
        vm.assertEq(n.operator, alice, "operator");
        vm.assertTrue(n.status == ServiceNodeRegistry.Status.Active, "active");
        vm.assertEq(n.registeredBlock, 42, "block");
        vm.assertEq(n.stake, 2 ether, "stake");
        vm.assertEq(n.mldsaKeyHash, r.mldsaKeyHash, "key hash");
        vm.assertEq(n.peerId, r.peerId, "peer id");
        vm.assertEq(n.onionKey, r.onionKey, "onion key");
        vm.assertEq(n.multiaddrs.length, 2, "multiaddrs");
        vm.assertEq(n.multiaddrs[1], r.multiaddrs[1], "multiaddr");
        vm.assertEq(n.name, r.name, "name");
        vm.assertEq(reg.activeCount(), 1, "active count");
        vm.assertTrue(reg.isActive(id), "isActive");
        vm.assertEq(reg.totalStaked(), 2 ether, "total");
        vm.assertEq(address(reg).balance, 2 ether, "balance");
    }

    function test_register_validation() public {
        ServiceNodeRegistry.Registration memory r = _reg("p");
        vm.startPrank(alice);
        vm.expectRevert(abi.encodeWithSelector(ServiceNodeRegistry.StakeTooLow.selector, MIN - 1, MIN));
        reg.register{value: MIN - 1}(r);

        r.peerId = "";
        vm.expectRevert(ServiceNodeRegistry.InvalidPeerId.selector);
        reg.register{value: MIN}(r);
        r.peerId = new bytes(129);
        vm.expectRevert(ServiceNodeRegistry.InvalidPeerId.selector);
        reg.register{value: MIN}(r);

        r = _reg("p");
        r.mldsaKeyHash = bytes32(0);
        vm.expectRevert(ServiceNodeRegistry.InvalidKeyHash.selector);
        reg.register{value: MIN}(r);

        r = _reg("p");
        r.onionKey = "";
        vm.expectRevert(ServiceNodeRegistry.InvalidOnionKey.selector);
        reg.register{value: MIN}(r);
        r.onionKey = new bytes(129);
        vm.expectRevert(ServiceNodeRegistry.InvalidOnionKey.selector);
        reg.register{value: MIN}(r);

        r = _reg("p");
        r.multiaddrs = new string[](0);
        vm.expectRevert(ServiceNodeRegistry.InvalidMultiaddrs.selector);
        reg.register{value: MIN}(r);
        r.multiaddrs = new string[](9);
        for (uint256 i = 0; i < 9; i++) {
            r.multiaddrs[i] = "/ip4/1.2.3.4/tcp/1";
        }
        vm.expectRevert(ServiceNodeRegistry.InvalidMultiaddrs.selector);
        reg.register{value: MIN}(r);
        r.multiaddrs = new string[](1);
        vm.expectRevert(ServiceNodeRegistry.InvalidMultiaddrs.selector); // empty string
        reg.register{value: MIN}(r);
        r.multiaddrs[0] = string(new bytes(257));
        vm.expectRevert(ServiceNodeRegistry.InvalidMultiaddrs.selector);
        reg.register{value: MIN}(r);

        r = _reg("p");
        r.name = string(new bytes(65));
        vm.expectRevert(ServiceNodeRegistry.NameTooLong.selector);
        reg.register{value: MIN}(r);
        vm.stopPrank();
        vm.assertEq(reg.activeCount(), 0, "nothing registered");
    }

    function test_register_duplicatePeer() public {
        bytes32 id = _register(alice, "p", MIN);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(ServiceNodeRegistry.AlreadyRegistered.selector, id));
        reg.register{value: MIN}(_reg("p"));
        vm.prank(alice);
        reg.requestExit(id);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(ServiceNodeRegistry.AlreadyRegistered.selector, id));
        reg.register{value: MIN}(_reg("p"));
    }

    function test_reRegisterAfterWithdrawal() public {
        bytes32 id = _register(alice, "p", MIN);
        vm.prank(alice);
        reg.requestExit(id);
        vm.warp(block.timestamp + UNBONDING);
        vm.prank(alice);
        reg.withdraw(id);
        vm.assertEq(_register(bob, "p", 3 ether), id, "same id");
        ServiceNodeRegistry.Node memory n = reg.getNode(id);
        vm.assertEq(n.operator, bob, "new operator");
        vm.assertEq(n.stake, 3 ether, "fresh stake");
        vm.assertEq(n.unlockTime, 0, "no unlock time");
        vm.assertTrue(reg.isActive(id), "active again");
    }

    // -------------------------------------------------------------------- stake

    function test_addStake() public {
        bytes32 id = _register(alice, "p", MIN);
        vm.expectEmit(true, false, false, true, address(reg));
        emit ServiceNodeRegistry.StakeAdded(id, 5 ether, MIN + 5 ether);
        vm.prank(alice);
        reg.addStake{value: 5 ether}(id);
        vm.assertEq(reg.getNode(id).stake, MIN + 5 ether, "stake");
        vm.assertEq(reg.totalStaked(), MIN + 5 ether, "total");

        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(ServiceNodeRegistry.NotOperator.selector, id, bob));
        reg.addStake{value: 1 ether}(id);
        vm.prank(alice);
        vm.expectRevert(ServiceNodeRegistry.ZeroAmount.selector);
        reg.addStake(id);
        vm.prank(alice);
        reg.requestExit(id);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(ServiceNodeRegistry.NotActive.selector, id, ServiceNodeRegistry.Status.Exiting)
        );
        reg.addStake{value: 1 ether}(id);
    }

    function test_updateEndpoints() public {
        bytes32 id = _register(alice, "p", MIN);
        string[] memory addrs = new string[](1);
        addrs[0] = "/dns4/node.example/tcp/443";
        vm.expectEmit(true, false, false, true, address(reg));
        emit ServiceNodeRegistry.NodeUpdated(id, hex"beef", addrs);
        vm.prank(alice);
        reg.updateEndpoints(id, hex"beef", addrs);
        ServiceNodeRegistry.Node memory n = reg.getNode(id);
        vm.assertEq(n.onionKey, hex"beef", "onion key");
        vm.assertEq(n.multiaddrs.length, 1, "one address");
        vm.assertEq(n.multiaddrs[0], addrs[0], "address");
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(ServiceNodeRegistry.NotOperator.selector, id, bob));
        reg.updateEndpoints(id, hex"beef", addrs);
    }

    // ----------------------------------------------------------------------- exit

    function test_exitAndWithdraw() public {
        bytes32 id = _register(alice, "p", 4 ether);
        bytes32 other = _register(bob, "q", MIN);
        uint64 unlock = uint64(block.timestamp) + UNBONDING;
        vm.expectEmit(true, false, false, true, address(reg));
        emit ServiceNodeRegistry.ExitRequested(id, unlock);
        vm.prank(alice);
        reg.requestExit(id);
        vm.assertFalse(reg.isActive(id), "left the active set at once");
        vm.assertTrue(reg.isActive(other), "other stays");
        vm.assertEq(reg.activeCount(), 1, "count");
        vm.assertEq(reg.activeNodeIds(0, 10)[0], other, "moved into the gap");

        vm.warp(unlock - 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(ServiceNodeRegistry.StillBonded.selector, id, unlock));
        reg.withdraw(id);

        vm.warp(unlock);
        uint256 before = alice.balance;
        vm.expectEmit(true, true, false, true, address(reg));
        emit ServiceNodeRegistry.Withdrawn(id, alice, 4 ether);
        vm.prank(alice);
        reg.withdraw(id);
        vm.assertEq(alice.balance, before + 4 ether, "paid");
        vm.assertEq(reg.totalStaked(), MIN, "total");
        vm.assertEq(address(reg).balance, MIN, "balance");
        vm.assertTrue(reg.getNode(id).status == ServiceNodeRegistry.Status.Withdrawn, "withdrawn");

        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                ServiceNodeRegistry.NotWithdrawable.selector, id, ServiceNodeRegistry.Status.Withdrawn
            )
        );
        reg.withdraw(id);
    }

    function test_exitOnlyByOperatorAndOnce() public {
        bytes32 id = _register(alice, "p", MIN);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(ServiceNodeRegistry.NotOperator.selector, id, bob));
        reg.requestExit(id);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(ServiceNodeRegistry.NotWithdrawable.selector, id, ServiceNodeRegistry.Status.Active)
        );
        reg.withdraw(id);
        vm.prank(alice);
        reg.requestExit(id);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(ServiceNodeRegistry.NotActive.selector, id, ServiceNodeRegistry.Status.Exiting)
        );
        reg.requestExit(id);
    }

    function test_withdrawReentrancyBlocked() public {
        ReenteringOperator op = new ReenteringOperator(reg);
        op.register{value: MIN}(_reg("evil"));
        op.exit();
        vm.warp(block.timestamp + UNBONDING);
        bytes32 id = op.id();
        vm.expectRevert(abi.encodeWithSelector(ServiceNodeRegistry.TransferFailed.selector, address(op), MIN));
        op.withdraw();
        vm.assertEq(reg.getNode(id).stake, MIN, "stake kept");
        vm.assertEq(address(reg).balance, MIN, "balance kept");
    }

    // -------------------------------------------------------------------- slashing

    function test_slash() public {
        bytes32 id = _register(alice, "p", 10 ether);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(ServiceNodeRegistry.NotOwner.selector, alice));
        reg.slash(id, 1 ether, "no");

        vm.prank(gov);
        vm.expectRevert(abi.encodeWithSelector(ServiceNodeRegistry.SlashTooLarge.selector, 11 ether, 10 ether));
        reg.slash(id, 11 ether, "too much");

        uint64 unlock = uint64(block.timestamp) + UNBONDING;
        vm.expectEmit(true, false, false, true, address(reg));
        emit ServiceNodeRegistry.Slashed(id, 3 ether, 7 ether, unlock, "equivocation");
        vm.prank(gov);
        reg.slash(id, 3 ether, "equivocation");
        vm.assertFalse(reg.isActive(id), "removed");
        vm.assertEq(reg.slashedBalance(), 3 ether, "pool");
        vm.assertEq(reg.totalStaked(), 7 ether, "total");

        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(ServiceNodeRegistry.StillBonded.selector, id, unlock));
        reg.withdraw(id);
        vm.warp(unlock);
        vm.prank(alice);
        reg.withdraw(id);
        vm.assertEq(address(reg).balance, 3 ether, "only the slashed funds left");

        vm.expectEmit(true, false, false, true, address(reg));
        emit ServiceNodeRegistry.SlashedFundsSwept(gov, 3 ether);
        vm.prank(gov);
        reg.sweepSlashed(gov);
        vm.assertEq(gov.balance, 3 ether, "swept");
        vm.assertEq(address(reg).balance, 0, "empty");
    }

    function test_slashExitingKeepsLaterUnlock() public {
        bytes32 id = _register(alice, "p", 2 ether);
        vm.prank(alice);
        reg.requestExit(id);
        uint64 unlock = reg.getNode(id).unlockTime;
        vm.warp(block.timestamp + 1 hours);
        vm.prank(gov);
        reg.slash(id, 1 ether, "late misbehaviour");
        vm.assertEq(reg.getNode(id).unlockTime, unlock + 1 hours, "unbonding restarts at the slash");
        vm.prank(gov);
        vm.expectRevert(
            abi.encodeWithSelector(ServiceNodeRegistry.NotActive.selector, id, ServiceNodeRegistry.Status.Slashed)
        );
        reg.slash(id, 1, "twice");
    }

    // ------------------------------------------------------------------- views

    function test_paging() public {
        bytes32[] memory ids = new bytes32[](5);
        for (uint256 i = 0; i < 5; i++) {
            ids[i] = _register(alice, abi.encodePacked("peer", i), MIN);
        }
        ServiceNodeRegistry.NodeView[] memory page = reg.activeNodes(0, 2);
        vm.assertEq(page.length, 2, "first page");
        vm.assertEq(page[0].nodeId, ids[0], "0");
        vm.assertEq(page[1].node.peerId, abi.encodePacked("peer", uint256(1)), "1");
        page = reg.activeNodes(4, 2);
        vm.assertEq(page.length, 1, "last page");
        vm.assertEq(page[0].nodeId, ids[4], "4");
        vm.assertEq(reg.activeNodes(5, 2).length, 0, "past the end");
        vm.assertEq(reg.activeNodes(type(uint256).max, type(uint256).max).length, 0, "huge offset");
        vm.assertEq(reg.activeNodeIds(0, type(uint256).max).length, 5, "limit capped, all fit");

        vm.prank(alice);
        reg.requestExit(ids[1]);
        bytes32[] memory left = reg.activeNodeIds(0, 10);
        vm.assertEq(left.length, 4, "four left");
        vm.assertEq(left[1], ids[4], "last moved into the gap");
        for (uint256 i = 0; i < left.length; i++) {
            vm.assertTrue(left[i] != ids[1], "exited node absent");
        }
    }

    function test_pageCap() public {
        for (uint256 i = 0; i < 101; i++) {
            _register(alice, abi.encodePacked("n", i), MIN);
        }
        vm.assertEq(reg.activeNodeIds(0, 1000).length, 100, "MAX_PAGE");
        vm.assertEq(reg.activeNodeIds(100, 1000).length, 1, "rest");
    }

    // ------------------------------------------------------------------ governance

    function test_parametersAndOwnership() public {
        vm.expectRevert(abi.encodeWithSelector(ServiceNodeRegistry.NotOwner.selector, address(this)));
        reg.setParameters(2 ether, 2 days);
        vm.prank(gov);
        reg.setParameters(2 ether, 2 days);
        vm.assertEq(reg.minStake(), 2 ether, "min");
        vm.assertEq(reg.unbondingPeriod(), 2 days, "unbonding");
        vm.prank(gov);
        vm.expectRevert(ServiceNodeRegistry.InvalidParameters.selector);
        reg.setParameters(0, 1);
        vm.prank(gov);
        vm.expectRevert(ServiceNodeRegistry.InvalidParameters.selector);
        reg.setParameters(1, 366 days);

        vm.prank(gov);
        reg.transferOwnership(bob);
        vm.assertEq(reg.owner(), gov, "not yet");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(ServiceNodeRegistry.NotPendingOwner.selector, alice));
        reg.acceptOwnership();
        vm.prank(bob);
        reg.acceptOwnership();
        vm.assertEq(reg.owner(), bob, "transferred");
        vm.assertEq(reg.pendingOwner(), address(0), "cleared");
    }

    // ------------------------------------------------------------------------ fuzz

    function testFuzz_registerStake(uint96 stake) public {
        vm.deal(alice, stake);
        vm.prank(alice);
        if (stake < MIN) {
            vm.expectRevert(abi.encodeWithSelector(ServiceNodeRegistry.StakeTooLow.selector, stake, MIN));
            reg.register{value: stake}(_reg("p"));
            vm.assertEq(reg.activeCount(), 0, "none");
        } else {
            bytes32 id = reg.register{value: stake}(_reg("p"));
            vm.assertEq(reg.getNode(id).stake, stake, "stake");
            vm.assertEq(reg.totalStaked(), stake, "total");
            vm.assertEq(address(reg).balance, stake, "balance");
        }
    }

    function testFuzz_withdrawOnlyAfterDelay(uint64 wait, uint96 stake) public {
        vm.assume(stake >= MIN);
        vm.deal(alice, stake);
        bytes32 id = _register(alice, "p", stake);
        vm.prank(alice);
        reg.requestExit(id);
        uint64 unlock = reg.getNode(id).unlockTime;
        vm.warp(block.timestamp + (wait % (2 * UNBONDING)));
        vm.prank(alice);
        // forge-lint: disable-next-line(block-timestamp) — the property under test
        if (block.timestamp < unlock) {
            vm.expectRevert(abi.encodeWithSelector(ServiceNodeRegistry.StillBonded.selector, id, unlock));
            reg.withdraw(id);
            vm.assertEq(address(reg).balance, stake, "kept");
        } else {
            reg.withdraw(id);
            vm.assertEq(address(reg).balance, 0, "paid out");
            vm.assertEq(alice.balance, stake, "to the operator");
        }
    }

    function testFuzz_slashConservesFunds(uint96 stake, uint96 amount) public {
        vm.assume(stake >= MIN);
        vm.deal(alice, stake);
        bytes32 id = _register(alice, "p", stake);
        vm.prank(gov);
        if (amount > stake) {
            vm.expectRevert(abi.encodeWithSelector(ServiceNodeRegistry.SlashTooLarge.selector, amount, stake));
            reg.slash(id, amount, "x");
            return;
        }
        reg.slash(id, amount, "x");
        vm.assertEq(reg.getNode(id).stake + reg.slashedBalance(), stake, "stake split");
        vm.assertEq(address(reg).balance, reg.totalStaked() + reg.slashedBalance(), "balance");
        vm.assertFalse(reg.isActive(id), "inactive");
    }
}

/// @notice Invariants over random sequences of register / addStake / requestExit / withdraw /
/// slash / sweep / warp.
contract ServiceNodeRegistryInvariantTest is RegistryFixture {
    RegistryHandler handler;

    function setUp() public {
        _deploy(2 hours); // short, so random walks of 64 calls (warps of up to 3 h) reach withdrawals
        handler = new RegistryHandler(reg, gov);
    }

    /// The handler is not vacuous: a fixed walk goes through every state.
    function test_handlerReachesEveryState() public {
        handler.register(0, 0, 5 ether);
        handler.register(1, 1, 5 ether);
        handler.register(2, 2, 5 ether);
        handler.addStake(0, 1 ether);
        handler.requestExit(0);
        handler.withdraw(0); // too early: must fail
        vm.assertEq(handler.withdrawn(), 0, "early withdrawal refused");
        handler.warp(2 hours);
        handler.withdraw(0);
        handler.slash(1, 1 ether);
        vm.assertEq(handler.registered(), 3, "registered");
        vm.assertEq(handler.exited(), 1, "exited");
        vm.assertEq(handler.withdrawn(), 1, "withdrawn");
        vm.assertEq(handler.slashed(), 1, "slashed");
        invariant_balanceEqualsStakesPlusSlashed();
        invariant_exitedNeverActive();
        invariant_noWithdrawalBeforeDelay();
        invariant_withdrawnHoldNothing();
    }

    function targetContracts() public view returns (address[] memory t) {
        t = new address[](1);
        t[0] = address(handler);
    }

    function invariant_balanceEqualsStakesPlusSlashed() public view {
        uint256 sum;
        for (uint256 i = 0; i < handler.idCount(); i++) {
            sum += reg.getNode(handler.ids(i)).stake;
        }
        vm.assertEq(sum, reg.totalStaked(), "sum of stakes = totalStaked");
        vm.assertEq(address(reg).balance, sum + reg.slashedBalance(), "balance = stakes + slashed pool");
    }

    function invariant_exitedNeverActive() public view {
        vm.assertFalse(handler.exitedButActive(), "an exited/slashed node was seen active");
        uint256 active;
        for (uint256 i = 0; i < handler.idCount(); i++) {
            bytes32 id = handler.ids(i);
            bool isActiveStatus = reg.getNode(id).status == ServiceNodeRegistry.Status.Active;
            vm.assertEq(reg.isActive(id), isActiveStatus, "active set matches status");
            if (isActiveStatus) active++;
        }
        vm.assertEq(reg.activeCount(), active, "active count");
    }

    function invariant_noWithdrawalBeforeDelay() public view {
        vm.assertFalse(handler.earlyWithdrawal(), "withdrawal before unlock");
    }

    function invariant_withdrawnHoldNothing() public view {
        for (uint256 i = 0; i < handler.idCount(); i++) {
            ServiceNodeRegistry.Node memory n = reg.getNode(handler.ids(i));
            if (n.status == ServiceNodeRegistry.Status.Withdrawn) vm.assertEq(n.stake, 0, "withdrawn stake");
        }
    }
}
