//! `RegistrySet` (the registry as `pars-net`'s `ServiceNodeSet`) against a real anvil with the
//! devnet's deploy script: registrations and exits reach the membership within a few blocks,
//! nodes that are not registered (or registered with someone else's key) never appear, and the
//! set survives the chain going away, also across a restart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{Anvil, ether, operator, signer};
use libp2p::PeerId;
use libp2p::identity::Keypair;
use pars_net::{Membership, ServiceNodeSet};
use pars_registry::primitives::Address;
use pars_registry::{
    DevnetAddresses, ErrorKind, HasKind, RegistrySet, RegistrySetConfig, ServiceNodeIdentity,
    SyncState, open_registry_set,
};
use tokio::sync::watch;

fn node() -> ServiceNodeIdentity {
    ServiceNodeIdentity::from_keypair(&Keypair::generate_ed25519()).unwrap()
}

fn set_config(anvil: &Anvil, registry: Address, cache: &Path) -> RegistrySetConfig {
    RegistrySetConfig::new(cache)
        .with_eth_rpc(&anvil.url)
        .with_registry(registry)
        .with_addresses_file(cache.with_file_name("no-addresses.json"))
        .with_poll_interval(Duration::from_millis(100))
        .with_backoff(Duration::from_millis(100), Duration::from_millis(400))
        .with_rpc_timeout(Duration::from_secs(5))
}

/// Registers `id` from anvil account `account` with 1 ether and port `port`.
async fn register(
    anvil: &Anvil,
    addresses: &DevnetAddresses,
    account: usize,
    id: &ServiceNodeIdentity,
    port: u16,
) {
    let r = id
        .registration(
            &[format!("/ip4/127.0.0.1/tcp/{port}")],
            &format!("op-{account}"),
        )
        .unwrap();
    operator(anvil, addresses, Some(signer(account)))
        .await
        .register(&r, ether(1), &mut |_| {})
        .await
        .unwrap();
}

async fn wait_members(
    rx: &watch::Receiver<Arc<Membership>>,
    what: &str,
    pred: impl FnMut(&Arc<Membership>) -> bool,
) {
    common::wait_for(rx, what, pred).await;
}

