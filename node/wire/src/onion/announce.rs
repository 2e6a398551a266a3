//! The signed onion-key announcement a service node publishes.

use crate::{NodeId, Reader, WireError, Writer};
use pars_crypto::classic::{Ed25519PublicKey, Ed25519Signature, Ed25519SigningKey};
use pars_crypto::hybrid_kem768::{self, Hybrid768PublicKey};
use pars_crypto::hybrid_sig::{self, HybridSignature, HybridSigningKey, HybridVerifyingKey};
use pars_crypto::{CryptoError, CryptoRng, labels};

/// Announcement format version.
pub const ANNOUNCEMENT_VERSION: u8 = 1;
/// Size of the signed part of an announcement.
pub const ANNOUNCEMENT_SIGNED_LEN: usize =
    1 + NodeId::LEN + 4 + 8 + 8 + hybrid_kem768::PUBLIC_KEY_LEN;
/// Most announcements in an [`OnionKeyList`].
pub const MAX_ANNOUNCED_KEYS: usize = 4;

const SIG_ED25519: u8 = 1;
const SIG_HYBRID: u8 = 2;

/// The signature on an onion-key announcement: by the node's Ed25519 identity (its libp2p key),
/// or by a hybrid Ed25519 + ML-DSA-87 identity.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AnnouncementSignature {
    /// Ed25519 (64 bytes).
    Ed25519(Ed25519Signature),
    /// Ed25519 + ML-DSA-87 (4691 bytes).
    Hybrid(Box<HybridSignature>),
}

/// A service node's onion public key for one validity period, signed by the node's identity:
///
/// ```text
/// version      1     = 1
/// node         32    node ID
/// key_id       4     the key's ID, as packets name it
/// valid_from   8     Unix seconds
/// valid_until  8     Unix seconds
/// public_key   1216  X25519 (32) ‖ ML-KEM-768 (1184)
/// sig_scheme   1     1 = Ed25519, 2 = Ed25519 + ML-DSA-87
/// signature    64 or 4691, over bytes 0..1269 with context `pars-onion-key-v1`
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OnionKeyAnnouncement {
    /// The node whose key this is.
    pub node: NodeId,
    /// The key's ID (random, distinct among the node's live keys).
    pub key_id: u32,
    /// Start of validity, Unix seconds.
    pub valid_from: u64,
    /// End of validity (exclusive), Unix seconds.
    pub valid_until: u64,
    /// The onion public key.
    pub public_key: Hybrid768PublicKey,
    /// The identity's signature over [`signed_bytes`](Self::signed_bytes).
    pub signature: AnnouncementSignature,
}

fn unsigned_bytes(
    node: &NodeId,
    key_id: u32,
    valid_from: u64,
    valid_until: u64,
    pk: &Hybrid768PublicKey,
) -> Vec<u8> {
    let mut w = Writer::with_capacity(ANNOUNCEMENT_SIGNED_LEN);
    w.u8(ANNOUNCEMENT_VERSION);
    node.write(&mut w);
    w.u32(key_id)
        .u64(valid_from)
        .u64(valid_until)
        .bytes(&pk.to_bytes());
    w.into_vec()
}

impl OnionKeyAnnouncement {
    /// Signs an announcement with an Ed25519 identity.
    pub fn sign_ed25519(
        node: NodeId,
        key_id: u32,
        valid_from: u64,
        valid_until: u64,
        public_key: Hybrid768PublicKey,
        key: &Ed25519SigningKey,
    ) -> Result<Self, WireError> {
        let msg = unsigned_bytes(&node, key_id, valid_from, valid_until, &public_key);
        let sig = key
            .sign(labels::SIG_ONION_KEY, &msg)
            .map_err(|source| WireError::Crypto {
                what: "onion-key announcement signature",
                source,
            })?;
        Ok(Self {
            node,
            key_id,
            valid_from,
            valid_until,
            public_key,
            signature: AnnouncementSignature::Ed25519(sig),
        })
    }

    /// Signs an announcement with a hybrid Ed25519 + ML-DSA-87 identity.
    pub fn sign_hybrid(
        node: NodeId,
        key_id: u32,
        valid_from: u64,
        valid_until: u64,
        public_key: Hybrid768PublicKey,
        key: &HybridSigningKey,
        rng: &mut impl CryptoRng,
    ) -> Result<Self, WireError> {
        let msg = unsigned_bytes(&node, key_id, valid_from, valid_until, &public_key);
        let sig = key
            .sign(labels::SIG_ONION_KEY, &msg, rng)
            .map_err(|source| WireError::Crypto {
                what: "onion-key announcement signature",
                source,
            })?;
        Ok(Self {
            node,
            key_id,
            valid_from,
            valid_until,
            public_key,
            signature: AnnouncementSignature::Hybrid(Box::new(sig)),
        })
    }

    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> Vec<u8> {
        unsigned_bytes(
            &self.node,
            self.key_id,
            self.valid_from,
            self.valid_until,
            &self.public_key,
        )
    }

    fn check_fields(&self) -> Result<(), WireError> {
        if self.valid_until <= self.valid_from {
            return Err(WireError::Invalid {
                what: "onion-key announcement",
                reason: "validity ends before it starts",
            });
        }
        Ok(())
    }

