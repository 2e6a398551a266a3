//! The inbox worker: the thin driver of the [`Scheduler`]. It performs the scheduler's actions
//! over the [`Network`] (poll-round requests to every member at once, one long-poll), hands
//! what arrives to the core, reports the outcome back to the scheduler, and deletes from the
//! swarm what was durably ingested.
//!
//! A message that no session opens yet is kept for a retry (a later message may open the
//! session it belongs to) — at most [`MAX_RETRY_TRIES`] retries or [`RETRY_FOR`], after which
//! it is dropped and deleted from the swarm.

use super::scheduler::{Action, Scheduler, Timing};
use super::shared::{LONG_POLL_WAIT, Shared};
use crate::app::{Core, CoreError};
use crate::engine::{EngineError, Received};
use crate::net::{NetFailure, Network, Page};
use libp2p::PeerId;
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_wire::swarm::{ContentHash, Mailbox};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle, JoinSet};

/// Undecryptable items kept in memory for a retry.
const MAX_RETRY_ITEMS: usize = 1024;
/// Retries of an undecryptable item (one after each arrival of news) before it is dropped.
pub const MAX_RETRY_TRIES: u32 = 16;
/// How long an undecryptable item is kept for retries at most.
pub const RETRY_FOR: Duration = Duration::from_secs(3600);
/// Most ingested items waiting to be deleted from the swarm.
const MAX_PENDING_DELETES: usize = 4 * pars_wire::swarm::MAX_HASHES;
/// How long the worker waits when there is no identity yet.
const NO_IDENTITY_WAIT: Duration = Duration::from_secs(1);

/// An item no session opened yet.
#[derive(Debug)]
struct Pending {
    payload: Vec<u8>,
    tries: u32,
    since: Instant,
}

/// The items kept for a retry, bounded in number, tries and age.
#[derive(Debug, Default)]
pub struct RetrySet {
    items: HashMap<ContentHash, Pending>,
    /// The tries and first sight of the items out for a retry.
    taken: HashMap<ContentHash, (u32, Instant)>,
}

impl RetrySet {
    /// Keeps `payload` for a retry (unless the set is full).
    pub fn admit(&mut self, hash: ContentHash, payload: Vec<u8>, now: Instant) {
        if self.items.len() < MAX_RETRY_ITEMS {
            self.items.entry(hash).or_insert(Pending {
                payload,
                tries: 0,
                since: now,
            });
        }
    }

    /// Forgets `hash` (it was ingested after all).
    pub fn remove(&mut self, hash: &ContentHash) {
        self.items.remove(hash);
    }

    /// Number of items kept.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Takes every item out for a retry, counting the try. Returns the items to retry (give
    /// the ones that still do not open back with [`Self::put_back`]) and the hashes given up
    /// (too many tries or too old): drop them and delete them from the swarm.
    pub fn take(&mut self, now: Instant) -> (Vec<(ContentHash, Vec<u8>)>, Vec<ContentHash>) {
        self.taken.clear();
        let mut retry = Vec::new();
        let mut given_up = Vec::new();
        for (hash, p) in self.items.drain() {
            if p.tries >= MAX_RETRY_TRIES || now.saturating_duration_since(p.since) >= RETRY_FOR {
                given_up.push(hash);
            } else {
                self.taken.insert(hash, (p.tries + 1, p.since));
                retry.push((hash, p.payload));
            }
        }
        (retry, given_up)
    }

    /// Keeps an item taken by [`Self::take`] that still does not open.
    pub fn put_back(&mut self, hash: ContentHash, payload: Vec<u8>) {
        if let Some((tries, since)) = self.taken.remove(&hash) {
            self.items.insert(
                hash,
                Pending {
                    payload,
                    tries,
                    since,
                },
            );
        }
    }
}

/// What the worker keeps between rounds besides the scheduler.
#[derive(Default)]
struct InboxState {
    retry: RetrySet,
    /// The delete in flight (at most one).
    deleting: Option<JoinHandle<()>>,
    /// Ingested items to delete from the swarm once the delete in flight is done.
    to_delete: Vec<ContentHash>,
}

