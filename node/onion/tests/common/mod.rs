//! Simulated hops for the in-memory multi-hop tests: plain structs, no network.

#![allow(dead_code)]

use pars_crypto::random_array;
use pars_onion::{
    KeySchedule, OnionKeyRing, OnionPacket, OnionRouter, PathHop, Processed, ReplyPath,
};
use pars_wire::NodeId;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub const T0: u64 = 1_790_000_000;

pub struct Net {
    pub rng: ChaCha20Rng,
    pub ids: Vec<NodeId>,
    pub routers: Vec<OnionRouter>,
    pub client: NodeId,
}

impl Net {
    pub fn new(n: usize, seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut ids = Vec::new();
        let mut routers = Vec::new();
        for _ in 0..n {
            let id = NodeId(random_array(&mut rng));
            ids.push(id);
            routers.push(OnionRouter::new(OnionKeyRing::new(
                id,
                KeySchedule::default(),
                T0,
                &mut rng,
            )));
        }
        let client = NodeId(random_array(&mut rng));
        Self {
            rng,
            ids,
            routers,
            client,
        }
    }

    pub fn index(&self, id: &NodeId) -> Option<usize> {
        self.ids.iter().position(|i| i == id)
    }

    /// The hop for node `i`, using its newest key.
    pub fn hop(&self, i: usize) -> PathHop {
        let ann = self.routers[i]
            .keys()
            .announce_ed25519(&pars_crypto::classic::Ed25519SigningKey::from_bytes(
                [i as u8; 32],
            ))
            .unwrap();
        let newest = ann.0.iter().max_by_key(|a| a.valid_from).unwrap();
        PathHop::from_announcement(newest)
    }

    /// Request path [guard 0, middle 1, last 2]; reply path [reply middle 3, guard 0].
    pub fn path(&self) -> (Vec<PathHop>, ReplyPath) {
        (
            vec![self.hop(0), self.hop(1), self.hop(2)],
            ReplyPath {
                hops: vec![self.hop(3), self.hop(0)],
                client: self.client,
            },
        )
    }

    /// Sends `packet` from `from` to node 0 (the guard) and on.
    pub fn send(&mut self, from: NodeId, packet: OnionPacket, now: u64) -> (Vec<Step>, Processed) {
        let guard = self.ids[0];
        run(self, from, guard, packet, now)
    }

    pub fn process(&mut self, at: &NodeId, packet: &OnionPacket, now: u64) -> Processed {
        let i = self.index(at).unwrap();
        self.routers[i].process_bytes(packet.as_bytes(), now)
    }
}

/// One step of a packet's journey: who received it, from whom, the bytes, and what the hop did.
pub struct Step {
    pub from: NodeId,
    pub at: NodeId,
    pub packet: OnionPacket,
    pub next: Option<NodeId>,
}

/// Carries `packet` from `from` to `to` and onwards until it is delivered, dropped, or reaches
/// the client. Returns the steps and the final outcome.
pub fn run(
    net: &mut Net,
    from: NodeId,
    to: NodeId,
    packet: OnionPacket,
    now: u64,
) -> (Vec<Step>, Processed) {
    let mut steps = Vec::new();
    let (mut from, mut to, mut packet) = (from, to, packet);
    loop {
        if to == net.client {
            steps.push(Step {
                from,
                at: to,
                packet: packet.clone(),
                next: None,
            });
            return (
                steps,
                Processed::Forward {
                    next_hop: to,
                    packet,
                },
            );
        }
        let out = net.process(&to, &packet, now);
        match out {
            Processed::Forward {
                next_hop,
                packet: p,
            } => {
                steps.push(Step {
                    from,
                    at: to,
                    packet,
                    next: Some(next_hop),
                });
                from = to;
                to = next_hop;
                packet = p;
            }
            other => {
                steps.push(Step {
                    from,
                    at: to,
                    packet,
                    next: None,
                });
                return (steps, other);
            }
        }
    }
}

/// Byte histogram chi-square against uniform: about 255 ± 23 for random bytes.
pub fn chi_square(bytes: &[u8]) -> f64 {
    let mut counts = [0u64; 256];
    for b in bytes {
        counts[*b as usize] += 1;
    }
    let expect = bytes.len() as f64 / 256.0;
    counts
        .iter()
        .map(|&c| (c as f64 - expect).powi(2) / expect)
        .sum()
}

/// Whether `a` and `b` share any 12-byte substring.
pub fn share_substring(a: &[u8], b: &[u8]) -> bool {
    let set: std::collections::HashSet<&[u8]> = a.windows(12).collect();
    b.windows(12).any(|w| set.contains(w))
}
