// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title ServiceNodeRegistry
/// @notice Staked registry of Pars Session service nodes (Sybil resistance, ARCHITECTURE decision 13):
///         only nodes Active here are used as onion hops or swarm members.
/// @dev    Lifecycle: register (stake >= minStake) -> Active; addStake while Active; requestExit ->
///         Exiting (left the active set at once, stake locked until unlockTime = now + unbondingPeriod)
///         -> withdraw -> Withdrawn. Governance (the owner) may slash an Active or Exiting node with a
///         reason: the slashed amount moves to `slashedBalance` (swept by the owner), the node leaves
///         the active set and its remaining stake unbonds like an exit (status Slashed).
///         A node is keyed by nodeId = keccak256(peerId), peerId being the raw libp2p peer-ID bytes
///         (multihash); the Rust side derives its own DHT distances from the peer ID and only uses
///         nodeId as this contract's key. A Withdrawn node's peer ID may register again.
///
///         Key possession: the operator is msg.sender and pays the stake; no node-key signature is
///         checked on chain (the libp2p key is Ed25519, which the EVM cannot verify cheaply, and an
///         ML-DSA proof costs ~21 M gas without the Lux precompile). Nodes check the binding when
///         they connect: Noise authenticates the peer ID, and the node must prove the registered
///         ML-DSA key (mldsaKeyHash = SHA3-256 of its public key) and onion key; entries that cannot
///         are ignored, and squatting a peer ID only locks the squatter's stake until slashed.
///
///         Every state change emits an event carrying what an event-polling reader needs to rebuild
///         the set: NodeRegistered (all fields), NodeUpdated, StakeAdded, ExitRequested, Slashed,
///         Withdrawn.
contract ServiceNodeRegistry {
    enum Status {
        None,
        Active,
        Exiting,
        Withdrawn,
        Slashed
    }

    /// @notice What a node commits to when it registers.
    struct Registration {
        bytes peerId; // libp2p peer ID bytes (1..128)
        bytes32 mldsaKeyHash; // SHA3-256 of the node's ML-DSA-87 public key (its Session ID digest)
        bytes onionKey; // Pars: the node's 32-byte Ed25519 identity key (signs its node record and onion keys)
        string[] multiaddrs; // textual multiaddrs, 1..8 of at most 256 bytes
        string name; // operator's human-readable name, at most 64 bytes
    }

    struct Node {
        address operator;
        Status status;
        uint64 registeredBlock;
        uint64 unlockTime; // when Exiting/Slashed stake becomes withdrawable
        uint256 stake;
        bytes32 mldsaKeyHash;
        bytes peerId;
        bytes onionKey;
        string[] multiaddrs;
        string name;
    }

    /// @notice A node with its key, as returned by the views.
    struct NodeView {
        bytes32 nodeId;
        Node node;
    }

    uint256 public constant MAX_PEER_ID_LENGTH = 128;
    uint256 public constant MAX_ONION_KEY_LENGTH = 128;
    uint256 public constant MAX_MULTIADDRS = 8;
    uint256 public constant MAX_MULTIADDR_LENGTH = 256;
    uint256 public constant MAX_NAME_LENGTH = 64;
    uint256 public constant MAX_PAGE = 100;

    address public owner;
    address public pendingOwner;
    /// @notice Minimum stake (wei of the native token) for a registration.
    uint256 public minStake;
    /// @notice Seconds between an exit request (or a slash) and the withdrawal.
    uint64 public unbondingPeriod;
    /// @notice Sum of all nodes' stakes.
    uint256 public totalStaked;
    /// @notice Slashed funds not yet swept by the owner.
    uint256 public slashedBalance;

    mapping(bytes32 nodeId => Node) private _nodes;
    bytes32[] private _active;
    mapping(bytes32 nodeId => uint256) private _activePos; // index in _active plus one; 0 = absent

    bool private transient _entered;

    event NodeRegistered(
        bytes32 indexed nodeId,
        address indexed operator,
        uint256 stake,
        bytes peerId,
        bytes32 mldsaKeyHash,
        bytes onionKey,
        string[] multiaddrs,
        string name
    );
    event NodeUpdated(bytes32 indexed nodeId, bytes onionKey, string[] multiaddrs);
    event StakeAdded(bytes32 indexed nodeId, uint256 amount, uint256 stake);
    event ExitRequested(bytes32 indexed nodeId, uint64 unlockTime);
    event Withdrawn(bytes32 indexed nodeId, address indexed operator, uint256 amount);
    event Slashed(bytes32 indexed nodeId, uint256 amount, uint256 remainingStake, uint64 unlockTime, string reason);
    event SlashedFundsSwept(address indexed to, uint256 amount);
    event ParametersChanged(uint256 minStake, uint64 unbondingPeriod);
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error NotOwner(address caller);
    error NotPendingOwner(address caller);
    error NotOperator(bytes32 nodeId, address caller);
    error StakeTooLow(uint256 sent, uint256 minimum);
    error AlreadyRegistered(bytes32 nodeId);
    error InvalidPeerId();
    error InvalidKeyHash();
    error InvalidOnionKey();
    error InvalidMultiaddrs();
    error NameTooLong();
    error NotActive(bytes32 nodeId, Status status);
    error NotWithdrawable(bytes32 nodeId, Status status);
    error StillBonded(bytes32 nodeId, uint64 unlockTime);
    error ZeroAmount();
    error SlashTooLarge(uint256 amount, uint256 stake);
    error TransferFailed(address to, uint256 amount);
    error InvalidParameters();
    error Reentrancy();

    modifier nonReentrant() {
        if (_entered) revert Reentrancy();
        _entered = true;
        _;
        _entered = false;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    modifier onlyOperator(bytes32 nodeId) {
        if (msg.sender != _nodes[nodeId].operator) revert NotOperator(nodeId, msg.sender);
        _;
    }

    /// @param owner_           governance: may slash, change parameters, sweep slashed funds
    /// @param minStake_        minimum stake in wei (> 0)
    /// @param unbondingPeriod_ seconds from exit request to withdrawal (> 0, at most 365 days)
    constructor(address owner_, uint256 minStake_, uint64 unbondingPeriod_) {
        owner = owner_;
        emit OwnershipTransferred(address(0), owner_);
        _setParameters(minStake_, unbondingPeriod_);
    }

    // --------------------------------------------------------------------- operators

    /// @notice Registers a node staking msg.value (>= minStake); the caller becomes its operator.
    function register(Registration calldata r) external payable nonReentrant returns (bytes32 nodeId) {
        if (msg.value < minStake) revert StakeTooLow(msg.value, minStake);
        if (r.peerId.length == 0 || r.peerId.length > MAX_PEER_ID_LENGTH) revert InvalidPeerId();
        if (r.mldsaKeyHash == bytes32(0)) revert InvalidKeyHash();
        _checkEndpoints(r.onionKey, r.multiaddrs);
        if (bytes(r.name).length > MAX_NAME_LENGTH) revert NameTooLong();
        nodeId = keccak256(r.peerId);
        Node storage n = _nodes[nodeId];
        if (n.status != Status.None && n.status != Status.Withdrawn) revert AlreadyRegistered(nodeId);

        n.operator = msg.sender;
        n.status = Status.Active;
        n.registeredBlock = uint64(block.number);
        n.unlockTime = 0;
        n.stake = msg.value;
        n.mldsaKeyHash = r.mldsaKeyHash;
        n.peerId = r.peerId;
        n.onionKey = r.onionKey;
        _storeMultiaddrs(n, r.multiaddrs);
        n.name = r.name;
        totalStaked += msg.value;
        _active.push(nodeId);
        _activePos[nodeId] = _active.length;
        emit NodeRegistered(nodeId, msg.sender, msg.value, r.peerId, r.mldsaKeyHash, r.onionKey, r.multiaddrs, r.name);
    }

    /// @notice Replaces an Active node's onion key and multiaddrs (key rotation, new addresses).
    function updateEndpoints(bytes32 nodeId, bytes calldata onionKey, string[] calldata multiaddrs)
        external
        onlyOperator(nodeId)
    {
        Node storage n = _nodes[nodeId];
        if (n.status != Status.Active) revert NotActive(nodeId, n.status);
        _checkEndpoints(onionKey, multiaddrs);
        n.onionKey = onionKey;
        _storeMultiaddrs(n, multiaddrs);
        emit NodeUpdated(nodeId, onionKey, multiaddrs);
    }

    /// @notice Adds msg.value to an Active node's stake.
    function addStake(bytes32 nodeId) external payable nonReentrant onlyOperator(nodeId) {
        Node storage n = _nodes[nodeId];
        if (n.status != Status.Active) revert NotActive(nodeId, n.status);
        if (msg.value == 0) revert ZeroAmount();
        n.stake += msg.value;
        totalStaked += msg.value;
        emit StakeAdded(nodeId, msg.value, n.stake);
    }

    /// @notice Leaves the active set now; the stake can be withdrawn after the unbonding period.
    function requestExit(bytes32 nodeId) external nonReentrant onlyOperator(nodeId) {
        Node storage n = _nodes[nodeId];
        if (n.status != Status.Active) revert NotActive(nodeId, n.status);
        uint64 unlock = uint64(block.timestamp) + unbondingPeriod;
        n.status = Status.Exiting;
        n.unlockTime = unlock;
        _removeActive(nodeId);
        emit ExitRequested(nodeId, unlock);
    }

    /// @notice Pays an Exiting or Slashed node's remaining stake to its operator once unlocked.
    function withdraw(bytes32 nodeId) external nonReentrant onlyOperator(nodeId) {
        Node storage n = _nodes[nodeId];
        if (n.status != Status.Exiting && n.status != Status.Slashed) revert NotWithdrawable(nodeId, n.status);
        // forge-lint: disable-next-line(block-timestamp) — the unbonding period is wall-clock by design
        if (block.timestamp < n.unlockTime) revert StillBonded(nodeId, n.unlockTime);
        uint256 amount = n.stake;
        n.stake = 0;
        n.status = Status.Withdrawn;
        totalStaked -= amount;
        emit Withdrawn(nodeId, msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    // -------------------------------------------------------------------- governance

    /// @notice Slashes `amount` of an Active or Exiting node's stake for `reason`. The node leaves
    ///         the active set; its remaining stake unbonds from now (or keeps a later unlock time).
    function slash(bytes32 nodeId, uint256 amount, string calldata reason) external onlyOwner {
        Node storage n = _nodes[nodeId];
        if (n.status != Status.Active && n.status != Status.Exiting) revert NotActive(nodeId, n.status);
        if (amount > n.stake) revert SlashTooLarge(amount, n.stake);
        if (n.status == Status.Active) _removeActive(nodeId);
        uint64 unlock = uint64(block.timestamp) + unbondingPeriod;
        if (n.unlockTime > unlock) unlock = n.unlockTime;
        n.status = Status.Slashed;
        n.unlockTime = unlock;
        n.stake -= amount;
        totalStaked -= amount;
        slashedBalance += amount;
        emit Slashed(nodeId, amount, n.stake, unlock, reason);
    }

    /// @notice Sends all slashed funds to `to`.
    function sweepSlashed(address to) external onlyOwner nonReentrant {
        uint256 amount = slashedBalance;
        slashedBalance = 0;
        emit SlashedFundsSwept(to, amount);
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }

    /// @notice Changes the minimum stake (for new registrations) and the unbonding period (for
    ///         exits requested from now on).
    function setParameters(uint256 minStake_, uint64 unbondingPeriod_) external onlyOwner {
        _setParameters(minStake_, unbondingPeriod_);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        pendingOwner = newOwner;
        emit OwnershipTransferStarted(owner, newOwner);
    }

    function acceptOwnership() external {
        if (msg.sender != pendingOwner) revert NotPendingOwner(msg.sender);
        emit OwnershipTransferred(owner, msg.sender);
        owner = msg.sender;
        pendingOwner = address(0);
    }

    // ------------------------------------------------------------------------- views

    function nodeIdOf(bytes calldata peerId) external pure returns (bytes32) {
        return keccak256(peerId);
    }

    function getNode(bytes32 nodeId) external view returns (Node memory) {
        return _nodes[nodeId];
    }

    function isActive(bytes32 nodeId) public view returns (bool) {
        return _activePos[nodeId] != 0;
    }

    function activeCount() external view returns (uint256) {
        return _active.length;
    }

    /// @notice Node IDs of the active set from `offset`, at most `limit` (<= MAX_PAGE).
    ///         The order is the storage order, which changes when nodes leave (swap and pop):
    ///         a reader that pages must also follow the events, as the Rust reader does.
    function activeNodeIds(uint256 offset, uint256 limit) external view returns (bytes32[] memory ids) {
        (uint256 start, uint256 end) = _page(offset, limit);
        ids = new bytes32[](end - start);
        for (uint256 i = start; i < end; i++) {
            ids[i - start] = _active[i];
        }
    }

    /// @notice Active nodes with all their fields, from `offset`, at most `limit` (<= MAX_PAGE).
    function activeNodes(uint256 offset, uint256 limit) external view returns (NodeView[] memory page) {
        (uint256 start, uint256 end) = _page(offset, limit);
        page = new NodeView[](end - start);
        for (uint256 i = start; i < end; i++) {
            bytes32 id = _active[i];
            page[i - start] = NodeView(id, _nodes[id]);
        }
    }

    // ---------------------------------------------------------------------- internal

    function _page(uint256 offset, uint256 limit) private view returns (uint256 start, uint256 end) {
        if (limit > MAX_PAGE) limit = MAX_PAGE;
        uint256 n = _active.length;
        start = offset < n ? offset : n;
        end = n - start < limit ? n : start + limit;
    }

    function _removeActive(bytes32 nodeId) private {
        uint256 pos = _activePos[nodeId];
        uint256 last = _active.length;
        if (pos != last) {
            bytes32 moved = _active[last - 1];
            _active[pos - 1] = moved;
            _activePos[moved] = pos;
        }
        _active.pop();
        delete _activePos[nodeId];
    }

    /// @dev string[] calldata -> storage, element by element (the legacy code generator cannot copy
    ///      nested calldata arrays to storage in one assignment).
    function _storeMultiaddrs(Node storage n, string[] calldata multiaddrs) private {
        delete n.multiaddrs;
        for (uint256 i = 0; i < multiaddrs.length; i++) {
            n.multiaddrs.push(multiaddrs[i]);
        }
    }

    function _checkEndpoints(bytes calldata onionKey, string[] calldata multiaddrs) private pure {
        if (onionKey.length == 0 || onionKey.length > MAX_ONION_KEY_LENGTH) revert InvalidOnionKey();
        if (multiaddrs.length == 0 || multiaddrs.length > MAX_MULTIADDRS) revert InvalidMultiaddrs();
        for (uint256 i = 0; i < multiaddrs.length; i++) {
            uint256 len = bytes(multiaddrs[i]).length;
            if (len == 0 || len > MAX_MULTIADDR_LENGTH) revert InvalidMultiaddrs();
        }
    }

    function _setParameters(uint256 minStake_, uint64 unbondingPeriod_) private {
        if (minStake_ == 0 || unbondingPeriod_ == 0 || unbondingPeriod_ > 365 days) revert InvalidParameters();
        minStake = minStake_;
        unbondingPeriod = unbondingPeriod_;
        emit ParametersChanged(minStake_, unbondingPeriod_);
    }
}
