//! The stored form of a [`Session`]: versioned, binary, canonical.
//!
//! ```text
//! version 1:
//! version (1) ‖ role (1: initiator, 2: responder) ‖ local ID (33) ‖ peer ID (33)
//! ‖ handshake ID (32) ‖ created_at (8) ‖ confirmed (1) ‖ opt(handshake header (20096))
//! ‖ root key (32) ‖ opt(ratchet X25519 secret (32)) ‖ opt(ratchet ML-KEM secret (3168))
//! ‖ opt(peer ratchet X25519 (32)) ‖ opt(peer ratchet ML-KEM (1568))
//! ‖ opt(send chain: ck (32) ‖ hk (32) ‖ n (4) ‖ opt(KEM pk (1568) ‖ KEM ct (1568)))
//! ‖ send step pending (1) ‖ next send hk (32)
//! ‖ opt(recv chain: ck (32) ‖ hk (32) ‖ n (4)) ‖ next recv hk (32)
//! ‖ previous send chain length (4) ‖ sequence (8)
//! ‖ skipped count (4) ‖ (hk (32) ‖ counter (4) ‖ mk (32))*
//!
//! version 2 (current): as version 1, with each skipped key followed by the time it was stored:
//! ‖ skipped count (4) ‖ (hk (32) ‖ counter (4) ‖ mk (32) ‖ stored_at (8))*
//! ```
//!
//! Keys loaded from version 1 have no storage time; their 30-day clock starts at the first
//! operation after loading.
//!
//! `opt(x)` is `0` or `1 ‖ x`. Loading dispatches on the version byte, so every version ever
//! written stays readable.

use crate::SessionError;
use crate::ratchet::{MAX_SKIPPED_KEYS, Ratchet, RecvChain, SendChain, SkippedKey};
use crate::session::{Role, Session};
use pars_crypto::classic::{X25519PublicKey, X25519SecretKey};
use pars_crypto::mlkem::{self, MlKemCiphertext, MlKemPublicKey, MlKemSecretKey};
use pars_crypto::{SecretBytes, SessionId, SharedSecret};
use pars_wire::message::{HandshakeHeader, KemStep};
use pars_wire::{Reader, WireError, Writer};
use std::collections::VecDeque;

/// The version [`Session::to_bytes`] writes.
pub const STATE_VERSION: u8 = 2;

const WHAT: &str = "session state";

/// An upper bound of everything but the skipped keys (an unconfirmed initiator's state, the
/// largest, is about 28.5 KB).
const MAX_FIXED_LEN: usize = 32 * 1024;
/// One skipped key in version 2.
const SKIPPED_ENTRY_LEN: usize = 32 + 4 + 32 + 8;

fn corrupt(e: impl std::fmt::Display) -> SessionError {
    SessionError::corrupt(WHAT, e)
}

fn opt<T>(w: &mut Writer, v: Option<&T>, f: impl FnOnce(&mut Writer, &T)) {
    match v {
        None => {
            w.u8(0);
        }
        Some(x) => {
            w.u8(1);
            f(w, x);
        }
    }
}

struct StateReader<'a>(Reader<'a>);

impl<'a> StateReader<'a> {
    fn u8(&mut self) -> Result<u8, SessionError> {
        self.0.u8(WHAT).map_err(corrupt)
    }
    fn u32(&mut self) -> Result<u32, SessionError> {
        self.0.u32(WHAT).map_err(corrupt)
    }
    fn u64(&mut self) -> Result<u64, SessionError> {
        self.0.u64(WHAT).map_err(corrupt)
    }
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], SessionError> {
        self.0.bytes(n, WHAT).map_err(corrupt)
    }
    fn flag(&mut self) -> Result<bool, SessionError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(corrupt(format!("flag byte {v}"))),
        }
    }
    fn opt<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, SessionError>,
    ) -> Result<Option<T>, SessionError> {
        if self.flag()? {
            f(self).map(Some)
        } else {
            Ok(None)
        }
    }
    fn key(&mut self) -> Result<SharedSecret, SessionError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.bytes(32)?);
        let k = SharedSecret::from_bytes(a);
        a.fill(0);
        Ok(k)
    }
    fn id(&mut self) -> Result<SessionId, SessionError> {
        SessionId::from_bytes(self.bytes(pars_crypto::SESSION_ID_LEN)?).map_err(corrupt)
    }
    fn x25519_secret(&mut self) -> Result<X25519SecretKey, SessionError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.bytes(32)?);
        let k = X25519SecretKey::from_bytes(a);
        a.fill(0);
        Ok(k)
    }
    fn x25519_public(&mut self) -> Result<X25519PublicKey, SessionError> {
        X25519PublicKey::from_bytes(self.bytes(32)?).map_err(corrupt)
    }
    fn kem_public(&mut self) -> Result<MlKemPublicKey, SessionError> {
        MlKemPublicKey::from_bytes(self.bytes(mlkem::PUBLIC_KEY_LEN)?).map_err(corrupt)
    }
}

