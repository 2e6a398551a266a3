//! The hop side: what a service node does with each onion packet it receives.

use pars_crypto::stream::tags_equal;
use pars_wire::NodeId;
use pars_wire::onion::{
    Body, MAC_LEN, OnionPacket, PacketClass, ROUTING_LEN, ReplyBlock, RoutingInfo, SLOT_LEN,
};

use crate::keys::{KeyLookup, OnionKeyRing, ReplayRefusal};
use crate::layer::{
    LayerKeys, layer_mac, layer_xor, open_body, parse_ct, reply_body_keys, seal_body_in_place,
};
use crate::{DropReason, OnionError};

/// What to do with a processed packet.
#[derive(Debug)]
pub enum Processed {
    /// Send `packet` to `next_hop` (a service node, or the client on a reply path's last leg).
    Forward {
        /// Where to send it.
        next_hop: NodeId,
        /// The re-encrypted packet: same size, no byte in common with the input.
        packet: OnionPacket,
    },
    /// This node is the last hop of a request: act on `data` and, if `reply` is present, answer
    /// with [`reply_packet`] (once).
    Deliver {
        /// The application payload.
        data: Vec<u8>,
        /// The single-use reply block.
        reply: Option<ReplyBlock>,
    },
    /// Drop the packet silently.
    Drop(DropReason),
}

/// A service node's onion-packet processor: its key ring (with the replay caches) and nothing
/// else. Feed it every packet that arrives on the onion protocol.
#[derive(Debug)]
pub struct OnionRouter {
    keys: OnionKeyRing,
}

impl OnionRouter {
    /// A router over `keys`.
    pub fn new(keys: OnionKeyRing) -> Self {
        Self { keys }
    }

    /// The key ring (to rotate, and to publish announcements).
    pub fn keys(&self) -> &OnionKeyRing {
        &self.keys
    }

    /// The key ring, mutably.
    pub fn keys_mut(&mut self) -> &mut OnionKeyRing {
        &mut self.keys
    }

    /// Decodes and processes raw bytes from the wire.
    pub fn process_bytes(&mut self, bytes: &[u8], now: u64) -> Processed {
        self.commit(self.peel_bytes(bytes, now))
    }

    /// Peels one layer: checks the key, the replay cache, the header MAC and the payload MAC,
    /// then forwards, delivers, or (for a loop packet) answers it. The same as
    /// [`peel`](Self::peel) followed by [`commit`](Self::commit).
    pub fn process(&mut self, packet: OnionPacket, now: u64) -> Processed {
        self.commit(self.peel(packet, now))
    }

    /// [`peel`](Self::peel) of raw bytes from the wire.
    pub fn peel_bytes(&self, bytes: &[u8], now: u64) -> Peeled {
        match OnionPacket::from_bytes(bytes) {
            Ok(p) => self.peel(p, now),
            Err(_) => Peeled::drop(DropReason::Malformed),
        }
    }

    /// [`peel`](Self::peel) of a frame from the wire that the caller hands over (no copy).
    pub fn peel_vec(&self, frame: Vec<u8>, now: u64) -> Peeled {
        match OnionPacket::from_vec(frame) {
            Ok(p) => self.peel(p, now),
            Err(_) => Peeled::drop(DropReason::Malformed),
        }
    }

    /// The expensive half of [`process`](Self::process), on a shared router: the KEM
    /// decapsulation, the MAC checks and the re-encryption, with no lock but a look at the
    /// replay cache. Many threads may peel at once; each result must then go through
    /// [`commit`](Self::commit), which records the replay tag and says what to do.
    pub fn peel(&self, packet: OnionPacket, now: u64) -> Peeled {
        let key = match self.keys.lookup(packet.key_id(), now) {
            KeyLookup::Usable(k) => k,
            KeyLookup::Unknown => return Peeled::drop(DropReason::UnknownKey),
            KeyLookup::Expired => return Peeled::drop(DropReason::ExpiredKey),
            KeyLookup::Exhausted => return Peeled::drop(DropReason::KeyExhausted),
        };
        let Some(ct) = parse_ct(packet.kem_ct()) else {
            return Peeled::drop(DropReason::Malformed);
        };
        let Ok(secret) = key.secret.decapsulate(&ct, pars_crypto::labels::ONION) else {
            return Peeled::drop(DropReason::HeaderMac);
        };
        let lk = LayerKeys::derive(&secret);
        let tag = lk.replay_tag();
        if key.replay.contains(&tag) {
            return Peeled::drop(DropReason::Replay);
        }
        if !mac_ok(&lk.header_mac, packet.routing(), packet.header_mac()) {
            return Peeled::drop(DropReason::HeaderMac);
        }
        if !mac_ok(&lk.payload_mac, packet.payload(), packet.payload_mac()) {
            return Peeled::drop(DropReason::PayloadMac);
        }
        Peeled {
            tag: Some((key.key_id, tag)),
            outcome: open_layer(&lk, packet),
        }
    }

