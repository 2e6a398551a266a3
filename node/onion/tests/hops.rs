//! In-memory multi-hop tests: real routers (real keys, real crypto) as plain structs, the network
//! replaced by a loop that hands each packet to the hop it is addressed to.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Net, T0, chi_square, run, share_substring};
use pars_onion::{
    BULK_PACKET_LEN, DropReason, OnionError, OnionPacket, PACKET_LEN, PacketClass, Processed,
    ReplyTable, build_loop, build_request, reply_packet,
};

const NOW: u64 = T0 + 60;

#[test]
fn request_and_reply_round_trip_each_hop_sees_only_neighbours() {
    let mut net = Net::new(5, 1);
    let (path, reply_path) = net.path();
    let req = build_request(
        &path,
        b"store this please",
        Some(&reply_path),
        NOW,
        &mut net.rng,
    )
    .unwrap();
    assert_eq!(req.first_hop, net.ids[0]);
    let mut table = ReplyTable::new();
    table.insert(req.pending.unwrap());

    let client = net.client;
    let (steps, outcome) = net.send(client, req.packet, NOW);
    // Guard learns client → middle; middle learns guard → last; last learns middle and delivers.
    let seen: Vec<_> = steps.iter().map(|s| (s.from, s.at, s.next)).collect();
    assert_eq!(
        seen,
        vec![
            (client, net.ids[0], Some(net.ids[1])),
            (net.ids[0], net.ids[1], Some(net.ids[2])),
            (net.ids[1], net.ids[2], None),
        ]
    );
    let Processed::Deliver { data, reply } = outcome else {
        panic!("expected delivery, got {outcome:?}");
    };
    assert_eq!(data, b"store this please");
    let reply = reply.unwrap();
    // The last hop learns only where to send the reply: the reply middle, not the client.
    assert_eq!(reply.first_hop, net.ids[3]);

    let (to, packet) = reply_packet(&reply, b"stored: 3 copies").unwrap();
    let last = net.ids[2];
    let (steps_back, outcome) = run(&mut net, last, to, packet, NOW);
    let seen: Vec<_> = steps_back.iter().map(|s| (s.from, s.at, s.next)).collect();
    assert_eq!(
        seen,
        vec![
            (net.ids[2], net.ids[3], Some(net.ids[0])),
            (net.ids[3], net.ids[0], Some(client)),
            (net.ids[0], client, None),
        ]
    );
    let Processed::Forward { packet, .. } = outcome else {
        panic!("reply did not reach the client");
    };
    let opened = table.open_reply(&packet).unwrap();
    assert_eq!(opened.data, b"stored: 3 copies");
    assert!(!opened.is_loop);
    assert!(table.is_empty(), "a reply opens once");
    assert!(table.open_reply(&packet).is_err());

    // Every packet captured anywhere has the same size, and no node ID appears in clear.
    for s in steps.iter().chain(&steps_back) {
        assert_eq!(s.packet.as_bytes().len(), PACKET_LEN);
        for id in net.ids.iter().chain([&client]) {
            assert!(
                !share_substring(id.as_bytes(), s.packet.as_bytes()),
                "node ID visible in a packet"
            );
        }
    }
    // What a hop receives and what it sends share no bytes (no common 12-byte substring), and
    // every captured packet is indistinguishable from random bytes.
    let all: Vec<&OnionPacket> = steps.iter().chain(&steps_back).map(|s| &s.packet).collect();
    for pair in all.windows(2) {
        assert!(!share_substring(pair[0].as_bytes(), pair[1].as_bytes()));
    }
    for p in &all {
        assert!(chi_square(&p.as_bytes()[1..]) < 400.0);
    }
}

