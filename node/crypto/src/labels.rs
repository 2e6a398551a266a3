//! Every domain-separation label of the protocol, in one place.
//!
//! A label names exactly one use. Adding a use means adding a label here and to
//! `docs/protocol.md`; reusing a label for a second purpose is a protocol bug.

/// HKDF info prefix for deriving the ML-KEM-1024 `(d, z)` seed (64 bytes) from the master seed.
pub const IDENTITY_MLKEM: &[u8] = b"pars-identity-v1/ml-kem-1024";
/// HKDF info prefix for deriving the ML-DSA-87 `xi` seed (32 bytes) from the master seed.
pub const IDENTITY_MLDSA: &[u8] = b"pars-identity-v1/ml-dsa-87";
/// HKDF info prefix for deriving the X25519 secret (32 bytes) from the master seed.
pub const IDENTITY_X25519: &[u8] = b"pars-identity-v1/x25519";
/// HKDF info prefix for deriving the Ed25519 secret (32 bytes) from the master seed.
pub const IDENTITY_ED25519: &[u8] = b"pars-identity-v1/ed25519";
/// HKDF salt for all identity derivations from the master seed.
pub const IDENTITY_SALT: &[u8] = b"pars-identity-v1";

/// Hybrid-KEM combiner label for the session handshake.
pub const HANDSHAKE: &[u8] = b"pars-handshake-v1";
/// Hybrid combiner label for the double ratchet's root KDF (the specification's label).
pub const RATCHET: &[u8] = b"pars-ratchet-v1";
/// Hybrid-KEM combiner label for onion layers.
pub const ONION: &[u8] = b"pars-onion-v1";
/// HKDF salt deriving a reply block's end-to-end keys from its random seed.
pub const ONION_REPLY_KEYS: &[u8] = b"pars-onion-v1/reply-keys";
/// HKDF salt of the handshake key schedule (payload key, first root, chain and header keys).
pub const HANDSHAKE_KEYS: &[u8] = b"pars-handshake-v1/keys";
/// Domain of a handshake's identifier (the responder's replay-cache key).
pub const HANDSHAKE_ID: &[u8] = b"pars-handshake-v1/id";
/// HKDF info of the ratchet's root KDF (new root key, chain key, next header key).
pub const RATCHET_ROOT: &[u8] = b"pars-ratchet-v1/root";
/// HKDF salt of the ratchet's symmetric chain step (next chain key, message key).
pub const RATCHET_CHAIN: &[u8] = b"pars-ratchet-v1/chain";

/// Hash prefix of the message ID both ends derive from a message's encrypted header.
pub const MESSAGE_ID: &[u8] = b"pars-message-id-v1";
/// Hash prefix of the conversation ID of two Session IDs.
pub const CONVERSATION_ID: &[u8] = b"pars-conversation-v1";
/// HKDF info deriving the key-encryption key of the client store from a key file.
pub const STORE_KEYFILE: &[u8] = b"pars-store-v1/keyfile";
/// HKDF info deriving the client store's value-encryption key from its master key.
pub const STORE_DATA: &[u8] = b"pars-store-v1/data";
/// HKDF info deriving the client store's index (keyed-hash) key from its master key.
pub const STORE_INDEX: &[u8] = b"pars-store-v1/index";
/// Associated-data prefix of every encrypted client-store value.
pub const STORE_AAD: &[u8] = b"pars-store-v1/value";
/// HKDF salt of a service node's keys derived from its libp2p Ed25519 node key.
pub const SERVICE_NODE_SALT: &[u8] = b"pars-service-node-v1";
/// HKDF info deriving a service node's ML-DSA-87 seed (its registry `mldsaKeyHash`).
pub const SERVICE_NODE_MLDSA: &[u8] = b"pars-service-node-v1/ml-dsa-87";

