#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Waiting retrieves (long-polls) over 3-hop onion paths on a real loopback network: a held
//! request is answered as soon as a message is stored, ends empty at its bound, the node's
//! limit refuses the excess with `Busy`, and a stopping node lets go of what it holds.

mod common;

use common::{Node, by_peer, eventually, start_nodes};
use pars_crypto::identity::IdentityKeys;
use pars_net::{ClientConfig, NetError, OnionClient, StaticSet, start_client};
use pars_wire::swarm::{ErrorCode, Mailbox};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TCP: &str = "/ip4/127.0.0.1/tcp/0";
/// The nodes' hold bound: long, so that "answered promptly" cannot be the bound passing.
const NODE_HOLD: Duration = Duration::from_secs(20);
/// Waiting retrieves each node holds at once.
const LIMIT: usize = 2;

async fn network(n: usize) -> (Arc<StaticSet>, Vec<Node>) {
    let (set, nodes) = start_nodes(n, TCP, |_, cfg| {
        cfg.directory_refresh_interval = Duration::from_millis(500);
        cfg.max_retrieve_wait = NODE_HOLD;
        cfg.max_waiting_retrieves = LIMIT;
    })
    .await;
    set.replace(nodes.iter().map(|n| n.entry.clone()).collect());
    eventually(60, "every member's directory is full", || {
        let ok = nodes.iter().all(|x| x.handle.directory_len() == n - 1);
        async move { ok }
    })
    .await;
    (set, nodes)
}

async fn client(set: &Arc<StaticSet>, own: Vec<Mailbox>) -> (OnionClient, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ClientConfig::new(dir.path());
    cfg.path.subnet_diversity = false;
    cfg.request_timeout = Duration::from_secs(10);
    cfg.attempts = 4;
    let c = start_client(cfg, set.clone(), own).await.unwrap();
    (c, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polls_are_answered_on_arrival_end_at_their_bound_and_are_limited() {
    let (set, nodes) = network(10).await;
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let alice = IdentityKeys::generate(&mut rng);
    let bob = IdentityKeys::generate(&mut rng);
    let mb = Mailbox::Inbox(alice.session_id());
    let key = alice.signing_key().mldsa.clone();
    let (a, _ad) = client(&set, vec![mb]).await;
    let (b, _bd) = client(&set, vec![Mailbox::Inbox(bob.session_id())]).await;
    let swarm = a.swarm_of(&mb);
    let m = swarm[0];
    let member = by_peer(&nodes, &m);
    let waiting = || member.handle.stats().waiting_retrieves;

    // 1. A long-poll on the empty inbox is held at the member; a store answers it at once.
    let started = Instant::now();
    let poll = {
        let (a, key) = (a.clone(), key.clone());
        tokio::spawn(async move {
            let r = a
                .retrieve_wait(&mb, Some(m), 0, Some(&key), Duration::from_secs(25))
                .await;
            (r, Instant::now())
        })
    };
    eventually(60, "the member holds the long-poll", || async {
        waiting() == 1
    })
    .await;
    assert!(
        !poll.is_finished(),
        "an empty inbox is not answered at once"
    );
    let stored = b.store(&mb, 0, b"hello".to_vec()).await.unwrap();
    let stored_at = Instant::now();
    let (page, answered_at) = poll.await.unwrap();
    let page = page.unwrap();
    assert_eq!(page.member, m);
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].hash, stored.hash);
    assert_eq!(page.items[0].payload, b"hello");
    // Answered on arrival: well before the node's 20 s bound.
    assert!(
        answered_at.duration_since(stored_at) < Duration::from_secs(5),
        "answered {:?} after the store",
        answered_at.duration_since(stored_at)
    );
    assert!(answered_at.duration_since(started) < NODE_HOLD);
    eventually(30, "the held slot is released", || async { waiting() == 0 }).await;

    // A message already there after the cursor is answered at once, without holding.
    let p = a
        .retrieve_wait(&mb, Some(m), 0, Some(&key), Duration::from_secs(25))
        .await
        .unwrap();
    assert_eq!(p.items.len(), 1);
    let cursor = p.items[0].seq;

    // 2. Nothing new after the cursor: the wait ends empty at the client's bound.
    let t = Instant::now();
    let p = a
        .retrieve_wait(
            &mb,
            Some(m),
            cursor,
            Some(&key),
            Duration::from_millis(1500),
        )
        .await
        .unwrap();
    let took = t.elapsed();
    assert!(p.items.is_empty() && !p.more, "{p:?}");
    assert!(took >= Duration::from_millis(1500), "ended after {took:?}");
    assert!(took < NODE_HOLD, "ended after {took:?}");

    // 3. The member holds at most LIMIT; the next is refused with Busy.
    let held: Vec<_> = (0..LIMIT)
        .map(|_| {
            let (a, key) = (a.clone(), key.clone());
            tokio::spawn(async move {
                a.retrieve_wait(&mb, Some(m), cursor, Some(&key), Duration::from_secs(25))
                    .await
            })
        })
        .collect();
    eventually(60, "the member holds as many as it allows", || async {
        waiting() == LIMIT as u64
    })
    .await;
    match a
        .retrieve_wait(&mb, Some(m), cursor, Some(&key), Duration::from_secs(25))
        .await
    {
        Err(NetError::Refused {
            code: ErrorCode::Busy,
            value,
            ..
        }) => assert!(value > 0),
        other => panic!("expected Busy, got {other:?}"),
    }
    assert!(member.handle.stats().waits_refused >= 1);
    // A plain retrieve is still served.
    let p = a.retrieve_page(&mb, Some(m), 0, Some(&key)).await.unwrap();
    assert_eq!(p.items.len(), 1);
    // One store wakes every waiter of the mailbox.
    let second = b.store(&mb, 0, b"again".to_vec()).await.unwrap();
    for h in held {
        let p = h.await.unwrap().unwrap();
        assert_eq!(p.items.len(), 1);
        assert_eq!(p.items[0].hash, second.hash);
    }
    eventually(30, "every slot is released", || async { waiting() == 0 }).await;

    // 4. A stopping node lets go of what it holds.
    let orphan = {
        let (a, key) = (a.clone(), key.clone());
        tokio::spawn(async move {
            a.retrieve_wait(
                &mb,
                Some(m),
                u64::MAX - 1,
                Some(&key),
                Duration::from_secs(25),
            )
            .await
        })
    };
    eventually(60, "the member holds the long-poll", || async {
        waiting() == 1
    })
    .await;
    member.handle.shutdown().await;
    eventually(30, "the stopped node holds nothing", || async {
        waiting() == 0
    })
    .await;
    orphan.abort();
}
