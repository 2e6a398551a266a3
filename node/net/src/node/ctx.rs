//! [`Ctx`]: the state shared by the event loop, the handle and the request tasks.

use super::command::Command;
use super::onion_state::OnionState;
use super::stats::{Counters, NodeStats};
use crate::NetError;
use crate::codec::FrameCodec;
use crate::config::NodeConfig;
use crate::set::{Membership, ServiceNodeSet};
use crate::swarm::{Holds, SwarmService};
use libp2p::{Multiaddr, PeerId};
use pars_store::MailboxStore;
use pars_wire::NodeRecord;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, watch};

/// State shared by the loop, the handle and the request tasks.
pub(super) struct Ctx {
    pub local: PeerId,
    pub cfg: NodeConfig,
    pub store: MailboxStore,
    pub set: Arc<dyn ServiceNodeSet>,
    /// The event loop's command queue.
    pub cmd: mpsc::Sender<Command>,
    /// Members of the current and the previous set (replication and handoff are accepted from
    /// both, so a leaving node can hand off).
    pub recent: Mutex<HashSet<PeerId>>,
    pub record: RwLock<NodeRecord>,
    /// The node key (re-signs the record when the onion keys change).
    pub key: libp2p::identity::Keypair,
    /// The addresses put in the record.
    pub record_addrs: Vec<Multiaddr>,
    pub onion: OnionState,
    pub codec: FrameCodec,
    /// The swarm protocol's sans-IO core.
    pub service: SwarmService,
    /// Waiting retrieves held now, with their wake-ups.
    pub holds: Mutex<Holds<oneshot::Sender<()>>>,
    /// The monotonic origin of hold deadlines.
    pub started: Instant,
    pub counters: Counters,
    /// The membership the last rebalance round saw.
    pub rebalance: tokio::sync::Mutex<Arc<Membership>>,
    pub shutdown: watch::Sender<bool>,
}

impl Ctx {
    pub fn record(&self) -> NodeRecord {
        match self.record.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn is_recent_member(&self, peer: &PeerId) -> bool {
        self.recent
            .lock()
            .map(|r| r.contains(peer))
            .unwrap_or(false)
    }

    /// Sends a command that carries a reply channel to the event loop and waits for the reply.
    pub async fn command<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(make(tx))
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// The swarm-protocol counters.
    pub fn stats(&self) -> NodeStats {
        let waiting = self.holds.lock().map_or(0, |h| h.len() as u64);
        self.counters.snapshot(self.codec.rejected(), waiting)
    }
}
