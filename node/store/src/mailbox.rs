//! The mailbox store: messages per mailbox with TTL, dedupe by content hash, a size cap, and a
//! group-committing writer thread.
//!
//! Tables (all keys are byte strings whose big-endian integers sort correctly):
//!
//! | table | key | value |
//! |---|---|---|
//! | `messages` | mailbox ‖ seq (u64) | expires_at_ms (u64) ‖ hash (32) ‖ payload |
//! | `hashes` | mailbox ‖ hash (32) | seq (u64) |
//! | `expiry` | expires_at_ms (u64) ‖ seq (u64) | mailbox |
//! | `meta` | name | u64 (`next_seq`, `used_bytes`, `count`) |
//!
//! A mailbox's encoding is prefix-free (its first byte fixes its length), so `mailbox ‖ …`
//! ranges never mix mailboxes. Sequence numbers are global to the store and only grow: they are
//! this node's cursor.

use crate::StoreError;
use crate::page::{Page, PutOutcome, StoreStats, StoredMessage};
use pars_wire::swarm::{ContentHash, Mailbox, content_hash};
use redb::{Database, Durability, ReadableDatabase, ReadableTable};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot};

use crate::keys::{
    COUNT, EXPIRY, HASHES, MESSAGES, META, NEXT_SEQ, USAGE, USED_BYTES, cost, expiry_key, hash_key,
    msg_key, parse_value, u64_at,
};
use crate::tables::Tables;

/// Store settings.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Size cap: payload bytes plus [`PER_MESSAGE_OVERHEAD`] per message.
    pub max_bytes: u64,
    /// One mailbox's share of it, in the same bytes, so that nobody filling one inbox fills the
    /// node; `None`: a 64th of `max_bytes`, at least 1 MiB.
    pub max_mailbox_bytes: Option<u64>,
    /// The most messages one mailbox holds (default 50,000).
    pub max_mailbox_items: u64,
    /// Most writes committed in one transaction.
    pub max_batch: usize,
    /// Writes that may wait for the writer before callers are slowed down.
    pub queue_len: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024 * 1024,
            max_mailbox_bytes: None,
            max_mailbox_items: 50_000,
            max_batch: 1024,
            queue_len: 8192,
        }
    }
}

enum Op {
    Put {
        mailbox: Vec<u8>,
        hash: ContentHash,
        expires_at_ms: u64,
        payload: Vec<u8>,
        replace: bool,
        reply: oneshot::Sender<Result<PutOutcome, StoreError>>,
    },
    Delete {
        mailbox: Vec<u8>,
        hashes: Vec<ContentHash>,
        reply: oneshot::Sender<Result<u32, StoreError>>,
    },
    SetExpiry {
        mailbox: Vec<u8>,
        hashes: Vec<ContentHash>,
        expires_at_ms: u64,
        reply: oneshot::Sender<Result<u32, StoreError>>,
    },
    Sweep {
        now_ms: u64,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
}

struct Inner {
    db: Arc<Database>,
    tx: Option<mpsc::Sender<Op>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    max_bytes: u64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue stops the writer after it has committed what it holds.
        self.tx = None;
        if let Ok(mut w) = self.writer.lock()
            && let Some(h) = w.take()
        {
            let _ = h.join();
        }
    }
}

/// The mailbox store. Cheap to clone; the last clone dropped closes the database after the
/// writer has committed everything queued.
#[derive(Clone)]
pub struct MailboxStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MailboxStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailboxStore")
            .field("max_bytes", &self.inner.max_bytes)
            .finish()
    }
}

