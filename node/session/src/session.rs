//! A session: the handshake that creates it and the ratchet that carries its messages.

use crate::ratchet::{Ratchet, RecvChain, SendChain};
use crate::{ReplayCache, SessionError};
use pars_crypto::bundle::{IdentityBundle, MAX_CLOCK_SKEW_SECS, PrekeySecret};
use pars_crypto::classic::X25519SecretKey;
use pars_crypto::identity::IdentityKeys;
use pars_crypto::mlkem::MlKemKeyPair;
use pars_crypto::{CryptoError, CryptoRng, SessionId, SharedSecret, aead, kdf, labels, padding};
use pars_wire::message::{
    ContentType, Flags, HandshakeHeader, HandshakePayload, MessageBody, MessageHeader,
    MessageSignature, SessionMessage, coarse_timestamp,
};
use std::collections::VecDeque;

/// The fixed nonce of AEADs whose key is used exactly once (message keys, the handshake payload
/// key).
const ZERO_NONCE: [u8; aead::NONCE_LEN] = [0; aead::NONCE_LEN];

/// Which side of the handshake this party was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Made the handshake from the peer's bundle.
    Initiator,
    /// Accepted the peer's initial message.
    Responder,
}

/// Options of an outgoing message beyond its content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Header flags (receipt requests).
    pub flags: Flags,
    /// A non-repudiable signature, only where ARCHITECTURE §3.5 calls for one (group admin
    /// operations, contract actions); ordinary messages carry none and stay deniable.
    pub signature: Option<MessageSignature>,
}

/// A decrypted message. Its `Debug` shows the header and the content's length, not the content.
#[derive(Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The decrypted header (message ID, coarse timestamp, sequence, content type, flags).
    pub header: MessageHeader,
    /// The content.
    pub content: Vec<u8>,
    /// The signature the sender attached, if any (verified by the content type's layer).
    pub signature: Option<MessageSignature>,
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("header", &self.header)
            .field("content_len", &self.content.len())
            .field("signed", &self.signature.is_some())
            .finish()
    }
}

/// One end of a two-party session.
///
/// Created by [`Session::initiate`] (from the peer's bundle) or [`Session::accept`] (from an
/// initial message). Every method that fails leaves the session exactly as it was.
#[derive(Clone)]
pub struct Session {
    pub(crate) role: Role,
    pub(crate) local: SessionId,
    pub(crate) peer: SessionId,
    pub(crate) handshake_id: [u8; 32],
    /// The initiator's handshake, attached to every message until the first reply arrives.
    pub(crate) handshake: Option<HandshakeHeader>,
    pub(crate) confirmed: bool,
    pub(crate) created_at: u64,
    pub(crate) ratchet: Ratchet,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("local", &self.local.short())
            .field("peer", &self.peer.short())
            .field("confirmed", &self.confirmed)
            .finish_non_exhaustive()
    }
}

/// The handshake's key schedule.
struct HandshakeKeys {
    payload: SharedSecret,
    root: SharedSecret,
    /// The initiator's first sending chain and its header key.
    initiator_chain: SharedSecret,
    initiator_header: SharedSecret,
    /// Header keys of each side's next chain.
    initiator_next_header: SharedSecret,
    responder_next_header: SharedSecret,
}

fn handshake_keys(
    ss_identity: &SharedSecret,
    ss_prekey: &SharedSecret,
    responder: &SessionId,
    hs: &HandshakeHeader,
) -> HandshakeKeys {
    let mut ikm = Vec::with_capacity(64);
    ikm.extend_from_slice(ss_identity.as_bytes());
    ikm.extend_from_slice(ss_prekey.as_bytes());
    let ikm = pars_crypto::SecretBytes::new(ikm);
    let [payload, root, ic, ih, inh, rnh] = kdf::derive_keys::<6>(
        labels::HANDSHAKE_KEYS,
        ikm.as_slice(),
        &[
            responder.as_bytes(),
            &hs.prekey_id.to_be_bytes(),
            &hs.identity_ciphertext.to_bytes(),
            &hs.prekey_ciphertext.to_bytes(),
        ],
    );
    HandshakeKeys {
        payload,
        root,
        initiator_chain: ic,
        initiator_header: ih,
        initiator_next_header: inh,
        responder_next_header: rnh,
    }
}

