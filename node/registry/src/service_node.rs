//! What a service node puts in the registry, derived from its node key, and how a registry entry
//! is checked against it.
//!
//! A service node has one long-term key: the libp2p Ed25519 key in `<datadir>/node_key`
//! ([`pars_net::identity`]). Its peer ID is derived from it, Noise authenticates it on every
//! connection, and it signs the node's record (addresses, the current onion keys, operator).
//! The registry entry pins exactly that key:
//!
//! | registry field | value | bytes |
//! |---|---|---|
//! | `peerId` | the peer ID (identity multihash of the protobuf-encoded Ed25519 key) | 38 |
//! | `onionKey` | the raw Ed25519 **identity** public key (see below) | 32 |
//! | `mldsaKeyHash` | SHA3-256 of the node's ML-DSA-87 public key, derived from the node key | 32 |
//! | `multiaddrs` | where the node listens, as text | 1–8 × ≤ 256 |
//! | `name` | the operator's free-form name | ≤ 64 |
//!
//! **`onionKey` holds the identity key, not an onion key.** Onion keys (X25519 + ML-KEM-768,
//! `pars-onion`) rotate every 24 hours; writing each one on chain would cost a transaction a day
//! per node and leave the chain's copy stale between rotations. Instead the node announces its
//! current onion keys in its node record, signed by the identity key, and the registry holds the
//! key that must have signed that record. [`RegistrySet`](crate::RegistrySet) checks that the
//! registered key is a valid Ed25519 key whose peer ID is the registered peer ID, and drops
//! entries where it is not; a record that is not signed by the registered key is rejected by
//! `pars-net`'s record verification, which checks the record's key against its peer ID.
//!
//! **The ML-DSA-87 key** of a service node is derived from its Ed25519 secret key: the seed
//! ξ = HKDF-SHA3-256(salt = [`SERVICE_NODE_SALT`], ikm = the 32-byte Ed25519 secret key,
//! info = [`SERVICE_NODE_MLDSA_LABEL`]), the key `ML-DSA.KeyGen_internal(ξ)` (FIPS 204). Nothing
//! else has to be stored or backed up, and the node can prove this post-quantum key later (the
//! registry comment's "node must prove the registered ML-DSA key") without a new registration.

use std::path::Path;

use libp2p::identity::{Keypair, PublicKey, ed25519};
use libp2p::{Multiaddr, PeerId};
use pars_crypto::SessionId;
use pars_crypto::mldsa::{MlDsaSigningKey, SEED_LEN};
use zeroize::Zeroize;

use crate::error::RegistryError;
use crate::operator::Registration;
use crate::types::{MldsaKeyHash, RegistryNodeId};

/// HKDF salt of the service node's derived keys (defined with every other label in
/// `pars_crypto::labels`).
pub const SERVICE_NODE_SALT: &[u8] = pars_crypto::labels::SERVICE_NODE_SALT;
/// HKDF info of the service node's ML-DSA-87 seed.
pub const SERVICE_NODE_MLDSA_LABEL: &[u8] = pars_crypto::labels::SERVICE_NODE_MLDSA;
/// Length of the identity key in the registry's `onionKey` field (a raw Ed25519 public key).
pub const IDENTITY_KEY_LEN: usize = 32;

/// A service node's registry identity, derived from its node key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceNodeIdentity {
    /// Its libp2p peer ID.
    pub peer_id: PeerId,
    /// The raw Ed25519 public key (what goes in the registry's `onionKey` field).
    pub identity_key: [u8; IDENTITY_KEY_LEN],
    /// SHA3-256 of its derived ML-DSA-87 public key.
    pub mldsa_key_hash: MldsaKeyHash,
}

impl ServiceNodeIdentity {
    /// The identity of the node whose key is `keypair` (Ed25519 only, as `pars-net` creates).
    pub fn from_keypair(keypair: &Keypair) -> Result<Self, RegistryError> {
        let ed = keypair.clone().try_into_ed25519().map_err(|_| {
            RegistryError::Config(
                "the node key is not an Ed25519 key; service nodes use the Ed25519 key sessiond creates"
                    .into(),
            )
        })?;
        let signing = service_node_mldsa_key(&ed);
        let mldsa_key_hash =
            MldsaKeyHash(SessionId::from_mldsa_public_key(&signing.public_key()).digest());
        Ok(Self {
            peer_id: keypair.public().to_peer_id(),
            identity_key: ed.public().to_bytes(),
            mldsa_key_hash,
        })
    }

