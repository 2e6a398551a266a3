//! The method trait. jsonrpsee generates `SessionApiServer` (implemented by `sessiond`) and
//! `SessionApiClient` (an extension trait on its HTTP and WebSocket clients).

use crate::types::{
    DaemonStatus, IdentityInfo, MessageInfo, MnemonicInfo, PeerInfo, SendResult, SessionInfo,
    TriggerRequest, TriggerResult,
};
use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::types::ErrorObjectOwned;

/// Result of every method.
pub type RpcResult<T> = Result<T, ErrorObjectOwned>;

/// The Pars Session daemon API (the specification's `DaemonInterface`, identity, sessions,
/// messages and status).
#[rpc(server, client)]
pub trait SessionApi {
    /// Creates a new identity (fails with `IdentityExists` if there is one).
    #[method(name = "createIdentity")]
    async fn create_identity(&self) -> RpcResult<IdentityInfo>;

    /// The local identity (fails with `NoIdentity` if there is none).
    #[method(name = "getIdentity")]
    async fn get_identity(&self) -> RpcResult<IdentityInfo>;

    /// Restores an identity from its 24-word mnemonic (fails with `IdentityExists` if a
    /// different identity is present).
    #[method(name = "restoreIdentity")]
    async fn restore_identity(&self, mnemonic: String) -> RpcResult<IdentityInfo>;

    /// The 24-word backup phrase of the local identity.
    #[method(name = "exportMnemonic")]
    async fn export_mnemonic(&self) -> RpcResult<MnemonicInfo>;

    /// Opens (or returns the existing) session with `recipient`, a Session ID or
    /// `pars://session/…` link, fetching its identity bundle from the network.
    #[method(name = "createSession")]
    async fn create_session(&self, recipient: String) -> RpcResult<SessionInfo>;

    /// All sessions.
    #[method(name = "getSessions")]
    async fn get_sessions(&self) -> RpcResult<Vec<SessionInfo>>;

    /// Closes a session (by session ID or the peer's Session ID).
    #[method(name = "closeSession")]
    async fn close_session(&self, session: String) -> RpcResult<()>;

    /// Queues a text message; it is durably in the outbox when this returns.
    #[method(name = "sendMessage")]
    async fn send_message(&self, session: String, content: String) -> RpcResult<SendResult>;

    /// Queues a message of content type `content_type` (`text`, `contractAction` or
    /// `contractReceipt`) with the raw content `content_hex` (hex, an optional `0x` prefix);
    /// it is durably in the outbox when this returns. Unknown content types, malformed hex and
    /// empty or oversized content fail with `InvalidInput`, as in `sendMessage`.
    #[method(name = "sendContent")]
    async fn send_content(
        &self,
        session: String,
        content_type: String,
        content_hex: String,
    ) -> RpcResult<SendResult>;

    /// Messages of one session (or all sessions when `session` is null) since `since` (Unix
    /// seconds, local time), oldest first, at most `limit` (default 1000).
    #[method(name = "getMessages")]
    async fn get_messages(
        &self,
        session: Option<String>,
        since: Option<u64>,
        limit: Option<u32>,
    ) -> RpcResult<Vec<MessageInfo>>;

    /// Marks an incoming message (and all before it in its session) as read and sends a read
    /// receipt.
    #[method(name = "markRead")]
    async fn mark_read(&self, session: String, message_id: String) -> RpcResult<()>;

    /// Daemon status.
    #[method(name = "getStatus")]
    async fn get_status(&self) -> RpcResult<DaemonStatus>;

    /// Connected and known peers.
    #[method(name = "getPeers")]
    async fn get_peers(&self) -> RpcResult<Vec<PeerInfo>>;

    /// Builds a SessionTrigger action from `request`, signs it with the identity's ML-DSA-87
    /// key under `lux-evm-precompile-mldsa-v1`, opens the session with the bridge if needed,
    /// queues the ContractAction message (onion-routed, in order, like any message) and waits up
    /// to `timeoutSecs` for the bridge's final receipt (`confirmed`, `reverted` or `refused`).
    /// Fails with `InvalidInput` for bad parameters (or no chain ID / trigger known),
    /// `RecipientNotFound` when the bridge's bundle cannot be fetched, and `Timeout` when no
    /// receipt came in time: the action stays queued or in flight, and a later receipt is
    /// recorded in the session like any message.
    #[method(name = "triggerAction")]
    async fn trigger_action(&self, request: TriggerRequest) -> RpcResult<TriggerResult>;

    /// A stream of every message received from now on (WebSocket only).
    #[subscription(name = "subscribeMessages" => "message", unsubscribe = "unsubscribeMessages", item = MessageInfo)]
    async fn subscribe_messages(&self) -> SubscriptionResult;
}
