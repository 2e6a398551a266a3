//! The daemon's background work, as clients of the [`Core`] over the [`Network`] seam:
//!
//! - the **delivery worker** ([`delivery`]) sends the outbox into each recipient's inbox swarm,
//!   in order per recipient, and records the copies (or a failed attempt, retried with
//!   backoff);
//! - the **inbox worker** ([`inbox`]) drives the sans-IO [`scheduler`]: a long-poll held at
//!   one member of the own swarm, poll rounds asking every member at once, each message handed
//!   to the core and then deleted from the swarm once durably ingested;
//! - the **bundle publisher** ([`publish`]) keeps the signed identity bundle in the own `Bundle`
//!   mailbox (on creation or restore, after a prekey rotation, and periodically);
//! - the **group worker** ([`groups`]) runs group tasks (key packages, invitations), stores the
//!   group outbox and reads the group mailboxes.
//!
//! All state that matters lives in the encrypted store, so every worker picks up where it was
//! after a restart or an offline period; what is in memory (cursors) only saves work.

pub mod delivery;
pub mod groups;
pub mod inbox;
pub mod publish;
pub mod scheduler;
mod shared;

pub use shared::{LONG_POLL_WAIT, WorkerSettings};

use crate::app::Core;
use crate::net::Network;
use shared::Shared;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// How long [`Workers::stop`] lets a worker finish a network operation.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Running workers; [`Workers::stop`] ends them.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("tasks", &self.tasks.len())
            .finish()
    }
}

impl Workers {
    /// Stops every worker after its current step and waits for them, at most
    /// [`STOP_GRACE`]; a worker still waiting on the network then is cancelled. Either way
    /// nothing is half-written: each core call commits atomically on the core thread.
    pub async fn stop(self) {
        let _ = self.stop.send_replace(true);
        for mut t in self.tasks {
            if tokio::time::timeout(STOP_GRACE, &mut t).await.is_err() {
                t.abort();
                let _ = t.await;
            }
        }
    }
}

/// Starts the delivery worker, the inbox worker, the bundle publisher and the group worker.
pub fn spawn(core: Arc<Core>, net: Arc<dyn Network>, settings: WorkerSettings) -> Workers {
    let (stop, rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        core,
        net,
        settings,
        activity: Notify::new(),
    });
    let tasks = vec![
        tokio::spawn(delivery::delivery_loop(shared.clone(), rx.clone())),
        tokio::spawn(inbox::inbox_loop(shared.clone(), rx.clone())),
        tokio::spawn(groups::groups_loop(shared.clone(), rx.clone())),
        tokio::spawn(publish::publish_loop(shared, rx)),
    ];
    Workers { stop, tasks }
}
