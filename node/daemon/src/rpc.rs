//! The JSON-RPC API (`pars_rpc::SessionApiServer`) over the client engine.
//!
//! The daemon works offline: `sendMessage` queues durably whether or not the network is
//! reachable, and `createSession` needs the network only when the recipient's identity bundle
//! is not cached yet. Every handler is a thin client of the daemon core ([`Core`]); what needs
//! the network goes through the one seam ([`NetSlot`]). No handler calls another.

use crate::app::{Core, Event};
use crate::engine::SessionSummary;
use crate::file_ops::{self, transfer_info};
use crate::group_ops;
use crate::net::NetSlot;
use crate::ops::delivery;
pub use crate::ops::message_info;
use crate::ops::{self, rpc_error};
use crate::transfers::Transfers;
use jsonrpsee::PendingSubscriptionSink;
use jsonrpsee::core::{SubscriptionResult, async_trait};
use jsonrpsee::types::ErrorObjectOwned;
use pars_crypto::SessionId;
use pars_crypto::identity::IdentityKeys;
use pars_rpc::api::RpcResult;
use pars_rpc::types::{
    DaemonStatus, GroupInfo, GroupInviteInfo, IdentityInfo, MessageInfo, MnemonicInfo, PeerInfo,
    PublicKeys, SendFileResult, SendResult, SessionInfo, SessionState, TransferInfo,
    TriggerRequest, TriggerResult,
};
use pars_rpc::{ErrorCode, RpcError, SessionApiServer};
use pars_wire::MessageId;
use pars_wire::message::ContentType;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::broadcast;

/// Static facts about the running daemon, for `getStatus`.
#[derive(Debug, Clone, Default)]
pub struct NodeFacts {
    /// `mainnet`, `testnet`, `devnet` or `local`.
    pub network: String,
    /// Running as a service node.
    pub service_node: bool,
    /// libp2p peer ID.
    pub peer_id: String,
    /// Listen addresses.
    pub listen_addrs: Vec<String>,
    /// The on-chain registry set, for `getStatus`'s registry health (None: static set).
    pub registry: Option<Arc<pars_registry::RegistrySet>>,
    /// Where `triggerAction` finds the chain ID and trigger a request leaves out.
    pub trigger: crate::trigger::TriggerDefaults,
    /// The onion client, once started, for `getStatus`'s path health.
    pub paths: Arc<std::sync::OnceLock<pars_net::OnionClient>>,
}

/// What the RPC server serves from: the daemon core, the network seam and static facts.
pub struct Daemon {
    core: Arc<Core>,
    net: NetSlot,
    transfers: Transfers,
    facts: NodeFacts,
    started: Instant,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon").finish_non_exhaustive()
    }
}

impl Daemon {
    /// The RPC state over `core`, with `net` for what needs the network.
    pub fn new(core: Arc<Core>, net: NetSlot, transfers: Transfers, facts: NodeFacts) -> Arc<Self> {
        Arc::new(Self {
            core,
            net,
            transfers,
            facts,
            started: Instant::now(),
        })
    }

    /// The daemon core.
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }
}

/// A daemon error as a JSON-RPC error object.
fn fail(e: impl pars_error::HasKind + std::fmt::Display) -> ErrorObjectOwned {
    rpc_error(&e).into()
}

fn err(code: ErrorCode, msg: impl Into<String>) -> ErrorObjectOwned {
    RpcError::new(code, msg).into()
}

/// The content types `sendContent` accepts, by their RPC names.
const SENDABLE: [(&str, ContentType); 4] = [
    ("text", ContentType::Text),
    ("contractAction", ContentType::ContractAction),
    ("contractReceipt", ContentType::ContractReceipt),
    // A file manifest: forwards a file already stored, without uploading it again.
    ("file", ContentType::File),
];

/// Checks the arguments of `sendContent`: a known content type and non-empty hex content (UTF-8
/// for `text`).
fn sendable(content_type: &str, content_hex: &str) -> Result<(ContentType, Vec<u8>), RpcError> {
    let names = || SENDABLE.map(|(n, _)| n).join(", ");
    let ct = SENDABLE
        .iter()
        .find(|(n, _)| *n == content_type)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            RpcError::new(
                ErrorCode::InvalidInput,
                format!(
                    "unknown content type '{content_type}'; sendContent sends one of: {}",
                    names()
                ),
            )
        })?;
    let h = content_hex.trim();
    let h = h
        .strip_prefix("0x")
        .or_else(|| h.strip_prefix("0X"))
        .unwrap_or(h);
    let content = hex::decode(h).map_err(|e| {
        RpcError::new(
            ErrorCode::InvalidInput,
            format!("contentHex is not valid hex ({e}); give the content bytes as hex"),
        )
    })?;
    if content.is_empty() {
        return Err(RpcError::new(
            ErrorCode::InvalidInput,
            "the message is empty",
        ));
    }
    if ct == ContentType::Text && std::str::from_utf8(&content).is_err() {
        return Err(RpcError::new(
            ErrorCode::InvalidInput,
            "text content must be UTF-8; send binary content with another content type",
        ));
    }
    if ct == ContentType::File
        && let Err(e) = pars_wire::file::FileManifest::decode(&content)
    {
        return Err(RpcError::new(
            ErrorCode::InvalidInput,
            format!("file content must be a file manifest (pars_wire::file): {e}"),
        ));
    }
    Ok((ct, content))
}

