//! `bench-bridge` (run by `scripts/bench-bridge`): contract actions per minute through the whole
//! pipeline with real processes — Alice's `triggerAction` (sign, outbox, 3-hop onion paths) →
//! the bridge's sessiond → `pars-bridge run` (off-chain ML-DSA check, simulation, submission,
//! confirmation) → anvil with the devnet's contracts → the receipt back over the onion network to
//! Alice. The same processes as `tests/tests/bridge.rs`: 8 service nodes, two user daemons,
//! anvil, the bridge.
//!
//! Flags: `--actions N` (default 8), `--concurrency C` (actions in flight at once, default 4).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
mod common;

use common::bridge::{Bridge, Chain, open_session};
use common::{ServiceNet, User};
use pars_rpc::SessionApiClient;
use pars_rpc::types::{TriggerRequest, TriggerResult};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

/// ABI encoding of `SessionGuestbook.sign(string)` for a short ASCII note.
fn sign_calldata(note: &str) -> String {
    assert!(note.len() <= 32);
    let selector = selector("sign(string)");
    let mut b = selector.to_vec();
    let mut word = [0u8; 32];
    word[31] = 0x20;
    b.extend_from_slice(&word);
    let mut len = [0u8; 32];
    len[31] = note.len() as u8;
    b.extend_from_slice(&len);
    let mut data = [0u8; 32];
    data[..note.len()].copy_from_slice(note.as_bytes());
    b.extend_from_slice(&data);
    format!("0x{}", common::bridge::hex(&b))
}

/// The 4-byte selector, from `cast sig` (keccak is not in this crate's dependencies).
fn selector(sig: &str) -> [u8; 4] {
    let out = std::process::Command::new(pars_testkit::tool("cast"))
        .args(["sig", sig])
        .output()
        .unwrap();
    let h = String::from_utf8(out.stdout).unwrap();
    common::bridge::unhex(h.trim()).try_into().unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let actions = arg("--actions", 8) as usize;
    let concurrency = arg("--concurrency", 4) as usize;
    eprintln!("starting 8 service nodes, anvil with the contracts, Alice, the bridge …");
    let net = ServiceNet::start(8);
    let chain = Chain::start(net.dir.path().join("anvil-state.json"));
    let mut alice = User::new(&net, "alice");
    alice.start().await;
    alice.client().create_identity().await.unwrap();
    let bridge = Bridge::start(&net, &chain).await;
    open_session(&alice, &bridge.session_id).await;

    let request = |i: usize| TriggerRequest {
        bridge: bridge.session_id.clone(),
        target: chain.deployment.session_guestbook.clone(),
        calldata: sign_calldata(&format!("bench note {i}")),
        chain_id: Some(chain.deployment.chain_id),
        trigger: Some(chain.deployment.session_trigger.clone()),
        timeout_secs: Some(1800),
        ..TriggerRequest::default()
    };
    // One warm-up action: the session with the bridge is established both ways.
    eprintln!("warm-up action …");
    let t = Instant::now();
    let r = alice.client().trigger_action(request(0)).await.unwrap();
    assert_eq!(r.status, "confirmed", "{r:?}");
    eprintln!(
        "warm-up: {:.1} s, {} gas",
        t.elapsed().as_secs_f64(),
        r.gas_used.unwrap_or(0)
    );

    eprintln!("{actions} actions, {concurrency} at a time …");
    let sem = Arc::new(Semaphore::new(concurrency));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 1..=actions {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let client = alice.client();
        let req = request(i);
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r: TriggerResult = client.trigger_action(req).await.unwrap();
            drop(permit);
            (t.elapsed(), r)
        }));
    }
    let mut latencies = Vec::new();
    let mut gas = Vec::new();
    for t in tasks {
        let (d, r) = t.await.unwrap();
        assert_eq!(r.status, "confirmed", "{r:?}");
        latencies.push(d);
        gas.push(r.gas_used.unwrap_or(0));
    }
    let total = start.elapsed();
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "| actions | in flight | total | actions/min | latency p50 | latency max | gas/action (inline key) |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {actions} | {concurrency} | {:.1} s | {:.1} | {:.1} s | {:.1} s | {} |",
        total.as_secs_f64(),
        actions as f64 * 60.0 / total.as_secs_f64(),
        p(0.5).as_secs_f64(),
        p(1.0).as_secs_f64(),
        gas.iter().sum::<u64>() / gas.len().max(1) as u64
    );
    println!("load average at the end: {}", load.trim());
    drop(bridge);
    drop(alice);
    drop(chain);
    drop(net);
}
