//! The identity bundle: a user's public keys and current prekey, signed by the identity.
//!
//! A client publishes its bundle to its swarm; a peer fetches it by Session ID and calls
//! [`IdentityBundle::verify`] before using any key in it. Encoding (version 1, fixed size
//! [`BUNDLE_LEN`] = 10,544 bytes, all integers big-endian):
//!
//! | field | bytes |
//! |---|---|
//! | version (= 1) | 1 |
//! | created_at (Unix seconds) | 8 |
//! | ML-DSA-87 public key | 2592 |
//! | Ed25519 public key | 32 |
//! | ML-KEM-1024 public key | 1568 |
//! | X25519 public key | 32 |
//! | prekey id | 4 |
//! | prekey created_at | 8 |
//! | prekey expires_at | 8 |
//! | prekey X25519 public key | 32 |
//! | prekey ML-KEM-1024 public key | 1568 |
//! | hybrid signature (Ed25519 64 ‖ ML-DSA-87 4627) over all preceding bytes, context `pars-bundle-v1` | 4691 |
//!
//! The prekey is medium-term (rotated, default every 7 days, valid 14): its secret is random and
//! deleted after it expires, so a handshake that used it stays forward secret even if the
//! identity keys leak later.

use crate::classic::{Ed25519PublicKey, X25519PublicKey};
use crate::hybrid_kem::{HybridPublicKey, HybridSecretKey};
use crate::hybrid_sig::{self, HybridSignature};
use crate::identity::{IdentityKeys, IdentityPublicKeys};
use crate::mldsa::{self, MlDsaPublicKey};
use crate::mlkem::{self, MlKemPublicKey};
use crate::{CryptoError, CryptoRng, SessionId, labels};

/// The bundle format version this build writes and reads.
pub const BUNDLE_VERSION: u8 = 1;
/// Length of the signed part.
pub const SIGNED_LEN: usize =
    1 + 8 + mldsa::PUBLIC_KEY_LEN + 32 + mlkem::PUBLIC_KEY_LEN + 32 + PREKEY_LEN;
/// Length of the encoded prekey.
pub const PREKEY_LEN: usize = 4 + 8 + 8 + 32 + mlkem::PUBLIC_KEY_LEN;
/// Total encoded length.
pub const BUNDLE_LEN: usize = SIGNED_LEN + hybrid_sig::SIGNATURE_LEN;
/// Default prekey rotation interval (seconds).
pub const PREKEY_ROTATION_SECS: u64 = 7 * 24 * 3600;
/// Default prekey validity (seconds): two rotation periods, so an offline sender's cached
/// bundle stays usable across one rotation.
pub const PREKEY_LIFETIME_SECS: u64 = 14 * 24 * 3600;
/// Clock skew tolerated for creation times in the future (seconds).
pub const MAX_CLOCK_SKEW_SECS: u64 = 10 * 60;

/// The public half of a medium-term prekey.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Prekey {
    /// Identifier chosen by the owner (increments on rotation).
    pub id: u32,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Expiry time, Unix seconds.
    pub expires_at: u64,
    /// The hybrid public key.
    pub key: HybridPublicKey,
}

/// The secret half of a prekey, kept in the encrypted keystore until it expires.
#[derive(Clone, Debug)]
pub struct PrekeySecret {
    /// The public half.
    pub public: Prekey,
    /// The hybrid secret key (random, not derived from the master seed).
    pub secret: HybridSecretKey,
}

impl PrekeySecret {
    /// A fresh prekey valid from `now` for `lifetime_secs`.
    pub fn generate(id: u32, now: u64, lifetime_secs: u64, rng: &mut impl CryptoRng) -> Self {
        let secret = HybridSecretKey::generate(rng);
        Self {
            public: Prekey {
                id,
                created_at: now,
                expires_at: now.saturating_add(lifetime_secs),
                key: secret.public_key(),
            },
            secret,
        }
    }
}

/// A signed identity bundle.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IdentityBundle {
    /// Format version.
    pub version: u8,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// The identity public keys.
    pub keys: IdentityPublicKeys,
    /// The current prekey.
    pub prekey: Prekey,
    /// Hybrid signature over [`IdentityBundle::signed_bytes`].
    pub signature: HybridSignature,
}

