//! A service node's onion keys: rotation with overlap, announcements, and the replay cache each
//! key carries for its lifetime.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

use pars_crypto::CryptoRng;
use pars_crypto::classic::Ed25519SigningKey;
use pars_crypto::hybrid_kem768::Hybrid768SecretKey;
use pars_crypto::hybrid_sig::HybridSigningKey;
use pars_wire::onion::{MAX_ANNOUNCED_KEYS, OnionKeyList};
use pars_wire::{NodeId, OnionKeyAnnouncement, WireError};

use crate::OnionError;

/// When onion keys are made and retired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySchedule {
    /// A new key is made when the newest is this old (default 24 h).
    pub rotation_secs: u64,
    /// Each key is valid this long (default 48 h: a day of overlap, so that a client holding
    /// yesterday's record still reaches the node).
    pub lifetime_secs: u64,
    /// A key accepts packets this long before its `valid_from`, for clients whose clock runs
    /// ahead (default 10 min).
    pub clock_skew_secs: u64,
    /// Replay tags a key may hold. When full, the key stops accepting packets and a new key is
    /// made at the next [`OnionKeyRing::maintain`] (default 2²², 64 MiB of tags).
    pub max_replay_entries: usize,
}

impl Default for KeySchedule {
    fn default() -> Self {
        Self {
            rotation_secs: 24 * 3600,
            lifetime_secs: 48 * 3600,
            clock_skew_secs: 600,
            max_replay_entries: 1 << 22,
        }
    }
}

/// One onion key with its validity and its replay cache.
#[derive(Debug)]
pub(crate) struct OnionKey {
    pub key_id: u32,
    pub valid_from: u64,
    pub valid_until: u64,
    pub secret: Hybrid768SecretKey,
    pub replay: ReplayCache,
}

/// The replay tags one key has accepted, behind its own small lock: peeling runs on a shared
/// router (`&self`) on many threads, and only the check-and-insert of a tag takes this lock.
#[derive(Debug, Default)]
pub(crate) struct ReplayCache(Mutex<HashSet<[u8; 16]>>);

impl ReplayCache {
    /// A cache holding `tags`.
    pub fn from_tags(tags: impl IntoIterator<Item = [u8; 16]>) -> Self {
        Self(Mutex::new(tags.into_iter().collect()))
    }

    /// The set (a poisoned lock still holds a consistent set: inserts are single calls).
    fn set(&self) -> MutexGuard<'_, HashSet<[u8; 16]>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tags held.
    pub fn len(&self) -> usize {
        self.set().len()
    }

    /// Whether `tag` was accepted before.
    pub fn contains(&self, tag: &[u8; 16]) -> bool {
        self.set().contains(tag)
    }

    /// Accepts `tag` unless it was accepted before or the cache holds `cap` tags.
    pub fn try_insert(&self, tag: [u8; 16], cap: usize) -> Result<(), ReplayRefusal> {
        let mut set = self.set();
        if set.contains(&tag) {
            Err(ReplayRefusal::Seen)
        } else if set.len() >= cap {
            Err(ReplayRefusal::Full)
        } else {
            set.insert(tag);
            Ok(())
        }
    }

    /// A copy of the tags (for persistence).
    pub fn tags(&self) -> Vec<[u8; 16]> {
        self.set().iter().copied().collect()
    }
}

/// Why [`ReplayCache::try_insert`] refused a tag.
pub(crate) enum ReplayRefusal {
    /// Accepted before: a replay.
    Seen,
    /// The cache is full: the key is exhausted.
    Full,
}

/// What a lookup by key ID found.
pub(crate) enum KeyLookup<'a> {
    Usable(&'a OnionKey),
    Unknown,
    Expired,
    Exhausted,
}

/// A node's live onion keys. The ring itself does no I/O; [`OnionKeyRing::to_stored`] and
/// [`OnionKeyRing::from_stored`] let the node persist it. A ring is restored only from a copy
/// written at a clean shutdown, which also holds the replay caches; after a crash the node makes
/// fresh keys, so a packet accepted before the crash cannot be replayed into an empty cache.
#[derive(Debug)]
pub struct OnionKeyRing {
    node: NodeId,
    schedule: KeySchedule,
    keys: Vec<OnionKey>,
}

impl OnionKeyRing {
    /// A ring for `node` with one fresh key valid from `now`.
    pub fn new(node: NodeId, schedule: KeySchedule, now: u64, rng: &mut impl CryptoRng) -> Self {
        let mut ring = Self {
            node,
            schedule,
            keys: Vec::new(),
        };
        ring.add_key(now, rng);
        ring
    }

    /// The node this ring belongs to.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The schedule.
    pub fn schedule(&self) -> &KeySchedule {
        &self.schedule
    }

