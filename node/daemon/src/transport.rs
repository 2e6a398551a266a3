//! The daemon's one seam to the network: the few swarm operations its workers need. The
//! production implementation is the onion-routed client of `pars-net`; the workers
//! ([`crate::workers`]) are written once against this trait.

use jsonrpsee::core::async_trait;
use libp2p::PeerId;
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_net::NetError;
use pars_wire::swarm::{ContentHash, Mailbox, MailboxItem};
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

/// The swarm operations of a client.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// The local libp2p peer ID.
    fn peer_id(&self) -> PeerId;
    /// Stores `payload` in the swarm of `mailbox`.
    async fn store(
        &self,
        mailbox: &Mailbox,
        ttl_ms: u64,
        payload: Vec<u8>,
    ) -> Result<Stored, NetError>;
    /// Retrieves one page after `after` from `via` (or a member the transport picks), signing
    /// as the mailbox owner with `key` where the namespace needs it.
    async fn retrieve_page(
        &self,
        mailbox: &Mailbox,
        via: Option<PeerId>,
        after: u64,
        key: Option<&MlDsaSigningKey>,
    ) -> Result<Page, NetError>;
    /// A long-poll: like `retrieve_page`, but when `via` has nothing after `after` it holds
    /// the request up to `wait` and answers as soon as a message arrives there (an empty page
    /// when the wait ends). Refused as `Malformed` by nodes that do not know it.
    async fn retrieve_wait(
        &self,
        mailbox: &Mailbox,
        via: PeerId,
        after: u64,
        key: Option<&MlDsaSigningKey>,
        wait: Duration,
    ) -> Result<Page, NetError>;
    /// Deletes messages from the swarm of `mailbox` (the member forwards it to the others).
    async fn delete(
        &self,
        mailbox: &Mailbox,
        hashes: Vec<ContentHash>,
        key: &MlDsaSigningKey,
    ) -> Result<u32, NetError>;
    /// Peers with an open connection.
    async fn connected_peers(&self) -> Result<Vec<PeerId>, NetError>;
    /// The swarm of `mailbox` under the current service-node set.
    fn swarm_of(&self, mailbox: &Mailbox) -> Vec<PeerId>;
    /// Stops the network layer.
    async fn shutdown(&self);
}

#[async_trait]
impl Transport for pars_net::OnionClient {
    fn peer_id(&self) -> PeerId {
        pars_net::OnionClient::peer_id(self)
    }

    async fn store(
        &self,
        mailbox: &Mailbox,
        ttl_ms: u64,
        payload: Vec<u8>,
    ) -> Result<Stored, NetError> {
        let r = pars_net::OnionClient::store(self, mailbox, ttl_ms, payload).await?;
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
    ) -> Result<Page, NetError> {
        let p = pars_net::OnionClient::retrieve_page(self, mailbox, via, after, key).await?;
        Ok(Page {
            member: p.member,
            items: p.items,
            more: p.more,
        })
    }

    async fn retrieve_wait(
        &self,
        mailbox: &Mailbox,
        via: PeerId,
        after: u64,
        key: Option<&MlDsaSigningKey>,
        wait: Duration,
    ) -> Result<Page, NetError> {
        let p = pars_net::OnionClient::retrieve_wait(self, mailbox, Some(via), after, key, wait)
            .await?;
        Ok(Page {
            member: p.member,
            items: p.items,
            more: p.more,
        })
    }

    async fn delete(
        &self,
        mailbox: &Mailbox,
        hashes: Vec<ContentHash>,
        key: &MlDsaSigningKey,
    ) -> Result<u32, NetError> {
        pars_net::OnionClient::delete(self, mailbox, hashes, key).await
    }

    async fn connected_peers(&self) -> Result<Vec<PeerId>, NetError> {
        pars_net::OnionClient::connected_peers(self).await
    }

    fn swarm_of(&self, mailbox: &Mailbox) -> Vec<PeerId> {
        pars_net::OnionClient::swarm_of(self, mailbox)
    }

    async fn shutdown(&self) {
        pars_net::OnionClient::shutdown(self).await
    }
}

/// Where the running transport is published once it exists: a user daemon starts its onion
/// client only when it has an identity (the client must know its own mailboxes, so that its
/// guard is never in their swarm). Until then network operations fail with a clear error.
#[derive(Clone, Default)]
pub struct NetSlot(std::sync::Arc<std::sync::RwLock<Option<std::sync::Arc<dyn Transport>>>>);

impl std::fmt::Debug for NetSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("NetSlot")
            .field(&self.get().is_some())
            .finish()
    }
}

impl NetSlot {
    /// A slot holding `t` already.
    pub fn with(t: std::sync::Arc<dyn Transport>) -> Self {
        let s = Self::default();
        s.set(t);
        s
    }

    /// Publishes the transport.
    pub fn set(&self, t: std::sync::Arc<dyn Transport>) {
        if let Ok(mut g) = self.0.write() {
            *g = Some(t);
        }
    }

    /// The transport, once started.
    pub fn get(&self) -> Option<std::sync::Arc<dyn Transport>> {
        self.0.read().ok().and_then(|g| g.clone())
    }
}
