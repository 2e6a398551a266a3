//! Staking end to end: a real anvil with the devnet's contracts, service nodes registered with
//! the real `parsctl node register` and run as real `sessiond --service-node` processes on the
//! registry, and user daemons on the registry.
//! - an unstaked node that dials the others is never a hop or a swarm member;
//! - a node that exits (`parsctl node exit`) leaves paths and swarms, and a message stored before
//!   its exit is received after it;
//! - anvil stopped mid-run: messaging goes on over the cached set; when anvil is back (same chain)
//!   the readers catch up and see a registration made after its return.
//!
//! What a service node did is read from its `node-status.json` (counters it rewrites every
//! second), what a user daemon knows of the registry from `getStatus`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::chain::{Chain, ChainNode, register_and_start, wait_members};
use common::{DELIVERY_TIMEOUT, User, wait_for};
use pars_rpc::SessionApiClient;
use pars_rpc::types::{Direction, RegistryState, RegistryStatus};
use std::time::Duration;

/// Each test runs a dozen processes: one test at a time, even when the harness runs them in
/// parallel.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Generous: registrations need blocks (one a second) plus the readers' polls, on a loaded
/// 2-core machine.
const CHAIN_TIMEOUT: Duration = Duration::from_secs(180);

async fn identity(u: &User) -> String {
    u.client().create_identity().await.unwrap().session_id
}

async fn registry(u: &User) -> Option<RegistryStatus> {
    u.client().get_status().await.ok()?.registry
}

/// Waits until `u`'s registry view satisfies `pred`.
async fn wait_registry(u: &User, what: &str, pred: impl Fn(&RegistryStatus) -> bool) {
    wait_for(CHAIN_TIMEOUT, &format!("{}: {what}", u.name), || async {
        registry(u).await.filter(|r| pred(r)).map(|_| ())
    })
    .await;
}

/// Opens a session from `from` to `to`, waiting until `to`'s bundle is in the network.
async fn open_session(from: &User, to: &str) {
    wait_for(DELIVERY_TIMEOUT, "the recipient's bundle", || async {
        from.client().create_session(to.to_string()).await.ok()
    })
    .await;
}

async fn send(from: &User, to: &str, text: &str) {
    from.client()
        .send_message(to.to_string(), text.to_string())
        .await
        .unwrap();
}

/// Waits until `u` has received `text` from `peer`.
async fn await_text(u: &User, peer: &str, text: &str) {
    wait_for(
        DELIVERY_TIMEOUT,
        &format!("{} to receive {text:?}", u.name),
        || async {
            let got = u
                .client()
                .get_messages(Some(peer.to_string()), None, None)
                .await
                .ok()?;
            got.iter()
                .any(|m| m.direction == Direction::Incoming && m.content == text)
                .then_some(())
        },
    )
    .await;
}

/// Eight registered, running service nodes (operator keys 1..=8).
fn eight_nodes(chain: &Chain) -> Vec<ChainNode> {
    let mut nodes: Vec<ChainNode> = (0..8).map(|i| chain.node(i, i + 1)).collect();
    register_and_start(&mut nodes);
    nodes
}

/// Alice and Bob on the registry, with identities and a session each way.
async fn alice_and_bob(chain: &Chain, members: u32) -> (User, User, String, String) {
    let mut alice = chain.user("alice");
    let mut bob = chain.user("bob");
    alice.start().await;
    bob.start().await;
    for u in [&alice, &bob] {
        wait_registry(u, &format!("synced with {members} members"), |r| {
            r.state == RegistryState::Synced && r.members == members
        })
        .await;
    }
    let a = identity(&alice).await;
    let b = identity(&bob).await;
    open_session(&alice, &b).await;
    open_session(&bob, &a).await;
    (alice, bob, a, b)
}

