#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Onion round trips over loopback TCP: a 12-node network and an `OnionClient`; each operation
//! goes client → guard → middle → swarm member (the exit) and back through a reply middle and
//! the guard. Measured: a 1 KiB store (replicated to the 5 swarm members), a retrieve page of
//! 10 × 1 KiB, a record fetch, and 16 concurrent stores.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pars_net::{
    ClientConfig, NetworkHandle, NodeConfig, ServiceNode, StaticSet, start, start_client,
};
use pars_wire::FileId;
use pars_wire::swarm::{Mailbox, SwarmRequest, SwarmResponse};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
    let dirs: Vec<_> = (0..12).map(|_| tempfile::tempdir().unwrap()).collect();
    let cdir = tempfile::tempdir().unwrap();
    let set = Arc::new(StaticSet::new(Vec::new()));
    let (handles, client) = rt.block_on(async {
        let mut hs: Vec<NetworkHandle> = Vec::new();
        for (i, d) in dirs.iter().enumerate() {
            let mut cfg = NodeConfig::new(d.path());
            cfg.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
            cfg.operator = format!("op{i}");
            cfg.onion_rate_limit.burst = 1_000_000;
            cfg.onion_rate_limit.per_second = 1_000_000;
            cfg.directory_refresh_interval = Duration::from_millis(500);
            hs.push(start(cfg, set.clone()).await.unwrap());
        }
        let mut members = Vec::new();
        for (i, h) in hs.iter().enumerate() {
            members.push(ServiceNode {
                peer_id: h.peer_id(),
                addrs: h.listen_addrs().await.unwrap(),
                operator: format!("op{i}"),
            });
        }
        set.replace(members);
        while hs.iter().any(|h| h.directory_len() < 11) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut cfg = ClientConfig::new(cdir.path());
        cfg.path.subnet_diversity = false;
        let client = start_client(cfg, set.clone(), Vec::new()).await.unwrap();
        (hs, client)
    });
    let file = Mailbox::File(FileId([7; 32]));
    let read = Mailbox::File(FileId([8; 32]));
    rt.block_on(async {
        for _ in 0..10 {
            client.store(&read, 0, payload()).await.unwrap();
        }
    });
    let member = client.swarm_of(&read)[0];

    let mut g = c.benchmark_group("onion");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(1));
    g.bench_function("store_1KiB_3_hops_replicated_to_5", |b| {
        b.iter(|| {
            let r = rt.block_on(client.store(&file, 0, payload())).unwrap();
            assert_eq!(r.copies, 5);
        })
    });
    g.bench_function("retrieve_10x1KiB_3_hops", |b| {
        b.iter(|| {
            let p = rt
                .block_on(client.retrieve_page(&read, Some(member), 0, None))
                .unwrap();
            assert_eq!(p.items.len(), 10);
        })
    });
    g.bench_function("get_record_3_hops", |b| {
        b.iter(|| {
            match rt
                .block_on(client.request(&file, SwarmRequest::GetRecord))
                .unwrap()
            {
                SwarmResponse::Record { .. } => {}
                other => panic!("{other:?}"),
            }
        })
    });
    g.throughput(Throughput::Elements(16));
    g.bench_function("store_1KiB_3_hops_x16_concurrent", |b| {
        b.iter(|| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..16)
                    .map(|_| {
                        let c = client.clone();
                        tokio::spawn(async move { c.store(&file, 0, payload()).await })
                    })
                    .collect();
                for t in tasks {
                    assert_eq!(t.await.unwrap().unwrap().copies, 5);
                }
            })
        })
    });
    g.finish();
    assert_eq!(client.stats().path_failures, 0);
    rt.block_on(async {
        client.shutdown().await;
        for h in &handles {
            h.shutdown().await;
        }
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
