//! The post-quantum double ratchet with header encryption.
//!
//! Signal's double ratchet in its header-encryption variant, with one change: every DH ratchet
//! step is also a KEM step. The sender of a new chain draws a fresh X25519 key *and* a fresh
//! ML-KEM-1024 key, encapsulates to the peer's current ratchet ML-KEM key, and both secrets enter
//! the root KDF:
//!
//! ```text
//! ss              = combine("pars-ratchet-v1", DH(our new, their current), KEM secret,
//!                           [our new X25519 pk, their X25519 pk, KEM ct, their KEM pk, our new KEM pk])
//! rk' ‖ ck ‖ nhk  = HKDF(salt = rk, ikm = ss, info = "pars-ratchet-v1/root")      (3 × 32 bytes)
//! ck' ‖ mk        = HKDF(salt = "pars-ratchet-v1/chain", ikm = ck, info = "")    (2 × 32 bytes)
//! ```
//!
//! The sending half of a step happens lazily, on the first encryption after a new peer chain was
//! received, so that decryption needs no randomness. All operations work on a copy that replaces
//! the state only on success.

use crate::SessionError;
use pars_crypto::classic::{X25519PublicKey, X25519SecretKey};
use pars_crypto::hybrid_kem::combine;
use pars_crypto::mlkem::{MlKemKeyPair, MlKemPublicKey, MlKemSecretKey};
use pars_crypto::{CryptoRng, SharedSecret, aead, kdf, labels};
use pars_wire::MessageId;
use pars_wire::message::{
    ContentType, Flags, KemStep, MessageHeader, MessageKind, SessionMessage, coarse_timestamp,
};
use std::collections::VecDeque;

/// At most this many skipped message keys are stored per session (libsignal's bound); beyond
/// it the oldest are discarded.
pub const MAX_SKIPPED_KEYS: usize = 2000;
/// A message may be at most this many messages ahead of its chain (libsignal's bound).
pub const MAX_JUMP: u32 = 25_000;
/// Skipped message keys are discarded this long after they were stored: 30 days, the longest a
/// swarm keeps a message, so a message still missing by then will never arrive.
pub const MAX_SKIPPED_KEY_AGE_SECS: u64 = 30 * 24 * 3600;

#[derive(Clone)]
pub(crate) struct SendChain {
    pub(crate) ck: SharedSecret,
    pub(crate) hk: SharedSecret,
    pub(crate) n: u32,
    /// Repeated in every header of the chain, so that any one message that arrives lets the peer
    /// take the step (messages may be dropped).
    pub(crate) kem: Option<KemStep>,
}

#[derive(Clone)]
pub(crate) struct RecvChain {
    pub(crate) ck: SharedSecret,
    pub(crate) hk: SharedSecret,
    pub(crate) n: u32,
}

#[derive(Clone)]
pub(crate) struct SkippedKey {
    pub(crate) hk: SharedSecret,
    pub(crate) counter: u32,
    pub(crate) mk: SharedSecret,
    /// When the key was stored (Unix seconds); 0 for keys loaded from a version-1 state, whose
    /// age is unknown: their clock starts at the first operation after loading.
    pub(crate) stored_at: u64,
}

/// The ratchet state of one session.
#[derive(Clone)]
pub(crate) struct Ratchet {
    pub(crate) root: SharedSecret,
    pub(crate) dh_self: Option<X25519SecretKey>,
    pub(crate) kem_self: Option<MlKemSecretKey>,
    pub(crate) dh_peer: Option<X25519PublicKey>,
    pub(crate) kem_peer: Option<MlKemPublicKey>,
    pub(crate) send: Option<SendChain>,
    pub(crate) send_step_pending: bool,
    pub(crate) next_send_hk: SharedSecret,
    pub(crate) recv: Option<RecvChain>,
    pub(crate) next_recv_hk: SharedSecret,
    pub(crate) prev_send_len: u32,
    pub(crate) sequence: u64,
    pub(crate) skipped: VecDeque<SkippedKey>,
}

/// One symmetric chain step: `(next chain key, message key)`.
pub(crate) fn chain_step(ck: &SharedSecret) -> (SharedSecret, SharedSecret) {
    let [next, mk] = kdf::derive_keys::<2>(labels::RATCHET_CHAIN, ck.as_bytes(), &[]);
    (next, mk)
}

/// The root KDF: `(root key, chain key, next header key)`.
pub(crate) fn root_step(
    root: &SharedSecret,
    dh: &SharedSecret,
    kem: &SharedSecret,
    transcript: &[&[u8]],
) -> [SharedSecret; 3] {
    let ss = combine(labels::RATCHET, dh, kem, transcript);
    kdf::derive_keys::<3>(root.as_bytes(), ss.as_bytes(), &[labels::RATCHET_ROOT])
}

