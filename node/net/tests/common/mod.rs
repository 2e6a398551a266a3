//! Shared test helpers: clusters of real nodes on loopback, each with its own redb in a temp
//! dir, and a condition poller with a deadline (no fixed sleeps).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod raw;

use pars_net::{NetworkHandle, NodeConfig, ServiceNode, StaticSet, start};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub struct Node {
    pub handle: NetworkHandle,
    pub entry: ServiceNode,
    pub _dir: tempfile::TempDir,
}

/// Starts `n` nodes listening on `listen` (e.g. TCP or QUIC on 127.0.0.1), all watching one
/// shared static set that is left empty; the caller decides the members.
pub async fn start_nodes(
    n: usize,
    listen: &str,
    tweak: impl Fn(usize, &mut NodeConfig),
) -> (Arc<StaticSet>, Vec<Node>) {
    let set = Arc::new(StaticSet::new(Vec::new()));
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = NodeConfig::new(dir.path());
        cfg.listen = vec![listen.parse().unwrap()];
        cfg.operator = format!("operator-{i}");
        cfg.request_timeout = Duration::from_secs(5);
        cfg.sweep_interval = Duration::from_millis(200);
        cfg.rebalance_interval = Duration::from_millis(500);
        tweak(i, &mut cfg);
        let handle = start(cfg, set.clone()).await.unwrap();
        let entry = ServiceNode {
            peer_id: handle.peer_id(),
            addrs: handle.listen_addrs().await.unwrap(),
            operator: format!("operator-{i}"),
        };
        nodes.push(Node {
            handle,
            entry,
            _dir: dir,
        });
    }
    (set, nodes)
}

/// Polls `cond` until it holds or `secs` pass.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if cond().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn by_peer<'a>(nodes: &'a [Node], p: &libp2p::PeerId) -> &'a Node {
    nodes.iter().find(|n| n.entry.peer_id == *p).unwrap()
}
