//! Onion routing formats: the fixed-size packet, its per-hop routing slot, the reply block, the
//! end-to-end payload body, and the signed onion-key announcement a service node publishes.
//!
//! A packet has one of two sizes, its [`PacketClass`]: **standard**, exactly [`PACKET_LEN`]
//! bytes (every message, retrieve, loop and control packet), or **bulk**, exactly
//! [`BULK_PACKET_LEN`] bytes (file chunks only: a chunk store, or the reply that carries a
//! chunk). Within a class every packet has the same size whatever its position on its path, its
//! direction and its content; the class is the smallest that holds the body's data, so a bulk
//! packet never carries what a standard one could. A standard packet:
//!
//! ```text
//! version      1      = 1
//! key_id       4      which of the addressed hop's onion keys (current or one in overlap)
//! kem_ct    1120      hybrid X25519 + ML-KEM-768 ciphertext to that hop's onion key
//! header_mac  16      GMAC of `routing` under the hop's header-MAC key
//! payload_mac 16      GMAC of `payload` under the hop's payload-MAC key
//! routing   2426      encrypted routing slots (2 × SLOT_LEN + FINAL_LEN), Sphinx-style
//! payload  29185      layer-encrypted payload (127,489 in a bulk packet)
//! ```
//!
//! A decrypted routing slot ([`RoutingInfo`]) is either *forward* (the next hop's node ID, key
//! ID, header MAC, payload-MAC key and KEM ciphertext: [`SLOT_LEN`] bytes) or *deliver*
//! ([`FINAL_LEN`] bytes). What each hop does with these bytes is `pars-onion`'s business; this
//! module only defines them and decodes them totally.

use crate::{NodeId, Reader, WireError, Writer};
use pars_crypto::hybrid_kem768;
use pars_crypto::{mlkem, mlkem768};

mod announce;
pub use announce::*;

/// Packet format version.
pub const VERSION: u8 = 1;
/// Total size of a standard onion packet (32 KiB).
pub const PACKET_LEN: usize = 32 * 1024;
/// Total size of a bulk onion packet (128 KiB): file chunks only.
pub const BULK_PACKET_LEN: usize = 128 * 1024;
/// Most hops a packet's header can route through (the last one delivers).
pub const MAX_HOPS: usize = 3;
/// Size of a KEM ciphertext in the header: X25519 (32) ‖ ML-KEM-768 (1088).
pub const KEM_CT_LEN: usize = hybrid_kem768::CIPHERTEXT_LEN;
/// Size of a MAC (a GMAC tag).
pub const MAC_LEN: usize = 16;
/// Size of a symmetric key carried in a slot or reply block.
pub const KEY_LEN: usize = 32;
/// Size of a forward routing slot: `cmd ‖ next node ‖ next key ID ‖ next header MAC ‖ next
/// payload-MAC key ‖ next KEM ciphertext`.
pub const SLOT_LEN: usize = slot_len(KEM_CT_LEN);
/// Size of a deliver slot: `cmd ‖ 15 zero bytes`.
pub const FINAL_LEN: usize = 16;
/// Size of the encrypted routing field.
pub const ROUTING_LEN: usize = routing_len(KEM_CT_LEN);
/// Size of the header (everything before the payload).
pub const HEADER_LEN: usize = header_len(KEM_CT_LEN);
/// Size of the layer-encrypted payload of a standard packet.
pub const PAYLOAD_LEN: usize = PACKET_LEN - HEADER_LEN;
/// Size of the end-to-end body inside a standard packet's payload (the payload minus its
/// end-to-end MAC).
pub const BODY_LEN: usize = PAYLOAD_LEN - MAC_LEN;
/// Size of an encoded reply block.
pub const REPLY_BLOCK_LEN: usize = NodeId::LEN + HEADER_LEN + 2 * KEY_LEN;
/// Fixed overhead of a body: flags (1) and data length (4).
pub const BODY_OVERHEAD: usize = 1 + 4;
/// Largest application payload of a standard packet that carries no reply block (a reply, or
/// a one-way request).
pub const MAX_DATA_LEN: usize = BODY_LEN - BODY_OVERHEAD;
/// Largest application payload of a standard request that carries a reply block.
pub const MAX_DATA_LEN_WITH_REPLY: usize = MAX_DATA_LEN - REPLY_BLOCK_LEN;
/// Largest application payload of a bulk packet that carries no reply block (127,468 bytes).
pub const BULK_MAX_DATA_LEN: usize = PacketClass::Bulk.max_data_len(false);
/// Largest application payload of a bulk request that carries a reply block (123,789 bytes).
pub const BULK_MAX_DATA_LEN_WITH_REPLY: usize = PacketClass::Bulk.max_data_len(true);

