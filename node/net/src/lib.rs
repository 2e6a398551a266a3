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
//! **Onion routing** (`docs/protocol.md` §8.13). A service node also speaks `/pars/onion/1`
//! (fixed 32 KiB packets of `pars-onion`, peeled on the blocking pool, forwarded to set members
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
pub mod identity;
mod node;
pub mod set;

pub use client::{
    ClientConfig, ClientStats, ClientStoreReceipt, OnionClient, RetrievedPage, start_client,
};
pub use codec::FrameCodec;
pub use node::{
    DEFAULT_MAX_RETRIEVE_WAIT, NetworkHandle, NodeConfig, NodeStats, ONION_KEYS_FILE, OnionSeen,
    OnionStats, RateLimit, StoreReceipt, start, unix_ms,
};
pub use set::{Membership, ServiceNode, ServiceNodeSet, SetError, StaticSet};

/// Software name and version put in node records and identify.
pub const SOFTWARE: &str = concat!("pars-net/", env!("CARGO_PKG_VERSION"));

/// What went wrong in the network layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// File-system trouble (data dir, key file).
    #[error("I/O error: {0}")]
    Io(String),
    /// The node key could not be loaded or used.
    #[error("node identity: {0}")]
    Identity(String),
    /// libp2p could not be set up (transport, listen address).
    #[error("libp2p setup failed: {0}")]
    Setup(String),
    /// The mailbox store failed.
    #[error(transparent)]
    Store(#[from] pars_store::StoreError),
    /// A frame did not decode.
    #[error("malformed frame: {0}")]
    Wire(#[from] pars_wire::WireError),
    /// The request could not be delivered or answered (peer unreachable, timeout, reset).
    #[error("request to {peer} failed: {reason}")]
    Request {
        /// The peer.
        peer: String,
        /// Why.
        reason: String,
    },
    /// The remote node refused the request.
    #[error("node refused the request ({code:?}, {value}): {detail}")]
    Refused {
        /// Its code.
        code: pars_wire::swarm::ErrorCode,
        /// Its code-specific number.
        value: u32,
        /// Its explanation.
        detail: String,
    },
    /// No member of the swarm could be reached.
    #[error("no swarm member answered: {0}")]
    NoSwarm(String),
    /// A node record failed verification.
    #[error("invalid node record: {0}")]
    BadRecord(String),
    /// The record was not found in the DHT.
    #[error("node record not found")]
    NotFound,
    /// The node is shutting down.
    #[error("the network task has stopped")]
    Stopped,
    /// An answer of an unexpected kind.
    #[error("unexpected response: {0}")]
    Unexpected(String),
}
