//! Session messages: the envelope a client stores in its peer's swarm, the ratchet header inside
//! it, the handshake that starts a session, and the body format.
//!
//! ```text
//! SessionMessage  = version (1) ‖ kind (1) ‖ [HandshakeHeader if kind = initial]
//!                   ‖ encrypted header (118 if initial, 3254 if normal)
//!                   ‖ u32 len ‖ body ciphertext (padded bucket + 16-byte tag)
//! encrypted header = nonce (24) ‖ AEAD(header key, MessageHeader) (+16 tag)
//! HandshakeHeader = prekey ID (4) ‖ hybrid ct to identity key (1600)
//!                   ‖ hybrid ct to prekey (1600) ‖ AEAD(payload key, HandshakePayload) (16892)
//! ```
//!
//! This module only says what bytes mean; the keys, the associated data and when each part is
//! sent are the business of `pars-session` and are documented in `docs/protocol.md`. Every
//! decoder is total: any input yields a value or a [`WireError`], and re-encoding a decoded value
//! gives back exactly the input (encodings are canonical).

use crate::{MessageId, Reader, WireError, Writer};
use pars_crypto::bundle::{BUNDLE_LEN, IdentityBundle};
use pars_crypto::classic::X25519PublicKey;
use pars_crypto::hybrid_kem::{self, HybridCiphertext};
use pars_crypto::hybrid_sig::{self, HybridSignature};
use pars_crypto::mldsa::{self, MlDsaSignature};
use pars_crypto::mlkem::{self, MlKemCiphertext, MlKemPublicKey};
use pars_crypto::{SESSION_ID_LEN, SessionId, aead, labels, padding};

/// Version byte of [`SessionMessage`].
pub const MESSAGE_VERSION: u8 = 1;

/// Timestamps in headers are Unix seconds rounded down to this granularity (10 minutes): the
/// recipient learns roughly when a message was written, not the second, so a recipient (or a
/// stolen device) cannot match exact send times against onion traffic seen entering the network.
/// Ordering within a session uses [`MessageHeader::sequence`], not timestamps. 10 minutes is
/// also the clock skew tolerated for identity bundles.
pub const TIMESTAMP_GRANULARITY_SECS: u64 = 600;

/// Rounds a Unix time down to the header granularity.
pub fn coarse_timestamp(now: u64) -> u64 {
    now - now % TIMESTAMP_GRANULARITY_SECS
}

/// Size of a [`MessageHeader`] without a KEM step (the initiator's first chain).
pub const HEADER_LEN_INITIAL: usize = 16 + 8 + 8 + 32 + 4 + 4 + 1 + 4 + 1;
/// Size of a [`MessageHeader`] with a KEM step (every other chain).
pub const HEADER_LEN_NORMAL: usize =
    HEADER_LEN_INITIAL + mlkem::PUBLIC_KEY_LEN + mlkem::CIPHERTEXT_LEN;
/// Overhead of header encryption: random nonce and tag.
pub const HEADER_SEAL_OVERHEAD: usize = aead::NONCE_LEN + aead::TAG_LEN;
/// Size of an encrypted header in an initial message.
pub const ENCRYPTED_HEADER_LEN_INITIAL: usize = HEADER_LEN_INITIAL + HEADER_SEAL_OVERHEAD;
/// Size of an encrypted header in a normal message.
pub const ENCRYPTED_HEADER_LEN_NORMAL: usize = HEADER_LEN_NORMAL + HEADER_SEAL_OVERHEAD;
/// Size of a [`HandshakePayload`].
pub const HANDSHAKE_PAYLOAD_LEN: usize =
    SESSION_ID_LEN + BUNDLE_LEN + 32 + mlkem::PUBLIC_KEY_LEN + 8 + hybrid_sig::SIGNATURE_LEN;
/// Size of the encrypted handshake payload (fixed nonce: its key is used once).
pub const HANDSHAKE_PAYLOAD_CT_LEN: usize = HANDSHAKE_PAYLOAD_LEN + aead::TAG_LEN;
/// Size of a [`HandshakeHeader`].
pub const HANDSHAKE_HEADER_LEN: usize =
    4 + 2 * hybrid_kem::CIPHERTEXT_LEN + HANDSHAKE_PAYLOAD_CT_LEN;
/// Largest body ciphertext: the largest padding bucket plus the tag.
pub const MAX_BODY_LEN: usize = padding::MAX_PADDED_LEN + aead::TAG_LEN;