    /// The short half of [`process`](Self::process): records the peeled packet's replay tag
    /// under its key's small lock and returns what to do. A packet whose tag another thread
    /// committed first (a replay racing the original) is dropped as [`DropReason::Replay`].
    pub fn commit(&self, peeled: Peeled) -> Processed {
        let Some((key_id, tag)) = peeled.tag else {
            return peeled.outcome;
        };
        let Some(key) = self.keys.key(key_id) else {
            // Rotated away between peel and commit.
            return Processed::Drop(DropReason::UnknownKey);
        };
        match key
            .replay
            .try_insert(tag, self.keys.schedule().max_replay_entries)
        {
            Ok(()) => peeled.outcome,
            Err(ReplayRefusal::Seen) => Processed::Drop(DropReason::Replay),
            Err(ReplayRefusal::Full) => Processed::Drop(DropReason::KeyExhausted),
        }
    }
}

/// A packet peeled by [`OnionRouter::peel`] whose replay tag is not yet recorded: pass it to
/// [`OnionRouter::commit`] (only that turns it into a [`Processed`]).
#[derive(Debug)]
#[must_use = "a peeled packet must be committed"]
pub struct Peeled {
    /// The key and replay tag to record; `None` for a packet already dropped.
    tag: Option<(u32, [u8; 16])>,
    outcome: Processed,
}

impl Peeled {
    fn drop(reason: DropReason) -> Self {
        Self {
            tag: None,
            outcome: Processed::Drop(reason),
        }
    }
}

/// Removes this hop's layer from a packet whose MACs verified.
fn open_layer(lk: &LayerKeys, mut packet: OnionPacket) -> Processed {
    let mut ext = Vec::with_capacity(ROUTING_LEN + SLOT_LEN);
    ext.extend_from_slice(packet.routing());
    ext.extend_from_slice(&[0u8; SLOT_LEN]);
    layer_xor(&lk.routing, &mut ext);
    let Ok(info) = RoutingInfo::decode(&ext[..SLOT_LEN]) else {
        return Processed::Drop(DropReason::BadRouting);
    };
    let f = packet.fields_mut();
    layer_xor(&lk.payload, f.payload);
    match info {
        RoutingInfo::Forward {
            next_hop,
            next_key_id,
            next_header_mac,
            next_payload_mac_key,
            next_kem_ct,
        } => {
            f.key_id.copy_from_slice(&next_key_id.to_be_bytes());
            f.kem_ct.copy_from_slice(&next_kem_ct[..]);
            f.header_mac.copy_from_slice(&next_header_mac);
            f.routing.copy_from_slice(&ext[SLOT_LEN..]);
            let k = pars_crypto::SharedSecret::from_bytes(next_payload_mac_key);
            f.payload_mac.copy_from_slice(&layer_mac(&k, f.payload));
            Processed::Forward { next_hop, packet }
        }
        RoutingInfo::Deliver => {
            let Some(body) = open_body(&lk.body_enc, &lk.body_mac, f.payload) else {
                return Processed::Drop(DropReason::BadBody);
            };
            let Ok(body) = Body::decode(body) else {
                return Processed::Drop(DropReason::BadBody);
            };
            match (body.is_loop, body.reply) {
                // A loop packet comes back to its sender as an empty reply, at once.
                (true, Some(reply)) => match reply_packet(&reply, &[]) {
                    Ok((next_hop, packet)) => Processed::Forward { next_hop, packet },
                    Err(_) => Processed::Drop(DropReason::BadBody),
                },
                (true, None) => Processed::Drop(DropReason::BadBody),
                (false, reply) => Processed::Deliver {
                    data: body.data,
                    reply,
                },
            }
        }
    }
}

fn mac_ok(key: &pars_crypto::SharedSecret, data: &[u8], tag: &[u8]) -> bool {
    let mut t = [0u8; MAC_LEN];
    t.copy_from_slice(tag);
    tags_equal(&layer_mac(key, data), &t)
}

/// Builds the reply to a request from its reply block: returns where to send it (the reply
/// path's first hop) and the packet, in the smallest class that holds `data` (a reply block
/// serves either class: its MACs cover the routing field, and the payload's whatever its
/// length). Call it at most once per reply block: the first hop's replay cache drops a second
/// reply.
pub fn reply_packet(reply: &ReplyBlock, data: &[u8]) -> Result<(NodeId, OnionPacket), OnionError> {
    let too_large = || OnionError::TooLarge {
        got: data.len(),
        max: Body::capacity(false),
    };
    let class = PacketClass::for_data(data.len(), false).ok_or_else(too_large)?;
    let mut packet = OnionPacket::new_zeroed(class);
    packet.set_header(&reply.header);
    let f = packet.fields_mut();
    let (tag, body) = f.payload.split_at_mut(MAC_LEN);
    Body::encode_into(false, None, data, body).map_err(|_| too_large())?;
    let (enc, mac) = reply_body_keys(&reply.reply_seed);
    seal_body_in_place(&enc, &mac, tag, body);
    let k = pars_crypto::SharedSecret::from_bytes(reply.payload_mac_key);
    f.payload_mac.copy_from_slice(&layer_mac(&k, f.payload));
    Ok((reply.first_hop, packet))
}
