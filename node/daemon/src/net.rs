//! The daemon's one seam to the network: [`Network`], the few swarm operations the workers and
//! the RPC layer need, with daemon-owned types ([`Stored`], [`Page`]) and a classified error
//! ([`NetFailure`]: permanent, not understood, retry after, or transient). The production
//! implementation is `pars-net`'s onion-routed client ([`OnionNetwork`]); tests and the inbox
//! scheduler's mocks implement it over memory.
//!
//! It is not a protocol implementation and holds no policy: how often to poll and when to
//! retry is the workers' ([`crate::workers`]).

use jsonrpsee::core::async_trait;
use libp2p::PeerId;
use pars_crypto::SessionId;
use pars_crypto::bundle::IdentityBundle;
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_error::{ErrorKind, HasKind};
use pars_net::{NetError, Retry, ServiceNodeSet};
use pars_rpc::types::PeerInfo;
use pars_wire::GroupId;
use pars_wire::swarm::{AccessToken, ContentHash, ErrorCode, Mailbox, MailboxItem};
use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// What a successful store reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Swarm members holding the message.
    pub copies: u8,
    /// Whether the swarm already had it (a retry after a crash).
    pub duplicate: bool,
}

/// One page of a mailbox from one swarm member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The member that answered (cursors are per member).
    pub member: PeerId,
    /// The messages, in that member's order.
    pub items: Vec<MailboxItem>,
    /// Whether the member has more after the last item.
    pub more: bool,
}

impl From<pars_net::RetrievedPage> for Page {
    fn from(p: pars_net::RetrievedPage) -> Self {
        Self {
            member: p.member,
            items: p.items,
            more: p.more,
        }
    }
}

/// How a network failure should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The request itself is unacceptable (too large, bad content, bad TTL): no retry changes
    /// it.
    Permanent,
    /// The node does not know or allow this request (an older node, a forbidden namespace):
    /// ask it again only much later.
    Unsupported,
    /// The node is busy or rate-limits us and says when to come back.
    RetryAfter(Duration),
    /// Anything else (no path yet, an unreachable member, a timeout, a node error, or a local
    /// failure such as a stopped network task): retry soon.
    Transient,
}

/// A failed network operation: its [`Failure`] class and what happened.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct NetFailure {
    /// How to handle it.
    pub class: Failure,
    /// What happened (no message content, no keys).
    pub message: String,
}

impl NetFailure {
    /// A transient failure with `message`.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            class: Failure::Transient,
            message: message.into(),
        }
    }
}

impl From<NetError> for NetFailure {
    fn from(e: NetError) -> Self {
        Self {
            class: classify(&e),
            message: e.to_string(),
        }
    }
}

impl HasKind for NetFailure {
    fn kind(&self) -> ErrorKind {
        match self.class {
            Failure::Permanent => ErrorKind::BadInput,
            Failure::Unsupported => ErrorKind::Rejected,
            Failure::RetryAfter(_) => ErrorKind::Busy,
            Failure::Transient => ErrorKind::NetworkUnavailable,
        }
    }
}

/// The one place a `pars-net` error becomes a [`Failure`]: one to one from pars-net's own
/// classification ([`NetError::retry`]), with no wire codes looked at here. A local failure
/// (the network task stopped, a file or the store failed) is transient to the daemon: it keeps
/// running and its workers try again on their own schedule, as after an unreachable member.
pub fn classify(e: &NetError) -> Failure {
    match e.retry() {
        Retry::Permanent => Failure::Permanent,
        Retry::Unsupported => Failure::Unsupported,
        Retry::After(d) => Failure::RetryAfter(d),
        Retry::Now | Retry::Local => Failure::Transient,
    }
}

