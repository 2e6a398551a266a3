//! Onion packet decoding and layer peeling.
//!
//! Input byte 0 picks a mode: raw bytes through every onion decoder and every hop; or a genuine
//! packet (built once from a fixed seed, at each position of a request and its reply, of both
//! packet classes: a standard request with a bulk reply, a bulk request with a standard reply)
//! with the rest of the input XORed into it at an input-chosen offset. Nothing may panic, and no hop may
//! accept anything but an unaltered genuine packet.

#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use pars_crypto::random_array;
use pars_onion::{
    GuardState, KeySchedule, OnionKeyList, OnionKeyRing, OnionPacket, OnionRouter, PathHop,
    Processed, ReplyPath, ReplyTable, build_request, reply_packet,
};
use pars_wire::onion::{Body, ReplyBlock, RoutingInfo};
use pars_wire::{NodeId, OnionKeyAnnouncement, Reader};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const NOW: u64 = 1_790_000_000;

struct Fixture {
    routers: Vec<OnionRouter>,
    /// (index of the receiving router, or None for the client; the packet it received).
    genuine: Vec<(Option<usize>, OnionPacket)>,
    table: ReplyTable,
}

fn build() -> Option<Fixture> {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut routers = Vec::new();
    let mut ids = Vec::new();
    let mut hops = Vec::new();
    for i in 0..4u8 {
        let id = NodeId(random_array(&mut rng));
        let ring = OnionKeyRing::new(id, KeySchedule::default(), NOW, &mut rng);
        let ann = ring
            .announce_ed25519(&pars_crypto::classic::Ed25519SigningKey::from_bytes(
                [i; 32],
            ))
            .ok()?;
        hops.push(PathHop::from_announcement(ann.0.first()?));
        ids.push(id);
        routers.push(OnionRouter::new(ring));
    }
    let client = NodeId(random_array(&mut rng));
    let reply = ReplyPath {
        hops: vec![hops[3].clone(), hops[0].clone()],
        client,
    };
    let mut table = ReplyTable::new();
    let mut genuine = Vec::new();
    let chunk = vec![0x5a; 100_000];
    for (request, answer) in [(&b"fuzz"[..], &chunk[..]), (&chunk[..], &b"answer"[..])] {
        let req = build_request(&hops[..3], request, Some(&reply), NOW, &mut rng).ok()?;
        table.insert(req.pending?);
        walk(&mut routers, &ids, req.packet, answer, &mut genuine)?;
    }
    Some(Fixture {
        routers,
        genuine,
        table,
    })
}

/// Sends `packet` along its path and its reply (`answer`) back, keeping every packet a hop
/// or the client received.
fn walk(
    routers: &mut [OnionRouter],
    ids: &[NodeId],
    packet: OnionPacket,
    answer: &[u8],
    genuine: &mut Vec<(Option<usize>, OnionPacket)>,
) -> Option<()> {
    let (mut at, mut packet) = (0usize, packet);
    loop {
        genuine.push((Some(at), packet.clone()));
        match routers[at].process(packet, NOW) {
            Processed::Forward {
                next_hop,
                packet: p,
            } => {
                packet = p;
                match ids.iter().position(|i| *i == next_hop) {
                    Some(i) => at = i,
                    None => {
                        genuine.push((None, packet));
                        break;
                    }
                }
            }
            Processed::Deliver {
                reply: Some(block), ..
            } => {
                let (first, p) = reply_packet(&block, answer).ok()?;
                at = ids.iter().position(|i| *i == first)?;
                packet = p;
            }
            _ => return None,
        }
    }
    Some(())
}

fn fixture() -> &'static Mutex<Option<Fixture>> {
    static F: OnceLock<Mutex<Option<Fixture>>> = OnceLock::new();
    F.get_or_init(|| Mutex::new(build()))
}

fuzz_target!(|data: &[u8]| {
    // Every decoder on the raw input.
    let _ = OnionPacket::from_bytes(data);
    let _ = RoutingInfo::decode(data);
    let _ = Body::decode(data);
    let _ = ReplyBlock::read(&mut Reader::new(data));
    let _ = OnionKeyAnnouncement::from_bytes(data);
    let _ = OnionKeyList::from_bytes(data);
    let _ = GuardState::from_bytes(data);

    let Ok(mut guard) = fixture().lock() else {
        return;
    };
    let Some(f) = guard.as_mut() else {
        return;
    };
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        for r in &mut f.routers {
            assert!(matches!(r.process_bytes(rest, NOW), Processed::Drop(_)));
        }
        if let Ok(p) = OnionPacket::from_bytes(rest) {
            assert!(f.table.open_reply(&p).is_err());
        }
        return;
    }
    if rest.len() < 4 || f.genuine.is_empty() {
        return;
    }
    let (at, g) = &f.genuine[usize::from(mode >> 1) % f.genuine.len()];
    let mut bytes = g.to_vec();
    let offset = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize % bytes.len();
    for (b, x) in bytes[offset..].iter_mut().zip(&rest[4..]) {
        *b ^= x;
    }
    if bytes == g.to_vec() {
        return;
    }
    match at {
        Some(i) => assert!(matches!(
            f.routers[*i].process_bytes(&bytes, NOW),
            Processed::Drop(_)
        )),
        None => {
            if let Ok(p) = OnionPacket::from_bytes(&bytes) {
                assert!(f.table.open_reply(&p).is_err());
            }
        }
    }
});
