//! Shared setup for the integration tests: identities with bundles and prekeys.
#![allow(dead_code)]

use pars_crypto::SessionId;
use pars_crypto::bundle::{IdentityBundle, PREKEY_LIFETIME_SECS, PrekeySecret};
use pars_crypto::identity::{IdentityKeys, MasterSeed};
use pars_session::{ReplayCache, Session};
use pars_wire::message::{ContentType, SessionMessage};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// 2026-11-26T00:00:00Z.
pub const T0: u64 = 1_795_651_200;

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub struct User {
    pub keys: IdentityKeys,
    pub id: SessionId,
    pub prekeys: Vec<PrekeySecret>,
    pub bundle: IdentityBundle,
    pub replay: ReplayCache,
}

impl User {
    pub fn new(seed: u8, now: u64, rng: &mut ChaCha20Rng) -> Self {
        let keys = IdentityKeys::from_seed(&MasterSeed::from_bytes([seed; 32]));
        let prekey = PrekeySecret::generate(u32::from(seed) * 10, now, PREKEY_LIFETIME_SECS, rng);
        let bundle = IdentityBundle::create(&keys, &prekey.public, now, rng).unwrap();
        Self {
            id: keys.session_id(),
            keys,
            prekeys: vec![prekey],
            bundle,
            replay: ReplayCache::new(),
        }
    }

    pub fn initiate(&self, peer: &User, now: u64, rng: &mut ChaCha20Rng) -> Session {
        Session::initiate(&self.keys, &self.bundle, &peer.id, &peer.bundle, now, rng).unwrap()
    }

    pub fn accept(
        &mut self,
        msg: &SessionMessage,
        now: u64,
    ) -> Result<(Session, pars_session::Decrypted), pars_session::SessionError> {
        Session::accept(&self.keys, &self.prekeys, &mut self.replay, msg, now)
    }
}

/// Alice and Bob with an established session (Alice initiated, Bob replied, Alice read it).
pub fn established(seed: u64) -> (ChaCha20Rng, Session, Session) {
    let mut r = rng(seed);
    let alice = User::new(1, T0, &mut r);
    let mut bob = User::new(2, T0, &mut r);
    let mut a = alice.initiate(&bob, T0, &mut r);
    let m = a.encrypt(b"hello", ContentType::Text, T0, &mut r).unwrap();
    let (mut b, _) = bob.accept(&m, T0).unwrap();
    let reply = b.encrypt(b"hi", ContentType::Text, T0, &mut r).unwrap();
    a.decrypt(&reply, T0).unwrap();
    (r, a, b)
}

/// Encrypts `text` and checks the encoding round-trips, returning the decoded message.
pub fn send(s: &mut Session, text: &[u8], now: u64, r: &mut ChaCha20Rng) -> SessionMessage {
    let m = s.encrypt(text, ContentType::Text, now, r).unwrap();
    let bytes = m.encode();
    let back = SessionMessage::decode(&bytes).unwrap();
    assert_eq!(back, m);
    back
}