/// The two packet sizes. A packet's class is its length; a body is put in the smallest class
/// that holds its data ([`PacketClass::for_data`]), and a bulk body that a standard packet
/// would hold is refused on decoding.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum PacketClass {
    /// [`PACKET_LEN`] bytes: messages, retrieves, loops, everything but file chunks.
    Standard,
    /// [`BULK_PACKET_LEN`] bytes: a file chunk's store request or the reply carrying a chunk.
    Bulk,
}

impl PacketClass {
    /// Both classes, smallest first.
    pub const ALL: [Self; 2] = [Self::Standard, Self::Bulk];

    /// Total packet length.
    pub const fn packet_len(self) -> usize {
        match self {
            Self::Standard => PACKET_LEN,
            Self::Bulk => BULK_PACKET_LEN,
        }
    }

    /// Length of the layer-encrypted payload.
    pub const fn payload_len(self) -> usize {
        self.packet_len() - HEADER_LEN
    }

    /// Length of the end-to-end body (the payload less its end-to-end MAC).
    pub const fn body_len(self) -> usize {
        self.payload_len() - MAC_LEN
    }

    /// The largest application data a body of this class carries.
    pub const fn max_data_len(self, has_reply: bool) -> usize {
        let max = self.body_len() - BODY_OVERHEAD;
        if has_reply {
            max - REPLY_BLOCK_LEN
        } else {
            max
        }
    }

    /// How many standard packets' worth this class is (what a rate limit charges for it).
    pub const fn weight(self) -> u32 {
        (self.packet_len() / PACKET_LEN) as u32
    }

    /// The class of a packet of `len` bytes, if any.
    pub const fn of_packet_len(len: usize) -> Option<Self> {
        match len {
            PACKET_LEN => Some(Self::Standard),
            BULK_PACKET_LEN => Some(Self::Bulk),
            _ => None,
        }
    }

    /// The smallest class whose body holds `data_len` bytes of data, if any does.
    pub const fn for_data(data_len: usize, has_reply: bool) -> Option<Self> {
        if data_len <= Self::Standard.max_data_len(has_reply) {
            Some(Self::Standard)
        } else if data_len <= Self::Bulk.max_data_len(has_reply) {
            Some(Self::Bulk)
        } else {
            None
        }
    }
}

const OFF_KEY_ID: usize = 1;
const OFF_KEM: usize = OFF_KEY_ID + 4;
const OFF_HMAC: usize = OFF_KEM + KEM_CT_LEN;
const OFF_PMAC: usize = OFF_HMAC + MAC_LEN;
const OFF_ROUTING: usize = OFF_PMAC + MAC_LEN;
const OFF_PAYLOAD: usize = OFF_ROUTING + ROUTING_LEN;

/// Slot size for a KEM whose ciphertext is `kem_ct_len` bytes.
pub const fn slot_len(kem_ct_len: usize) -> usize {
    1 + NodeId::LEN + 4 + MAC_LEN + KEY_LEN + kem_ct_len
}

/// Routing-field size for a KEM whose ciphertext is `kem_ct_len` bytes.
pub const fn routing_len(kem_ct_len: usize) -> usize {
    (MAX_HOPS - 1) * slot_len(kem_ct_len) + FINAL_LEN
}

/// Header size for a KEM whose ciphertext is `kem_ct_len` bytes: the figure that decided
/// between ML-KEM-768 and ML-KEM-1024 (see `docs/protocol.md`).
pub const fn header_len(kem_ct_len: usize) -> usize {
    1 + 4 + kem_ct_len + 2 * MAC_LEN + routing_len(kem_ct_len)
}

