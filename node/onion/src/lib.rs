//! # pars-onion
//!
//! Onion routing for Pars Session, as a **sans-IO** core: it builds and peels packets, keeps
//! keys, replay caches and path state, and decides; it never opens a socket, reads a clock or
//! draws randomness of its own (`now` and `&mut impl CryptoRng` are passed in). `pars-net`
//! carries the bytes over libp2p and drives it.
//!
//! - **Packets** ([`pars_wire::onion`]): every packet is 32 KiB. Each hop's layer is keyed by a
//!   hybrid X25519 + ML-KEM-768 encapsulation to the hop's current onion key (one KEM per layer,
//!   as in Outfox); the header holds one 1,205-byte routing slot per further hop and is kept at
//!   constant length with Sphinx filler. A hop learns only its predecessor (from the connection)
//!   and its successor (from its slot), checks a header MAC and a payload MAC, and re-encrypts
//!   the payload, so that what it receives and what it sends share no bytes.
//! - **Client** ([`build_request`], [`build_loop`], [`ReplyTable`]): a request carries a
//!   single-use reply block; the reply comes back through a middle node and the client's guard
//!   and is opened with keys only the client holds.
//! - **Hop** ([`OnionRouter::process`], [`reply_packet`]): `Forward`, `Deliver` or `Drop`. The
//!   same work split in two for many threads: [`OnionRouter::peel`] (`&self`: the KEM and the
//!   MAC checks, no lock) and [`OnionRouter::commit`] (the replay tag, under its key's small
//!   lock), so a node peels packets on all its cores.
//! - **Keys** ([`OnionKeyRing`]): rotation every 24 h, validity 48 h, signed announcements for
//!   the node record, and a replay cache per key that dies with the key.
//!   [`OnionKeyRing::to_stored`] / [`OnionKeyRing::from_stored`] save and restore a ring (keys
//!   and replay caches; restored only from a clean shutdown's state).
//! - **Paths** ([`PathSelector`]): a persisted guard, a middle hop, a last hop in the
//!   destination swarm and a reply middle hop, all in the node set and pairwise diverse.
//! - **Cover traffic** ([`CoverSchedule`]): loop packets at Poisson intervals.
//!
//! It is not a transport and not an application protocol: what the delivered bytes mean (swarm
//! store, retrieve, bundle fetch) is `pars-wire::swarm`'s and `pars-net`'s business. The wire
//! format and its rationale (sizes, ML-KEM-768 versus -1024, integrity design) are in
//! `docs/protocol.md`.

mod client;
mod cover;
mod error;
mod hop;
mod keys;
mod layer;
mod path;
mod persist;

pub use client::{
    PendingReply, REPLY_ID_LEN, Reply, ReplyId, ReplyPath, ReplyTable, Request, build_loop,
    build_request,
};
pub use cover::CoverSchedule;
pub use error::{DropReason, OnionError};
pub use hop::{OnionRouter, Peeled, Processed, reply_packet};
pub use keys::{KeySchedule, OnionKeyRing};
pub use layer::{PathHop, verified_hops};
pub use pars_error::{ErrorKind, HasKind};
pub use pars_wire::onion::{
    BULK_MAX_DATA_LEN, BULK_MAX_DATA_LEN_WITH_REPLY, BULK_PACKET_LEN, HEADER_LEN, MAX_DATA_LEN,
    MAX_DATA_LEN_WITH_REPLY, OnionKeyList, PACKET_LEN, PAYLOAD_LEN, PacketClass, ReplyBlock,
};
pub use pars_wire::{OnionKeyAnnouncement, OnionPacket};
pub use path::{Candidate, GuardState, NetGroup, Operator, Path, PathConfig, PathSelector};
