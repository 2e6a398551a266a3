//! HPKE single-shot sealing (RFC 9180, base mode) for the suite's HPKE (ML-KEM-1024,
//! HKDF-SHA512, AES-256-GCM) with a memo of the key schedule's `info_hash`.
//!
//! Why: MLS encrypts a Welcome's group secrets to every new member with the encrypted group
//! info as HPKE `info` (RFC 9420 §12.4.3.1, `EncryptWithLabel`), and the encrypted group info
//! carries the ratchet tree: about 9 KB per member. libcrux's HPKE hashes the whole `info` for
//! every recipient, so adding k members to an n-member group hashed k × 9n KB (a 1,000-member
//! group built in one commit: 9 GB of SHA-512, 28 s; at 10,000, hours). Here the `info_hash`
//! of a long `info` is computed once (HMAC-SHA512 by AWS-LC, streamed, no copy) and found again
//! for the next recipient by comparing the whole `info` with the one it was computed from, so a
//! hash is only ever used for its own input. Everything else is the RFC's key schedule over
//! the same primitives as libcrux's (ML-KEM-1024 encapsulation by `pars-crypto`, HKDF and
//! AES-GCM by libcrux); a test opens what this seals with libcrux's HPKE and the other way
//! round. Short `info`s (every other use of HPKE in MLS) go to libcrux's HPKE unchanged.

use aws_lc_rs::hmac;
use openmls_libcrux_crypto::CryptoProvider;
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::random::OpenMlsRand;
use openmls_traits::types::{
    AeadType, CryptoError, HashType, HpkeAeadType, HpkeCiphertext, HpkeConfig, HpkeKdfType,
    HpkeKemType,
};
use pars_crypto::mlkem::MlKemPublicKey;
use std::sync::Mutex;
use zeroize::{Zeroize, Zeroizing};

/// `info`s at least this long take this path (a Welcome's encrypted group info; everything
/// else MLS encrypts with HPKE has a context of a few hundred bytes).
pub(crate) const MIN_INFO: usize = 16 * 1024;

/// `suite_id` of RFC 9180 §5.1: "HPKE", KEM, KDF, AEAD.
const SUITE_ID: [u8; 10] = *b"HPKE\x00\x42\x00\x03\x00\x02";
const VERSION: &[u8] = b"HPKE-v1";
const HASH_LEN: usize = 64;
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// An `info` and its `info_hash`.
type Entry = (Box<[u8]>, [u8; HASH_LEN]);

/// The `info_hash`es of the last long `info`s, with the `info` each was computed from.
#[derive(Default)]
pub(crate) struct InfoMemo {
    entries: Mutex<Vec<Entry>>,
}

/// How many `info`s are kept (one Welcome at a time is the common case).
const KEPT: usize = 2;

impl InfoMemo {
    /// Forgets every `info`.
    pub(crate) fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    /// `LabeledExtract("", "info_hash", info)` (RFC 9180 §4), from the memo if held.
    fn info_hash(&self, info: &[u8]) -> [u8; HASH_LEN] {
        if let Ok(entries) = self.entries.lock()
            && let Some((_, h)) = entries.iter().find(|(i, _)| **i == *info)
        {
            return *h;
        }
        // Extract with an empty salt: HMAC keyed with HashLen zero bytes (RFC 5869 §2.2).
        let key = hmac::Key::new(hmac::HMAC_SHA512, &[0; HASH_LEN]);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(VERSION);
        ctx.update(&SUITE_ID);
        ctx.update(b"info_hash");
        ctx.update(info);
        let mut h = [0; HASH_LEN];
        h.copy_from_slice(ctx.sign().as_ref());
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= KEPT {
                entries.remove(0);
            }
            entries.push((info.into(), h));
        }
        h
    }
}

/// `LabeledExpand(prk, label, info, len)` of RFC 9180 §4.
fn labeled_expand(
    crypto: &CryptoProvider,
    prk: &[u8],
    label: &[u8],
    info: &[u8],
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let len16 = u16::try_from(len).map_err(|_| CryptoError::InvalidLength)?;
    let mut labeled =
        Vec::with_capacity(2 + VERSION.len() + SUITE_ID.len() + label.len() + info.len());
    labeled.extend_from_slice(&len16.to_be_bytes());
    labeled.extend_from_slice(VERSION);
    labeled.extend_from_slice(&SUITE_ID);
    labeled.extend_from_slice(label);
    labeled.extend_from_slice(info);
    let out = crypto.hkdf_expand(HashType::Sha2_512, prk, &labeled, len)?;
    Ok(Zeroizing::new(out.as_slice().to_vec()))
}

/// `SealBase(pk_r, info, aad, ptxt)` of RFC 9180 §6.1 for the suite's HPKE, or `None` when
/// this is not the suite's HPKE or `info` is short (the caller uses libcrux's then).
pub(crate) fn seal(
    crypto: &CryptoProvider,
    memo: &InfoMemo,
    config: &HpkeConfig,
    pk_r: &[u8],
    info: &[u8],
    aad: &[u8],
    ptxt: &[u8],
) -> Option<Result<HpkeCiphertext, CryptoError>> {
    let HpkeConfig(kem, kdf, aead) = config;
    let ours = matches!(
        (kem, kdf, aead),
        (
            HpkeKemType::MlKem1024,
            HpkeKdfType::HkdfSha512,
            HpkeAeadType::AesGcm256
        )
    );
    if !ours || info.len() < MIN_INFO {
        return None;
    }
    Some(seal_long(crypto, memo, pk_r, info, aad, ptxt))
}