/// Header size had the layers used X25519 + ML-KEM-768 (the chosen set).
pub const HEADER_LEN_MLKEM768: usize = header_len(32 + mlkem768::CIPHERTEXT_LEN);
/// Header size had the layers used X25519 + ML-KEM-1024.
pub const HEADER_LEN_MLKEM1024: usize = header_len(32 + mlkem::CIPHERTEXT_LEN);

/// An onion packet: exactly [`PACKET_LEN`] or [`BULK_PACKET_LEN`] bytes (its
/// [`PacketClass`]) with a valid version byte.
#[derive(Clone, PartialEq, Eq)]
pub struct OnionPacket(Box<[u8]>);

/// Mutable views of a packet's fields, for the onion layer that builds and peels packets. Each
/// slice has the length of its field: 4, [`KEM_CT_LEN`], [`MAC_LEN`], [`MAC_LEN`],
/// [`ROUTING_LEN`], the class's payload length.
#[derive(Debug)]
pub struct PacketFieldsMut<'a> {
    /// The key ID of the addressed hop's onion key (big-endian `u32`).
    pub key_id: &'a mut [u8],
    /// The KEM ciphertext.
    pub kem_ct: &'a mut [u8],
    /// The header MAC.
    pub header_mac: &'a mut [u8],
    /// The payload MAC.
    pub payload_mac: &'a mut [u8],
    /// The encrypted routing slots.
    pub routing: &'a mut [u8],
    /// The payload.
    pub payload: &'a mut [u8],
}

impl OnionPacket {
    /// An all-zero packet of the current version and class `class`, to be filled by the
    /// builder.
    pub fn new_zeroed(class: PacketClass) -> Self {
        let mut b = vec![0u8; class.packet_len()].into_boxed_slice();
        b[0] = VERSION;
        Self(b)
    }

    /// Parses a packet: exactly [`PACKET_LEN`] or [`BULK_PACKET_LEN`] bytes, version
    /// [`VERSION`]. Any such bytes are a packet; whether it is genuine is for the addressed hop
    /// to find out.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("onion packet version")?;
        if version != VERSION {
            return Err(WireError::UnsupportedVersion {
                what: "onion packet",
                version,
            });
        }
        if PacketClass::of_packet_len(bytes.len()).is_none() {
            // The error names the standard length: a short packet is short of it.
            r.bytes(PACKET_LEN - 1, "onion packet")?;
            r.finish("onion packet")?;
            return Err(WireError::Invalid {
                what: "onion packet",
                reason: "neither the standard nor the bulk length",
            });
        }
        Ok(Self(bytes.into()))
    }

    /// [`from_bytes`](Self::from_bytes) of a frame the caller owns, without copying it.
    pub fn from_vec(bytes: Vec<u8>) -> Result<Self, WireError> {
        if bytes.first() == Some(&VERSION) && PacketClass::of_packet_len(bytes.len()).is_some() {
            Ok(Self(bytes.into_boxed_slice()))
        } else {
            Self::from_bytes(&bytes)
        }
    }

    /// The encoded packet, without copying it.
    pub fn into_vec(self) -> Vec<u8> {
        self.0.into_vec()
    }

    /// The packet's class (its length).
    pub fn class(&self) -> PacketClass {
        // Every constructor checked the length.
        PacketClass::of_packet_len(self.0.len()).unwrap_or(PacketClass::Standard)
    }

    /// The encoded packet ([`PACKET_LEN`] or [`BULK_PACKET_LEN`] bytes).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The encoded packet as a vector.
    pub fn to_vec(&self) -> Vec<u8> {
        self.0.to_vec()
    }

    /// The header: every byte before the payload ([`HEADER_LEN`]).
    pub fn header(&self) -> &[u8] {
        &self.0[..HEADER_LEN]
    }

    /// The ID of the onion key of the hop this packet is addressed to.
    pub fn key_id(&self) -> u32 {
        u32::from_be_bytes([self.0[1], self.0[2], self.0[3], self.0[4]])
    }

    /// The KEM ciphertext ([`KEM_CT_LEN`]).
    pub fn kem_ct(&self) -> &[u8] {
        &self.0[OFF_KEM..OFF_HMAC]
    }

    /// The header MAC ([`MAC_LEN`]).
    pub fn header_mac(&self) -> &[u8] {
        &self.0[OFF_HMAC..OFF_PMAC]
    }

    /// The payload MAC ([`MAC_LEN`]).
    pub fn payload_mac(&self) -> &[u8] {
        &self.0[OFF_PMAC..OFF_ROUTING]
    }

    /// The encrypted routing slots ([`ROUTING_LEN`]).
    pub fn routing(&self) -> &[u8] {
        &self.0[OFF_ROUTING..OFF_PAYLOAD]
    }

    /// The payload (the class's payload length).
    pub fn payload(&self) -> &[u8] {
        &self.0[OFF_PAYLOAD..]
    }

    /// Replaces the header with `header` ([`HEADER_LEN`] bytes, version byte included).
    pub fn set_header(&mut self, header: &[u8; HEADER_LEN]) {
        self.0[..HEADER_LEN].copy_from_slice(header);
    }

    /// Mutable views of every field.
    pub fn fields_mut(&mut self) -> PacketFieldsMut<'_> {
        let (_, rest) = self.0.split_at_mut(OFF_KEY_ID);
        let (key_id, rest) = rest.split_at_mut(4);
        let (kem_ct, rest) = rest.split_at_mut(KEM_CT_LEN);
        let (header_mac, rest) = rest.split_at_mut(MAC_LEN);
        let (payload_mac, rest) = rest.split_at_mut(MAC_LEN);
        let (routing, payload) = rest.split_at_mut(ROUTING_LEN);
        PacketFieldsMut {
            key_id,
            kem_ct,
            header_mac,
            payload_mac,
            routing,
            payload,
        }
    }
}