/// Associated data of the handshake payload: `prekey ID ‖ identity ct ‖ prekey ct`.
fn payload_ad(hs: &HandshakeHeader) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + 3200);
    v.extend_from_slice(&hs.prekey_id.to_be_bytes());
    v.extend_from_slice(&hs.identity_ciphertext.to_bytes());
    v.extend_from_slice(&hs.prekey_ciphertext.to_bytes());
    v
}

/// The signed transcript: `responder ID ‖ initiator ID ‖ prekey ID ‖ identity ct ‖ prekey ct
/// ‖ initiator ratchet X25519 ‖ initiator ratchet ML-KEM ‖ timestamp` (all fixed sizes).
fn transcript(
    responder: &SessionId,
    hs: &HandshakeHeader,
    initiator: &SessionId,
    ratchet_key: &[u8; 32],
    ratchet_kem: &[u8],
    timestamp: u64,
) -> Vec<u8> {
    let mut v = payload_ad(hs);
    let mut out = Vec::with_capacity(66 + v.len() + 32 + ratchet_kem.len() + 8);
    out.extend_from_slice(responder.as_bytes());
    out.extend_from_slice(initiator.as_bytes());
    out.append(&mut v);
    out.extend_from_slice(ratchet_key);
    out.extend_from_slice(ratchet_kem);
    out.extend_from_slice(&timestamp.to_be_bytes());
    out
}

fn bundle_error(e: CryptoError, expected: &SessionId, prekey_id: u32) -> SessionError {
    match e {
        CryptoError::BundleIdMismatch { .. } => SessionError::BundleMismatch {
            expected: expected.to_string(),
        },
        CryptoError::Expired { what: "prekey", .. } => SessionError::StalePrekey { id: prekey_id },
        other => SessionError::InvalidBundle(other),
    }
}

/// Who wins when two parties initiate to each other before either saw the other's request: the
/// session initiated by the smaller Session ID (bytewise). The other party abandons its own
/// attempt and re-sends what it queued on it over the winner; the winner drops the loser's
/// request. Both sides compute the same answer from public values.
pub fn simultaneous_initiation_winner(a: &SessionId, b: &SessionId) -> SessionId {
    if a.as_bytes() <= b.as_bytes() { *a } else { *b }
}

