//! `bench-e2e` (run by `scripts/bench-e2e`): end-to-end latency and throughput of real
//! processes on loopback — 8 service nodes, Alice and Bob as user daemons over 3-hop onion
//! paths. Latency is from Alice's `sendMessage` call to Bob's `subscribeMessages`
//! notification, at fixed send rates; throughput is messages delivered per second when Alice
//! sends as fast as the API takes them.
//!
//! Flags: `--poll-min-ms N` `--poll-max-ms N` (Bob's and Alice's poll intervals, default 20 and
//! 200), `--n10 N` `--n100 N` (messages at 10 and 100 msg/s, default 100 and 300),
//! `--burst N` (messages of the throughput run, default 300).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/mod.rs"]
mod common;

use common::{ServiceNet, User, wait_for};
use jsonrpsee::core::client::Subscription;
use jsonrpsee::ws_client::WsClientBuilder;
use pars_rpc::types::MessageInfo;
use pars_rpc::{SessionApiClient, auth};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

async fn await_arrivals(arrivals: &Arrivals, keys: &[String]) {
    wait_for(
        Duration::from_secs(600),
        "all messages at Bob's",
        || async {
            let a = arrivals.lock().unwrap();
            keys.iter().all(|k| a.contains_key(k)).then_some(())
        },
    )
    .await;
}

/// Sends `n` messages at `rate` per second; returns the latencies, sorted.
async fn paced(
    alice: &User,
    bob_id: &str,
    arrivals: &Arrivals,
    tag: &str,
    rate: u64,
    n: u64,
) -> Vec<Duration> {
    let c = alice.client();
    let start = Instant::now();
    let mut sent = Vec::new();
    for i in 0..n {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let key = format!("{tag} {i}");
        let t = Instant::now();
        c.send_message(bob_id.to_string(), key.clone())
            .await
            .unwrap();
        sent.push((key, t));
    }
    let keys: Vec<String> = sent.iter().map(|(k, _)| k.clone()).collect();
    await_arrivals(arrivals, &keys).await;
    let a = arrivals.lock().unwrap();
    let mut lat: Vec<Duration> = sent.iter().map(|(k, t)| a[k].duration_since(*t)).collect();
    lat.sort();
    lat
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let poll_min = arg("--poll-min-ms", 20);
    let poll_max = arg("--poll-max-ms", 200);
    let n10 = arg("--n10", 100);
    let n100 = arg("--n100", 300);
    let burst = arg("--burst", 300);

    let net = ServiceNet::start(8);
    let mut alice = User::new(&net, "alice");
    let mut bob = User::new(&net, "bob");
    for u in [&mut alice, &mut bob] {
        u.extra = vec![
            "--poll-min-ms".into(),
            poll_min.to_string(),
            "--poll-max-ms".into(),
            poll_max.to_string(),
        ];
        u.start().await;
    }
    alice.client().create_identity().await.unwrap();
    let bob_id = bob.client().create_identity().await.unwrap().session_id;
    wait_for(Duration::from_secs(120), "Bob's bundle", || async {
        alice.client().create_session(bob_id.clone()).await.ok()
    })
    .await;

    let token = auth::read_cookie(&bob.dir).unwrap();
    let addr = std::fs::read_to_string(bob.dir.join(auth::ADDR_FILE)).unwrap();
    let ws = WsClientBuilder::default()
        .set_headers(auth::auth_headers(&token))
        .build(format!("ws://{}", addr.trim()))
        .await
        .unwrap();
    let mut sub: Subscription<MessageInfo> = ws.subscribe_messages().await.unwrap();
    let arrivals: Arrivals = Arc::default();
    {
        let arrivals = arrivals.clone();
        tokio::spawn(async move {
            while let Some(Ok(m)) = sub.next().await {
                arrivals.lock().unwrap().insert(m.content, Instant::now());
            }
        });
    }

    // Warm-up: the handshake message and the first paths.
    let warm: Vec<String> = (0..5).map(|i| format!("warmup {i}")).collect();
    for w in &warm {
        alice
            .client()
            .send_message(bob_id.clone(), w.clone())
            .await
            .unwrap();
    }
    await_arrivals(&arrivals, &warm).await;
    // Bob answers once, as in any conversation: Alice's session is confirmed and her messages
    // no longer carry the handshake (3.5 KB instead of 20 KB each).
    let alice_id = alice.client().get_identity().await.unwrap().session_id;
    bob.client()
        .send_message(alice_id.clone(), "hi".into())
        .await
        .unwrap();
    wait_for(Duration::from_secs(120), "Bob's answer", || async {
        let m = alice
            .client()
            .get_messages(Some(bob_id.clone()), None, None)
            .await
            .ok()?;
        m.iter().any(|m| m.content == "hi").then_some(())
    })
    .await;
    let more: Vec<String> = (0..3).map(|i| format!("confirmed {i}")).collect();
    for w in &more {
        alice
            .client()
            .send_message(bob_id.clone(), w.clone())
            .await
            .unwrap();
    }
    await_arrivals(&arrivals, &more).await;

    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    println!(
        "machine: {cpu}, {cores} cores; 8 service nodes + 2 user daemons on loopback; poll {poll_min}–{poll_max} ms"
    );
    println!();
    println!("| load | messages | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    for (rate, n) in [(10, n10), (100, n100)] {
        let lat = paced(&alice, &bob_id, &arrivals, &format!("r{rate}"), rate, n).await;
        println!(
            "| {rate} msg/s | {n} | {} | {} | {} |",
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99)),
            ms(*lat.last().unwrap())
        );
    }

    let c = alice.client();
    let start = Instant::now();
    let keys: Vec<String> = (0..burst).map(|i| format!("burst {i}")).collect();
    for k in &keys {
        c.send_message(bob_id.clone(), k.clone()).await.unwrap();
    }
    let queued = start.elapsed();
    await_arrivals(&arrivals, &keys).await;
    let all = start.elapsed();
    println!();
    println!(
        "sustained: {burst} messages queued in {:.2} s ({:.0}/s accepted by sendMessage), all delivered in {:.2} s: {:.1} msg/s end to end",
        queued.as_secs_f64(),
        burst as f64 / queued.as_secs_f64(),
        all.as_secs_f64(),
        burst as f64 / all.as_secs_f64()
    );
    assert!(alice.stop().success());
    assert!(bob.stop().success());
}
