//! The client side: building request packets (with a reply block) and opening replies.

use std::collections::HashMap;

use subtle::ConstantTimeEq;

use pars_crypto::stream::tags_equal;
use pars_crypto::{CryptoRng, SharedSecret, random_array, sha3_256};
use pars_wire::NodeId;
use pars_wire::onion::{Body, KEM_CT_LEN, KEY_LEN, MAC_LEN, OnionPacket, PacketClass, ReplyBlock};

use crate::OnionError;
use crate::layer::{
    PathHop, Terminal, build_header, layer_mac, layer_xor, open_body, reply_body_keys,
    seal_body_in_place,
};

/// Offset and length of the payload-MAC field inside a header (excluded from the reply-header
/// comparison: it is a function of the payload, checked on its own).
const PMAC_OFFSET: usize = 1 + 4 + KEM_CT_LEN + MAC_LEN;
/// Length of a reply ID.
pub const REPLY_ID_LEN: usize = 16;

/// Identifies a pending reply: the first 16 bytes of the KEM field of the packet that carries it
/// to the client (random, chosen by the client, seen only by its guard).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ReplyId(pub [u8; REPLY_ID_LEN]);

/// The way back for a reply: one or two service nodes (normally a middle node, then the
/// client's guard), then the client itself.
#[derive(Clone, Debug)]
pub struct ReplyPath {
    /// The reply path's hops, the first being where the last request hop sends the reply.
    pub hops: Vec<PathHop>,
    /// The client's own node ID (SHA3-256 of its peer ID): where the last hop delivers.
    pub client: NodeId,
}

/// A request ready to send.
#[derive(Debug)]
pub struct Request {
    /// Where to send it: the path's first hop (the guard).
    pub first_hop: NodeId,
    /// The packet.
    pub packet: OnionPacket,
    /// The keys to open the reply, if the request asked for one.
    pub pending: Option<PendingReply>,
}

/// What the client keeps to open the reply to one request. Single use.
pub struct PendingReply {
    id: ReplyId,
    layer_keys: Vec<SharedSecret>,
    payload_mac_key: SharedSecret,
    header_digest: [u8; 32],
    reply_seed: SharedSecret,
    is_loop: bool,
    expires_at: u64,
}

impl std::fmt::Debug for PendingReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PendingReply(loop {}, expires {}, keys redacted)",
            self.is_loop, self.expires_at
        )
    }
}

/// A reply, opened.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    /// Which request it answers.
    pub id: ReplyId,
    /// Whether the request was a loop (cover) packet; its reply carries no data.
    pub is_loop: bool,
    /// The responder's data.
    pub data: Vec<u8>,
}

fn check_keys(hops: &[PathHop], now: u64) -> Result<(), OnionError> {
    for h in hops {
        if now >= h.valid_until {
            return Err(OnionError::KeyNotValid {
                node: h.node,
                key_id: h.key_id,
            });
        }
    }
    Ok(())
}

fn header_digest(header: &[u8]) -> [u8; 32] {
    sha3_256(&[&header[..PMAC_OFFSET], &header[PMAC_OFFSET + MAC_LEN..]])
}

/// Builds a request through `path` (1 to 3 hops; the last delivers `data`). With `reply`, the
/// request carries a single-use reply block for the way back, and the returned
/// [`PendingReply`] opens the answer.
pub fn build_request(
    path: &[PathHop],
    data: &[u8],
    reply: Option<&ReplyPath>,
    now: u64,
    rng: &mut impl CryptoRng,
) -> Result<Request, OnionError> {
    build(path, data, reply, false, now, rng)
}

/// Builds a loop (cover) packet: a request with no data whose last hop answers at once with an
/// empty reply along `reply`. On the wire it is indistinguishable from any other packet.
pub fn build_loop(
    path: &[PathHop],
    reply: &ReplyPath,
    now: u64,
    rng: &mut impl CryptoRng,
) -> Result<Request, OnionError> {
    build(path, &[], Some(reply), true, now, rng)
}

fn build(
    path: &[PathHop],
    data: &[u8],
    reply: Option<&ReplyPath>,
    is_loop: bool,
    now: u64,
    rng: &mut impl CryptoRng,
) -> Result<Request, OnionError> {
    check_keys(path, now)?;
    let class = PacketClass::for_data(data.len(), reply.is_some()).ok_or(OnionError::TooLarge {
        got: data.len(),
        max: Body::capacity(reply.is_some()),
    })?;
    let (block, pending) = match reply {
        Some(rp) => {
            let (b, p) = build_reply_block(rp, is_loop, now, rng)?;
            (Some(b), Some(p))
        }
        None => (None, None),
    };
    let built = build_header(path, &Terminal::Deliver, rng)?;
    // The body is written once, into the packet's payload, and sealed and layered in place.
    let mut packet = OnionPacket::new_zeroed(class);
    packet.set_header(&built.header);
    let f = packet.fields_mut();
    let (tag, body) = f.payload.split_at_mut(MAC_LEN);
    Body::encode_into(is_loop, block.as_ref(), data, body)?;
    let last = built.keys.len() - 1;
    seal_body_in_place(
        &built.keys[last].body_enc,
        &built.keys[last].body_mac,
        tag,
        body,
    );
    for k in built.keys.iter().rev() {
        layer_xor(&k.payload, f.payload);
    }
    f.payload_mac
        .copy_from_slice(&layer_mac(&built.keys[0].payload_mac, f.payload));
    Ok(Request {
        first_hop: path[0].node,
        packet,
        pending,
    })
}

