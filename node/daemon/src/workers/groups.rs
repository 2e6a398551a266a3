//! The group worker: group work that needs the network, as a client of the [`Core`].
//!
//! Each round it runs the group tasks that are due (answering a request for a key package;
//! adding a member whose key package arrived; joining from an invitation, fetching its Welcome
//! first when it travels as a blob), stores the group outbox in order per group (blob chunks,
//! then the mailbox item with the access token; access records; Welcome blobs), and reads every
//! group's mailbox after its cursor, handing each item not processed yet to the core (a blob
//! item is fetched first). Reads go to the swarm member closest to the group first: members
//! that read from the same member see concurrent commits in the same order, so the first
//! stored for an epoch wins everywhere.
//!
//! A long-poll is held on every group mailbox (at the member reads go to first): an item stored
//! there answers it at once and a read follows; regular reads are then a safety net every
//! `poll_max`. Cursors live in memory; after a restart the mailbox is read again from its start and the
//! core skips what it processed (it keeps the hashes of processed items).

use super::scheduler::{LONG_POLL_BACKOFF, LONG_POLL_RETRY};
use super::shared::{LONG_POLL_WAIT, Shared};
use crate::app::Event;
use crate::engine::{GroupAccessKeys, GroupDelivered, GroupTask};
use crate::net::{Failure, NetFailure, Network};
use libp2p::PeerId;
use pars_wire::GroupId;
use pars_wire::group::{BlobAssembler, BlobRef, Payload, seal_blob};
use pars_wire::records::{GroupOutKind, GroupOutboxRecord};
use pars_wire::swarm::{MAX_TTL_MS, Mailbox};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;

/// Attempts of a group task before it is given up (its blob never appeared, or it kept
/// failing).
pub const TASK_ATTEMPTS: u32 = 16;
/// How often the access records are looked at for renewal (they are renewed every
/// [`crate::engine::RENEW_ACCESS_SECS`]).
const RENEW_CHECK: Duration = Duration::from_secs(3600);
/// Pages read from one member of a mailbox in one round at most.
const MAX_PAGES: usize = 64;

/// The cursors of the group mailboxes: per group and member, the last sequence number read.
type Cursors = HashMap<(GroupId, PeerId), u64>;

pub(crate) async fn groups_loop(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut events = s.core.subscribe();
    let mut cursors = Cursors::new();
    let mut polls = LongPolls::default();
    let mut interval = s.settings.poll_min;
    let mut renewed_at: Option<tokio::time::Instant> = None;
    loop {
        if *stop.borrow() {
            polls.tasks.abort_all();
            return;
        }
        if renewed_at.is_none_or(|t| t.elapsed() >= RENEW_CHECK) {
            match s.core.renew_access_records().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(groups = n, "group access records renewed"),
                Err(e) => tracing::warn!(error = %e, "group access records not renewed"),
            }
            renewed_at = Some(tokio::time::Instant::now());
        }
        let mut news = run_tasks(&s).await;
        news |= deliver(&s).await;
        news |= read_groups(&s, &mut cursors).await;
        let all_held = polls.arm(&s, &cursors).await;
        interval = if news {
            s.settings.poll_min
        } else if all_held {
            // A long-poll is held on every group mailbox: reads are a safety net only.
            s.settings.poll_max
        } else {
            (interval + interval / 2).min(s.settings.poll_max)
        };
        let until = tokio::time::Instant::now() + interval;
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Ok(Event::GroupsChanged) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        interval = s.settings.poll_min;
                        break;
                    }
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                Some(done) = polls.tasks.join_next(), if !polls.tasks.is_empty() => {
                    if polls.finished(done) {
                        // Mail arrived at the member held: read now.
                        interval = s.settings.poll_min;
                        break;
                    }
                }
                _ = tokio::time::sleep_until(until) => break,
                _ = stop.changed() => {
                    polls.tasks.abort_all();
                    return;
                }
            }
        }
    }
}