/// The most content one text message can carry through the network: the largest unsigned
/// content whose [`MessageKind::Normal`] message fits one onion-routed store into an inbox
/// ([`crate::swarm::MAX_ONION_INBOX_PAYLOAD`]). 16,382 bytes: the 16 KiB padding bucket less the
/// padding marker and the signature tag.
pub const MAX_SENDABLE_CONTENT_LEN: usize =
    SessionMessage::max_content_len(MessageKind::Normal, crate::swarm::MAX_ONION_INBOX_PAYLOAD);
/// The same for a message that still carries the handshake ([`MessageKind::Initial`]: every
/// message of the initiator until the peer's first reply arrives). 4,094 bytes: the 20 KB
/// handshake leaves room for the 4 KiB bucket only.
pub const MAX_SENDABLE_CONTENT_LEN_INITIAL: usize =
    SessionMessage::max_content_len(MessageKind::Initial, crate::swarm::MAX_ONION_INBOX_PAYLOAD);

/// Whether a message starts a session or continues one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageKind {
    /// A message in an established session.
    Normal = 1,
    /// A message that carries the handshake (sent until the responder's first reply arrives).
    Initial = 2,
}

impl MessageKind {
    fn from_u8(v: u8) -> Result<Self, WireError> {
        match v {
            1 => Ok(Self::Normal),
            2 => Ok(Self::Initial),
            _ => Err(WireError::UnknownVariant {
                what: "message kind",
                value: u64::from(v),
            }),
        }
    }
}

/// What the body of a message is. Unknown values are rejected, not ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum ContentType {
    /// UTF-8 text.
    Text = 1,
    /// The listed messages were read.
    ReadReceipt = 2,
    /// The listed messages were delivered.
    DeliveryReceipt = 3,
    /// A file reference (ID, key, size).
    File = 4,
    /// Group membership or key operation (signed when it is an admin operation).
    GroupControl = 5,
    /// A contract action for a bridge (signed with ML-DSA).
    ContractAction = 6,
    /// A bridge's receipt for a contract action.
    ContractReceipt = 7,
    /// The sender abandons this session and asks for a new one.
    SessionReset = 8,
}

impl ContentType {
    /// Every content type, for tests and documentation.
    pub const ALL: [ContentType; 8] = [
        Self::Text,
        Self::ReadReceipt,
        Self::DeliveryReceipt,
        Self::File,
        Self::GroupControl,
        Self::ContractAction,
        Self::ContractReceipt,
        Self::SessionReset,
    ];

    /// Parses the wire value.
    pub fn from_u8(v: u8) -> Result<Self, WireError> {
        Self::ALL
            .into_iter()
            .find(|t| *t as u8 == v)
            .ok_or(WireError::UnknownVariant {
                what: "content type",
                value: u64::from(v),
            })
    }
}

/// Header flags. Unknown bits are rejected so that a future flag cannot be silently dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u32);

impl Flags {
    /// No flags.
    pub const NONE: Flags = Flags(0);
    /// The sender asks for a delivery receipt.
    pub const REQUEST_DELIVERY_RECEIPT: Flags = Flags(1 << 0);
    /// The sender asks for a read receipt.
    pub const REQUEST_READ_RECEIPT: Flags = Flags(1 << 1);
    /// Every defined bit.
    pub const KNOWN: u32 = 0b11;

    /// Parses the wire value.
    pub fn from_bits(bits: u32) -> Result<Self, WireError> {
        if bits & !Self::KNOWN != 0 {
            return Err(WireError::UnknownVariant {
                what: "header flags",
                value: u64::from(bits),
            });
        }
        Ok(Self(bits))
    }
    /// The wire value.
    pub fn bits(self) -> u32 {
        self.0
    }
    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Union.
    pub fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

/// The post-quantum half of a ratchet step: the sender's new ratchet ML-KEM key and its
/// encapsulation to the recipient's current one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KemStep {
    /// The sender's new ratchet ML-KEM-1024 public key (the recipient encapsulates to it next).
    pub public_key: MlKemPublicKey,
    /// Encapsulation to the recipient's current ratchet ML-KEM-1024 public key.
    pub ciphertext: MlKemCiphertext,
}

