//! The members' records behind the directory: fetched from every other member with a swarm
//! `GetRecord` on a timer and on every set change, and from a member as soon as it connects
//! (a node back from a crash has fresh onion keys); verified, and kept when newer.

use super::NetworkHandle;
use super::rebalance::every_tick_or_set_change;
use crate::identity::verify_record;
use libp2p::PeerId;
use pars_wire::NodeRecord;
use pars_wire::swarm::{SwarmRequest, SwarmResponse};

/// Keeps the directory: fetches every other member's signed record (swarm `GetRecord`) on a
/// timer and on every set change, keeping verified records of members only.
pub(super) async fn directory_refresher(handle: NetworkHandle) {
    let h = &handle;
    every_tick_or_set_change(h, h.ctx.cfg.directory_refresh_interval, || {
        refresh_directory(h)
    })
    .await;
}

/// One directory round: every other member's record, fetched and verified.
async fn refresh_directory(handle: &NetworkHandle) {
    let ctx = &handle.ctx;
    let members = ctx.set.members();
    let peers: Vec<PeerId> = members
        .nodes
        .iter()
        .map(|n| n.peer_id)
        .filter(|p| *p != ctx.local)
        .collect();
    let fetched =
        libp2p::futures::future::join_all(peers.iter().map(|p| fetch_record(handle, *p))).await;
    keep_newer(handle, fetched.into_iter().flatten(), |p| {
        members.contains(p)
    });
}

/// Fetches the record of one member that just connected (a node that restarted after a crash
/// comes back with fresh onion keys: its clients' paths work again as soon as their guard
/// serves the new record, not at the next directory round).
pub(super) async fn refresh_member(handle: NetworkHandle, peer: PeerId) {
    if !handle.ctx.set.members().contains(&peer) {
        return;
    }
    if let Some(r) = fetch_record(&handle, peer).await {
        keep_newer(&handle, std::iter::once(r), |_| true);
    }
}

/// `peer`'s signed record, if it answers with one that verifies as its own.
async fn fetch_record(handle: &NetworkHandle, peer: PeerId) -> Option<(PeerId, NodeRecord)> {
    match handle.request(peer, &SwarmRequest::GetRecord).await {
        Ok(SwarmResponse::Record { record }) => NodeRecord::decode(&record)
            .ok()
            .filter(|r| verify_record(r).is_ok_and(|q| q == peer))
            .map(|r| (peer, r)),
        _ => None,
    }
}

/// Keeps each fetched record that is at least as new as the one held, after dropping the held
/// records of peers `keep` refuses (those that left the set), under one lock.
fn keep_newer(
    handle: &NetworkHandle,
    fetched: impl Iterator<Item = (PeerId, NodeRecord)>,
    keep: impl Fn(&PeerId) -> bool,
) {
    let Ok(mut dir) = handle.ctx.onion.directory.lock() else {
        return;
    };
    dir.retain(|p, _| keep(p));
    for (p, r) in fetched {
        match dir.get(&p) {
            Some(old) if old.issued_at_ms > r.issued_at_ms => continue,
            Some(old) if old.onion_keys != r.onion_keys => {
                tracing::debug!(peer = %p, "member announced new onion keys");
            }
            _ => {}
        }
        dir.insert(p, r);
    }
}