fn write_kem_step(w: &mut Writer, k: &KemStep) {
    w.bytes(k.public_key.as_bytes())
        .bytes(k.ciphertext.as_bytes());
}

impl Session {
    /// The session's state in the current stored format (contains secrets: store it encrypted).
    pub fn to_bytes(&self) -> SecretBytes {
        let r = &self.ratchet;
        // Room for the largest state up front, so that growing the buffer leaves no stray copies of
        // secrets in freed memory.
        let mut w = Writer::with_capacity(MAX_FIXED_LEN + SKIPPED_ENTRY_LEN * r.skipped.len());
        w.u8(STATE_VERSION)
            .u8(match self.role {
                Role::Initiator => 1,
                Role::Responder => 2,
            })
            .bytes(self.local.as_bytes())
            .bytes(self.peer.as_bytes())
            .bytes(&self.handshake_id)
            .u64(self.created_at)
            .u8(u8::from(self.confirmed));
        opt(&mut w, self.handshake.as_ref(), |w, h| {
            w.bytes(&h.encode());
        });
        w.bytes(r.root.as_bytes());
        opt(&mut w, r.dh_self.as_ref(), |w, k| {
            w.bytes(&k.to_bytes());
        });
        opt(&mut w, r.kem_self.as_ref(), |w, k| {
            w.bytes(k.to_secret_bytes().as_slice());
        });
        opt(&mut w, r.dh_peer.as_ref(), |w, k| {
            w.bytes(&k.0);
        });
        opt(&mut w, r.kem_peer.as_ref(), |w, k| {
            w.bytes(k.as_bytes());
        });
        opt(&mut w, r.send.as_ref(), |w, s| {
            w.bytes(s.ck.as_bytes()).bytes(s.hk.as_bytes()).u32(s.n);
            opt(w, s.kem.as_ref(), write_kem_step);
        });
        w.u8(u8::from(r.send_step_pending))
            .bytes(r.next_send_hk.as_bytes());
        opt(&mut w, r.recv.as_ref(), |w, c| {
            w.bytes(c.ck.as_bytes()).bytes(c.hk.as_bytes()).u32(c.n);
        });
        w.bytes(r.next_recv_hk.as_bytes())
            .u32(r.prev_send_len)
            .u64(r.sequence)
            .u32(u32::try_from(r.skipped.len()).unwrap_or(u32::MAX));
        for s in &r.skipped {
            w.bytes(s.hk.as_bytes())
                .u32(s.counter)
                .bytes(s.mk.as_bytes())
                .u64(s.stored_at);
        }
        SecretBytes::new(w.into_vec())
    }

    /// Loads a stored session of any version this build has ever written.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SessionError> {
        match bytes.first() {
            None => Err(corrupt("empty")),
            Some(&version @ (1 | 2)) => decode(bytes, version),
            Some(&version) => Err(SessionError::UnsupportedStateVersion {
                what: WHAT,
                version,
            }),
        }
    }
}

