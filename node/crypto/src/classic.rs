//! The classical halves: X25519 (key agreement) and Ed25519 (signatures).

use crate::{CryptoError, CryptoRng, SharedSecret, labels, random_array};
use ed25519_dalek::Signer;
use zeroize::{Zeroize, Zeroizing};

/// X25519 public key size.
pub const X25519_LEN: usize = 32;
/// Ed25519 public key size.
pub const ED25519_PUBLIC_KEY_LEN: usize = 32;
/// Ed25519 signature size.
pub const ED25519_SIGNATURE_LEN: usize = 64;

/// An X25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct X25519PublicKey(pub [u8; X25519_LEN]);

/// An X25519 secret key (clamped on use). Zeroized on drop.
///
/// The scalar multiplications run in AWS-LC (`aws-lc-rs`), whose X25519 on x86-64 and AArch64 is
/// s2n-bignum's formally verified assembly, about twice as fast as `x25519-dalek`'s portable
/// Montgomery ladder (see `docs/performance.md`). `x25519-dalek` computes the same function and
/// stays as the fallback should AWS-LC ever refuse a key or report an error, so every result, the
/// low-order rejection included, is exactly RFC 7748's whichever library produced it. The AWS-LC
/// key and the public key are made once, on first use, and shared by clones.
#[derive(Clone)]
pub struct X25519SecretKey {
    bytes: Zeroizing<[u8; 32]>,
    prepared: std::sync::OnceLock<Prepared>,
}

/// What a key computes on first use.
#[derive(Clone)]
struct Prepared {
    public: [u8; X25519_LEN],
    /// AWS-LC's key: immutable, shared by clones, cleansed when the last one drops it. `None`
    /// when AWS-LC refused the key (the portable path then does everything).
    fast: Option<std::sync::Arc<aws_lc_rs::agreement::PrivateKey>>,
}

impl X25519SecretKey {
    /// From 32 secret bytes (e.g. derived from the master seed). Costs nothing until the key is
    /// used.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            bytes: Zeroizing::new(bytes),
            prepared: std::sync::OnceLock::new(),
        }
    }

    /// The key without AWS-LC: every operation by `x25519-dalek`.
    #[cfg(test)]
    fn portable(bytes: [u8; 32]) -> Self {
        let k = Self::from_bytes(bytes);
        let _ = k.prepared.set(Prepared {
            public: Self::public_portable(&bytes),
            fast: None,
        });
        k
    }

    fn public_portable(bytes: &[u8; 32]) -> [u8; X25519_LEN] {
        x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*bytes)).to_bytes()
    }

    fn prepared(&self) -> &Prepared {
        self.prepared.get_or_init(|| {
            let fast = aws_lc_rs::agreement::PrivateKey::from_private_key(
                &aws_lc_rs::agreement::X25519,
                self.bytes.as_slice(),
            )
            .ok();
            let public = fast
                .as_ref()
                .and_then(|k| k.compute_public_key().ok())
                .and_then(|p| <[u8; X25519_LEN]>::try_from(p.as_ref()).ok());
            match (fast, public) {
                (Some(k), Some(public)) => Prepared {
                    public,
                    fast: Some(std::sync::Arc::new(k)),
                },
                _ => Prepared {
                    public: Self::public_portable(&self.bytes),
                    fast: None,
                },
            }
        })
    }

    /// A fresh random key.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut b = random_array::<32>(rng);
        let k = Self::from_bytes(b);
        b.zeroize();
        k
    }

    /// The secret bytes, for the encrypted keystore only.
    pub fn to_bytes(&self) -> [u8; 32] {
        *self.bytes
    }

    /// The public key.
    pub fn public_key(&self) -> X25519PublicKey {
        X25519PublicKey(self.prepared().public)
    }

    /// X25519(self, peer). Rejects a low-order peer key (all-zero output).
    pub fn diffie_hellman(&self, peer: &X25519PublicKey) -> Result<SharedSecret, CryptoError> {
        use aws_lc_rs::agreement::{UnparsedPublicKey, X25519, agree};
        if let Some(key) = &self.prepared().fast {
            // AWS-LC fails on an all-zero output (a low-order peer key) and on internal errors;
            // either way the portable path below gives the definitive answer.
            let fast = agree(key, UnparsedPublicKey::new(&X25519, &peer.0), (), |s| {
                <[u8; 32]>::try_from(s).map_err(|_| ())
            });
            if let Ok(mut s) = fast {
                let out = SharedSecret::from_bytes(s);
                s.zeroize();
                return Ok(out);
            }
        }
        self.diffie_hellman_portable(peer)
    }

    fn diffie_hellman_portable(&self, peer: &X25519PublicKey) -> Result<SharedSecret, CryptoError> {
        let shared = x25519_dalek::StaticSecret::from(*self.bytes)
            .diffie_hellman(&x25519_dalek::PublicKey::from(peer.0));
        if !shared.was_contributory() {
            return Err(CryptoError::LowOrderPoint);
        }
        Ok(SharedSecret::from_bytes(shared.to_bytes()))
    }
}

