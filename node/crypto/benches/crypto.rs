//! pars-crypto benchmarks: identity derivation, hybrid KEM, ML-DSA-87, bundle verification, and
//! ML-KEM-1024 in `libcrux-ml-kem` (the backend) against RustCrypto's `ml-kem` in the same run.
//! Run with `cargo bench -p pars-crypto`; results go to docs/performance.md.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use pars_crypto::bundle::{IdentityBundle, PREKEY_LIFETIME_SECS, PrekeySecret};
use pars_crypto::hybrid_kem::HybridSecretKey;
use pars_crypto::identity::{IdentityKeys, MasterSeed};
use pars_crypto::labels;
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_crypto::mlkem::MlKemKeyPair;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;

const NOW: u64 = 1_790_000_000;

fn identity(c: &mut Criterion) {
    let seed = MasterSeed::from_bytes([7; 32]);
    c.bench_function("identity/keygen_from_seed (all four keys)", |b| {
        b.iter(|| IdentityKeys::from_seed(black_box(&seed)))
    });
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let id = IdentityKeys::from_seed(&seed);
    let prekey = PrekeySecret::generate(1, NOW, PREKEY_LIFETIME_SECS, &mut rng);
    let bundle = IdentityBundle::create(&id, &prekey.public, NOW, &mut rng).unwrap();
    let bytes = bundle.to_bytes();
    let sid = id.session_id();
    c.bench_function("bundle/decode+verify", |b| {
        b.iter(|| {
            IdentityBundle::from_bytes(black_box(&bytes))
                .unwrap()
                .verify(&sid, NOW)
                .unwrap()
        })
    });
}

fn hybrid_kem(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let sk = HybridSecretKey::generate(&mut rng);
    let pk = sk.public_key();
    c.bench_function("hybrid_kem/encapsulate (X25519 + ML-KEM-1024)", |b| {
        b.iter(|| pk.encapsulate(labels::HANDSHAKE, &mut rng).unwrap())
    });
    let (ct, _) = pk.encapsulate(labels::HANDSHAKE, &mut rng).unwrap();
    c.bench_function("hybrid_kem/decapsulate (X25519 + ML-KEM-1024)", |b| {
        b.iter(|| sk.decapsulate(black_box(&ct), labels::HANDSHAKE).unwrap())
    });
}

fn mldsa(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let sk = MlDsaSigningKey::from_seed(&[9; 32]);
    let pk = sk.public_key();
    let msg = [0x42u8; 1024];
    c.bench_function("ml-dsa-87/keygen_from_seed", |b| {
        b.iter(|| MlDsaSigningKey::from_seed(black_box(&[9; 32])))
    });
    c.bench_function("ml-dsa-87/sign (1 KiB)", |b| {
        b.iter(|| {
            sk.sign(labels::SIG_HANDSHAKE, black_box(&msg), &mut rng)
                .unwrap()
        })
    });
    let sig = sk.sign(labels::SIG_HANDSHAKE, &msg, &mut rng).unwrap();
    c.bench_function("ml-dsa-87/verify (1 KiB)", |b| {
        b.iter(|| {
            pk.verify(labels::SIG_HANDSHAKE, black_box(&msg), &sig)
                .unwrap()
        })
    });
}

fn mlkem_backends(c: &mut Criterion) {
    use ml_kem::kem::Decapsulate;
    let mut g = c.benchmark_group("ml-kem-1024 backends");
    let seed = [5u8; 64];
    g.bench_function("libcrux/keygen", |b| {
        b.iter(|| MlKemKeyPair::from_seed(black_box(&seed)))
    });
    let kp = MlKemKeyPair::from_seed(&seed);
    g.bench_function("libcrux/encapsulate", |b| {
        b.iter(|| kp.public.encapsulate_derand(black_box(&[1; 32])))
    });
    let (ct, _) = kp.public.encapsulate_derand(&[1; 32]);
    g.bench_function("libcrux/decapsulate", |b| {
        b.iter(|| kp.secret.decapsulate(black_box(&ct)))
    });

    // RustCrypto's ml-kem, same operations, deterministic entry points where they exist.
    g.bench_function("rustcrypto-ml-kem/keygen", |b| {
        b.iter(|| ml_kem::DecapsulationKey1024::from_seed(black_box(seed.into())))
    });
    let dk = ml_kem::DecapsulationKey1024::from_seed(seed.into());
    let ek = dk.encapsulation_key().clone();
    let m: ml_kem::B32 = [1u8; 32].into();
    g.bench_function("rustcrypto-ml-kem/encapsulate", |b| {
        b.iter(|| ek.encapsulate_deterministic(black_box(&m)))
    });
    let (rct, _) = ek.encapsulate_deterministic(&m);
    g.bench_function("rustcrypto-ml-kem/decapsulate", |b| {
        b.iter(|| dk.decapsulate(black_box(&rct)))
    });
    g.finish();
}

/// The classical and symmetric primitives of an onion hop, against what they replaced: X25519
/// by AWS-LC against `x25519-dalek`, AES-256-CTR and GMAC (AWS-LC) against ChaCha20 and Poly1305
/// (RustCrypto) over one onion payload (29,185 bytes).
fn primitives(c: &mut Criterion) {
    use pars_crypto::SharedSecret;
    use pars_crypto::classic::X25519SecretKey;
    use pars_crypto::stream::{aes256_ctr_xor, chacha20_xor, gmac, poly1305};
    let mut g = c.benchmark_group("primitives");
    let sk = X25519SecretKey::from_bytes([3; 32]);
    let peer = X25519SecretKey::from_bytes([4; 32]).public_key();
    g.bench_function("X25519 DH (AWS-LC)", |b| {
        b.iter(|| sk.diffie_hellman(black_box(&peer)).unwrap())
    });
    let dalek = x25519_dalek::StaticSecret::from([3; 32]);
    let dalek_peer = x25519_dalek::PublicKey::from(peer.0);
    g.bench_function("X25519 DH (x25519-dalek)", |b| {
        b.iter(|| dalek.diffie_hellman(black_box(&dalek_peer)))
    });
    g.bench_function("X25519 public key from the secret bytes (AWS-LC)", |b| {
        b.iter(|| X25519SecretKey::from_bytes(black_box([5; 32])).public_key())
    });
    g.bench_function("X25519 public key (x25519-dalek)", |b| {
        b.iter(|| x25519_dalek::PublicKey::from(black_box(&dalek)))
    });
    let key = SharedSecret::from_bytes([7; 32]);
    let mut payload = vec![0u8; 29_185];
    g.bench_function("AES-256-CTR, 29,185 B (AWS-LC)", |b| {
        b.iter(|| aes256_ctr_xor(&key, black_box(&mut payload)))
    });
    g.bench_function("ChaCha20, 29,185 B", |b| {
        b.iter(|| chacha20_xor(&key, black_box(&mut payload)))
    });
    g.bench_function("GMAC, 29,185 B (AWS-LC)", |b| {
        b.iter(|| gmac(&key, black_box(&payload)))
    });
    g.bench_function("Poly1305, 29,185 B", |b| {
        b.iter(|| poly1305(&key, black_box(&payload)))
    });
    g.finish();
}

criterion_group!(
    benches,
    identity,
    hybrid_kem,
    mldsa,
    mlkem_backends,
    primitives
);
criterion_main!(benches);
