//! The responder's record of handshakes already processed.

use crate::SessionError;
use pars_wire::{Reader, Writer};
use std::collections::BTreeMap;

/// Version byte of the stored replay cache.
pub const REPLAY_CACHE_VERSION: u8 = 1;

const WHAT: &str = "replay cache";

/// Handshake IDs ([`pars_wire::message::HandshakeHeader::id`]) this identity has accepted, each
/// kept until the prekey it used expires: after that the prekey secret is deleted and the request
/// is rejected as stale anyway, so the cache stays bounded by the requests of two prekey
/// lifetimes.
///
/// Sans-IO: the caller loads it, passes it to [`crate::Session::accept`], and persists it in the
/// same transaction as the session that accept returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayCache {
    entries: BTreeMap<[u8; 32], u64>,
}

impl ReplayCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the handshake was already accepted.
    pub fn contains(&self, handshake_id: &[u8; 32]) -> bool {
        self.entries.contains_key(handshake_id)
    }

    /// Records a handshake until `expires_at` (Unix seconds).
    pub fn insert(&mut self, handshake_id: [u8; 32], expires_at: u64) {
        let e = self.entries.entry(handshake_id).or_insert(expires_at);
        *e = (*e).max(expires_at);
    }

    /// Forgets handshakes whose prekey has expired by `now`.
    pub fn prune(&mut self, now: u64) {
        self.entries.retain(|_, exp| *exp > now);
    }

    /// Number of recorded handshakes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no handshake is recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `version (1) ‖ count (4) ‖ (handshake ID (32) ‖ expires_at (8))*`, IDs ascending.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(5 + 40 * self.entries.len());
        w.u8(REPLAY_CACHE_VERSION)
            .u32(u32::try_from(self.entries.len()).unwrap_or(u32::MAX));
        for (id, exp) in &self.entries {
            w.bytes(id).u64(*exp);
        }
        w.into_vec()
    }

    /// Loads a stored cache; rejects any encoding [`Self::to_bytes`] would not produce.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SessionError> {
        let mut r = Reader::new(bytes);
        let version = r.u8(WHAT).map_err(|e| SessionError::corrupt(WHAT, e))?;
        if version != REPLAY_CACHE_VERSION {
            return Err(SessionError::UnsupportedStateVersion {
                what: WHAT,
                version,
            });
        }
        let count = r.u32(WHAT).map_err(|e| SessionError::corrupt(WHAT, e))?;
        if u64::from(count) * 40 != r.remaining() as u64 {
            return Err(SessionError::corrupt(
                WHAT,
                "length does not match the count",
            ));
        }
        let mut entries = BTreeMap::new();
        let mut last: Option<[u8; 32]> = None;
        for _ in 0..count {
            let id: [u8; 32] = r.array(WHAT).map_err(|e| SessionError::corrupt(WHAT, e))?;
            let exp = r.u64(WHAT).map_err(|e| SessionError::corrupt(WHAT, e))?;
            if last.is_some_and(|l| l >= id) {
                return Err(SessionError::corrupt(
                    WHAT,
                    "IDs are not strictly ascending",
                ));
            }
            last = Some(id);
            entries.insert(id, exp);
        }
        Ok(Self { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_prune_and_rejections() {
        let mut c = ReplayCache::new();
        c.insert([2; 32], 100);
        c.insert([1; 32], 50);
        c.insert([1; 32], 40);
        assert!(c.contains(&[1; 32]));
        let b = c.to_bytes();
        assert_eq!(b.len(), 5 + 80);
        assert_eq!(ReplayCache::from_bytes(&b).unwrap(), c);
        c.prune(50);
        assert!(!c.contains(&[1; 32]));
        assert!(c.contains(&[2; 32]));
        assert_eq!(c.len(), 1);
        // Not ascending.
        let mut bad = b.clone();
        bad[5..37].copy_from_slice(&[3; 32]);
        assert!(ReplayCache::from_bytes(&bad).is_err());
        let mut v2 = b.clone();
        v2[0] = 2;
        assert_eq!(
            ReplayCache::from_bytes(&v2),
            Err(SessionError::UnsupportedStateVersion {
                what: WHAT,
                version: 2
            })
        );
        for n in 0..b.len() {
            assert!(ReplayCache::from_bytes(&b[..n]).is_err());
        }
    }
}
