//! Onion routing formats: the fixed-size packet, its per-hop routing slot, the reply block, the
//! end-to-end payload body, and the signed onion-key announcement a service node publishes.
//!
//! Every packet on the wire is exactly [`PACKET_LEN`] bytes, whatever its position on its path,
//! its direction (request or reply) and its content:
//!
//! ```text
//! version      1      = 1
//! key_id       4      which of the addressed hop's onion keys (current or one in overlap)
//! kem_ct    1120      hybrid X25519 + ML-KEM-768 ciphertext to that hop's onion key
//! header_mac  16      GMAC of `routing` under the hop's header-MAC key
//! payload_mac 16      GMAC of `payload` under the hop's payload-MAC key
//! routing   2426      encrypted routing slots (2 × SLOT_LEN + FINAL_LEN), Sphinx-style
//! payload  29185      layer-encrypted payload
//! ```
//!
//! A decrypted routing slot ([`RoutingInfo`]) is either *forward* (the next hop's node ID, key
//! ID, header MAC, payload-MAC key and KEM ciphertext: [`SLOT_LEN`] bytes) or *deliver*
//! ([`FINAL_LEN`] bytes). What each hop does with these bytes is `pars-onion`'s business; this
//! module only defines them and decodes them totally.

use crate::{NodeId, Reader, WireError, Writer};
use pars_crypto::classic::{Ed25519PublicKey, Ed25519Signature, Ed25519SigningKey};
use pars_crypto::hybrid_kem768::{self, Hybrid768PublicKey};
use pars_crypto::hybrid_sig::{self, HybridSignature, HybridSigningKey, HybridVerifyingKey};
use pars_crypto::{CryptoError, CryptoRng, labels, mlkem, mlkem768};

/// Packet format version.
pub const VERSION: u8 = 1;
/// Total size of every onion packet (32 KiB).
pub const PACKET_LEN: usize = 32 * 1024;
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
/// Size of the layer-encrypted payload.
pub const PAYLOAD_LEN: usize = PACKET_LEN - HEADER_LEN;
/// Size of the end-to-end body inside the payload (the payload minus its end-to-end MAC).
pub const BODY_LEN: usize = PAYLOAD_LEN - MAC_LEN;
/// Size of an encoded reply block.
pub const REPLY_BLOCK_LEN: usize = NodeId::LEN + HEADER_LEN + 2 * KEY_LEN;
/// Fixed overhead of a body: flags (1) and data length (4).
pub const BODY_OVERHEAD: usize = 1 + 4;
/// Largest application payload of a packet that carries no reply block (a reply, or a one-way
/// request).
pub const MAX_DATA_LEN: usize = BODY_LEN - BODY_OVERHEAD;
/// Largest application payload of a request that carries a reply block.
pub const MAX_DATA_LEN_WITH_REPLY: usize = MAX_DATA_LEN - REPLY_BLOCK_LEN;

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

/// An onion packet: exactly [`PACKET_LEN`] bytes with a valid version byte.
#[derive(Clone, PartialEq, Eq)]
pub struct OnionPacket(Box<[u8; PACKET_LEN]>);