/// What a network task of the worker ended with.
enum Done {
    Fetched(PeerId, Result<Vec<(ContentHash, Vec<u8>, u64)>, NetFailure>),
    LongPolled(PeerId, Result<Page, NetFailure>),
}

pub(crate) async fn inbox_loop(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let timing = Timing {
        poll_min: s.settings.poll_min,
        poll_max: s.settings.poll_max,
        long_poll_wait: LONG_POLL_WAIT,
    };
    let mut sched = Scheduler::new(timing, Instant::now());
    let mut state = InboxState::default();
    let mut tasks: JoinSet<Done> = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, (bool, PeerId)> = HashMap::new();
    let mut long_poll: Option<AbortHandle> = None;
    // The identity never changes once there is one (another one is never restored over it).
    let (id, key) = loop {
        match s.core.mailbox_identity().await {
            Ok(Some(x)) => break x,
            Ok(None) => {
                if super::shared::sleep_or_stop(NO_IDENTITY_WAIT, &mut stop).await {
                    return;
                }
            }
            Err(_) => return, // the core has stopped
        }
    };
    loop {
        if *stop.borrow() {
            break;
        }
        let mailbox = Mailbox::Inbox(id);
        let cx = Cx {
            net: &s.net,
            mailbox,
            key: &key,
        };
        dispatch(&cx, &mut sched, &mut tasks, &mut running, &mut long_poll);
        let wake = sched
            .next_wakeup()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + timing.poll_max);
        tokio::select! {
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let now = Instant::now();
                match done {
                    Ok((tid, Done::Fetched(member, result))) => {
                        running.remove(&tid);
                        match result {
                            Ok(items) => {
                                let news = match absorb(&s.core, &cx, &mut state, &mut sched, member, items).await {
                                    Ok(n) => n,
                                    Err(e) => {
                                        tracing::debug!(error = %e, "fetched mail not handled");
                                        0
                                    }
                                };
                                sched.fetched(now, member, news);
                            }
                            Err(e) => {
                                tracing::debug!(error = %e, "a swarm member did not answer the poll");
                                sched.fetch_failed(now, member);
                            }
                        }
                    }
                    Ok((tid, Done::LongPolled(member, result))) => {
                        running.remove(&tid);
                        match result {
                            Ok(page) => {
                                // Wait again at once at the same member after what it gave, then
                                // take the page.
                                if let Some(last) = page.items.last() {
                                    sched.advance(member, last.seq);
                                }
                                let arrived = page.items.len();
                                sched.long_polled(now, member, arrived);
                                dispatch(&cx, &mut sched, &mut tasks, &mut running, &mut long_poll);
                                let items = page.items.into_iter().map(|i| (i.hash, i.payload, i.seq)).collect();
                                if let Err(e) = absorb(&s.core, &cx, &mut state, &mut sched, member, items).await {
                                    tracing::debug!(error = %e, "long-poll answer not handled");
                                }
                            }
                            Err(e) => {
                                tracing::debug!(error = %e, "long-poll failed; failing over");
                                sched.long_poll_failed(now, member, Some(e.class));
                            }
                        }
                    }
                    Err(e) => {
                        if let Some((is_long_poll, member)) = running.remove(&e.id())
                            && !e.is_cancelled()
                        {
                            if is_long_poll {
                                sched.long_poll_failed(now, member, None);
                            } else {
                                sched.fetch_failed(now, member);
                            }
                        }
                    }
                }
            }
            _ = s.activity.notified() => sched.activity(Instant::now()),
            _ = tokio::time::sleep_until(wake) => {}
            _ = stop.changed() => break,
        }
    }
    tasks.abort_all();
}

/// What the network tasks need.
struct Cx<'a> {
    net: &'a Arc<dyn Network>,
    mailbox: Mailbox,
    key: &'a MlDsaSigningKey,
}