    /// The identity of the node key in `datadir` (`<datadir>/node_key`), which must exist.
    pub fn load(datadir: &Path) -> Result<Self, RegistryError> {
        let path = datadir.join(pars_net::identity::NODE_KEY_FILE);
        if !path.is_file() {
            return Err(RegistryError::Config(format!(
                "no node key at {}: this data directory has never held a service node; pass the --datadir of the node (parsctl node register creates the key if needed)",
                path.display()
            )));
        }
        Self::load_or_create(datadir)
    }

    /// The identity of the node key in `datadir`, creating the key (mode 0600) if there is none,
    /// exactly as `sessiond` would at its first start.
    pub fn load_or_create(datadir: &Path) -> Result<Self, RegistryError> {
        let keypair = pars_net::identity::load_or_create_keypair(datadir)
            .map_err(|e| RegistryError::Config(format!("node key: {e}")))?;
        Self::from_keypair(&keypair)
    }

    /// The raw peer-ID bytes.
    pub fn peer_id_bytes(&self) -> Vec<u8> {
        self.peer_id.to_bytes()
    }

    /// The registry's key of this node.
    pub fn node_id(&self) -> RegistryNodeId {
        RegistryNodeId::of_peer_id(&self.peer_id.to_bytes())
    }

    /// What `register` sends for this node: its keys, `multiaddrs` and the operator `name`.
    /// Each multiaddr must parse and must not name another peer in a `/p2p/` part.
    pub fn registration(
        &self,
        multiaddrs: &[String],
        name: &str,
    ) -> Result<Registration, RegistryError> {
        let mut addrs = Vec::with_capacity(multiaddrs.len());
        for text in multiaddrs {
            let addr: Multiaddr = text
                .parse()
                .map_err(|e| RegistryError::Config(format!("{text:?} is not a multiaddr ({e})")))?;
            if let Some(other) = p2p_of(&addr)
                && other != self.peer_id
            {
                return Err(RegistryError::Config(format!(
                    "{text} names the peer {other}, but this node is {}",
                    self.peer_id
                )));
            }
            if is_unspecified(&addr) {
                return Err(RegistryError::Config(format!(
                    "{text} is a wildcard listen address; register the address other nodes reach this node at (e.g. /ip4/<public IP>/tcp/<port>)"
                )));
            }
            addrs.push(addr.to_string());
        }
        let r = Registration {
            peer_id: self.peer_id_bytes(),
            mldsa_key_hash: self.mldsa_key_hash,
            onion_key: self.identity_key.to_vec(),
            multiaddrs: addrs,
            name: name.to_owned(),
        };
        r.validate()?;
        Ok(r)
    }
}

/// The service node's ML-DSA-87 signing key, derived from its Ed25519 key (see the module doc).
pub fn service_node_mldsa_key(keypair: &ed25519::Keypair) -> MlDsaSigningKey {
    let secret = keypair.secret();
    let mut seed = [0u8; SEED_LEN];
    pars_crypto::kdf::hkdf_sha3(
        SERVICE_NODE_SALT,
        secret.as_ref(),
        &[SERVICE_NODE_MLDSA_LABEL],
        &mut seed,
    );
    let key = MlDsaSigningKey::from_seed(&seed);
    seed.zeroize();
    key
}

/// Why a registry entry cannot be used as a service node.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// The peer-ID bytes do not parse.
    #[error("its peer ID does not parse")]
    PeerId,
    /// The `onionKey` field is not a 32-byte Ed25519 key.
    #[error("its identity key (the onionKey field) is not a 32-byte Ed25519 public key")]
    IdentityKey,
    /// The identity key's peer ID is not the registered peer ID.
    #[error("its identity key belongs to peer {0}, not to the registered peer ID")]
    KeyMismatch(PeerId),
    /// No registered multiaddr is usable.
    #[error("none of its multiaddrs parses (or they name other peers)")]
    NoAddress,
}