/// Mutable views of a packet's fields, for the onion layer that builds and peels packets. Each
/// slice has the length of its field: 4, [`KEM_CT_LEN`], [`MAC_LEN`], [`MAC_LEN`],
/// [`ROUTING_LEN`], [`PAYLOAD_LEN`].
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
    /// An all-zero packet of the current version, to be filled by the builder.
    pub fn new_zeroed() -> Self {
        let mut b = Box::new([0u8; PACKET_LEN]);
        b[0] = VERSION;
        Self(b)
    }

    /// Parses a packet: exactly [`PACKET_LEN`] bytes, version [`VERSION`]. Any such bytes are a
    /// packet; whether it is genuine is for the addressed hop to find out.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("onion packet version")?;
        if version != VERSION {
            return Err(WireError::UnsupportedVersion {
                what: "onion packet",
                version,
            });
        }
        r.bytes(PACKET_LEN - 1, "onion packet")?;
        r.finish("onion packet")?;
        let mut b = Box::new([0u8; PACKET_LEN]);
        b.copy_from_slice(bytes);
        Ok(Self(b))
    }

    /// The encoded packet.
    pub fn as_bytes(&self) -> &[u8; PACKET_LEN] {
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

    /// The payload ([`PAYLOAD_LEN`]).
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
            PACKET_LEN
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
/// padding     zeros up to BODY_LEN
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
    /// The largest `data` this body can carry.
    pub fn capacity(has_reply: bool) -> usize {
        if has_reply {
            MAX_DATA_LEN_WITH_REPLY
        } else {
            MAX_DATA_LEN
        }
    }

    /// Encodes to exactly [`BODY_LEN`] bytes, or fails if `data` is too large.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let max = Self::capacity(self.reply.is_some());
        if self.data.len() > max {
            return Err(WireError::TooLong {
                what: "onion payload data",
                len: self.data.len(),
                max,
            });
        }
        let mut w = Writer::with_capacity(BODY_LEN);
        let mut flags = 0;
        if self.reply.is_some() {
            flags |= FLAG_REPLY;
        }
        if self.is_loop {
            flags |= FLAG_LOOP;
        }
        w.u8(flags);
        if let Some(reply) = &self.reply {
            reply.write(&mut w);
        }
        w.var32(&self.data);
        let mut v = w.into_vec();
        v.resize(BODY_LEN, 0);
        Ok(v)
    }

    /// Decodes exactly [`BODY_LEN`] bytes; the padding must be zero.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() != BODY_LEN {
            return Err(WireError::Invalid {
                what: "onion body",
                reason: "wrong length",
            });
        }
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
        let data = r.var32(Self::capacity(reply.is_some()), "onion payload data")?;
        if r.rest().iter().any(|&b| b != 0) {
            return Err(WireError::Invalid {
                what: "onion body padding",
                reason: "must be zero",
            });
        }
        Ok(Self {
            is_loop: flags & FLAG_LOOP != 0,
            reply,
            data: data.to_vec(),
        })
    }
}

/// Announcement format version.
pub const ANNOUNCEMENT_VERSION: u8 = 1;
/// Size of the signed part of an announcement.
pub const ANNOUNCEMENT_SIGNED_LEN: usize =
    1 + NodeId::LEN + 4 + 8 + 8 + hybrid_kem768::PUBLIC_KEY_LEN;
/// Most announcements in an [`OnionKeyList`].
pub const MAX_ANNOUNCED_KEYS: usize = 4;

const SIG_ED25519: u8 = 1;
const SIG_HYBRID: u8 = 2;

/// The signature on an onion-key announcement: by the node's Ed25519 identity (its libp2p key),
/// or by a hybrid Ed25519 + ML-DSA-87 identity.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AnnouncementSignature {
    /// Ed25519 (64 bytes).
    Ed25519(Ed25519Signature),
    /// Ed25519 + ML-DSA-87 (4691 bytes).
    Hybrid(Box<HybridSignature>),
}

/// A service node's onion public key for one validity period, signed by the node's identity:
///
/// ```text
/// version      1     = 1
/// node         32    node ID
/// key_id       4     the key's ID, as packets name it
/// valid_from   8     Unix seconds
/// valid_until  8     Unix seconds
/// public_key   1216  X25519 (32) ‖ ML-KEM-768 (1184)
/// sig_scheme   1     1 = Ed25519, 2 = Ed25519 + ML-DSA-87
/// signature    64 or 4691, over bytes 0..1269 with context `pars-onion-key-v1`
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OnionKeyAnnouncement {
    /// The node whose key this is.
    pub node: NodeId,
    /// The key's ID (random, distinct among the node's live keys).
    pub key_id: u32,
    /// Start of validity, Unix seconds.
    pub valid_from: u64,
    /// End of validity (exclusive), Unix seconds.
    pub valid_until: u64,
    /// The onion public key.
    pub public_key: Hybrid768PublicKey,
    /// The identity's signature over [`signed_bytes`](Self::signed_bytes).
    pub signature: AnnouncementSignature,
}