impl Session {
    /// Starts a session with `peer` from its identity bundle (fetched by Session ID). The
    /// returned session can encrypt at once: its messages carry the handshake until the peer's
    /// first reply arrives, so the peer can start from any of them while the initiator waits.
    pub fn initiate(
        local: &IdentityKeys,
        local_bundle: &IdentityBundle,
        peer: &SessionId,
        peer_bundle: &IdentityBundle,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Self, SessionError> {
        let local_id = local.session_id();
        if local_bundle.session_id() != local_id || local_bundle.keys != local.public_keys() {
            return Err(SessionError::LocalBundleMismatch);
        }
        if *peer == local_id {
            return Err(SessionError::SelfSession);
        }
        peer_bundle
            .verify(peer, now)
            .map_err(|e| bundle_error(e, peer, peer_bundle.prekey.id))?;

        let (identity_ciphertext, ss_identity) = peer_bundle
            .keys
            .encryption_key()
            .encapsulate(labels::HANDSHAKE, rng)
            .map_err(SessionError::PeerKey)?;
        let (prekey_ciphertext, ss_prekey) = peer_bundle
            .prekey
            .key
            .encapsulate(labels::HANDSHAKE, rng)
            .map_err(SessionError::PeerKey)?;
        let mut hs = HandshakeHeader {
            prekey_id: peer_bundle.prekey.id,
            identity_ciphertext,
            prekey_ciphertext,
            payload: Vec::new(),
        };
        let keys = handshake_keys(&ss_identity, &ss_prekey, peer, &hs);

        let dh = X25519SecretKey::generate(rng);
        let kem = MlKemKeyPair::generate(rng);
        let timestamp = coarse_timestamp(now);
        let signed = transcript(
            peer,
            &hs,
            &local_id,
            &dh.public_key().0,
            kem.public.as_bytes(),
            timestamp,
        );
        let signature = local
            .signing_key()
            .sign(labels::SIG_HANDSHAKE, &signed, rng)
            .map_err(SessionError::PeerKey)?;
        let payload = HandshakePayload {
            initiator: local_id,
            bundle: local_bundle.clone(),
            ratchet_key: dh.public_key(),
            ratchet_kem: kem.public.clone(),
            timestamp,
            signature,
        };
        hs.payload = aead::seal(
            &keys.payload,
            &ZERO_NONCE,
            &payload_ad(&hs),
            &payload.encode(),
        );

        Ok(Self {
            role: Role::Initiator,
            local: local_id,
            peer: *peer,
            handshake_id: hs.id(),
            handshake: Some(hs),
            confirmed: false,
            created_at: now,
            ratchet: Ratchet {
                root: keys.root,
                dh_self: Some(dh),
                kem_self: Some(kem.secret),
                dh_peer: None,
                kem_peer: None,
                send: Some(SendChain {
                    ck: keys.initiator_chain,
                    hk: keys.initiator_header,
                    n: 0,
                    kem: None,
                }),
                send_step_pending: false,
                next_send_hk: keys.initiator_next_header,
                recv: None,
                next_recv_hk: keys.responder_next_header,
                prev_send_len: 0,
                sequence: 0,
                skipped: VecDeque::new(),
            },
        })
    }

    /// Accepts an initial message addressed to `local`: checks the replay cache, finds the
    /// prekey, derives the handshake keys, verifies the initiator's bundle against its Session
    /// ID and its signature over the transcript, and decrypts the message. On success the
    /// handshake is recorded in `replay` (persist both together); on failure nothing changes.
    ///
    /// `prekeys` are the local prekey secrets still kept (the current one and those rotated out
    /// but not yet expired).
    pub fn accept(
        local: &IdentityKeys,
        prekeys: &[PrekeySecret],
        replay: &mut ReplayCache,
        msg: &SessionMessage,
        now: u64,
    ) -> Result<(Self, Decrypted), SessionError> {
        let hs = msg.handshake.as_ref().ok_or(SessionError::NotInitial)?;
        let handshake_id = hs.id();
        if replay.contains(&handshake_id) {
            return Err(SessionError::ReplayedHandshake);
        }
        let prekey = prekeys
            .iter()
            .find(|p| p.public.id == hs.prekey_id && p.public.expires_at > now)
            .ok_or(SessionError::StalePrekey { id: hs.prekey_id })?;
        let local_id = local.session_id();
        let ss_identity = local
            .encryption_key()
            .decapsulate(&hs.identity_ciphertext, labels::HANDSHAKE)
            .map_err(|_| SessionError::HandshakeDecryption)?;
        let ss_prekey = prekey
            .secret
            .decapsulate(&hs.prekey_ciphertext, labels::HANDSHAKE)
            .map_err(|_| SessionError::HandshakeDecryption)?;
        let keys = handshake_keys(&ss_identity, &ss_prekey, &local_id, hs);
        let plain = aead::open(&keys.payload, &ZERO_NONCE, &payload_ad(hs), &hs.payload)
            .map_err(|_| SessionError::HandshakeDecryption)?;
        let payload = HandshakePayload::decode(&plain)?;
        if payload.timestamp > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
            return Err(SessionError::HandshakeFromTheFuture {
                timestamp: payload.timestamp,
                now,
            });
        }
        if payload.initiator == local_id {
            return Err(SessionError::SelfSession);
        }
        // The bundle is checked as of the handshake's own time: a request may wait in the swarm
        // for days, and the initiator's prekey expiring meanwhile does not make it invalid.
        payload
            .bundle
            .verify(&payload.initiator, payload.timestamp)
            .map_err(|e| match e {
                CryptoError::BundleIdMismatch { .. } => SessionError::BundleMismatch {
                    expected: payload.initiator.to_string(),
                },
                other => SessionError::InvalidBundle(other),
            })?;
        let signed = transcript(
            &local_id,
            hs,
            &payload.initiator,
            &payload.ratchet_key.0,
            payload.ratchet_kem.as_bytes(),
            payload.timestamp,
        );
        payload
            .bundle
            .keys
            .verifying_key()
            .verify(labels::SIG_HANDSHAKE, &signed, &payload.signature)
            .map_err(SessionError::BadHandshakeSignature)?;

        let mut session = Self {
            role: Role::Responder,
            local: local_id,
            peer: payload.initiator,
            handshake_id,
            handshake: None,
            confirmed: true,
            created_at: now,
            ratchet: Ratchet {
                root: keys.root,
                dh_self: None,
                kem_self: None,
                dh_peer: Some(payload.ratchet_key),
                kem_peer: Some(payload.ratchet_kem),
                send: None,
                send_step_pending: true,
                next_send_hk: keys.responder_next_header,
                recv: Some(RecvChain {
                    ck: keys.initiator_chain,
                    hk: keys.initiator_header,
                    n: 0,
                }),
                next_recv_hk: keys.initiator_next_header,
                prev_send_len: 0,
                sequence: 0,
                skipped: VecDeque::new(),
            },
        };
        let first = session.decrypt(msg, now)?;
        replay.insert(handshake_id, prekey.public.expires_at);
        Ok((session, first))
    }

