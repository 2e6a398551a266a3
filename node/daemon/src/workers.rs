//! The daemon's background work over a [`Transport`]:
//!
//! - the **delivery worker** sends the outbox into each recipient's inbox swarm, in order per
//!   recipient, and records the copies (or a failed attempt, retried with backoff);
//! - the **poll worker** fetches the own inbox at an adaptive interval (quick after a send or a
//!   receipt, slower when idle), hands each message to [`Daemon::ingest`] and then deletes from
//!   the swarm what was durably ingested;
//! - the **bundle publisher** keeps the signed identity bundle in the own `Bundle` mailbox (on
//!   creation or restore, after a prekey rotation, and periodically);
//! - [`NetCourier`] is the RPC layer's [`Courier`]: it fetches recipients' bundles and lists
//!   peers.
//!
//! All state that matters lives in the encrypted store, so every worker picks up where it was
//! after a restart or an offline period; what is in memory (cursors) only saves work.

use crate::engine::{EngineError, Received};
use crate::logging::Redacted;
use crate::rpc::{Courier, Daemon, now};
use crate::transport::{NetSlot, Transport};
use jsonrpsee::core::async_trait;
use libp2p::PeerId;
use pars_crypto::SessionId;
use pars_crypto::bundle::IdentityBundle;
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_net::ServiceNodeSet;
use pars_rpc::types::PeerInfo;
use pars_wire::records::OutboxRecord;
use pars_wire::swarm::{ContentHash, DEFAULT_TTL_MS, MAX_TTL_MS, Mailbox};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

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

/// The longest the delivery worker sleeps without a wakeup.
const DELIVERY_IDLE: Duration = Duration::from_secs(30);
/// Retry delay of a failed bundle publication.
const PUBLISH_RETRY: Duration = Duration::from_secs(3);
/// How often the prekey rotation is checked.
const ROTATION_CHECK: Duration = Duration::from_secs(3600);
/// How long a waiting retrieve (long-poll) asks to be held: the nodes' default bound, which
/// stays below their request timeout.
pub const LONG_POLL_WAIT: Duration = pars_net::DEFAULT_MAX_RETRIEVE_WAIT;
/// After a long-poll the node does not understand (an older node), the poll worker polls
/// adaptively for this long before it tries again; it is also the longest pause after other
/// failures.
const LONG_POLL_BACKOFF: Duration = Duration::from_secs(60);
/// The first pause after a transient long-poll failure (no path yet, an unreachable member, a
/// timeout); it doubles while the failures go on.
const LONG_POLL_RETRY: Duration = Duration::from_secs(1);
/// Undecryptable items kept in memory for a retry (a later message of a session may arrive
/// before the one that opens it).
const MAX_RETRY_ITEMS: usize = 1024;
/// Most ingested items waiting to be deleted from the swarm.
const MAX_PENDING_DELETES: usize = 4 * pars_wire::swarm::MAX_HASHES;

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
    /// nothing is half-written: each engine call commits atomically and has no await inside.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for mut t in self.tasks {
            if tokio::time::timeout(STOP_GRACE, &mut t).await.is_err() {
                t.abort();
                let _ = t.await;
            }
        }
    }
}

/// How long [`Workers::stop`] lets a worker finish a network operation.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

struct Shared {
    daemon: Arc<Daemon>,
    net: Arc<dyn Transport>,
    settings: WorkerSettings,
    /// Wakes the poll worker and resets its interval.
    poll_now: Notify,
}

/// Starts the delivery worker, the poll worker and the bundle publisher.
pub fn spawn(daemon: Arc<Daemon>, net: Arc<dyn Transport>, settings: WorkerSettings) -> Workers {
    let (stop, rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        daemon,
        net,
        settings,
        poll_now: Notify::new(),
    });
    let tasks = vec![
        tokio::spawn(delivery_loop(shared.clone(), rx.clone())),
        tokio::spawn(poll_loop(shared.clone(), rx.clone())),
        tokio::spawn(publish_loop(shared, rx)),
    ];
    Workers { stop, tasks }
}