fn seal_long(
    crypto: &CryptoProvider,
    memo: &InfoMemo,
    pk_r: &[u8],
    info: &[u8],
    aad: &[u8],
    ptxt: &[u8],
) -> Result<HpkeCiphertext, CryptoError> {
    // Encap (the ML-KEM KEM of draft-connolly-cfrg-hpke-mlkem: the shared secret is ML-KEM's).
    let pk = MlKemPublicKey::from_bytes(pk_r).map_err(|_| CryptoError::InvalidPublicKey)?;
    let mut m = crypto
        .random_array::<32>()
        .map_err(|_| CryptoError::InsufficientRandomness)?;
    let (enc, shared_secret) = pk.encapsulate_derand(&m);
    m.zeroize();

    // KeySchedule, base mode: psk and psk_id empty.
    let psk_id_hash = crypto.hkdf_extract(
        HashType::Sha2_512,
        &[],
        &[VERSION, &SUITE_ID, b"psk_id_hash"].concat(),
    )?;
    let info_hash = memo.info_hash(info);
    let mut context = Vec::with_capacity(1 + 2 * HASH_LEN);
    context.push(0x00); // mode_base
    context.extend_from_slice(psk_id_hash.as_slice());
    context.extend_from_slice(&info_hash);
    let mut ikm = Zeroizing::new(Vec::with_capacity(VERSION.len() + SUITE_ID.len() + 6));
    ikm.extend_from_slice(VERSION);
    ikm.extend_from_slice(&SUITE_ID);
    ikm.extend_from_slice(b"secret");
    // The psk is empty: nothing follows the label.
    let secret = crypto.hkdf_extract(HashType::Sha2_512, shared_secret.as_bytes(), &ikm)?;
    let key = labeled_expand(crypto, secret.as_slice(), b"key", &context, KEY_LEN)?;
    let nonce = labeled_expand(
        crypto,
        secret.as_slice(),
        b"base_nonce",
        &context,
        NONCE_LEN,
    )?;

    // Seal with sequence number 0: the nonce is the base nonce.
    let ciphertext = crypto.aead_encrypt(AeadType::Aes256Gcm, &key, ptxt, &nonce, aad)?;
    Ok(HpkeCiphertext {
        kem_output: enc.as_bytes().to_vec().into(),
        ciphertext: ciphertext.into(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The suite's HPKE: the one this module implements.
    const CONFIG: HpkeConfig = HpkeConfig(
        HpkeKemType::MlKem1024,
        HpkeKdfType::HkdfSha512,
        HpkeAeadType::AesGcm256,
    );

    #[test]
    fn what_is_sealed_here_opens_with_libcrux_s_hpke_and_nothing_else_does() {
        let libcrux = CryptoProvider::new().unwrap();
        let memo = InfoMemo::default();
        let kp = libcrux.derive_hpke_keypair(CONFIG, &[3; 64]).unwrap();
        let info: Vec<u8> = (0..MIN_INFO + 1_000).map(|i| (i % 251) as u8).collect();
        let mut other = info.clone();
        other[MIN_INFO / 2] ^= 1;
        for round in 0..2 {
            // The second round finds both infos in the memo.
            for (i, inf) in [&info, &other].into_iter().enumerate() {
                let pt = format!("group secrets {round} {i}");
                let ct = seal(
                    &libcrux,
                    &memo,
                    &CONFIG,
                    &kp.public,
                    inf,
                    b"",
                    pt.as_bytes(),
                )
                .unwrap()
                .unwrap();
                let opened = libcrux
                    .hpke_open(CONFIG, &ct, &kp.private, inf, b"")
                    .unwrap();
                assert_eq!(opened, pt.as_bytes());
                // Bound to its own info: the other one does not open it.
                let wrong = if i == 0 { &other } else { &info };
                assert!(
                    libcrux
                        .hpke_open(CONFIG, &ct, &kp.private, wrong, b"")
                        .is_err()
                );
            }
        }
        // With an aad too.
        let ct = seal(&libcrux, &memo, &CONFIG, &kp.public, &info, b"aad", b"x")
            .unwrap()
            .unwrap();
        assert_eq!(
            libcrux
                .hpke_open(CONFIG, &ct, &kp.private, &info, b"aad")
                .unwrap(),
            b"x"
        );
        // Short infos and other suites are not taken.
        assert!(seal(&libcrux, &memo, &CONFIG, &kp.public, b"short", b"", b"x").is_none());
        let other_suite = HpkeConfig(
            HpkeKemType::MlKem768,
            HpkeKdfType::HkdfSha384,
            HpkeAeadType::AesGcm256,
        );
        assert!(seal(&libcrux, &memo, &other_suite, &kp.public, &info, b"", b"x").is_none());
        // A bad public key is an error, not a panic.
        assert!(
            seal(&libcrux, &memo, &CONFIG, &kp.public[1..], &info, b"", b"x")
                .unwrap()
                .is_err()
        );
    }
}
