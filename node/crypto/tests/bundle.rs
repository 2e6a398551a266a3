//! Identity bundle: creation, encoding, and every rejection `verify` promises.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pars_crypto::bundle::{BUNDLE_LEN, IdentityBundle, PREKEY_LIFETIME_SECS, PrekeySecret};
use pars_crypto::identity::IdentityKeys;
use pars_crypto::{CryptoError, ErrorKind, HasKind, SessionId};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const NOW: u64 = 1_790_000_000;

fn fixture(seed: u64) -> (IdentityKeys, IdentityBundle, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let id = IdentityKeys::generate(&mut rng);
    let prekey = PrekeySecret::generate(1, NOW, PREKEY_LIFETIME_SECS, &mut rng);
    let bundle = IdentityBundle::create(&id, &prekey.public, NOW, &mut rng).unwrap();
    (id, bundle, rng)
}

#[test]
fn round_trip_and_verify() {
    let (id, bundle, _) = fixture(1);
    let bytes = bundle.to_bytes();
    assert_eq!(bytes.len(), BUNDLE_LEN);
    assert_eq!(BUNDLE_LEN, 10_544);
    let decoded = IdentityBundle::from_bytes(&bytes).unwrap();
    assert_eq!(decoded, bundle);
    decoded.verify(&id.session_id(), NOW).unwrap();
    assert_eq!(decoded.session_id(), id.session_id());
}

#[test]
fn wrong_session_id_is_rejected() {
    let (_, bundle, _) = fixture(2);
    let (other, _, _) = fixture(3);
    let err = bundle.verify(&other.session_id(), NOW).unwrap_err();
    assert!(matches!(err, CryptoError::BundleIdMismatch { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Verification);
}

#[test]
fn substituted_keys_are_rejected() {
    // Mallory takes Alice's bundle and swaps in her own encryption keys and prekey: the
    // Session ID still matches (ML-DSA key unchanged) but the signature no longer does.
    let (alice, bundle, _) = fixture(4);
    let (mallory, mb, _) = fixture(5);
    let mut forged = bundle.clone();
    forged.keys.mlkem = mallory.public_keys().mlkem;
    assert!(matches!(
        forged.verify(&alice.session_id(), NOW),
        Err(CryptoError::BadSignature { .. })
    ));
    let mut forged = bundle.clone();
    forged.prekey = mb.prekey.clone();
    assert!(forged.verify(&alice.session_id(), NOW).is_err());
    // Mallory's whole bundle re-signed by her is not Alice's.
    assert!(mb.verify(&alice.session_id(), NOW).is_err());
}

#[test]
fn every_flipped_byte_is_rejected() {
    let (id, bundle, _) = fixture(6);
    let bytes = bundle.to_bytes();
    let sid = id.session_id();
    // Every byte of the header and prekey, and a stride through keys and signature.
    let positions: Vec<usize> = (0..64)
        .chain((2600..2700).step_by(7))
        .chain((4200..4300).step_by(3))
        .chain((5800..BUNDLE_LEN).step_by(97))
        .chain(BUNDLE_LEN - 5..BUNDLE_LEN)
        .collect();
    for i in positions {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        let ok = IdentityBundle::from_bytes(&b).and_then(|x| x.verify(&sid, NOW));
        assert!(ok.is_err(), "flipping byte {i} went unnoticed");
    }
}

#[test]
fn truncated_and_garbage_input() {
    let (_, bundle, _) = fixture(7);
    let bytes = bundle.to_bytes();
    for n in [0, 1, 9, 100, BUNDLE_LEN - 1] {
        assert!(IdentityBundle::from_bytes(&bytes[..n]).is_err(), "len {n}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(IdentityBundle::from_bytes(&longer).is_err());
    let mut v2 = bytes.clone();
    v2[0] = 2;
    assert_eq!(
        IdentityBundle::from_bytes(&v2),
        Err(CryptoError::UnsupportedBundleVersion(2))
    );
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    for _ in 0..50 {
        let mut junk = vec![0u8; BUNDLE_LEN];
        rand_core::Rng::fill_bytes(&mut rng, &mut junk);
        junk[0] = 1;
        let _ = IdentityBundle::from_bytes(&junk); // must not panic
    }
}

#[test]
fn expired_prekey_and_future_bundle() {
    let (id, bundle, _) = fixture(8);
    let sid = id.session_id();
    let later = NOW + PREKEY_LIFETIME_SECS;
    assert!(matches!(
        bundle.verify(&sid, later),
        Err(CryptoError::Expired { what: "prekey", .. })
    ));
    let earlier = NOW - 3600;
    assert!(matches!(
        bundle.verify(&sid, earlier),
        Err(CryptoError::FromTheFuture { .. })
    ));
    // Small clock skew is tolerated.
    bundle.verify(&sid, NOW - 60).unwrap();
}

#[test]
fn session_id_binds_to_mldsa_key() {
    let (id, _, _) = fixture(9);
    let expected =
        SessionId::from_digest(pars_crypto::sha3_256(&[id.public_keys().mldsa.as_bytes()]));
    assert_eq!(id.session_id(), expected);
    assert_eq!(id.session_id().as_bytes()[0], 0x05);
}