impl std::fmt::Debug for OnionPacket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "OnionPacket(key {}, {} bytes)",
            self.key_id(),
            self.0.len()
        )
    }
}

const CMD_FORWARD: u8 = 1;
const CMD_DELIVER: u8 = 2;

/// A decrypted routing slot: what one hop learns about the route.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RoutingInfo {
    /// Pass the packet on.
    Forward {
        /// The next hop (a service node, or on a reply path's last leg the client).
        next_hop: NodeId,
        /// The ID of the next hop's onion key.
        next_key_id: u32,
        /// The next hop's header MAC.
        next_header_mac: [u8; MAC_LEN],
        /// The key under which this hop authenticates the payload it sends to the next hop.
        next_payload_mac_key: [u8; KEY_LEN],
        /// The next hop's KEM ciphertext.
        next_kem_ct: Box<[u8; KEM_CT_LEN]>,
    },
    /// This hop is the last: the payload body is for it.
    Deliver,
}

impl RoutingInfo {
    /// Encodes into a full slot (a deliver slot is zero-padded to [`SLOT_LEN`]).
    pub fn encode(&self) -> Box<[u8; SLOT_LEN]> {
        let mut out = Box::new([0u8; SLOT_LEN]);
        match self {
            Self::Forward {
                next_hop,
                next_key_id,
                next_header_mac,
                next_payload_mac_key,
                next_kem_ct,
            } => {
                let mut w = Writer::with_capacity(SLOT_LEN);
                w.u8(CMD_FORWARD)
                    .bytes(next_hop.as_bytes())
                    .u32(*next_key_id)
                    .bytes(next_header_mac)
                    .bytes(next_payload_mac_key)
                    .bytes(&next_kem_ct[..]);
                out.copy_from_slice(&w.into_vec());
            }
            Self::Deliver => out[0] = CMD_DELIVER,
        }
        out
    }

