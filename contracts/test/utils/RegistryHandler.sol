// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CheatBase} from "./Vm.sol";
import {ServiceNodeRegistry} from "../../src/ServiceNodeRegistry.sol";

/// @notice Drives ServiceNodeRegistry with random operations for the invariant tests and records
/// what must never happen.
contract RegistryHandler is CheatBase {
    ServiceNodeRegistry public immutable reg;
    address public immutable governance;
    bytes32[] public ids;
    mapping(bytes32 => bool) private known;
    /// Set if a withdrawal ever succeeded before the node's unlock time.
    bool public earlyWithdrawal;
    /// Set if an exited or slashed node was ever seen in the active set after the operation.
    bool public exitedButActive;
    uint256 public calls;
    /// Successful operations, to show the random walk reaches every state.
    uint256 public registered;
    uint256 public exited;
    uint256 public withdrawn;
    uint256 public slashed;

    constructor(ServiceNodeRegistry reg_, address governance_) {
        reg = reg_;
        governance = governance_;
    }

    function idCount() external view returns (uint256) {
        return ids.length;
    }

    function _bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        return lo + (x % (hi - lo + 1));
    }

    function _operator(uint256 seed) internal pure returns (address) {
        return address(uint160(0x1000 + (seed % 4)));
    }

    function _pick(uint256 seed) internal view returns (bytes32 id, bool ok) {
        if (ids.length == 0) return (bytes32(0), false);
        return (ids[seed % ids.length], true);
    }

    function register(uint256 actorSeed, uint256 peerSeed, uint256 stake) external {
        calls++;
        address op = _operator(actorSeed);
        stake = _bound(stake, reg.minStake(), 50 ether);
        // few distinct peer IDs, so re-registration and AlreadyRegistered are exercised
        bytes memory peer = abi.encodePacked("peer-", peerSeed % 12);
        string[] memory addrs = new string[](1);
        addrs[0] = "/ip4/127.0.0.1/tcp/9000";
        ServiceNodeRegistry.Registration memory r =
            ServiceNodeRegistry.Registration(peer, keccak256(peer), hex"01", addrs, "op");
        vm.deal(op, stake);
        vm.prank(op);
        try reg.register{value: stake}(r) returns (bytes32 id) {
            registered++;
            if (!known[id]) {
                known[id] = true;
                ids.push(id);
            }
        } catch {}
    }

    function addStake(uint256 idSeed, uint256 amount) external {
        calls++;
        (bytes32 id, bool ok) = _pick(idSeed);
        if (!ok) return;
        ServiceNodeRegistry.Node memory n = reg.getNode(id);
        amount = _bound(amount, 1, 10 ether);
        vm.deal(n.operator, amount);
        vm.prank(n.operator);
        try reg.addStake{value: amount}(id) {} catch {}
    }

    function requestExit(uint256 idSeed) external {
        calls++;
        (bytes32 id, bool ok) = _pick(idSeed);
        if (!ok) return;
        vm.prank(reg.getNode(id).operator);
        try reg.requestExit(id) {
            exited++;
        } catch {}
        _checkInactive(id);
    }

    function withdraw(uint256 idSeed) external {
        calls++;
        (bytes32 id, bool ok) = _pick(idSeed);
        if (!ok) return;
        ServiceNodeRegistry.Node memory n = reg.getNode(id);
        vm.prank(n.operator);
        try reg.withdraw(id) {
            withdrawn++;
            // forge-lint: disable-next-line(block-timestamp) — the property under test
            if (block.timestamp < n.unlockTime) earlyWithdrawal = true;
        } catch {}
        _checkInactive(id);
    }

    function slash(uint256 idSeed, uint256 amount) external {
        calls++;
        (bytes32 id, bool ok) = _pick(idSeed);
        if (!ok) return;
        amount = _bound(amount, 0, reg.getNode(id).stake);
        vm.prank(governance);
        try reg.slash(id, amount, "fuzz") {
            slashed++;
        } catch {}
        _checkInactive(id);
    }

    function sweep() external {
        calls++;
        vm.prank(governance);
        reg.sweepSlashed(governance);
    }

    function warp(uint256 secs) external {
        calls++;
        vm.warp(block.timestamp + _bound(secs, 0, 3 hours));
    }

    function _checkInactive(bytes32 id) internal {
        ServiceNodeRegistry.Status s = reg.getNode(id).status;
        if (s != ServiceNodeRegistry.Status.Active && reg.isActive(id)) exitedButActive = true;
    }
}