fn missing(what: &'static str) -> SessionError {
    SessionError::corrupt("session", format!("{what} is missing"))
}

/// Derives and stores the keys of `chain` up to (excluding) `until`.
fn skip_to(
    chain: &mut RecvChain,
    skipped: &mut VecDeque<SkippedKey>,
    until: u32,
    now: u64,
) -> Result<(), SessionError> {
    if until <= chain.n {
        return Ok(());
    }
    let jump = until - chain.n;
    if jump > MAX_JUMP {
        return Err(SessionError::TooFarAhead {
            jump: u64::from(jump),
            max: u64::from(MAX_JUMP),
        });
    }
    while chain.n < until {
        let (ck, mk) = chain_step(&chain.ck);
        skipped.push_back(SkippedKey {
            hk: chain.hk.clone(),
            counter: chain.n,
            mk,
            stored_at: now,
        });
        chain.ck = ck;
        chain.n += 1;
    }
    while skipped.len() > MAX_SKIPPED_KEYS {
        skipped.pop_front();
    }
    Ok(())
}

/// Which key opened a header.
enum Opened {
    /// A stored key of a skipped (or the current) chain.
    Known(SharedSecret),
    /// The next receiving header key: the peer started a new chain.
    Next,
}

impl Ratchet {
    /// Discards skipped keys older than [`MAX_SKIPPED_KEY_AGE_SECS`].
    pub(crate) fn expire_skipped(&mut self, now: u64) {
        for s in self.skipped.iter_mut().filter(|s| s.stored_at == 0) {
            s.stored_at = now;
        }
        self.skipped
            .retain(|s| now.saturating_sub(s.stored_at) <= MAX_SKIPPED_KEY_AGE_SECS);
    }