fn build_reply_block(
    rp: &ReplyPath,
    is_loop: bool,
    now: u64,
    rng: &mut impl CryptoRng,
) -> Result<(ReplyBlock, PendingReply), OnionError> {
    check_keys(&rp.hops, now)?;
    let id = ReplyId(random_array(rng));
    let mut kem_ct = Box::new([0u8; KEM_CT_LEN]);
    kem_ct[..REPLY_ID_LEN].copy_from_slice(&id.0);
    rng.fill_bytes(&mut kem_ct[REPLY_ID_LEN..]);
    let client_mac_key: [u8; KEY_LEN] = random_array(rng);
    let built = build_header(
        &rp.hops,
        &Terminal::ToClient {
            client: rp.client,
            kem_ct,
            payload_mac_key: client_mac_key,
        },
        rng,
    )?;
    let client_header = built
        .client_header
        .as_ref()
        .ok_or(OnionError::NoPath("internal: reply header missing"))?;
    let reply_seed: [u8; KEY_LEN] = random_array(rng);
    let block = ReplyBlock {
        first_hop: rp.hops[0].node,
        header: built.header.clone(),
        payload_mac_key: *built.keys[0].payload_mac.as_bytes(),
        reply_seed,
    };
    let expires_at = rp.hops.iter().map(|h| h.valid_until).min().unwrap_or(now);
    let pending = PendingReply {
        id,
        layer_keys: built.keys.iter().map(|k| k.payload.clone()).collect(),
        payload_mac_key: SharedSecret::from_bytes(client_mac_key),
        header_digest: header_digest(&client_header[..]),
        reply_seed: SharedSecret::from_bytes(reply_seed),
        is_loop,
        expires_at,
    };
    Ok((block, pending))
}

impl PendingReply {
    /// The reply's ID.
    pub fn id(&self) -> ReplyId {
        self.id
    }

    /// Whether this answers a loop (cover) packet.
    pub fn is_loop(&self) -> bool {
        self.is_loop
    }

    /// When the reply block stops working (its path's earliest key expiry), Unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// Opens the reply packet: checks that the header is exactly the one built for it, the
    /// payload MAC of the last link, and the responder's end-to-end MAC; then decodes the body.
    pub fn open(&self, packet: &OnionPacket) -> Result<Reply, OnionError> {
        if packet.kem_ct()[..REPLY_ID_LEN] != self.id.0 {
            return Err(OnionError::ReplyRejected("reply ID does not match"));
        }
        let digest = header_digest(packet.header());
        if !bool::from(digest.ct_eq(&self.header_digest)) {
            return Err(OnionError::ReplyRejected("header was altered"));
        }
        let mut tag = [0u8; MAC_LEN];
        tag.copy_from_slice(packet.payload_mac());
        if !tags_equal(&layer_mac(&self.payload_mac_key, packet.payload()), &tag) {
            return Err(OnionError::ReplyRejected("payload was altered"));
        }
        let mut payload = packet.payload().to_vec();
        for k in &self.layer_keys {
            layer_xor(k, &mut payload);
        }
        let (enc, mac) = reply_body_keys(self.reply_seed.as_bytes());
        let body = open_body(&enc, &mac, &mut payload)
            .ok_or(OnionError::ReplyRejected("end-to-end MAC does not verify"))?;
        let body = Body::decode(body)?;
        if body.reply.is_some() || body.is_loop {
            return Err(OnionError::ReplyRejected(
                "a reply cannot carry a reply block",
            ));
        }
        Ok(Reply {
            id: self.id,
            is_loop: self.is_loop,
            data: body.data,
        })
    }
}

/// The client's table of pending replies, keyed by reply ID. Each opens at most once.
#[derive(Debug, Default)]
pub struct ReplyTable {
    pending: HashMap<ReplyId, PendingReply>,
}

impl ReplyTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers a pending reply.
    pub fn insert(&mut self, pending: PendingReply) {
        self.pending.insert(pending.id, pending);
    }

    /// Opens a packet that arrived from the guard. On success the entry is removed (a second
    /// copy is refused); on failure it stays, so a forged packet cannot cancel a real reply.
    pub fn open_reply(&mut self, packet: &OnionPacket) -> Result<Reply, OnionError> {
        let mut id = [0u8; REPLY_ID_LEN];
        id.copy_from_slice(&packet.kem_ct()[..REPLY_ID_LEN]);
        let id = ReplyId(id);
        let pending = self.pending.get(&id).ok_or(OnionError::ReplyRejected(
            "no pending request with this reply ID",
        ))?;
        let reply = pending.open(packet)?;
        self.pending.remove(&id);
        Ok(reply)
    }

    /// Forgets a pending reply (the request was abandoned or retried on another path).
    pub fn cancel(&mut self, id: &ReplyId) -> bool {
        self.pending.remove(id).is_some()
    }

    /// Drops replies whose blocks have expired; returns how many.
    pub fn expire(&mut self, now: u64) -> usize {
        let before = self.pending.len();
        self.pending.retain(|_, p| now < p.expires_at);
        before - self.pending.len()
    }

    /// Pending replies.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether none are pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}
