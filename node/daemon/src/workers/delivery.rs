//! The delivery worker: the outbox into each recipient's inbox swarm, in order per recipient,
//! batched up to one onion packet, with the outcome of every store recorded through the core.
//!
//! A round reads (and decodes) the outbox once; the time of the next due entry is worked out
//! from that same list and the round's outcomes.

use super::shared::Shared;
use crate::app::{Core, CoreError, Event, now};
use crate::engine::{Delivered, retry_at};
use crate::logging::Redacted;
use crate::net::{Failure, Network};
use pars_wire::records::OutboxRecord;
use pars_wire::swarm::Mailbox;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// The longest the delivery worker sleeps without a wakeup.
const DELIVERY_IDLE: Duration = Duration::from_secs(30);
/// Pause after the outbox could not be read.
const UNREADABLE_RETRY: Duration = Duration::from_secs(3);

pub(crate) async fn delivery_loop(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut events = s.core.subscribe();
    loop {
        if *stop.borrow() {
            return;
        }
        let wait = match deliver_round(
            &s.core,
            s.net.as_ref(),
            s.settings.message_ttl_ms,
            s.settings.max_payload,
        )
        .await
        {
            Ok((sent, next)) => {
                if sent > 0 {
                    // A reply may follow soon: poll quickly for a while.
                    s.activity.notify_one();
                }
                match next {
                    Some(next) => {
                        Duration::from_secs(next.saturating_sub(now())).min(DELIVERY_IDLE)
                    }
                    None => DELIVERY_IDLE,
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "outbox unreadable; retrying");
                UNREADABLE_RETRY
            }
        };
        let until = tokio::time::Instant::now() + wait;
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Ok(Event::OutboxChanged) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tokio::time::sleep_until(until) => break,
                _ = stop.changed() => return,
            }
        }
    }
}

/// The outbox of one recipient, in the order it must arrive: user messages by their position
/// in the conversation; control messages (receipts) are independent of each other.
#[derive(Default)]
struct Queue {
    ordered: Vec<OutboxRecord>,
    control: Vec<OutboxRecord>,
}

/// One pass over the outbox. Per recipient, the user messages go strictly in order: the first
/// that is not due or fails holds back the ones after it, so a recipient never sees message
/// n+1 before message n because of a retry. Several due entries to one recipient are stored
/// as one batch item ([`pars_wire::envelope`]) of at most `max_payload` bytes, in queue order,
/// so a burst costs one network round trip per batch, not per message. Returns how many
/// entries left the outbox and the time of the next due entry.
pub async fn deliver_round(
    core: &Core,
    net: &dyn Network,
    ttl_ms: u64,
    max_payload: usize,
) -> Result<(usize, Option<u64>), CoreError> {
    let all = core.outbox().await?;
    let mut queues: BTreeMap<[u8; 33], Queue> = BTreeMap::new();
    for r in all {
        let q = queues.entry(*r.recipient.as_bytes()).or_default();
        if r.message_key.is_empty() {
            q.control.push(r);
        } else {
            q.ordered.push(r);
        }
    }
    let mut sent = 0;
    let mut next: Option<u64> = None;
    let mut later = |t: u64| next = Some(next.map_or(t, |n| n.min(t)));
    let t = now();
    for (_, q) in queues {
        let Queue {
            mut ordered,
            control,
        } = q;
        ordered.sort_by(|a, b| a.message_key.cmp(&b.message_key));
        // The due prefix of the ordered messages, then the due control messages.
        let split = ordered
            .iter()
            .position(|r| r.next_attempt > t)
            .unwrap_or(ordered.len());
        let held = ordered.split_off(split);
        let (mut due, not_due): (Vec<_>, Vec<_>) =
            control.into_iter().partition(|r| r.next_attempt <= t);
        let mut all_due = ordered;
        all_due.append(&mut due);
        for r in held.iter().chain(not_due.iter()) {
            later(r.next_attempt);
        }
        let mut chunks = batches(all_due, max_payload).into_iter();
        for chunk in chunks.by_ref() {
            let outcomes = send_chunk(net, ttl_ms, &chunk).await;
            let go_on = !outcomes
                .iter()
                .any(|o| matches!(o, Delivered::Retry { .. }));
            for (o, r) in outcomes.iter().zip(&chunk) {
                match o {
                    Delivered::Stored { .. } | Delivered::Failed { .. } => sent += 1,
                    Delivered::Retry { .. } => later(retry_at(r.attempts.saturating_add(1), now())),
                }
            }
            // Entries after the one that stays queued are not tried this round.
            for r in chunk.iter().skip(outcomes.len()) {
                later(r.next_attempt.max(t));
            }
            core.record_deliveries(outcomes).await?;
            if !go_on {
                break;
            }
        }
        for chunk in chunks {
            for r in chunk {
                later(r.next_attempt.max(t));
            }
        }
    }
    Ok((sent, next))
}