/// Starts the scheduler's due actions.
fn dispatch(
    cx: &Cx<'_>,
    sched: &mut Scheduler,
    tasks: &mut JoinSet<Done>,
    running: &mut HashMap<tokio::task::Id, (bool, PeerId)>,
    long_poll: &mut Option<AbortHandle>,
) {
    let swarm = cx.net.swarm_of(&cx.mailbox);
    for action in sched.poll(Instant::now(), &swarm) {
        let (net, mailbox, key) = (cx.net.clone(), cx.mailbox, cx.key.clone());
        match action {
            Action::Fetch { member, after } => {
                let h = tasks.spawn(async move {
                    Done::Fetched(
                        member,
                        fetch_member(net.as_ref(), &mailbox, member, after, &key).await,
                    )
                });
                running.insert(h.id(), (false, member));
            }
            Action::LongPoll { member, after } => {
                let h = tasks.spawn(async move {
                    let r = net
                        .retrieve_wait(&mailbox, member, after, Some(&key), LONG_POLL_WAIT)
                        .await;
                    Done::LongPolled(member, r)
                });
                running.insert(h.id(), (true, member));
                *long_poll = Some(h);
            }
            Action::CancelLongPoll => {
                if let Some(h) = long_poll.take() {
                    h.abort();
                }
            }
        }
    }
}

/// Fetches all pages after `after` from `member`: each item with its sequence number.
async fn fetch_member(
    net: &dyn Network,
    mailbox: &Mailbox,
    member: PeerId,
    mut after: u64,
    key: &MlDsaSigningKey,
) -> Result<Vec<(ContentHash, Vec<u8>, u64)>, NetFailure> {
    let mut out = Vec::new();
    loop {
        let page = net
            .retrieve_page(mailbox, Some(member), after, Some(key))
            .await?;
        if let Some(last) = page.items.last() {
            after = last.seq;
        }
        let more = page.more && !page.items.is_empty();
        out.extend(page.items.into_iter().map(|i| (i.hash, i.payload, i.seq)));
        if !more {
            return Ok(out);
        }
    }
}

/// Ingests fetched items from `member` (each once, in one visit to the core), retries the ones
/// that could not be opened before when something new arrived, and deletes from the swarm what
/// was durably ingested (or given up). Returns how many new messages or receipts arrived.
async fn absorb(
    core: &Core,
    cx: &Cx<'_>,
    state: &mut InboxState,
    sched: &mut Scheduler,
    member: PeerId,
    fetched: Vec<(ContentHash, Vec<u8>, u64)>,
) -> Result<usize, CoreError> {
    let now = Instant::now();
    let mut seen = HashSet::new();
    let mut batch: Vec<(ContentHash, Vec<u8>)> = Vec::new();
    for (hash, payload, seq) in fetched {
        sched.advance(member, seq);
        if seen.insert(hash) {
            batch.push((hash, payload));
        }
    }
    let mut done = Vec::new();
    let (mut news, failed) = ingest_items(core, &batch, &mut done).await?;
    for i in failed {
        if let Some((hash, payload)) = batch.get(i) {
            state.retry.admit(*hash, payload.clone(), now);
        }
    }
    for h in &done {
        state.retry.remove(h);
    }
    if news > 0 && !state.retry.is_empty() {
        let (again, given_up) = state.retry.take(now);
        if !given_up.is_empty() {
            tracing::debug!(
                items = given_up.len(),
                "received items no session opened are dropped"
            );
        }
        done.extend(given_up);
        let (n, failed) = ingest_items(core, &again, &mut done).await?;
        news += n;
        for i in failed {
            if let Some((hash, payload)) = again.get(i) {
                state.retry.put_back(*hash, payload.clone());
            }
        }
    }
    // Everything in `done` is committed to the store (or given up): removing it from the swarm
    // loses nothing. A failed delete only means it is fetched again and recognised as a
    // duplicate.
    state.to_delete.extend(done);
    if state.to_delete.len() > MAX_PENDING_DELETES {
        // Deletes keep failing: forget the oldest (they are fetched again as duplicates).
        let excess = state.to_delete.len() - MAX_PENDING_DELETES;
        state.to_delete.drain(..excess);
    }
    flush_deletes(cx, state);
    Ok(news)
}