fn session_info(s: &SessionSummary) -> SessionInfo {
    SessionInfo {
        id: hex::encode(s.conversation),
        peer: s.peer.to_string(),
        state: if s.closed {
            SessionState::Closed
        } else if s.confirmed {
            SessionState::Established
        } else {
            SessionState::Initiated
        },
        created_at: s.created_at,
        last_activity: s.last_activity,
        unread: s.unread,
    }
}

fn identity_info(keys: &IdentityKeys) -> IdentityInfo {
    let id = keys.session_id();
    let pk = keys.public_keys();
    IdentityInfo {
        session_id: id.to_string(),
        link: id.to_link(),
        public_keys: PublicKeys {
            mldsa87: hex::encode(pk.mldsa.as_bytes()),
            mlkem1024: hex::encode(pk.mlkem.as_bytes()),
            x25519: hex::encode(pk.x25519.0),
            ed25519: hex::encode(pk.ed25519.to_bytes()),
        },
    }
}

/// The RPC server object.
#[derive(Clone, Debug)]
pub struct Api(pub Arc<Daemon>);

#[async_trait]
impl SessionApiServer for Api {
    async fn create_identity(&self) -> Result<IdentityInfo, ErrorObjectOwned> {
        let keys = self.0.core.create_identity().await.map_err(fail)?;
        Ok(identity_info(&keys))
    }

    async fn get_identity(&self) -> Result<IdentityInfo, ErrorObjectOwned> {
        Ok(identity_info(&self.0.core.keys().await.map_err(fail)?))
    }

    async fn restore_identity(&self, mnemonic: String) -> Result<IdentityInfo, ErrorObjectOwned> {
        let keys = self.0.core.restore_identity(mnemonic).await.map_err(fail)?;
        Ok(identity_info(&keys))
    }

    async fn export_mnemonic(&self) -> Result<MnemonicInfo, ErrorObjectOwned> {
        let keys = self.0.core.keys().await.map_err(fail)?;
        Ok(MnemonicInfo {
            mnemonic: keys.master_seed().to_mnemonic().to_string(),
        })
    }

    async fn create_session(&self, recipient: String) -> Result<SessionInfo, ErrorObjectOwned> {
        let peer: SessionId = recipient
            .parse()
            .map_err(|e: pars_crypto::SessionIdError| {
                err(ErrorCode::InvalidInput, format!("invalid Session ID: {e}"))
            })?;
        let s = ops::open_session(&self.0.core, &self.0.net, peer).await?;
        Ok(session_info(&s))
    }

    async fn get_sessions(&self) -> Result<Vec<SessionInfo>, ErrorObjectOwned> {
        let sessions = self.0.core.sessions().await.map_err(fail)?;
        Ok(sessions.iter().map(session_info).collect())
    }

    async fn close_session(&self, session: String) -> Result<(), ErrorObjectOwned> {
        let peer = ops::resolve_peer(&self.0.core, &session).await?;
        self.0.core.close_session(peer).await.map_err(fail)
    }

    async fn send_message(
        &self,
        session: String,
        content: String,
    ) -> Result<SendResult, ErrorObjectOwned> {
        if content.is_empty() {
            return Err(err(ErrorCode::InvalidInput, "the message is empty"));
        }
        self.send(&session, content.into_bytes(), ContentType::Text)
            .await
    }

    async fn send_content(
        &self,
        session: String,
        content_type: String,
        content_hex: String,
    ) -> Result<SendResult, ErrorObjectOwned> {
        let (ct, content) = sendable(&content_type, &content_hex)?;
        self.send(&session, content, ct).await
    }