    /// Prepares the next outgoing header; returns it with the header key and the message key.
    pub(crate) fn next_send(
        &mut self,
        content_type: ContentType,
        flags: Flags,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(MessageHeader, SharedSecret, SharedSecret), SessionError> {
        if self.send_step_pending {
            self.send_step(rng)?;
        }
        let ratchet_key = self
            .dh_self
            .as_ref()
            .ok_or_else(|| missing("ratchet key"))?
            .public_key();
        let send = self.send.as_mut().ok_or_else(|| missing("sending chain"))?;
        let counter = send.n;
        send.n = counter.checked_add(1).ok_or(SessionError::ChainExhausted)?;
        let (ck, mk) = chain_step(&send.ck);
        send.ck = ck;
        let header = MessageHeader {
            message_id: MessageId::random(rng),
            timestamp: coarse_timestamp(now),
            sequence: self.sequence,
            ratchet_key,
            kem: send.kem.clone(),
            counter,
            previous_chain_length: self.prev_send_len,
            content_type,
            flags,
        };
        let hk = send.hk.clone();
        self.sequence = self.sequence.wrapping_add(1);
        Ok((header, hk, mk))
    }

    /// The sending half of a ratchet step: fresh X25519 and ML-KEM keys, DH with the peer's
    /// ratchet key, encapsulation to the peer's ratchet ML-KEM key.
    fn send_step(&mut self, rng: &mut impl CryptoRng) -> Result<(), SessionError> {
        let dh_peer = self.dh_peer.ok_or_else(|| missing("peer ratchet key"))?;
        let kem_peer = self
            .kem_peer
            .as_ref()
            .ok_or_else(|| missing("peer ratchet KEM key"))?;
        let dh_new = X25519SecretKey::generate(rng);
        let kem_new = MlKemKeyPair::generate(rng);
        let dh_out = dh_new
            .diffie_hellman(&dh_peer)
            .map_err(SessionError::PeerKey)?;
        let (ct, kem_ss) = kem_peer.encapsulate(rng);
        let [root, ck, nhk] = root_step(
            &self.root,
            &dh_out,
            &kem_ss,
            &[
                &dh_new.public_key().0,
                &dh_peer.0,
                ct.as_bytes(),
                kem_peer.as_bytes(),
                kem_new.public.as_bytes(),
            ],
        );
        self.prev_send_len = self.send.as_ref().map_or(0, |s| s.n);
        let hk = std::mem::replace(&mut self.next_send_hk, nhk);
        self.send = Some(SendChain {
            ck,
            hk,
            n: 0,
            kem: Some(KemStep {
                public_key: kem_new.public,
                ciphertext: ct,
            }),
        });
        self.root = root;
        self.dh_self = Some(dh_new);
        self.kem_self = Some(kem_new.secret);
        self.send_step_pending = false;
        Ok(())
    }

    /// The receiving half of a ratchet step, for a header that opened under the next header key.
    fn receive_step(&mut self, header: &MessageHeader) -> Result<(), SessionError> {
        let kem = header.kem.as_ref().ok_or(SessionError::InvalidHeader(
            "a new chain carries no KEM step",
        ))?;
        let dh_self = self.dh_self.as_ref().ok_or(SessionError::InvalidHeader(
            "peer started a chain before receiving ours",
        ))?;
        let kem_self = self.kem_self.as_ref().ok_or(SessionError::InvalidHeader(
            "peer started a chain before receiving ours",
        ))?;
        let dh_out = dh_self
            .diffie_hellman(&header.ratchet_key)
            .map_err(SessionError::PeerKey)?;
        let kem_ss = kem_self.decapsulate(&kem.ciphertext);
        let [root, ck, nhk] = root_step(
            &self.root,
            &dh_out,
            &kem_ss,
            &[
                &header.ratchet_key.0,
                &dh_self.public_key().0,
                kem.ciphertext.as_bytes(),
                kem_self.public_key().as_bytes(),
                kem.public_key.as_bytes(),
            ],
        );
        let hk = std::mem::replace(&mut self.next_recv_hk, nhk);
        self.recv = Some(RecvChain { ck, hk, n: 0 });
        self.root = root;
        self.dh_peer = Some(header.ratchet_key);
        self.kem_peer = Some(kem.public_key.clone());
        self.send_step_pending = true;
        Ok(())
    }

    /// Opens the header with the first key that fits: stored header keys of skipped chains, the
    /// current receiving chain's, then the next one.
    fn open_header(
        &self,
        msg: &SessionMessage,
        ad: &[u8],
    ) -> Result<(Vec<u8>, Opened), SessionError> {
        let mut tried: Vec<&SharedSecret> = Vec::new();
        let known = self
            .skipped
            .iter()
            .map(|s| &s.hk)
            .chain(self.recv.as_ref().map(|r| &r.hk));
        for hk in known {
            if tried.contains(&hk) {
                continue;
            }
            tried.push(hk);
            if let Ok(p) = aead::open_random_nonce(hk, ad, &msg.header) {
                return Ok((p, Opened::Known(hk.clone())));
            }
        }
        aead::open_random_nonce(&self.next_recv_hk, ad, &msg.header)
            .map(|p| (p, Opened::Next))
            .map_err(|_| SessionError::NotForThisSession)
    }

    /// Finds the message key of an incoming message, advancing the receiving chains.
    pub(crate) fn receive(
        &mut self,
        msg: &SessionMessage,
        now: u64,
    ) -> Result<(MessageHeader, SharedSecret), SessionError> {
        self.expire_skipped(now);
        let ad = msg.header_ad();
        let (plain, opened) = self.open_header(msg, &ad)?;
        let header = MessageHeader::decode(&plain)
            .map_err(|_| SessionError::InvalidHeader("decrypted header does not parse"))?;
        if (msg.kind() == MessageKind::Initial) != header.kem.is_none() {
            return Err(SessionError::InvalidHeader(
                "KEM step presence does not match the message kind",
            ));
        }
        match opened {
            Opened::Known(hk) => {
                if let Some(pos) = self
                    .skipped
                    .iter()
                    .position(|s| s.counter == header.counter && s.hk == hk)
                {
                    let mk = self
                        .skipped
                        .remove(pos)
                        .map(|s| s.mk)
                        .ok_or_else(|| missing("skipped key"))?;
                    return Ok((header, mk));
                }
                let recv = match self.recv.as_mut() {
                    Some(r) if r.hk == hk && header.counter >= r.n => r,
                    _ => {
                        return Err(SessionError::Duplicate {
                            counter: header.counter,
                        });
                    }
                };
                skip_to(recv, &mut self.skipped, header.counter, now)?;
                let mk = advance(recv);
                Ok((header, mk))
            }
            Opened::Next => {
                if header.kem.is_none() {
                    return Err(SessionError::InvalidHeader(
                        "a new chain carries no KEM step",
                    ));
                }
                if let Some(recv) = self.recv.as_mut() {
                    skip_to(recv, &mut self.skipped, header.previous_chain_length, now)?;
                }
                self.receive_step(&header)?;
                let recv = self
                    .recv
                    .as_mut()
                    .ok_or_else(|| missing("receiving chain"))?;
                skip_to(recv, &mut self.skipped, header.counter, now)?;
                let mk = advance(recv);
                Ok((header, mk))
            }
        }
    }
}

/// Takes the chain's next message key.
fn advance(chain: &mut RecvChain) -> SharedSecret {
    let (ck, mk) = chain_step(&chain.ck);
    chain.ck = ck;
    chain.n = chain.n.saturating_add(1);
    mk
}