#[test]
fn structured_payload_looks_random_at_every_hop_and_requests_match_replies() {
    // A request of all zeros and a reply of all zeros: at every hop the packet is uniformly
    // distributed bytes, and a middle hop's view of a request (at position 2 of 3) has the same
    // form as a reply middle's view of a reply (position 1 of 2, then the client).
    let mut net = Net::new(5, 2);
    let (path, reply_path) = net.path();
    let zeros = vec![0u8; 20_000];
    let req = build_request(&path, &zeros, Some(&reply_path), NOW, &mut net.rng).unwrap();
    let client = net.client;
    let (steps, outcome) = net.send(client, req.packet, NOW);
    let Processed::Deliver { reply, .. } = outcome else {
        panic!()
    };
    let (to, packet) = reply_packet(&reply.unwrap(), &zeros).unwrap();
    let last = net.ids[2];
    let (back, _) = run(&mut net, last, to, packet, NOW);
    for s in steps.iter().chain(&back) {
        let b = s.packet.as_bytes();
        assert!(chi_square(&b[1..]) < 400.0, "structure visible at a hop");
        assert!(chi_square(s.packet.payload()) < 400.0);
        assert!(chi_square(s.packet.routing()) < 400.0);
    }
    // The request's middle hop and the reply's middle hop both forward, to a service node, a
    // packet of the same size and form; neither learns more than its two neighbours.
    assert_eq!(steps[1].next, Some(net.ids[2]));
    assert_eq!(back[0].next, Some(net.ids[0]));
    assert_eq!(
        steps[2].packet.as_bytes().len(),
        back[1].packet.as_bytes().len()
    );
}

#[test]
fn bulk_packets_carry_chunks_both_ways_each_class_one_size_at_every_hop() {
    // A chunk store: a bulk request with a reply block, answered by a standard reply; a chunk
    // fetch: a standard request answered by a bulk reply. Each packet keeps its class's size
    // at every hop, looks random there, and a flipped bit anywhere is dropped.
    let mut net = Net::new(5, 11);
    let client = net.client;
    let chunk: Vec<u8> = (0..120 * 1024 + 16).map(|i| (i % 251) as u8).collect();
    for (request, answer) in [
        (chunk.clone(), b"stored".to_vec()),
        (b"fetch".to_vec(), chunk),
    ] {
        let (path, reply_path) = net.path();
        let req = build_request(&path, &request, Some(&reply_path), NOW, &mut net.rng).unwrap();
        let mut table = ReplyTable::new();
        table.insert(req.pending.unwrap());
        let want = |d: &[u8]| {
            if d.len() > pars_onion::MAX_DATA_LEN_WITH_REPLY {
                BULK_PACKET_LEN
            } else {
                PACKET_LEN
            }
        };
        let tampered = flip(&req.packet, req.packet.as_bytes().len() - 3, 0);
        assert!(matches!(
            net.routers[0].process_bytes(&tampered, NOW),
            Processed::Drop(DropReason::PayloadMac)
        ));
        let (steps, out) = net.send(client, req.packet, NOW);
        let Processed::Deliver { data, reply } = out else {
            panic!("{out:?}")
        };
        assert_eq!(data, request);
        let (to, packet) = reply_packet(&reply.unwrap(), &answer).unwrap();
        let last = net.ids[2];
        let (back, out) = run(&mut net, last, to, packet, NOW);
        for s in &steps {
            assert_eq!(s.packet.as_bytes().len(), want(&request));
        }
        for s in &back {
            assert_eq!(s.packet.as_bytes().len(), want(&answer));
            assert!(chi_square(s.packet.payload()) < 400.0);
        }
        let Processed::Forward { packet, .. } = out else {
            panic!("reply did not reach the client")
        };
        assert_eq!(table.open_reply(&packet).unwrap().data, answer);
    }
}

/// Flips bit `bit` of byte `pos`.
fn flip(p: &OnionPacket, pos: usize, bit: u8) -> Vec<u8> {
    let mut b = p.to_vec();
    b[pos] ^= 1 << bit;
    b
}

