// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CheatBase} from "../test/utils/Vm.sol";
import {MLDSA87Verifier} from "../src/verifiers/MLDSA87Verifier.sol";
import {LuxMLDSAPrecompile} from "../src/verifiers/LuxMLDSAPrecompile.sol";
import {SessionTrigger} from "../src/SessionTrigger.sol";
import {SessionGuestbook} from "../src/examples/SessionGuestbook.sol";
import {ServiceNodeRegistry} from "../src/ServiceNodeRegistry.sol";

/// @notice Deploys the Pars Session contracts and writes their addresses to a JSON file.
/// @dev Run against a node, e.g. a local anvil:
///        .tools/bin/anvil --hardfork prague --disable-block-gas-limit --port 8545 &
///        .tools/bin/forge script contracts/script/Deploy.s.sol --rpc-url http://127.0.0.1:8545 --broadcast
///      Environment (all optional):
///        DEPLOYER_PRIVATE_KEY  default: anvil's first account
///        VERIFIER_MODE         "etch" (default): put MLDSA87Verifier's runtime code at the Lux precompile
///                              address with anvil_setCode (local anvil only);
///                              "precompile": the chain has the Lux precompile, use it as is;
///                              "contract": point the adapter at the MLDSA87Verifier deployed here.
///        REGISTRY_OWNER        default: the deployer
///        REGISTRY_MIN_STAKE    wei, default 1 ether
///        REGISTRY_UNBONDING    seconds, default 3600
///        RPC_URL               if set, written to the JSON as rpcUrl
///        ADDRESSES_FILE        default .devnet/addresses.json (must be under .devnet/, see foundry.toml)
///      On a fresh anvil with the default key the deployer's nonces 0..4 give fixed addresses
///      (SessionTrigger 0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0, SessionGuestbook
///      0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9), which the signed test actions name.
contract Deploy is CheatBase {
    address internal constant PRECOMPILE = 0x0000000000000000000000000000000000012202;
    uint256 internal constant ANVIL_KEY_0 = 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80;

    struct Deployment {
        address mldsaVerifierContract;
        address mldsaVerifier;
        address verifierAdapter;
        address sessionTrigger;
        address sessionGuestbook;
        address serviceNodeRegistry;
        uint256 deployBlock;
    }

    error UnknownVerifierMode(string mode);

    function run() external returns (Deployment memory d) {
        uint256 key = vm.envOr("DEPLOYER_PRIVATE_KEY", ANVIL_KEY_0);
        address deployer = vm.addr(key);
        string memory mode = vm.envOr("VERIFIER_MODE", string("etch"));
        bool etch = _eq(mode, "etch");
        bool useContract = _eq(mode, "contract");
        if (!etch && !useContract && !_eq(mode, "precompile")) revert UnknownVerifierMode(mode);

        d.deployBlock = block.number;
        vm.startBroadcast(key);
        d.mldsaVerifierContract = address(new MLDSA87Verifier()); // nonce 0
        d.mldsaVerifier = useContract ? d.mldsaVerifierContract : PRECOMPILE;
        d.verifierAdapter = address(new LuxMLDSAPrecompile(d.mldsaVerifier)); // nonce 1
        d.sessionTrigger = address(new SessionTrigger(LuxMLDSAPrecompile(d.verifierAdapter))); // nonce 2
        d.sessionGuestbook = address(new SessionGuestbook(d.sessionTrigger)); // nonce 3
        d.serviceNodeRegistry = address(
            new ServiceNodeRegistry(
                vm.envOr("REGISTRY_OWNER", deployer),
                vm.envOr("REGISTRY_MIN_STAKE", uint256(1 ether)),
                uint64(vm.envOr("REGISTRY_UNBONDING", uint256(3600)))
            )
        ); // nonce 4
        vm.stopBroadcast();

        if (etch) {
            bytes memory code = type(MLDSA87Verifier).runtimeCode;
            // on the node itself (not a transaction) ...
            vm.rpc("anvil_setCode", string.concat('["', vm.toString(PRECOMPILE), '","', vm.toString(code), '"]'));
            // ... and in this script's local copy of the chain
            vm.etch(PRECOMPILE, code);
        }
        _write(d);
    }

    function _write(Deployment memory d) internal {
        string memory o = "addresses";
        vm.serializeUint(o, "chainId", block.chainid);
        string memory rpcUrl = vm.envOr("RPC_URL", string(""));
        if (bytes(rpcUrl).length != 0) vm.serializeString(o, "rpcUrl", rpcUrl);
        vm.serializeAddress(o, "sessionTrigger", d.sessionTrigger);
        vm.serializeAddress(o, "verifierAdapter", d.verifierAdapter);
        vm.serializeAddress(o, "mldsaVerifier", d.mldsaVerifier);
        vm.serializeAddress(o, "mldsaVerifierContract", d.mldsaVerifierContract);
        vm.serializeAddress(o, "serviceNodeRegistry", d.serviceNodeRegistry);
        vm.serializeUint(o, "deployBlock", d.deployBlock);
        string memory json = vm.serializeAddress(o, "sessionGuestbook", d.sessionGuestbook);
        string memory path = vm.envOr("ADDRESSES_FILE", string(".devnet/addresses.json"));
        vm.createDir(".devnet", true);
        vm.writeFile(path, json);
    }

    function _eq(string memory a, string memory b) internal pure returns (bool) {
        return keccak256(bytes(a)) == keccak256(bytes(b));
    }
}
