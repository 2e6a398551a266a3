#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Hostile input on real libp2p connections: garbage, truncated and oversized frames on every
//! protocol the node speaks, rate limits, and peers outside the service-node set. The node must
//! answer with an error or drop the stream, count it, and keep serving. Also: QUIC works.

mod common;

use common::raw::{Raw, raw_send, raw_send_many};
use common::{eventually, start_nodes};
use libp2p::Multiaddr;
use pars_crypto::SessionId;
use pars_net::NetError;
use pars_wire::swarm::{
    ErrorCode, MAX_FRAME_LEN, Mailbox, ReplicaItem, SwarmRequest, SwarmResponse,
};
use std::time::Duration;

const TCP: &str = "/ip4/127.0.0.1/tcp/0";

fn decode_framed(resp: &[u8]) -> SwarmResponse {
    assert!(resp.len() >= 4, "short response");
    let len = u32::from_be_bytes(resp[..4].try_into().unwrap()) as usize;
    assert_eq!(resp.len(), 4 + len);
    SwarmResponse::decode(&resp[4..]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_truncated_and_oversized_frames_on_every_protocol() {
    let (set, nodes) = start_nodes(4, TCP, |_, _| {}).await;
    set.replace(nodes.iter().map(|n| n.entry.clone()).collect());
    let target = &nodes[1];
    let peer = target.entry.peer_id;
    let addr = target.entry.addrs[0].clone();

    // The swarm protocol: undecodable frames get a Malformed answer...
    let garbage: Vec<u8> = (0..200u32).map(|i| (i * 37 % 251) as u8).collect();
    let resp = raw_send(peer, &addr, "/pars/swarm/1", Raw::Framed(garbage.clone()))
        .await
        .unwrap();
    match decode_framed(&resp) {
        SwarmResponse::Error { code, detail, .. } => {
            assert_eq!(code, ErrorCode::Malformed);
            assert!(!detail.is_empty());
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    let valid = SwarmRequest::Store {
        mailbox: Mailbox::Inbox(SessionId::from_digest([1; 32])),
        ttl_ms: 0,
        payload: vec![1; 100],
    }
    .encode();
    let resp = raw_send(
        peer,
        &addr,
        "/pars/swarm/1",
        Raw::Framed(valid[..valid.len() - 10].to_vec()),
    )
    .await
    .unwrap();
    assert!(matches!(
        decode_framed(&resp),
        SwarmResponse::Error {
            code: ErrorCode::Malformed,
            ..
        }
    ));
    // ...oversized and truncated frames fail the stream without allocating the claimed size.
    let mut oversized = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes().to_vec();
    oversized.extend(vec![0u8; 64 * 1024]);
    let r = raw_send(peer, &addr, "/pars/swarm/1", Raw::Bytes(oversized.clone())).await;
    assert!(r.is_err() || r.as_ref().is_ok_and(Vec::is_empty), "{r:?}");
    let mut huge = u32::MAX.to_be_bytes().to_vec();
    huge.extend([0u8; 16]);
    let r = raw_send(peer, &addr, "/pars/swarm/1", Raw::Bytes(huge)).await;
    assert!(r.is_err() || r.as_ref().is_ok_and(Vec::is_empty), "{r:?}");
    let mut truncated = 1000u32.to_be_bytes().to_vec();
    truncated.extend([7u8; 10]);
    let r = raw_send(peer, &addr, "/pars/swarm/1", Raw::Bytes(truncated.clone())).await;
    assert!(r.is_err() || r.as_ref().is_ok_and(Vec::is_empty), "{r:?}");
    let r = raw_send(peer, &addr, "/pars/swarm/1", Raw::Bytes(vec![0, 0])).await;
    assert!(r.is_err() || r.as_ref().is_ok_and(Vec::is_empty), "{r:?}");
    eventually(10, "the node counted the bad frames", || async {
        let s = target.handle.stats();
        s.malformed >= 2 && s.bad_frames >= 4
    })
    .await;

    // The other protocols: Kademlia, identify, identify push, ping. Whatever libp2p answers,
    // the node must stay up.
    for proto in [
        "/pars/kad/1.0.0",
        "/pars/id/1.0.0",
        "/ipfs/id/push/1.0.0",
        "/ipfs/ping/1.0.0",
    ] {
        for req in [
            Raw::Framed(garbage.clone()),
            Raw::Bytes(garbage.clone()),
            Raw::Bytes(truncated.clone()),
            Raw::Bytes(oversized.clone()),
            Raw::Bytes(vec![0xff; 12]),
        ] {
            let _ = raw_send(peer, &addr, proto, req).await;
        }
    }

    // Still up and serving: a real store through the target, a record request, a DHT lookup.
    let mb = Mailbox::Inbox(SessionId::from_digest([9; 32]));
    let r = nodes[0]
        .handle
        .store_message(&mb, 0, b"still here".to_vec())
        .await
        .unwrap();
    assert_eq!(r.copies, 4);
    match nodes[0]
        .handle
        .request(peer, &SwarmRequest::GetRecord)
        .await
        .unwrap()
    {
        SwarmResponse::Record { record } => {
            let rec = pars_wire::NodeRecord::decode(&record).unwrap();
            assert_eq!(pars_net::identity::verify_record(&rec).unwrap(), peer);
        }
        other => panic!("expected a record, got {other:?}"),
    }
    nodes[2].handle.lookup_record(peer).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_bite_and_outsiders_are_never_used() {
    let (set, nodes) = start_nodes(5, TCP, |i, cfg| {
        if i == 1 {
            // Members and outsiders draw from separate buckets; both are tight here.
            cfg.rate_limit.burst = 5;
            cfg.rate_limit.per_second = 1;
            cfg.member_rate_limit.burst = 5;
            cfg.member_rate_limit.per_second = 1;
            cfg.onion_rate_limit.burst = 5;
            cfg.onion_rate_limit.per_second = 1;
        }
    })
    .await;
    // Node 4 is not in the set.
    set.replace(nodes[..4].iter().map(|n| n.entry.clone()).collect());
    let limited = nodes[1].entry.peer_id;
    let mut refused = 0;
    for _ in 0..20 {
        match nodes[0]
            .handle
            .request(limited, &SwarmRequest::GetRecord)
            .await
            .unwrap()
        {
            SwarmResponse::Record { .. } => {}
            SwarmResponse::Error {
                code: ErrorCode::RateLimited,
                value,
                detail,
            } => {
                assert!(value > 0, "retry-after must be given");
                assert!(detail.contains("rate limited"), "{detail}");
                refused += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(refused >= 14, "only {refused} of 20 refused");
    assert!(nodes[1].handle.stats().rate_limited >= 14);
    // A client sending onion packets to its guard faster than the onion bucket allows: the
    // excess is dropped before any peeling (the packets are junk, so the rest are dropped as
    // undecryptable); another client has its own bucket.
    let addr = nodes[1].entry.addrs[0].clone();
    let junk = || Raw::Framed(vec![0x5a; pars_wire::onion::PACKET_LEN]);
    let before = nodes[1].handle.onion_stats();
    raw_send_many(
        limited,
        &addr,
        "/pars/onion/1",
        (0..20).map(|_| junk()).collect(),
    )
    .await;
    eventually(10, "the guard limited the flooding client", || async {
        nodes[1].handle.onion_stats().rate_limited >= before.rate_limited + 14
    })
    .await;
    let flood = nodes[1].handle.onion_stats();
    assert!(flood.dropped <= before.dropped + 6, "{flood:?}");
    raw_send_many(
        limited,
        &addr,
        "/pars/onion/1",
        (0..3).map(|_| junk()).collect(),
    )
    .await;
    eventually(10, "another client's packets were peeled", || async {
        nodes[1].handle.onion_stats().dropped >= flood.dropped + 3
    })
    .await;
    assert_eq!(
        nodes[1].handle.onion_stats().rate_limited,
        flood.rate_limited
    );
    // Another peer has its own bucket.
    assert!(matches!(
        nodes[2]
            .handle
            .request(limited, &SwarmRequest::GetRecord)
            .await
            .unwrap(),
        SwarmResponse::Record { .. }
    ));
    // Replication between members is exempt: stores through another member still reach the
    // limited node.
    let outsider = &nodes[4];
    outsider
        .handle
        .add_peer_address(nodes[0].entry.peer_id, nodes[0].entry.addrs[0].clone())
        .await
        .unwrap();
    for i in 0..10u8 {
        let mb = Mailbox::Inbox(SessionId::from_digest([i; 32]));
        assert!(
            !nodes[0]
                .handle
                .swarm_of(&mb)
                .contains(&outsider.entry.peer_id)
        );
        let via = *nodes[2]
            .handle
            .swarm_of(&mb)
            .iter()
            .find(|p| **p != limited)
            .unwrap();
        let store = SwarmRequest::Store {
            mailbox: mb,
            ttl_ms: 0,
            payload: vec![i; 10],
        };
        match nodes[2].handle.request(via, &store).await.unwrap() {
            SwarmResponse::Stored { copies, .. } => assert_eq!(copies, 4),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        nodes[1].handle.mailbox_store().stats().unwrap().messages,
        10
    );
    assert_eq!(outsider.handle.mailbox_store().stats().unwrap().messages, 0);
    // A peer outside the set cannot inject replicas.
    let resp = outsider
        .handle
        .request(
            nodes[0].entry.peer_id,
            &SwarmRequest::Replicate {
                items: vec![ReplicaItem {
                    mailbox: Mailbox::Inbox(SessionId::from_digest([1; 32])),
                    expires_at_ms: pars_net::unix_ms() + 60_000,
                    payload: b"forged".to_vec(),
                }],
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        resp,
        SwarmResponse::Error {
            code: ErrorCode::NotMember,
            ..
        }
    ));
    // An oversized payload is refused with the cap in the answer.
    match nodes[0]
        .handle
        .store_message(
            &Mailbox::Inbox(SessionId::from_digest([3; 32])),
            0,
            vec![0; pars_wire::swarm::MAX_PAYLOAD_LEN + 1],
        )
        .await
    {
        Err(NetError::Request { .. }) | Err(NetError::NoSwarm(_)) => {
            panic!("an oversized payload must get a clear refusal")
        }
        Err(NetError::Refused { code, .. }) => assert_eq!(code, ErrorCode::Malformed),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_full_is_reported() {
    let (set, nodes) = start_nodes(3, TCP, |_, cfg| {
        cfg.store.max_bytes = 4 * (1000 + pars_store::PER_MESSAGE_OVERHEAD);
    })
    .await;
    set.replace(nodes.iter().map(|n| n.entry.clone()).collect());
    let mb = Mailbox::Inbox(SessionId::from_digest([5; 32]));
    for i in 0..4u8 {
        nodes[0]
            .handle
            .store_message(&mb, 0, vec![i; 1000])
            .await
            .unwrap();
    }
    match nodes[0].handle.store_message(&mb, 0, vec![9; 1000]).await {
        Err(NetError::Refused {
            code: ErrorCode::Full,
            detail,
            ..
        }) => assert!(detail.contains("full"), "{detail}"),
        other => panic!("expected Full, got {other:?}"),
    }
    for n in &nodes {
        assert_eq!(n.handle.mailbox_store().stats().unwrap().messages, 4);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_transport_carries_the_swarm_protocol() {
    let (set, nodes) = start_nodes(5, "/ip4/127.0.0.1/udp/0/quic-v1", |_, _| {}).await;
    for n in &nodes {
        assert!(
            n.entry
                .addrs
                .iter()
                .all(|a| a.to_string().contains("quic-v1"))
        );
    }
    set.replace(nodes.iter().map(|n| n.entry.clone()).collect());
    let mb = Mailbox::Inbox(SessionId::from_digest([4; 32]));
    let r = nodes[0]
        .handle
        .store_message(&mb, 0, b"over quic".to_vec())
        .await
        .unwrap();
    assert!(r.copies >= 4, "copies {}", r.copies);
    let rec = nodes[1]
        .handle
        .lookup_record(nodes[3].entry.peer_id)
        .await
        .unwrap();
    assert!(rec.addrs.iter().any(|a| {
        Multiaddr::try_from(a.clone()).is_ok_and(|m| m.to_string().contains("quic-v1"))
    }));
}

/// A throwaway peer that dials `addr` and keeps its connection open until aborted; it reports
/// whether the connection was established.
fn holder(
    addr: Multiaddr,
    report: tokio::sync::mpsc::UnboundedSender<bool>,
) -> tokio::task::JoinHandle<()> {
    use libp2p::futures::StreamExt;
    use libp2p::swarm::SwarmEvent;
    tokio::spawn(async move {
        let mut sw = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                libp2p::tcp::Config::default(),
                libp2p::noise::Config::new,
                libp2p::yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|_| libp2p::swarm::dummy::Behaviour)
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
            .build();
        sw.dial(addr).unwrap();
        let mut reported = false;
        loop {
            let outcome = match sw.select_next_some().await {
                SwarmEvent::ConnectionEstablished { .. } => Some(true),
                SwarmEvent::OutgoingConnectionError { .. }
                | SwarmEvent::ConnectionClosed { .. } => Some(false),
                _ => None,
            };
            if let Some(ok) = outcome
                && !reported
            {
                reported = true;
                let _ = report.send(ok);
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_gets_at_most_its_share_of_a_nodes_connections() {
    let (_set, nodes) = start_nodes(1, TCP, |_, c| c.connections.max_per_ip = 3).await;
    let node = &nodes[0].handle;
    let addr = nodes[0].entry.addrs[0]
        .clone()
        .with_p2p(nodes[0].entry.peer_id)
        .unwrap();
    // Five throwaway peers (five free peer IDs) from one address: three get in.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut holders = Vec::new();
    for _ in 0..5 {
        holders.push(holder(addr.clone(), tx.clone()));
    }
    let mut outcomes = Vec::new();
    while outcomes.len() < 5 {
        outcomes.push(rx.recv().await.unwrap());
    }
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 3, "{outcomes:?}");
    eventually(30, "the node counts the three", || async {
        node.connected_peers().await.unwrap().len() == 3
    })
    .await;
    // They leave: their slots are free again.
    for h in &holders {
        h.abort();
    }
    eventually(30, "the node sees the peers gone", || async {
        node.connected_peers().await.unwrap().is_empty()
    })
    .await;
    let again = holder(addr.clone(), tx.clone());
    assert!(
        rx.recv().await.unwrap(),
        "a slot freed by a closed connection is given again"
    );
    again.abort();
}