/// The ratchet header, sent encrypted under the chain's header key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHeader {
    /// Random, unique end to end (dedupe key).
    pub message_id: MessageId,
    /// Unix seconds, a multiple of [`TIMESTAMP_GRANULARITY_SECS`].
    pub timestamp: u64,
    /// The sender's message number in this session, across chains (for display order).
    pub sequence: u64,
    /// The sender's current ratchet X25519 public key.
    pub ratchet_key: X25519PublicKey,
    /// The KEM step of the sender's current chain; absent only in the initiator's first chain,
    /// which the handshake keys.
    pub kem: Option<KemStep>,
    /// Message number in the current sending chain.
    pub counter: u32,
    /// Length of the sender's previous sending chain.
    pub previous_chain_length: u32,
    /// What the body is.
    pub content_type: ContentType,
    /// Flags.
    pub flags: Flags,
}

impl MessageHeader {
    /// Canonical encoding ([`HEADER_LEN_INITIAL`] or [`HEADER_LEN_NORMAL`] bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(HEADER_LEN_NORMAL);
        self.message_id.write(&mut w);
        w.u64(self.timestamp)
            .u64(self.sequence)
            .bytes(&self.ratchet_key.0)
            .u32(self.counter)
            .u32(self.previous_chain_length)
            .u8(self.content_type as u8)
            .u32(self.flags.bits());
        match &self.kem {
            None => {
                w.u8(0);
            }
            Some(k) => {
                w.u8(1)
                    .bytes(k.public_key.as_bytes())
                    .bytes(k.ciphertext.as_bytes());
            }
        }
        w.into_vec()
    }

    /// Decodes a header; the whole input must be the header.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let message_id = MessageId::read(&mut r)?;
        let timestamp = r.u64("header timestamp")?;
        if timestamp % TIMESTAMP_GRANULARITY_SECS != 0 {
            return Err(WireError::Invalid {
                what: "header timestamp",
                reason: "not a multiple of the 600-second granularity",
            });
        }
        let sequence = r.u64("header sequence")?;
        let ratchet_key = X25519PublicKey(r.array("ratchet key")?);
        let counter = r.u32("header counter")?;
        let previous_chain_length = r.u32("previous chain length")?;
        let content_type = ContentType::from_u8(r.u8("content type")?)?;
        let flags = Flags::from_bits(r.u32("header flags")?)?;
        let kem = match r.u8("KEM step presence")? {
            0 => None,
            1 => {
                let pk = r.bytes(mlkem::PUBLIC_KEY_LEN, "ratchet ML-KEM public key")?;
                let public_key =
                    MlKemPublicKey::from_bytes(pk).map_err(|source| WireError::Crypto {
                        what: "ratchet ML-KEM public key",
                        source,
                    })?;
                let ct = r.bytes(mlkem::CIPHERTEXT_LEN, "ratchet ML-KEM ciphertext")?;
                let ciphertext =
                    MlKemCiphertext::from_bytes(ct).map_err(|source| WireError::Crypto {
                        what: "ratchet ML-KEM ciphertext",
                        source,
                    })?;
                Some(KemStep {
                    public_key,
                    ciphertext,
                })
            }
            v => {
                return Err(WireError::UnknownVariant {
                    what: "KEM step presence",
                    value: u64::from(v),
                });
            }
        };
        r.finish("message header")?;
        Ok(Self {
            message_id,
            timestamp,
            sequence,
            ratchet_key,
            kem,
            counter,
            previous_chain_length,
            content_type,
            flags,
        })
    }
}

/// The cleartext part of an initial message: what the responder needs to derive the handshake
/// keys, and the encrypted [`HandshakePayload`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeHeader {
    /// Which of the responder's prekeys was used.
    pub prekey_id: u32,
    /// Hybrid encapsulation to the responder's identity encryption key.
    pub identity_ciphertext: HybridCiphertext,
    /// Hybrid encapsulation to the responder's prekey.
    pub prekey_ciphertext: HybridCiphertext,
    /// [`HandshakePayload`] sealed under the handshake payload key ([`HANDSHAKE_PAYLOAD_CT_LEN`]).
    pub payload: Vec<u8>,
}

impl HandshakeHeader {
    /// The handshake's identifier: `H("pars-handshake-v1/id" ‖ identity ct ‖ prekey ct)`. The
    /// responder's replay cache is keyed by it, and every initial message of one handshake
    /// carries the same one.
    pub fn id(&self) -> [u8; 32] {
        pars_crypto::sha3_256(&[
            labels::HANDSHAKE_ID,
            &self.identity_ciphertext.to_bytes(),
            &self.prekey_ciphertext.to_bytes(),
        ])
    }