    fn verify_with(
        &self,
        expected: &'static str,
        check: impl FnOnce(&[u8], &AnnouncementSignature) -> Option<Result<(), CryptoError>>,
    ) -> Result<(), WireError> {
        self.check_fields()?;
        match check(&self.signed_bytes(), &self.signature) {
            Some(r) => r.map_err(|source| WireError::Crypto {
                what: "onion-key announcement signature",
                source,
            }),
            None => Err(WireError::Invalid {
                what: "onion-key announcement",
                reason: expected,
            }),
        }
    }

    /// Verifies an Ed25519-signed announcement (signature, field consistency). Whether `key`
    /// belongs to `self.node` is the caller's check (the node record binds them).
    pub fn verify_ed25519(&self, key: &Ed25519PublicKey) -> Result<(), WireError> {
        self.verify_with("an Ed25519 signature was expected", |msg, sig| match sig {
            AnnouncementSignature::Ed25519(sig) => {
                Some(key.verify(labels::SIG_ONION_KEY, msg, sig))
            }
            AnnouncementSignature::Hybrid(_) => None,
        })
    }

    /// Verifies a hybrid-signed announcement (both halves, field consistency).
    pub fn verify_hybrid(&self, key: &HybridVerifyingKey) -> Result<(), WireError> {
        self.verify_with("a hybrid signature was expected", |msg, sig| match sig {
            AnnouncementSignature::Hybrid(sig) => Some(key.verify(labels::SIG_ONION_KEY, msg, sig)),
            AnnouncementSignature::Ed25519(_) => None,
        })
    }

    /// Whether the key may be used at `now` (Unix seconds).
    pub fn is_valid_at(&self, now: u64) -> bool {
        self.valid_from <= now && now < self.valid_until
    }

    /// Encodes the announcement.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = self.signed_bytes();
        match &self.signature {
            AnnouncementSignature::Ed25519(sig) => {
                v.push(SIG_ED25519);
                v.extend_from_slice(&sig.0);
            }
            AnnouncementSignature::Hybrid(sig) => {
                v.push(SIG_HYBRID);
                v.extend_from_slice(&sig.to_bytes());
            }
        }
        v
    }

    /// Decodes an announcement (the signature is parsed, not verified).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let a = Self::read(&mut r)?;
        r.finish("onion-key announcement")?;
        Ok(a)
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let version = r.u8("onion-key announcement version")?;
        if version != ANNOUNCEMENT_VERSION {
            return Err(WireError::UnsupportedVersion {
                what: "onion-key announcement",
                version,
            });
        }
        let node = NodeId::read(r)?;
        let key_id = r.u32("onion key ID")?;
        let valid_from = r.u64("onion-key valid_from")?;
        let valid_until = r.u64("onion-key valid_until")?;
        let public_key = Hybrid768PublicKey::from_bytes(
            r.bytes(hybrid_kem768::PUBLIC_KEY_LEN, "onion public key")?,
        )
        .map_err(|source| WireError::Crypto {
            what: "onion public key",
            source,
        })?;
        let signature = match r.u8("onion-key signature scheme")? {
            SIG_ED25519 => AnnouncementSignature::Ed25519(
                Ed25519Signature::from_bytes(r.bytes(64, "onion-key signature")?).map_err(
                    |source| WireError::Crypto {
                        what: "onion-key signature",
                        source,
                    },
                )?,
            ),
            SIG_HYBRID => AnnouncementSignature::Hybrid(Box::new(
                HybridSignature::from_bytes(
                    r.bytes(hybrid_sig::SIGNATURE_LEN, "onion-key signature")?,
                )
                .map_err(|source| WireError::Crypto {
                    what: "onion-key signature",
                    source,
                })?,
            )),
            value => {
                return Err(WireError::UnknownVariant {
                    what: "onion-key signature scheme",
                    value: u64::from(value),
                });
            }
        };
        Ok(Self {
            node,
            key_id,
            valid_from,
            valid_until,
            public_key,
            signature,
        })
    }
}

/// The onion keys a node publishes in its node record's `onion_keys` field:
/// `count (u8, 1..=4) ‖ count × var16(announcement)`. With Ed25519 signatures two keys take
/// 1 + 2 × 1,336 = 2,673 bytes; a hybrid-signed one takes 5,963 bytes.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct OnionKeyList(pub Vec<OnionKeyAnnouncement>);

impl OnionKeyList {
    /// Encodes the list (at most [`MAX_ANNOUNCED_KEYS`] are written).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        let n = self.0.len().min(MAX_ANNOUNCED_KEYS);
        w.u8(n as u8);
        for a in self.0.iter().take(n) {
            w.var16(&a.to_bytes());
        }
        w.into_vec()
    }

    /// Decodes a list of 1 to [`MAX_ANNOUNCED_KEYS`] announcements.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let n = usize::from(r.u8("onion-key count")?);
        if n == 0 || n > MAX_ANNOUNCED_KEYS {
            return Err(WireError::Invalid {
                what: "onion-key list",
                reason: "must hold 1 to 4 keys",
            });
        }
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let b = r.var16(
                ANNOUNCEMENT_SIGNED_LEN + 1 + hybrid_sig::SIGNATURE_LEN,
                "onion-key announcement",
            )?;
            v.push(OnionKeyAnnouncement::from_bytes(b)?);
        }
        r.finish("onion-key list")?;
        Ok(Self(v))
    }
}
