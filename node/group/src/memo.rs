//! Hashing for openmls. Almost all of it is tree hashing: openmls 0.9 keeps no tree hashes
//! between operations and recomputes the hash of the whole ratchet tree three times for every
//! commit it makes or processes (the copath's tree hashes for the parent hashes of the new path,
//! the new group context's tree hash, and the staged diff's), over leaves of about 9 KB each
//! (ML-KEM-1024 and ML-DSA-87 public keys and an ML-DSA-87 signature): 90 MB of SHA-512 per
//! pass at 10,000 members. Two things make that cheaper, with the same results:
//!
//! - SHA-2 by AWS-LC (assembly, about 1.8 times libcrux's portable SHA-512 here);
//! - a memo of the digests of inputs of [`MIN_INPUT`] bytes or more (leaf and parent nodes):
//!   an input whose digest is held is found by a fingerprint of its length and its first and
//!   last bytes, then compared **in full** with the input the digest was computed from, so a
//!   digest is only ever returned for its own input, whatever the fingerprint collides with. A
//!   node that did not change since it was last hashed then costs one `memcmp` (about a tenth
//!   of a SHA-256 with the SHA extensions, a twentieth of a SHA-512), not a hash.
//!
//! The memo is shared by the process (a member restored from storage starts warm, and two
//! members of one group share their entries) and bounded: two generations of at most
//! [`GENERATION_BYTES`] of inputs each; an entry found in the older one moves to the newer,
//! and the older is dropped when the newer fills up. The inputs are public tree nodes (keys,
//! signatures, hashes); no secret reaches `hash` in openmls (secrets go through HKDF).

use aws_lc_rs::digest::{self, SHA256, SHA384, SHA512};
use openmls_traits::types::HashType;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::{LazyLock, Mutex};

/// Inputs shorter than this are hashed directly (the memo would save little).
pub(crate) const MIN_INPUT: usize = 1024;
/// The bytes of inputs held by one generation: a 10,000-member tree's nodes take about 110 MB.
pub(crate) const GENERATION_BYTES: usize = 160 << 20;
/// Bytes of the start and of the end of an input in its fingerprint: the end of a leaf's input
/// is its signature, the end of a parent's its children's tree hashes.
const HEAD: usize = 16;
const TAIL: usize = 160;
/// Inputs held under one fingerprint (more is either chance or forgery: the oldest goes).
const BUCKET: usize = 4;

struct Entry {
    hash_type: u8,
    input: Box<[u8]>,
    digest: Box<[u8]>,
}

#[derive(Default)]
struct Generation {
    entries: HashMap<u64, Vec<Entry>>,
    bytes: usize,
}

impl Generation {
    /// Takes the entry for `data` out of this generation.
    fn take(&mut self, fingerprint: u64, hash_type: u8, data: &[u8]) -> Option<Entry> {
        let bucket = self.entries.get_mut(&fingerprint)?;
        let at = bucket
            .iter()
            .position(|e| e.hash_type == hash_type && *e.input == *data)?;
        let entry = bucket.swap_remove(at);
        if bucket.is_empty() {
            self.entries.remove(&fingerprint);
        }
        self.bytes = self.bytes.saturating_sub(entry.input.len());
        Some(entry)
    }

    fn insert(&mut self, fingerprint: u64, entry: Entry) {
        self.bytes += entry.input.len();
        let bucket = self.entries.entry(fingerprint).or_default();
        if bucket.len() >= BUCKET {
            let old = bucket.remove(0);
            self.bytes = self.bytes.saturating_sub(old.input.len());
        }
        bucket.push(entry);
    }
}

struct Memo {
    keys: RandomState,
    /// [`GENERATION_BYTES`] (smaller in tests).
    limit: usize,
    current: Generation,
    previous: Generation,
}

impl Memo {
    fn new(limit: usize) -> Self {
        Self {
            keys: RandomState::new(),
            limit,
            current: Generation::default(),
            previous: Generation::default(),
        }
    }

    fn fingerprint(&self, hash_type: u8, data: &[u8]) -> u64 {
        let mut h = self.keys.build_hasher();
        h.write_u8(hash_type);
        h.write_usize(data.len());
        h.write(data.get(..HEAD).unwrap_or(data));
        h.write(data.get(data.len().saturating_sub(TAIL)..).unwrap_or(data));
        h.finish()
    }