fn sum(nodes: &[ChainNode], group: &str, name: &str) -> u64 {
    nodes.iter().map(|n| n.counter(group, name)).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unstaked_node_is_never_a_hop_or_a_swarm_member() {
    let _one = ONE_AT_A_TIME.lock().await;
    let chain = Chain::start();
    let mut nodes = eight_nodes(&chain);

    // A ninth node, not registered, dialling two registered ones.
    let mut outsider = chain.node(8, 9);
    outsider.bootstrap = vec![nodes[0].p2p_addr(), nodes[1].p2p_addr()];
    outsider.start();
    wait_members(&nodes, 8, CHAIN_TIMEOUT);
    wait_members(std::slice::from_ref(&outsider), 8, CHAIN_TIMEOUT);

    let (alice, bob, a, b) = alice_and_bob(&chain, 8).await;
    for i in 0..3 {
        let to_bob = format!("to Bob {i}");
        let to_alice = format!("to Alice {i}");
        send(&alice, &b, &to_bob).await;
        send(&bob, &a, &to_alice).await;
        await_text(&bob, &a, &to_bob).await;
        await_text(&alice, &b, &to_alice).await;
    }
    // One more second: the status files are rewritten every second.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let st = outsider.status().unwrap();
    assert_eq!(st["inSet"], false, "{st}");
    assert!(
        st["connectedPeers"].as_u64().unwrap() >= 1,
        "the outsider really dialled the set: {st}"
    );
    assert_eq!(st["onion"]["received"], 0, "no packet reached it: {st}");
    assert_eq!(st["swarm"]["requests"], 0, "no swarm request: {st}");
    assert_eq!(st["swarm"]["replicasAccepted"], 0, "no replica: {st}");
    assert_eq!(st["store"]["messages"], 0, "it stores nothing: {st}");
    // The counters are live: the registered nodes relayed and stored the traffic.
    assert!(sum(&nodes, "onion", "forwarded") > 0);
    assert!(sum(&nodes, "store", "messages") > 0);
    for n in &mut nodes {
        assert_eq!(n.status().unwrap()["inSet"], true, "{}", n.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exiting_node_leaves_paths_and_swarms_and_its_mail_survives() {
    let _one = ONE_AT_A_TIME.lock().await;
    let chain = Chain::start();
    // Nine nodes, so that eight are left after the exit.
    let mut nodes: Vec<ChainNode> = (0..9).map(|i| chain.node(i, i + 1)).collect();
    register_and_start(&mut nodes);
    wait_members(&nodes, 9, CHAIN_TIMEOUT);
    let (alice, mut bob, a, b) = alice_and_bob(&chain, 9).await;

    // Bob goes offline; Alice's message waits in Bob's swarm.
    bob.stop();
    let before: Vec<u64> = nodes
        .iter()
        .map(|n| n.counter("store", "messages"))
        .collect();
    let text = "sent before the exit".to_string();
    send(&alice, &b, &text).await;
    alice.outbox_empty().await;
    // The node to exit: one that took the message, and not Alice's guard (her one connection).
    let guards: Vec<String> = alice
        .client()
        .get_peers()
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.connected)
        .map(|p| p.peer_id)
        .collect();
    let holder = wait_for(DELIVERY_TIMEOUT, "a replica of the message", || async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        nodes.iter().enumerate().position(|(i, n)| {
            n.counter("store", "messages") > before[i] && !guards.contains(&n.peer_id())
        })
    })
    .await;
    let x = &nodes[holder];
    let exit = x.exit();
    assert_eq!(exit["action"], "exit", "{exit}");

    // Within a few blocks everyone drops it: the users' readers, the nodes, the node itself.
    wait_registry(&alice, "8 members after the exit", |r| r.members == 8).await;
    wait_members(&nodes, 8, CHAIN_TIMEOUT);
    assert_eq!(x.status().unwrap()["inSet"], false);
    // It hands its mail off to the mailboxes' new swarms and keeps nothing.
    wait_for(
        CHAIN_TIMEOUT,
        "the exited node to hand its mail off",
        || async { (x.counter("store", "messages") == 0).then_some(()) },
    )
    .await;
    assert!(x.counter("swarm", "handedOff") > 0);
    let received_at_exit = x.counter("onion", "received");

    // Bob comes back: the message comes from the others; new traffic avoids the exited node.
    bob.start().await;
    wait_registry(&bob, "8 members", |r| r.members == 8).await;
    await_text(&bob, &a, &text).await;
    send(&bob, &a, "after the exit").await;
    await_text(&alice, &b, "after the exit").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        x.counter("onion", "received"),
        received_at_exit,
        "the exited node was used as a hop after its exit"
    );
    // And with it gone altogether, messaging goes on.
    nodes[holder].kill();
    send(&alice, &b, "with the exited node gone").await;
    await_text(&bob, &a, "with the exited node gone").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messaging_survives_a_chain_outage_and_the_readers_catch_up() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut chain = Chain::start();
    let mut nodes = eight_nodes(&chain);
    wait_members(&nodes, 8, CHAIN_TIMEOUT);
    let (alice, bob, a, b) = alice_and_bob(&chain, 8).await;
    send(&alice, &b, "before the outage").await;
    await_text(&bob, &a, "before the outage").await;

    // anvil stops (its state is saved): everyone serves the cached set.
    chain.anvil.stop();
    for u in [&alice, &bob] {
        wait_registry(u, "the chain unreachable", |r| {
            r.state == RegistryState::Unreachable && r.members == 8 && r.last_error.is_some()
        })
        .await;
    }
    for i in 0..3 {
        let to_bob = format!("during the outage {i}");
        let to_alice = format!("reply during the outage {i}");
        send(&alice, &b, &to_bob).await;
        await_text(&bob, &a, &to_bob).await;
        send(&bob, &a, &to_alice).await;
        await_text(&alice, &b, &to_alice).await;
    }
    let st = nodes[0].status().unwrap();
    assert_eq!(st["setMembers"], 8, "{st}");

    // anvil is back, the same chain on the same port: the readers catch up.
    chain.anvil.restart();
    for u in [&alice, &bob] {
        wait_registry(u, "synced again", |r| r.state == RegistryState::Synced).await;
    }
    // A registration made after the return reaches everyone.
    let mut late = chain.node(8, 9);
    late.register();
    late.start();
    for u in [&alice, &bob] {
        wait_registry(u, "the late registration", |r| {
            r.members == 9 && r.state == RegistryState::Synced
        })
        .await;
    }
    nodes.push(late);
    wait_members(&nodes, 9, CHAIN_TIMEOUT);
    send(&alice, &b, "after the outage").await;
    await_text(&bob, &a, "after the outage").await;
}