impl std::fmt::Debug for X25519SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("X25519SecretKey([redacted])")
    }
}

impl X25519PublicKey {
    /// Parses 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CryptoError::len("X25519 public key", 32, bytes.len()))?;
        Ok(Self(arr))
    }
}

impl std::fmt::Debug for X25519PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "X25519PublicKey({})", hex::encode(self.0))
    }
}

/// An Ed25519 verifying key (rejects non-canonical and small-order encodings on parse).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ed25519PublicKey(ed25519_dalek::VerifyingKey);

/// An Ed25519 signing key. Zeroized on drop.
#[derive(Clone)]
pub struct Ed25519SigningKey(ed25519_dalek::SigningKey);

/// An Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ed25519Signature(pub [u8; ED25519_SIGNATURE_LEN]);

/// The bytes the Ed25519 half signs: `ED25519_DOMAIN ‖ len(ctx) ‖ ctx ‖ msg` (Ed25519 has no
/// context parameter of its own, so the purpose is bound into the message).
fn domain_message(ctx: &[u8], msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let ctx_len = u8::try_from(ctx.len()).map_err(|_| CryptoError::ContextTooLong(ctx.len()))?;
    let mut m = Vec::with_capacity(labels::ED25519_DOMAIN.len() + 1 + ctx.len() + msg.len());
    m.extend_from_slice(labels::ED25519_DOMAIN);
    m.push(ctx_len);
    m.extend_from_slice(ctx);
    m.extend_from_slice(msg);
    Ok(m)
}

impl Ed25519SigningKey {
    /// From 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(&bytes))
    }

    /// A fresh random key.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut b = random_array::<32>(rng);
        let k = Self::from_bytes(b);
        b.zeroize();
        k
    }

    /// The secret bytes, for the encrypted keystore only.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The verifying key.
    pub fn public_key(&self) -> Ed25519PublicKey {
        Ed25519PublicKey(self.0.verifying_key())
    }

    /// Signs `msg` for the purpose `ctx`.
    pub fn sign(&self, ctx: &[u8], msg: &[u8]) -> Result<Ed25519Signature, CryptoError> {
        let m = domain_message(ctx, msg)?;
        Ok(Ed25519Signature(self.0.sign(&m).to_bytes()))
    }
}

impl std::fmt::Debug for Ed25519SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ed25519SigningKey([redacted])")
    }
}

impl Ed25519PublicKey {
    /// Parses a compressed Edwards point; rejects invalid and weak (small-order) keys.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CryptoError::len("Ed25519 public key", 32, bytes.len()))?;
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&arr)
            .map_err(|_| CryptoError::MalformedKey("Ed25519 public key is not a valid point"))?;
        if vk.is_weak() {
            return Err(CryptoError::MalformedKey(
                "Ed25519 public key has small order",
            ));
        }
        Ok(Self(vk))
    }

    /// The encoded key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Verifies (strictly: no malleable or small-order signatures) `sig` over `msg` for `ctx`.
    pub fn verify(
        &self,
        ctx: &[u8],
        msg: &[u8],
        sig: &Ed25519Signature,
    ) -> Result<(), CryptoError> {
        let m = domain_message(ctx, msg)?;
        let s = ed25519_dalek::Signature::from_bytes(&sig.0);
        self.0
            .verify_strict(&m, &s)
            .map_err(|_| CryptoError::BadSignature { which: "Ed25519" })
    }
}

impl std::fmt::Debug for Ed25519PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ed25519PublicKey({})", hex::encode(self.0.to_bytes()))
    }
}

impl Ed25519Signature {
    /// Parses 64 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 64] = bytes
            .try_into()
            .map_err(|_| CryptoError::len("Ed25519 signature", 64, bytes.len()))?;
        Ok(Self(arr))
    }
}

