//! Real `pars-net` service nodes on loopback, each following the registry on a real anvil
//! through its own `RegistrySet`: only staked, registered nodes become swarm members, a node that
//! runs and connects without a stake never holds mail, and a node that exits is dropped from
//! every swarm after handing its mail to the remaining members.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Anvil, ether, operator, signer};
use pars_crypto::SessionId;
use pars_net::{NetworkHandle, NodeConfig, ServiceNodeSet, unix_ms};
use pars_registry::{
    RegistrySet, RegistrySetConfig, RegistrySetTask, ServiceNodeIdentity, open_registry_set,
};
use pars_wire::swarm::Mailbox;

struct Node {
    handle: NetworkHandle,
    identity: ServiceNodeIdentity,
    set: Arc<RegistrySet>,
    task: RegistrySetTask,
    _dir: tempfile::TempDir,
}

async fn eventually<F, Fut>(secs: u64, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_staked_nodes_hold_mail_and_an_exiting_node_hands_off() {
    let anvil = Anvil::start().await;
    let addresses = anvil.deploy();
    let registry = addresses.service_node_registry;

    // Seven nodes, each with its own registry reader; none is registered yet.
    let mut nodes = Vec::new();
    for _ in 0..7 {
        let dir = tempfile::tempdir().unwrap();
        let (set, task) = open_registry_set(
            RegistrySetConfig::new(dir.path().join(pars_registry::REGISTRY_CACHE_FILE))
                .with_eth_rpc(&anvil.url)
                .with_registry(registry)
                .with_addresses_file(dir.path().join("no-addresses.json"))
                .with_poll_interval(Duration::from_millis(100))
                .with_backoff(Duration::from_millis(100), Duration::from_millis(400)),
        )
        .await
        .unwrap();
        let mut cfg = NodeConfig::new(dir.path());
        cfg.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        cfg.request_timeout = Duration::from_secs(5);
        cfg.rebalance_interval = Duration::from_millis(500);
        let handle = pars_net::start(cfg, set.clone()).await.unwrap();
        let identity = ServiceNodeIdentity::load(dir.path()).unwrap();
        assert_eq!(identity.peer_id, handle.peer_id());
        nodes.push(Node {
            handle,
            identity,
            set,
            task,
            _dir: dir,
        });
    }

    // Six register (from four operator accounts) with the addresses they listen on; the
    // seventh runs, knows everyone's address and connects, but never stakes.
    for (i, n) in nodes[..6].iter().enumerate() {
        let addrs: Vec<String> = n
            .handle
            .listen_addrs()
            .await
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        let r = n
            .identity
            .registration(&addrs, &format!("node-{i}"))
            .unwrap();
        operator(&anvil, &addresses, Some(signer(1 + i % 4)))
            .await
            .register(&r, ether(1), &mut |_| {})
            .await
            .unwrap();
    }
    anvil.mine(1).await;
    let unstaked = &nodes[6];
    for n in &nodes[..6] {
        let addr = n.handle.listen_addrs().await.unwrap()[0].clone();
        unstaked
            .handle
            .add_peer_address(n.identity.peer_id, addr)
            .await
            .unwrap();
    }
    for n in &nodes {
        let set = n.set.clone();
        eventually(30, "every reader sees six members", || {
            let set = set.clone();
            async move { set.members().nodes.len() == 6 }
        })
        .await;
        assert!(!n.set.members().contains(&unstaked.identity.peer_id));
    }

    // Mail stored through the unstaked node (acting as a client) lands on staked members only.
    let mailboxes: Vec<Mailbox> = (0..24u8)
        .map(|i| Mailbox::Inbox(SessionId::from_digest(pars_crypto::sha3_256(&[&[i]]))))
        .collect();
    for (i, mb) in mailboxes.iter().enumerate() {
        let swarm = unstaked.handle.swarm_of(mb);
        assert_eq!(swarm.len(), 5);
        assert!(!swarm.contains(&unstaked.identity.peer_id));
        let receipt = unstaked
            .handle
            .store_message(mb, 0, format!("m{i}").into_bytes())
            .await
            .unwrap();
        assert!(receipt.copies >= 3, "copies {}", receipt.copies);
        assert!(swarm.contains(&receipt.node));
    }
    assert_eq!(
        unstaked.handle.mailbox_store().stats().unwrap().messages,
        0,
        "the unstaked node holds no mail"
    );
    assert_eq!(unstaked.handle.stats().handed_off, 0);

    // Node 0 exits: every reader drops it within a block, it hands its mail to the remaining
    // members and deletes its copies; every mailbox is still held by at least 3 members.
    let leaver = &nodes[0];
    let held = leaver.handle.mailbox_store().stats().unwrap().messages;
    assert!(held > 0, "node 0 holds part of the mail");
    operator(&anvil, &addresses, Some(signer(1)))
        .await
        .request_exit(&leaver.identity.peer_id_bytes(), &mut |_| {})
        .await
        .unwrap();
    anvil.mine(1).await;
    for n in &nodes {
        let set = n.set.clone();
        let gone = leaver.identity.peer_id;
        eventually(30, "every reader drops the leaver", || {
            let set = set.clone();
            async move { !set.members().contains(&gone) && set.members().nodes.len() == 5 }
        })
        .await;
    }
    eventually(60, "the leaver handed off and dropped its mail", || async {
        leaver.handle.mailbox_store().stats().unwrap().messages == 0
    })
    .await;
    assert!(leaver.handle.stats().handed_off >= held);
    let now = unix_ms();
    let remaining = &nodes[1..6];
    for mb in &mailboxes {
        let swarm = remaining[0].handle.swarm_of(mb);
        assert!(!swarm.contains(&leaver.identity.peer_id));
        let holders = remaining
            .iter()
            .filter(|n| n.handle.mailbox_store().all(mb, now).unwrap().len() == 1)
            .count();
        assert!(holders >= 3, "a mailbox held by only {holders} members");
    }
    assert_eq!(unstaked.handle.mailbox_store().stats().unwrap().messages, 0);

    for n in nodes {
        n.handle.shutdown().await;
        n.task.shutdown().await;
    }
}
