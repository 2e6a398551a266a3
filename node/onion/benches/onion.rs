//! pars-onion benchmarks: packet creation, per-hop processing (forward and deliver), reply
//! opening, and the onion-layer KEM with ML-KEM-768 against ML-KEM-1024 (the per-hop cost of the
//! alternative). Run with `cargo bench -p pars-onion`; results go to docs/performance.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use pars_crypto::classic::Ed25519SigningKey;
use pars_crypto::hybrid_kem::HybridSecretKey;
use pars_crypto::hybrid_kem768::Hybrid768SecretKey;
use pars_crypto::{labels, random_array};
use pars_onion::{
    KeySchedule, OnionKeyRing, OnionRouter, PathHop, Processed, ReplyPath, ReplyTable,
    build_request, reply_packet,
};
use pars_wire::NodeId;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;
use std::time::Duration;

const NOW: u64 = 1_790_000_000;

struct Setup {
    rng: ChaCha20Rng,
    routers: Vec<OnionRouter>,
    path: Vec<PathHop>,
    reply: ReplyPath,
}

fn setup() -> Setup {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut routers = Vec::new();
    let mut hops = Vec::new();
    for i in 0..4u8 {
        let id = NodeId(random_array(&mut rng));
        let ring = OnionKeyRing::new(id, KeySchedule::default(), NOW, &mut rng);
        let ann = ring
            .announce_ed25519(&Ed25519SigningKey::from_bytes([i; 32]))
            .unwrap();
        hops.push(PathHop::from_announcement(&ann.0[0]));
        routers.push(OnionRouter::new(ring));
    }
    let reply = ReplyPath {
        hops: vec![hops[3].clone(), hops[0].clone()],
        client: NodeId(random_array(&mut rng)),
    };
    Setup {
        rng,
        routers,
        path: hops[..3].to_vec(),
        reply,
    }
}

fn packets(c: &mut Criterion) {
    let mut s = setup();
    let data = vec![0x42u8; 1024];
    c.bench_function("onion/build request (3 hops + reply block)", |b| {
        b.iter(|| {
            build_request(&s.path, black_box(&data), Some(&s.reply), NOW, &mut s.rng).unwrap()
        })
    });
    c.bench_function("onion/build request (3 hops, no reply)", |b| {
        b.iter(|| build_request(&s.path, black_box(&data), None, NOW, &mut s.rng).unwrap())
    });
    // Per hop: each iteration peels a fresh packet (a repeat would be a replay).
    let Setup {
        mut rng,
        mut routers,
        path,
        reply,
    } = setup();
    for (name, first, delivers) in [
        ("onion/process one hop (forward)", 0, false),
        ("onion/process one hop (deliver, last hop)", 2, true),
    ] {
        c.bench_function(name, |b| {
            b.iter_batched(
                || {
                    build_request(&path[first..], &data, Some(&reply), NOW, &mut rng)
                        .unwrap()
                        .packet
                },
                |p| {
                    let out = routers[first].process(p, NOW);
                    assert_eq!(
                        matches!(out, Processed::Deliver { .. }),
                        delivers,
                        "{out:?}"
                    );
                    assert!(!matches!(out, Processed::Drop(_)), "{out:?}");
                    out
                },
                BatchSize::SmallInput,
            )
        });
    }
    c.bench_function(
        "onion/reply: build at the last hop + open at the client",
        |b| {
            b.iter_batched(
                || {
                    let req =
                        build_request(&path[2..], &data, Some(&reply), NOW, &mut rng).unwrap();
                    let Processed::Deliver {
                        reply: Some(block), ..
                    } = routers[2].process(req.packet, NOW)
                    else {
                        panic!()
                    };
                    let (_, p) = reply_packet(&block, &data).unwrap();
                    let Processed::Forward { packet, .. } = routers[3].process(p, NOW) else {
                        panic!()
                    };
                    let Processed::Forward { packet, .. } = routers[0].process(packet, NOW) else {
                        panic!()
                    };
                    let mut t = ReplyTable::new();
                    t.insert(req.pending.unwrap());
                    (t, packet)
                },
                |(mut t, packet)| t.open_reply(&packet).unwrap(),
                BatchSize::SmallInput,
            )
        },
    );
}

fn kems(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let sk768 = Hybrid768SecretKey::generate(&mut rng);
    let (ct768, _) = sk768
        .public_key()
        .encapsulate(labels::ONION, &mut rng)
        .unwrap();
    let sk1024 = HybridSecretKey::generate(&mut rng);
    let pk1024 = sk1024.public_key();
    let (ct1024, _) = pk1024.encapsulate(labels::ONION, &mut rng).unwrap();
    let mut g = c.benchmark_group("onion layer KEM");
    g.bench_function("decapsulate X25519 + ML-KEM-768", |b| {
        b.iter(|| sk768.decapsulate(black_box(&ct768), labels::ONION).unwrap())
    });
    g.bench_function("decapsulate X25519 + ML-KEM-1024", |b| {
        b.iter(|| {
            sk1024
                .decapsulate(black_box(&ct1024), labels::ONION)
                .unwrap()
        })
    });
    g.bench_function("encapsulate X25519 + ML-KEM-768", |b| {
        b.iter(|| {
            sk768
                .public_key()
                .encapsulate(labels::ONION, &mut rng)
                .unwrap()
        })
    });
    g.bench_function("encapsulate X25519 + ML-KEM-1024", |b| {
        b.iter(|| pk1024.encapsulate(labels::ONION, &mut rng).unwrap())
    });
    g.finish();
}

