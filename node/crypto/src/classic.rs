//! The classical halves: X25519 (key agreement) and Ed25519 (signatures).

use crate::{CryptoError, CryptoRng, SharedSecret, labels, random_array};
use ed25519_dalek::Signer;
use zeroize::Zeroize;

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
#[derive(Clone)]
pub struct X25519SecretKey(x25519_dalek::StaticSecret);

impl X25519SecretKey {
    /// From 32 secret bytes (e.g. derived from the master seed).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(x25519_dalek::StaticSecret::from(bytes))
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

    /// The public key.
    pub fn public_key(&self) -> X25519PublicKey {
        X25519PublicKey(x25519_dalek::PublicKey::from(&self.0).to_bytes())
    }

    /// X25519(self, peer). Rejects a low-order peer key (all-zero output).
    pub fn diffie_hellman(&self, peer: &X25519PublicKey) -> Result<SharedSecret, CryptoError> {
        let shared = self
            .0
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