/// Positions to test: every field's edges, plus a stride through the whole packet.
fn positions() -> Vec<usize> {
    use pars_wire::onion::{HEADER_LEN, KEM_CT_LEN, MAC_LEN, ROUTING_LEN};
    let mut v = vec![0, 1, 4, 5, 36, 37, 5 + KEM_CT_LEN - 1];
    let hmac = 5 + KEM_CT_LEN;
    v.extend([
        hmac,
        hmac + MAC_LEN - 1,
        hmac + MAC_LEN,
        hmac + 2 * MAC_LEN - 1,
    ]);
    let routing = hmac + 2 * MAC_LEN;
    v.extend([
        routing,
        routing + ROUTING_LEN - 1,
        HEADER_LEN,
        PACKET_LEN - 1,
    ]);
    v.extend((0..PACKET_LEN).step_by(331));
    v
}

#[test]
fn a_flipped_bit_anywhere_is_dropped_at_the_next_hop() {
    let mut net = Net::new(5, 3);
    let (path, reply_path) = net.path();
    let req = build_request(&path, b"payload", Some(&reply_path), NOW, &mut net.rng).unwrap();
    let pending = req.pending.unwrap();
    let client = net.client;
    let (steps, outcome) = net.send(client, req.packet, NOW);
    let Processed::Deliver { reply, .. } = outcome else {
        panic!()
    };
    let (to, packet) = reply_packet(&reply.unwrap(), b"answer").unwrap();
    let last = net.ids[2];
    let (back, _) = run(&mut net, last, to, packet, NOW);

    let mut checked = 0;
    // Every link of the request and of the reply towards service nodes: the receiving hop
    // drops the tampered packet. (The genuine packets were already processed above, so an
    // unaltered copy would now be a replay; the tampered ones must fail before the replay check
    // or at it, never be accepted.)
    for s in steps.iter().chain(&back).filter(|s| s.at != client) {
        for pos in positions() {
            for bit in [0u8, 7] {
                let bytes = flip(&s.packet, pos, bit);
                let i = net.index(&s.at).unwrap();
                match net.routers[i].process_bytes(&bytes, NOW) {
                    Processed::Drop(_) => checked += 1,
                    other => panic!("byte {pos} bit {bit} at a hop was accepted: {other:?}"),
                }
            }
        }
    }
    // The last link, guard → client: the client rejects every altered reply.
    let at_client = &back.last().unwrap().packet;
    for pos in positions().into_iter().filter(|&p| p != 0) {
        let tampered = OnionPacket::from_bytes(&flip(at_client, pos, 3)).unwrap();
        assert!(
            pending.open(&tampered).is_err(),
            "client accepted byte {pos}"
        );
        checked += 1;
    }
    assert!(pending.open(at_client).is_ok());
    assert!(checked > 1000);
}

#[test]
fn tampering_is_detected_before_the_replay_cache() {
    // A fresh packet with one flipped bit is dropped for its MAC (not as a replay), and the
    // genuine packet still goes through afterwards: tampered copies do not poison the cache.
    let mut net = Net::new(3, 4);
    let path = vec![net.hop(0), net.hop(1), net.hop(2)];
    let req = build_request(&path, b"x", None, NOW, &mut net.rng).unwrap();
    let header_flip = flip(&req.packet, 3000, 0);
    let payload_flip = flip(&req.packet, 20_000, 0);
    let kem_flip = flip(&req.packet, 100, 0);
    assert!(matches!(
        net.routers[0].process_bytes(&header_flip, NOW),
        Processed::Drop(DropReason::HeaderMac)
    ));
    assert!(matches!(
        net.routers[0].process_bytes(&payload_flip, NOW),
        Processed::Drop(DropReason::PayloadMac)
    ));
    assert!(matches!(
        net.routers[0].process_bytes(&kem_flip, NOW),
        Processed::Drop(DropReason::HeaderMac)
    ));
    assert!(matches!(
        net.routers[0].process_bytes(req.packet.as_bytes(), NOW),
        Processed::Forward { .. }
    ));
}