/// The long-polls held on the group mailboxes: one per group, at the member its reads go to
/// first, after that member's cursor. A failed one puts the group's long-poll aside for a
/// while (1 s, doubling, at most a minute); the regular reads go on meanwhile.
#[derive(Default)]
struct LongPolls {
    tasks: JoinSet<(GroupId, Result<bool, NetFailure>)>,
    held: HashSet<GroupId>,
    paused: HashMap<GroupId, (tokio::time::Instant, u32)>,
}

impl LongPolls {
    /// Holds a long-poll on every active group that has none; true when every group has one.
    async fn arm(&mut self, s: &Arc<Shared>, cursors: &Cursors) -> bool {
        let Ok(groups) = s.core.active_groups().await else {
            return false;
        };
        let now = tokio::time::Instant::now();
        let mut all = true;
        for g in groups {
            if self.held.contains(&g.group) {
                continue;
            }
            if self
                .paused
                .get(&g.group)
                .is_some_and(|(until, _)| now < *until)
            {
                all = false;
                continue;
            }
            let Some(member) = s.net.swarm_of(&Mailbox::Group(g.group)).first().copied() else {
                all = false;
                continue;
            };
            let after = cursors.get(&(g.group, member)).copied().unwrap_or(0);
            let net = s.net.clone();
            self.held.insert(g.group);
            self.tasks.spawn(async move {
                let r = net
                    .group_retrieve(
                        g.group,
                        &g.token,
                        g.previous.as_ref(),
                        Some(member),
                        after,
                        LONG_POLL_WAIT,
                    )
                    .await
                    .map(|p| !p.items.is_empty());
                (g.group, r)
            });
        }
        all
    }

    /// A long-poll ended; true when it brought mail.
    fn finished(
        &mut self,
        done: Result<(GroupId, Result<bool, NetFailure>), tokio::task::JoinError>,
    ) -> bool {
        let Ok((g, r)) = done else {
            return false;
        };
        self.held.remove(&g);
        match r {
            Ok(mail) => {
                self.paused.remove(&g);
                mail
            }
            Err(e) => {
                let failures = self.paused.get(&g).map_or(0, |(_, n)| *n) + 1;
                let pause = LONG_POLL_RETRY
                    .saturating_mul(1u32 << failures.saturating_sub(1).min(6))
                    .min(LONG_POLL_BACKOFF);
                tracing::debug!(error = %e, ?pause, "a group long-poll failed; reading by polls meanwhile");
                self.paused
                    .insert(g, (tokio::time::Instant::now() + pause, failures));
                false
            }
        }
    }
}

/// Fetches a blob from its file mailbox: every chunk, from the swarm members in turn; what
/// does not open under the reference (anyone may store in a file mailbox) is skipped.
pub async fn fetch_blob(net: &dyn Network, blob: &BlobRef) -> Result<Vec<u8>, NetFailure> {
    let mailbox = Mailbox::File(blob.file);
    let mut asm = BlobAssembler::new(blob.clone());
    let mut last = NetFailure::transient("no member of the blob's swarm answered");
    for member in net.swarm_of(&mailbox) {
        let mut after = 0;
        for _ in 0..MAX_PAGES * 64 {
            match net.retrieve_page(&mailbox, Some(member), after, None).await {
                Ok(page) => {
                    for item in &page.items {
                        after = after.max(item.seq);
                        // Junk or another blob's chunk: not ours.
                        let _ = asm.add(&item.payload);
                    }
                    if asm.is_complete() {
                        return asm
                            .finish()
                            .map(|b| b.to_vec())
                            .map_err(|e| NetFailure::transient(e.to_string()));
                    }
                    if !page.more || page.items.is_empty() {
                        break;
                    }
                }
                Err(e) => {
                    last = e;
                    break;
                }
            }
        }
    }
    let (have, all) = asm.progress();
    if have > 0 {
        last = NetFailure::transient(format!(
            "{have} of the blob's {all} chunks found; the rest is not stored yet"
        ));
    }
    Err(last)
}

