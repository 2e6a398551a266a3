//! Routing an incoming message to its session, over a narrow [`SessionStore`] (libsignal's
//! `message_decrypt` over its store traits is the model).
//!
//! [`route`] decides what a received [`SessionMessage`] is and decrypts it, reading sessions,
//! prekeys and the replay cache through the store; it writes nothing. The caller commits what
//! the returned [`Routed`] says (the advanced or new session, the replay cache, the effects of
//! the plaintext) in one durable batch, so a crash never leaves half of it.
//!
//! The rules, in order:
//! 1. an initial message (it carries a handshake) of a handshake we accepted goes to the
//!    session that accepted it;
//! 2. an initial message of a new handshake is accepted ([`Session::accept`]) and resolved
//!    against the session we already hold with that peer ([`resolve_incoming_initiation`]):
//!    kept, kept while ours is abandoned (its unanswered messages are re-sent over the new one),
//!    or dropped because our own unconfirmed initiation wins the tie-break;
//! 3. any other message is tried on the open sessions in the store's order (trial decryption
//!    of the encrypted header: nothing in a normal message names its session).
//!
//! It is not the message store: duplicate detection by message ID, the message list and the
//! outbox are the caller's.

use crate::{
    Decrypted, IncomingInitiation, ReplayCache, Session, SessionError, resolve_incoming_initiation,
};
use pars_crypto::SessionId;
use pars_crypto::bundle::PrekeySecret;
use pars_crypto::identity::IdentityKeys;
use pars_wire::message::SessionMessage;

/// What [`route`] reads: the local sessions, prekeys and replay cache. Implemented over the
/// encrypted client store by the daemon and over plain vectors by the simulator.
pub trait SessionStore {
    /// The store's error; a session error converts into it.
    type Error: From<SessionError>;
    /// The peer of the session that accepted the handshake `id`, if one did.
    fn accepted_handshake(&self, id: &[u8; 32]) -> Result<Option<SessionId>, Self::Error>;
    /// The open (not closed) session with `peer`.
    fn open_session(&self, peer: &SessionId) -> Result<Option<Session>, Self::Error>;
    /// The peers of the open sessions, in the order a normal message is tried on them (the
    /// most likely first).
    fn open_peers(&self) -> Result<Vec<SessionId>, Self::Error>;
    /// The local prekey secrets still kept.
    fn prekeys(&self) -> Result<Vec<PrekeySecret>, Self::Error>;
    /// The handshake replay cache.
    fn replay_cache(&self) -> Result<ReplayCache, Self::Error>;
}

/// What an incoming message turned out to be; the caller commits it.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Routed {
    /// A message of a session we hold: store `session` (advanced) and deliver the plaintext.
    Existing {
        /// The session, advanced past the message.
        session: Session,
        /// The plaintext.
        decrypted: Decrypted,
    },
    /// A new session from an initiation: store it (replacing any session with its peer), record
    /// its handshake ID, store `replay`, and deliver the plaintext.
    Accepted {
        /// The new session.
        session: Session,
        /// Its first plaintext.
        decrypted: Decrypted,
        /// The replay cache with this handshake recorded (persist it with the session).
        replay: ReplayCache,
        /// The session we held with the peer and now abandon, if any: re-send over the new
        /// session the user messages sent on it since its creation that the peer never
        /// answered (its side dropped them).
        abandoned: Option<Session>,
    },
    /// An initiation that lost the tie-break to our own unconfirmed one: drop it, store
    /// `replay`, and send the peer a message over our session so that it abandons its attempt
    /// and re-sends over ours.
    Superseded {
        /// The peer.
        peer: SessionId,
        /// The replay cache with this handshake recorded.
        replay: ReplayCache,
    },
    /// A message already decrypted (or whose key is gone): nothing to do.
    Duplicate,
}

/// Routes `msg`, received by `local` at `now`, to its session (see the module documentation).
/// An error means no session opens it: not for us, tampered, a replay, or a message whose
/// session is not known (yet). Nothing is changed by an error.
pub fn route<S: SessionStore>(
    store: &S,
    local: &IdentityKeys,
    msg: &SessionMessage,
    now: u64,
) -> Result<Routed, S::Error> {
    if let Some(hs) = &msg.handshake {
        let id = hs.id();
        match store.accepted_handshake(&id)? {
            Some(peer) => {
                // A further initial message of a handshake we accepted.
                let mut session = store
                    .open_session(&peer)?
                    .ok_or(SessionError::WrongHandshake)?;
                return Ok(match decrypt_existing(&mut session, msg, now)? {
                    Some(decrypted) => Routed::Existing { session, decrypted },
                    None => Routed::Duplicate,
                });
            }
            None => return accept(store, local, msg, now),
        }
    }
    // A normal message: trial decryption. The most telling error is kept (a body that does
    // not decrypt says more than "not this session").
    let mut telling: Option<SessionError> = None;
    for peer in store.open_peers()? {
        let Some(mut session) = store.open_session(&peer)? else {
            continue;
        };
        match decrypt_existing(&mut session, msg, now) {
            Ok(Some(decrypted)) => return Ok(Routed::Existing { session, decrypted }),
            Ok(None) => return Ok(Routed::Duplicate),
            Err(SessionError::NotForThisSession) => {}
            Err(e) => {
                telling.get_or_insert(e);
            }
        }
    }
    Err(telling.unwrap_or(SessionError::NotForThisSession).into())
}

/// Decrypts on a known session; `None` for a duplicate.
fn decrypt_existing(
    session: &mut Session,
    msg: &SessionMessage,
    now: u64,
) -> Result<Option<Decrypted>, SessionError> {
    match session.decrypt(msg, now) {
        Ok(d) => Ok(Some(d)),
        Err(SessionError::Duplicate { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Accepts a new handshake and resolves it against the session held with its peer.
fn accept<S: SessionStore>(
    store: &S,
    local: &IdentityKeys,
    msg: &SessionMessage,
    now: u64,
) -> Result<Routed, S::Error> {
    let mut replay = store.replay_cache()?;
    replay.prune(now);
    let (session, decrypted) = Session::accept(local, &store.prekeys()?, &mut replay, msg, now)?;
    let peer = *session.peer();
    let existing = store.open_session(&peer)?;
    Ok(match resolve_incoming_initiation(existing.as_ref()) {
        IncomingInitiation::Superseded => Routed::Superseded { peer, replay },
        IncomingInitiation::Accept => Routed::Accepted {
            session,
            decrypted,
            replay,
            abandoned: None,
        },
        IncomingInitiation::AcceptAndAbandonOurs => Routed::Accepted {
            session,
            decrypted,
            replay,
            abandoned: existing,
        },
    })
}