fn peers(set: &RegistrySet) -> Vec<PeerId> {
    let mut v: Vec<_> = set.members().nodes.iter().map(|n| n.peer_id).collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<PeerId>) -> Vec<PeerId> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_and_exits_reach_the_membership() {
    let anvil = Anvil::start().await;
    let addresses = anvil.deploy();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("registry-cache.json");
    let (set, task) =
        open_registry_set(set_config(&anvil, addresses.service_node_registry, &cache))
            .await
            .unwrap();
    assert_eq!(task.chain_id(), 31337);
    task.handle()
        .wait_synced(Duration::from_secs(30))
        .await
        .unwrap();
    assert!(set.members().nodes.is_empty());
    let rx = set.watch();

    let (a, b) = (node(), node());
    register(&anvil, &addresses, 1, &a, 9001).await;
    register(&anvil, &addresses, 2, &b, 9002).await;
    // A squatter registers someone else's peer ID with its own identity key: on chain, but not
    // a usable member. A node that never registered is not one either.
    let (victim, squatter) = (node(), node());
    let mut r = victim
        .registration(&["/ip4/127.0.0.1/tcp/9003".into()], "squat")
        .unwrap();
    r.onion_key = squatter.identity_key.to_vec();
    operator(&anvil, &addresses, Some(signer(3)))
        .await
        .register(&r, ether(1), &mut |_| {})
        .await
        .unwrap();
    let unregistered = node();
    anvil.mine(1).await;

    // All three are in the registry's active set; two of them are members.
    common::wait_for(&task.handle().subscribe(), "three registered", |s| {
        s.nodes.len() == 3
    })
    .await;
    wait_members(&rx, "two members", |m| m.nodes.len() == 2).await;
    assert_eq!(peers(&set), sorted(vec![a.peer_id, b.peer_id]));
    let m = set.members();
    let member_a = m.get(&a.peer_id).unwrap();
    assert_eq!(
        member_a.addrs,
        vec!["/ip4/127.0.0.1/tcp/9001".parse().unwrap()]
    );
    assert_eq!(member_a.operator, signer(1).address().to_string());
    assert!(m.epoch >= 1);
    // The squatter's entry is in the registry snapshot, but not in the membership.
    assert_eq!(set.snapshot().nodes.len(), 3);
    assert!(!m.contains(&victim.peer_id) && !m.contains(&squatter.peer_id));
    assert!(!m.contains(&unregistered.peer_id));
    assert_eq!(set.identity_key(&a.peer_id), Some(a.identity_key.to_vec()));
    assert_eq!(set.identity_key(&unregistered.peer_id), None);

    // An exit removes the node within a block; the epoch grows.
    let epoch = m.epoch;
    operator(&anvil, &addresses, Some(signer(1)))
        .await
        .request_exit(&a.peer_id_bytes(), &mut |_| {})
        .await
        .unwrap();
    anvil.mine(1).await;
    wait_members(&rx, "node a gone", |m| !m.contains(&a.peer_id)).await;
    assert_eq!(peers(&set), vec![b.peer_id]);
    assert!(set.members().epoch > epoch);

    // Over all this, the unregistered node never appeared.
    anvil.mine(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!set.members().contains(&unregistered.peer_id));
    task.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_set_survives_outages_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("anvil-state.json");
    let cache = dir.path().join("registry-cache.json");
    let mut anvil = Anvil::start_with_state(&state).await;
    let addresses = anvil.deploy();
    let registry = addresses.service_node_registry;
    let (a, b, c) = (node(), node(), node());
    register(&anvil, &addresses, 1, &a, 9001).await;
    register(&anvil, &addresses, 2, &b, 9002).await;
    anvil.mine(1).await;

    let (running, task) = open_registry_set(set_config(&anvil, registry, &cache))
        .await
        .unwrap();
    let rx = running.watch();
    wait_members(&rx, "two members", |m| m.nodes.len() == 2).await;

    // anvil stops mid-run: the membership stays, the health says why.
    anvil.stop();
    wait_for_health(&running, |h| {
        h.state == SyncState::Degraded
            && h.last_error
                .as_ref()
                .is_some_and(|e| e.error.kind() == ErrorKind::ChainUnavailable)
    })
    .await;
    assert_eq!(peers(&running), sorted(vec![a.peer_id, b.peer_id]));

    // A restart while the RPC is dead starts from the cache (the chain ID comes from the cache
    // too: none is configured and there is no address file).
    let (restarted, task2) = open_registry_set(set_config(&anvil, registry, &cache))
        .await
        .unwrap();
    assert_eq!(task2.chain_id(), 31337);
    assert_eq!(peers(&restarted), sorted(vec![a.peer_id, b.peer_id]));
    assert!(restarted.health().from_cache);

    // Without a cache and without any way to learn the chain ID, opening fails with a clear
    // error instead of serving an empty set silently.
    let err = open_registry_set(set_config(&anvil, registry, &dir.path().join("none.json")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("chain ID"), "{err}");
    // With the chain ID given, it opens (empty) and keeps retrying.
    let (empty, task3) = open_registry_set(
        set_config(&anvil, registry, &dir.path().join("other.json")).with_expected_chain_id(31337),
    )
    .await
    .unwrap();
    assert!(empty.members().nodes.is_empty());

    // anvil comes back with the same state: everyone catches up with a change made since.
    anvil.restart().await;
    register(&anvil, &addresses, 3, &c, 9003).await;
    anvil.mine(1).await;
    for set in [&running, &restarted, &empty] {
        wait_members(&set.watch(), "three members after the outage", |m| {
            m.nodes.len() == 3
        })
        .await;
        wait_for_health(set, |h| h.state == SyncState::Synced).await;
        assert!(!set.health().from_cache);
    }
    assert_eq!(
        peers(&restarted),
        sorted(vec![a.peer_id, b.peer_id, c.peer_id])
    );
    task.shutdown().await;
    task2.shutdown().await;
    task3.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_file_and_a_wrong_chain() {
    let anvil = Anvil::start().await;
    let addresses = anvil.deploy();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("addresses.json");
    std::fs::write(
        &file,
        format!(
            r#"{{"chainId":31337,"rpcUrl":"{}","serviceNodeRegistry":"{}","sessionTrigger":"{}"}}"#,
            anvil.url, addresses.service_node_registry, addresses.session_trigger
        ),
    )
    .unwrap();
    let a = node();
    register(&anvil, &addresses, 1, &a, 9001).await;
    anvil.mine(1).await;

    // Only the cache path and the address file: everything else comes from the file.
    let cfg = RegistrySetConfig::new(dir.path().join("cache.json"))
        .with_addresses_file(&file)
        .with_poll_interval(Duration::from_millis(100));
    let (set, task) = open_registry_set(cfg).await.unwrap();
    assert_eq!(task.target().registry, addresses.service_node_registry);
    wait_members(&set.watch(), "one member", |m| m.nodes.len() == 1).await;
    task.shutdown().await;

    // Expecting another chain: the reader refuses the RPC and says so.
    let cfg = RegistrySetConfig::new(dir.path().join("cache2.json"))
        .with_addresses_file(&file)
        .with_expected_chain_id(1)
        .with_backoff(Duration::from_millis(100), Duration::from_millis(200));
    let (set, task) = open_registry_set(cfg).await.unwrap();
    let err = task
        .handle()
        .wait_synced(Duration::from_secs(30))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongChain, "{err}");
    assert!(set.members().nodes.is_empty());
    task.shutdown().await;
}

async fn wait_for_health(set: &RegistrySet, pred: impl Fn(&pars_registry::Health) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !pred(&set.health()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for health, last: {:?}",
            set.health()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