/// Runs the due group tasks; true when one ran.
async fn run_tasks(s: &Shared) -> bool {
    let tasks = match s.core.group_tasks().await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "group tasks unreadable");
            return false;
        }
    };
    let mut ran = false;
    for task in tasks {
        ran |= run_task(s, task).await;
    }
    ran
}

async fn run_task(s: &Shared, task: GroupTask) -> bool {
    let fetched = match task.blob() {
        Some(b) => match fetch_blob(s.net.as_ref(), b).await {
            Ok(data) => Some(data),
            Err(e) => {
                tracing::debug!(error = %e, attempt = task.attempts + 1, "a group blob is not there yet");
                let _ = s.core.defer_group_task(task.key, TASK_ATTEMPTS).await;
                return false;
            }
        },
        None => None,
    };
    let key = task.key.clone();
    match s.core.run_group_task(task, fetched).await {
        Ok(_) => true,
        Err(crate::app::CoreError::Engine(crate::engine::EngineError::PendingCommit(_))) => {
            let _ = s.core.defer_group_task(key, TASK_ATTEMPTS).await;
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "a group task was refused");
            true
        }
    }
}

/// Stores the due group outbox entries, in order per group; true when one left the outbox.
async fn deliver(s: &Shared) -> bool {
    let (entries, keys) = match (s.core.group_outbox().await, s.core.group_access().await) {
        (Ok(e), Ok(k)) => (e, k),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "group outbox unreadable");
            return false;
        }
    };
    let keys: HashMap<GroupId, GroupAccessKeys> = keys.into_iter().map(|k| (k.group, k)).collect();
    let now = crate::app::now();
    let mut outcomes = Vec::new();
    let mut held: Vec<GroupId> = Vec::new();
    for (key, entry) in entries {
        if held.contains(&entry.group) || entry.next_attempt > now {
            // Later entries of a group wait for the earlier ones.
            held.push(entry.group);
            continue;
        }
        let o = deliver_one(s, &keys, key, &entry).await;
        if matches!(o, GroupDelivered::Retry { .. }) {
            held.push(entry.group);
        }
        outcomes.push(o);
    }
    let stored = outcomes
        .iter()
        .any(|o| !matches!(o, GroupDelivered::Retry { .. }));
    if !outcomes.is_empty()
        && let Err(e) = s.core.record_group_deliveries(outcomes).await
    {
        tracing::error!(error = %e, "could not record group deliveries");
    }
    stored
}

async fn deliver_one(
    s: &Shared,
    keys: &HashMap<GroupId, GroupAccessKeys>,
    key: Vec<u8>,
    entry: &GroupOutboxRecord,
) -> GroupDelivered {
    let net = s.net.as_ref();
    let ttl = s.settings.message_ttl_ms;
    let outcome = |r: Result<u32, NetFailure>| match r {
        Ok(copies) => GroupDelivered::Stored {
            key: key.clone(),
            copies,
        },
        Err(e) if e.class == Failure::Permanent => GroupDelivered::Failed {
            key: key.clone(),
            reason: format!("refused by the network: {e}"),
        },
        Err(e) => {
            tracing::warn!(error = %e, attempt = entry.attempts + 1, "a group store failed; it stays queued");
            GroupDelivered::Retry { key: key.clone() }
        }
    };
    if let Some((blob, data)) = &entry.blob {
        let chunks = match seal_blob(blob, data) {
            Ok(c) => c,
            Err(e) => {
                return GroupDelivered::Failed {
                    key,
                    reason: e.to_string(),
                };
            }
        };
        for c in chunks {
            if let Err(e) = net.store(&Mailbox::File(blob.file), ttl, c).await {
                return outcome(Err(e));
            }
        }
    }
    match entry.kind {
        GroupOutKind::BlobOnly => outcome(Ok(0)),
        GroupOutKind::Access => outcome(
            net.store(
                &Mailbox::GroupAccess(entry.group),
                MAX_TTL_MS,
                entry.item.clone(),
            )
            .await
            .map(|st| u32::from(st.copies)),
        ),
        GroupOutKind::Item => {
            let Some(k) = keys.get(&entry.group) else {
                return GroupDelivered::Failed {
                    key,
                    reason: "the group is gone".into(),
                };
            };
            outcome(
                net.group_store(
                    entry.group,
                    &k.token,
                    k.previous.as_ref(),
                    ttl,
                    entry.item.clone(),
                )
                .await
                .map(|st| u32::from(st.copies)),
            )
        }
    }
}

