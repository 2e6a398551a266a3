//! Keeping the store in shape: the TTL sweeper, and the rebalancer that pushes mailboxes to
//! members that newly joined their swarm and hands off mailboxes this node no longer owns.

use super::NetworkHandle;
use super::stats::bump;
use crate::NetError;
use crate::config::unix_ms;
use pars_wire::swarm::{ContentHash, MIN_COPIES, ReplicaItem};
use std::time::Duration;

/// Most items and bytes in one replicate request.
const REPLICA_BATCH_ITEMS: usize = 256;
const REPLICA_BATCH_BYTES: usize = 2 * 1024 * 1024;

pub(super) async fn sweeper(handle: NetworkHandle) {
    let mut stop = handle.ctx.shutdown.subscribe();
    let mut tick = tokio::time::interval(handle.ctx.cfg.sweep_interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = handle.ctx.store.sweep(unix_ms()).await {
                    tracing::warn!(error = %e, "TTL sweep failed");
                }
            }
            _ = crate::config::stopped(&mut stop) => break,
        }
    }
}

pub(super) async fn rebalancer(handle: NetworkHandle) {
    let h = &handle;
    every_tick_or_set_change(h, h.ctx.cfg.rebalance_interval, || async move {
        if let Err(e) = h.rebalance().await {
            tracing::warn!(error = %e, "rebalance round failed");
        }
    })
    .await;
}

/// Runs `round` at every tick of `interval` (the first at once) and after every change of the
/// service-node set, until the node stops.
pub(super) async fn every_tick_or_set_change<F, Fut>(
    handle: &NetworkHandle,
    interval: Duration,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut stop = handle.ctx.shutdown.subscribe();
    let mut set_rx = handle.ctx.set.watch();
    let mut tick = tokio::time::interval(interval);
    let mut set_open = true;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = set_rx.changed(), if set_open => {
                if changed.is_err() { set_open = false; }
                set_rx.borrow_and_update();
            }
            _ = crate::config::stopped(&mut stop) => break,
        }
        round().await;
    }
}

/// Splits replica items into request-sized batches.
fn batches(items: Vec<ReplicaItem>) -> Vec<Vec<ReplicaItem>> {
    let mut out = Vec::new();
    let mut cur: Vec<ReplicaItem> = Vec::new();
    let mut bytes = 0;
    for it in items {
        if !cur.is_empty()
            && (cur.len() >= REPLICA_BATCH_ITEMS || bytes + it.payload.len() > REPLICA_BATCH_BYTES)
        {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += it.payload.len();
        cur.push(it);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

impl NetworkHandle {
    /// Runs one rebalance round now: pushes mailboxes to members that newly joined their swarm,
    /// and hands off mailboxes this node no longer owns, dropping each only after enough new
    /// owners acknowledged it. Returns how many messages were dropped after handoff.
    pub async fn rebalance(&self) -> Result<u64, NetError> {
        let ctx = &self.ctx;
        let mut prev = ctx.rebalance.lock().await;
        let cur = ctx.set.members();
        let now = unix_ms();
        let mut dropped = 0u64;
        for mb in ctx.store.mailboxes()? {
            let new_swarm = cur.swarm_of(&mb);
            let ours = new_swarm.contains(&ctx.local);
            if ours && prev.epoch == cur.epoch {
                continue;
            }
            let items: Vec<ReplicaItem> = ctx
                .store
                .all(&mb, now)?
                .into_iter()
                .map(|m| ReplicaItem {
                    mailbox: mb,
                    expires_at_ms: m.expires_at_ms,
                    payload: m.payload,
                })
                .collect();
            if items.is_empty() {
                continue;
            }
            if ours {
                let old_swarm = prev.swarm_of(&mb);
                for target in new_swarm
                    .iter()
                    .filter(|p| **p != ctx.local && !old_swarm.contains(p))
                {
                    for batch in batches(items.clone()) {
                        ctx.replicate(*target, batch).await;
                    }
                }
            } else if !new_swarm.is_empty() {
                let need = MIN_COPIES.min(new_swarm.len());
                for batch in batches(items) {
                    let acks = libp2p::futures::future::join_all(
                        new_swarm.iter().map(|p| ctx.replicate(*p, batch.clone())),
                    )
                    .await;
                    if acks.iter().filter(|a| **a).count() >= need {
                        let hashes: Vec<ContentHash> = batch
                            .iter()
                            .map(|i| pars_wire::swarm::content_hash(&i.payload))
                            .collect();
                        let n = ctx.store.delete(&mb, hashes).await?;
                        dropped += u64::from(n);
                        bump(&ctx.counters.handed_off, u64::from(n));
                    }
                }
            }
        }
        *prev = cur;
        Ok(dropped)
    }
}
