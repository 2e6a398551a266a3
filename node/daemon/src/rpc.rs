//! The JSON-RPC API (`pars_rpc::SessionApiServer`) over the client engine.
//!
//! The daemon works offline: `sendMessage` queues durably whether or not the network is
//! reachable, and `createSession` needs the network only when the recipient's identity bundle
//! is not cached yet. What needs the network goes through a [`Courier`].

use crate::engine::{Engine, EngineError, Received, SessionSummary, conversation_id};
use jsonrpsee::PendingSubscriptionSink;
use jsonrpsee::core::{SubscriptionResult, async_trait};
use jsonrpsee::types::ErrorObjectOwned;
use pars_crypto::SessionId;
use pars_crypto::bundle::IdentityBundle;
use pars_rpc::types::{
    DaemonStatus, DeliveryState, Direction, IdentityInfo, MessageInfo, MnemonicInfo, PeerInfo,
    PublicKeys, SendResult, SessionInfo, SessionState, TriggerRequest, TriggerResult,
};
use pars_rpc::{ErrorCode, RpcError, SessionApiServer};
use pars_wire::MessageId;
use pars_wire::message::ContentType;
use pars_wire::records::{Delivery, MessageRecord};
use rand_chacha::ChaCha20Rng;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Mutex, Notify, broadcast};

/// What the daemon needs from the network, behind one seam: the onion-routed swarm client in
/// production.
#[async_trait]
pub trait Courier: Send + Sync + 'static {
    /// Fetches and returns the identity bundle published by `id` (unverified; the engine
    /// verifies it against `id`).
    async fn fetch_bundle(&self, id: &SessionId) -> Result<IdentityBundle, String>;
    /// Peers known to the network layer.
    async fn peers(&self) -> Vec<PeerInfo>;
}

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
    pub registry: Option<Arc<pars_bridge::RegistrySet>>,
    /// Where `triggerAction` finds the chain ID and trigger a request leaves out.
    pub trigger: crate::trigger::TriggerDefaults,
    /// The onion client, once started, for `getStatus`'s path health.
    pub paths: Arc<std::sync::OnceLock<pars_net::OnionClient>>,
}

/// Shared daemon state behind the RPC server.
pub struct Daemon {
    engine: Mutex<(Engine, ChaCha20Rng)>,
    courier: Option<Arc<dyn Courier>>,
    incoming: broadcast::Sender<MessageInfo>,
    outbox_wakeup: Notify,
    identity_changed: Notify,
    facts: NodeFacts,
    started: Instant,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon").finish_non_exhaustive()
    }
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn err(code: ErrorCode, msg: impl Into<String>) -> ErrorObjectOwned {
    RpcError::new(code, msg).into()
}

impl From<EngineError> for ErrorObjectOwned {
    fn from(e: EngineError) -> Self {
        let code = match &e {
            EngineError::NoIdentity => ErrorCode::NoIdentity,
            EngineError::IdentityExists(_) => ErrorCode::IdentityExists,
            EngineError::UnknownSession(_) => ErrorCode::UnknownSession,
            EngineError::SessionClosed(_) => ErrorCode::SessionClosed,
            EngineError::UnknownMessage(_) => ErrorCode::UnknownMessage,
            EngineError::BadBundle { .. } | EngineError::Undecryptable(_) => {
                ErrorCode::Verification
            }
            EngineError::Crypto(c) if c.kind() == pars_crypto::ErrorKind::Encoding => {
                ErrorCode::InvalidInput
            }
            EngineError::Session(pars_session::SessionError::TooLarge { .. })
            | EngineError::TooLarge { .. } => ErrorCode::InvalidInput,
            EngineError::Store(_) => ErrorCode::Storage,
            _ => ErrorCode::Internal,
        };
        err(code, e.to_string())
    }
}

fn delivery(d: Delivery) -> DeliveryState {
    match d {
        Delivery::Queued => DeliveryState::Queued,
        Delivery::Stored(copies) => DeliveryState::Stored { copies },
        Delivery::Read => DeliveryState::Read,
        Delivery::Failed => DeliveryState::Failed,
        Delivery::Received => DeliveryState::Received,
    }
}