    fn add_key(&mut self, now: u64, rng: &mut impl CryptoRng) {
        let key_id = loop {
            let id = rng.next_u32();
            if !self.keys.iter().any(|k| k.key_id == id) {
                break id;
            }
        };
        self.keys.push(OnionKey {
            key_id,
            valid_from: now,
            valid_until: now.saturating_add(self.schedule.lifetime_secs),
            secret: Hybrid768SecretKey::generate(rng),
            replay: ReplayCache::default(),
        });
    }

    /// Rotates on schedule: deletes expired keys (with their replay caches) and makes a new key
    /// when the newest is older than the rotation period or full. Returns whether the set of
    /// keys changed, i.e. whether the node must re-sign and republish its announcements.
    pub fn maintain(&mut self, now: u64, rng: &mut impl CryptoRng) -> bool {
        let before = self.keys.len();
        self.keys.retain(|k| now < k.valid_until);
        let mut changed = self.keys.len() != before;
        let cap = self.schedule.max_replay_entries;
        let need_new = match self.keys.iter().max_by_key(|k| k.valid_from) {
            None => true,
            Some(newest) => {
                now.saturating_sub(newest.valid_from) >= self.schedule.rotation_secs
                    || newest.replay.len() >= cap
            }
        };
        if need_new {
            self.add_key(now, rng);
            changed = true;
        }
        // Never announce more than the node record can carry: drop the oldest.
        while self.keys.len() > MAX_ANNOUNCED_KEYS {
            if let Some(oldest) = self
                .keys
                .iter()
                .enumerate()
                .min_by_key(|(_, k)| k.valid_from)
                .map(|(i, _)| i)
            {
                self.keys.remove(oldest);
            }
        }
        changed
    }

    /// IDs and validity `(key_id, valid_from, valid_until)` of the live keys, oldest first.
    pub fn key_ids(&self) -> Vec<(u32, u64, u64)> {
        let mut v: Vec<_> = self
            .keys
            .iter()
            .map(|k| (k.key_id, k.valid_from, k.valid_until))
            .collect();
        v.sort_by_key(|&(_, from, _)| from);
        v
    }

    fn announce(
        &self,
        mut sign: impl FnMut(&OnionKey) -> Result<OnionKeyAnnouncement, WireError>,
    ) -> Result<OnionKeyList, OnionError> {
        let v: Result<Vec<_>, _> = self.keys.iter().map(&mut sign).collect();
        Ok(OnionKeyList(v?))
    }

    /// Announcements of every live key, signed by the node's Ed25519 identity.
    pub fn announce_ed25519(
        &self,
        identity: &Ed25519SigningKey,
    ) -> Result<OnionKeyList, OnionError> {
        self.announce(|k| {
            let pk = k.secret.public_key().clone();
            OnionKeyAnnouncement::sign_ed25519(
                self.node,
                k.key_id,
                k.valid_from,
                k.valid_until,
                pk,
                identity,
            )
        })
    }

    /// Announcements of every live key, signed by a hybrid Ed25519 + ML-DSA-87 identity.
    pub fn announce_hybrid(
        &self,
        identity: &HybridSigningKey,
        rng: &mut impl CryptoRng,
    ) -> Result<OnionKeyList, OnionError> {
        self.announce(|k| {
            let pk = k.secret.public_key().clone();
            OnionKeyAnnouncement::sign_hybrid(
                self.node,
                k.key_id,
                k.valid_from,
                k.valid_until,
                pk,
                identity,
                rng,
            )
        })
    }

    /// Finds the key a packet names and checks it may be used at `now`.
    pub(crate) fn lookup(&self, key_id: u32, now: u64) -> KeyLookup<'_> {
        let skew = self.schedule.clock_skew_secs;
        let cap = self.schedule.max_replay_entries;
        match self.keys.iter().find(|k| k.key_id == key_id) {
            None => KeyLookup::Unknown,
            Some(k) if now >= k.valid_until || now.saturating_add(skew) < k.valid_from => {
                KeyLookup::Expired
            }
            Some(k) if k.replay.len() >= cap => KeyLookup::Exhausted,
            Some(k) => KeyLookup::Usable(k),
        }
    }

    /// The live key with this ID, usable or not.
    pub(crate) fn key(&self, key_id: u32) -> Option<&OnionKey> {
        self.keys.iter().find(|k| k.key_id == key_id)
    }

    /// The live keys (crate-internal: persistence in `persist.rs`).
    pub(crate) fn raw_keys(&self) -> &[OnionKey] {
        &self.keys
    }

    /// A ring of restored keys (crate-internal: persistence in `persist.rs`).
    pub(crate) fn from_raw_keys(node: NodeId, schedule: KeySchedule, keys: Vec<OnionKey>) -> Self {
        Self {
            node,
            schedule,
            keys,
        }
    }

    /// Replay tags currently held, over all keys (for metrics).
    pub fn replay_entries(&self) -> usize {
        self.keys.iter().map(|k| k.replay.len()).sum()
    }
}
