//! How mail comes in, with real processes on a loopback network of 8 service nodes: pushed by
//! the long-poll (a recipient whose poll interval is a minute still gets a burst within
//! seconds), and polled when the service nodes hold no long-polls (`--max-waiting-retrieves 0`).
//! What the nodes did is read from their `node-status.json`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{DELIVERY_TIMEOUT, ServiceNet, User, wait_for};
use pars_rpc::SessionApiClient;
use std::time::Duration;

const NODES: usize = 8;

/// A counter of the `swarm` group summed over the network's service nodes, once every node
/// has written its status file.
fn swarm_total(net: &ServiceNet, name: &str) -> Option<u64> {
    let mut total = 0;
    for i in 0..NODES {
        let path = net.dir.path().join(format!("node{i}/node-status.json"));
        let text = std::fs::read_to_string(path).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        total += v["swarm"][name].as_u64()?;
    }
    Some(total)
}

/// Alice and Bob with identities and a session from Alice to Bob; Bob with `bob_flags`.
async fn pair(net: &ServiceNet, bob_flags: &[&str]) -> (User, User, String, String) {
    let mut alice = User::new(net, "alice");
    let mut bob = User::new(net, "bob");
    bob.extra = bob_flags.iter().map(|s| s.to_string()).collect();
    alice.start().await;
    bob.start().await;
    let a = alice.client().create_identity().await.unwrap().session_id;
    let b = bob.client().create_identity().await.unwrap().session_id;
    wait_for(DELIVERY_TIMEOUT, "Bob's bundle", || async {
        alice.client().create_session(b.clone()).await.ok()
    })
    .await;
    (alice, bob, a, b)
}

/// Sends `texts` from Alice and waits (at most `within`) until Bob has each exactly once, in
/// order.
async fn send_and_expect(
    alice: &User,
    bob: &User,
    a: &str,
    b: &str,
    texts: &[String],
    within: Duration,
) {
    for t in texts {
        alice
            .client()
            .send_message(b.to_string(), t.clone())
            .await
            .unwrap();
    }
    let got = wait_for(within, "Bob to receive the burst", || async {
        let got = bob.incoming(a).await;
        texts
            .iter()
            .all(|t| got.iter().any(|m| &m.content == t))
            .then_some(got)
    })
    .await;
    let order: Vec<&String> = got
        .iter()
        .map(|m| &m.content)
        .filter(|c| texts.contains(c))
        .collect();
    assert_eq!(
        order,
        texts.iter().collect::<Vec<_>>(),
        "each once, in order"
    );
}

/// The first message (it carries the handshake), then a burst of 10 on the session, each
/// expected at Bob's within `within`.
async fn hello_then_burst(alice: &User, bob: &User, a: &str, b: &str, tag: &str, within: Duration) {
    send_and_expect(alice, bob, a, b, &[format!("{tag} hello")], within).await;
    let burst: Vec<String> = (0..10).map(|i| format!("{tag} {i}")).collect();
    send_and_expect(alice, bob, a, b, &burst, within).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_brings_mail_without_polling() {
    let net = ServiceNet::start(NODES);
    // Bob polls once a minute: within the test only the long-poll can bring his mail.
    let (alice, bob, a, b) =
        pair(&net, &["--poll-min-ms", "60000", "--poll-max-ms", "60000"]).await;
    // Alice's and Bob's long-polls are held at members of their swarms.
    wait_for(DELIVERY_TIMEOUT, "both users' long-polls held", || async {
        swarm_total(&net, "waitingRetrieves").filter(|n| *n >= 2)
    })
    .await;
    // (A long-poll may fail while the first paths are built; none may fail from here on.)
    let log_before = bob.log_text().len();
    hello_then_burst(&alice, &bob, &a, &b, "pushed", Duration::from_secs(30)).await;
    assert_eq!(swarm_total(&net, "waitsRefused"), Some(0));
    assert!(
        !bob.log_text()[log_before..].contains("long-poll failed"),
        "Bob's long-poll failed on a healthy network:\n{}",
        bob.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_long_polls_the_recipient_polls() {
    // Nodes that hold no waiting retrieves refuse every one as busy.
    let net = ServiceNet::start_with(NODES, &["--max-waiting-retrieves", "0"]);
    let (alice, bob, a, b) = pair(&net, &["--poll-min-ms", "100", "--poll-max-ms", "1000"]).await;
    // Bob's long-poll is refused (his first attempts may also fail for want of a path).
    wait_for(
        DELIVERY_TIMEOUT,
        "Bob's long-poll refused as busy",
        || async {
            let log = bob.log_text();
            log.lines()
                .any(|l| l.contains("long-poll failed") && l.contains("Busy"))
                .then_some(())
        },
    )
    .await;
    // The node counted it (its status file is rewritten every second).
    wait_for(DELIVERY_TIMEOUT, "the refusal counted", || async {
        swarm_total(&net, "waitsRefused").filter(|n| *n >= 1)
    })
    .await;
    hello_then_burst(&alice, &bob, &a, &b, "polled", DELIVERY_TIMEOUT).await;
    assert_eq!(swarm_total(&net, "waitingRetrieves"), Some(0));
}