    /// Canonical encoding ([`HANDSHAKE_HEADER_LEN`] bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(HANDSHAKE_HEADER_LEN);
        self.write(&mut w);
        w.into_vec()
    }

    /// Decodes a handshake header; the whole input must be the header.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let h = Self::read(&mut r)?;
        r.finish("handshake header")?;
        Ok(h)
    }

    fn write(&self, w: &mut Writer) {
        w.u32(self.prekey_id)
            .bytes(&self.identity_ciphertext.to_bytes())
            .bytes(&self.prekey_ciphertext.to_bytes())
            .bytes(&self.payload);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let prekey_id = r.u32("prekey ID")?;
        let identity_ciphertext = read_hybrid_ct(r, "identity-key ciphertext")?;
        let prekey_ciphertext = read_hybrid_ct(r, "prekey ciphertext")?;
        let payload = r
            .bytes(HANDSHAKE_PAYLOAD_CT_LEN, "handshake payload")?
            .to_vec();
        Ok(Self {
            prekey_id,
            identity_ciphertext,
            prekey_ciphertext,
            payload,
        })
    }
}

fn read_hybrid_ct(r: &mut Reader<'_>, what: &'static str) -> Result<HybridCiphertext, WireError> {
    let b = r.bytes(hybrid_kem::CIPHERTEXT_LEN, what)?;
    HybridCiphertext::from_bytes(b).map_err(|source| WireError::Crypto { what, source })
}

/// The initiator's encrypted introduction: who it is, its first ratchet keys, and its signature
/// over the handshake transcript. Only the responder can read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakePayload {
    /// The initiator's Session ID (its bundle must match it).
    pub initiator: SessionId,
    /// The initiator's identity bundle.
    pub bundle: IdentityBundle,
    /// The initiator's first ratchet X25519 public key.
    pub ratchet_key: X25519PublicKey,
    /// The initiator's first ratchet ML-KEM-1024 public key.
    pub ratchet_kem: MlKemPublicKey,
    /// Unix seconds (coarse) when the handshake was made.
    pub timestamp: u64,
    /// Hybrid signature (context `pars-handshake-sig-v1`) over the transcript.
    pub signature: HybridSignature,
}

impl HandshakePayload {
    /// Canonical encoding ([`HANDSHAKE_PAYLOAD_LEN`] bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(HANDSHAKE_PAYLOAD_LEN);
        w.bytes(self.initiator.as_bytes())
            .bytes(&self.bundle.to_bytes())
            .bytes(&self.ratchet_key.0)
            .bytes(self.ratchet_kem.as_bytes())
            .u64(self.timestamp)
            .bytes(&self.signature.to_bytes());
        w.into_vec()
    }

    /// Decodes a payload; the whole input must be the payload.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let id = r.bytes(SESSION_ID_LEN, "initiator Session ID")?;
        let initiator = SessionId::from_bytes(id).map_err(|_| WireError::Invalid {
            what: "initiator Session ID",
            reason: "does not start with 05",
        })?;
        let bundle = IdentityBundle::from_bytes(r.bytes(BUNDLE_LEN, "initiator bundle")?).map_err(
            |source| WireError::Crypto {
                what: "initiator bundle",
                source,
            },
        )?;
        let ratchet_key = X25519PublicKey(r.array("initiator ratchet key")?);
        let ratchet_kem =
            MlKemPublicKey::from_bytes(r.bytes(mlkem::PUBLIC_KEY_LEN, "initiator ratchet KEM")?)
                .map_err(|source| WireError::Crypto {
                    what: "initiator ratchet KEM",
                    source,
                })?;
        let timestamp = r.u64("handshake timestamp")?;
        let signature =
            HybridSignature::from_bytes(r.bytes(hybrid_sig::SIGNATURE_LEN, "handshake signature")?)
                .map_err(|source| WireError::Crypto {
                    what: "handshake signature",
                    source,
                })?;
        r.finish("handshake payload")?;
        Ok(Self {
            initiator,
            bundle,
            ratchet_key,
            ratchet_kem,
            timestamp,
            signature,
        })
    }
}

/// A session message as stored in the recipient's swarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionMessage {
    /// Present exactly when the message is [`MessageKind::Initial`].
    pub handshake: Option<HandshakeHeader>,
    /// The encrypted [`MessageHeader`] (`nonce ‖ ciphertext ‖ tag`), of the fixed size of the
    /// message kind.
    pub header: Vec<u8>,
    /// The body ciphertext: a padded [`MessageBody`] sealed under the message key.
    pub body: Vec<u8>,
}

