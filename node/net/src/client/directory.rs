//! Verification of a guard's directory answer against the service-node set: each record's
//! signature, peer ID, membership and onion-key announcements. What the answer leaves out is
//! judged by the path manager (`paths.rs`), not here.

use crate::identity::verify_record;
use crate::set::{Membership, node_id};
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use pars_crypto::classic::Ed25519PublicKey;
use pars_onion::{Candidate, Operator, verified_hops};
use pars_wire::directory::DirectoryResponse;
use pars_wire::onion::OnionKeyList;
use pars_wire::{NodeId, NodeRecord};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

/// The IP a member is reached at (for /16 diversity); unspecified if it has none.
fn member_ip(addrs: &[Multiaddr]) -> IpAddr {
    addrs
        .iter()
        .flat_map(|a| a.iter())
        .find_map(|p| match p {
            Protocol::Ip4(a) => Some(IpAddr::V4(a)),
            Protocol::Ip6(a) => Some(IpAddr::V6(a)),
            _ => None,
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Verifies directory records against the set: signature, peer ID, membership, onion keys.
pub(super) fn candidates_from(
    resp: &DirectoryResponse,
    members: &Membership,
    now: u64,
) -> Vec<Candidate> {
    let mut out: HashMap<NodeId, Candidate> = HashMap::new();
    for bytes in &resp.records {
        let Ok(rec) = NodeRecord::decode(bytes) else {
            continue;
        };
        let Ok(peer) = verify_record(&rec) else {
            continue;
        };
        let Some(member) = members.get(&peer) else {
            continue;
        };
        let Ok(list) = OnionKeyList::from_bytes(&rec.onion_keys) else {
            continue;
        };
        let Some(pk) = libp2p::identity::PublicKey::try_decode_protobuf(&rec.public_key)
            .ok()
            .and_then(|k| k.try_into_ed25519().ok())
            .and_then(|k| Ed25519PublicKey::from_bytes(&k.to_bytes()).ok())
        else {
            continue;
        };
        let node = node_id(&peer);
        let keys = verified_hops(&list, node, &pk, now);
        if keys.is_empty() {
            continue;
        }
        let operator = if member.operator.is_empty() {
            rec.operator.clone()
        } else {
            member.operator.clone()
        };
        out.insert(
            node,
            Candidate {
                node,
                operator: Operator(operator),
                ip: member_ip(&member.addrs),
                keys,
                in_set: true,
            },
        );
    }
    out.into_values().collect()
}