/// Ingests stored items (each a single message or a batch, whose messages go in order through
/// the same path) in one visit to the core. Adds the durably handled ones to `done` (every
/// message new, a duplicate or a control message) and returns how many messages were new for
/// the user and the indices of the items with a message that cannot be opened (yet).
async fn ingest_items(
    core: &Core,
    items: &[(ContentHash, Vec<u8>)],
    done: &mut Vec<ContentHash>,
) -> Result<(usize, Vec<usize>), CoreError> {
    let mut blobs = Vec::new();
    let mut owner = Vec::new();
    for (i, (_, payload)) in items.iter().enumerate() {
        match pars_wire::envelope::InboxItem::decode(payload) {
            Ok(item) => {
                for m in item.messages() {
                    blobs.push(m.to_vec());
                    owner.push(i);
                }
            }
            Err(e) => tracing::debug!(error = %e, "malformed message batch dropped"),
        }
    }
    let results = core.ingest_all(blobs).await?;
    let mut complete = vec![true; items.len()];
    let mut news = 0;
    for (r, i) in results.into_iter().zip(owner) {
        match r {
            Ok(Received::Message(_) | Received::Receipt(_) | Received::GroupTask) => news += 1,
            Ok(Received::Ignored(why)) => tracing::debug!(why, "received item ignored"),
            Err(e @ (EngineError::Store(_) | EngineError::NoIdentity)) => return Err(e.into()),
            Err(e) => {
                tracing::debug!(error = %e, "a received item could not be opened");
                if let Some(c) = complete.get_mut(i) {
                    *c = false;
                }
            }
        }
    }
    let mut failed = Vec::new();
    for (i, ok) in complete.into_iter().enumerate() {
        match (ok, items.get(i)) {
            (true, Some((hash, _))) => done.push(*hash),
            (false, _) => failed.push(i),
            _ => {}
        }
    }
    Ok((news, failed))
}

/// Sends the queued deletes unless one is still in flight: one at a time, beside the polling
/// (never waited for, so a slow delete does not hold back the next message). What queues
/// meanwhile goes with the next round.
fn flush_deletes(cx: &Cx<'_>, state: &mut InboxState) {
    if state.deleting.as_ref().is_some_and(|h| !h.is_finished()) || state.to_delete.is_empty() {
        return;
    }
    let n = state.to_delete.len().min(pars_wire::swarm::MAX_HASHES);
    let hashes: Vec<ContentHash> = state.to_delete.drain(..n).collect();
    let (net, mailbox, key) = (cx.net.clone(), cx.mailbox, cx.key.clone());
    state.deleting = Some(tokio::spawn(async move {
        if let Err(e) = net.delete(&mailbox, hashes, &key).await {
            tracing::debug!(error = %e, "deleting fetched messages from the swarm failed");
        }
    }));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn hash(b: u8) -> ContentHash {
        [b; 32]
    }

    #[test]
    fn an_item_no_session_opens_is_given_up_after_its_tries() {
        let t0 = Instant::now();
        let mut r = RetrySet::default();
        r.admit(hash(1), vec![1], t0);
        for i in 0..MAX_RETRY_TRIES {
            let (again, given_up) = r.take(t0 + Duration::from_secs(u64::from(i)));
            assert_eq!(again, vec![(hash(1), vec![1])], "try {i}");
            assert!(given_up.is_empty());
            r.put_back(hash(1), vec![1]);
        }
        let (again, given_up) = r.take(t0 + Duration::from_secs(60));
        assert!(again.is_empty());
        assert_eq!(given_up, vec![hash(1)]);
        assert!(r.is_empty());
    }

    #[test]
    fn an_item_no_session_opens_is_given_up_when_too_old() {
        let t0 = Instant::now();
        let mut r = RetrySet::default();
        r.admit(hash(1), vec![1], t0);
        r.admit(hash(2), vec![2], t0 + RETRY_FOR / 2);
        let (again, given_up) = r.take(t0 + RETRY_FOR);
        assert_eq!(again, vec![(hash(2), vec![2])]);
        assert_eq!(given_up, vec![hash(1)]);
        // One that opened is not put back; an unknown hash is ignored.
        r.put_back(hash(3), vec![3]);
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn the_retry_set_is_bounded() {
        let t0 = Instant::now();
        let mut r = RetrySet::default();
        for i in 0..(MAX_RETRY_ITEMS + 10) {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&(i as u64).to_be_bytes());
            r.admit(h, vec![], t0);
        }
        assert_eq!(r.len(), MAX_RETRY_ITEMS);
    }
}