impl SessionMessage {
    /// Initial or normal.
    pub fn kind(&self) -> MessageKind {
        if self.handshake.is_some() {
            MessageKind::Initial
        } else {
            MessageKind::Normal
        }
    }

    /// The encrypted header size for a message kind.
    pub fn header_len(kind: MessageKind) -> usize {
        match kind {
            MessageKind::Normal => ENCRYPTED_HEADER_LEN_NORMAL,
            MessageKind::Initial => ENCRYPTED_HEADER_LEN_INITIAL,
        }
    }

    /// Bytes a message of `kind` adds around its padded body: version, kind, the handshake (in
    /// an initial message), the encrypted header, the body length and the body's tag.
    pub const fn overhead(kind: MessageKind) -> usize {
        let (handshake, header) = match kind {
            MessageKind::Normal => (0, ENCRYPTED_HEADER_LEN_NORMAL),
            MessageKind::Initial => (HANDSHAKE_HEADER_LEN, ENCRYPTED_HEADER_LEN_INITIAL),
        };
        2 + handshake + header + 4 + aead::TAG_LEN
    }

    /// The largest unsigned content whose message of `kind` encodes to at most `max_len` bytes
    /// (0 when not even the smallest padding bucket fits).
    pub const fn max_content_len(kind: MessageKind, max_len: usize) -> usize {
        let room = max_len.saturating_sub(Self::overhead(kind));
        // The largest padding bucket that fits `room` (see `pars_crypto::padding`).
        let bucket = if room >= padding::MAX_PADDED_LEN {
            padding::MAX_PADDED_LEN
        } else if room >= padding::LINEAR_STEP {
            room / padding::LINEAR_STEP * padding::LINEAR_STEP
        } else if room >= padding::MIN_BUCKET {
            1 << (usize::BITS - 1 - room.leading_zeros())
        } else {
            return 0;
        };
        // Less the padding marker and the body's signature tag.
        bucket - 2
    }

    /// The bytes before the encrypted header (`version ‖ kind ‖ handshake`): the associated
    /// data of header encryption.
    pub fn header_ad(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(2 + HANDSHAKE_HEADER_LEN);
        w.u8(MESSAGE_VERSION).u8(self.kind() as u8);
        if let Some(h) = &self.handshake {
            h.write(&mut w);
        }
        w.into_vec()
    }

    /// The bytes before the body length (`header_ad ‖ encrypted header`): the associated data of
    /// body encryption.
    pub fn body_ad(&self) -> Vec<u8> {
        let mut v = self.header_ad();
        v.extend_from_slice(&self.header);
        v
    }

    /// Canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.body_ad();
        let mut w = Writer::with_capacity(4 + self.body.len());
        w.var32(&self.body);
        v.extend_from_slice(&w.into_vec());
        v
    }

    /// Decodes a message; the whole input must be the message. Checks every size (header by
    /// kind, body a padding bucket plus tag) but no cryptography.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("message version")?;
        if version != MESSAGE_VERSION {
            return Err(WireError::UnsupportedVersion {
                what: "session message",
                version,
            });
        }
        let kind = MessageKind::from_u8(r.u8("message kind")?)?;
        let handshake = match kind {
            MessageKind::Initial => Some(HandshakeHeader::read(&mut r)?),
            MessageKind::Normal => None,
        };
        let header = r
            .bytes(Self::header_len(kind), "encrypted header")?
            .to_vec();
        let body = r.var32(MAX_BODY_LEN, "message body")?.to_vec();
        if !is_sealed_bucket(body.len()) {
            return Err(WireError::Invalid {
                what: "message body",
                reason: "length is not a padding bucket plus the tag",
            });
        }
        r.finish("session message")?;
        Ok(Self {
            handshake,
            header,
            body,
        })
    }
}

fn is_sealed_bucket(len: usize) -> bool {
    len.checked_sub(aead::TAG_LEN + 1)
        .and_then(padding::bucket_for)
        .is_some_and(|b| b + aead::TAG_LEN == len)
        && len >= padding::MIN_BUCKET + aead::TAG_LEN
}

/// A signature carried inside a message body, for messages whose sender must be provable to a
/// third party (ARCHITECTURE §3.5): group admin operations (hybrid) and contract actions
/// (ML-DSA-87 only, as the EVM verifies). Ordinary messages carry none and stay deniable. What
/// is signed, under which context, is defined by the content type's layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageSignature {
    /// Ed25519 + ML-DSA-87 ([`hybrid_sig::SIGNATURE_LEN`] bytes).
    Hybrid(HybridSignature),
    /// ML-DSA-87 alone ([`mldsa::SIGNATURE_LEN`] bytes).
    MlDsa(MlDsaSignature),
}

