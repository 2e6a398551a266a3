//! The in-memory twin of the redb mailbox store, for the swarm core's tests (`test-utils`).
//! Same semantics: global growing sequence numbers, dedupe by content hash, single-slot
//! replace, the size cap with [`PER_MESSAGE_OVERHEAD`] per message, expiry at `now`.

use super::MailboxBackend;
use pars_store::{PER_MESSAGE_OVERHEAD, Page, PutOutcome, StoreError, StoredMessage};
use pars_wire::swarm::{ContentHash, Mailbox};
use std::collections::{BTreeMap, HashMap};
use std::future::{Future, ready};
use std::sync::{Mutex, MutexGuard};

/// One mailbox: seq → (expiry, hash, payload).
type Held = BTreeMap<u64, (u64, ContentHash, Vec<u8>)>;

#[derive(Default)]
struct Inner {
    messages: HashMap<Mailbox, Held>,
    next_seq: u64,
    used: u64,
}

/// A [`MailboxBackend`] in memory. Writes complete at once; nothing survives a drop.
pub struct MemoryMailboxStore {
    max_bytes: u64,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for MemoryMailboxStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryMailboxStore")
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

fn cost(len: usize) -> u64 {
    len as u64 + PER_MESSAGE_OVERHEAD
}

impl MemoryMailboxStore {
    /// An empty store with a size cap of `max_bytes`.
    pub fn new(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            inner: Mutex::new(Inner {
                next_seq: 1,
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Messages held (live or expired but not swept).
    pub fn len(&self) -> usize {
        self.lock().messages.values().map(BTreeMap::len).sum()
    }

    /// Whether the store holds no message.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every live message of `mailbox`.
    pub fn all(&self, mailbox: &Mailbox, now_ms: u64) -> Vec<StoredMessage> {
        self.get_since(mailbox, 0, usize::MAX, usize::MAX, now_ms)
            .map(|p| p.items)
            .unwrap_or_default()
    }

    fn put_now(
        &self,
        mailbox: &Mailbox,
        expires_at_ms: u64,
        payload: Vec<u8>,
        hash: ContentHash,
        replace: bool,
    ) -> Result<PutOutcome, StoreError> {
        let mut g = self.lock();
        let inner = &mut *g;
        let held = inner.messages.entry(*mailbox).or_default();
        if let Some((seq, (exp, ..))) = held.iter().find(|(_, (_, h, _))| *h == hash) {
            return Ok(PutOutcome {
                hash,
                seq: *seq,
                expires_at_ms: *exp,
                duplicate: true,
            });
        }
        let freed: u64 = if replace {
            held.values().map(|(_, _, p)| cost(p.len())).sum()
        } else {
            0
        };
        let needed = cost(payload.len());
        if inner.used.saturating_sub(freed) + needed > self.max_bytes {
            return Err(StoreError::Full {
                used: inner.used,
                cap: self.max_bytes,
                needed,
            });
        }
        if replace {
            held.clear();
            inner.used -= freed;
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        held.insert(seq, (expires_at_ms, hash, payload));
        inner.used += needed;
        Ok(PutOutcome {
            hash,
            seq,
            expires_at_ms,
            duplicate: false,
        })
    }

    fn update(
        &self,
        mailbox: &Mailbox,
        hashes: &[ContentHash],
        mut f: impl FnMut(&mut Held, u64) -> u64,
    ) -> u32 {
        let mut g = self.lock();
        let inner = &mut *g;
        let Some(held) = inner.messages.get_mut(mailbox) else {
            return 0;
        };
        let mut n = 0;
        for h in hashes {
            if let Some(seq) = held.iter().find(|(_, (_, mh, _))| mh == h).map(|(s, _)| *s) {
                inner.used -= f(held, seq);
                n += 1;
            }
        }
        n
    }
}

impl MailboxBackend for MemoryMailboxStore {
    fn put(
        &self,
        mailbox: &Mailbox,
        expires_at_ms: u64,
        payload: Vec<u8>,
        hash: ContentHash,
        replace: bool,
    ) -> impl Future<Output = Result<PutOutcome, StoreError>> + Send {
        ready(self.put_now(mailbox, expires_at_ms, payload, hash, replace))
    }

    fn delete(
        &self,
        mailbox: &Mailbox,
        hashes: Vec<ContentHash>,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send {
        ready(Ok(self.update(mailbox, &hashes, |held, seq| {
            held.remove(&seq).map_or(0, |(_, _, p)| cost(p.len()))
        })))
    }

    fn set_expiry(
        &self,
        mailbox: &Mailbox,
        hashes: Vec<ContentHash>,
        expires_at_ms: u64,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send {
        ready(Ok(self.update(mailbox, &hashes, |held, seq| {
            if let Some(m) = held.get_mut(&seq) {
                m.0 = expires_at_ms;
            }
            0
        })))
    }

    fn get_since(
        &self,
        mailbox: &Mailbox,
        after: u64,
        max_count: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> Result<Page, StoreError> {
        let g = self.lock();
        let mut page = Page::default();
        let Some(held) = g.messages.get(mailbox) else {
            return Ok(page);
        };
        let mut bytes = 0usize;
        for (seq, (exp, hash, payload)) in held.range(after.saturating_add(1)..) {
            if *exp <= now_ms {
                continue;
            }
            if page.items.len() >= max_count
                || (!page.items.is_empty() && bytes + payload.len() > max_bytes)
            {
                page.more = true;
                break;
            }
            bytes += payload.len();
            page.items.push(StoredMessage {
                seq: *seq,
                hash: *hash,
                expires_at_ms: *exp,
                payload: payload.clone(),
            });
        }
        Ok(page)
    }
}
