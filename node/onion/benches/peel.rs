//! Packets peeled per second by one node (one shared [`OnionRouter`]) with 1 and 2 worker
//! threads: [`OnionRouter::peel`] on `&self` without a lock, then the short
//! [`OnionRouter::commit`] of the replay tag. Run with `cargo bench -p pars-onion --bench peel`;
//! results go to docs/performance.md ("Peeling on every core").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use pars_crypto::classic::Ed25519SigningKey;
use pars_crypto::random_array;
use pars_onion::{
    KeySchedule, OnionKeyRing, OnionPacket, OnionRouter, PathHop, Processed, ReplyPath,
    build_request,
};
use pars_wire::NodeId;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::time::Duration;

const NOW: u64 = 1_790_000_000;
/// Packets peeled per measured iteration.
const BATCH: usize = 64;

/// Four nodes' announced keys, and the router of the first (the node under test).
fn four_nodes(rng: &mut ChaCha20Rng) -> (OnionRouter, Vec<PathHop>) {
    let mut hops = Vec::new();
    let mut router = None;
    for i in 0..4u8 {
        let id = NodeId(random_array(rng));
        let ring = OnionKeyRing::new(id, KeySchedule::default(), NOW, rng);
        let ann = ring
            .announce_ed25519(&Ed25519SigningKey::from_bytes([i; 32]))
            .unwrap();
        hops.push(PathHop::from_announcement(&ann.0[0]));
        if i == 0 {
            router = Some(OnionRouter::new(ring));
        }
    }
    (router.unwrap(), hops)
}

fn peel_parallel(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let (router, hops) = four_nodes(&mut rng);
    let reply = ReplyPath {
        hops: vec![hops[3].clone(), hops[0].clone()],
        client: NodeId(random_array(&mut rng)),
    };
    let path = hops[..3].to_vec();
    let data = vec![0x42u8; 1024];
    let mut g = c.benchmark_group("onion/peel one node (forward hop)");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    for workers in [1usize, 2] {
        g.bench_function(
            format!("{workers} worker thread(s), {BATCH} packets"),
            |b| {
                b.iter_batched(
                    || -> Vec<OnionPacket> {
                        (0..BATCH)
                            .map(|_| {
                                build_request(&path, &data, Some(&reply), NOW, &mut rng)
                                    .unwrap()
                                    .packet
                            })
                            .collect()
                    },
                    |packets| {
                        let per = BATCH.div_ceil(workers);
                        let mut chunks: Vec<Vec<OnionPacket>> = Vec::new();
                        let mut it = packets.into_iter();
                        for _ in 0..workers {
                            chunks.push(it.by_ref().take(per).collect());
                        }
                        let router = &router;
                        std::thread::scope(|s| {
                            for chunk in chunks {
                                s.spawn(move || {
                                    for p in chunk {
                                        let out = router.commit(router.peel(p, NOW));
                                        assert!(
                                            matches!(out, Processed::Forward { .. }),
                                            "{out:?}"
                                        );
                                    }
                                });
                            }
                        });
                    },
                    BatchSize::PerIteration,
                )
            },
        );
    }
    // The control: two threads, each with a router of its own (nothing shared). What one
    // shared router gives with 2 workers is compared against this, not against 2×: the gap
    // between the two is what sharing costs; the gap between this and 2× is the machine's.
    let mut rng2 = ChaCha20Rng::seed_from_u64(8);
    let own: Vec<(OnionRouter, Vec<PathHop>)> = (0..2).map(|_| four_nodes(&mut rng2)).collect();
    g.bench_function(
        format!("2 worker thread(s), a router each (control), {BATCH} packets"),
        |b| {
            b.iter_batched(
                || -> Vec<Vec<OnionPacket>> {
                    own.iter()
                        .map(|(_, hs)| {
                            let reply = ReplyPath {
                                hops: vec![hs[3].clone(), hs[0].clone()],
                                client: NodeId([9; 32]),
                            };
                            (0..BATCH / 2)
                                .map(|_| {
                                    build_request(&hs[..3], &data, Some(&reply), NOW, &mut rng2)
                                        .unwrap()
                                        .packet
                                })
                                .collect()
                        })
                        .collect()
                },
                |sets| {
                    std::thread::scope(|s| {
                        for ((router, _), chunk) in own.iter().zip(sets) {
                            s.spawn(move || {
                                for p in chunk {
                                    let out = router.commit(router.peel(p, NOW));
                                    assert!(matches!(out, Processed::Forward { .. }), "{out:?}");
                                }
                            });
                        }
                    });
                },
                BatchSize::PerIteration,
            )
        },
    );
    g.finish();
}

criterion_group!(benches, peel_parallel);
criterion_main!(benches);
