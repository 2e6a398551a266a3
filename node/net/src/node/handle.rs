//! [`NetworkHandle`]: the cloneable handle to a running node. Every method talks to the event
//! loop over a bounded channel or reads shared state; none blocks the loop.

use super::command::Command;
use super::ctx::Ctx;
use super::serve::serve;
use super::stats::NodeStats;
use crate::NetError;
use libp2p::{Multiaddr, PeerId};
use pars_store::MailboxStore;
use pars_wire::NodeRecord;
use pars_wire::swarm::{ErrorCode, Mailbox, SwarmRequest, SwarmResponse};
use std::collections::HashSet;
use std::sync::Arc;

/// A cloneable handle to a running node. Every method talks to the event loop over a bounded
/// channel; none blocks it.
#[derive(Clone)]
pub struct NetworkHandle {
    pub(super) ctx: Arc<Ctx>,
}

impl std::fmt::Debug for NetworkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkHandle")
            .field("peer_id", &self.ctx.local)
            .finish()
    }
}

impl NetworkHandle {
    /// This node's peer ID.
    pub fn peer_id(&self) -> PeerId {
        self.ctx.local
    }

    /// This node's signed record (re-signed whenever its onion keys change).
    pub fn record(&self) -> NodeRecord {
        self.ctx.record()
    }

    /// The node's mailbox store (for inspection and the daemon's own use).
    pub fn mailbox_store(&self) -> &MailboxStore {
        &self.ctx.store
    }

    /// Counters.
    pub fn stats(&self) -> NodeStats {
        self.ctx.stats()
    }

    /// The swarm of a mailbox under the current membership.
    pub fn swarm_of(&self, mailbox: &Mailbox) -> Vec<PeerId> {
        self.ctx.set.members().swarm_of(mailbox)
    }

    /// The addresses the node listens on.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        self.ctx
            .command(|reply| Command::ListenAddrs { reply })
            .await
    }

    /// Peers with an open connection.
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, NetError> {
        self.ctx
            .command(|reply| Command::ConnectedPeers { reply })
            .await
    }

    /// Teaches the node an address of a peer outside the set (members' come from the set).
    pub async fn add_peer_address(&self, peer: PeerId, addr: Multiaddr) -> Result<(), NetError> {
        self.ctx
            .cmd
            .send(Command::AddAddress { peer, addr })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Sends one swarm-protocol request and decodes the answer.
    pub async fn request(
        &self,
        peer: PeerId,
        req: &SwarmRequest,
    ) -> Result<SwarmResponse, NetError> {
        self.ctx.request(peer, req).await
    }

    /// Looks a node record up in the DHT and verifies it.
    pub async fn lookup_record(&self, peer: PeerId) -> Result<NodeRecord, NetError> {
        self.ctx
            .command(|reply| Command::LookupRecord { peer, reply })
            .await?
    }

    /// Runs a swarm request as an onion exit: served here if this node is in the mailbox's
    /// swarm (or the request names no mailbox), otherwise sent to the swarm's members in turn,
    /// following wrong-swarm answers and skipping unreachable members.
    pub async fn exit_request(&self, req: SwarmRequest) -> SwarmResponse {
        let Some(mailbox) = req.mailbox().copied() else {
            return Box::pin(serve(&self.ctx, self.ctx.local, req)).await;
        };
        if self.swarm_of(&mailbox).contains(&self.ctx.local) {
            return Box::pin(serve(&self.ctx, self.ctx.local, req)).await;
        }
        match self.swarm_request(&mailbox, &req).await {
            Ok((_, r)) => r,
            Err(e) => SwarmResponse::error(
                ErrorCode::Internal,
                0,
                format!("no swarm member answered: {e}"),
            ),
        }
    }

    /// Sends `req` to the members of `mailbox`'s swarm until one answers with something other
    /// than a wrong-swarm redirect (unreachable members are skipped); returns who answered and
    /// the answer.
    pub async fn swarm_request(
        &self,
        mailbox: &Mailbox,
        req: &SwarmRequest,
    ) -> Result<(PeerId, SwarmResponse), NetError> {
        let mut candidates = self.swarm_of(mailbox);
        let mut tried = HashSet::new();
        let mut last = String::from("the swarm is empty");
        while let Some(peer) = candidates.first().copied() {
            candidates.remove(0);
            if !tried.insert(peer) || tried.len() > 16 {
                continue;
            }
            match self.request(peer, req).await {
                Ok(SwarmResponse::WrongSwarm { swarm }) => {
                    let redirect: Vec<PeerId> = swarm
                        .iter()
                        .filter_map(|b| PeerId::from_bytes(b).ok())
                        .filter(|p| self.ctx.set.members().contains(p))
                        .collect();
                    candidates.splice(0..0, redirect);
                    last = "redirected".into();
                }
                Ok(r) => return Ok((peer, r)),
                Err(e) => last = e.to_string(),
            }
        }
        Err(NetError::NoSwarm(last))
    }

    /// Stops the node: the event loop ends, connections close, background tasks stop. The
    /// store closes when the last handle is dropped.
    pub async fn shutdown(&self) {
        let _ = self.ctx.command(|reply| Command::Shutdown { reply }).await;
    }
}
