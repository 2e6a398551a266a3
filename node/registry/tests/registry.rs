//! The registry reader against a real anvil with the contracts deployed by the devnet's deploy
//! script: registrations, exits, slashes, confirmation lag, reorgs, outages and a replaced chain.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Anvil, ether, operator, register, registration, signer, wait_for};
use pars_registry::{
    ErrorKind, HasKind, Progress, RegistryConfig, RegistryError, RegistryHandle, RegistryNodeId,
    RegistryReader, SyncState, primitives::Address,
};

fn config(anvil: &Anvil, registry: Address) -> RegistryConfig {
    RegistryConfig::new(&anvil.url, registry, 31337)
        .with_poll_interval(Duration::from_millis(100))
        .with_backoff(Duration::from_millis(100), Duration::from_millis(400))
        .with_rpc_timeout(Duration::from_secs(5))
}

fn ids(handle: &RegistryHandle) -> Vec<RegistryNodeId> {
    handle.snapshot().nodes.iter().map(|n| n.node_id).collect()
}

fn id(tag: u8) -> RegistryNodeId {
    registration(tag).node_id()
}

fn sorted(mut v: Vec<RegistryNodeId>) -> Vec<RegistryNodeId> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_follows_registrations_exits_and_slashes() {
    let anvil = Anvil::start().await;
    let addresses = anvil.deploy();
    let registry = addresses.service_node_registry;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("registry.json");
    let (handle, task) =
        RegistryReader::start(config(&anvil, registry).with_cache(&cache)).unwrap();
    let initial = handle.wait_synced(Duration::from_secs(30)).await.unwrap();
    assert!(initial.nodes.is_empty());
    assert!(initial.is_known());

    // Three operators register; progress is reported up to the confirmation.
    let mut seen = Vec::new();
    let op1 = operator(&anvil, &addresses, Some(signer(1))).await;
    let outcome = op1
        .register(&registration(1), ether(2), &mut |p: Progress| seen.push(p))
        .await
        .unwrap();
    assert_eq!(outcome.node_id, id(1));
    assert!(matches!(seen.first(), Some(Progress::Submitted { .. })));
    assert!(
        matches!(seen.last(), Some(Progress::Confirmed { block, .. }) if *block == outcome.block)
    );
    register(&anvil, &addresses, 2, 2).await;
    let last = register(&anvil, &addresses, 3, 3).await;

    // Confirmation lag: the last registration is the head block, so it is not applied yet.
    let hrx = handle.subscribe_health();
    wait_for(&hrx, "the reader at head - 1", |h| {
        h.synced_block == Some(last.block - 1)
    })
    .await;
    assert_eq!(sorted(ids(&handle)), sorted(vec![id(1), id(2)]));

    // One more block confirms it.
    let rx = handle.subscribe();
    anvil.mine(1).await;
    wait_for(&rx, "three nodes", |s| s.nodes.len() == 3).await;
    let snap = handle.snapshot();
    let n1 = snap.by_peer_id(&registration(1).peer_id).unwrap();
    assert_eq!(n1.operator, signer(1).address());
    assert_eq!(n1.name, "operator-1");
    assert_eq!(n1.stake, ether(2));
    assert_eq!(n1.multiaddrs, registration(1).multiaddrs);
    assert_eq!(n1.onion_key, registration(1).onion_key);
    assert_eq!(n1.mldsa_key_hash, registration(1).mldsa_key_hash);
    assert_eq!(n1.registered_block, outcome.block);

    // Stake added: updated in place.
    let op2 = operator(&anvil, &addresses, Some(signer(2))).await;
    op2.add_stake(&registration(2).peer_id, ether(3), &mut |_| {})
        .await
        .unwrap();
    anvil.mine(1).await;
    wait_for(&rx, "stake of node 2", |s| {
        s.get(&id(2)).is_some_and(|n| n.stake == ether(4))
    })
    .await;

    // An exit drops the node from the active set.
    let before = handle.snapshot();
    op2.request_exit(&registration(2).peer_id, &mut |_| {})
        .await
        .unwrap();
    anvil.mine(1).await;
    wait_for(&rx, "node 2 gone", |s| s.get(&id(2)).is_none()).await;
    let diff = handle.snapshot().diff_from(&before);
    assert_eq!(diff.removed, vec![id(2)]);
    assert!(diff.added.is_empty() && diff.updated.is_empty());
    assert_eq!(sorted(ids(&handle)), sorted(vec![id(1), id(3)]));

    // A slash by governance (the deployer owns the registry) drops another.
    let owner = operator(&anvil, &addresses, Some(signer(0))).await;
    owner
        .slash(
            &registration(3).peer_id,
            ether(1) / alloy::primitives::U256::from(2u64),
            "test",
            &mut |_| {},
        )
        .await
        .unwrap();
    anvil.mine(1).await;
    wait_for(&rx, "node 3 gone", |s| s.get(&id(3)).is_none()).await;
    assert_eq!(ids(&handle), vec![id(1)]);

    // The cache holds the same set.
    let cached: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    let cached_nodes = cached["snapshot"]["nodes"].as_array().unwrap();
    assert_eq!(cached_nodes.len(), 1);
    assert_eq!(cached_nodes[0]["name"], "operator-1");
    assert_eq!(handle.health().state, SyncState::Synced);
    assert!(handle.health().last_error.is_none());

    handle.shutdown();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_chain_or_address_is_a_clear_error() {
    let anvil = Anvil::start().await;
    let addresses = anvil.deploy();
    let registry = addresses.service_node_registry;

    let mut cfg = config(&anvil, registry);
    cfg.chain_id = 7;
    let (handle, _task) = RegistryReader::start(cfg).unwrap();
    let err = handle
        .wait_synced(Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::WrongChain {
                expected: 7,
                actual: 31337
            }
        ),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::WrongChain);
    assert!(err.to_string().contains("chain ID 31337"), "{err}");
    // The reader keeps running (and retrying) rather than crashing.
    assert_eq!(handle.health().state, SyncState::Degraded);
    assert!(!handle.snapshot().is_known());

    let (handle, _task) =
        RegistryReader::start(config(&anvil, Address::repeat_byte(0x42))).unwrap();
    let err = handle
        .wait_synced(Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::NoContract { .. }), "{err}");
    assert!(err.to_string().contains("check --registry"), "{err}");

    let cfg = pars_registry::OperatorConfig::new(&anvil.url, registry, 1);
    let err = pars_registry::Operator::connect(cfg, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::WrongChain { expected: 1, .. }),
        "{err}"
    );

    // The devnet's address file gives the whole configuration.
    let cfg = RegistryConfig::from_devnet(&addresses, None).unwrap();
    assert_eq!(cfg.rpc_url, anvil.url);
    assert_eq!(
        (cfg.registry, cfg.chain_id, cfg.confirmations),
        (registry, 31337, 1)
    );

    // A bad URL is refused up front.
    let mut cfg = config(&anvil, registry);
    cfg.rpc_url = "ws//nope".into();
    let err = RegistryReader::start(cfg).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_serves_the_cache_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("anvil-state.json");
    let cache = dir.path().join("registry.json");
    let mut anvil = Anvil::start_with_state(&state).await;
    let addresses = anvil.deploy();
    let registry = addresses.service_node_registry;
    register(&anvil, &addresses, 1, 1).await;
    register(&anvil, &addresses, 2, 2).await;
    anvil.mine(1).await;

    let (running, _task) =
        RegistryReader::start(config(&anvil, registry).with_cache(&cache)).unwrap();
    let rx = running.subscribe();
    wait_for(&rx, "two nodes", |s| s.nodes.len() == 2).await;

    // The chain goes away mid-run: the set stays, health reports the outage.
    anvil.stop();
    let hrx = running.subscribe_health();
    wait_for(&hrx, "degraded health", |h| {
        h.state == SyncState::Degraded
            && h.last_error
                .as_ref()
                .is_some_and(|e| e.error.kind() == ErrorKind::ChainUnavailable)
    })
    .await;
    assert_eq!(running.snapshot().nodes.len(), 2);
    let h = running.health();
    assert!(h.consecutive_failures >= 1 && h.retry_in.is_some());
    assert!(
        h.last_error
            .unwrap()
            .error
            .to_string()
            .contains("EVM RPC unavailable")
    );

    // A node starting during the outage serves the cache at once.
    let (restarted, _task2) =
        RegistryReader::start(config(&anvil, registry).with_cache(&cache)).unwrap();
    assert_eq!(sorted(ids(&restarted)), sorted(vec![id(1), id(2)]));
    assert!(restarted.health().from_cache);
    let err = restarted
        .wait_synced(Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(restarted.snapshot().nodes.len(), 2);

    // The chain comes back (same history, from its state dump): both catch up with a change
    // made after the restart.
    anvil.restart().await;
    register(&anvil, &addresses, 3, 3).await;
    anvil.mine(1).await;
    for handle in [&running, &restarted] {
        wait_for(&handle.subscribe(), "three nodes after the outage", |s| {
            s.nodes.len() == 3
        })
        .await;
        wait_for(&handle.subscribe_health(), "synced", |h| {
            h.state == SyncState::Synced
        })
        .await;
        assert!(!handle.health().from_cache);
    }
    // Same history: followed by events, no reload needed.
    assert_eq!(running.health().reloads, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorg_replacing_an_applied_block_converges() {
    let anvil = Anvil::start().await;
    let addresses = anvil.deploy();
    let registry = addresses.service_node_registry;
    register(&anvil, &addresses, 1, 1).await;
    let snapshot = anvil.snapshot().await;
    register(&anvil, &addresses, 2, 2).await;
    anvil.mine(2).await;

    let (handle, _task) = RegistryReader::start(config(&anvil, registry)).unwrap();
    let rx = handle.subscribe();
    wait_for(&rx, "nodes 1 and 2", |s| s.nodes.len() == 2).await;
    let applied_at = handle.snapshot().block.unwrap();

    // Replace the blocks after the snapshot by a longer fork in which node 3 registers instead.
    anvil.revert(&snapshot).await;
    register(&anvil, &addresses, 3, 3).await;
    anvil.mine(4).await;
    assert!(anvil.head().await > applied_at.number);

    wait_for(&rx, "nodes 1 and 3", |s| {
        s.get(&id(2)).is_none() && s.get(&id(1)).is_some() && s.get(&id(3)).is_some()
    })
    .await;
    let h = handle.health();
    assert!(h.reloads >= 1, "{h:?}");
    assert_ne!(handle.snapshot().block, Some(applied_at));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_devnet_is_reloaded_from_scratch() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("registry.json");
    let mut anvil = Anvil::start().await;
    let addresses = anvil.deploy();
    let registry = addresses.service_node_registry;
    register(&anvil, &addresses, 1, 1).await;
    register(&anvil, &addresses, 2, 2).await;
    anvil.mine(1).await;
    let (handle, _task) =
        RegistryReader::start(config(&anvil, registry).with_cache(&cache)).unwrap();
    let rx = handle.subscribe();
    wait_for(&rx, "two nodes", |s| s.nodes.len() == 2).await;

    // The devnet is thrown away and redeployed: same chain ID, same (deterministic) registry
    // address, a different history. The cached block hash no longer matches, so the reader
    // reloads instead of applying the new chain's events on top of the old set.
    anvil.replace_with_fresh_chain().await;
    let again = anvil.deploy();
    assert_eq!(again.service_node_registry, registry);
    register(&anvil, &again, 3, 3).await;
    anvil.mine(1).await;
    wait_for(&rx, "only the new chain's node", |s| {
        s.nodes.len() == 1 && s.get(&id(3)).is_some()
    })
    .await;
    assert!(handle.health().reloads >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catches_up_over_many_small_log_ranges() {
    let anvil = Anvil::start().await;
    let addresses = anvil.deploy();
    let registry = addresses.service_node_registry;
    let (handle, _task) =
        RegistryReader::start(config(&anvil, registry).with_max_log_range(2)).unwrap();
    handle.wait_synced(Duration::from_secs(30)).await.unwrap();
    handle.shutdown();

    // While no reader runs, the set changes over many blocks.
    register(&anvil, &addresses, 1, 1).await;
    anvil.mine(5).await;
    register(&anvil, &addresses, 2, 2).await;
    anvil.mine(5).await;
    let op = operator(&anvil, &addresses, Some(signer(1))).await;
    op.request_exit(&registration(1).peer_id, &mut |_| {})
        .await
        .unwrap();
    register(&anvil, &addresses, 3, 3).await;
    anvil.mine(7).await;

    // A reader resuming from a cache at the old block walks the gap two blocks at a time.
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("registry.json");
    let (first, task) = RegistryReader::start(config(&anvil, registry).with_cache(&cache)).unwrap();
    first.wait_synced(Duration::from_secs(30)).await.unwrap();
    // Shutdown only asks: the reader may still write its cache; wait until it has ended, or
    // it could overwrite the rewound cache below (failed once in CI).
    first.shutdown();
    task.await.unwrap();
    let mut old: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    // Rewind the cached state to the deployment: no nodes, at the block the empty reader saw.
    let empty_at = handle.snapshot().block.unwrap();
    old["snapshot"]["nodes"] = serde_json::json!([]);
    old["snapshot"]["block"] = serde_json::to_value(empty_at).unwrap();
    std::fs::write(&cache, serde_json::to_vec(&old).unwrap()).unwrap();

    let (resumed, _t) = RegistryReader::start(
        config(&anvil, registry)
            .with_cache(&cache)
            .with_max_log_range(2),
    )
    .unwrap();
    assert!(resumed.snapshot().nodes.is_empty());
    let set = resumed.wait_synced(Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        sorted(set.nodes.iter().map(|n| n.node_id).collect()),
        sorted(vec![id(2), id(3)])
    );
    assert_eq!(
        resumed.health().reloads,
        0,
        "followed by events, not reloaded"
    );
    assert_eq!(set.block.unwrap().number, anvil.head().await - 1);
}