/// The swarm operations of a client.
#[async_trait]
pub trait Network: Send + Sync + 'static {
    /// Stores `payload` in the swarm of `mailbox`.
    async fn store(
        &self,
        mailbox: &Mailbox,
        ttl_ms: u64,
        payload: Vec<u8>,
    ) -> Result<Stored, NetFailure>;
    /// Retrieves one page after `after` from `via` (or a member the network picks), signing
    /// as the mailbox owner with `key` where the namespace needs it.
    async fn retrieve_page(
        &self,
        mailbox: &Mailbox,
        via: Option<PeerId>,
        after: u64,
        key: Option<&MlDsaSigningKey>,
    ) -> Result<Page, NetFailure>;
    /// A long-poll: like `retrieve_page`, but when `via` has nothing after `after` it holds
    /// the request up to `wait` and answers as soon as a message arrives there (an empty page
    /// when the wait ends). Refused ([`Failure::Unsupported`]) by nodes that do not know it.
    async fn retrieve_wait(
        &self,
        mailbox: &Mailbox,
        via: PeerId,
        after: u64,
        key: Option<&MlDsaSigningKey>,
        wait: Duration,
    ) -> Result<Page, NetFailure>;
    /// Deletes messages from the swarm of `mailbox` (the member forwards it to the others).
    async fn delete(
        &self,
        mailbox: &Mailbox,
        hashes: Vec<ContentHash>,
        key: &MlDsaSigningKey,
    ) -> Result<u32, NetFailure>;
    /// Stores `payload` in group `group`'s mailbox with the member access `token`; when the
    /// swarm does not know that token yet (the record of a new generation is not stored),
    /// with `previous`.
    async fn group_store(
        &self,
        group: GroupId,
        token: &AccessToken,
        previous: Option<&AccessToken>,
        ttl_ms: u64,
        payload: Vec<u8>,
    ) -> Result<Stored, NetFailure>;
    /// A page of group `group`'s mailbox from `via` after `after` (a long-poll when `wait` is
    /// not zero), read with `token`, or with `previous` when the swarm does not know `token`.
    async fn group_retrieve(
        &self,
        group: GroupId,
        token: &AccessToken,
        previous: Option<&AccessToken>,
        via: Option<PeerId>,
        after: u64,
        wait: Duration,
    ) -> Result<Page, NetFailure>;
    /// Peers with an open connection.
    async fn connected_peers(&self) -> Result<Vec<PeerId>, NetFailure>;
    /// The swarm of `mailbox` under the current service-node set.
    fn swarm_of(&self, mailbox: &Mailbox) -> Vec<PeerId>;
    /// Stops the network layer.
    async fn shutdown(&self);
}

/// Whether a group request was refused for its token (one the swarm does not take).
fn unknown_token(e: &NetError) -> bool {
    matches!(
        e,
        NetError::Refused {
            code: ErrorCode::Unauthorized,
            ..
        }
    )
}

/// Runs `op` with `token`, and again with `previous` when the swarm does not know `token` (the
/// record of its generation is not stored yet).
async fn with_previous<'a, T, F, Fut>(
    token: &'a AccessToken,
    previous: Option<&'a AccessToken>,
    op: F,
) -> Result<T, NetError>
where
    F: Fn(&'a AccessToken) -> Fut,
    Fut: std::future::Future<Output = Result<T, NetError>>,
{
    match (op(token).await, previous) {
        (Err(e), Some(prev)) if unknown_token(&e) => op(prev).await,
        (r, _) => r,
    }
}

/// The production [`Network`]: `pars-net`'s onion-routed client.
#[derive(Debug)]
pub struct OnionNetwork(pub pars_net::OnionClient);

#[async_trait]
impl Network for OnionNetwork {
    async fn store(
        &self,
        mailbox: &Mailbox,
        ttl_ms: u64,
        payload: Vec<u8>,
    ) -> Result<Stored, NetFailure> {
        let r = self.0.store(mailbox, ttl_ms, payload).await?;
        Ok(Stored {
            copies: r.copies,
            duplicate: r.duplicate,
        })
    }

    async fn retrieve_page(
        &self,
        mailbox: &Mailbox,
        via: Option<PeerId>,
        after: u64,
        key: Option<&MlDsaSigningKey>,
    ) -> Result<Page, NetFailure> {
        Ok(self.0.retrieve_page(mailbox, via, after, key).await?.into())
    }

    async fn retrieve_wait(
        &self,
        mailbox: &Mailbox,
        via: PeerId,
        after: u64,
        key: Option<&MlDsaSigningKey>,
        wait: Duration,
    ) -> Result<Page, NetFailure> {
        Ok(self
            .0
            .retrieve_wait(mailbox, Some(via), after, key, wait)
            .await?
            .into())
    }

    async fn delete(
        &self,
        mailbox: &Mailbox,
        hashes: Vec<ContentHash>,
        key: &MlDsaSigningKey,
    ) -> Result<u32, NetFailure> {
        Ok(self.0.delete(mailbox, hashes, key).await?)
    }

    async fn group_store(
        &self,
        group: GroupId,
        token: &AccessToken,
        previous: Option<&AccessToken>,
        ttl_ms: u64,
        payload: Vec<u8>,
    ) -> Result<Stored, NetFailure> {
        let r = with_previous(token, previous, |t| {
            self.0.group_store(group, t, ttl_ms, payload.clone())
        })
        .await?;
        Ok(Stored {
            copies: r.copies,
            duplicate: r.duplicate,
        })
    }

    async fn group_retrieve(
        &self,
        group: GroupId,
        token: &AccessToken,
        previous: Option<&AccessToken>,
        via: Option<PeerId>,
        after: u64,
        wait: Duration,
    ) -> Result<Page, NetFailure> {
        // An older token never waits: the long-poll is asked with the current one only.
        let page = with_previous(token, previous, |t| {
            let wait = if t == token { wait } else { Duration::ZERO };
            self.0.group_retrieve_wait(group, t, via, after, wait)
        })
        .await?;
        Ok(page.into())
    }

    async fn connected_peers(&self) -> Result<Vec<PeerId>, NetFailure> {
        Ok(self.0.connected_peers().await?)
    }

    fn swarm_of(&self, mailbox: &Mailbox) -> Vec<PeerId> {
        self.0.swarm_of(mailbox)
    }

    async fn shutdown(&self) {
        self.0.shutdown().await
    }
}

/// Where the running network is published once it exists, with the service-node set it runs
/// on: a user daemon starts its onion client only when it has an identity (the client must know
/// its own mailboxes, so that its guard is never in their swarm). Until then network operations
/// fail with a clear error. An offline slot (no set) never gets a network.
#[derive(Clone, Default)]
pub struct NetSlot {
    net: Arc<RwLock<Option<Arc<dyn Network>>>>,
    set: Option<Arc<dyn ServiceNodeSet>>,
}

impl std::fmt::Debug for NetSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("NetSlot")
            .field(&self.get().is_some())
            .finish()
    }
}

