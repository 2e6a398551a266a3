//! Pars Session groups on MLS (RFC 9420, through `openmls`).
//!
//! What it is: the ciphersuite provider ([`provider`]: libcrux's HPKE with ML-KEM-1024 and
//! `pars-crypto`'s ML-DSA-87, AWS-LC's SHA-2 with a memo of tree-node digests, and an HPKE seal
//! that hashes a Welcome's group info once), openmls's storage as binary records with a
//! transaction log ([`storage`]), credentials bound to Session IDs ([`credential`]), and the
//! sans-IO group core ([`group`]): create, add, remove, update, send, receive, each returning
//! bytes for the caller to store in the group's mailbox.
//!
//! What it is not: transport (the daemon stores and retrieves over onion paths), persistence
//! (the caller writes [`Member::changes`] to the encrypted client store, in one transaction with
//! what the operation produced, then calls [`Member::commit`]; on failure, [`Member::rollback`]), or policy about
//! who may change the group (admins are the daemon's: MLS lets any member commit).

// Linked for its feature only: ML-KEM KEMs in libcrux's HPKE (see the workspace Cargo.toml).
use hpke_rs_libcrux as _;

mod codec;
pub mod credential;
pub mod error;
pub mod group;
mod hpke;
mod memo;
pub mod provider;
mod records;
pub mod storage;

pub use credential::{IdentitySigner, bound_session_id};
pub use error::GroupError;
pub use group::{Commit, Group, MAX_PAST_EPOCHS, Member, Received};
pub use provider::{ParsMls, ParsMlsCrypto, SUITE};
pub use records::{Changes, StorageBroken};
pub use storage::{ParsStorage, StorageError};