/// Waits for `d`, or returns true when the workers are stopping.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

// ---------------------------------------------------------------------------------------------
// Delivery.

async fn delivery_loop(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let wait = match deliver_round(&s).await {
            Ok(Some(next)) => Duration::from_secs(next.saturating_sub(now())).min(DELIVERY_IDLE),
            Ok(None) => DELIVERY_IDLE,
            Err(e) => {
                tracing::error!(error = %e, "outbox unreadable; retrying");
                PUBLISH_RETRY
            }
        };
        tokio::select! {
            _ = s.daemon.outbox_wakeup().notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
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
pub async fn deliver_round_for(
    daemon: &Daemon,
    net: &dyn Transport,
    ttl_ms: u64,
    max_payload: usize,
) -> Result<(usize, Option<u64>), EngineError> {
    let all = daemon.with_engine(|e, _| e.outbox_due(u64::MAX)).await?;
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
    let t = now();
    for (_, mut q) in queues {
        q.ordered.sort_by(|a, b| a.message_key.cmp(&b.message_key));
        // The due prefix of the ordered messages, then the due control messages.
        let mut due: Vec<OutboxRecord> = q
            .ordered
            .into_iter()
            .take_while(|r| r.next_attempt <= t)
            .collect();
        due.extend(q.control.into_iter().filter(|r| r.next_attempt <= t));
        for chunk in batches(due, max_payload) {
            let (n, go_on) = send_chunk(daemon, net, ttl_ms, chunk).await?;
            sent += n;
            if !go_on {
                break;
            }
        }
    }
    let next = daemon
        .with_engine(|e, _| e.outbox_due(u64::MAX))
        .await?
        .iter()
        .map(|r| r.next_attempt)
        .min();
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

/// Stores one chunk: a single entry as it is, several as one batch. Returns how many left the
/// outbox and whether the recipient's later entries may go now.
async fn send_chunk(
    daemon: &Daemon,
    net: &dyn Transport,
    ttl_ms: u64,
    chunk: Vec<OutboxRecord>,
) -> Result<(usize, bool), EngineError> {
    if chunk.len() == 1 {
        let ok = send_one(daemon, net, ttl_ms, &chunk[0]).await?;
        return Ok((usize::from(ok), ok));
    }
    let Some(first) = chunk.first() else {
        return Ok((0, true));
    };
    let recipient = first.recipient;
    let blobs: Vec<&[u8]> = chunk.iter().map(|r| r.blob.as_slice()).collect();
    let payload = match pars_wire::envelope::encode_batch(&blobs) {
        Ok(p) => p,
        Err(_) => return send_each(daemon, net, ttl_ms, &chunk).await,
    };
    let mailbox = Mailbox::Inbox(recipient);
    match net.store(&mailbox, ttl_ms, payload).await {
        Ok(st) => {
            tracing::debug!(
                to = %Redacted(recipient),
                messages = chunk.len(),
                copies = st.copies,
                duplicate = st.duplicate,
                "message batch stored in the recipient's swarm"
            );
            let ids: Vec<_> = chunk.iter().map(|r| r.id).collect();
            // One durable commit for the whole batch (not one per message: the engine is
            // locked meanwhile, and sendMessage waits for it).
            daemon
                .with_engine(|e, rng| e.mark_stored_all(&ids, u32::from(st.copies), rng))
                .await?;
            Ok((chunk.len(), true))
        }
        // Refused for good: find out which entry it is by sending them one by one.
        Err(e) if permanent(&e) => send_each(daemon, net, ttl_ms, &chunk).await,
        Err(e) => {
            tracing::warn!(
                to = %Redacted(recipient),
                messages = chunk.len(),
                error = %e,
                "could not store a message batch; it stays queued"
            );
            let ids: Vec<_> = chunk.iter().map(|r| r.id).collect();
            daemon
                .with_engine(|eng, rng| {
                    ids.iter()
                        .try_for_each(|id| eng.mark_attempt_failed(id, now(), rng))
                })
                .await?;
            Ok((0, false))
        }
    }
}

/// Stores the entries one at a time, in order, stopping at the first that stays queued.
async fn send_each(
    daemon: &Daemon,
    net: &dyn Transport,
    ttl_ms: u64,
    chunk: &[OutboxRecord],
) -> Result<(usize, bool), EngineError> {
    let mut n = 0;
    for r in chunk {
        if !send_one(daemon, net, ttl_ms, r).await? {
            return Ok((n, false));
        }
        n += 1;
    }
    Ok((n, true))
}

async fn deliver_round(s: &Shared) -> Result<Option<u64>, EngineError> {
    let (sent, next) = deliver_round_for(
        &s.daemon,
        s.net.as_ref(),
        s.settings.message_ttl_ms,
        s.settings.max_payload,
    )
    .await?;
    if sent > 0 {
        // A reply may follow soon: poll quickly for a while.
        s.poll_now.notify_one();
    }
    Ok(next)
}

/// A refusal that no retry can change (the message itself is unacceptable).
fn permanent(e: &pars_net::NetError) -> bool {
    use pars_wire::swarm::ErrorCode;
    matches!(
        e,
        pars_net::NetError::Refused {
            code: ErrorCode::TooLarge | ErrorCode::InvalidContent | ErrorCode::BadTtl,
            ..
        }
    )
}

/// Stores one outbox entry; true when it left the outbox (stored, or failed for good).
async fn send_one(
    daemon: &Daemon,
    net: &dyn Transport,
    ttl_ms: u64,
    r: &OutboxRecord,
) -> Result<bool, EngineError> {
    let mailbox = Mailbox::Inbox(r.recipient);
    match net.store(&mailbox, ttl_ms, r.blob.clone()).await {
        Ok(st) => {
            tracing::debug!(
                to = %Redacted(r.recipient),
                copies = st.copies,
                duplicate = st.duplicate,
                "message stored in the recipient's swarm"
            );
            daemon
                .with_engine(|e, rng| e.mark_stored(&r.id, u32::from(st.copies), rng))
                .await?;
            Ok(true)
        }
        Err(e) if permanent(&e) => {
            tracing::warn!(to = %Redacted(r.recipient), error = %e, "the network refused a message for good");
            let reason = format!("refused by the network: {e}");
            daemon
                .with_engine(|eng, rng| eng.mark_failed(&r.id, &reason, rng))
                .await?;
            // Later messages must not wait behind it.
            Ok(true)
        }
        Err(e) => {
            tracing::warn!(
                to = %Redacted(r.recipient),
                attempt = r.attempts + 1,
                error = %e,
                "could not store a message; it stays queued"
            );
            daemon
                .with_engine(|eng, rng| eng.mark_attempt_failed(&r.id, now(), rng))
                .await?;
            Ok(false)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Polling.

/// What the poll worker keeps between rounds.
#[derive(Default)]
pub struct PollState {
    /// Per swarm member: the last sequence number seen.
    cursors: HashMap<PeerId, u64>,
    /// Round-robin position over the swarm.
    next_member: usize,
    /// Items that could not be opened yet, by hash.
    retry: HashMap<ContentHash, Vec<u8>>,
    /// The delete in flight (at most one).
    deleting: Option<JoinHandle<()>>,
    /// Ingested items to delete from the swarm once the delete in flight is done.
    to_delete: Vec<ContentHash>,
}

impl std::fmt::Debug for PollState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollState")
            .field("members", &self.cursors.len())
            .field("retry", &self.retry.len())
            .finish()
    }
}

fn identity(daemon_engine: &crate::engine::Engine) -> Option<(SessionId, MlDsaSigningKey)> {
    let k = daemon_engine.keys().ok()?;
    Some((k.session_id(), k.signing_key().mldsa.clone()))
}

/// A long-poll in flight: its task and the member it waits at.
type LongPoll = JoinHandle<Result<crate::transport::Page, pars_net::NetError>>;

/// The poll worker. Besides the adaptive polling it keeps one long-poll outstanding at a
/// member of the own swarm: the member answers it as soon as a message arrives there, so a
/// message is fetched when it lands rather than at the next poll. While it is outstanding it
/// is the way mail comes in: an answer re-arms it at once after what it gave (further pages,
/// and what lands meanwhile, are answered without delay), and the adaptive poll of all
/// members runs only as a safety net, `poll_max` after the last round or the last answer with
/// news. When a long-poll fails (a node without waiting retrieves, a busy or dead member, no
/// path yet) the worker polls adaptively alone for a while ([`long_poll_pause`]): quickly
/// while mail keeps coming or after a send, slower when idle.
async fn poll_loop(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut state = PollState::default();
    let mut interval = s.settings.poll_min;
    let mut long_poll: Option<LongPoll> = None;
    let mut long_poll_after = tokio::time::Instant::now();
    let mut long_poll_failures: u32 = 0;
    let mut poll = true;
    // When the next poll round is due: set when a round runs, and put off by a long-poll
    // answer that brought news (while the held long-poll keeps bringing mail a round would
    // only cost the answers after it a round trip; the safety net runs in the first pause).
    // Empty answers (every 8 s when idle) do not put it off, so it runs every `poll_max`.
    let mut poll_at = tokio::time::Instant::now();
    loop {
        if *stop.borrow() {
            break;
        }
        let mut news = false;
        if poll {
            match poll_once(&s.daemon, &s.net, &mut state).await {
                Ok(n) if n > 0 => {
                    interval = s.settings.poll_min;
                    news = true;
                }
                Ok(_) => interval = (interval * 3 / 2).min(s.settings.poll_max),
                Err(e) => {
                    tracing::debug!(error = %e, "polling the inbox failed; will retry");
                    interval = (interval * 3 / 2).min(s.settings.poll_max);
                }
            }
        }
        if long_poll.is_none() && tokio::time::Instant::now() >= long_poll_after {
            long_poll = start_long_poll(&s, &state, None).await;
        }
        if news && long_poll.is_none() {
            // More may be waiting (a burst, or pages at the next member), and no long-poll
            // brings it: poll again at once.
            poll = true;
            continue;
        }
        let now = tokio::time::Instant::now();
        if poll {
            poll_at = now
                + if long_poll.is_some() {
                    s.settings.poll_max
                } else {
                    interval
                };
        }
        // Without a long-poll, also wake for the next attempt at one if that comes first (one
        // that is already due could not start just now: no identity or no swarm yet).
        let wake = if long_poll.is_none() && long_poll_after > now {
            poll_at.min(long_poll_after)
        } else {
            poll_at
        };
        tokio::select! {
            done = async {
                match long_poll.as_mut() {
                    Some(h) => h.await,
                    None => std::future::pending().await,
                }
            }, if long_poll.is_some() => {
                long_poll = None;
                match done {
                    Ok(Ok(page)) => {
                        long_poll_failures = 0;
                        // An answer (news, or empty at the bound): wait again at once at the
                        // same member after what it gave, then take the page.
                        advance_cursor(&mut state, &page);
                        long_poll = start_long_poll(&s, &state, Some(page.member)).await;
                        match absorb_page(&s.daemon, &s.net, &mut state, page).await {
                            Ok(n) if n > 0 => {
                                interval = s.settings.poll_min;
                                poll_at = poll_at.max(tokio::time::Instant::now() + s.settings.poll_max);
                            }
                            Ok(_) => {}
                            Err(e) => tracing::debug!(error = %e, "long-poll answer not handled"),
                        }
                        // The re-armed long-poll brings what follows; no poll round now.
                        poll = long_poll.is_none();
                    }
                    Ok(Err(e)) => {
                        long_poll_failures = long_poll_failures.saturating_add(1);
                        let pause = long_poll_pause(Some(&e), long_poll_failures);
                        tracing::debug!(error = %e, pause_ms = pause.as_millis() as u64, "long-poll failed; polling adaptively for a while");
                        long_poll_after = tokio::time::Instant::now() + pause;
                        poll = true;
                    }
                    Err(e) => {
                        long_poll_failures = long_poll_failures.saturating_add(1);
                        let pause = long_poll_pause(None, long_poll_failures);
                        tracing::debug!(error = %e, pause_ms = pause.as_millis() as u64, "long-poll task ended");
                        long_poll_after = tokio::time::Instant::now() + pause;
                        poll = true;
                    }
                }
            }
            // After a send a reply may follow soon. An outstanding long-poll brings it;
            // without one, poll now and quickly for a while.
            _ = s.poll_now.notified() => {
                interval = s.settings.poll_min;
                poll = long_poll.is_none();
            }
            // The next poll round, or the next long-poll attempt (which needs no round).
            _ = tokio::time::sleep_until(wake) => {
                poll = tokio::time::Instant::now() >= poll_at;
            }
            _ = stop.changed() => break,
        }
    }
    if let Some(h) = long_poll {
        h.abort();
    }
}

/// How long the poll worker polls adaptively alone after a failed long-poll, the `failures`-th
/// in a row (`None`: the task ended without an answer). A node that does not understand the
/// request is not asked again for [`LONG_POLL_BACKOFF`]; a busy node is asked again when it
/// says; anything else (no path yet, an unreachable member, a timeout) is transient: again
/// after [`LONG_POLL_RETRY`], doubling while it goes on, up to [`LONG_POLL_BACKOFF`].
fn long_poll_pause(e: Option<&pars_net::NetError>, failures: u32) -> Duration {
    use pars_net::NetError;
    use pars_wire::swarm::ErrorCode;
    let transient = LONG_POLL_RETRY
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(LONG_POLL_BACKOFF);
    match e {
        Some(NetError::Refused {
            code: ErrorCode::Malformed | ErrorCode::Forbidden | ErrorCode::Other(_),
            ..
        }) => LONG_POLL_BACKOFF,
        Some(NetError::Refused {
            code: ErrorCode::Busy | ErrorCode::RateLimited,
            value,
            ..
        }) => Duration::from_millis(u64::from(*value))
            .max(transient)
            .min(LONG_POLL_BACKOFF),
        _ => transient,
    }
}

/// Starts a long-poll at `member` (if it is still in the swarm), or else at the member the next
/// poll round would ask, after the member's cursor.
async fn start_long_poll(
    s: &Arc<Shared>,
    state: &PollState,
    member: Option<PeerId>,
) -> Option<LongPoll> {
    let (id, key) = s.daemon.with_engine(|e, _| identity(e)).await?;
    let mailbox = Mailbox::Inbox(id);
    let members = s.net.swarm_of(&mailbox);
    let member = match member {
        Some(m) if members.contains(&m) => m,
        _ => *members.get(state.next_member % members.len().max(1))?,
    };
    let after = state.cursors.get(&member).copied().unwrap_or(0);
    let net = s.net.clone();
    Some(tokio::spawn(async move {
        net.retrieve_wait(&mailbox, member, after, Some(&key), LONG_POLL_WAIT)
            .await
    }))
}

/// Moves the answering member's cursor past a page (never back).
fn advance_cursor(state: &mut PollState, page: &crate::transport::Page) {
    if let Some(last) = page.items.last() {
        let c = state.cursors.entry(page.member).or_default();
        *c = (*c).max(last.seq);
    }
}

/// Handles a long-poll's page like a poll round's: advances the member's cursor, ingests and
/// deletes. Returns how many new messages or receipts arrived.
async fn absorb_page(
    daemon: &Daemon,
    net: &Arc<dyn Transport>,
    state: &mut PollState,
    page: crate::transport::Page,
) -> Result<usize, PollError> {
    let Some((id, key)) = daemon.with_engine(|e, _| identity(e)).await else {
        return Err(PollError::NoIdentity);
    };
    advance_cursor(state, &page);
    let fetched = page
        .items
        .into_iter()
        .map(|i| (i.hash, i.payload))
        .collect();
    absorb(daemon, net, Mailbox::Inbox(id), key, state, fetched).await
}

/// Why a poll round did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PollError {
    /// No identity yet: nothing to poll.
    #[error("no identity yet")]
    NoIdentity,
    /// No swarm member answered.
    #[error(transparent)]
    Net(#[from] pars_net::NetError),
    /// The local store failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// One poll round: fetches the own inbox from the next swarm member (trying the others when it
/// does not answer), ingests every item, deletes from the swarm what was durably ingested, and
/// retries items that could not be opened earlier. Returns how many new messages or receipts
/// arrived.
pub async fn poll_once(
    daemon: &Daemon,
    net: &Arc<dyn Transport>,
    state: &mut PollState,
) -> Result<usize, PollError> {
    let Some((id, key)) = daemon.with_engine(|e, _| identity(e)).await else {
        return Err(PollError::NoIdentity);
    };
    let mailbox = Mailbox::Inbox(id);
    let members = net.swarm_of(&mailbox);
    if members.is_empty() {
        return Err(PollError::Net(pars_net::NetError::NoSwarm(
            "the service-node set is empty".into(),
        )));
    }
    let mut last_err = None;
    let mut fetched = Vec::new();
    let mut answered = false;
    for i in 0..members.len() {
        let member = members[(state.next_member + i) % members.len()];
        match fetch_member(net.as_ref(), &mailbox, member, &key, state).await {
            Ok(items) => {
                fetched = items;
                answered = true;
                state.next_member = (state.next_member + i + 1) % members.len();
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    if !answered {
        return Err(PollError::Net(last_err.unwrap_or_else(|| {
            pars_net::NetError::NoSwarm("no member answered".into())
        })));
    }
    absorb(daemon, net, mailbox, key, state, fetched).await
}

/// Ingests fetched items (each once), retries the ones that could not be opened before when
/// something new arrived, and deletes from the swarm what was durably ingested. Returns how
/// many new messages or receipts arrived.
async fn absorb(
    daemon: &Daemon,
    net: &Arc<dyn Transport>,
    mailbox: Mailbox,
    key: MlDsaSigningKey,
    state: &mut PollState,
    fetched: Vec<(ContentHash, Vec<u8>)>,
) -> Result<usize, PollError> {
    let mut news = 0;
    let mut done: Vec<ContentHash> = Vec::new();
    let mut seen = HashSet::new();
    for (hash, payload) in fetched {
        if !seen.insert(hash) {
            continue;
        }
        let (n, complete) = ingest(daemon, &payload).await?;
        news += n;
        if complete {
            done.push(hash);
            state.retry.remove(&hash);
        } else if state.retry.len() < MAX_RETRY_ITEMS {
            state.retry.insert(hash, payload);
        }
    }
    if news > 0 && !state.retry.is_empty() {
        let pending: Vec<(ContentHash, Vec<u8>)> = state.retry.drain().collect();
        for (hash, payload) in pending {
            let (n, complete) = ingest(daemon, &payload).await?;
            news += n;
            if complete {
                done.push(hash);
            } else {
                state.retry.insert(hash, payload);
            }
        }
    }
    // Everything in `done` is committed to the store: removing it from the swarm loses
    // nothing. A failed delete only means it is fetched again and recognised as a duplicate.
    state.to_delete.extend(done);
    if state.to_delete.len() > MAX_PENDING_DELETES {
        // Deletes keep failing: forget the oldest (they are fetched again as duplicates).
        let excess = state.to_delete.len() - MAX_PENDING_DELETES;
        state.to_delete.drain(..excess);
    }
    flush_deletes(net, mailbox, key, state);
    Ok(news)
}

/// Sends the queued deletes unless one is still in flight: one at a time, beside the polling
/// (never waited for, so a slow delete does not hold back the next message). What queues
/// meanwhile goes with the next round.
fn flush_deletes(
    net: &Arc<dyn Transport>,
    mailbox: Mailbox,
    key: MlDsaSigningKey,
    state: &mut PollState,
) {
    if state.deleting.as_ref().is_some_and(|h| !h.is_finished()) || state.to_delete.is_empty() {
        return;
    }
    let n = state.to_delete.len().min(pars_wire::swarm::MAX_HASHES);
    let hashes: Vec<ContentHash> = state.to_delete.drain(..n).collect();
    let net = net.clone();
    state.deleting = Some(tokio::spawn(async move {
        if let Err(e) = net.delete(&mailbox, hashes, &key).await {
            tracing::debug!(error = %e, "deleting fetched messages from the swarm failed");
        }
    }));
}

/// Fetches all pages after the member's cursor.
async fn fetch_member(
    net: &dyn Transport,
    mailbox: &Mailbox,
    member: PeerId,
    key: &MlDsaSigningKey,
    state: &mut PollState,
) -> Result<Vec<(ContentHash, Vec<u8>)>, pars_net::NetError> {
    let mut out = Vec::new();
    let mut after = state.cursors.get(&member).copied().unwrap_or(0);
    loop {
        let page = net
            .retrieve_page(mailbox, Some(member), after, Some(key))
            .await?;
        if let Some(last) = page.items.last() {
            after = last.seq;
            state.cursors.insert(page.member, after);
        }
        let more = page.more && !page.items.is_empty();
        out.extend(page.items.into_iter().map(|i| (i.hash, i.payload)));
        if !more {
            return Ok(out);
        }
    }
}

/// Ingests one stored item (a single message or a batch, whose messages go in order through
/// the same path). Returns how many were new for the user and whether the item is durably
/// handled (every message new, a duplicate or a control message); an item with a message
/// that cannot be opened (yet) is kept for a retry, where its other messages are duplicates.
async fn ingest(daemon: &Daemon, payload: &[u8]) -> Result<(usize, bool), EngineError> {
    let item = match pars_wire::envelope::InboxItem::decode(payload) {
        Ok(i) => i,
        Err(e) => {
            tracing::debug!(error = %e, "malformed message batch dropped");
            return Ok((0, true));
        }
    };
    let mut news = 0;
    let mut complete = true;
    for m in item.messages() {
        match ingest_one(daemon, m).await? {
            Some(n) => news += usize::from(n),
            None => complete = false,
        }
    }
    Ok((news, complete))
}

/// Ingests one message: `Some(true)` new for the user, `Some(false)` durably handled but
/// nothing new (a duplicate, a control message), `None` not openable (yet).
async fn ingest_one(daemon: &Daemon, payload: &[u8]) -> Result<Option<bool>, EngineError> {
    match daemon.ingest(payload).await {
        Ok(Received::Message(_)) | Ok(Received::Receipt(_)) => Ok(Some(true)),
        Ok(Received::Ignored(why)) => {
            tracing::debug!(why, "received item ignored");
            Ok(Some(false))
        }
        Err(e @ (EngineError::Store(_) | EngineError::NoIdentity)) => Err(e),
        Err(e) => {
            tracing::debug!(error = %e, "a received item could not be opened");
            Ok(None)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bundle publication.

async fn publish_loop(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut published: Option<(Vec<u8>, std::time::Instant)> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        let current = s
            .daemon
            .with_engine(|e, rng| {
                e.bundle().ok()?;
                if let Err(err) = e.rotate_prekey_if_due(now(), rng) {
                    tracing::error!(error = %err, "prekey rotation failed");
                }
                e.bundle().ok().map(|b| (b.session_id(), b.to_bytes()))
            })
            .await;
        let mut wait = ROTATION_CHECK.min(s.settings.bundle_republish);
        if let Some((id, bytes)) = current {
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
                        s.poll_now.notify_one();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "publishing the identity bundle failed; retrying");
                        wait = PUBLISH_RETRY;
                    }
                }
            }
        }
        tokio::select! {
            _ = s.daemon.identity_changed().notified() => {}
            stopped = sleep_or_stop(wait, &mut stop) => if stopped { return },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Courier.

/// The RPC layer's network access.
pub struct NetCourier {
    net: NetSlot,
    set: Arc<dyn ServiceNodeSet>,
}

impl NetCourier {
    /// A courier over the transport in `net` (once started), describing peers with `set`.
    pub fn new(net: NetSlot, set: Arc<dyn ServiceNodeSet>) -> Self {
        Self { net, set }
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

#[async_trait]
impl Courier for NetCourier {
    async fn fetch_bundle(&self, id: &SessionId) -> Result<IdentityBundle, String> {
        let Some(net) = self.net.get() else {
            return Err(
                "the network is not joined yet (it is once this daemon has an identity)".into(),
            );
        };
        let mailbox = Mailbox::Bundle(*id);
        let mut last = String::from("no service node holds it");
        let mut found = Vec::new();
        for member in net.swarm_of(&mailbox) {
            match net.retrieve_page(&mailbox, Some(member), 0, None).await {
                Ok(page) => {
                    found.extend(page.items.into_iter().map(|i| i.payload));
                    if let Some(b) = newest_valid_bundle(id, found.clone(), now()) {
                        return Ok(b);
                    }
                    last = "no valid identity bundle is published for this Session ID".into();
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }

    async fn peers(&self) -> Vec<PeerInfo> {
        let connected: HashSet<PeerId> = match self.net.get() {
            Some(net) => net.connected_peers().await.unwrap_or_default(),
            None => Vec::new(),
        }
        .into_iter()
        .collect();
        let members = self.set.members();
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

#[cfg(test)]
mod tests {
    use super::*;
    use pars_net::NetError;
    use pars_wire::swarm::ErrorCode;

    fn refused(code: ErrorCode, value: u32) -> NetError {
        NetError::Refused {
            code,
            value,
            detail: String::new(),
        }
    }

    #[test]
    fn a_node_without_long_polls_is_left_alone_for_the_long_backoff() {
        for code in [
            ErrorCode::Malformed,
            ErrorCode::Forbidden,
            ErrorCode::Other(99),
        ] {
            assert_eq!(
                long_poll_pause(Some(&refused(code, 0)), 1),
                LONG_POLL_BACKOFF
            );
        }
    }

    #[test]
    fn transient_failures_retry_soon_then_back_off_to_the_bound() {
        let no_path = NetError::NoSwarm("cannot build a path".into());
        assert_eq!(long_poll_pause(Some(&no_path), 1), Duration::from_secs(1));
        assert_eq!(long_poll_pause(Some(&no_path), 2), Duration::from_secs(2));
        assert_eq!(long_poll_pause(Some(&no_path), 4), Duration::from_secs(8));
        assert_eq!(long_poll_pause(Some(&no_path), 7), LONG_POLL_BACKOFF);
        assert_eq!(long_poll_pause(None, u32::MAX), LONG_POLL_BACKOFF);
        let timeout = NetError::Request {
            peer: "p".into(),
            reason: "timeout".into(),
        };
        assert_eq!(long_poll_pause(Some(&timeout), 1), LONG_POLL_RETRY);
    }

    #[test]
    fn a_busy_node_is_asked_again_when_it_says_within_bounds() {
        let busy = |ms| refused(ErrorCode::Busy, ms);
        assert_eq!(
            long_poll_pause(Some(&busy(5_000)), 1),
            Duration::from_secs(5)
        );
        // Never sooner than the transient pause, never later than the bound.
        assert_eq!(long_poll_pause(Some(&busy(10)), 3), Duration::from_secs(4));
        assert_eq!(long_poll_pause(Some(&busy(u32::MAX)), 1), LONG_POLL_BACKOFF);
        let limited = refused(ErrorCode::RateLimited, 2_000);
        assert_eq!(long_poll_pause(Some(&limited), 1), Duration::from_secs(2));
    }
}