    /// Encrypts `plaintext` as `content_type`.
    pub fn encrypt(
        &mut self,
        plaintext: &[u8],
        content_type: ContentType,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<SessionMessage, SessionError> {
        self.encrypt_with(plaintext, content_type, &SendOptions::default(), now, rng)
    }

    /// Encrypts `plaintext` as `content_type` with flags and an optional signature.
    pub fn encrypt_with(
        &mut self,
        plaintext: &[u8],
        content_type: ContentType,
        options: &SendOptions,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<SessionMessage, SessionError> {
        if plaintext.len() > MessageBody::MAX_CONTENT_LEN {
            return Err(SessionError::TooLarge {
                got: plaintext.len(),
                max: MessageBody::MAX_CONTENT_LEN,
            });
        }
        let body = MessageBody {
            signature: options.signature.clone(),
            content: plaintext.to_vec(),
        };
        let padded = padding::pad(&body.encode()).map_err(|_| SessionError::TooLarge {
            got: plaintext.len(),
            max: MessageBody::MAX_CONTENT_LEN,
        })?;
        let mut next = self.ratchet.clone();
        next.expire_skipped(now);
        let (header, hk, mk) = next.next_send(content_type, options.flags, now, rng)?;
        let handshake = match header.kem {
            Some(_) => None,
            None => Some(
                self.handshake
                    .clone()
                    .ok_or_else(|| SessionError::corrupt("session", "handshake is missing"))?,
            ),
        };
        let mut msg = SessionMessage {
            handshake,
            header: Vec::new(),
            body: Vec::new(),
        };
        msg.header = aead::seal_random_nonce(&hk, &msg.header_ad(), &header.encode(), rng);
        msg.body = aead::seal(&mk, &ZERO_NONCE, &msg.body_ad(), &padded);
        self.ratchet = next;
        Ok(msg)
    }

    /// Decrypts a message of this session. Errors leave the session unchanged; in particular a
    /// message decrypted once fails the second time ([`SessionError::Duplicate`]), and a message
    /// of another session fails with [`SessionError::NotForThisSession`] (the caller tries its
    /// other sessions, or [`Session::accept`] for an initial message of an unknown handshake).
    pub fn decrypt(&mut self, msg: &SessionMessage, now: u64) -> Result<Decrypted, SessionError> {
        if let Some(hs) = &msg.handshake
            && (self.role != Role::Responder || hs.id() != self.handshake_id)
        {
            return Err(SessionError::WrongHandshake);
        }
        let mut next = self.ratchet.clone();
        let (header, mk) = next.receive(msg, now)?;
        let padded = aead::open(&mk, &ZERO_NONCE, &msg.body_ad(), &msg.body)
            .map_err(|_| SessionError::BodyDecryption)?;
        let unpadded =
            padding::unpad(&padded).map_err(|_| SessionError::MalformedBody("bad padding"))?;
        let body = MessageBody::decode(unpadded)
            .map_err(|_| SessionError::MalformedBody("body does not parse"))?;
        self.ratchet = next;
        if !self.confirmed {
            self.confirmed = true;
            self.handshake = None;
        }
        Ok(Decrypted {
            header,
            content: body.content,
            signature: body.signature,
        })
    }

    /// Initiator or responder.
    pub fn role(&self) -> Role {
        self.role
    }
    /// The local Session ID.
    pub fn local(&self) -> &SessionId {
        &self.local
    }
    /// The peer's Session ID.
    pub fn peer(&self) -> &SessionId {
        &self.peer
    }
    /// The handshake this session came from (its initial messages carry the same ID).
    pub fn handshake_id(&self) -> &[u8; 32] {
        &self.handshake_id
    }
    /// Whether the peer has answered (always true for a responder). Until then an initiator's
    /// messages carry the handshake.
    pub fn is_confirmed(&self) -> bool {
        self.confirmed
    }
    /// When the session was created (Unix seconds).
    pub fn created_at(&self) -> u64 {
        self.created_at
    }
    /// How many messages this side has encrypted.
    pub fn sent_count(&self) -> u64 {
        self.ratchet.sequence
    }
    /// How many skipped message keys are stored.
    pub fn skipped_keys(&self) -> usize {
        self.ratchet.skipped.len()
    }
}

/// What to do with a verified initial message from a peer with whom a session may already
/// exist. The daemon calls [`Session::accept`] first (only then is the initiator known), then
/// this with its current session with that peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncomingInitiation {
    /// No session with the peer: keep the new one.
    Accept,
    /// We initiated too and lose the tie-break (or the peer restarted): keep the new session,
    /// drop ours, and re-send over the new one what was sent on ours and not answered.
    AcceptAndAbandonOurs,
    /// We initiated and win the tie-break: drop the new session and the message it carried;
    /// the peer abandons its attempt and re-sends over ours.
    Superseded,
}

/// Resolves an incoming initiation against `existing`, the session we hold with the same peer.
pub fn resolve_incoming_initiation(existing: Option<&Session>) -> IncomingInitiation {
    match existing {
        None => IncomingInitiation::Accept,
        Some(s) if s.role == Role::Initiator => {
            if simultaneous_initiation_winner(&s.local, &s.peer) == s.local {
                IncomingInitiation::Superseded
            } else {
                IncomingInitiation::AcceptAndAbandonOurs
            }
        }
        Some(_) => IncomingInitiation::AcceptAndAbandonOurs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratchet::{chain_step, root_step};
    use pars_crypto::bundle::{PREKEY_LIFETIME_SECS, PrekeySecret};
    use pars_crypto::identity::MasterSeed;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    const T0: u64 = 1_795_651_200;

    struct Party {
        keys: IdentityKeys,
        bundle: IdentityBundle,
        prekeys: Vec<PrekeySecret>,
        replay: ReplayCache,
    }

    fn party(seed: u8, rng: &mut ChaCha20Rng) -> Party {
        let keys = IdentityKeys::from_seed(&MasterSeed::from_bytes([seed; 32]));
        let pk = PrekeySecret::generate(7, T0, PREKEY_LIFETIME_SECS, rng);
        let bundle = IdentityBundle::create(&keys, &pk.public, T0, rng).unwrap();
        Party {
            keys,
            bundle,
            prekeys: vec![pk],
            replay: ReplayCache::new(),
        }
    }

    fn start(seed: u64) -> (ChaCha20Rng, Party, Party, Session, SessionMessage) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let a = party(1, &mut rng);
        let b = party(2, &mut rng);
        let mut s = Session::initiate(
            &a.keys,
            &a.bundle,
            &b.keys.session_id(),
            &b.bundle,
            T0,
            &mut rng,
        )
        .unwrap();
        let m = s.encrypt(b"m0", ContentType::Text, T0, &mut rng).unwrap();
        (rng, a, b, s, m)
    }

    /// Opens an initial message's payload as its responder, edits it and re-seals it under the
    /// same handshake keys: what an attacker who could forge the encryption would send.
    fn tamper_payload(
        responder: &Party,
        msg: &SessionMessage,
        edit: impl FnOnce(&mut HandshakePayload),
    ) -> SessionMessage {
        let hs = msg.handshake.as_ref().unwrap();
        let ss_i = responder
            .keys
            .encryption_key()
            .decapsulate(&hs.identity_ciphertext, labels::HANDSHAKE)
            .unwrap();
        let ss_p = responder.prekeys[0]
            .secret
            .decapsulate(&hs.prekey_ciphertext, labels::HANDSHAKE)
            .unwrap();
        let keys = handshake_keys(&ss_i, &ss_p, &responder.keys.session_id(), hs);
        let plain = aead::open(&keys.payload, &ZERO_NONCE, &payload_ad(hs), &hs.payload).unwrap();
        let mut p = HandshakePayload::decode(&plain).unwrap();
        edit(&mut p);
        let mut out = msg.clone();
        out.handshake.as_mut().unwrap().payload =
            aead::seal(&keys.payload, &ZERO_NONCE, &payload_ad(hs), &p.encode());
        out
    }

    #[test]
    fn both_sides_derive_the_same_root_chain_and_header_keys() {
        let (mut rng, _a, mut b, mut s_a, m) = start(1);
        let (mut s_b, first) = Session::accept(&b.keys, &b.prekeys, &mut b.replay, &m, T0).unwrap();
        assert_eq!(first.content, b"m0");
        let (ra, rb) = (&s_a.ratchet, &s_b.ratchet);
        assert_eq!(ra.root, rb.root);
        let (sa, rb_chain) = (ra.send.as_ref().unwrap(), rb.recv.as_ref().unwrap());
        assert_eq!(
            (&sa.ck, &sa.hk, sa.n),
            (&rb_chain.ck, &rb_chain.hk, rb_chain.n)
        );
        assert_eq!(ra.next_send_hk, rb.next_recv_hk);
        assert_eq!(ra.next_recv_hk, rb.next_send_hk);
        // After the first ratchet step (Bob's reply) both agree again.
        let reply = s_b.encrypt(b"r", ContentType::Text, T0, &mut rng).unwrap();
        s_a.decrypt(&reply, T0).unwrap();
        let (ra, rb) = (&s_a.ratchet, &s_b.ratchet);
        assert_eq!(ra.root, rb.root);
        let (ra_recv, rb_send) = (ra.recv.as_ref().unwrap(), rb.send.as_ref().unwrap());
        assert_eq!((&ra_recv.ck, &ra_recv.hk), (&rb_send.ck, &rb_send.hk));
        assert_eq!(ra.next_recv_hk, rb.next_send_hk);
        assert_ne!(ra.root, ra.next_recv_hk);
    }

    #[test]
    fn debug_output_shows_no_keys_or_content() {
        let (_rng, _a, mut b, s, m) = start(5);
        let dbg = format!("{s:?}");
        assert!(dbg.contains("Initiator") && !dbg.contains("root"), "{dbg}");
        let (_, d) = Session::accept(&b.keys, &b.prekeys, &mut b.replay, &m, T0).unwrap();
        let dbg = format!("{d:?}");
        assert!(dbg.contains("content_len: 2"), "{dbg}");
        assert!(!dbg.contains("109, 48"), "content bytes leak: {dbg}");
    }

    #[test]
    fn a_bad_transcript_signature_is_rejected() {
        let (mut rng, a, mut b, _s, m) = start(2);
        let other = a
            .keys
            .signing_key()
            .sign(labels::SIG_HANDSHAKE, b"something else", &mut rng)
            .unwrap();
        let forged = tamper_payload(&b, &m, |p| p.signature = other);
        let e = Session::accept(&b.keys, &b.prekeys, &mut b.replay, &forged, T0).unwrap_err();
        assert!(matches!(e, SessionError::BadHandshakeSignature(_)), "{e}");
        // Swapping the ratchet key breaks the signature too.
        let forged = tamper_payload(&b, &m, |p| p.ratchet_key.0[0] ^= 1);
        let e = Session::accept(&b.keys, &b.prekeys, &mut b.replay, &forged, T0).unwrap_err();
        assert!(matches!(e, SessionError::BadHandshakeSignature(_)), "{e}");
        assert!(b.replay.is_empty());
        Session::accept(&b.keys, &b.prekeys, &mut b.replay, &m, T0).unwrap();
    }

    #[test]
    fn a_bundle_that_does_not_match_the_claimed_id_is_rejected() {
        let (mut rng, a, mut b, _s, m) = start(3);
        let mallory = party(3, &mut rng);
        let alice_id = a.keys.session_id();
        // Mallory claims to be Alice but can only present her own bundle.
        let forged = tamper_payload(&b, &m, |p| p.bundle = mallory.bundle.clone());
        let e = Session::accept(&b.keys, &b.prekeys, &mut b.replay, &forged, T0).unwrap_err();
        assert_eq!(
            e,
            SessionError::BundleMismatch {
                expected: alice_id.to_string()
            }
        );
        let forged = tamper_payload(&b, &m, |p| p.initiator = mallory.keys.session_id());
        assert!(matches!(
            Session::accept(&b.keys, &b.prekeys, &mut b.replay, &forged, T0),
            Err(SessionError::BundleMismatch { .. })
        ));
    }

    /// Post-compromise security holds against an attacker who breaks *one* of X25519 and
    /// ML-KEM: with a copy of Bob's state and either secret of Bob's next ratchet step, the new
    /// chain stays closed; only both secrets open it (the control).
    #[test]
    fn healing_needs_only_one_unbroken_half() {
        let (mut rng, _a, mut b, mut s_a, m) = start(4);
        let (mut s_b, _) = Session::accept(&b.keys, &b.prekeys, &mut b.replay, &m, T0).unwrap();
        let r = s_b.encrypt(b"r", ContentType::Text, T0, &mut rng).unwrap();
        s_a.decrypt(&r, T0).unwrap();
        let m1 = s_a.encrypt(b"m1", ContentType::Text, T0, &mut rng).unwrap();
        // Compromise: the attacker copies Bob's state and keeps up with Alice's next chain.
        let mut attacker = s_b.clone();
        attacker.decrypt(&m1, T0).unwrap();
        s_b.decrypt(&m1, T0).unwrap();
        // Bob's next chain draws fresh keys.
        let m2 = s_b.encrypt(b"m2", ContentType::Text, T0, &mut rng).unwrap();
        let at = &attacker.ratchet;
        let hk = &at.next_send_hk;
        let header = MessageHeader::decode(
            &aead::open_random_nonce(hk, &m2.header_ad(), &m2.header).unwrap(),
        )
        .unwrap();
        let kem = header.kem.as_ref().unwrap();
        let alice_dh = at.dh_peer.unwrap();
        let alice_kem = at.kem_peer.as_ref().unwrap();
        let transcript: [&[u8]; 5] = [
            &header.ratchet_key.0,
            &alice_dh.0,
            kem.ciphertext.as_bytes(),
            alice_kem.as_bytes(),
            kem.public_key.as_bytes(),
        ];
        let opens = |dh: &SharedSecret, kem_ss: &SharedSecret| {
            let [_, ck, _] = root_step(&at.root, dh, kem_ss, &transcript);
            let (_, mk) = chain_step(&ck);
            aead::open(&mk, &ZERO_NONCE, &m2.body_ad(), &m2.body).is_ok()
        };
        // The true secrets: Bob's fresh X25519 secret, Alice's ML-KEM secret.
        let dh_true = s_b
            .ratchet
            .dh_self
            .as_ref()
            .unwrap()
            .diffie_hellman(&alice_dh)
            .unwrap();
        let kem_true = s_a
            .ratchet
            .kem_self
            .as_ref()
            .unwrap()
            .decapsulate(&kem.ciphertext);
        // What the attacker's copy computes by itself.
        let dh_own = at
            .dh_self
            .as_ref()
            .unwrap()
            .diffie_hellman(&header.ratchet_key)
            .unwrap();
        let kem_own = at.kem_self.as_ref().unwrap().decapsulate(&kem.ciphertext);
        assert!(
            opens(&dh_true, &kem_true),
            "control: both secrets open the chain"
        );
        assert!(!opens(&dh_true, &kem_own), "X25519 broken, ML-KEM holds");
        assert!(!opens(&dh_own, &kem_true), "ML-KEM broken, X25519 holds");
        assert!(!opens(&dh_own, &kem_own));
    }
}