fn unsigned_bytes(
    node: &NodeId,
    key_id: u32,
    valid_from: u64,
    valid_until: u64,
    pk: &Hybrid768PublicKey,
) -> Vec<u8> {
    let mut w = Writer::with_capacity(ANNOUNCEMENT_SIGNED_LEN);
    w.u8(ANNOUNCEMENT_VERSION);
    node.write(&mut w);
    w.u32(key_id)
        .u64(valid_from)
        .u64(valid_until)
        .bytes(&pk.to_bytes());
    w.into_vec()
}

impl OnionKeyAnnouncement {
    /// Signs an announcement with an Ed25519 identity.
    pub fn sign_ed25519(
        node: NodeId,
        key_id: u32,
        valid_from: u64,
        valid_until: u64,
        public_key: Hybrid768PublicKey,
        key: &Ed25519SigningKey,
    ) -> Result<Self, WireError> {
        let msg = unsigned_bytes(&node, key_id, valid_from, valid_until, &public_key);
        let sig = key
            .sign(labels::SIG_ONION_KEY, &msg)
            .map_err(|source| WireError::Crypto {
                what: "onion-key announcement signature",
                source,
            })?;
        Ok(Self {
            node,
            key_id,
            valid_from,
            valid_until,
            public_key,
            signature: AnnouncementSignature::Ed25519(sig),
        })
    }

    /// Signs an announcement with a hybrid Ed25519 + ML-DSA-87 identity.
    pub fn sign_hybrid(
        node: NodeId,
        key_id: u32,
        valid_from: u64,
        valid_until: u64,
        public_key: Hybrid768PublicKey,
        key: &HybridSigningKey,
        rng: &mut impl CryptoRng,
    ) -> Result<Self, WireError> {
        let msg = unsigned_bytes(&node, key_id, valid_from, valid_until, &public_key);
        let sig = key
            .sign(labels::SIG_ONION_KEY, &msg, rng)
            .map_err(|source| WireError::Crypto {
                what: "onion-key announcement signature",
                source,
            })?;
        Ok(Self {
            node,
            key_id,
            valid_from,
            valid_until,
            public_key,
            signature: AnnouncementSignature::Hybrid(Box::new(sig)),
        })
    }

    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> Vec<u8> {
        unsigned_bytes(
            &self.node,
            self.key_id,
            self.valid_from,
            self.valid_until,
            &self.public_key,
        )
    }

    fn check_fields(&self) -> Result<(), WireError> {
        if self.valid_until <= self.valid_from {
            return Err(WireError::Invalid {
                what: "onion-key announcement",
                reason: "validity ends before it starts",
            });
        }
        Ok(())
    }

    fn verify_with(
        &self,
        expected: &'static str,
        check: impl FnOnce(&[u8], &AnnouncementSignature) -> Option<Result<(), CryptoError>>,
    ) -> Result<(), WireError> {
        self.check_fields()?;
        match check(&self.signed_bytes(), &self.signature) {
            Some(r) => r.map_err(|source| WireError::Crypto {
                what: "onion-key announcement signature",
                source,
            }),
            None => Err(WireError::Invalid {
                what: "onion-key announcement",
                reason: expected,
            }),
        }
    }

    /// Verifies an Ed25519-signed announcement (signature, field consistency). Whether `key`
    /// belongs to `self.node` is the caller's check (the node record binds them).
    pub fn verify_ed25519(&self, key: &Ed25519PublicKey) -> Result<(), WireError> {
        self.verify_with("an Ed25519 signature was expected", |msg, sig| match sig {
            AnnouncementSignature::Ed25519(sig) => {
                Some(key.verify(labels::SIG_ONION_KEY, msg, sig))
            }
            AnnouncementSignature::Hybrid(_) => None,
        })
    }

    /// Verifies a hybrid-signed announcement (both halves, field consistency).
    pub fn verify_hybrid(&self, key: &HybridVerifyingKey) -> Result<(), WireError> {
        self.verify_with("a hybrid signature was expected", |msg, sig| match sig {
            AnnouncementSignature::Hybrid(sig) => Some(key.verify(labels::SIG_ONION_KEY, msg, sig)),
            AnnouncementSignature::Ed25519(_) => None,
        })
    }

