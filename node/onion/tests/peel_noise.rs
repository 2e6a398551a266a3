//! Layer peeling over thousands of seeded random and mutated inputs: no panic, and nothing but a
//! genuine packet is ever forwarded or delivered. The stable-toolchain twin of the
//! `onion_peel` fuzz target in `node/wire/fuzz`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Net, T0};
use pars_onion::{OnionPacket, PACKET_LEN, Processed, ReplyTable, build_request, reply_packet};
use rand_core::Rng;

const NOW: u64 = T0 + 5;

#[test]
fn peeling_noise_and_mutants_never_panics_and_never_accepts() {
    let mut net = Net::new(5, 77);
    let (path, reply_path) = net.path();
    // Genuine packets at every position, kept for mutation (each hop already saw them once).
    let req = build_request(&path, b"seed", Some(&reply_path), NOW, &mut net.rng).unwrap();
    let mut table = ReplyTable::new();
    table.insert(req.pending.unwrap());
    let client = net.client;
    let (mut steps, outcome) = net.send(client, req.packet, NOW);
    let Processed::Deliver { reply, .. } = outcome else {
        panic!()
    };
    let (to, p) = reply_packet(&reply.unwrap(), b"answer").unwrap();
    let last = net.ids[2];
    let (back, _) = common::run(&mut net, last, to, p, NOW);
    steps.extend(back);
    let genuine: Vec<(usize, OnionPacket)> = steps
        .iter()
        .map(|s| (net.index(&s.at).unwrap_or(usize::MAX), s.packet.clone()))
        .collect();

    let mut accepted = 0;
    for i in 0..3000u32 {
        // Noise of assorted lengths (most not a packet at all).
        let len = match i % 4 {
            0 => PACKET_LEN,
            1 => (net.rng.next_u32() as usize) % (PACKET_LEN + 64),
            _ => (net.rng.next_u32() as usize) % 64,
        };
        let mut noise = vec![0u8; len];
        net.rng.fill_bytes(&mut noise);
        if let Some(b) = noise.first_mut() {
            *b = 1;
        }
        let r = (i as usize) % net.routers.len();
        if !matches!(
            net.routers[r].process_bytes(&noise, NOW),
            Processed::Drop(_)
        ) {
            accepted += 1;
        }
        if let Ok(p) = OnionPacket::from_bytes(&noise) {
            assert!(table.open_reply(&p).is_err());
        }
        // A genuine packet with 1 to 8 random bit flips, or a spliced half of another packet.
        let (at, g) = &genuine[i as usize % genuine.len()];
        let mut m = g.to_vec();
        if i % 5 == 0 {
            let (_, other) = &genuine[(i as usize + 1) % genuine.len()];
            let cut = (net.rng.next_u32() as usize) % PACKET_LEN;
            m[cut..].copy_from_slice(&other.as_bytes()[cut..]);
        } else {
            for _ in 0..1 + net.rng.next_u32() % 8 {
                let pos = (net.rng.next_u32() as usize) % PACKET_LEN;
                m[pos] ^= 1 << (net.rng.next_u32() % 8);
            }
        }
        if m == g.to_vec() {
            continue;
        }
        if *at == usize::MAX {
            let p = OnionPacket::from_bytes(&m);
            assert!(p.is_err() || table.open_reply(&p.unwrap()).is_err());
        } else if !matches!(net.routers[*at].process_bytes(&m, NOW), Processed::Drop(_)) {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 0, "a non-genuine packet was accepted");
    // The genuine reply still opens: nothing above consumed or corrupted the pending entry.
    let (_, at_client) = genuine.last().unwrap();
    assert_eq!(table.open_reply(at_client).unwrap().data, b"answer");
}