#[test]
fn a_replayed_packet_is_dropped() {
    let mut net = Net::new(5, 5);
    let (path, reply_path) = net.path();
    let req = build_request(&path, b"once", Some(&reply_path), NOW, &mut net.rng).unwrap();
    let first = net.routers[0].process_bytes(req.packet.as_bytes(), NOW);
    let Processed::Forward {
        packet: to_middle, ..
    } = first
    else {
        panic!()
    };
    assert!(matches!(
        net.routers[0].process_bytes(req.packet.as_bytes(), NOW),
        Processed::Drop(DropReason::Replay)
    ));
    // Later hops too.
    let Processed::Forward {
        packet: to_last, ..
    } = net.routers[1].process_bytes(to_middle.as_bytes(), NOW)
    else {
        panic!()
    };
    assert!(matches!(
        net.routers[1].process_bytes(to_middle.as_bytes(), NOW + 3600),
        Processed::Drop(DropReason::Replay)
    ));
    let Processed::Deliver { reply, .. } = net.routers[2].process_bytes(to_last.as_bytes(), NOW)
    else {
        panic!()
    };
    assert!(matches!(
        net.routers[2].process_bytes(to_last.as_bytes(), NOW),
        Processed::Drop(DropReason::Replay)
    ));
    // A reply block is single-use: a second reply on it is dropped by the reply path's first hop.
    let reply = reply.unwrap();
    let (_, r1) = reply_packet(&reply, b"one").unwrap();
    let (_, r2) = reply_packet(&reply, b"two").unwrap();
    assert!(matches!(
        net.routers[3].process_bytes(r1.as_bytes(), NOW),
        Processed::Forward { .. }
    ));
    assert!(matches!(
        net.routers[3].process_bytes(r2.as_bytes(), NOW),
        Processed::Drop(DropReason::Replay)
    ));
    assert!(net.routers[3].keys().replay_entries() == 1);
}

#[test]
fn an_expired_onion_key_is_refused() {
    let mut net = Net::new(3, 6);
    let path = vec![net.hop(0), net.hop(1), net.hop(2)];
    let lifetime = net.routers[0].keys().schedule().lifetime_secs;
    let expiry = T0 + lifetime;
    // The builder refuses a key that has expired.
    assert!(matches!(
        build_request(&path, b"late", None, expiry, &mut net.rng),
        Err(OnionError::KeyNotValid { .. })
    ));
    // A hop refuses a packet for an expired key, still held or already deleted.
    let req = build_request(&path, b"late", None, expiry - 1, &mut net.rng).unwrap();
    assert!(matches!(
        net.routers[0].process_bytes(req.packet.as_bytes(), expiry),
        Processed::Drop(DropReason::ExpiredKey)
    ));
    assert!(net.routers[0].keys_mut().maintain(expiry, &mut net.rng));
    assert!(matches!(
        net.routers[0].process_bytes(req.packet.as_bytes(), expiry),
        Processed::Drop(DropReason::UnknownKey)
    ));
    // And a key that is not valid yet (beyond the clock-skew allowance).
    let req = build_request(&path[1..], b"early", None, T0, &mut net.rng).unwrap();
    let skew = net.routers[1].keys().schedule().clock_skew_secs;
    assert!(matches!(
        net.routers[1].process_bytes(req.packet.as_bytes(), T0 - skew - 1),
        Processed::Drop(DropReason::ExpiredKey)
    ));
    assert!(matches!(
        net.routers[1].process_bytes(req.packet.as_bytes(), T0 - skew),
        Processed::Forward { .. }
    ));
}