impl NetSlot {
    /// An empty slot for a network over `set`.
    pub fn new(set: Arc<dyn ServiceNodeSet>) -> Self {
        Self {
            net: Arc::default(),
            set: Some(set),
        }
    }

    /// A slot that stays empty: an offline daemon (tests).
    pub fn offline() -> Self {
        Self::default()
    }

    /// Publishes the network.
    pub fn set(&self, n: Arc<dyn Network>) {
        if let Ok(mut g) = self.net.write() {
            *g = Some(n);
        }
    }

    /// The network, once started.
    pub fn get(&self) -> Option<Arc<dyn Network>> {
        self.net.read().ok().and_then(|g| g.clone())
    }

    /// Fetches the identity bundle `id` published in its swarm: the newest that verifies.
    pub async fn fetch_bundle(
        &self,
        id: &SessionId,
        now: u64,
    ) -> Result<IdentityBundle, NetFailure> {
        let Some(net) = self.get() else {
            return Err(NetFailure::transient(if self.set.is_some() {
                "the network is not joined yet (it is once this daemon has an identity)"
            } else {
                "this daemon is offline"
            }));
        };
        let mailbox = Mailbox::Bundle(*id);
        let mut last = NetFailure {
            class: Failure::Permanent,
            message: "no service node holds it".into(),
        };
        let mut found = Vec::new();
        for member in net.swarm_of(&mailbox) {
            match net.retrieve_page(&mailbox, Some(member), 0, None).await {
                Ok(page) => {
                    found.extend(page.items.into_iter().map(|i| i.payload));
                    if let Some(b) = newest_valid_bundle(id, found.clone(), now) {
                        return Ok(b);
                    }
                    last = NetFailure {
                        class: Failure::Permanent,
                        message: "no valid identity bundle is published for this Session ID".into(),
                    };
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The service nodes of the set (connected or not) and the other connected peers.
    pub async fn peers(&self) -> Vec<PeerInfo> {
        let Some(set) = &self.set else {
            return Vec::new();
        };
        let connected: HashSet<PeerId> = match self.get() {
            Some(net) => net.connected_peers().await.unwrap_or_default(),
            None => Vec::new(),
        }
        .into_iter()
        .collect();
        let members = set.members();
        let mut out: Vec<PeerInfo> = members
            .nodes
            .iter()
            .map(|n| PeerInfo {
                peer_id: n.peer_id.to_string(),
                addresses: n.addrs.iter().map(|a| a.to_string()).collect(),
                service_node: true,
                connected: connected.contains(&n.peer_id),
                operator: (!n.operator.is_empty()).then(|| n.operator.clone()),
            })
            .collect();
        for p in connected {
            if !members.contains(&p) {
                out.push(PeerInfo {
                    peer_id: p.to_string(),
                    addresses: Vec::new(),
                    service_node: false,
                    connected: true,
                    operator: None,
                });
            }
        }
        out
    }
}

/// The newest bundle among `items` that verifies for `id` at `now`.
pub fn newest_valid_bundle(
    id: &SessionId,
    items: impl IntoIterator<Item = Vec<u8>>,
    now: u64,
) -> Option<IdentityBundle> {
    items
        .into_iter()
        .filter_map(|p| IdentityBundle::from_bytes(&p).ok())
        .filter(|b| b.verify(id, now).is_ok())
        .max_by_key(|b| b.prekey.created_at)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use pars_wire::swarm::{ErrorCode, SwarmResponse};

    fn refused(code: ErrorCode, value: u32) -> NetError {
        NetError::from_answer(SwarmResponse::error(code, value, "refused"))
    }

    #[test]
    fn each_retry_class_maps_to_one_failure() {
        let cases = [
            (refused(ErrorCode::TooLarge, 0), Failure::Permanent),
            (refused(ErrorCode::InvalidContent, 0), Failure::Permanent),
            (refused(ErrorCode::BadTtl, 0), Failure::Permanent),
            (refused(ErrorCode::Malformed, 0), Failure::Unsupported),
            (refused(ErrorCode::Forbidden, 0), Failure::Unsupported),
            (refused(ErrorCode::Other(77), 0), Failure::Unsupported),
            (
                refused(ErrorCode::Busy, 1_500),
                Failure::RetryAfter(Duration::from_millis(1_500)),
            ),
            (
                refused(ErrorCode::RateLimited, 20),
                Failure::RetryAfter(Duration::from_millis(20)),
            ),
            (refused(ErrorCode::NotMember, 0), Failure::Transient),
            (refused(ErrorCode::Unauthorized, 0), Failure::Transient),
            (refused(ErrorCode::Full, 0), Failure::Transient),
            (
                refused(ErrorCode::InsufficientCopies, 1),
                Failure::Transient,
            ),
            (refused(ErrorCode::Internal, 0), Failure::Transient),
            (refused(ErrorCode::Replay, 0), Failure::Transient),
            (
                NetError::Request {
                    peer: "p".into(),
                    reason: "timeout".into(),
                },
                Failure::Transient,
            ),
            (NetError::NoSwarm("no path".into()), Failure::Transient),
            (NetError::NotFound, Failure::Transient),
            (NetError::Unexpected("Done".into()), Failure::Transient),
            // Local failures: the daemon keeps running and tries again later.
            (NetError::Stopped, Failure::Transient),
            (NetError::Poisoned("client state lock"), Failure::Transient),
            (NetError::Setup("no transport".into()), Failure::Transient),
            (
                NetError::io("/x/guard_state", std::io::Error::other("disk full")),
                Failure::Transient,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(classify(&e), want, "{e}");
            let f = NetFailure::from(e);
            assert_eq!(f.class, want);
        }
    }

    #[test]
    fn the_mapping_follows_retry_one_to_one() {
        // Every Retry class, and the Failure the daemon makes of it.
        let pairs = [
            (
                refused(ErrorCode::TooLarge, 0),
                Retry::Permanent,
                Failure::Permanent,
            ),
            (
                refused(ErrorCode::Forbidden, 0),
                Retry::Unsupported,
                Failure::Unsupported,
            ),
            (
                refused(ErrorCode::Busy, 9),
                Retry::After(Duration::from_millis(9)),
                Failure::RetryAfter(Duration::from_millis(9)),
            ),
            (
                refused(ErrorCode::Internal, 0),
                Retry::Now,
                Failure::Transient,
            ),
            (NetError::Stopped, Retry::Local, Failure::Transient),
        ];
        for (e, retry, failure) in pairs {
            assert_eq!(e.retry(), retry, "{e}");
            assert_eq!(classify(&e), failure, "{e}");
        }
    }
}
