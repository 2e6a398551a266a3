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
    // AWS-LC's Keccak: a fifth faster than the portable one on a 120 KiB file chunk (every
    // stored copy of a chunk is hashed; docs/performance.md "Files"), no slower on small input.
    let mut h = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA3_256);
    for p in parts {
        h.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(h.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::sha3_256;

    /// FIPS 202 vectors, and the portable Keccak's answer for inputs of every length around
    /// the rate (136 bytes) cut into parts anywhere.
    #[test]
    fn sha3_256_is_fips_202_whatever_the_parts() {
        let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(sha3_256(&[])),
            "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
        );
        assert_eq!(
            hex(sha3_256(&[b"a", b"", b"bc"])),
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
        );
        let data: Vec<u8> = (0..700u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in [1, 135, 136, 137, 271, 272, 273, 700] {
            use sha3::Digest;
            let want: [u8; 32] = sha3::Sha3_256::digest(&data[..len]).into();
            for cut in [0, 1, len / 2, len - 1, len] {
                let (a, b) = data[..len].split_at(cut);
                assert_eq!(sha3_256(&[a, b]), want, "len {len}, cut {cut}");
            }
        }
    }
}