/// Splits `due` (in order) into consecutive chunks whose batch encoding fits `max_payload`.
fn batches(due: Vec<OutboxRecord>, max_payload: usize) -> Vec<Vec<OutboxRecord>> {
    use pars_wire::envelope::{ITEM_OVERHEAD, MAX_BATCH_ITEMS, batch_len};
    let mut out: Vec<Vec<OutboxRecord>> = Vec::new();
    let mut len = 0;
    for r in due {
        match out.last_mut() {
            Some(c)
                if c.len() < MAX_BATCH_ITEMS
                    && len + ITEM_OVERHEAD + r.blob.len() <= max_payload =>
            {
                len += ITEM_OVERHEAD + r.blob.len();
                c.push(r);
            }
            _ => {
                len = batch_len([r.blob.len()]);
                out.push(vec![r]);
            }
        }
    }
    out
}

/// Stores one chunk: a single entry as it is, several as one batch. Returns the outcome of each
/// entry tried, in order; the entries after one that stays queued are not tried.
async fn send_chunk(net: &dyn Network, ttl_ms: u64, chunk: &[OutboxRecord]) -> Vec<Delivered> {
    let [first, ..] = chunk else {
        return Vec::new();
    };
    if chunk.len() == 1 {
        return vec![send_one(net, ttl_ms, first).await];
    }
    let recipient = first.recipient;
    let blobs: Vec<&[u8]> = chunk.iter().map(|r| r.blob.as_slice()).collect();
    let payload = match pars_wire::envelope::encode_batch(&blobs) {
        Ok(p) => p,
        Err(_) => return send_each(net, ttl_ms, chunk).await,
    };
    match net.store(&Mailbox::Inbox(recipient), ttl_ms, payload).await {
        Ok(st) => {
            tracing::debug!(
                to = %Redacted(recipient),
                messages = chunk.len(),
                copies = st.copies,
                duplicate = st.duplicate,
                "message batch stored in the recipient's swarm"
            );
            chunk
                .iter()
                .map(|r| Delivered::Stored {
                    id: r.id,
                    copies: u32::from(st.copies),
                })
                .collect()
        }
        // Refused for good: find out which entry it is by sending them one by one.
        Err(e) if e.class == Failure::Permanent => send_each(net, ttl_ms, chunk).await,
        Err(e) => {
            tracing::warn!(
                to = %Redacted(recipient),
                messages = chunk.len(),
                error = %e,
                "could not store a message batch; it stays queued"
            );
            chunk
                .iter()
                .map(|r| Delivered::Retry { id: r.id })
                .collect()
        }
    }
}

/// Stores the entries one at a time, in order, stopping after the first that stays queued.
async fn send_each(net: &dyn Network, ttl_ms: u64, chunk: &[OutboxRecord]) -> Vec<Delivered> {
    let mut out = Vec::new();
    for r in chunk {
        let o = send_one(net, ttl_ms, r).await;
        let stop = matches!(o, Delivered::Retry { .. });
        out.push(o);
        if stop {
            break;
        }
    }
    out
}

/// Stores one outbox entry.
async fn send_one(net: &dyn Network, ttl_ms: u64, r: &OutboxRecord) -> Delivered {
    match net
        .store(&Mailbox::Inbox(r.recipient), ttl_ms, r.blob.clone())
        .await
    {
        Ok(st) => {
            tracing::debug!(
                to = %Redacted(r.recipient),
                copies = st.copies,
                duplicate = st.duplicate,
                "message stored in the recipient's swarm"
            );
            Delivered::Stored {
                id: r.id,
                copies: u32::from(st.copies),
            }
        }
        // Later messages must not wait behind it.
        Err(e) if e.class == Failure::Permanent => {
            tracing::warn!(to = %Redacted(r.recipient), error = %e, "the network refused a message for good");
            Delivered::Failed {
                id: r.id,
                reason: format!("refused by the network: {e}"),
            }
        }
        Err(e) => {
            tracing::warn!(
                to = %Redacted(r.recipient),
                attempt = r.attempts + 1,
                error = %e,
                "could not store a message; it stays queued"
            );
            Delivered::Retry { id: r.id }
        }
    }
}
