//! The Session ID: `0x05 ‖ SHA3-256(ML-DSA-87 public key)`, shown as 66 lowercase hex characters.

use crate::mldsa::MlDsaPublicKey;
use std::fmt;
use std::str::FromStr;

/// The version prefix byte of every Session ID.
pub const SESSION_ID_PREFIX: u8 = 0x05;
/// Session ID length in bytes (prefix + 32-byte digest).
pub const SESSION_ID_LEN: usize = 33;
/// The link scheme accepted by [`SessionId::from_str`].
pub const LINK_PREFIX: &str = "pars://session/";

/// A user's identifier. Derived from the ML-DSA-87 key, so it authenticates the identity bundle
/// that carries that key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId([u8; SESSION_ID_LEN]);

/// Why a string or byte string is not a Session ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionIdError {
    /// Nothing was given.
    #[error("Session ID is empty; expected 66 hex characters starting with 05")]
    Empty,
    /// Wrong number of hex characters.
    #[error("Session ID has {got} characters; expected 66 hex characters starting with 05")]
    WrongLength {
        /// Characters given.
        got: usize,
    },
    /// Wrong number of bytes.
    #[error("Session ID has {got} bytes; expected 33")]
    WrongByteLength {
        /// Bytes given.
        got: usize,
    },
    /// A character that is not a hex digit.
    #[error("Session ID has a non-hex character {ch:?} at position {position}")]
    NonHex {
        /// Zero-based character position (within the ID, after any link prefix).
        position: usize,
        /// The offending character.
        ch: char,
    },
    /// The first byte is not 0x05.
    #[error("Session ID must start with 05, not {prefix:02x}")]
    WrongPrefix {
        /// The prefix byte given.
        prefix: u8,
    },
    /// A link that is not `pars://session/<id>`.
    #[error("link must look like pars://session/05…, got a {scheme} link")]
    BadLink {
        /// The scheme or form that was given.
        scheme: String,
    },
}

impl SessionId {
    /// Derives the Session ID of an ML-DSA-87 public key.
    pub fn from_mldsa_public_key(pk: &MlDsaPublicKey) -> Self {
        Self::from_digest(crate::sha3_256(&[pk.as_bytes()]))
    }

    /// Builds the ID from its 32-byte digest (the form used on chain).
    pub fn from_digest(digest: [u8; 32]) -> Self {
        let mut b = [0u8; SESSION_ID_LEN];
        b[0] = SESSION_ID_PREFIX;
        b[1..].copy_from_slice(&digest);
        Self(b)
    }