    async fn get_messages(
        &self,
        session: Option<String>,
        since: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Vec<MessageInfo>, ErrorObjectOwned> {
        let local = self.0.core.session_id().await.map_err(fail)?;
        let limit = limit.unwrap_or(1000).min(10_000) as usize;
        let since = since.unwrap_or(0);
        let core = &self.0.core;
        // A group's ID names its messages.
        let groups = core.groups().await.map_err(fail)?;
        if let Some(s) = &session
            && let Ok(g) = group_ops::parse_group(s)
            && groups.iter().any(|x| x.id == g)
        {
            let messages = core.group_messages(g, since, limit).await.map_err(fail)?;
            return Ok(messages
                .iter()
                .map(|m| group_ops::group_message_info(&local, m))
                .collect());
        }
        let peer = match session {
            Some(s) => Some(ops::resolve_peer(core, &s).await?),
            None => None,
        };
        let messages = core.messages(peer, since, limit).await.map_err(fail)?;
        let mut out: Vec<MessageInfo> = messages.iter().map(|m| message_info(&local, m)).collect();
        if peer.is_none() {
            for g in &groups {
                let messages = core
                    .group_messages(g.id, since, limit)
                    .await
                    .map_err(fail)?;
                out.extend(
                    messages
                        .iter()
                        .map(|m| group_ops::group_message_info(&local, m)),
                );
            }
            out.sort_by_key(|m| (m.local_time, m.sequence));
            out.truncate(limit);
        }
        Ok(out)
    }

    async fn mark_read(&self, session: String, message_id: String) -> Result<(), ErrorObjectOwned> {
        let peer = ops::resolve_peer(&self.0.core, &session).await?;
        let id: MessageId = message_id
            .parse()
            .map_err(|_| err(ErrorCode::InvalidInput, "a message ID is 32 hex characters"))?;
        self.0.core.mark_read(peer, id).await.map_err(fail)?;
        Ok(())
    }

    async fn get_status(&self) -> Result<DaemonStatus, ErrorObjectOwned> {
        let session_id = self.0.core.session_id().await.ok().map(|k| k.to_string());
        let outbox_pending = self.0.core.outbox_len().await.map_err(fail)?;
        let peers = self.0.net.peers().await;
        Ok(DaemonStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            network: self.0.facts.network.clone(),
            session_id,
            service_node: self.0.facts.service_node,
            peer_id: self.0.facts.peer_id.clone(),
            listen_addrs: self.0.facts.listen_addrs.clone(),
            connected_peers: peers.iter().filter(|p| p.connected).count() as u32,
            known_service_nodes: peers.iter().filter(|p| p.service_node).count() as u32,
            outbox_pending,
            uptime_secs: self.0.started.elapsed().as_secs(),
            registry: self
                .0
                .facts
                .registry
                .as_deref()
                .map(crate::status::registry_status),
            paths: self.0.facts.paths.get().map(|c| {
                let h = c.health();
                pars_rpc::types::PathStatus {
                    degraded: h.degraded,
                    failing_nodes: h.failing_nodes.iter().map(|p| p.to_string()).collect(),
                    recent_failures: h.recent_failures,
                    recent_attempts: h.recent_attempts,
                    guard: h.guard.map(|p| p.to_string()),
                    guard_failures: h.guard_failures,
                    directory_age_secs: h.directory_age.map(|d| d.as_secs()),
                    directory_nodes: h.directory_nodes as u32,
                    attempt_timeout_ms: h.attempt_timeout.as_millis() as u64,
                }
            }),
        })
    }

    async fn get_peers(&self) -> Result<Vec<PeerInfo>, ErrorObjectOwned> {
        Ok(self.0.net.peers().await)
    }

    async fn trigger_action(
        &self,
        request: TriggerRequest,
    ) -> Result<TriggerResult, ErrorObjectOwned> {
        Ok(crate::trigger::trigger_action(
            &self.0.core,
            &self.0.net,
            &self.0.facts.trigger,
            request,
        )
        .await?)
    }

    async fn create_group(
        &self,
        name: String,
        members: Vec<String>,
    ) -> Result<GroupInfo, ErrorObjectOwned> {
        let ids = group_ops::parse_members(&members)?;
        group_ops::open_sessions(&self.0.core, &self.0.net, &ids).await?;
        let g = self.0.core.create_group(name, ids).await.map_err(fail)?;
        Ok(group_ops::group_info(&g))
    }

    async fn get_group_invites(&self) -> Result<Vec<GroupInviteInfo>, ErrorObjectOwned> {
        Ok(group_ops::invites(&self.0.core).await?)
    }

    async fn join_group(&self, invite: String) -> Result<GroupInfo, ErrorObjectOwned> {
        Ok(group_ops::join(&self.0.core, &invite).await?)
    }

    async fn leave_group(&self, group: String) -> Result<(), ErrorObjectOwned> {
        let g = group_ops::parse_group(&group)?;
        self.0.core.leave_group(g).await.map_err(fail)
    }

    async fn add_group_members(
        &self,
        group: String,
        members: Vec<String>,
    ) -> Result<GroupInfo, ErrorObjectOwned> {
        let g = group_ops::parse_group(&group)?;
        let ids = group_ops::parse_members(&members)?;
        group_ops::open_sessions(&self.0.core, &self.0.net, &ids).await?;
        let s = self.0.core.add_group_members(g, ids).await.map_err(fail)?;
        Ok(group_ops::group_info(&s))
    }