    /// Whether the key may be used at `now` (Unix seconds).
    pub fn is_valid_at(&self, now: u64) -> bool {
        self.valid_from <= now && now < self.valid_until
    }

    /// Encodes the announcement.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = self.signed_bytes();
        match &self.signature {
            AnnouncementSignature::Ed25519(sig) => {
                v.push(SIG_ED25519);
                v.extend_from_slice(&sig.0);
            }
            AnnouncementSignature::Hybrid(sig) => {
                v.push(SIG_HYBRID);
                v.extend_from_slice(&sig.to_bytes());
            }
        }
        v
    }

    /// Decodes an announcement (the signature is parsed, not verified).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let a = Self::read(&mut r)?;
        r.finish("onion-key announcement")?;
        Ok(a)
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let version = r.u8("onion-key announcement version")?;
        if version != ANNOUNCEMENT_VERSION {
            return Err(WireError::UnsupportedVersion {
                what: "onion-key announcement",
                version,
            });
        }
        let node = NodeId::read(r)?;
        let key_id = r.u32("onion key ID")?;
        let valid_from = r.u64("onion-key valid_from")?;
        let valid_until = r.u64("onion-key valid_until")?;
        let public_key = Hybrid768PublicKey::from_bytes(
            r.bytes(hybrid_kem768::PUBLIC_KEY_LEN, "onion public key")?,
        )
        .map_err(|source| WireError::Crypto {
            what: "onion public key",
            source,
        })?;
        let signature = match r.u8("onion-key signature scheme")? {
            SIG_ED25519 => AnnouncementSignature::Ed25519(
                Ed25519Signature::from_bytes(r.bytes(64, "onion-key signature")?).map_err(
                    |source| WireError::Crypto {
                        what: "onion-key signature",
                        source,
                    },
                )?,
            ),
            SIG_HYBRID => AnnouncementSignature::Hybrid(Box::new(
                HybridSignature::from_bytes(
                    r.bytes(hybrid_sig::SIGNATURE_LEN, "onion-key signature")?,
                )
                .map_err(|source| WireError::Crypto {
                    what: "onion-key signature",
                    source,
                })?,
            )),
            value => {
                return Err(WireError::UnknownVariant {
                    what: "onion-key signature scheme",
                    value: u64::from(value),
                });
            }
        };
        Ok(Self {
            node,
            key_id,
            valid_from,
            valid_until,
            public_key,
            signature,
        })
    }
}

/// The onion keys a node publishes in its node record's `onion_keys` field:
/// `count (u8, 1..=4) ‖ count × var16(announcement)`. With Ed25519 signatures two keys take
/// 1 + 2 × 1,336 = 2,673 bytes; a hybrid-signed one takes 5,963 bytes.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct OnionKeyList(pub Vec<OnionKeyAnnouncement>);

impl OnionKeyList {
    /// Encodes the list (at most [`MAX_ANNOUNCED_KEYS`] are written).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        let n = self.0.len().min(MAX_ANNOUNCED_KEYS);
        w.u8(n as u8);
        for a in self.0.iter().take(n) {
            w.var16(&a.to_bytes());
        }
        w.into_vec()
    }

    /// Decodes a list of 1 to [`MAX_ANNOUNCED_KEYS`] announcements.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let n = usize::from(r.u8("onion-key count")?);
        if n == 0 || n > MAX_ANNOUNCED_KEYS {
            return Err(WireError::Invalid {
                what: "onion-key list",
                reason: "must hold 1 to 4 keys",
            });
        }
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let b = r.var16(
                ANNOUNCEMENT_SIGNED_LEN + 1 + hybrid_sig::SIGNATURE_LEN,
                "onion-key announcement",
            )?;
            v.push(OnionKeyAnnouncement::from_bytes(b)?);
        }
        r.finish("onion-key list")?;
        Ok(Self(v))
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
    }
}