/// Signature context (FIPS 204 `ctx`, and the Ed25519 domain prefix) for identity bundles.
pub const SIG_BUNDLE: &[u8] = b"pars-bundle-v1";
/// Signature context for a handshake request's transcript signature.
pub const SIG_HANDSHAKE: &[u8] = b"pars-handshake-sig-v1";
/// Signature context (FIPS 204 `ctx`) of a group owner key's access record: which member
/// token a group mailbox takes from which generation on (`pars_wire::swarm::GroupAccess`).
/// Membership changes themselves are MLS commits signed under [`SIG_MLS`].
pub const SIG_GROUP_ADMIN: &[u8] = b"pars-group-admin-v1";
/// Hash domain of a group mailbox access token: a record names SHA3-256(label ‖ token).
pub const GROUP_ACCESS: &[u8] = b"pars-group-access-v1";
/// MLS exporter label of the group mailbox access token (32 bytes, the group ID as context),
/// taken in the epoch of the membership change that made it.
pub const GROUP_ACCESS_TOKEN: &[u8] = b"pars-group-access-v1/token";
/// HKDF salt and info of a file's chunk key, from its random file key
/// (`pars_wire::file::ChunkSealer`).
pub const FILE_CHUNK_KEY: &[u8] = b"pars-file-v1/chunk-key";
/// Signature context (FIPS 204 `ctx`) of every MLS signature (leaf nodes, key packages,
/// commits, group messages): the MLS signature key of a group member is its identity key.
pub const SIG_MLS: &[u8] = b"pars-mls-v1";
/// Signature context for service-node records and onion keys.
pub const SIG_NODE_RECORD: &[u8] = b"pars-node-record-v1";
/// Signature context (FIPS 204 `ctx`) of a mailbox owner's authorisation of a swarm request
/// (retrieve, delete, expire): see `pars_wire::swarm::OwnerAuth`.
pub const SIG_MAILBOX_AUTH: &[u8] = b"pars-mailbox-auth-v1";
/// Signature context of a service node's onion-key announcement.
pub const SIG_ONION_KEY: &[u8] = b"pars-onion-key-v1";
/// FIPS 204 context of the Lux ML-DSA precompile (used for contract actions).
pub const SIG_LUX_PRECOMPILE: &[u8] = b"lux-evm-precompile-mldsa-v1";

/// Domain prefix of the Ed25519 half of a hybrid signature (Ed25519 has no context parameter, so
/// the context is bound into the signed bytes: `prefix ‖ len(ctx) ‖ ctx ‖ msg`).
pub const ED25519_DOMAIN: &[u8] = b"pars-ed25519-ctx-v1";

/// All labels with their names, for documentation and uniqueness tests.
pub const ALL: &[(&str, &[u8])] = &[
    ("IDENTITY_MLKEM", IDENTITY_MLKEM),
    ("IDENTITY_MLDSA", IDENTITY_MLDSA),
    ("IDENTITY_X25519", IDENTITY_X25519),
    ("IDENTITY_ED25519", IDENTITY_ED25519),
    ("IDENTITY_SALT", IDENTITY_SALT),
    ("HANDSHAKE", HANDSHAKE),
    ("RATCHET", RATCHET),
    ("ONION", ONION),
    ("ONION_REPLY_KEYS", ONION_REPLY_KEYS),
    ("HANDSHAKE_KEYS", HANDSHAKE_KEYS),
    ("HANDSHAKE_ID", HANDSHAKE_ID),
    ("RATCHET_ROOT", RATCHET_ROOT),
    ("RATCHET_CHAIN", RATCHET_CHAIN),
    ("MESSAGE_ID", MESSAGE_ID),
    ("CONVERSATION_ID", CONVERSATION_ID),
    ("STORE_KEYFILE", STORE_KEYFILE),
    ("STORE_DATA", STORE_DATA),
    ("STORE_INDEX", STORE_INDEX),
    ("STORE_AAD", STORE_AAD),
    ("SERVICE_NODE_SALT", SERVICE_NODE_SALT),
    ("SERVICE_NODE_MLDSA", SERVICE_NODE_MLDSA),
    ("SIG_BUNDLE", SIG_BUNDLE),
    ("SIG_HANDSHAKE", SIG_HANDSHAKE),
    ("SIG_GROUP_ADMIN", SIG_GROUP_ADMIN),
    ("GROUP_ACCESS", GROUP_ACCESS),
    ("GROUP_ACCESS_TOKEN", GROUP_ACCESS_TOKEN),
    ("SIG_NODE_RECORD", SIG_NODE_RECORD),
    ("SIG_MAILBOX_AUTH", SIG_MAILBOX_AUTH),
    ("SIG_ONION_KEY", SIG_ONION_KEY),
    ("SIG_LUX_PRECOMPILE", SIG_LUX_PRECOMPILE),
    ("ED25519_DOMAIN", ED25519_DOMAIN),
];

#[cfg(test)]
mod tests {
    #[test]
    fn labels_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (name, label) in super::ALL {
            assert!(seen.insert(*label), "label {name} is used twice");
            assert!(
                label.len() <= 255,
                "label {name} too long for a FIPS 204 context"
            );
        }
    }
}