#[test]
fn keys_rotate_with_overlap_and_old_keys_keep_working_until_expiry() {
    let mut net = Net::new(3, 7);
    let old_path = vec![net.hop(0), net.hop(1), net.hop(2)];
    let schedule = *net.routers[0].keys().schedule();
    let t_rot = T0 + schedule.rotation_secs;
    for r in &mut net.routers {
        assert!(!r.keys_mut().maintain(t_rot - 1, &mut net.rng), "too early");
    }
    for r in &mut net.routers {
        assert!(r.keys_mut().maintain(t_rot, &mut net.rng), "rotation due");
        assert_eq!(r.keys().key_ids().len(), 2, "old and new overlap");
    }
    let new_path = vec![net.hop(0), net.hop(1), net.hop(2)];
    assert_ne!(old_path[0].key_id, new_path[0].key_id);
    for (p, t) in [(&old_path, t_rot + 10), (&new_path, t_rot + 10)] {
        let req = build_request(p, b"during overlap", None, t, &mut net.rng).unwrap();
        let from = net.client;
        let (_, out) = net.send(from, req.packet, t);
        assert!(matches!(out, Processed::Deliver { .. }));
    }
    // The old key dies at its expiry; its replay cache with it.
    let t_exp = T0 + schedule.lifetime_secs;
    for r in &mut net.routers {
        assert!(r.keys_mut().maintain(t_exp, &mut net.rng));
        assert_eq!(
            r.keys().key_ids().len(),
            2,
            "new key + the next rotation's key"
        );
    }
    let req = build_request(&old_path, b"x", None, t_exp - 1, &mut net.rng).unwrap();
    assert!(matches!(
        net.routers[0].process_bytes(req.packet.as_bytes(), t_exp),
        Processed::Drop(DropReason::UnknownKey)
    ));
}

#[test]
fn loop_packets_come_back_as_empty_replies() {
    let mut net = Net::new(5, 8);
    let (path, reply_path) = net.path();
    let req = build_loop(&path, &reply_path, NOW, &mut net.rng).unwrap();
    let mut table = ReplyTable::new();
    table.insert(req.pending.unwrap());
    let client = net.client;
    let (steps, outcome) = net.send(client, req.packet, NOW);
    // The last hop answered by itself: the journey continued through the reply path.
    let seen: Vec<_> = steps.iter().map(|s| s.at).collect();
    assert_eq!(
        seen,
        vec![
            net.ids[0], net.ids[1], net.ids[2], net.ids[3], net.ids[0], client
        ]
    );
    let Processed::Forward { packet, .. } = outcome else {
        panic!()
    };
    let r = table.open_reply(&packet).unwrap();
    assert!(r.is_loop);
    assert!(r.data.is_empty());
}

#[test]
fn shorter_paths_and_limits() {
    let mut net = Net::new(4, 9);
    for n in 1..=3 {
        let path: Vec<_> = (0..n).map(|i| net.hop(i)).collect();
        let req = build_request(&path, b"short", None, NOW, &mut net.rng).unwrap();
        let from = net.client;
        let (steps, out) = net.send(from, req.packet, NOW);
        assert_eq!(steps.len(), n);
        assert!(matches!(out, Processed::Deliver { data, .. } if data == b"short"));
    }
    let four: Vec<_> = (0..4).map(|i| net.hop(i)).collect();
    assert!(matches!(
        build_request(&four, b"", None, NOW, &mut net.rng),
        Err(OnionError::PathLength { .. })
    ));
    let too_big = vec![0u8; pars_onion::BULK_MAX_DATA_LEN + 1];
    assert!(matches!(
        build_request(&four[..3], &too_big, None, NOW, &mut net.rng),
        Err(OnionError::TooLarge { .. })
    ));
    let max = vec![7u8; pars_onion::BULK_MAX_DATA_LEN];
    let req = build_request(&four[..3], &max, None, NOW, &mut net.rng).unwrap();
    assert_eq!(req.packet.class(), PacketClass::Bulk);
    let from = net.client;
    let (_, out) = net.send(from, req.packet, NOW);
    assert!(matches!(out, Processed::Deliver { data, .. } if data == max));
    let max = vec![7u8; pars_onion::MAX_DATA_LEN];
    let req = build_request(&four[..3], &max, None, NOW, &mut net.rng).unwrap();
    let from = net.client;
    let (_, out) = net.send(from, req.packet, NOW);
    assert!(matches!(out, Processed::Deliver { data, .. } if data == max));
}

