#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! End to end over loopback TCP: a store replicated to all 5 swarm members (client → member →
//! 4 replicas, each durable), and retrieve latency (one member, one page of 10 × 1 KiB).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pars_crypto::SessionId;
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_net::{NetworkHandle, NodeConfig, ServiceNode, StaticSet, start};
use pars_wire::FileId;
use pars_wire::swarm::{Mailbox, SwarmRequest, SwarmResponse};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

static N: AtomicU64 = AtomicU64::new(0);

fn payload() -> Vec<u8> {
    let mut p = vec![0u8; 1024];
    p[..8].copy_from_slice(&N.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    p
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dirs: Vec<_> = (0..6).map(|_| tempfile::tempdir().unwrap()).collect();
    let set = Arc::new(StaticSet::new(Vec::new()));
    let handles: Vec<NetworkHandle> = rt.block_on(async {
        let mut hs = Vec::new();
        for d in &dirs {
            let mut cfg = NodeConfig::new(d.path());
            cfg.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
            cfg.rate_limit.burst = 1_000_000;
            cfg.rate_limit.per_second = 1_000_000;
            hs.push(start(cfg, set.clone()).await.unwrap());
        }
        let mut members = Vec::new();
        for h in &hs {
            members.push(ServiceNode {
                peer_id: h.peer_id(),
                addrs: h.listen_addrs().await.unwrap(),
                operator: String::new(),
            });
        }
        set.replace(members);
        hs
    });
    // A mailbox whose swarm leaves out node 0, which acts as the client.
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let mb = loop {
        let k = MlDsaSigningKey::generate(&mut rng);
        let mb = Mailbox::Inbox(SessionId::from_mldsa_public_key(&k.public_key()));
        if !handles[0].swarm_of(&mb).contains(&handles[0].peer_id()) {
            break mb;
        }
    };
    let client = handles[0].clone();
    // A second mailbox of the same kind that keeps exactly 10 messages, for retrieval.
    let (reader, read_mb) = loop {
        let k = MlDsaSigningKey::generate(&mut rng);
        let m = Mailbox::Inbox(SessionId::from_mldsa_public_key(&k.public_key()));
        if !handles[0].swarm_of(&m).contains(&handles[0].peer_id()) {
            break (k, m);
        }
    };
    let member = client.swarm_of(&read_mb)[0];
    let file = Mailbox::File(FileId([7; 32]));
    rt.block_on(async {
        for _ in 0..10 {
            client.store_message(&read_mb, 0, payload()).await.unwrap();
            client.store_message(&file, 0, payload()).await.unwrap();
        }
    });
    let file_member = client.swarm_of(&file)[0];

    let mut g = c.benchmark_group("swarm");
    g.sample_size(20);
    g.throughput(Throughput::Elements(1));
    g.bench_function("store_1KiB_replicated_to_5", |b| {
        b.iter(|| {
            let r = rt
                .block_on(client.store_message(&mb, 0, payload()))
                .unwrap();
            assert_eq!(r.copies, 5);
        })
    });
    g.throughput(Throughput::Elements(64));
    g.bench_function("store_1KiB_replicated_to_5_x64_concurrent", |b| {
        b.iter(|| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..64)
                    .map(|_| {
                        let c = client.clone();
                        tokio::spawn(async move { c.store_message(&mb, 0, payload()).await })
                    })
                    .collect();
                for t in tasks {
                    assert_eq!(t.await.unwrap().unwrap().copies, 5);
                }
            })
        })
    });
    g.throughput(Throughput::Elements(1));
    let retrieve = SwarmRequest::Retrieve {
        mailbox: file,
        after: 0,
        max_count: 10,
        max_bytes: 1 << 20,
        wait_ms: 0,
        auth: None,
    };
    g.bench_function("retrieve_10x1KiB_unauthenticated", |b| {
        b.iter(
            || match rt.block_on(client.request(file_member, &retrieve)).unwrap() {
                SwarmResponse::Messages { items, .. } => assert_eq!(items.len(), 10),
                other => panic!("{other:?}"),
            },
        )
    });
    g.bench_function("retrieve_10x1KiB_owner_signed", |b| {
        b.iter(|| {
            let (items, _) = rt
                .block_on(client.retrieve_page(member, &read_mb, 0, Some(&reader), &mut rng))
                .unwrap();
            assert_eq!(items.len(), 10);
        })
    });
    g.finish();
    rt.block_on(async {
        for h in &handles {
            h.shutdown().await;
        }
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
