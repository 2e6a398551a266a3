//! pars-session benchmarks: a message within a chain, a message that takes a full ratchet step
//! (X25519 + ML-KEM-1024 on both sides), and a handshake end to end.
//! Run with `cargo bench -p pars-session`; results go to docs/performance.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use pars_crypto::bundle::{IdentityBundle, PREKEY_LIFETIME_SECS, PrekeySecret};
use pars_crypto::identity::{IdentityKeys, MasterSeed};
use pars_session::{ReplayCache, Session};
use pars_wire::message::{ContentType, SessionMessage};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;

const NOW: u64 = 1_795_651_200;

struct Party {
    keys: IdentityKeys,
    bundle: IdentityBundle,
    prekeys: Vec<PrekeySecret>,
}

fn party(seed: u8, rng: &mut ChaCha20Rng) -> Party {
    let keys = IdentityKeys::from_seed(&MasterSeed::from_bytes([seed; 32]));
    let pk = PrekeySecret::generate(1, NOW, PREKEY_LIFETIME_SECS, rng);
    let bundle = IdentityBundle::create(&keys, &pk.public, NOW, rng).unwrap();
    Party {
        keys,
        bundle,
        prekeys: vec![pk],
    }
}

/// Initiate, first message, accept (bundle and signature verification), reply, read reply.
fn handshake(a: &Party, b: &Party, rng: &mut ChaCha20Rng) -> (Session, Session) {
    let mut sa = Session::initiate(
        &a.keys,
        &a.bundle,
        &b.keys.session_id(),
        &b.bundle,
        NOW,
        rng,
    )
    .unwrap();
    let m = sa.encrypt(b"hello", ContentType::Text, NOW, rng).unwrap();
    let wire = m.encode();
    let m = SessionMessage::decode(&wire).unwrap();
    let mut replay = ReplayCache::new();
    let (mut sb, _) = Session::accept(&b.keys, &b.prekeys, &mut replay, &m, NOW).unwrap();
    let r = sb.encrypt(b"hi", ContentType::Text, NOW, rng).unwrap();
    sa.decrypt(&r, NOW).unwrap();
    (sa, sb)
}

fn benches(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let a = party(1, &mut rng);
    let b = party(2, &mut rng);
    c.bench_function(
        "session/handshake end to end (initiate, accept, reply)",
        |bn| bn.iter(|| handshake(black_box(&a), black_box(&b), &mut rng)),
    );

    let kib = vec![0x42u8; 1024];
    let (mut sa, mut sb) = handshake(&a, &b, &mut rng);
    // Start Alice's chain so that every iteration stays within it.
    let m = sa.encrypt(&kib, ContentType::Text, NOW, &mut rng).unwrap();
    sb.decrypt(&m, NOW).unwrap();
    c.bench_function("session/1 KiB encrypt+decrypt within a chain", |bn| {
        bn.iter(|| {
            let m = sa
                .encrypt(black_box(&kib), ContentType::Text, NOW, &mut rng)
                .unwrap();
            sb.decrypt(&m, NOW).unwrap()
        })
    });

    // Alternate speakers: every message starts a chain, so each iteration is one full ratchet
    // step (sender: fresh X25519 + ML-KEM-1024 keys, DH, encapsulation; receiver: DH,
    // decapsulation) plus the message itself.
    let (mut sa, mut sb) = handshake(&a, &b, &mut rng);
    let mut turn = false;
    c.bench_function("session/1 KiB message with a full ratchet step", |bn| {
        bn.iter(|| {
            turn = !turn;
            let (s, r) = if turn {
                (&mut sa, &mut sb)
            } else {
                (&mut sb, &mut sa)
            };
            let m = s
                .encrypt(black_box(&kib), ContentType::Text, NOW, &mut rng)
                .unwrap();
            r.decrypt(&m, NOW).unwrap()
        })
    });

    let (sa, _) = handshake(&a, &b, &mut rng);
    c.bench_function("session/state to_bytes+from_bytes", |bn| {
        bn.iter(|| Session::from_bytes(black_box(sa.to_bytes().as_slice())).unwrap())
    });
}

criterion_group!(session, benches);
criterion_main!(session);