    async fn add_group_admins(
        &self,
        group: String,
        members: Vec<String>,
    ) -> Result<GroupInfo, ErrorObjectOwned> {
        let g = group_ops::parse_group(&group)?;
        let ids = group_ops::parse_members(&members)?;
        let s = self.0.core.add_group_admins(g, ids).await.map_err(fail)?;
        Ok(group_ops::group_info(&s))
    }

    async fn remove_group_members(
        &self,
        group: String,
        members: Vec<String>,
    ) -> Result<GroupInfo, ErrorObjectOwned> {
        let g = group_ops::parse_group(&group)?;
        let ids = group_ops::parse_members(&members)?;
        let s = self
            .0
            .core
            .remove_group_members(g, ids)
            .await
            .map_err(fail)?;
        Ok(group_ops::group_info(&s))
    }

    async fn rename_group(
        &self,
        group: String,
        name: String,
    ) -> Result<GroupInfo, ErrorObjectOwned> {
        let g = group_ops::parse_group(&group)?;
        let s = self.0.core.rename_group(g, name).await.map_err(fail)?;
        Ok(group_ops::group_info(&s))
    }

    async fn get_groups(&self) -> Result<Vec<GroupInfo>, ErrorObjectOwned> {
        let groups = self.0.core.groups().await.map_err(fail)?;
        Ok(groups.iter().map(group_ops::group_info).collect())
    }

    async fn send_group_message(
        &self,
        group: String,
        content: String,
    ) -> Result<SendResult, ErrorObjectOwned> {
        if content.is_empty() {
            return Err(err(ErrorCode::InvalidInput, "the message is empty"));
        }
        let g = group_ops::parse_group(&group)?;
        let m = self
            .0
            .core
            .send_group_message(g, content)
            .await
            .map_err(fail)?;
        Ok(SendResult {
            id: m.message.id.to_string(),
            delivery: delivery(m.message.delivery),
        })
    }

    async fn send_file(&self, to: String, path: String) -> RpcResult<SendFileResult> {
        let d = &self.0;
        let to = file_ops::resolve_target(&d.core, &to).await?;
        let s = d.transfers.send_file(to, &path).await.map_err(fail)?;
        Ok(SendFileResult {
            file_id: s.record.manifest.id.to_string(),
            transfer_id: s.record.id.to_string(),
        })
    }

    async fn receive_file(&self, file_id: String, path: String) -> RpcResult<TransferInfo> {
        Ok(file_ops::receive(&self.0.transfers, &file_id, &path).await?)
    }

    async fn get_transfers(&self) -> RpcResult<Vec<TransferInfo>> {
        let all = self.0.transfers.list().await.map_err(fail)?;
        Ok(all.iter().map(transfer_info).collect())
    }

    async fn cancel_transfer(&self, transfer_id: String) -> RpcResult<TransferInfo> {
        Ok(file_ops::cancel(&self.0.transfers, &transfer_id).await?)
    }

    async fn subscribe_transfers(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        let mut rx = self.0.transfers.subscribe();
        let sink = pending.accept().await?;
        loop {
            tokio::select! {
                item = rx.recv() => match item {
                    Ok(s) => {
                        let raw = jsonrpsee::core::to_json_raw_value(&transfer_info(&s))?;
                        if sink.send(raw).await.is_err() {
                            break;
                        }
                    }
                    // A slow subscriber missed some: the next event or getTransfers catches up.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = sink.closed() => break,
            }
        }
        Ok(())
    }

    async fn subscribe_messages(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        let mut rx = self.0.core.subscribe();
        let sink = pending.accept().await?;
        loop {
            tokio::select! {
                item = rx.recv() => match item {
                    Ok(Event::Message { local, message }) => {
                        let raw = jsonrpsee::core::to_json_raw_value(&message_info(&local, &message))?;
                        if sink.send(raw).await.is_err() {
                            break;
                        }
                    }
                    Ok(Event::GroupMessage { local, message }) => {
                        let raw = jsonrpsee::core::to_json_raw_value(
                            &group_ops::group_message_info(&local, &message),
                        )?;
                        if sink.send(raw).await.is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    // A slow subscriber missed some: it can catch up with getMessages.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = sink.closed() => break,
            }
        }
        Ok(())
    }
}

impl Api {
    /// Queues `content` on the session named by `session`.
    async fn send(
        &self,
        session: &str,
        content: Vec<u8>,
        ct: ContentType,
    ) -> Result<SendResult, ErrorObjectOwned> {
        let peer = ops::resolve_peer(&self.0.core, session).await?;
        let m = self.0.core.send(peer, content, ct).await.map_err(fail)?;
        Ok(SendResult {
            id: m.id.to_string(),
            delivery: delivery(m.delivery),
        })
    }
}
