//! Typed identifiers. No raw byte array crosses a crate boundary where one of these is meant.

use crate::{Reader, WireError, Writer};
use std::fmt;
use std::str::FromStr;

macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident, $len:expr, $what:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// From raw bytes.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
                let arr: [u8; $len] = bytes.try_into().map_err(|_| WireError::Invalid {
                    what: $what,
                    reason: concat!("must be ", stringify!($len), " bytes"),
                })?;
                Ok(Self(arr))
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Reads it from a [`Reader`].
            pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
                Ok(Self(r.array($what)?))
            }

            /// Writes it to a [`Writer`].
            pub fn write(&self, w: &mut Writer) {
                w.bytes(&self.0);
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = WireError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let s = s.trim();
                if s.len() != 2 * $len {
                    return Err(WireError::Invalid {
                        what: $what,
                        reason: concat!("must be ", stringify!($len), " bytes of hex"),
                    });
                }
                let mut a = [0u8; $len];
                hex::decode_to_slice(s, &mut a).map_err(|_| WireError::Invalid {
                    what: $what,
                    reason: "not hex",
                })?;
                Ok(Self(a))
            }
        }
    };
}

hex_id!(
    /// A message's random 16-byte identifier (dedupe key end to end).
    MessageId, 16, "message ID"
);
hex_id!(
    /// A group's 32-byte identifier.
    GroupId, 32, "group ID"
);
hex_id!(
    /// A file's identifier: SHA3-256 of its encrypted content.
    FileId, 32, "file ID"
);
hex_id!(
    /// A sealed file chunk's identifier: SHA3-256 of its bytes (`pars_wire::file`), the
    /// address of the swarm mailbox that holds it.
    ChunkId, 32, "chunk ID"
);
hex_id!(
    /// A file transfer's random 16-byte identifier (local to one daemon).
    TransferId, 16, "transfer ID"
);
hex_id!(
    /// A service node's position in the node-ID space: SHA3-256 of its libp2p peer ID bytes.
    NodeId, 32, "node ID"
);

impl MessageId {
    /// A fresh random message ID.
    pub fn random(rng: &mut impl pars_crypto::CryptoRng) -> Self {
        Self(pars_crypto::random_array(rng))
    }
}

impl TransferId {
    /// A fresh random transfer ID.
    pub fn random(rng: &mut impl pars_crypto::CryptoRng) -> Self {
        Self(pars_crypto::random_array(rng))
    }
}

impl NodeId {
    /// The node ID of a libp2p peer ID (its multihash bytes).
    pub fn from_peer_id_bytes(peer_id: &[u8]) -> Self {
        Self(pars_crypto::sha3_256(&[peer_id]))
    }

    /// XOR distance to a 32-byte key (e.g. a Session ID digest): the swarm metric.
    pub fn distance(&self, key: &[u8; 32]) -> [u8; 32] {
        std::array::from_fn(|i| self.0[i] ^ key[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_round_trip() {
        let id = MessageId([0xab; 16]);
        assert_eq!(id.to_string().parse::<MessageId>().unwrap(), id);
        assert!("abc".parse::<MessageId>().is_err());
        assert!("zz".repeat(16).parse::<MessageId>().is_err());
        assert!(GroupId::from_bytes(&[0; 31]).is_err());
        let n = NodeId([1; 32]);
        assert_eq!(n.distance(&[1; 32]), [0; 32]);
    }
}