impl std::fmt::Debug for Ed25519Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ed25519Signature({}…)", hex::encode(&self.0[..8]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn x25519_agrees_and_rejects_low_order() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let a = X25519SecretKey::generate(&mut rng);
        let b = X25519SecretKey::generate(&mut rng);
        assert_eq!(
            a.diffie_hellman(&b.public_key()).unwrap(),
            b.diffie_hellman(&a.public_key()).unwrap()
        );
        assert_eq!(
            a.diffie_hellman(&X25519PublicKey([0u8; 32])),
            Err(CryptoError::LowOrderPoint)
        );
    }

    fn hex32(s: &str) -> [u8; 32] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    #[test]
    fn x25519_rfc7748_vectors() {
        // RFC 7748 §5.2: the function on arbitrary scalars and u-coordinates (the second u has its
        // top bit set, which must be ignored).
        for (k, u, out) in [
            (
                "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
                "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
                "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
            ),
            (
                "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
                "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
                "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
            ),
        ] {
            let s = X25519SecretKey::from_bytes(hex32(k));
            let got = s.diffie_hellman(&X25519PublicKey(hex32(u))).unwrap();
            assert_eq!(hex::encode(got.as_bytes()), out);
        }
        // RFC 7748 §6.1: Alice and Bob.
        let a = X25519SecretKey::from_bytes(hex32(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ));
        let b = X25519SecretKey::from_bytes(hex32(
            "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        ));
        assert_eq!(
            hex::encode(a.public_key().0),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
        assert_eq!(
            hex::encode(b.public_key().0),
            "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
        );
        let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
        assert_eq!(
            hex::encode(a.diffie_hellman(&b.public_key()).unwrap().as_bytes()),
            shared
        );
        assert_eq!(
            hex::encode(b.diffie_hellman(&a.public_key()).unwrap().as_bytes()),
            shared
        );
    }

    /// The AWS-LC path and the portable `x25519-dalek` path compute the same function on every
    /// input: random keys and random u-coordinates (half of them on the twist, some ≥ p, some with
    /// the top bit set), and both reject the same low-order points.
    #[test]
    fn x25519_fast_path_equals_portable_path() {
        let mut rng = ChaCha20Rng::seed_from_u64(25519);
        for i in 0..300 {
            let k: [u8; 32] = random_array(&mut rng);
            let fast = X25519SecretKey::from_bytes(k);
            assert!(
                fast.prepared().fast.is_some(),
                "AWS-LC accepts every 32-byte key"
            );
            let slow = X25519SecretKey::portable(k);
            assert_eq!(fast.public_key(), slow.public_key());
            assert_eq!(fast.to_bytes(), k);
            let mut u: [u8; 32] = random_array(&mut rng);
            if i % 3 == 0 {
                u[31] |= 0x80;
            }
            let peer = X25519PublicKey(u);
            let f = fast.diffie_hellman(&peer);
            assert_eq!(
                f,
                slow.diffie_hellman_portable(&peer),
                "u = {}",
                hex::encode(u)
            );
            assert_eq!(f, fast.diffie_hellman_portable(&peer));
        }
        // Low-order points (and their non-canonical encodings): all-zero output, rejected.
        let p = "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f";
        for u in [
            "0000000000000000000000000000000000000000000000000000000000000000",
            "0100000000000000000000000000000000000000000000000000000000000000",
            "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
            "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            p,
            "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        ] {
            let peer = X25519PublicKey(hex32(u));
            for k in [[1u8; 32], [0xA5; 32]] {
                let s = X25519SecretKey::from_bytes(k);
                assert_eq!(
                    s.diffie_hellman(&peer),
                    Err(CryptoError::LowOrderPoint),
                    "{u}"
                );
                assert_eq!(
                    s.diffie_hellman_portable(&peer),
                    Err(CryptoError::LowOrderPoint)
                );
            }
        }
    }

    #[test]
    fn x25519_keys_are_send_sync_and_clone() {
        fn send_sync<T: Send + Sync + Clone>() {}
        send_sync::<X25519SecretKey>();
        let k = X25519SecretKey::from_bytes([9; 32]);
        let c = k.clone();
        let peer = X25519SecretKey::from_bytes([8; 32]).public_key();
        assert_eq!(
            k.diffie_hellman(&peer).unwrap(),
            c.diffie_hellman(&peer).unwrap()
        );
        assert_eq!(format!("{k:?}"), "X25519SecretKey([redacted])");
    }

    #[test]
    fn ed25519_context_binding() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let k = Ed25519SigningKey::generate(&mut rng);
        let pk = k.public_key();
        let s = k.sign(b"a", b"msg").unwrap();
        pk.verify(b"a", b"msg", &s).unwrap();
        assert!(pk.verify(b"b", b"msg", &s).is_err());
        assert!(pk.verify(b"a", b"msh", &s).is_err());
        let mut t = s;
        t.0[3] ^= 1;
        assert!(pk.verify(b"a", b"msg", &t).is_err());
        assert!(
            Ed25519PublicKey::from_bytes(&[0u8; 32]).is_err(),
            "identity point is weak"
        );
        assert_eq!(Ed25519PublicKey::from_bytes(&pk.to_bytes()).unwrap(), pk);
    }
}