fn content_type_name(b: u8) -> String {
    match ContentType::from_u8(b) {
        Ok(ContentType::Text) => "text".into(),
        Ok(ContentType::File) => "file".into(),
        Ok(ContentType::ContractAction) => "contractAction".into(),
        Ok(ContentType::ContractReceipt) => "contractReceipt".into(),
        Ok(ContentType::GroupControl) => "groupControl".into(),
        Ok(other) => format!("{other:?}"),
        Err(_) => format!("unknown({b})"),
    }
}

/// The content types `sendContent` accepts, by their RPC names.
const SENDABLE: [(&str, ContentType); 3] = [
    ("text", ContentType::Text),
    ("contractAction", ContentType::ContractAction),
    ("contractReceipt", ContentType::ContractReceipt),
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
    Ok((ct, content))
}

/// The RPC view of a message.
pub fn message_info(local: &SessionId, m: &MessageRecord) -> MessageInfo {
    MessageInfo {
        id: m.id.to_string(),
        session: hex::encode(conversation_id(local, &m.peer)),
        peer: m.peer.to_string(),
        direction: if m.outgoing {
            Direction::Outgoing
        } else {
            Direction::Incoming
        },
        content: String::from_utf8_lossy(&m.content).into_owned(),
        content_type: content_type_name(m.content_type),
        content_hex: hex::encode(&m.content),
        timestamp: m.timestamp,
        local_time: m.local_time,
        sequence: m.sequence,
        delivery: delivery(m.delivery),
        read: m.read,
        error: m.error.clone(),
    }
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

fn identity_info(engine: &Engine) -> Result<IdentityInfo, EngineError> {
    let keys = engine.keys()?;
    let id = keys.session_id();
    let pk = keys.public_keys();
    Ok(IdentityInfo {
        session_id: id.to_string(),
        link: id.to_link(),
        public_keys: PublicKeys {
            mldsa87: hex::encode(pk.mldsa.as_bytes()),
            mlkem1024: hex::encode(pk.mlkem.as_bytes()),
            x25519: hex::encode(pk.x25519.0),
            ed25519: hex::encode(pk.ed25519.to_bytes()),
        },
    })
}

impl Daemon {
    /// A daemon over `engine`, with `courier` for what needs the network (none: offline).
    pub fn new(
        engine: Engine,
        rng: ChaCha20Rng,
        courier: Option<Arc<dyn Courier>>,
        facts: NodeFacts,
    ) -> Arc<Self> {
        let (incoming, _) = broadcast::channel(1024);
        Arc::new(Self {
            engine: Mutex::new((engine, rng)),
            courier,
            incoming,
            outbox_wakeup: Notify::new(),
            identity_changed: Notify::new(),
            facts,
            started: Instant::now(),
        })
    }

    /// Wakes the delivery worker (after a send).
    pub fn outbox_wakeup(&self) -> &Notify {
        &self.outbox_wakeup
    }

    /// Wakes the bundle publisher (after an identity was created or restored).
    pub fn identity_changed(&self) -> &Notify {
        &self.identity_changed
    }

    /// Processes a blob fetched from our mailbox; a new message is announced to subscribers.
    pub async fn ingest(&self, blob: &[u8]) -> Result<Received, EngineError> {
        let mut g = self.engine.lock().await;
        let (engine, rng) = &mut *g;
        let r = engine.receive(blob, now(), rng)?;
        if let Received::Message(m) = &r {
            let local = engine.keys()?.session_id();
            // No subscriber is not an error.
            let _ = self.incoming.send(message_info(&local, m));
        }
        Ok(r)
    }

    /// Runs `f` with the engine and the daemon's RNG.
    pub async fn with_engine<T>(&self, f: impl FnOnce(&mut Engine, &mut ChaCha20Rng) -> T) -> T {
        let mut g = self.engine.lock().await;
        let (engine, rng) = &mut *g;
        f(engine, rng)
    }

    /// Whether the peer has answered in the session with `peer` (its messages to us no longer
    /// need the handshake).
    async fn session_confirmed(&self, peer: &SessionId) -> Result<bool, ErrorObjectOwned> {
        let g = self.engine.lock().await;
        Ok(g.0
            .sessions()?
            .iter()
            .any(|s| &s.peer == peer && s.confirmed && !s.closed))
    }

    /// Resolves a session argument: the peer's Session ID (or link), or the 64-hex conversation
    /// ID of an existing session.
    async fn resolve_peer(&self, session: &str) -> Result<SessionId, ErrorObjectOwned> {
        let s = session.trim();
        if let Ok(id) = s.parse::<SessionId>() {
            return Ok(id);
        }
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            let g = self.engine.lock().await;
            for x in g.0.sessions()? {
                if hex::encode(x.conversation) == s.to_ascii_lowercase() {
                    return Ok(x.peer);
                }
            }
            return Err(err(
                ErrorCode::UnknownSession,
                format!("no session {s}; list them with getSessions"),
            ));
        }
        Err(err(
            ErrorCode::InvalidInput,
            format!(
                "'{s}' is neither a Session ID (66 hex characters starting with 05) nor a session ID (64 hex characters)"
            ),
        ))
    }
}