/// Reads every active group's mailbox once; true when something new was processed.
async fn read_groups(s: &Shared, cursors: &mut Cursors) -> bool {
    let groups = match s.core.active_groups().await {
        Ok(g) => g,
        Err(e) => {
            tracing::error!(error = %e, "groups unreadable");
            return false;
        }
    };
    let mut news = false;
    for g in groups {
        news |= read_group(s, cursors, &g).await;
    }
    news
}

/// Reads one group's mailbox from the first member of its swarm that answers.
async fn read_group(s: &Shared, cursors: &mut Cursors, g: &GroupAccessKeys) -> bool {
    let net = s.net.as_ref();
    let mut news = false;
    for member in net.swarm_of(&Mailbox::Group(g.group)) {
        match read_member(s, cursors, g, member).await {
            Ok(n) => return news | n,
            Err(e) => {
                news = false;
                tracing::debug!(error = %e, "a group mailbox member did not answer; trying the next");
            }
        }
    }
    news
}

async fn read_member(
    s: &Shared,
    cursors: &mut Cursors,
    g: &GroupAccessKeys,
    member: PeerId,
) -> Result<bool, NetFailure> {
    let net = s.net.as_ref();
    let mut news = false;
    for _ in 0..MAX_PAGES {
        let after = cursors.get(&(g.group, member)).copied().unwrap_or(0);
        let page = net
            .group_retrieve(
                g.group,
                &g.token,
                g.previous.as_ref(),
                Some(member),
                after,
                Duration::ZERO,
            )
            .await?;
        if page.items.is_empty() {
            return Ok(news);
        }
        let hashes: Vec<[u8; 32]> = page.items.iter().map(|i| i.hash).collect();
        let unseen = s
            .core
            .group_unseen(g.group, hashes)
            .await
            .map_err(|e| NetFailure::transient(e.to_string()))?;
        let mut batch = Vec::new();
        let mut last = after;
        for item in &page.items {
            if !unseen.contains(&item.hash) {
                last = item.seq;
                continue;
            }
            let mls = match Payload::decode(&item.payload) {
                Ok(Payload::Inline(m)) => m,
                Ok(Payload::Blob(b)) => match fetch_blob(net, &b).await {
                    Ok(m) => m,
                    // Not all there yet: stop here and read it again next round.
                    Err(e) => {
                        tracing::debug!(error = %e, "a group item's blob is not complete yet");
                        break;
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "a malformed group mailbox item was skipped");
                    last = item.seq;
                    continue;
                }
            };
            batch.push((item.hash, mls));
            last = item.seq;
        }
        if !batch.is_empty() {
            let results = s
                .core
                .group_receive(g.group, batch)
                .await
                .map_err(|e| NetFailure::transient(e.to_string()))?;
            for r in results {
                match r {
                    Ok(_) => news = true,
                    Err(e) => tracing::warn!(error = %e, "a group mailbox item was refused"),
                }
            }
        }
        cursors.insert((g.group, member), last);
        if !page.more || last == after {
            return Ok(news);
        }
    }
    Ok(news)
}
