//! Request and response types. JSON field names are camelCase; byte strings are lowercase hex;
//! times are Unix seconds.

use serde::{Deserialize, Serialize};

/// The four public keys of an identity, hex encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeys {
    /// ML-DSA-87 public key (2592 bytes); its SHA3-256 is the Session ID.
    pub mldsa87: String,
    /// ML-KEM-1024 public key (1568 bytes).
    pub mlkem1024: String,
    /// X25519 public key (32 bytes).
    pub x25519: String,
    /// Ed25519 public key (32 bytes).
    pub ed25519: String,
}

/// The local identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityInfo {
    /// The Session ID, 66 hex characters starting with `05`.
    pub session_id: String,
    /// `pars://session/<id>`.
    pub link: String,
    /// The public keys.
    pub public_keys: PublicKeys,
}

/// A backup phrase. Sensitive: whoever reads it owns the identity.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MnemonicInfo {
    /// 24 space-separated BIP39 English words.
    pub mnemonic: String,
}

impl std::fmt::Debug for MnemonicInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MnemonicInfo([redacted])")
    }
}

/// The state of a session with one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SessionState {
    /// We sent a session request; the peer has not answered yet (messages can already be sent).
    Initiated,
    /// Both sides have contributed; the ratchet runs.
    Established,
    /// Closed locally; no further messages are sent or accepted.
    Closed,
}

/// A session (a conversation with one peer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// The session's 32-byte identifier, hex.
    pub id: String,
    /// The peer's Session ID.
    pub peer: String,
    /// Its state.
    pub state: SessionState,
    /// When it was created.
    pub created_at: u64,
    /// When the last message was sent or received.
    pub last_activity: u64,
    /// Received messages not yet marked read.
    pub unread: u64,
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// We sent it.
    Outgoing,
    /// We received it.
    Incoming,
}

/// Delivery state of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum DeliveryState {
    /// In the outbox, not yet stored in the recipient's swarm.
    Queued,
    /// Stored by `copies` members of the recipient's swarm.
    Stored {
        /// How many swarm members acknowledged it.
        copies: u32,
    },
    /// The recipient has read it (read receipt received).
    Read,
    /// Sending failed for good (e.g. the session was closed); the reason is in `error`.
    Failed,
    /// An incoming message.
    Received,
}

/// A message, as the local user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageInfo {
    /// The 16-byte message ID, hex.
    pub id: String,
    /// The session it belongs to.
    pub session: String,
    /// The peer's Session ID.
    pub peer: String,
    /// Outgoing or incoming.
    pub direction: Direction,
    /// The text content (UTF-8; other content types are described in `contentType`).
    pub content: String,
    /// The content type (`text`, `contractAction`, `contractReceipt`, …).
    pub content_type: String,
    /// The raw content bytes, lowercase hex (binary content types such as `contractAction` are
    /// only readable here; `content` is their lossy UTF-8). Empty when talking to a daemon older
    /// than this field.
    #[serde(default)]
    pub content_hex: String,
    /// The sender's coarse timestamp (Unix seconds).
    pub timestamp: u64,
    /// When this node stored the message locally (Unix seconds, precise; never sent).
    pub local_time: u64,
    /// Position in the session, per direction.
    pub sequence: u64,
    /// Delivery state.
    pub delivery: DeliveryState,
    /// Whether the local user has read it (incoming) / the peer has (outgoing).
    pub read: bool,
    /// Why delivery failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a group message, the group's ID (64 hex; `session` is the same and `peer` is the
    /// sender). Absent for messages of a one-to-one session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// For a file message (`contentType` `file`), the file offered: fetch it with
    /// `receiveFile`. `content` then reads `file: <name> (<size> bytes)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileInfo>,
}

/// A file offered in a message (its key stays in the daemon).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileInfo {
    /// The file ID (64 hex): the root of the hash tree over its encrypted chunks.
    pub file_id: String,
    /// The file name the sender gave (one path component).
    pub name: String,
    /// The MIME type the sender gave (may be empty).
    pub mime_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Where a transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TransferState {
    /// Under way (or waiting to retry after a network failure: see `error`).
    Running,
    /// Finished: uploaded and offered to the peer or group, or downloaded to `path`.
    Done,
    /// Stopped by an error that a retry does not change (see `error`). A download that failed
    /// for the local disk keeps its partial file and resumes with `receiveFile`.
    Failed,
    /// Cancelled by the user.
    Cancelled,
}