#[test]
fn announcements_feed_path_hops_only_when_genuine_and_current() {
    use pars_crypto::classic::Ed25519SigningKey;
    let mut net = Net::new(2, 10);
    let identity = Ed25519SigningKey::from_bytes([42; 32]);
    let list = net.routers[0].keys().announce_ed25519(&identity).unwrap();
    let node = net.ids[0];
    let wire = pars_onion::OnionKeyList::from_bytes(&list.to_bytes()).unwrap();
    let hops = pars_onion::verified_hops(&wire, node, &identity.public_key(), NOW);
    assert_eq!(hops.len(), 1);
    // The hop built from the announcement reaches the node.
    let req = build_request(&hops, b"via record", None, NOW, &mut net.rng).unwrap();
    assert!(matches!(
        net.routers[0].process_bytes(req.packet.as_bytes(), NOW),
        Processed::Deliver { .. }
    ));
    // Wrong signer, wrong node, expired: nothing usable.
    let other = Ed25519SigningKey::from_bytes([43; 32]).public_key();
    assert!(pars_onion::verified_hops(&wire, node, &other, NOW).is_empty());
    assert!(pars_onion::verified_hops(&wire, net.ids[1], &identity.public_key(), NOW).is_empty());
    let later = hops[0].valid_until;
    assert!(pars_onion::verified_hops(&wire, node, &identity.public_key(), later).is_empty());
}

#[test]
fn shared_router_peels_on_many_threads_and_a_racing_replay_is_dropped_once() {
    let mut net = Net::new(5, 11);
    let (path, reply_path) = net.path();
    let packets: Vec<OnionPacket> = (0..8)
        .map(|i| {
            build_request(&path, &[i as u8; 64], Some(&reply_path), NOW, &mut net.rng)
                .unwrap()
                .packet
        })
        .collect();
    // The same packets twice, peeled on four threads at once through `&OnionRouter`.
    let router = &net.routers[0];
    let outcomes: Vec<Processed> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let mine: Vec<OnionPacket> = packets
                    .iter()
                    .chain(&packets)
                    .skip(w)
                    .step_by(4)
                    .map(|p| OnionPacket::from_bytes(p.as_bytes()).unwrap())
                    .collect();
                s.spawn(move || {
                    mine.into_iter()
                        .map(|p| router.commit(router.peel(p, NOW)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let forwarded = outcomes
        .iter()
        .filter(|o| matches!(o, Processed::Forward { next_hop, .. } if *next_hop == net.ids[1]))
        .count();
    let replays = outcomes
        .iter()
        .filter(|o| matches!(o, Processed::Drop(DropReason::Replay)))
        .count();
    assert_eq!((forwarded, replays), (8, 8), "{outcomes:?}");
    assert_eq!(net.routers[0].keys().replay_entries(), 8);
}

#[test]
fn peel_without_commit_records_nothing_and_peel_then_commit_equals_process() {
    let mut net = Net::new(5, 12);
    let (path, reply_path) = net.path();
    let req = build_request(&path, b"x", Some(&reply_path), NOW, &mut net.rng).unwrap();
    let copy = OnionPacket::from_bytes(req.packet.as_bytes()).unwrap();
    // A peel alone leaves the replay cache untouched…
    let peeled = net.routers[0].peel(copy, NOW);
    assert_eq!(net.routers[0].keys().replay_entries(), 0);
    drop(peeled);
    // …so the packet is still fresh for `process`, and then a replay.
    let again = OnionPacket::from_bytes(req.packet.as_bytes()).unwrap();
    assert!(matches!(
        net.routers[0].process(req.packet, NOW),
        Processed::Forward { .. }
    ));
    let peeled = net.routers[0].peel(again, NOW);
    assert!(matches!(
        net.routers[0].commit(peeled),
        Processed::Drop(DropReason::Replay)
    ));
}
