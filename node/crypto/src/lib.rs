//! # pars-crypto
//!
//! The cryptographic core of Pars Session. It is:
//!
//! - **identity**: one 32-byte master seed, backed up as a 24-word BIP39 mnemonic, from which the
//!   four identity keys (ML-KEM-1024 and X25519 for encryption, ML-DSA-87 and Ed25519 for
//!   signatures) are derived deterministically ([`identity`]);
//! - the **Session ID**, `0x05 ‖ SHA3-256(ML-DSA-87 public key)` ([`SessionId`]);
//! - the signed **identity bundle** that publishes the public keys and a medium-term prekey
//!   ([`bundle`]);
//! - **hybrid primitives**: X25519 + ML-KEM-1024 key encapsulation with a transcript-binding
//!   combiner ([`hybrid_kem`]), Ed25519 + ML-DSA-87 signatures valid only when both halves verify
//!   ([`hybrid_sig`]);
//! - **symmetric primitives**: XChaCha20-Poly1305 ([`aead`]), HKDF-SHA3-256 ([`kdf`]), padding to
//!   size buckets ([`padding`]);
//! - every domain-separation **label** in one place ([`labels`]).
//!
//! It is not a protocol: handshakes, ratchets and onion layers live in `pars-session` and
//! `pars-onion`, which compose these primitives. It does no I/O, holds no global state and reads
//! no clock: randomness is always passed in as `&mut impl CryptoRng`.
//!
//! The post-quantum algorithms come from `libcrux-ml-kem` and `ml-dsa`, each wrapped by a single
//! file ([`mlkem`], [`mldsa`]) so that swapping a backend touches one file. Every secret type
//! zeroizes on drop and its `Debug` prints no key material.

pub mod aead;
pub mod bundle;
pub mod classic;
mod error;
pub mod hybrid_kem;
pub mod hybrid_kem768;
mod hybrid_kem_impl;
pub mod hybrid_sig;
pub mod identity;
pub mod kdf;
pub mod labels;
pub mod mldsa;
pub mod mlkem;
pub mod mlkem768;
mod mlkem_impl;
pub mod padding;
mod secret;
mod session_id;
pub mod stream;

pub use error::CryptoError;
pub use pars_error::{ErrorKind, HasKind};
pub use rand_core::CryptoRng;
pub use secret::{SecretBytes, SharedSecret};
pub use session_id::{SESSION_ID_LEN, SESSION_ID_PREFIX, SessionId, SessionIdError};

/// Fills a fresh array from the caller's RNG.
pub fn random_array<const N: usize>(rng: &mut impl CryptoRng) -> [u8; N] {
    let mut out = [0u8; N];
    rng.fill_bytes(&mut out);
    out
}

/// SHA3-256 (FIPS 202) of the concatenation of `parts`.
pub fn sha3_256(parts: &[&[u8]]) -> [u8; 32] {
    use sha3::Digest;
    let mut h = sha3::Sha3_256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}