/// The plaintext of a body before padding: `signature tag (1) ‖ [signature] ‖ content`.
///
/// The signature travels *inside* the encryption, not beside the ciphertext as the source
/// specification draws it: a signature in the clear would let anyone holding candidate public
/// keys (every swarm node can fetch bundles) test who sent a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody {
    /// Optional non-repudiable signature.
    pub signature: Option<MessageSignature>,
    /// The content, interpreted according to the header's content type.
    pub content: Vec<u8>,
}

impl MessageBody {
    /// Largest content that fits the largest padding bucket with the largest signature.
    pub const MAX_CONTENT_LEN: usize = padding::MAX_PLAINTEXT_LEN - 1 - hybrid_sig::SIGNATURE_LEN;

    /// Canonical encoding (unpadded).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(1 + hybrid_sig::SIGNATURE_LEN + self.content.len());
        match &self.signature {
            None => {
                w.u8(0);
            }
            Some(MessageSignature::Hybrid(s)) => {
                w.u8(1).bytes(&s.to_bytes());
            }
            Some(MessageSignature::MlDsa(s)) => {
                w.u8(2).bytes(s.as_bytes());
            }
        }
        w.bytes(&self.content);
        w.into_vec()
    }

    /// Decodes an unpadded body.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let signature = match r.u8("signature tag")? {
            0 => None,
            1 => Some(MessageSignature::Hybrid(
                HybridSignature::from_bytes(r.bytes(hybrid_sig::SIGNATURE_LEN, "signature")?)
                    .map_err(|source| WireError::Crypto {
                        what: "signature",
                        source,
                    })?,
            )),
            2 => Some(MessageSignature::MlDsa(
                MlDsaSignature::from_bytes(r.bytes(mldsa::SIGNATURE_LEN, "signature")?).map_err(
                    |source| WireError::Crypto {
                        what: "signature",
                        source,
                    },
                )?,
            )),
            v => {
                return Err(WireError::UnknownVariant {
                    what: "signature tag",
                    value: u64::from(v),
                });
            }
        };
        if r.remaining() > Self::MAX_CONTENT_LEN {
            return Err(WireError::TooLong {
                what: "message content",
                len: r.remaining(),
                max: Self::MAX_CONTENT_LEN,
            });
        }
        let content = r.rest().to_vec();
        Ok(Self { signature, content })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_add_up() {
        assert_eq!(HEADER_LEN_INITIAL, 78);
        assert_eq!(HEADER_LEN_NORMAL, 3214);
        assert_eq!(ENCRYPTED_HEADER_LEN_INITIAL, 118);
        assert_eq!(ENCRYPTED_HEADER_LEN_NORMAL, 3254);
        assert_eq!(HANDSHAKE_PAYLOAD_LEN, 16876);
        assert_eq!(HANDSHAKE_HEADER_LEN, 20096);
    }

    #[test]
    fn bucket_lengths() {
        assert!(is_sealed_bucket(256 + 16));
        assert!(is_sealed_bucket(1024 + 16));
        assert!(is_sealed_bucket(padding::MAX_PADDED_LEN + 16));
        assert!(!is_sealed_bucket(0));
        assert!(!is_sealed_bucket(16));
        assert!(!is_sealed_bucket(255 + 16));
        assert!(!is_sealed_bucket(257 + 16));
        assert!(!is_sealed_bucket(3 * 65536 / 2 + 16));
    }

    #[test]
    fn content_types_and_flags() {
        for t in ContentType::ALL {
            assert_eq!(ContentType::from_u8(t as u8).unwrap(), t);
        }
        assert!(ContentType::from_u8(0).is_err());
        assert!(ContentType::from_u8(9).is_err());
        assert!(Flags::from_bits(4).is_err());
        let f = Flags::REQUEST_READ_RECEIPT.with(Flags::REQUEST_DELIVERY_RECEIPT);
        assert_eq!(Flags::from_bits(f.bits()).unwrap(), f);
        assert!(f.contains(Flags::REQUEST_READ_RECEIPT));
        assert!(!Flags::NONE.contains(Flags::REQUEST_READ_RECEIPT));
        assert_eq!(coarse_timestamp(1_700_000_123), 1_699_999_800);
    }
}
