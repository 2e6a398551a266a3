#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Durable mailbox stores per second (1 KiB messages): one writer at a time (one commit per
//! store) and many concurrent writers (group commit).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pars_crypto::SessionId;
use pars_store::{MailboxStore, StoreConfig};
use pars_wire::swarm::Mailbox;
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn payload() -> Vec<u8> {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut p = vec![0u8; 1024];
    p[..8].copy_from_slice(&n.to_be_bytes());
    p
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = MailboxStore::open(dir.path().join("m.redb"), StoreConfig::default()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mailboxes: Vec<Mailbox> = (0..64u8)
        .map(|i| Mailbox::Inbox(SessionId::from_digest([i; 32])))
        .collect();

    let mut g = c.benchmark_group("mailbox_store");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    g.bench_function("durable_store_1KiB_sequential", |b| {
        b.iter(|| {
            rt.block_on(store.put(&mailboxes[0], u64::MAX, payload(), false))
                .unwrap()
        })
    });
    const BATCH: u64 = 4096;
    const WRITERS: usize = 256;
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("durable_store_1KiB_256_concurrent", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut tasks = Vec::with_capacity(WRITERS);
                for w in 0..WRITERS {
                    let s = store.clone();
                    let mb = mailboxes[w % mailboxes.len()];
                    tasks.push(tokio::spawn(async move {
                        for _ in 0..(BATCH as usize / WRITERS) {
                            s.put(&mb, u64::MAX, payload(), false).await.unwrap();
                        }
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
