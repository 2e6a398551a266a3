//! The reader's health ([`Health`], [`SyncState`]) and the handle a running reader is used
//! through ([`RegistryHandle`]): the current set, change notifications, waiting for the first sync.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pars_error::{ErrorKind, HasKind};
use tokio::sync::watch;

use crate::error::RegistryError;
use crate::types::RegistrySnapshot;

/// Where the reader stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncState {
    /// No step has succeeded yet (the served set, if any, is the cache's).
    Starting,
    /// Following the chain but more than one log range behind the safe block.
    CatchingUp,
    /// Up to date: the set is the registry's at [`Health::synced_block`], the safe block.
    Synced,
    /// The last step failed: the last known set is served while retrying.
    Degraded,
}

/// A failure with the time it happened.
#[derive(Clone, Debug)]
pub struct HealthError {
    /// When.
    pub at: SystemTime,
    /// What.
    pub error: RegistryError,
}

/// The reader's health, for logs, `parsctl status` and tests.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Health {
    /// Current state.
    pub state: SyncState,
    /// The served set came from the cache file and has not been confirmed by the chain since.
    pub from_cache: bool,
    /// The last block whose state the set reflects.
    pub synced_block: Option<u64>,
    /// The chain head at the last successful step.
    pub head: Option<u64>,
    /// When a step last succeeded.
    pub last_success: Option<SystemTime>,
    /// The most recent failure (kept after recovery, see `state`).
    pub last_error: Option<HealthError>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// The wait before the next retry, while degraded.
    pub retry_in: Option<Duration>,
    /// Full reloads after a reorg or a changed chain history.
    pub reloads: u64,
    /// The last cache write failure, cleared by a successful write.
    pub cache_error: Option<RegistryError>,
}

impl Health {
    pub(crate) fn new() -> Self {
        Self {
            state: SyncState::Starting,
            from_cache: false,
            synced_block: None,
            head: None,
            last_success: None,
            last_error: None,
            consecutive_failures: 0,
            retry_in: None,
            reloads: 0,
            cache_error: None,
        }
    }
}

/// A cloneable handle on a running reader: the current set, change notifications, health.
/// The reader stops when [`RegistryHandle::shutdown`] is called or every handle is dropped.
#[derive(Clone, Debug)]
pub struct RegistryHandle {
    pub(crate) snapshot: watch::Receiver<Arc<RegistrySnapshot>>,
    pub(crate) health: watch::Receiver<Health>,
    pub(crate) shutdown: Arc<watch::Sender<bool>>,
}

impl RegistryHandle {
    /// The current active set (cheap: shared).
    pub fn snapshot(&self) -> Arc<RegistrySnapshot> {
        self.snapshot.borrow().clone()
    }

    /// Notified whenever the set changes (not on every new block).
    pub fn subscribe(&self) -> watch::Receiver<Arc<RegistrySnapshot>> {
        self.snapshot.clone()
    }

    /// The reader's current health.
    pub fn health(&self) -> Health {
        self.health.borrow().clone()
    }

    /// Notified on every health change (each step).
    pub fn subscribe_health(&self) -> watch::Receiver<Health> {
        self.health.clone()
    }

    /// Asks the reader to stop; its task ends at the next await point.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send_replace(true);
    }

    /// Waits until the reader has synced with the chain once, and returns the set. Fails at once
    /// on errors that need the operator (wrong chain, no contract at the address); otherwise
    /// waits up to `timeout` and returns the last error (or a timeout) if it did not sync.
    pub async fn wait_synced(
        &self,
        timeout: Duration,
    ) -> Result<Arc<RegistrySnapshot>, RegistryError> {
        let mut rx = self.health.clone();
        let outcome = tokio::time::timeout(timeout, async {
            loop {
                {
                    let h = rx.borrow_and_update();
                    if h.state == SyncState::Synced {
                        return Ok(());
                    }
                    if let Some(e) = &h.last_error
                        && matches!(e.error.kind(), ErrorKind::Config | ErrorKind::WrongChain)
                        && h.state == SyncState::Degraded
                    {
                        return Err(e.error.clone());
                    }
                }
                if rx.changed().await.is_err() {
                    return Err(RegistryError::Config(
                        "the registry reader has stopped".into(),
                    ));
                }
            }
        })
        .await;
        match outcome {
            Ok(Ok(())) => Ok(self.snapshot()),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                Err(self
                    .health()
                    .last_error
                    .map(|e| e.error)
                    .unwrap_or(RegistryError::Timeout {
                        what: "the first registry sync",
                        after: timeout,
                    }))
            }
        }
    }
}