/// What one hop's processing is made of, to see where the time goes.
fn components(c: &mut Criterion) {
    use pars_crypto::SharedSecret;
    use pars_crypto::stream::{aes256_ctr_xor, chacha20_xor, gmac, poly1305};
    let key = SharedSecret::from_bytes([7; 32]);
    let mut payload = vec![0u8; pars_onion::PAYLOAD_LEN];
    let mut g = c.benchmark_group("onion per-hop components");
    g.bench_function("HKDF-SHA3, 7 keys (the expansion ChaCha20 replaced)", |b| {
        b.iter(|| pars_crypto::kdf::derive_keys::<7>(b"bench", black_box(&[1u8; 32]), &[]))
    });
    let mut seven = [0u8; 224];
    g.bench_function("ChaCha20, 7 layer keys", |b| {
        b.iter(|| chacha20_xor(&key, black_box(&mut seven)))
    });
    g.bench_function("AES-256-CTR over the payload (29,185 B)", |b| {
        b.iter(|| aes256_ctr_xor(&key, black_box(&mut payload)))
    });
    g.bench_function("GMAC over the payload (29,185 B)", |b| {
        b.iter(|| gmac(&key, black_box(&payload)))
    });
    g.bench_function("(before) ChaCha20 over the payload (29,185 B)", |b| {
        b.iter(|| chacha20_xor(&key, black_box(&mut payload)))
    });
    g.bench_function("(before) Poly1305 over the payload (29,185 B)", |b| {
        b.iter(|| poly1305(&key, black_box(&payload)))
    });
    let mut routing = vec![0u8; 2426 + 1205];
    g.bench_function("AES-256-CTR routing stream (3,631 B)", |b| {
        b.iter(|| aes256_ctr_xor(&key, black_box(&mut routing)))
    });
    let a = pars_crypto::classic::X25519SecretKey::from_bytes([3; 32]);
    let p = pars_crypto::classic::X25519SecretKey::from_bytes([4; 32]).public_key();
    g.bench_function("X25519 (AWS-LC)", |b| {
        b.iter(|| a.diffie_hellman(black_box(&p)).unwrap())
    });
    let kp = pars_crypto::mlkem768::MlKem768KeyPair::from_seed(&[5; 64]);
    let (ct, _) = kp.public.encapsulate_derand(&[6; 32]);
    g.bench_function("ML-KEM-768 decapsulate", |b| {
        b.iter(|| kp.secret.decapsulate(black_box(&ct)))
    });
    let t = vec![0u8; 32 + 32 + 1088 + 1184];
    g.bench_function("combiner (HKDF-SHA3 over the 2.3 KB transcript)", |b| {
        b.iter(|| pars_crypto::hybrid_kem::combine(labels::ONION, &key, &key, &[black_box(&t)]))
    });
    g.finish();
}

/// Runs `f` `iters` times and reports the fastest single run as if every run took that long: on a
/// shared machine the minimum is the run no other process interrupted, where a mean or median
/// counts the waits too.
fn fastest(iters: u64, mut f: impl FnMut() -> Duration) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..iters {
        best = best.min(f());
    }
    best * u32::try_from(iters).unwrap_or(u32::MAX)
}

/// The headline figures again as fastest single runs (see [`fastest`]).
fn uncontended(c: &mut Criterion) {
    use std::time::Instant;
    let Setup {
        mut rng,
        mut routers,
        path,
        reply,
    } = setup();
    let data = vec![0x42u8; 1024];
    let mut g = c.benchmark_group("onion (fastest single run)");
    // Criterion sees only the fastest run, so it schedules more runs than it thinks; keep the
    // budget small (a forward-hop run also builds its packet outside the timing, ~1 ms).
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_millis(500));
    g.bench_function("process one hop (forward)", |b| {
        b.iter_custom(|iters| {
            fastest(iters, || {
                let p = build_request(&path, &data, Some(&reply), NOW, &mut rng)
                    .unwrap()
                    .packet;
                let t = Instant::now();
                black_box(routers[0].process(p, NOW));
                t.elapsed()
            })
        })
    });
    g.bench_function("build request (3 hops + reply block)", |b| {
        b.iter_custom(|iters| {
            fastest(iters, || {
                let t = Instant::now();
                black_box(build_request(&path, &data, Some(&reply), NOW, &mut rng).unwrap());
                t.elapsed()
            })
        })
    });
    let sk768 = Hybrid768SecretKey::generate(&mut rng);
    let (ct768, _) = sk768
        .public_key()
        .encapsulate(labels::ONION, &mut rng)
        .unwrap();
    let sk1024 = HybridSecretKey::generate(&mut rng);
    let (ct1024, _) = sk1024
        .public_key()
        .encapsulate(labels::ONION, &mut rng)
        .unwrap();
    g.bench_function("decapsulate X25519 + ML-KEM-768", |b| {
        b.iter_custom(|iters| {
            fastest(iters, || {
                let t = Instant::now();
                black_box(sk768.decapsulate(&ct768, labels::ONION).unwrap());
                t.elapsed()
            })
        })
    });
    g.bench_function("decapsulate X25519 + ML-KEM-1024", |b| {
        b.iter_custom(|iters| {
            fastest(iters, || {
                let t = Instant::now();
                black_box(sk1024.decapsulate(&ct1024, labels::ONION).unwrap());
                t.elapsed()
            })
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! { name = benches; config = config(); targets = packets, kems, components, uncontended }
criterion_main!(benches);
