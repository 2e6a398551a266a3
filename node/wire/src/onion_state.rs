//! The on-disk format of a service node's onion key ring (file `onion_keys` in the data dir,
//! mode 0600): the secret keys with their validity and, after a clean shutdown, their replay
//! caches.
//!
//! `version (1) ‖ node (32) ‖ clean (1) ‖ count (u8, ≤ 8) ‖ count × key`, where
//! `key = key_id (u32) ‖ valid_from (u64) ‖ valid_until (u64) ‖ var16(secret key) ‖
//! replay_count (u32) ‖ replay_count × tag (16)`.
//!
//! `clean = 1` only when the replay caches are complete (written at a clean shutdown). A node
//! that finds `clean = 0` (it crashed, so tags accepted since the last write are unknown) must
//! not reuse the keys: a replayed packet would be accepted again.

use crate::{NodeId, Reader, WireError, Writer};
use pars_crypto::SecretBytes;

/// Version byte of the key-ring file.
pub const KEY_RING_STATE_VERSION: u8 = 1;
/// Most keys in a stored ring.
pub const MAX_STORED_KEYS: usize = 8;
/// Most replay tags stored per key (2²⁴).
pub const MAX_STORED_REPLAY_TAGS: usize = 1 << 24;
/// Largest serialised secret key accepted.
pub const MAX_STORED_SECRET_LEN: usize = 8192;

/// One stored onion key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoredOnionKey {
    /// Its ID.
    pub key_id: u32,
    /// Start of validity, Unix seconds.
    pub valid_from: u64,
    /// End of validity, Unix seconds.
    pub valid_until: u64,
    /// The serialised secret key (zeroized on drop).
    pub secret: SecretBytes,
    /// Replay tags seen under this key.
    pub replay: Vec<[u8; 16]>,
}

/// A stored key ring.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoredKeyRing {
    /// The node the ring belongs to.
    pub node: NodeId,
    /// Whether the replay caches are complete (clean shutdown).
    pub clean: bool,
    /// The keys.
    pub keys: Vec<StoredOnionKey>,
}

impl StoredKeyRing {
    /// Encodes the ring (the result holds secrets: it is zeroized on drop).
    pub fn encode(&self) -> SecretBytes {
        let tags: usize = self.keys.iter().map(|k| k.replay.len() * 16).sum();
        let mut w = Writer::with_capacity(35 + self.keys.len() * 2500 + tags);
        w.u8(KEY_RING_STATE_VERSION);
        self.node.write(&mut w);
        w.u8(u8::from(self.clean));
        let keys: Vec<&StoredOnionKey> = self.keys.iter().take(MAX_STORED_KEYS).collect();
        w.u8(keys.len() as u8);
        for k in keys {
            w.u32(k.key_id).u64(k.valid_from).u64(k.valid_until);
            w.var16(k.secret.as_slice());
            let n = k.replay.len().min(MAX_STORED_REPLAY_TAGS);
            w.u32(n as u32);
            for t in k.replay.iter().take(n) {
                w.bytes(t);
            }
        }
        SecretBytes::new(w.into_vec())
    }

    /// Decodes a stored ring.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let v = r.u8("key ring version")?;
        if v != KEY_RING_STATE_VERSION {
            return Err(WireError::UnsupportedVersion {
                what: "key ring",
                version: v,
            });
        }
        let node = NodeId::read(&mut r)?;
        let clean = match r.u8("key ring clean flag")? {
            0 => false,
            1 => true,
            x => {
                return Err(WireError::UnknownVariant {
                    what: "key ring clean flag",
                    value: u64::from(x),
                });
            }
        };
        let n = usize::from(r.u8("key count")?);
        if n > MAX_STORED_KEYS {
            return Err(WireError::TooLong {
                what: "key ring",
                len: n,
                max: MAX_STORED_KEYS,
            });
        }
        let mut keys = Vec::with_capacity(n);
        for _ in 0..n {
            let key_id = r.u32("key id")?;
            let valid_from = r.u64("key valid_from")?;
            let valid_until = r.u64("key valid_until")?;
            let secret = SecretBytes::new(r.var16(MAX_STORED_SECRET_LEN, "secret key")?.to_vec());
            let count = r.u32("replay tag count")? as usize;
            if count > MAX_STORED_REPLAY_TAGS {
                return Err(WireError::TooLong {
                    what: "replay tags",
                    len: count,
                    max: MAX_STORED_REPLAY_TAGS,
                });
            }
            if count.saturating_mul(16) > r.remaining() {
                return Err(WireError::Truncated {
                    what: "replay tags",
                    needed: count * 16,
                    available: r.remaining(),
                });
            }
            let mut replay = Vec::with_capacity(count);
            for _ in 0..count {
                replay.push(r.array::<16>("replay tag")?);
            }
            keys.push(StoredOnionKey {
                key_id,
                valid_from,
                valid_until,
                secret,
                replay,
            });
        }
        r.finish("key ring")?;
        Ok(Self { node, clean, keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let ring = StoredKeyRing {
            node: NodeId::from_peer_id_bytes(b"peer"),
            clean: true,
            keys: vec![
                StoredOnionKey {
                    key_id: 7,
                    valid_from: 10,
                    valid_until: 20,
                    secret: SecretBytes::new(vec![3; 100]),
                    replay: vec![[1; 16], [2; 16]],
                },
                StoredOnionKey {
                    key_id: 8,
                    valid_from: 15,
                    valid_until: 25,
                    secret: SecretBytes::new(vec![4; 50]),
                    replay: vec![],
                },
            ],
        };
        let bytes = ring.encode();
        assert_eq!(
            bytes.len(),
            1 + 32 + 1 + 1 + (4 + 8 + 8 + 2 + 100 + 4 + 32) + (4 + 8 + 8 + 2 + 50 + 4)
        );
        assert_eq!(StoredKeyRing::decode(bytes.as_slice()).unwrap(), ring);
        for cut in 0..bytes.len() {
            assert!(StoredKeyRing::decode(&bytes.as_slice()[..cut]).is_err());
        }
        let mut bad = bytes.as_slice().to_vec();
        bad[33] = 2;
        assert!(StoredKeyRing::decode(&bad).is_err());
        let mut bad = bytes.as_slice().to_vec();
        bad[0] = 9;
        assert!(StoredKeyRing::decode(&bad).is_err());
        // A huge replay count does not allocate: it is refused against the remaining bytes.
        let mut huge = bytes.as_slice()[..35].to_vec();
        huge[34] = 1;
        huge.extend_from_slice(&[0; 20]);
        huge.extend_from_slice(&[0, 1, 9]);
        huge.extend_from_slice(&[0; 1]);
        huge.extend_from_slice(&(1u32 << 20).to_be_bytes());
        assert!(StoredKeyRing::decode(&huge).is_err());
    }
}
