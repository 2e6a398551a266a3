//! Who may use a group's mailbox: the members' access token ([`AccessToken`]) and the record
//! by which the group's owner key tells the swarm which token is current ([`GroupAccess`]).
//!
//! A group mailbox ([`Mailbox::Group`](super::Mailbox::Group)) takes stores and retrieves only
//! with a member's token ([`SwarmRequest::GroupStore`](super::SwarmRequest::GroupStore),
//! [`SwarmRequest::GroupRetrieve`](super::SwarmRequest::GroupRetrieve)). The token is a
//! 32-byte secret every member derives from the MLS epoch that last changed the membership, so
//! a removed member does not have the new one. The swarm never sees a token's value before it
//! is used: it holds the records, each naming a generation (the MLS epoch of the change) and
//! the SHA3-256 of the token under [`labels::GROUP_ACCESS`], signed with the group's owner key
//! (`GroupId = SHA3-256(owner public key)`) under [`labels::SIG_GROUP_ADMIN`]. Records live in
//! the group's [`Mailbox::GroupAccess`](super::Mailbox::GroupAccess) mailbox, in the same swarm,
//! so that replication and hand-off carry them like any message.
//!
//! The newest record's token stores and retrieves; an older record's token retrieves only what
//! the node stored before the next record arrived, so that a member offline across changes
//! still fetches the commits it missed, one generation at a time, and a removed member reads
//! nothing stored after its removal.
//!
//! Layout of a record (7,300 bytes):
//!
//! | field | bytes |
//! |---|---|
//! | version ([`GROUP_ACCESS_VERSION`]) | 1 |
//! | group ID | 32 |
//! | generation | 8 |
//! | token hash | 32 |
//! | issued at, Unix ms | 8 |
//! | owner ML-DSA-87 public key | 2,592 |
//! | signature over the first 81 bytes | 4,627 |

use crate::{GroupId, Reader, WireError, Writer};
use pars_crypto::mldsa::{self, MlDsaPublicKey, MlDsaSignature, MlDsaSigningKey};
use pars_crypto::{CryptoError, CryptoRng, labels, sha3_256};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Version byte of a [`GroupAccess`] record.
pub const GROUP_ACCESS_VERSION: u8 = 1;
/// Bytes of a member access token.
pub const ACCESS_TOKEN_LEN: usize = 32;
/// Bytes of the signed part of a [`GroupAccess`] record.
pub const GROUP_ACCESS_SIGNED_LEN: usize = 1 + 32 + 8 + 32 + 8;
/// Bytes of an encoded [`GroupAccess`] record: 7,300.
pub const GROUP_ACCESS_LEN: usize =
    GROUP_ACCESS_SIGNED_LEN + mldsa::PUBLIC_KEY_LEN + mldsa::SIGNATURE_LEN;
/// Most access records a node keeps per group (older ones are not read): a member offline
/// across more membership changes than this must be added again.
pub const MAX_ACCESS_GENERATIONS: usize = 64;

/// A member's access token for a group mailbox (secret: wiped on drop, never printed).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct AccessToken(pub [u8; ACCESS_TOKEN_LEN]);

impl AccessToken {
    /// What an access record names: SHA3-256(`GROUP_ACCESS` ‖ token).
    pub fn hash(&self) -> [u8; 32] {
        sha3_256(&[labels::GROUP_ACCESS, &self.0])
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(..)")
    }
}

/// The owner's statement that from `generation` on, the token hashing to `token_hash` is the
/// group mailbox's access token.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GroupAccess {
    /// The group (SHA3-256 of `owner_key`).
    pub group: GroupId,
    /// The MLS epoch of the membership change that made the token; grows with each record.
    pub generation: u64,
    /// [`AccessToken::hash`] of the token.
    pub token_hash: [u8; 32],
    /// When the owner signed it, Unix milliseconds.
    pub issued_ms: u64,
    /// The group's owner key.
    pub owner_key: MlDsaPublicKey,
    /// ML-DSA-87 over the signed part, context [`labels::SIG_GROUP_ADMIN`].
    pub signature: MlDsaSignature,
}

