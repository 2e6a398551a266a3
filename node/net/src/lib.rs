//! # pars-net
//!
//! The network of Pars Session — service nodes and onion clients: rust-libp2p with TCP and QUIC transports, Noise, Yamux, identify,
//! ping, Kademlia (bootstrap, a routing table of service-set members only, node-record lookup)
//! and the request-response **swarm protocol** that stores, replicates, retrieves, deletes and
//! expires mailbox messages on the swarm of each mailbox (ARCHITECTURE decisions 7 and 13).
//!
//! Shape (ARCHITECTURE convention 8): one composed [`NetworkBehaviour`](libp2p::swarm::NetworkBehaviour),
//! one event-loop task that owns the libp2p `Swarm`, and a cloneable [`NetworkHandle`] that talks
//! to it over bounded channels. Request handling that touches the store or other nodes runs in
//! its own tasks and hands its answer back to the loop, so the loop never waits on disk or on
//! peers.
//!
//! **The swarm core** ([`swarm`]) is sans-IO: [`swarm::SwarmService`] takes `(now, from,
//! request)` and a mailbox store behind [`swarm::MailboxBackend`] and returns effects (respond,
//! replicate to, hold, forward); owner authentication, token buckets and long-poll holds are
//! plain structs that take `now`. The libp2p driver (`node`) is split by concern: behaviour,
//! event loop, handle, request effects, onion relay, onion keys, directory, rebalancing. The
//! direct (non-onion) client API of [`NetworkHandle`] (`store_message`, `retrieve_page`,
//! `retrieve_all`, `request_raw`) exists only with the `test-utils` feature, as does the
//! in-memory mailbox store twin.
//!
//! Errors: [`NetError`] keeps its causes as sources, has an
//! [`ErrorKind`](pars_error::ErrorKind) ([`HasKind`]) and says whether to retry ([`Retry`]).
//!
//! **Onion routing** (`docs/protocol.md` §8.13). A service node also speaks `/pars/onion/1`
//! (fixed 32 KiB packets of `pars-onion`, peeled on a pool of workers, one per core, forwarded to set members
//! or, as a guard, to its connected clients; a delivered packet is run as a swarm request and
//! answered along its reply block) and `/pars/directory/1` (the signed records of the members it
//! knows, with their onion keys). It owns a persisted, rotating onion key ring and re-signs its
//! node record whenever the announced keys change; see [`OnionStats`] for what it counts.
//!
//! The **client** is [`OnionClient`] ([`start_client`]): a host outside the set that connects only
//! to its guard and runs every swarm operation over a fresh 3-hop path with a reply block,
//! retrying on fresh paths, with optional cover traffic.
//!
//! Which nodes count comes from a [`ServiceNodeSet`]; [`StaticSet`] reads it from a file. The
//! swarm of a mailbox is the [`SWARM_SIZE`](pars_wire::swarm::SWARM_SIZE) members closest to it.
//!
//! It does not decide when to call what (that is the daemon's business), and it does not keep
//! client state beyond its key and its guard.

pub mod client;
mod codec;
mod config;
mod error;
pub mod identity;
mod node;
pub mod set;
pub mod swarm;

pub use client::{
    ClientConfig, ClientStats, ClientStoreReceipt, OnionClient, RetrievedPage, start_client,
};
pub use codec::FrameCodec;
pub use config::{
    ConnectionConfig, DEFAULT_MAX_RETRIEVE_WAIT, DEFAULT_ONION_RATE, NodeConfig, unix_ms,
};
pub use error::{BoxError, NetError, Retry};
#[cfg(feature = "test-utils")]
pub use node::StoreReceipt;
pub use node::{
    IDENTIFY_PROTOCOL, KAD_PROTOCOL, NetworkHandle, NodeStats, ONION_KEYS_FILE, OnionSeen,
    OnionStats, start,
};
pub use pars_error::{ErrorKind, HasKind};
pub use set::{Membership, ServiceNode, ServiceNodeSet, SetError, StaticSet};
pub use swarm::RateLimit;

/// Software name and version put in node records and identify.
pub const SOFTWARE: &str = concat!("pars-net/", env!("CARGO_PKG_VERSION"));