/// A file transfer (an upload by `sendFile`, a download by `receiveFile`), with its progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferInfo {
    /// The transfer ID (32 hex).
    pub transfer_id: String,
    /// The file ID (64 hex).
    pub file_id: String,
    /// `outgoing` for an upload, `incoming` for a download.
    pub direction: Direction,
    /// The file's name, MIME type and size.
    pub name: String,
    /// The MIME type (may be empty).
    pub mime_type: String,
    /// The file's size in bytes.
    pub size: u64,
    /// The peer's Session ID (to or from), for a file of a one-to-one session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// The group's ID, for a file of a group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The local file: read (upload) or written (download; `<path>.part` until done).
    pub path: String,
    /// Where it stands.
    pub state: TransferState,
    /// Bytes of the file stored in (upload) or fetched from (download) the network so far.
    pub bytes_done: u64,
    /// The bytes to move: the file's size.
    pub total: u64,
    /// Chunks done and chunks in all (index chunks included).
    pub chunks_done: u64,
    /// Chunks in all.
    pub chunks_total: u64,
    /// The recent rate, bytes per second (0 when not moving).
    pub rate: f64,
    /// Why it failed, or the last network error it is retrying after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a failed transfer, the kind of its failure: one of the stable error-kind names
    /// (`storage`, `bad-input`, `verification`, `not-found`, `rejected`, `internal`, …), the
    /// same that JSON errors carry and that decide `parsctl`'s exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// When it began and when it last changed (Unix seconds).
    pub created_at: u64,
    /// When it last changed (Unix seconds).
    pub updated_at: u64,
}

/// The result of `sendFile`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendFileResult {
    /// The file ID (64 hex).
    pub file_id: String,
    /// The transfer ID (32 hex), for `getTransfers`, `cancelTransfer` and the progress
    /// subscription.
    pub transfer_id: String,
}

/// Where the local user stands in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GroupState {
    /// A member.
    Active,
    /// Left it.
    Left,
    /// Removed by an admin.
    Removed,
}

/// A group, as the local user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupInfo {
    /// The group ID (64 hex).
    pub group_id: String,
    /// Its name.
    pub name: String,
    /// Its members' Session IDs (empty once the local user is out).
    pub members: Vec<String>,
    /// Its admins' Session IDs.
    pub admins: Vec<String>,
    /// Asked to join, not added yet (their daemon has not answered).
    pub invited: Vec<String>,
    /// Where the local user stands.
    pub state: GroupState,
    /// Whether the local user is an admin.
    pub admin: bool,
    /// The MLS epoch (one more per change).
    pub epoch: u64,
    /// Created or joined (Unix seconds).
    pub created_at: u64,
    /// Last message or change (Unix seconds).
    pub last_activity: u64,
    /// Unread incoming messages.
    pub unread: u64,
    /// Since when (Unix seconds) the group's mailbox has held changes the local user cannot
    /// reach: ten minutes on, they are told to ask an admin to remove and add them again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behind_since: Option<u64>,
}

/// An invitation to a group, waiting to be accepted with `joinGroup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupInviteInfo {
    /// The invitation's ID (32 hex), for `joinGroup`.
    pub invite: String,
    /// The group ID.
    pub group_id: String,
    /// The group's name.
    pub name: String,
    /// Who invited (an admin).
    pub from: String,
    /// The group's admins.
    pub admins: Vec<String>,
}

/// The result of `sendMessage` and `sendContent`: the message is durably in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendResult {
    /// The message ID.
    pub id: String,
    /// Its delivery state right now.
    pub delivery: DeliveryState,
}

/// Daemon status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonStatus {
    /// Software version.
    pub version: String,
    /// `mainnet`, `testnet`, `devnet` or `local`.
    pub network: String,
    /// The local Session ID, if an identity exists.
    pub session_id: Option<String>,
    /// Whether this node is also a service node.
    pub service_node: bool,
    /// The libp2p peer ID of this node.
    pub peer_id: String,
    /// Addresses it listens on.
    pub listen_addrs: Vec<String>,
    /// Connected peers.
    pub connected_peers: u32,
    /// Known service nodes in the registry set.
    pub known_service_nodes: u32,
    /// Messages in the outbox not yet stored in a swarm.
    pub outbox_pending: u64,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// The on-chain service-node registry's health; absent with a static `--node-set`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryStatus>,
    /// The onion client's path health; absent on a service node and before the client runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<PathStatus>,
}

