// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IMLDSAVerifier} from "./interfaces/IMLDSAVerifier.sol";
import {SHA3} from "./libraries/SHA3.sol";

/// @title SessionTrigger
/// @notice Executes EVM calls authorised by a Pars Session identity's ML-DSA-87 signature.
/// @dev    A Session ID is 0x05 || SHA3-256(pk) (pk = the 2592-byte ML-DSA-87 public key); on chain
///         the 32-byte digest SHA3-256(pk) stands for it ("session ID digest", `sessionId` below).
///
///         The signed message is an Action (docs/contracts.md gives the exact bytes):
///           abi.encode(uint8 version = 1, uint256 chainId, address trigger, bytes32 sessionId,
///                      uint64 nonce, uint64 deadline, address target, uint256 value, bytes data)
///         signed as pure ML-DSA-87 with the context "lux-evm-precompile-mldsa-v1" (the precompile's).
///         The contract checks every field, that the key hashes to `sessionId`, the signature (through
///         the verifier adapter chosen at deployment), marks (sessionId, nonce) used, and then calls
///         `target` with `value` and calldata `data || sessionId` (ERC-2771 style: the target reads
///         the authorising session ID digest from the last 32 bytes when msg.sender is this contract).
///
///         Nonces are a used-set per session ID, not a sequence: any unused 64-bit nonce is accepted
///         once, so relayers may submit actions in any order; the deadline bounds how long a signed
///         action stays valid.
///
///         Validation failures revert with a custom error and change nothing. Once the signature is
///         accepted the nonce is consumed; if the target call then fails, SessionActionFailed is
///         emitted and the value is refunded to the sender (the call does not revert), unless the
///         target ran out of the gas the sender supplied (then InsufficientGas reverts, so a relayer
///         cannot burn an action by sending too little gas).
contract SessionTrigger {
    /// @notice Version byte of the Action encoding this contract accepts.
    uint8 public constant ACTION_VERSION = 1;
    uint256 public constant PUBLIC_KEY_LENGTH = 2592;
    /// @dev head (9 words) + data length word
    uint256 private constant ACTION_HEAD = 320;

    /// @notice A decoded Action.
    struct Action {
        uint8 version;
        uint256 chainId;
        address trigger;
        bytes32 sessionId;
        uint64 nonce;
        uint64 deadline;
        address target;
        uint256 value;
        bytes data;
    }

    /// @notice The ML-DSA-87 verifier adapter (fixed at deployment).
    IMLDSAVerifier public immutable verifier;

    /// @notice Session ID digest => contract whose code (after one 0x00 byte) is the registered key.
    mapping(bytes32 sessionId => address) public keyStore;
    /// @notice Session ID digest => nonce => used.
    mapping(bytes32 sessionId => mapping(uint64 nonce => bool)) public nonceUsed;

    bool private transient _entered;

    event KeyRegistered(bytes32 indexed sessionId, address keyStore);
    event SessionActionExecuted(
        bytes32 indexed sessionId,
        uint64 indexed nonce,
        address indexed target,
        uint256 value,
        bytes32 actionHash,
        address relayer
    );
    event SessionActionFailed(
        bytes32 indexed sessionId,
        uint64 indexed nonce,
        address indexed target,
        uint256 value,
        bytes32 actionHash,
        address relayer,
        bytes reason
    );

    error MalformedAction();
    error UnsupportedVersion(uint256 version);
    error WrongChain(uint256 expected, uint256 actual);
    error WrongTrigger(address expected, address actual);
    error Expired(uint64 deadline, uint256 timestamp);
    error ValueMismatch(uint256 expected, uint256 sent);
    error InvalidTarget(address target);
    error NonceUsed(bytes32 sessionId, uint64 nonce);
    error InvalidPublicKeyLength(uint256 length);
    error KeyMismatch(bytes32 sessionId, bytes32 keyDigest);
    error KeyNotRegistered(bytes32 sessionId);
    error KeyStoreFailed(bytes32 sessionId);
    error InvalidSignature(bytes32 sessionId, uint64 nonce);
    error InsufficientGas();
    error RefundFailed(address to, uint256 value);
    error Reentrancy();

    modifier nonReentrant() {
        if (_entered) revert Reentrancy();
        _entered = true;
        _;
        _entered = false;
    }

    constructor(IMLDSAVerifier verifier_) {
        verifier = verifier_;
    }

    // ------------------------------------------------------------------------------- keys

    /// @notice Stores `publicKey` once so later actions need not resend its 2592 bytes
    ///         (executeRegistered). Idempotent: registering a known key changes nothing.
    /// @return sessionId SHA3-256(publicKey)
    function registerKey(bytes calldata publicKey) external returns (bytes32 sessionId) {
        if (publicKey.length != PUBLIC_KEY_LENGTH) revert InvalidPublicKeyLength(publicKey.length);
        sessionId = SHA3.sha3_256(publicKey);
        if (keyStore[sessionId] != address(0)) return sessionId;
        // Init code: PUSH2 len+1, DUP1, PUSH1 10, RETURNDATASIZE, CODECOPY, RETURNDATASIZE, RETURN,
        // then the runtime code 0x00 (STOP, so the account can never execute) || publicKey.
        // forge-lint: disable-next-line(unsafe-typecast) — 2593 fits in 16 bits
        bytes memory init = abi.encodePacked(hex"61", uint16(PUBLIC_KEY_LENGTH + 1), hex"80600a3d393df300", publicKey);
        address store;
        assembly {
            store := create2(0, add(init, 32), mload(init), sessionId)
        }
        if (store == address(0)) revert KeyStoreFailed(sessionId);
        keyStore[sessionId] = store;
        emit KeyRegistered(sessionId, store);
    }

    /// @notice The registered public key of `sessionId` (empty if none).
    function publicKeyOf(bytes32 sessionId) public view returns (bytes memory publicKey) {
        address store = keyStore[sessionId];
        if (store == address(0)) return publicKey;
        publicKey = new bytes(PUBLIC_KEY_LENGTH);
        assembly {
            extcodecopy(store, add(publicKey, 32), 1, 2592)
        }
    }

    /// @notice SHA3-256 (FIPS 202) of a public key: its session ID digest.
    function sessionIdOf(bytes calldata publicKey) external pure returns (bytes32) {
        return SHA3.sha3_256(publicKey);
    }

    // --------------------------------------------------------------------------- actions

    /// @notice Executes a signed Action, the signer's public key given in full.
    /// @param sessionMessage the Action bytes (see the contract notes)
    /// @param mldsaSignature the 4627-byte ML-DSA-87 signature of sessionMessage (Lux context)
    /// @param mldsaPublicKey the signer's 2592-byte public key; SHA3-256 of it must equal
    ///                       the action's sessionId
    /// @return success whether the target call succeeded
    /// @return result  the target's return data (or revert data)
    function executeFromSession(
        bytes calldata sessionMessage,
        bytes calldata mldsaSignature,
        bytes calldata mldsaPublicKey
    ) external payable nonReentrant returns (bool success, bytes memory result) {
        Action memory a = _checkAction(sessionMessage);
        if (mldsaPublicKey.length != PUBLIC_KEY_LENGTH) revert InvalidPublicKeyLength(mldsaPublicKey.length);
        bytes32 digest = SHA3.sha3_256(mldsaPublicKey);
        if (digest != a.sessionId) revert KeyMismatch(a.sessionId, digest);
        if (!verifier.verify(mldsaPublicKey, sessionMessage, mldsaSignature)) {
            revert InvalidSignature(a.sessionId, a.nonce);
        }
        return _run(a, keccak256(sessionMessage));
    }

    /// @notice Executes a signed Action whose signer registered the public key with registerKey.
    function executeRegistered(bytes calldata sessionMessage, bytes calldata mldsaSignature)
        external
        payable
        nonReentrant
        returns (bool success, bytes memory result)
    {
        Action memory a = _checkAction(sessionMessage);
        bytes memory publicKey = publicKeyOf(a.sessionId);
        if (publicKey.length == 0) revert KeyNotRegistered(a.sessionId);
        if (!verifier.verify(publicKey, sessionMessage, mldsaSignature)) {
            revert InvalidSignature(a.sessionId, a.nonce);
        }
        return _run(a, keccak256(sessionMessage));
    }

    /// @notice Decodes Action bytes (strictly: exact length, canonical offsets, in-range fields).
    function decodeAction(bytes calldata sessionMessage) public pure returns (Action memory a) {
        bytes calldata m = sessionMessage;
        if (m.length < ACTION_HEAD) revert MalformedAction();
        uint256 version = _word(m, 0);
        uint256 trigger = _word(m, 2);
        uint256 nonce = _word(m, 4);
        uint256 deadline = _word(m, 5);
        uint256 target = _word(m, 6);
        if (version > type(uint8).max || trigger > type(uint160).max || nonce > type(uint64).max) {
            revert MalformedAction();
        }
        if (deadline > type(uint64).max || target > type(uint160).max) revert MalformedAction();
        uint256 len = _word(m, 9);
        if (_word(m, 8) != 288 || len > m.length || m.length != ACTION_HEAD + ((len + 31) & ~uint256(31))) {
            revert MalformedAction();
        }
        // forge-lint: disable-start(unsafe-typecast) — every field was range-checked above
        a.version = uint8(version);
        a.chainId = _word(m, 1);
        a.trigger = address(uint160(trigger));
        a.sessionId = bytes32(_word(m, 3));
        a.nonce = uint64(nonce);
        a.deadline = uint64(deadline);
        a.target = address(uint160(target));
        // forge-lint: disable-end(unsafe-typecast)
        a.value = _word(m, 7);
        a.data = m[ACTION_HEAD:ACTION_HEAD + len];
    }

    /// @notice The Action bytes to sign (the same encoding decodeAction reads).
    function encodeAction(Action calldata a) external pure returns (bytes memory) {
        return abi.encode(a.version, a.chainId, a.trigger, a.sessionId, a.nonce, a.deadline, a.target, a.value, a.data);
    }

    function _word(bytes calldata m, uint256 i) private pure returns (uint256 w) {
        w = uint256(bytes32(m[i * 32:i * 32 + 32]));
    }

    function _checkAction(bytes calldata sessionMessage) private view returns (Action memory a) {
        a = decodeAction(sessionMessage);
        if (a.version != ACTION_VERSION) revert UnsupportedVersion(a.version);
        if (a.chainId != block.chainid) revert WrongChain(a.chainId, block.chainid);
        if (a.trigger != address(this)) revert WrongTrigger(address(this), a.trigger);
        // forge-lint: disable-next-line(block-timestamp) — deadlines are wall-clock by design
        if (block.timestamp > a.deadline) revert Expired(a.deadline, block.timestamp);
        if (msg.value != a.value) revert ValueMismatch(a.value, msg.value);
        if (a.target == address(this)) revert InvalidTarget(a.target);
        if (nonceUsed[a.sessionId][a.nonce]) revert NonceUsed(a.sessionId, a.nonce);
    }

    /// @dev Effects before the interaction: the nonce is consumed before the call.
    function _run(Action memory a, bytes32 actionHash) private returns (bool success, bytes memory result) {
        nonceUsed[a.sessionId][a.nonce] = true;
        uint256 gasBefore = gasleft();
        (success, result) = a.target.call{value: a.value}(abi.encodePacked(a.data, a.sessionId));
        if (success) {
            emit SessionActionExecuted(a.sessionId, a.nonce, a.target, a.value, actionHash, msg.sender);
            return (success, result);
        }
        // The callee gets at most 63/64 of the gas left; if the failed call left at most 1/64,
        // it ran out of gas because the sender supplied too little: undo everything instead of
        // burning the signed action.
        if (gasleft() <= gasBefore / 64) revert InsufficientGas();
        emit SessionActionFailed(a.sessionId, a.nonce, a.target, a.value, actionHash, msg.sender, result);
        if (a.value != 0) {
            (bool refunded,) = msg.sender.call{value: a.value}("");
            if (!refunded) revert RefundFailed(msg.sender, a.value);
        }
    }
}
