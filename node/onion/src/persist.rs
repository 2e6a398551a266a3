//! Saving and restoring a node's key ring ([`pars_wire::onion_state`] is the file format).
//!
//! A restored ring keeps its keys only if the stored replay caches are complete (the file was
//! written at a clean shutdown); otherwise restoring fails with [`OnionError::NotClean`] and the
//! node makes fresh keys, so that a packet accepted before a crash cannot be replayed after it.

use pars_crypto::hybrid_kem768::Hybrid768SecretKey;
use pars_wire::onion_state::{StoredKeyRing, StoredOnionKey};

use crate::OnionError;
use crate::keys::{KeySchedule, OnionKey, OnionKeyRing, ReplayCache};

impl OnionKeyRing {
    /// The ring as stored state. With `clean`, the replay caches are included and the state
    /// may be restored; without, only the keys are written (a crash-time snapshot that
    /// [`from_stored`](Self::from_stored) refuses).
    pub fn to_stored(&self, clean: bool) -> StoredKeyRing {
        StoredKeyRing {
            node: self.node(),
            clean,
            keys: self
                .raw_keys()
                .iter()
                .map(|k| StoredOnionKey {
                    key_id: k.key_id,
                    valid_from: k.valid_from,
                    valid_until: k.valid_until,
                    secret: k.secret.to_secret_bytes(),
                    replay: if clean { k.replay.tags() } else { Vec::new() },
                })
                .collect(),
        }
    }

    /// Restores a ring written at a clean shutdown, for `node`, dropping keys expired at `now`.
    /// Fails if the state is not clean, belongs to another node, holds an unreadable key, or
    /// has no live key left.
    pub fn from_stored(
        stored: &StoredKeyRing,
        node: pars_wire::NodeId,
        schedule: KeySchedule,
        now: u64,
    ) -> Result<Self, OnionError> {
        if !stored.clean {
            return Err(OnionError::NotClean);
        }
        if stored.node != node {
            return Err(OnionError::NoPath(
                "stored key ring belongs to another node",
            ));
        }
        let mut keys = Vec::with_capacity(stored.keys.len());
        for k in &stored.keys {
            if now >= k.valid_until {
                continue;
            }
            let secret = Hybrid768SecretKey::from_secret_bytes(k.secret.as_slice())
                .map_err(|_| OnionError::BadKey(node))?;
            keys.push(OnionKey {
                key_id: k.key_id,
                valid_from: k.valid_from,
                valid_until: k.valid_until,
                secret,
                replay: ReplayCache::from_tags(k.replay.iter().copied()),
            });
        }
        if keys.is_empty() {
            return Err(OnionError::NoPath("no live key in the stored key ring"));
        }
        Ok(Self::from_raw_keys(node, schedule, keys))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::{OnionRouter, Processed, build_request, verified_hops};
    use pars_crypto::classic::Ed25519SigningKey;
    use pars_wire::NodeId;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn restore_keeps_keys_and_replay_cache() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let id = Ed25519SigningKey::generate(&mut rng);
        let node = NodeId::from_peer_id_bytes(b"node");
        let now = 1_000_000;
        let ring = OnionKeyRing::new(node, KeySchedule::default(), now, &mut rng);
        let list = ring.announce_ed25519(&id).unwrap();
        let hops = verified_hops(&list, node, &id.public_key(), now);
        let mut router = OnionRouter::new(ring);
        let req = build_request(&hops, b"hi", None, now, &mut rng).unwrap();
        let bytes = req.packet.to_vec();
        assert!(matches!(
            router.process_bytes(&bytes, now),
            Processed::Deliver { .. }
        ));

        // A crash-time snapshot is refused.
        let dirty = router.keys().to_stored(false);
        assert!(dirty.keys[0].replay.is_empty());
        assert_eq!(
            OnionKeyRing::from_stored(&dirty, node, KeySchedule::default(), now).unwrap_err(),
            OnionError::NotClean
        );
        // A clean one restores keys and replay cache through the file format.
        let clean = router.keys().to_stored(true);
        let decoded = StoredKeyRing::decode(clean.encode().as_slice()).unwrap();
        let restored =
            OnionKeyRing::from_stored(&decoded, node, KeySchedule::default(), now + 1).unwrap();
        assert_eq!(restored.key_ids(), router.keys().key_ids());
        let mut again = OnionRouter::new(restored);
        assert!(matches!(
            again.process_bytes(&bytes, now + 1),
            Processed::Drop(crate::DropReason::Replay)
        ));
        let fresh = build_request(&hops, b"again", None, now, &mut rng).unwrap();
        assert!(matches!(
            again.process_bytes(&fresh.packet.to_vec(), now + 2),
            Processed::Deliver { .. }
        ));
        // Another node's ring, or one whose keys all expired, is refused.
        let other = NodeId::from_peer_id_bytes(b"other");
        assert!(OnionKeyRing::from_stored(&decoded, other, KeySchedule::default(), now).is_err());
        assert!(
            OnionKeyRing::from_stored(&decoded, node, KeySchedule::default(), now + 49 * 3600)
                .is_err()
        );
    }
}