/// The onion client's path health, as `getStatus` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathStatus {
    /// Whether paths are failing now (a node avoided, a recent attempt failed, or the guard
    /// failing); requests are then retried around the failing nodes.
    pub degraded: bool,
    /// Peer IDs of the service nodes avoided now because paths through them failed.
    pub failing_nodes: Vec<String>,
    /// Attempts that failed in the last minute.
    pub recent_failures: u32,
    /// Attempts in the last minute.
    pub recent_attempts: u32,
    /// The guard's peer ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<String>,
    /// The guard's consecutive failures.
    pub guard_failures: u32,
    /// Age of the directory fetched from the guard, in seconds (absent: none held).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_age_secs: Option<u64>,
    /// Service nodes with usable onion keys in that directory.
    pub directory_nodes: u32,
    /// How long a new request's first attempt waits for its reply, in milliseconds.
    pub attempt_timeout_ms: u64,
}

/// Where the daemon's view of the on-chain service-node registry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RegistryState {
    /// No read has succeeded yet (the set served, if any, is the cached one).
    Starting,
    /// Following the chain, more than one log range behind.
    CatchingUp,
    /// Up to date with the chain's confirmed head.
    Synced,
    /// The RPC is unreachable or wrong: the last known set is served while retrying.
    Unreachable,
}

/// The registry reader's health, as `getStatus` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryStatus {
    /// The reader's state.
    pub state: RegistryState,
    /// The chain the registry is read from.
    pub chain_id: u64,
    /// The `ServiceNodeRegistry` contract address (0x-hex).
    pub registry: String,
    /// The last (confirmed) block the served set reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_block: Option<u64>,
    /// The chain head at the last successful read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<u64>,
    /// Service nodes in the served set.
    pub members: u32,
    /// The served set is the cached one, not yet confirmed by the chain since the start.
    pub from_cache: bool,
    /// The most recent error, while [`RegistryState::Unreachable`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A connected or known peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerInfo {
    /// libp2p peer ID.
    pub peer_id: String,
    /// Known addresses.
    pub addresses: Vec<String>,
    /// Whether it is a registered service node.
    pub service_node: bool,
    /// Whether a connection is open now.
    pub connected: bool,
    /// The operator name from its registration, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

/// The parameters of `triggerAction`: a contract call for a bridge to execute through
/// `SessionTrigger`, signed with the identity's ML-DSA-87 key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerRequest {
    /// The bridge: its Session ID (or link), or the 64-hex ID of an existing session with it.
    pub bridge: String,
    /// The contract (or account) to call, `0x` and 40 hex digits.
    pub target: String,
    /// The calldata, hex (an optional `0x` prefix; empty for a plain value transfer).
    #[serde(default)]
    pub calldata: String,
    /// Wei to forward, a decimal string (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The deadline: seconds from now when below 1,000,000,000, else absolute Unix seconds
    /// (default 600 seconds from now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<u64>,
    /// The chain ID (default: the daemon's deployment addresses file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_id: Option<u64>,
    /// The SessionTrigger address (default: the daemon's deployment addresses file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// Sign for a key registered on chain with `SessionTrigger.registerKey` instead of sending
    /// the public key inline (default false: inline).
    #[serde(default)]
    pub registered_key: bool,
    /// How long to wait for the bridge's receipt, seconds (default 120, at most 3600; 0 returns
    /// as soon as the action is queued).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

/// The result of `triggerAction`: the signed action and, once the bridge answered, its receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerResult {
    /// The request ID (16 bytes, hex) the bridge's receipt carries back.
    pub request_id: String,
    /// The ID of the ContractAction message in the session with the bridge.
    pub message_id: String,
    /// The bridge's Session ID.
    pub bridge: String,
    /// The action's nonce (random, per action).
    pub nonce: u64,
    /// The action's deadline (Unix seconds).
    pub deadline: u64,
    /// The chain ID the action is for.
    pub chain_id: u64,
    /// The SessionTrigger it is for.
    pub trigger: String,
    /// `queued` (no receipt yet: `timeoutSecs` was 0), `submitted`, `confirmed`, `reverted` or
    /// `refused`.
    pub status: String,
    /// The receipt's stable reason code (0 when confirmed; see docs/protocol.md).
    pub reason_code: u16,
    /// The reason in words (empty when confirmed).
    pub reason: String,
    /// The transaction hash, when there is a transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<String>,
    /// The block it was included in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<u64>,
    /// Gas it used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gas_used: Option<u64>,
}
