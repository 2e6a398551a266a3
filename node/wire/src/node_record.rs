//! The signed node record a service node publishes (in the Kademlia DHT under its peer ID, and
//! on request over the swarm protocol).
//!
//! ```text
//! version (1) = 1
//! peer_id      var16 (≤ 64)       libp2p peer ID bytes (multihash)
//! public_key   var16 (≤ 64)       libp2p protobuf encoding of the node's Ed25519 key
//! addrs        u8 count (≤ 16) × var16 (≤ 256)   multiaddr bytes
//! onion_keys   var16 (≤ 8192)     the node's current onion public keys (format owned by pars-onion)
//! operator     var16 (≤ 128)      UTF-8
//! software     var16 (≤ 64)       UTF-8, e.g. "pars-net/0.1.0"
//! issued_at_ms u64
//! signature    var16 (≤ 128)      Ed25519 by the node's libp2p key over
//!                                 SIG_NODE_RECORD ‖ every field above, encoded
//! ```
//!
//! This crate does not know libp2p, so it defines the bytes and the signed message; `pars-net`
//! signs and verifies (the key must match the peer ID, the signature must verify).

use crate::{Reader, WireError, Writer};
use pars_crypto::labels;

/// Format version.
pub const NODE_RECORD_VERSION: u8 = 1;
/// Maximum peer-ID length.
pub const MAX_PEER_ID_LEN: usize = 64;
/// Maximum encoded public-key length.
pub const MAX_PUBLIC_KEY_LEN: usize = 64;
/// Maximum number of addresses.
pub const MAX_ADDRS: usize = 16;
/// Maximum multiaddr length.
pub const MAX_ADDR_LEN: usize = 256;
/// Maximum length of the onion-keys field.
pub const MAX_ONION_KEYS_LEN: usize = 8192;
/// Maximum operator length.
pub const MAX_OPERATOR_LEN: usize = 128;
/// Maximum software-version length.
pub const MAX_SOFTWARE_LEN: usize = 64;
/// Maximum signature length.
pub const MAX_SIGNATURE_LEN: usize = 128;

/// A node record.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NodeRecord {
    /// libp2p peer ID bytes.
    pub peer_id: Vec<u8>,
    /// libp2p protobuf-encoded public key (must hash to `peer_id`).
    pub public_key: Vec<u8>,
    /// Listen addresses (multiaddr bytes).
    pub addrs: Vec<Vec<u8>>,
    /// Current onion public keys; opaque here, defined by the onion layer.
    pub onion_keys: Vec<u8>,
    /// Operator name or contact.
    pub operator: String,
    /// Software name and version.
    pub software: String,
    /// When the record was signed, Unix milliseconds.
    pub issued_at_ms: u64,
    /// Signature over [`NodeRecord::signed_bytes`].
    pub signature: Vec<u8>,
}

fn check(what: &'static str, len: usize, max: usize) -> Result<(), WireError> {
    if len > max {
        return Err(WireError::TooLong { what, len, max });
    }
    Ok(())
}

fn utf8(bytes: &[u8], what: &'static str) -> Result<String, WireError> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| WireError::Invalid {
            what,
            reason: "not UTF-8",
        })
}

impl NodeRecord {
    /// Checks every field against its maximum (encoders call this before writing).
    pub fn validate(&self) -> Result<(), WireError> {
        check("peer ID", self.peer_id.len(), MAX_PEER_ID_LEN)?;
        check("public key", self.public_key.len(), MAX_PUBLIC_KEY_LEN)?;
        check("address list", self.addrs.len(), MAX_ADDRS)?;
        for a in &self.addrs {
            check("address", a.len(), MAX_ADDR_LEN)?;
        }
        check("onion keys", self.onion_keys.len(), MAX_ONION_KEYS_LEN)?;
        check("operator", self.operator.len(), MAX_OPERATOR_LEN)?;
        check("software", self.software.len(), MAX_SOFTWARE_LEN)?;
        check("signature", self.signature.len(), MAX_SIGNATURE_LEN)
    }

    fn write_unsigned(&self, w: &mut Writer) {
        w.u8(NODE_RECORD_VERSION)
            .var16(&self.peer_id)
            .var16(&self.public_key)
            .u8(u8::try_from(self.addrs.len()).unwrap_or(u8::MAX));
        for a in self.addrs.iter().take(usize::from(u8::MAX)) {
            w.var16(a);
        }
        w.var16(&self.onion_keys)
            .var16(self.operator.as_bytes())
            .var16(self.software.as_bytes())
            .u64(self.issued_at_ms);
    }

    /// The message the node signs: `SIG_NODE_RECORD ‖ encoding without the signature`.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(labels::SIG_NODE_RECORD);
        self.write_unsigned(&mut w);
        w.into_vec()
    }

    /// Encodes the record; fails if a field is over its maximum.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        self.validate()?;
        let mut w = Writer::new();
        self.write_unsigned(&mut w);
        w.var16(&self.signature);
        Ok(w.into_vec())
    }

    /// Decodes a record (the signature is not checked here). Total.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        match r.u8("node record version")? {
            NODE_RECORD_VERSION => {}
            version => {
                return Err(WireError::UnsupportedVersion {
                    what: "node record",
                    version,
                });
            }
        }
        let peer_id = r.var16(MAX_PEER_ID_LEN, "peer ID")?.to_vec();
        let public_key = r.var16(MAX_PUBLIC_KEY_LEN, "public key")?.to_vec();
        let n = usize::from(r.u8("address count")?);
        check("address list", n, MAX_ADDRS)?;
        let addrs = (0..n)
            .map(|_| r.var16(MAX_ADDR_LEN, "address").map(<[u8]>::to_vec))
            .collect::<Result<_, _>>()?;
        let onion_keys = r.var16(MAX_ONION_KEYS_LEN, "onion keys")?.to_vec();
        let operator = utf8(r.var16(MAX_OPERATOR_LEN, "operator")?, "operator")?;
        let software = utf8(r.var16(MAX_SOFTWARE_LEN, "software")?, "software")?;
        let issued_at_ms = r.u64("issued at")?;
        let signature = r.var16(MAX_SIGNATURE_LEN, "signature")?.to_vec();
        r.finish("node record")?;
        Ok(Self {
            peer_id,
            public_key,
            addrs,
            onion_keys,
            operator,
            software,
            issued_at_ms,
            signature,
        })
    }
}
