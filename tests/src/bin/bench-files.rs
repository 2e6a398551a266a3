//! `bench-files` (run by `scripts/bench-files`): file transfer throughput of real processes on
//! loopback — 8 service nodes, Alice and Bob as user daemons, every chunk over a 3-hop onion
//! path — and the peak resident memory (VmHWM) of both daemons.
//!
//! Flags: `--size N[K|M|G]` (default 256M), `--nodes N` (default 8).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
mod common;

use common::{ServiceNet, User, wait_for};
use pars_rpc::SessionApiClient;
use pars_rpc::types::TransferState;
use std::io::Write;
use std::time::{Duration, Instant};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn parse_size(s: &str) -> u64 {
    let s = s.trim();
    let (num, mul) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().expect("--size: a number with K, M or G") * mul
}

/// Peak resident memory of process `pid`, in MiB (VmHWM).
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Writes `len` bytes of noise to `path`, 1 MiB at a time.
fn noise_file(path: &std::path::Path, len: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for c in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
}

async fn until_done(u: &User, id: &str) -> Duration {
    let start = Instant::now();
    let last = std::cell::Cell::new(0u64);
    wait_for(Duration::from_secs(6 * 3600), "the transfer", || async {
        let t = u
            .client()
            .get_transfers()
            .await
            .ok()?
            .into_iter()
            .find(|t| t.transfer_id == id)?;
        assert_ne!(t.state, TransferState::Failed, "{t:#?}");
        if t.bytes_done >= last.get() + (64 << 20) {
            last.set(t.bytes_done);
            eprintln!(
                "  {}: {} MiB, {:.1} MB/s",
                u.name,
                t.bytes_done >> 20,
                t.rate / 1e6
            );
        }
        (t.state == TransferState::Done).then_some(())
    })
    .await;
    start.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let size = parse_size(&arg("--size").unwrap_or_else(|| "256M".into()));
    let nodes = arg("--nodes").map_or(8, |n| n.parse().unwrap());
    let net = ServiceNet::start(nodes);
    let mut alice = User::new(&net, "alice");
    let mut bob = User::new(&net, "bob");
    alice.start().await;
    bob.start().await;
    alice.client().create_identity().await.unwrap();
    let b = bob.client().create_identity().await.unwrap().session_id;
    wait_for(Duration::from_secs(120), "Bob's bundle", || async {
        alice.client().create_session(b.clone()).await.ok()
    })
    .await;
    let src = alice.dir.join("bench.bin");
    noise_file(&src, size);
    let mb = size as f64 / 1e6;

    let t0 = Instant::now();
    let sent = alice
        .client()
        .send_file(b.clone(), src.display().to_string())
        .await
        .unwrap();
    let prepare = t0.elapsed();
    let upload = until_done(&alice, &sent.transfer_id).await;
    let alice_peak = peak_rss_mib(alice.pid().unwrap());

    let out = bob.dir.join("bench.out");
    let t1 = Instant::now();
    let offer = loop {
        let msgs = bob.client().get_messages(None, None, None).await.unwrap();
        if let Some(f) = msgs.into_iter().find_map(|m| m.file) {
            break f;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let offered = t1.elapsed();
    let t = bob
        .client()
        .receive_file(offer.file_id, out.display().to_string())
        .await
        .unwrap();
    let download = until_done(&bob, &t.transfer_id).await;
    let bob_peak = peak_rss_mib(bob.pid().unwrap());
    let same = std::fs::metadata(&out).unwrap().len() == size;

    println!(
        "| size | {:.0} MB ({size} bytes), {nodes} service nodes, 3-hop paths |",
        mb
    );
    println!(
        "| first pass (seal + file ID, in sendFile) | {:.2} s, {:.0} MB/s |",
        prepare.as_secs_f64(),
        mb / prepare.as_secs_f64()
    );
    println!(
        "| upload (all chunks stored) | {:.1} s, {:.2} MB/s |",
        upload.as_secs_f64(),
        mb / upload.as_secs_f64()
    );
    println!(
        "| offer to Bob (file message) | {:.2} s |",
        offered.as_secs_f64()
    );
    println!(
        "| download (all chunks fetched, checked, written) | {:.1} s, {:.2} MB/s |",
        download.as_secs_f64(),
        mb / download.as_secs_f64()
    );
    println!("| peak resident memory, Alice's daemon | {alice_peak:.0} MiB |");
    println!("| peak resident memory, Bob's daemon | {bob_peak:.0} MiB |");
    println!("| received size matches | {same} |");
}