    /// Decodes the slot at the start of `slot` (at least [`SLOT_LEN`] bytes for a forward slot,
    /// [`FINAL_LEN`] for a deliver slot; bytes after a deliver slot are filler and ignored).
    pub fn decode(slot: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(slot);
        match r.u8("routing command")? {
            CMD_FORWARD => {
                let next_hop = NodeId::read(&mut r)?;
                let next_key_id = r.u32("next key ID")?;
                let next_header_mac = r.array("next header MAC")?;
                let next_payload_mac_key = r.array("next payload-MAC key")?;
                let next_kem_ct = Box::new(r.array::<KEM_CT_LEN>("next KEM ciphertext")?);
                Ok(Self::Forward {
                    next_hop,
                    next_key_id,
                    next_header_mac,
                    next_payload_mac_key,
                    next_kem_ct,
                })
            }
            CMD_DELIVER => {
                let reserved = r.bytes(FINAL_LEN - 1, "deliver slot")?;
                if reserved.iter().any(|&b| b != 0) {
                    return Err(WireError::Invalid {
                        what: "deliver slot",
                        reason: "reserved bytes must be zero",
                    });
                }
                Ok(Self::Deliver)
            }
            value => Err(WireError::UnknownVariant {
                what: "routing command",
                value: u64::from(value),
            }),
        }
    }
}

/// A single-use reply block: a pre-built header for the way back, handed to the last hop inside
/// a request. Whoever holds it can send one reply without learning the path it takes.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplyBlock {
    /// The first hop of the reply path (where the replier sends the reply packet).
    pub first_hop: NodeId,
    /// The header of the reply packet, ready to send.
    pub header: Box<[u8; HEADER_LEN]>,
    /// The key under which the replier authenticates the reply payload for the first hop.
    pub payload_mac_key: [u8; KEY_LEN],
    /// Seed of the end-to-end keys that encrypt and authenticate the reply body.
    pub reply_seed: [u8; KEY_LEN],
}

impl std::fmt::Debug for ReplyBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReplyBlock(first hop {}, keys redacted)", self.first_hop)
    }
}

impl ReplyBlock {
    /// Encodes: `first_hop (32) ‖ header (HEADER_LEN) ‖ payload_mac_key (32) ‖ reply_seed (32)`.
    pub fn write(&self, w: &mut Writer) {
        self.first_hop.write(w);
        w.bytes(&self.header[..])
            .bytes(&self.payload_mac_key)
            .bytes(&self.reply_seed);
    }

    /// Reads one reply block.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let first_hop = NodeId::read(r)?;
        let header = Box::new(r.array::<HEADER_LEN>("reply header")?);
        if header[0] != VERSION {
            return Err(WireError::UnsupportedVersion {
                what: "reply header",
                version: header[0],
            });
        }
        Ok(Self {
            first_hop,
            header,
            payload_mac_key: r.array("reply payload-MAC key")?,
            reply_seed: r.array("reply seed")?,
        })
    }
}

const FLAG_REPLY: u8 = 0x01;
const FLAG_LOOP: u8 = 0x02;

/// The end-to-end body a packet carries to its final recipient, before end-to-end encryption:
///
/// ```text
/// flags (1)   bit 0: a reply block follows; bit 1: loop (cover) packet; other bits zero
/// reply       REPLY_BLOCK_LEN, if bit 0
/// data_len    u32
/// data        data_len
/// padding     zeros up to the class's body length (BODY_LEN for a standard packet)
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Body {
    /// A loop packet: cover traffic that the last hop answers with an empty reply.
    pub is_loop: bool,
    /// The reply block, for a request that wants an answer.
    pub reply: Option<ReplyBlock>,
    /// The application payload.
    pub data: Vec<u8>,
}

impl Body {
    /// The largest `data` a body of any class can carry (a bulk one's).
    pub fn capacity(has_reply: bool) -> usize {
        PacketClass::Bulk.max_data_len(has_reply)
    }

    /// The class this body travels in: the smallest that holds its data.
    pub fn class(&self) -> Option<PacketClass> {
        PacketClass::for_data(self.data.len(), self.reply.is_some())
    }