impl MailboxStore {
    /// Opens (or creates) the store at `path` and starts its writer thread. After a crash, redb
    /// repairs the file here; every acknowledged write is present.
    pub fn open(path: impl AsRef<Path>, config: StoreConfig) -> Result<Self, StoreError> {
        let db = Database::create(path.as_ref()).map_err(StoreError::db)?;
        {
            let txn = db.begin_write().map_err(StoreError::db)?;
            txn.open_table(MESSAGES).map_err(StoreError::db)?;
            txn.open_table(HASHES).map_err(StoreError::db)?;
            txn.open_table(EXPIRY).map_err(StoreError::db)?;
            txn.open_table(META).map_err(StoreError::db)?;
            txn.open_table(USAGE).map_err(StoreError::db)?;
            txn.commit().map_err(StoreError::db)?;
        }
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel(config.queue_len.max(1));
        let writer_db = db.clone();
        let max_bytes = config.max_bytes;
        let caps = Caps {
            bytes: max_bytes,
            mailbox_bytes: config
                .max_mailbox_bytes
                .unwrap_or((max_bytes / 64).max(1 << 20))
                .max(1),
            mailbox_items: config.max_mailbox_items.max(1),
        };
        let max_batch = config.max_batch.max(1);
        let writer = std::thread::Builder::new()
            .name("pars-store-writer".into())
            .spawn(move || writer_loop(&writer_db, rx, caps, max_batch))
            .map_err(StoreError::db)?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                tx: Some(tx),
                writer: Mutex::new(Some(writer)),
                max_bytes,
            }),
        })
    }

    async fn submit<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Op,
    ) -> Result<T, StoreError> {
        let tx = self.inner.tx.as_ref().ok_or(StoreError::Closed)?;
        let (reply, rx) = oneshot::channel();
        tx.send(make(reply)).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    fn submit_blocking<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Op,
    ) -> Result<T, StoreError> {
        let tx = self.inner.tx.as_ref().ok_or(StoreError::Closed)?;
        let (reply, rx) = oneshot::channel();
        tx.blocking_send(make(reply))
            .map_err(|_| StoreError::Closed)?;
        rx.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    /// Stores `payload` in `mailbox` until `expires_at_ms`; returns once the commit is durable.
    /// A payload the mailbox already holds is not stored twice. With `replace`, everything else in
    /// the mailbox is deleted in the same transaction (single-slot namespaces).
    pub async fn put(
        &self,
        mailbox: &Mailbox,
        expires_at_ms: u64,
        payload: Vec<u8>,
        replace: bool,
    ) -> Result<PutOutcome, StoreError> {
        let hash = content_hash(&payload);
        self.put_hashed(mailbox, expires_at_ms, payload, hash, replace)
            .await
    }

    /// [`MailboxStore::put`] of a payload whose [`content_hash`] the caller computed already
    /// (to check it, say): `hash` must be it, or the payload is kept under a wrong hash.
    pub async fn put_hashed(
        &self,
        mailbox: &Mailbox,
        expires_at_ms: u64,
        payload: Vec<u8>,
        hash: ContentHash,
        replace: bool,
    ) -> Result<PutOutcome, StoreError> {
        self.submit(put_op(mailbox, expires_at_ms, payload, hash, replace))
            .await
    }

    /// [`MailboxStore::put`] for threads outside an async runtime.
    pub fn put_blocking(
        &self,
        mailbox: &Mailbox,
        expires_at_ms: u64,
        payload: Vec<u8>,
        replace: bool,
    ) -> Result<PutOutcome, StoreError> {
        let hash = content_hash(&payload);
        self.submit_blocking(put_op(mailbox, expires_at_ms, payload, hash, replace))
    }

    /// Deletes messages by content hash; returns how many existed.
    pub async fn delete(
        &self,
        mailbox: &Mailbox,
        hashes: Vec<ContentHash>,
    ) -> Result<u32, StoreError> {
        let mailbox = mailbox.to_bytes();
        self.submit(|reply| Op::Delete {
            mailbox,
            hashes,
            reply,
        })
        .await
    }

    /// Sets the expiry of messages; returns how many existed.
    pub async fn set_expiry(
        &self,
        mailbox: &Mailbox,
        hashes: Vec<ContentHash>,
        expires_at_ms: u64,
    ) -> Result<u32, StoreError> {
        let mailbox = mailbox.to_bytes();
        self.submit(|reply| Op::SetExpiry {
            mailbox,
            hashes,
            expires_at_ms,
            reply,
        })
        .await
    }

    /// Removes every message whose expiry is at or before `now_ms`; returns how many.
    pub async fn sweep(&self, now_ms: u64) -> Result<u64, StoreError> {
        self.submit(|reply| Op::Sweep { now_ms, reply }).await
    }

    /// Live messages of `mailbox` with `seq > after`, at most `max_count` of them and at most
    /// `max_bytes` of payload (but at least one message if any is live).
    pub fn get_since(
        &self,
        mailbox: &Mailbox,
        after: u64,
        max_count: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> Result<Page, StoreError> {
        let mb = mailbox.to_bytes();
        let txn = self.inner.db.begin_read().map_err(StoreError::db)?;
        let table = txn.open_table(MESSAGES).map_err(StoreError::db)?;
        let start = msg_key(&mb, after.saturating_add(1));
        let end = msg_key(&mb, u64::MAX);
        let mut page = Page::default();
        let mut bytes = 0usize;
        for entry in table
            .range(start.as_slice()..=end.as_slice())
            .map_err(StoreError::db)?
        {
            let (k, v) = entry.map_err(StoreError::db)?;
            let (expires, hash, payload) = parse_value(v.value())?;
            if expires <= now_ms {
                continue;
            }
            let full = page.items.len() >= max_count
                || (!page.items.is_empty() && bytes + payload.len() > max_bytes);
            if full {
                page.more = true;
                break;
            }
            bytes += payload.len();
            page.items.push(StoredMessage {
                seq: u64_at(k.value(), mb.len(), "message key")?,
                hash,
                expires_at_ms: expires,
                payload: payload.to_vec(),
            });
        }
        Ok(page)
    }

    /// Every live message of `mailbox` (for replication and handoff).
    pub fn all(&self, mailbox: &Mailbox, now_ms: u64) -> Result<Vec<StoredMessage>, StoreError> {
        Ok(self
            .get_since(mailbox, 0, usize::MAX, usize::MAX, now_ms)?
            .items)
    }

    /// Whether `mailbox` holds a message with this hash.
    pub fn contains(&self, mailbox: &Mailbox, hash: &ContentHash) -> Result<bool, StoreError> {
        let txn = self.inner.db.begin_read().map_err(StoreError::db)?;
        let table = txn.open_table(HASHES).map_err(StoreError::db)?;
        Ok(table
            .get(hash_key(&mailbox.to_bytes(), hash).as_slice())
            .map_err(StoreError::db)?
            .is_some())
    }

    /// Every mailbox that holds at least one message.
    pub fn mailboxes(&self) -> Result<Vec<Mailbox>, StoreError> {
        let txn = self.inner.db.begin_read().map_err(StoreError::db)?;
        let table = txn.open_table(MESSAGES).map_err(StoreError::db)?;
        let mut out = Vec::new();
        let mut from: Vec<u8> = Vec::new();
        loop {
            let next = table
                .range(from.as_slice()..)
                .map_err(StoreError::db)?
                .next();
            let Some(entry) = next else { break };
            let (k, _) = entry.map_err(StoreError::db)?;
            let key = k.value();
            let mb = key
                .get(..key.len().saturating_sub(8))
                .ok_or(StoreError::Corrupt("message key"))?;
            out.push(Mailbox::from_bytes(mb).map_err(|_| StoreError::Corrupt("mailbox"))?);
            // Skip past every key of this mailbox.
            from = msg_key(mb, u64::MAX);
            from.push(0);
        }
        Ok(out)
    }

    /// Message count and bytes used.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let txn = self.inner.db.begin_read().map_err(StoreError::db)?;
        let meta = txn.open_table(META).map_err(StoreError::db)?;
        let get = |k: &str| -> Result<u64, StoreError> {
            Ok(meta
                .get(k)
                .map_err(StoreError::db)?
                .map(|g| g.value())
                .unwrap_or(0))
        };
        Ok(StoreStats {
            messages: get(COUNT)?,
            used_bytes: get(USED_BYTES)?,
            max_bytes: self.inner.max_bytes,
        })
    }
}

