//! # pars-session
//!
//! The two-party session protocol of Pars Session, as sans-IO state machines:
//!
//! - the **handshake** ([`Session::initiate`], [`Session::accept`]): the initiator, holding only
//!   the responder's identity bundle, encapsulates (X25519 + ML-KEM-1024) to the responder's
//!   identity key and signed prekey and sends, inside the encryption, its own bundle, its first
//!   ratchet keys and a hybrid signature over the transcript — only the responder learns who is
//!   asking. The initiator may send at once; every message carries the handshake until the
//!   responder's first reply. The responder rejects bad signatures, bundles that do not match
//!   their Session ID, stale prekeys and replays ([`ReplayCache`]);
//! - the **post-quantum double ratchet** with header encryption: a DH *and* a KEM step on
//!   every change of speaker, both secrets in the root KDF under `pars-ratchet-v1`; out-of-order
//!   delivery within libsignal's bounds ([`MAX_SKIPPED_KEYS`], [`MAX_JUMP`]); every message key
//!   deleted after use;
//! - the **stored state** ([`Session::to_bytes`], [`Session::from_bytes`]), versioned.
//!
//! - **routing** of an incoming message to its session ([`route`]) over a narrow
//!   [`SessionStore`]: by handshake ID for initial messages, by trial decryption of the header
//!   otherwise, with simultaneous initiations resolved ([`resolve_incoming_initiation`]). The
//!   daemon and the conversation simulator run the same code.
//!
//! It does no I/O and reads no clock: time (`now`, Unix seconds) and randomness (`&mut impl
//! CryptoRng`) are passed in. It is not the message store, the outbox or the transport: the
//! daemon implements [`SessionStore`] over its encrypted store, commits what [`route`] returns
//! in one batch, and re-sends queued plaintexts when an initiation of ours is abandoned. Byte
//! formats live in `pars_wire::message`.

mod error;
mod ratchet;
mod replay;
mod router;
mod session;
mod state;

pub use error::{ErrorKind, HasKind, SessionError};
pub use ratchet::{MAX_JUMP, MAX_SKIPPED_KEY_AGE_SECS, MAX_SKIPPED_KEYS};
pub use replay::{REPLAY_CACHE_VERSION, ReplayCache};
pub use router::{Routed, SessionStore, route};
pub use session::{
    Decrypted, IncomingInitiation, Role, SendOptions, Session, resolve_incoming_initiation,
    simultaneous_initiation_winner,
};
pub use state::STATE_VERSION;
