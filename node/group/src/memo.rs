//! Hashing for openmls. Almost all of it is tree hashing: openmls 0.9 recomputes the hash of
//! the whole ratchet tree (every leaf holds about 9 KB of ML-KEM and ML-DSA keys and a
//! signature) two to three times for every commit it makes or processes. Two things make that
//! cheaper, with the same results:
//!
//! - SHA-2 by AWS-LC (assembly, about 1.8 times libcrux's portable SHA-512 here);
//! - a memo of the digests of inputs of 1 KiB or more (leaf and parent nodes), keyed by the
//!   SHA-256 of the input, which this CPU computes with its SHA extensions at about 2.5 times
//!   the speed of SHA-512: a node that did not change since it was last hashed costs that
//!   SHA-256 only. The key is collision-resistant, so a digest can only be found for its own
//!   input. The memo is shared by the process (a member restored from storage starts warm)
//!   and bounded: two generations of [`GENERATION`] entries (about 9 MB each).

use aws_lc_rs::digest::{self, SHA256, SHA384, SHA512};
use openmls_traits::types::HashType;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// Inputs shorter than this are hashed directly (a SHA-256 would cost about as much).
pub(crate) const MIN_INPUT: usize = 1024;
/// Entries per generation.
pub(crate) const GENERATION: usize = 1 << 16;

#[derive(Default)]
struct Memo {
    current: HashMap<[u8; 32], Vec<u8>>,
    previous: HashMap<[u8; 32], Vec<u8>>,
}

static MEMO: LazyLock<Mutex<Memo>> = LazyLock::new(Mutex::default);

fn algorithm(hash_type: HashType) -> &'static digest::Algorithm {
    match hash_type {
        HashType::Sha2_256 => &SHA256,
        HashType::Sha2_384 => &SHA384,
        HashType::Sha2_512 => &SHA512,
    }
}

/// The digest of `data`, not memoised.
pub(crate) fn direct(hash_type: HashType, data: &[u8]) -> Vec<u8> {
    digest::digest(algorithm(hash_type), data).as_ref().to_vec()
}

/// The digest of `data`, from the memo when it holds it.
pub(crate) fn hash(hash_type: HashType, data: &[u8]) -> Vec<u8> {
    if data.len() < MIN_INPUT {
        return direct(hash_type, data);
    }
    let mut ctx = digest::Context::new(&SHA256);
    ctx.update(&[hash_type as u8]);
    ctx.update(data);
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    // A poisoned memo is only bypassed: it holds nothing that needs repair.
    if let Ok(mut memo) = MEMO.lock() {
        if let Some(d) = memo.current.get(&key) {
            return d.clone();
        }
        if let Some(d) = memo.previous.remove(&key) {
            memo.current.insert(key, d.clone());
            return d;
        }
    }
    let d = direct(hash_type, data);
    if let Ok(mut memo) = MEMO.lock() {
        if memo.current.len() >= GENERATION {
            memo.previous = std::mem::take(&mut memo.current);
        }
        memo.current.insert(key, d.clone());
    }
    d
}

/// The number of entries held (both generations).
#[cfg(test)]
pub(crate) fn len() -> usize {
    MEMO.lock()
        .map(|m| m.current.len() + m.previous.len())
        .unwrap_or(0)
}