/// The put operation, for either way of submitting it.
fn put_op(
    mailbox: &Mailbox,
    expires_at_ms: u64,
    payload: Vec<u8>,
    hash: ContentHash,
    replace: bool,
) -> impl FnOnce(oneshot::Sender<Result<PutOutcome, StoreError>>) -> Op {
    let mailbox = mailbox.to_bytes();
    // Hashed by the caller, off the writer thread.
    move |reply| Op::Put {
        mailbox,
        hash,
        expires_at_ms,
        payload,
        replace,
        reply,
    }
}

/// How long the writer waits for more writes when it has fewer than the previous batch: the
/// writers answered by the last commit are usually about to send their next write, and one
/// commit (an fsync, milliseconds) costs far more than this wait.
const GATHER_WAIT: std::time::Duration = std::time::Duration::from_micros(250);

/// The store's caps: in all, and per mailbox.
#[derive(Clone, Copy)]
struct Caps {
    bytes: u64,
    mailbox_bytes: u64,
    mailbox_items: u64,
}

fn writer_loop(db: &Database, mut rx: mpsc::Receiver<Op>, caps: Caps, max_batch: usize) {
    let mut last_batch = 1;
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        let drain = |batch: &mut Vec<Op>, rx: &mut mpsc::Receiver<Op>| {
            while batch.len() < max_batch {
                match rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
        };
        drain(&mut batch, &mut rx);
        if batch.len() < last_batch.min(max_batch) {
            std::thread::sleep(GATHER_WAIT);
            drain(&mut batch, &mut rx);
        }
        last_batch = batch.len();
        commit_batch(db, batch, caps);
    }
}

