//! The method trait. jsonrpsee generates `SessionApiServer` (implemented by `sessiond`) and
//! `SessionApiClient` (an extension trait on its HTTP and WebSocket clients).

use crate::types::{
    DaemonStatus, GroupInfo, SendFileResult, TransferInfo, GroupInviteInfo, IdentityInfo, MessageInfo, MnemonicInfo, PeerInfo,
    SendResult, SessionInfo, TriggerRequest, TriggerResult,
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

    /// Messages of one session or group (its ID), or of all of them when `session` is null,
    /// since `since` (Unix seconds, local time), oldest first, at most `limit` (default 1000).
    /// Group messages carry `group`, and `peer` is their sender.
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

    /// Creates a group named `name` with the local user as its admin, and invites `members`
    /// (Session IDs): a session is opened with each (fetching its bundle if needed) and its
    /// daemon is asked for a key package; each is added when its answer arrives and then gets
    /// an invitation to accept with `joinGroup`.
    #[method(name = "createGroup")]
    async fn create_group(&self, name: String, members: Vec<String>) -> RpcResult<GroupInfo>;

    /// The invitations waiting to be accepted.
    #[method(name = "getGroupInvites")]
    async fn get_group_invites(&self) -> RpcResult<Vec<GroupInviteInfo>>;

    /// Accepts an invitation (its ID from `getGroupInvites`, or the group ID): joins the group
    /// from its Welcome, fetched from the network. Waits up to 30 s for the join; fails with
    /// `Timeout` when the Welcome is not there yet (the join goes on in the background).
    #[method(name = "joinGroup")]
    async fn join_group(&self, invite: String) -> RpcResult<GroupInfo>;

    /// Leaves a group: the admins remove the local user; nothing of it is sent or shown any
    /// more. The last admin hands the role to another member first.
    #[method(name = "leaveGroup")]
    async fn leave_group(&self, group: String) -> RpcResult<()>;

    /// Invites more members (admins only), as `createGroup` does.
    #[method(name = "addGroupMembers")]
    async fn add_group_members(&self, group: String, members: Vec<String>) -> RpcResult<GroupInfo>;

    /// Removes members (admins only): a commit to a new epoch whose keys they cannot derive.
    #[method(name = "removeGroupMembers")]
    async fn remove_group_members(
        &self,
        group: String,
        members: Vec<String>,
    ) -> RpcResult<GroupInfo>;

    /// Makes members admins (admins only): they may add, remove and rename, and get the
    /// group's owner key.
    #[method(name = "addGroupAdmins")]
    async fn add_group_admins(&self, group: String, members: Vec<String>) -> RpcResult<GroupInfo>;

    /// Renames a group (admins only).
    #[method(name = "renameGroup")]
    async fn rename_group(&self, group: String, name: String) -> RpcResult<GroupInfo>;

    /// Every group.
    #[method(name = "getGroups")]
    async fn get_groups(&self) -> RpcResult<Vec<GroupInfo>>;

    /// Queues a text for a group: one store in the group's mailbox whatever its size.
    #[method(name = "sendGroupMessage")]
    async fn send_group_message(&self, group: String, content: String) -> RpcResult<SendResult>;

    /// Sends the file at `path` (an absolute path on the daemon's machine) to `to`: a Session ID
    /// (an open session) or a group ID (a group the user is an active member of; the file is
    /// uploaded once for all members). The file is read once to seal its chunks and compute its
    /// ID (this call returns then), then uploaded in the background; when every chunk is
    /// stored, a file message offers it. Fails with `InvalidInput` for a missing or unreadable
    /// file, an empty one, or one above the daemon's size limit (`files.max_size`, 2 GiB by
    /// default).
    #[method(name = "sendFile")]
    async fn send_file(&self, to: String, path: String) -> RpcResult<SendFileResult>;

    /// Downloads file `file_id` (offered in a message) to `path` (absolute; written as
    /// `<path>.part` and renamed when complete and verified). Returns at once with the
    /// transfer; calling it again for a failed or interrupted download to the same path resumes
    /// it. Fails with `InvalidInput` when no message offered that file or `path` exists.
    #[method(name = "receiveFile")]
    async fn receive_file(&self, file_id: String, path: String) -> RpcResult<TransferInfo>;

    /// Every transfer, newest first.
    #[method(name = "getTransfers")]
    async fn get_transfers(&self) -> RpcResult<Vec<TransferInfo>>;

    /// Stops a running transfer (by transfer ID). A download's partial file is deleted; an
    /// upload's stored chunks expire with their TTL.
    #[method(name = "cancelTransfer")]
    async fn cancel_transfer(&self, transfer_id: String) -> RpcResult<TransferInfo>;

    /// A stream of transfer progress (WebSocket only): an item on every change of state and
    /// about every 250 ms while a transfer moves.
    #[subscription(name = "subscribeTransfers" => "transfer", unsubscribe = "unsubscribeTransfers", item = TransferInfo)]
    async fn subscribe_transfers(&self) -> SubscriptionResult;

    /// A stream of every message received from now on (WebSocket only).
    #[subscription(name = "subscribeMessages" => "message", unsubscribe = "unsubscribeMessages", item = MessageInfo)]
    async fn subscribe_messages(&self) -> SubscriptionResult;
}