/// Checks that `identity_key` (a registry `onionKey` field) is the Ed25519 key of the peer
/// `peer_id` (raw bytes), and returns the peer ID.
pub fn check_identity_key(peer_id: &[u8], identity_key: &[u8]) -> Result<PeerId, EntryError> {
    let peer = PeerId::from_bytes(peer_id).map_err(|_| EntryError::PeerId)?;
    if identity_key.len() != IDENTITY_KEY_LEN {
        return Err(EntryError::IdentityKey);
    }
    let key =
        ed25519::PublicKey::try_from_bytes(identity_key).map_err(|_| EntryError::IdentityKey)?;
    let owner = PublicKey::from(key).to_peer_id();
    if owner != peer {
        return Err(EntryError::KeyMismatch(owner));
    }
    Ok(peer)
}

/// The peer named by a multiaddr's `/p2p/…` part, if any.
pub(crate) fn p2p_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

fn is_unspecified(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        libp2p::multiaddr::Protocol::Ip4(ip) => ip.is_unspecified(),
        libp2p::multiaddr::Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use pars_error::HasKind;

    #[test]
    fn identity_is_derived_from_the_node_key_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ServiceNodeIdentity::load(dir.path()).is_err());
        let a = ServiceNodeIdentity::load_or_create(dir.path()).unwrap();
        let b = ServiceNodeIdentity::load(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.mldsa_key_hash.0, [0; 32]);
        assert_eq!(
            check_identity_key(&a.peer_id_bytes(), &a.identity_key),
            Ok(a.peer_id)
        );
        // Another key gives another ML-DSA key.
        let other = ServiceNodeIdentity::from_keypair(&Keypair::generate_ed25519()).unwrap();
        assert_ne!(other.mldsa_key_hash, a.mldsa_key_hash);
        assert_eq!(
            check_identity_key(&a.peer_id_bytes(), &other.identity_key),
            Err(EntryError::KeyMismatch(other.peer_id))
        );
        assert_eq!(
            check_identity_key(&a.peer_id_bytes(), &[1; 31]),
            Err(EntryError::IdentityKey)
        );
        assert_eq!(
            check_identity_key(b"junk", &a.identity_key),
            Err(EntryError::PeerId)
        );
    }

    #[test]
    fn derived_mldsa_key_is_fixed_for_a_fixed_node_key() {
        // A test vector: the node key from the 32-byte secret 0x01…01.
        let kp = Keypair::ed25519_from_bytes([1u8; 32]).unwrap();
        let id = ServiceNodeIdentity::from_keypair(&kp).unwrap();
        let again = ServiceNodeIdentity::from_keypair(&kp).unwrap();
        assert_eq!(id.mldsa_key_hash, again.mldsa_key_hash);
        let ed = kp.try_into_ed25519().unwrap();
        let pk = service_node_mldsa_key(&ed).public_key();
        assert_eq!(
            id.mldsa_key_hash.0,
            pars_crypto::sha3_256(&[pk.as_bytes().as_slice()])
        );
    }

    #[test]
    fn registration_checks_addresses() {
        let id = ServiceNodeIdentity::from_keypair(&Keypair::generate_ed25519()).unwrap();
        let r = id
            .registration(&["/ip4/127.0.0.1/tcp/9000".into()], "op")
            .unwrap();
        assert_eq!(r.onion_key, id.identity_key.to_vec());
        assert_eq!(r.peer_id, id.peer_id_bytes());
        assert_eq!(r.node_id(), id.node_id());
        let own = format!("/ip4/127.0.0.1/tcp/9000/p2p/{}", id.peer_id);
        assert!(id.registration(&[own], "op").is_ok());
        let other = format!(
            "/ip4/127.0.0.1/tcp/9000/p2p/{}",
            Keypair::generate_ed25519().public().to_peer_id()
        );
        for bad in [other, "/ip4/0.0.0.0/tcp/1".into(), "not an addr".into()] {
            let e = id
                .registration(std::slice::from_ref(&bad), "op")
                .unwrap_err();
            assert_eq!(e.kind(), pars_error::ErrorKind::Config, "{bad}: {e}");
        }
        assert!(matches!(
            id.registration(&[], "op").unwrap_err(),
            RegistryError::InvalidRegistration(_)
        ));
    }
}