    /// Encodes to exactly the body length of its [class](Self::class), or fails if `data` is
    /// too large for any.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let Some(class) = self.class() else {
            return Err(WireError::TooLong {
                what: "onion payload data",
                len: self.data.len(),
                max: Self::capacity(self.reply.is_some()),
            });
        };
        let mut v = vec![0u8; class.body_len()];
        Self::encode_into(self.is_loop, self.reply.as_ref(), &self.data, &mut v)?;
        Ok(v)
    }

    /// Writes the body of `data` (with `reply`, as a loop when `is_loop`) into `out`, which
    /// must be exactly the body length of its [class](Self::class) — in place, e.g. into a
    /// packet's payload after its MAC, with no copy of `data` but this one.
    pub fn encode_into(
        is_loop: bool,
        reply: Option<&ReplyBlock>,
        data: &[u8],
        out: &mut [u8],
    ) -> Result<(), WireError> {
        let class = PacketClass::for_data(data.len(), reply.is_some());
        if class.map(PacketClass::body_len) != Some(out.len()) {
            return Err(WireError::TooLong {
                what: "onion payload data",
                len: data.len(),
                max: Self::capacity(reply.is_some()),
            });
        }
        let mut head = Writer::with_capacity(1 + REPLY_BLOCK_LEN + 4);
        head.u8(if reply.is_some() { FLAG_REPLY } else { 0 } | if is_loop { FLAG_LOOP } else { 0 });
        if let Some(r) = reply {
            r.write(&mut head);
        }
        head.u32(data.len() as u32);
        let head = head.into_vec();
        let (h, rest) = out.split_at_mut(head.len());
        h.copy_from_slice(&head);
        let (d, pad) = rest.split_at_mut(data.len());
        d.copy_from_slice(data);
        pad.fill(0);
        Ok(())
    }

    /// Decodes exactly one class's body length; the padding must be zero, and the class must be
    /// the smallest that holds the data.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let Some(class) = PacketClass::ALL
            .into_iter()
            .find(|c| c.body_len() == bytes.len())
        else {
            return Err(WireError::Invalid {
                what: "onion body",
                reason: "wrong length",
            });
        };
        let mut r = Reader::new(bytes);
        let flags = r.u8("onion body flags")?;
        if flags & !(FLAG_REPLY | FLAG_LOOP) != 0 {
            return Err(WireError::UnknownVariant {
                what: "onion body flags",
                value: u64::from(flags),
            });
        }
        let reply = if flags & FLAG_REPLY != 0 {
            Some(ReplyBlock::read(&mut r)?)
        } else {
            None
        };
        let data = r.var32(class.max_data_len(reply.is_some()), "onion payload data")?;
        if r.rest().iter().any(|&b| b != 0) {
            return Err(WireError::Invalid {
                what: "onion body padding",
                reason: "must be zero",
            });
        }
        if PacketClass::for_data(data.len(), reply.is_some()) != Some(class) {
            return Err(WireError::Invalid {
                what: "onion body",
                reason: "a bulk body whose data a standard packet holds",
            });
        }
        Ok(Self {
            is_loop: flags & FLAG_LOOP != 0,
            reply,
            data: data.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_as_documented() {
        assert_eq!(KEM_CT_LEN, 1120);
        assert_eq!(SLOT_LEN, 1205);
        assert_eq!(ROUTING_LEN, 2426);
        assert_eq!(HEADER_LEN, 3583);
        assert_eq!(HEADER_LEN_MLKEM768, HEADER_LEN);
        assert_eq!(HEADER_LEN_MLKEM1024, 5023);
        assert_eq!(PAYLOAD_LEN, 29185);
        assert_eq!(REPLY_BLOCK_LEN, 3679);
        assert_eq!(MAX_DATA_LEN, 29164);
        assert_eq!(MAX_DATA_LEN_WITH_REPLY, 25485);
        assert_eq!(OFF_PAYLOAD, HEADER_LEN);
        assert_eq!(ANNOUNCEMENT_SIGNED_LEN, 1269);
        assert_eq!(PacketClass::Bulk.payload_len(), 127_489);
        assert_eq!(PacketClass::Bulk.body_len(), 127_473);
        assert_eq!(BULK_MAX_DATA_LEN, 127_468);
        assert_eq!(BULK_MAX_DATA_LEN_WITH_REPLY, 123_789);
        assert_eq!(PacketClass::Bulk.weight(), 4);
        assert_eq!(PacketClass::Standard.weight(), 1);
        assert_eq!(
            PacketClass::Standard.max_data_len(true),
            MAX_DATA_LEN_WITH_REPLY
        );
    }
}