    /// Parses the 33-byte binary form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SessionIdError> {
        let arr: [u8; SESSION_ID_LEN] = bytes
            .try_into()
            .map_err(|_| SessionIdError::WrongByteLength { got: bytes.len() })?;
        if arr[0] != SESSION_ID_PREFIX {
            return Err(SessionIdError::WrongPrefix { prefix: arr[0] });
        }
        Ok(Self(arr))
    }

    /// The 33-byte binary form.
    pub fn as_bytes(&self) -> &[u8; SESSION_ID_LEN] {
        &self.0
    }

    /// The 32-byte digest `SHA3-256(ML-DSA-87 public key)` (the Session ID without its prefix).
    pub fn digest(&self) -> [u8; 32] {
        let mut d = [0u8; 32];
        d.copy_from_slice(&self.0[1..]);
        d
    }

    /// Whether `pk` is the key this ID was derived from.
    pub fn matches(&self, pk: &MlDsaPublicKey) -> bool {
        *self == Self::from_mldsa_public_key(pk)
    }

    /// The shareable link, `pars://session/<id>`.
    pub fn to_link(&self) -> String {
        format!("{LINK_PREFIX}{self}")
    }

    /// A short form for logs and UIs (`05ab12…ef90`); never use it to identify.
    pub fn short(&self) -> String {
        let h = hex::encode(self.0);
        format!("{}…{}", &h[..6], &h[62..])
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

impl FromStr for SessionId {
    type Err = SessionIdError;

    /// Accepts 66 hex characters (either case, surrounding whitespace ignored) or a
    /// `pars://session/<id>` link.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let hex_part = if let Some(rest) = s.strip_prefix(LINK_PREFIX) {
            rest.trim_end_matches('/')
        } else if let Some(idx) = s.find("://") {
            return Err(SessionIdError::BadLink {
                scheme: s[..idx].chars().take(32).collect(),
            });
        } else if s.starts_with("pars:") {
            return Err(SessionIdError::BadLink {
                scheme: "pars:".into(),
            });
        } else {
            s
        };
        if hex_part.is_empty() {
            return Err(SessionIdError::Empty);
        }
        if let Some((position, ch)) = hex_part
            .chars()
            .enumerate()
            .find(|(_, c)| !c.is_ascii_hexdigit())
        {
            return Err(SessionIdError::NonHex { position, ch });
        }
        if hex_part.len() != 2 * SESSION_ID_LEN {
            return Err(SessionIdError::WrongLength {
                got: hex_part.chars().count(),
            });
        }
        let mut bytes = [0u8; SESSION_ID_LEN];
        hex::decode_to_slice(hex_part, &mut bytes).map_err(|_| SessionIdError::NonHex {
            position: 0,
            ch: '?',
        })?;
        Self::from_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ID: &str = "05a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

    #[test]
    fn parses_display_and_links() {
        let id: SessionId = ID.parse().unwrap();
        assert_eq!(id.to_string(), ID);
        assert_eq!(id.to_string().len(), 66);
        assert_eq!(id.to_link().parse::<SessionId>().unwrap(), id);
        assert_eq!(ID.to_uppercase().parse::<SessionId>().unwrap(), id);
        assert_eq!(format!("  {ID}\n").parse::<SessionId>().unwrap(), id);
        assert_eq!(SessionId::from_bytes(id.as_bytes()).unwrap(), id);
        assert_eq!(SessionId::from_digest(id.digest()), id);
    }

    #[test]
    fn precise_errors() {
        assert_eq!("".parse::<SessionId>(), Err(SessionIdError::Empty));
        assert_eq!(
            ID[..64].parse::<SessionId>(),
            Err(SessionIdError::WrongLength { got: 64 })
        );
        let bad = format!("06{}", &ID[2..]);
        assert_eq!(
            bad.parse::<SessionId>(),
            Err(SessionIdError::WrongPrefix { prefix: 6 })
        );
        let bad = format!("05g{}", &ID[3..]);
        assert_eq!(
            bad.parse::<SessionId>(),
            Err(SessionIdError::NonHex {
                position: 2,
                ch: 'g'
            })
        );
        assert!(matches!(
            format!("https://session/{ID}").parse::<SessionId>(),
            Err(SessionIdError::BadLink { .. })
        ));
        assert!(matches!(
            SessionId::from_bytes(&[5u8; 32]),
            Err(SessionIdError::WrongByteLength { got: 32 })
        ));
        // Multi-byte characters must not be sliced mid-character.
        assert!("05é".parse::<SessionId>().is_err());
    }

    proptest! {
        #[test]
        fn any_string_parses_or_errs(s in ".*") {
            let _ = s.parse::<SessionId>();
        }

        #[test]
        fn any_valid_digest_round_trips(d in proptest::array::uniform32(any::<u8>())) {
            let id = SessionId::from_digest(d);
            prop_assert_eq!(id.to_string().parse::<SessionId>().unwrap(), id);
            prop_assert_eq!(id.to_link().parse::<SessionId>().unwrap(), id);
        }

        #[test]
        fn near_misses_are_rejected(d in proptest::array::uniform32(any::<u8>()), cut in 0usize..66) {
            let s = SessionId::from_digest(d).to_string();
            prop_assert!(s[..cut].parse::<SessionId>().is_err());
        }
    }
}