/// Versions 1 and 2 differ only in the skipped keys' storage time.
fn decode(bytes: &[u8], version: u8) -> Result<Session, SessionError> {
    let mut r = StateReader(Reader::new(bytes));
    r.u8()?;
    let role = match r.u8()? {
        1 => Role::Initiator,
        2 => Role::Responder,
        v => return Err(corrupt(format!("role {v}"))),
    };
    let local = r.id()?;
    let peer = r.id()?;
    let mut handshake_id = [0u8; 32];
    handshake_id.copy_from_slice(r.bytes(32)?);
    let created_at = r.u64()?;
    let confirmed = r.flag()?;
    let handshake = r.opt(|r| {
        HandshakeHeader::decode(r.bytes(pars_wire::message::HANDSHAKE_HEADER_LEN)?).map_err(corrupt)
    })?;
    let root = r.key()?;
    let dh_self = r.opt(|r| r.x25519_secret())?;
    let kem_self =
        r.opt(|r| MlKemSecretKey::from_bytes(r.bytes(mlkem::SECRET_KEY_LEN)?).map_err(corrupt))?;
    let dh_peer = r.opt(|r| r.x25519_public())?;
    let kem_peer = r.opt(|r| r.kem_public())?;
    let send = r.opt(|r| {
        let ck = r.key()?;
        let hk = r.key()?;
        let n = r.u32()?;
        let kem = r.opt(|r| {
            let public_key = r.kem_public()?;
            let ciphertext =
                MlKemCiphertext::from_bytes(r.bytes(mlkem::CIPHERTEXT_LEN)?).map_err(corrupt)?;
            Ok(KemStep {
                public_key,
                ciphertext,
            })
        })?;
        Ok(SendChain { ck, hk, n, kem })
    })?;
    let send_step_pending = r.flag()?;
    let next_send_hk = r.key()?;
    let recv = r.opt(|r| {
        Ok(RecvChain {
            ck: r.key()?,
            hk: r.key()?,
            n: r.u32()?,
        })
    })?;
    let next_recv_hk = r.key()?;
    let prev_send_len = r.u32()?;
    let sequence = r.u64()?;
    let count = r.u32()?;
    if count as usize > MAX_SKIPPED_KEYS {
        return Err(corrupt(format!("{count} skipped keys")));
    }
    let mut skipped = VecDeque::with_capacity(count as usize);
    for _ in 0..count {
        skipped.push_back(SkippedKey {
            hk: r.key()?,
            counter: r.u32()?,
            mk: r.key()?,
            stored_at: if version >= 2 { r.u64()? } else { 0 },
        });
    }
    r.0.finish(WHAT).map_err(|e: WireError| corrupt(e))?;
    if handshake.is_some() == confirmed || (handshake.is_some() && role != Role::Initiator) {
        return Err(corrupt(
            "handshake presence does not match role and confirmation",
        ));
    }
    Ok(Session {
        role,
        local,
        peer,
        handshake_id,
        handshake,
        confirmed,
        created_at,
        ratchet: Ratchet {
            root,
            dh_self,
            kem_self,
            dh_peer,
            kem_peer,
            send,
            send_step_pending,
            next_send_hk,
            recv,
            next_recv_hk,
            prev_send_len,
            sequence,
            skipped,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};

    /// Loading is total over random and mutated input, and canonical: whatever version-2 bytes
    /// load re-encode to exactly themselves.
    #[test]
    fn loading_is_total_and_canonical() {
        let v1: &[u8] = include_bytes!("../tests/fixtures/session_v1_bob.bin");
        let v2 = Session::from_bytes(v1).unwrap().to_bytes();
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        for base in [v1, v2.as_slice()] {
            for _ in 0..1500 {
                let mut t = base.to_vec();
                let i = rng.next_u32() as usize % t.len();
                match rng.next_u32() % 3 {
                    0 => t[i] ^= 1 << (rng.next_u32() % 8),
                    1 => t.truncate(i),
                    _ => t.insert(i, rng.next_u32() as u8),
                }
                if let Ok(s) = Session::from_bytes(&t)
                    && t[0] == STATE_VERSION
                {
                    assert_eq!(s.to_bytes().as_slice(), &t[..]);
                }
            }
        }
        for _ in 0..1500 {
            let mut t = vec![0u8; rng.next_u32() as usize % 600];
            rng.fill_bytes(&mut t);
            if let Some(b) = t.first_mut() {
                *b = 1 + (*b & 1);
            }
            assert!(Session::from_bytes(&t).is_err());
        }
    }

    #[test]
    fn the_buffer_bound_holds_for_the_largest_state() {
        use pars_wire::message::HANDSHAKE_HEADER_LEN;
        // Every optional field present, at its size.
        let largest = 1
            + 1
            + 33
            + 33
            + 32
            + 8
            + 1
            + (1 + HANDSHAKE_HEADER_LEN)
            + 32
            + (1 + 32)
            + (1 + mlkem::SECRET_KEY_LEN)
            + (1 + 32)
            + (1 + mlkem::PUBLIC_KEY_LEN)
            + (1 + 32 + 32 + 4 + 1 + mlkem::PUBLIC_KEY_LEN + mlkem::CIPHERTEXT_LEN)
            + 1
            + 32
            + (1 + 32 + 32 + 4)
            + 32
            + 4
            + 8
            + 4;
        assert!(largest <= MAX_FIXED_LEN, "{largest}");
    }
}
