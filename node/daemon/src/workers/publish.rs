//! The bundle publisher: keeps the signed identity bundle in the own `Bundle` mailbox — on
//! creation or restore, after a prekey rotation, and periodically.

use super::shared::{Shared, sleep_or_stop};
use crate::app::Event;
use crate::logging::Redacted;
use pars_wire::swarm::{MAX_TTL_MS, Mailbox};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Retry delay of a failed bundle publication.
const PUBLISH_RETRY: Duration = Duration::from_secs(3);
/// How often the prekey rotation is checked.
const ROTATION_CHECK: Duration = Duration::from_secs(3600);

pub(crate) async fn publish_loop(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut events = s.core.subscribe();
    let mut published: Option<(Vec<u8>, std::time::Instant)> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        let current = match s.core.current_bundle().await {
            Ok(b) => b,
            Err(_) => return, // the core has stopped
        };
        let mut wait = ROTATION_CHECK.min(s.settings.bundle_republish);
        if let Some(bundle) = current {
            let (id, bytes) = (bundle.session_id(), bundle.to_bytes());
            let due = match &published {
                Some((b, at)) => *b != bytes || at.elapsed() >= s.settings.bundle_republish,
                None => true,
            };
            if due {
                match s
                    .net
                    .store(&Mailbox::Bundle(id), MAX_TTL_MS, bytes.clone())
                    .await
                {
                    Ok(st) => {
                        tracing::info!(id = %Redacted(id), copies = st.copies, "identity bundle published");
                        published = Some((bytes, std::time::Instant::now()));
                        // The swarm can now check our retrieve requests: poll at once.
                        s.activity.notify_one();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "publishing the identity bundle failed; retrying");
                        wait = PUBLISH_RETRY;
                    }
                }
            }
        }
        let until = tokio::time::Instant::now() + wait;
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Ok(Event::IdentityChanged) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                stopped = sleep_or_stop(until.saturating_duration_since(tokio::time::Instant::now()), &mut stop) => {
                    if stopped { return }
                    break;
                }
            }
        }
    }
}