    /// The digest of `data` if held; an entry of the older generation moves to the newer.
    fn find(&mut self, fingerprint: u64, hash_type: u8, data: &[u8]) -> Option<Vec<u8>> {
        if let Some(e) = self.current.entries.get(&fingerprint).and_then(|b| {
            b.iter()
                .find(|e| e.hash_type == hash_type && *e.input == *data)
        }) {
            return Some(e.digest.to_vec());
        }
        let entry = self.previous.take(fingerprint, hash_type, data)?;
        let digest = entry.digest.to_vec();
        self.keep(fingerprint, entry);
        Some(digest)
    }

    fn keep(&mut self, fingerprint: u64, entry: Entry) {
        if self.current.bytes + entry.input.len() > self.limit {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(fingerprint, entry);
    }
}

static MEMO: LazyLock<Mutex<Memo>> = LazyLock::new(|| Mutex::new(Memo::new(GENERATION_BYTES)));

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
    let t = hash_type as u8;
    // A poisoned memo is only bypassed: it holds nothing that needs repair.
    let fingerprint = match MEMO.lock() {
        Ok(mut memo) => {
            let fingerprint = memo.fingerprint(t, data);
            if let Some(d) = memo.find(fingerprint, t, data) {
                return d;
            }
            fingerprint
        }
        Err(_) => return direct(hash_type, data),
    };
    let d = direct(hash_type, data);
    if let Ok(mut memo) = MEMO.lock() {
        memo.keep(
            fingerprint,
            Entry {
                hash_type: t,
                input: data.into(),
                digest: d.as_slice().into(),
            },
        );
    }
    d
}

/// The number of entries held (both generations).
#[cfg(test)]
pub(crate) fn len() -> usize {
    MEMO.lock()
        .map(|m| {
            [&m.current, &m.previous]
                .iter()
                .map(|g| g.entries.values().map(Vec::len).sum::<usize>())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn input(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
    }

    #[test]
    fn inputs_that_share_their_fingerprint_get_their_own_digests() {
        // Same length, same first and last bytes: one fingerprint, three inputs.
        let a = input(9_000, 1);
        let mut b = a.clone();
        b[4_500] ^= 1;
        let mut c = a.clone();
        c[HEAD] ^= 0x80;
        let mut m = Memo::new(GENERATION_BYTES);
        let t = HashType::Sha2_512 as u8;
        assert_eq!(m.fingerprint(t, &a), m.fingerprint(t, &b));
        for round in 0..2 {
            for x in [&a, &b, &c] {
                let f = m.fingerprint(t, x);
                let d = match m.find(f, t, x) {
                    Some(d) => d,
                    None => {
                        assert_eq!(round, 0, "held after the first round");
                        let d = direct(HashType::Sha2_512, x);
                        m.keep(
                            f,
                            Entry {
                                hash_type: t,
                                input: x.as_slice().into(),
                                digest: d.as_slice().into(),
                            },
                        );
                        d
                    }
                };
                assert_eq!(d, direct(HashType::Sha2_512, x));
            }
        }
        // Another hash type of the same input is another entry.
        let f = m.fingerprint(HashType::Sha2_256 as u8, &a);
        assert!(m.find(f, HashType::Sha2_256 as u8, &a).is_none());
    }

    #[test]
    fn the_memo_is_bounded_and_keeps_what_is_used() {
        let t = HashType::Sha2_512 as u8;
        let mut m = Memo::new(10_000);
        let inputs: Vec<Vec<u8>> = (0..10).map(|i| input(2_000, i)).collect();
        let keep = |m: &mut Memo, x: &[u8]| {
            let f = m.fingerprint(t, x);
            if m.find(f, t, x).is_none() {
                let d = direct(HashType::Sha2_512, x);
                m.keep(
                    f,
                    Entry {
                        hash_type: t,
                        input: x.into(),
                        digest: d.as_slice().into(),
                    },
                );
            }
        };
        for (i, x) in inputs.iter().enumerate() {
            keep(&mut m, x);
            // The first input is used all along: it always moves to the newer generation.
            keep(&mut m, &inputs[0]);
            assert!(
                m.current.bytes <= 10_000 && m.previous.bytes <= 10_000,
                "at {i}"
            );
        }
        let f = m.fingerprint(t, &inputs[0]);
        assert!(m.find(f, t, &inputs[0]).is_some());
        let f = m.fingerprint(t, &inputs[1]);
        assert!(m.find(f, t, &inputs[1]).is_none(), "the oldest are gone");
    }
}