fn signed_part(group: &GroupId, generation: u64, token_hash: &[u8; 32], issued_ms: u64) -> Vec<u8> {
    let mut w = Writer::with_capacity(GROUP_ACCESS_SIGNED_LEN);
    w.u8(GROUP_ACCESS_VERSION)
        .bytes(&group.0)
        .u64(generation)
        .bytes(token_hash)
        .u64(issued_ms);
    w.into_vec()
}

impl GroupAccess {
    /// The group ID an owner key stands for.
    pub fn group_of(owner_key: &MlDsaPublicKey) -> GroupId {
        GroupId(sha3_256(&[owner_key.as_bytes()]))
    }

    /// Signs a record for `token` at `generation` with the group's owner key.
    pub fn sign(
        owner: &MlDsaSigningKey,
        generation: u64,
        token: &AccessToken,
        issued_ms: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Self, CryptoError> {
        let owner_key = owner.public_key();
        let group = Self::group_of(&owner_key);
        let token_hash = token.hash();
        let msg = signed_part(&group, generation, &token_hash, issued_ms);
        let signature = owner.sign(labels::SIG_GROUP_ADMIN, &msg, rng)?;
        Ok(Self {
            group,
            generation,
            token_hash,
            issued_ms,
            owner_key,
            signature,
        })
    }

    /// Checks that the key is the group's owner key and that it signed the record.
    pub fn verify(&self) -> Result<(), WireError> {
        if Self::group_of(&self.owner_key) != self.group {
            return Err(WireError::Invalid {
                what: "group access record",
                reason: "the key is not the group's owner key",
            });
        }
        let msg = self.signed();
        self.owner_key
            .verify(labels::SIG_GROUP_ADMIN, &msg, &self.signature)
            .map_err(|source| WireError::Crypto {
                what: "group access signature",
                source,
            })
    }

    /// The signed part (the first [`GROUP_ACCESS_SIGNED_LEN`] bytes of the encoding).
    fn signed(&self) -> Vec<u8> {
        signed_part(
            &self.group,
            self.generation,
            &self.token_hash,
            self.issued_ms,
        )
    }

    /// Whether `token` is the one this record names.
    pub fn admits(&self, token: &AccessToken) -> bool {
        token.hash() == self.token_hash
    }

    /// Encodes the record ([`GROUP_ACCESS_LEN`] bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(GROUP_ACCESS_LEN);
        w.bytes(&self.signed())
            .bytes(self.owner_key.as_bytes())
            .bytes(self.signature.as_bytes());
        w.into_vec()
    }

    /// Decodes a record (the signature is not checked: [`Self::verify`]). Total.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        match r.u8("group access version")? {
            GROUP_ACCESS_VERSION => {}
            version => {
                return Err(WireError::UnsupportedVersion {
                    what: "group access record",
                    version,
                });
            }
        }
        let group = GroupId(r.array("group access group")?);
        let generation = r.u64("group access generation")?;
        let token_hash = r.array("group access token hash")?;
        let issued_ms = r.u64("group access issue time")?;
        let owner_key =
            MlDsaPublicKey::from_bytes(r.bytes(mldsa::PUBLIC_KEY_LEN, "group owner key")?)
                .map_err(|source| WireError::Crypto {
                    what: "group owner key",
                    source,
                })?;
        let signature =
            MlDsaSignature::from_bytes(r.bytes(mldsa::SIGNATURE_LEN, "group access signature")?)
                .map_err(|source| WireError::Crypto {
                    what: "group access signature",
                    source,
                })?;
        r.finish("group access record")?;
        Ok(Self {
            group,
            generation,
            token_hash,
            issued_ms,
            owner_key,
            signature,
        })
    }
}

/// The generation and token hash of an encoded record, read without parsing the key or
/// checking the signature (a node checks both when it stores the record, then reads only
/// these on every group request).
pub fn peek_access(bytes: &[u8]) -> Option<(u64, [u8; 32])> {
    if bytes.len() != GROUP_ACCESS_LEN || bytes[0] != GROUP_ACCESS_VERSION {
        return None;
    }
    let generation = u64::from_be_bytes(bytes.get(33..41)?.try_into().ok()?);
    let hash: [u8; 32] = bytes.get(41..73)?.try_into().ok()?;
    Some((generation, hash))
}
