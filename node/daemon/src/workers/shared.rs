//! What the workers share: their settings, their common state and a stoppable sleep.

use crate::app::Core;
use crate::net::Network;
use pars_wire::swarm::DEFAULT_TTL_MS;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Tunables of the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSettings {
    /// Poll interval right after activity (a send, a receipt, a message).
    pub poll_min: Duration,
    /// Poll interval when idle; the interval grows from `poll_min` to it by half each round.
    pub poll_max: Duration,
    /// How often the bundle is re-published even if it did not change.
    pub bundle_republish: Duration,
    /// TTL of stored messages, milliseconds.
    pub message_ttl_ms: u64,
    /// Largest item the delivery worker stores (what one onion packet carries); several
    /// messages to one recipient are batched up to it.
    pub max_payload: usize,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            poll_min: Duration::from_millis(250),
            poll_max: Duration::from_secs(5),
            bundle_republish: Duration::from_secs(6 * 3600),
            message_ttl_ms: DEFAULT_TTL_MS,
            max_payload: pars_net::client::MAX_ONION_STORE_PAYLOAD,
        }
    }
}

/// How long a waiting retrieve (long-poll) asks to be held: the nodes' default bound, which
/// stays below their request timeout.
pub const LONG_POLL_WAIT: Duration = pars_net::DEFAULT_MAX_RETRIEVE_WAIT;

/// What the workers share.
pub(crate) struct Shared {
    pub(crate) core: Arc<Core>,
    pub(crate) net: Arc<dyn Network>,
    pub(crate) settings: WorkerSettings,
    /// Tells the inbox worker that a reply may follow soon (something was sent or published).
    pub(crate) activity: Notify,
}

/// Waits for `d`, or returns true when the workers are stopping.
pub(crate) async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}