/// The RPC server object.
#[derive(Clone, Debug)]
pub struct Api(pub Arc<Daemon>);

#[async_trait]
impl SessionApiServer for Api {
    async fn create_identity(&self) -> Result<IdentityInfo, ErrorObjectOwned> {
        let mut g = self.0.engine.lock().await;
        let (engine, rng) = &mut *g;
        engine.create_identity(now(), rng)?;
        self.0.identity_changed.notify_one();
        Ok(identity_info(engine)?)
    }

    async fn get_identity(&self) -> Result<IdentityInfo, ErrorObjectOwned> {
        let g = self.0.engine.lock().await;
        Ok(identity_info(&g.0)?)
    }

    async fn restore_identity(&self, mnemonic: String) -> Result<IdentityInfo, ErrorObjectOwned> {
        let mut g = self.0.engine.lock().await;
        let (engine, rng) = &mut *g;
        engine.restore_identity(&mnemonic, now(), rng)?;
        self.0.identity_changed.notify_one();
        Ok(identity_info(engine)?)
    }

    async fn export_mnemonic(&self) -> Result<MnemonicInfo, ErrorObjectOwned> {
        let g = self.0.engine.lock().await;
        let phrase = g.0.keys()?.master_seed().to_mnemonic();
        Ok(MnemonicInfo {
            mnemonic: phrase.to_string(),
        })
    }

    async fn create_session(&self, recipient: String) -> Result<SessionInfo, ErrorObjectOwned> {
        let peer: SessionId = recipient
            .parse()
            .map_err(|e: pars_crypto::SessionIdError| {
                err(ErrorCode::InvalidInput, format!("invalid Session ID: {e}"))
            })?;
        let cached = self.0.engine.lock().await.0.cached_bundle(&peer)?;
        let bundle = match cached {
            Some(b) if b.verify(&peer, now()).is_ok() => b,
            _ => match &self.0.courier {
                Some(c) => c.fetch_bundle(&peer).await.map_err(|e| {
                    err(
                        ErrorCode::RecipientNotFound,
                        format!("could not fetch the identity bundle of {peer}: {e}; check the Session ID, or retry when the network is reachable"),
                    )
                })?,
                None => {
                    return Err(err(
                        ErrorCode::Network,
                        format!("the identity bundle of {peer} is not cached and this daemon is offline; retry when it is connected"),
                    ));
                }
            },
        };
        let mut g = self.0.engine.lock().await;
        let (engine, rng) = &mut *g;
        let s = engine.open_session(&peer, &bundle, now(), rng)?;
        Ok(session_info(&s))
    }

    async fn get_sessions(&self) -> Result<Vec<SessionInfo>, ErrorObjectOwned> {
        let g = self.0.engine.lock().await;
        Ok(g.0.sessions()?.iter().map(session_info).collect())
    }