enum Done {
    Put(oneshot::Sender<Result<PutOutcome, StoreError>>, PutOutcome),
    Count(oneshot::Sender<Result<u32, StoreError>>, u32),
    Swept(oneshot::Sender<Result<u64, StoreError>>, u64),
}

/// Applies a batch in one transaction. An operation that fails on its own merits (the cap) is
/// answered at once and leaves no trace; a database error fails the whole batch.
fn commit_batch(db: &Database, batch: Vec<Op>, caps: Caps) {
    let max_bytes = caps.bytes;
    let mut done: Vec<Done> = Vec::with_capacity(batch.len());
    let mut pending = batch.into_iter();
    let result = (|| -> Result<(), StoreError> {
        let mut txn = db.begin_write().map_err(StoreError::db)?;
        txn.set_durability(Durability::Immediate)
            .map_err(StoreError::db)?;
        {
            let mut t = Tables {
                messages: txn.open_table(MESSAGES).map_err(StoreError::db)?,
                hashes: txn.open_table(HASHES).map_err(StoreError::db)?,
                expiry: txn.open_table(EXPIRY).map_err(StoreError::db)?,
                meta: txn.open_table(META).map_err(StoreError::db)?,
                usage: txn.open_table(USAGE).map_err(StoreError::db)?,
            };
            let mut next_seq = t.meta_get(NEXT_SEQ)?.max(1);
            let mut used = t.meta_get(USED_BYTES)?;
            let mut count = t.meta_get(COUNT)?;
            for op in pending.by_ref() {
                match op {
                    Op::Put {
                        mailbox,
                        hash,
                        expires_at_ms,
                        payload,
                        replace,
                        reply,
                    } => {
                        if let Some(seq) = t.hash_seq(&mailbox, &hash)? {
                            let expires = t.expiry_of(&mailbox, seq)?;
                            done.push(Done::Put(
                                reply,
                                PutOutcome {
                                    hash,
                                    seq,
                                    expires_at_ms: expires,
                                    duplicate: true,
                                },
                            ));
                            continue;
                        }
                        let freed = if replace {
                            t.mailbox_cost(&mailbox)?
                        } else {
                            0
                        };
                        let needed = cost(payload.len());
                        // The mailbox's share: a replaced mailbox starts from nothing.
                        let (mb_bytes, mb_items) =
                            if replace { (0, 0) } else { t.usage(&mailbox)? };
                        if mb_bytes + needed > caps.mailbox_bytes
                            || mb_items + 1 > caps.mailbox_items
                        {
                            let _ = reply.send(Err(StoreError::MailboxFull {
                                used: mb_bytes,
                                cap: caps.mailbox_bytes,
                                items: mb_items,
                                max_items: caps.mailbox_items,
                            }));
                            continue;
                        }
                        if used.saturating_sub(freed) + needed > max_bytes {
                            let _ = reply.send(Err(StoreError::Full {
                                used,
                                cap: max_bytes,
                                needed,
                            }));
                            continue;
                        }
                        if replace {
                            let (n, b) = t.clear_mailbox(&mailbox)?;
                            count -= n;
                            used -= b;
                        }
                        let seq = next_seq;
                        next_seq += 1;
                        let mut value = Vec::with_capacity(40 + payload.len());
                        value.extend_from_slice(&expires_at_ms.to_be_bytes());
                        value.extend_from_slice(&hash);
                        value.extend_from_slice(&payload);
                        t.messages
                            .insert(msg_key(&mailbox, seq).as_slice(), value.as_slice())
                            .map_err(StoreError::db)?;
                        t.hashes
                            .insert(hash_key(&mailbox, &hash).as_slice(), seq)
                            .map_err(StoreError::db)?;
                        t.expiry
                            .insert(
                                expiry_key(expires_at_ms, seq).as_slice(),
                                mailbox.as_slice(),
                            )
                            .map_err(StoreError::db)?;
                        used += needed;
                        count += 1;
                        t.set_usage(&mailbox, mb_bytes + needed, mb_items + 1)?;
                        done.push(Done::Put(
                            reply,
                            PutOutcome {
                                hash,
                                seq,
                                expires_at_ms,
                                duplicate: false,
                            },
                        ));
                    }
                    Op::Delete {
                        mailbox,
                        hashes,
                        reply,
                    } => {
                        let mut n = 0u32;
                        for h in &hashes {
                            if let Some(seq) = t.hash_seq(&mailbox, h)? {
                                used -= t.remove(&mailbox, seq)?;
                                count -= 1;
                                n += 1;
                            }
                        }
                        done.push(Done::Count(reply, n));
                    }
                    Op::SetExpiry {
                        mailbox,
                        hashes,
                        expires_at_ms,
                        reply,
                    } => {
                        let mut n = 0u32;
                        for h in &hashes {
                            if let Some(seq) = t.hash_seq(&mailbox, h)? {
                                t.set_expiry(&mailbox, seq, expires_at_ms)?;
                                n += 1;
                            }
                        }
                        done.push(Done::Count(reply, n));
                    }
                    Op::Sweep { now_ms, reply } => {
                        let mut n = 0u64;
                        let end = expiry_key(now_ms, u64::MAX);
                        loop {
                            let first = {
                                let mut range =
                                    t.expiry.range(..=end.as_slice()).map_err(StoreError::db)?;
                                match range.next() {
                                    Some(e) => {
                                        let (k, v) = e.map_err(StoreError::db)?;
                                        Some((
                                            u64_at(k.value(), 8, "expiry key")?,
                                            v.value().to_vec(),
                                        ))
                                    }
                                    None => None,
                                }
                            };
                            let Some((seq, mailbox)) = first else { break };
                            used -= t.remove(&mailbox, seq)?;
                            count -= 1;
                            n += 1;
                        }
                        done.push(Done::Swept(reply, n));
                    }
                }
            }
            t.meta.insert(NEXT_SEQ, next_seq).map_err(StoreError::db)?;
            t.meta.insert(USED_BYTES, used).map_err(StoreError::db)?;
            t.meta.insert(COUNT, count).map_err(StoreError::db)?;
        }
        txn.commit().map_err(StoreError::db)?;
        Ok(())
    })();
    let err = result.err();
    if let Some(e) = &err {
        tracing::error!(error = %e, "mailbox store commit failed");
    }
    for d in done {
        d.finish(err.as_ref());
    }
    if let Some(e) = &err {
        for op in pending {
            op.fail(e);
        }
    }
}

impl Done {
    /// Answers the caller: its value if the batch committed, the commit error otherwise.
    fn finish(self, err: Option<&StoreError>) {
        let e = || StoreError::Db(err.map(ToString::to_string).unwrap_or_default());
        match (self, err) {
            (Done::Put(r, v), None) => drop(r.send(Ok(v))),
            (Done::Count(r, v), None) => drop(r.send(Ok(v))),
            (Done::Swept(r, v), None) => drop(r.send(Ok(v))),
            (Done::Put(r, _), Some(_)) => drop(r.send(Err(e()))),
            (Done::Count(r, _), Some(_)) => drop(r.send(Err(e()))),
            (Done::Swept(r, _), Some(_)) => drop(r.send(Err(e()))),
        }
    }
}

impl Op {
    /// Answers an operation that was never applied because its batch failed.
    fn fail(self, e: &StoreError) {
        let err = StoreError::Db(e.to_string());
        match self {
            Op::Put { reply, .. } => drop(reply.send(Err(err))),
            Op::Delete { reply, .. } | Op::SetExpiry { reply, .. } => drop(reply.send(Err(err))),
            Op::Sweep { reply, .. } => drop(reply.send(Err(err))),
        }
    }
}