impl IdentityBundle {
    /// Builds and signs a bundle for `identity` with `prekey`.
    pub fn create(
        identity: &IdentityKeys,
        prekey: &Prekey,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Self, CryptoError> {
        let keys = identity.public_keys();
        let signed = signed_bytes(BUNDLE_VERSION, now, &keys, prekey);
        let signature = identity
            .signing_key()
            .sign(labels::SIG_BUNDLE, &signed, rng)?;
        Ok(Self {
            version: BUNDLE_VERSION,
            created_at: now,
            keys,
            prekey: prekey.clone(),
            signature,
        })
    }

    /// The Session ID this bundle claims (derived from its ML-DSA key).
    pub fn session_id(&self) -> SessionId {
        self.keys.session_id()
    }

    /// The bytes covered by the signature.
    pub fn signed_bytes(&self) -> Vec<u8> {
        signed_bytes(self.version, self.created_at, &self.keys, &self.prekey)
    }

    /// Checks everything a peer must check before using the bundle: that it belongs to
    /// `expected`, that both signatures verify, that it was not created in the future and that
    /// its prekey has not expired at `now` (Unix seconds).
    pub fn verify(&self, expected: &SessionId, now: u64) -> Result<(), CryptoError> {
        if self.version != BUNDLE_VERSION {
            return Err(CryptoError::UnsupportedBundleVersion(self.version));
        }
        if !expected.matches(&self.keys.mldsa) {
            return Err(CryptoError::BundleIdMismatch {
                expected: expected.to_string(),
            });
        }
        self.keys.verifying_key().verify(
            labels::SIG_BUNDLE,
            &self.signed_bytes(),
            &self.signature,
        )?;
        let horizon = now.saturating_add(MAX_CLOCK_SKEW_SECS);
        if self.created_at > horizon {
            return Err(CryptoError::FromTheFuture {
                what: "identity bundle",
                created_at: self.created_at,
                now,
            });
        }
        if self.prekey.created_at > horizon {
            return Err(CryptoError::FromTheFuture {
                what: "prekey",
                created_at: self.prekey.created_at,
                now,
            });
        }
        if self.prekey.expires_at <= now {
            return Err(CryptoError::Expired {
                what: "prekey",
                expired_at: self.prekey.expires_at,
                now,
            });
        }
        Ok(())
    }

    /// The fixed-size encoding described in the module documentation.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = self.signed_bytes();
        v.extend_from_slice(&self.signature.to_bytes());
        v
    }

    /// Decodes a bundle. Checks lengths and key well-formedness, **not** the signature: call
    /// [`IdentityBundle::verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.is_empty() {
            return Err(CryptoError::MalformedBundle("empty"));
        }
        if bytes[0] != BUNDLE_VERSION {
            return Err(CryptoError::UnsupportedBundleVersion(bytes[0]));
        }
        if bytes.len() != BUNDLE_LEN {
            return Err(CryptoError::len("identity bundle", BUNDLE_LEN, bytes.len()));
        }
        let mut r = Reader { buf: bytes, pos: 1 };
        let created_at = r.u64();
        let mldsa = MlDsaPublicKey::from_bytes(r.take(mldsa::PUBLIC_KEY_LEN))?;
        let ed25519 = Ed25519PublicKey::from_bytes(r.take(32))?;
        let mlkem = MlKemPublicKey::from_bytes(r.take(mlkem::PUBLIC_KEY_LEN))?;
        let x25519 = X25519PublicKey::from_bytes(r.take(32))?;
        let id = r.u32();
        let pk_created = r.u64();
        let pk_expires = r.u64();
        let pk_x = X25519PublicKey::from_bytes(r.take(32))?;
        let pk_m = MlKemPublicKey::from_bytes(r.take(mlkem::PUBLIC_KEY_LEN))?;
        let signature = HybridSignature::from_bytes(r.take(hybrid_sig::SIGNATURE_LEN))?;
        Ok(Self {
            version: BUNDLE_VERSION,
            created_at,
            keys: IdentityPublicKeys {
                mldsa,
                ed25519,
                mlkem,
                x25519,
            },
            prekey: Prekey {
                id,
                created_at: pk_created,
                expires_at: pk_expires,
                key: HybridPublicKey {
                    x25519: pk_x,
                    mlkem: pk_m,
                },
            },
            signature,
        })
    }
}

fn signed_bytes(
    version: u8,
    created_at: u64,
    keys: &IdentityPublicKeys,
    prekey: &Prekey,
) -> Vec<u8> {
    let mut v = Vec::with_capacity(SIGNED_LEN);
    v.push(version);
    v.extend_from_slice(&created_at.to_be_bytes());
    v.extend_from_slice(keys.mldsa.as_bytes());
    v.extend_from_slice(&keys.ed25519.to_bytes());
    v.extend_from_slice(keys.mlkem.as_bytes());
    v.extend_from_slice(&keys.x25519.0);
    v.extend_from_slice(&prekey.id.to_be_bytes());
    v.extend_from_slice(&prekey.created_at.to_be_bytes());
    v.extend_from_slice(&prekey.expires_at.to_be_bytes());
    v.extend_from_slice(&prekey.key.x25519.0);
    v.extend_from_slice(prekey.key.mlkem.as_bytes());
    v
}

/// A cursor over a buffer whose total length was checked up front.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let end = (self.pos + n).min(self.buf.len());
        let s = &self.buf[self.pos..end];
        self.pos = end;
        s
    }
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        let s = self.take(N);
        b[..s.len()].copy_from_slice(s);
        b
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.array())
    }
    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.array())
    }
}