    async fn close_session(&self, session: String) -> Result<(), ErrorObjectOwned> {
        let peer = self.0.resolve_peer(&session).await?;
        let mut g = self.0.engine.lock().await;
        let (engine, rng) = &mut *g;
        engine.close_session(&peer, rng)?;
        Ok(())
    }

    async fn send_message(
        &self,
        session: String,
        content: String,
    ) -> Result<SendResult, ErrorObjectOwned> {
        if content.is_empty() {
            return Err(err(ErrorCode::InvalidInput, "the message is empty"));
        }
        let peer = self.0.resolve_peer(&session).await?;
        let m = {
            let mut g = self.0.engine.lock().await;
            let (engine, rng) = &mut *g;
            engine.send(&peer, content.as_bytes(), ContentType::Text, now(), rng)?
        };
        self.0.outbox_wakeup.notify_one();
        Ok(SendResult {
            id: m.id.to_string(),
            delivery: delivery(m.delivery),
        })
    }

    async fn send_content(
        &self,
        session: String,
        content_type: String,
        content_hex: String,
    ) -> Result<SendResult, ErrorObjectOwned> {
        let (ct, content) = sendable(&content_type, &content_hex)?;
        let peer = self.0.resolve_peer(&session).await?;
        let m = {
            let mut g = self.0.engine.lock().await;
            let (engine, rng) = &mut *g;
            engine.send(&peer, &content, ct, now(), rng)?
        };
        self.0.outbox_wakeup.notify_one();
        Ok(SendResult {
            id: m.id.to_string(),
            delivery: delivery(m.delivery),
        })
    }

    async fn get_messages(
        &self,
        session: Option<String>,
        since: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Vec<MessageInfo>, ErrorObjectOwned> {
        let peer = match session {
            Some(s) => Some(self.0.resolve_peer(&s).await?),
            None => None,
        };
        let g = self.0.engine.lock().await;
        let local = g.0.keys()?.session_id();
        let limit = limit.unwrap_or(1000).min(10_000) as usize;
        Ok(g.0
            .messages(peer.as_ref(), since.unwrap_or(0), limit)?
            .iter()
            .map(|m| message_info(&local, m))
            .collect())
    }

    async fn mark_read(&self, session: String, message_id: String) -> Result<(), ErrorObjectOwned> {
        let peer = self.0.resolve_peer(&session).await?;
        let id: MessageId = message_id
            .parse()
            .map_err(|_| err(ErrorCode::InvalidInput, "a message ID is 32 hex characters"))?;
        let n = {
            let mut g = self.0.engine.lock().await;
            let (engine, rng) = &mut *g;
            engine.mark_read(&peer, &id, now(), rng)?
        };
        if n > 0 {
            self.0.outbox_wakeup.notify_one();
        }
        Ok(())
    }

    async fn get_status(&self) -> Result<DaemonStatus, ErrorObjectOwned> {
        let g = self.0.engine.lock().await;
        let peers = match &self.0.courier {
            Some(c) => c.peers().await,
            None => Vec::new(),
        };
        Ok(DaemonStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            network: self.0.facts.network.clone(),
            session_id: g.0.keys().ok().map(|k| k.session_id().to_string()),
            service_node: self.0.facts.service_node,
            peer_id: self.0.facts.peer_id.clone(),
            listen_addrs: self.0.facts.listen_addrs.clone(),
            connected_peers: peers.iter().filter(|p| p.connected).count() as u32,
            known_service_nodes: peers.iter().filter(|p| p.service_node).count() as u32,
            outbox_pending: g.0.outbox_len()?,
            uptime_secs: self.0.started.elapsed().as_secs(),
            registry: self
                .0
                .facts
                .registry
                .as_deref()
                .map(crate::run::registry_status),
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
        Ok(match &self.0.courier {
            Some(c) => c.peers().await,
            None => Vec::new(),
        })
    }

    async fn trigger_action(
        &self,
        request: TriggerRequest,
    ) -> Result<TriggerResult, ErrorObjectOwned> {
        use crate::trigger;
        let nonce = {
            let mut g = self.0.engine.lock().await;
            u64::from_be_bytes(pars_crypto::random_array::<8>(&mut g.1))
        };
        // Bad parameters fail before anything is sent (chain ID and trigger may still come from
        // the bridge's answer).
        trigger::build_action(
            &request,
            &self.0.facts.trigger,
            Some((0, [0; 20])),
            now(),
            nonce,
        )?;
        // The session with the bridge: an existing one, or a new one from its bundle.
        let bridge = request.bridge.trim();
        let peer = match bridge.parse::<SessionId>() {
            Ok(id) => {
                self.create_session(id.to_string()).await?;
                id
            }
            Err(_) => self.0.resolve_peer(bridge).await?,
        };
        let bridge_id = peer.to_string();
        let wait = trigger::timeout_secs(&request);
        // Subscribe before sending, so that no answer can slip past unseen.
        let mut rx = self.0.incoming.subscribe();
        if !self.0.session_confirmed(&peer).await? {
            {
                let mut g = self.0.engine.lock().await;
                let (engine, rng) = &mut *g;
                engine.send(
                    &peer,
                    trigger::HELLO.as_bytes(),
                    ContentType::Text,
                    now(),
                    rng,
                )?;
            }
            self.0.outbox_wakeup.notify_one();
            let secs = wait.max(trigger::HANDSHAKE_WAIT_SECS);
            let until = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
            while !self.0.session_confirmed(&peer).await? {
                tokio::select! {
                    _ = rx.recv() => {}
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    _ = tokio::time::sleep_until(until) => {
                        return Err(err(
                            ErrorCode::Timeout,
                            format!("the bridge {bridge_id} did not answer within {secs} s, so the session with it is not established and no action was sent; check that the bridge runs, then retry"),
                        ));
                    }
                }
            }
        }
        let announced = trigger::bridge_info(
            &self
                .get_messages(Some(bridge_id.clone()), None, None)
                .await?,
        );
        let action =
            trigger::build_action(&request, &self.0.facts.trigger, announced, now(), nonce)?;
        let (signed, message_id, sent_at) = {
            let mut g = self.0.engine.lock().await;
            let (engine, rng) = &mut *g;
            let signed = trigger::sign(action, engine.keys()?, request.registered_key, rng)?;
            let content = signed.encode().map_err(|e| {
                err(
                    ErrorCode::InvalidInput,
                    format!("the action cannot be encoded: {e}"),
                )
            })?;
            let t = now();
            let m = engine.send(&peer, &content, ContentType::ContractAction, t, rng)?;
            (signed, m.id.to_string(), t)
        };
        self.0.outbox_wakeup.notify_one();
        if wait == 0 {
            return Ok(trigger::result(&signed, &bridge_id, &message_id, None));
        }
        let until = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
        loop {
            let got = self
                .get_messages(
                    Some(bridge_id.clone()),
                    Some(sent_at.saturating_sub(1)),
                    None,
                )
                .await?;
            if let Some(r) = trigger::find_receipt(&got, &signed.request_id) {
                return Ok(trigger::result(&signed, &bridge_id, &message_id, Some(&r)));
            }
            // Woken by any new message; a re-scan every second covers a lagging subscription.
            tokio::select! {
                _ = rx.recv() => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = tokio::time::sleep_until(until) => {
                    return Err(err(
                        ErrorCode::Timeout,
                        format!(
                            "no receipt from the bridge within {wait} s for request {} (message {message_id}); the action stays queued or in flight and its receipt will appear in the session with {bridge_id}",
                            hex::encode(signed.request_id)
                        ),
                    ));
                }
            }
        }
    }

    async fn subscribe_messages(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        let mut rx = self.0.incoming.subscribe();
        let sink = pending.accept().await?;
        loop {
            tokio::select! {
                item = rx.recv() => match item {
                    Ok(m) => {
                        let raw = jsonrpsee::core::to_json_raw_value(&m)?;
                        if sink.send(raw).await.is_err() {
                            break;
                        }
                    }
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
