//! # pars-wire
//!
//! Every byte format of Pars Session — on the network and on disk — is defined here, and only
//! here: message envelopes and headers, swarm requests and responses, node records, onion
//! packets, contract actions. Each format has a version byte, a compact binary encoding with
//! big-endian integers and length-prefixed variable fields, and a **total** decoder: any input
//! yields either a value or a typed [`WireError`], never a panic (checked by round-trip tests,
//! fixed vectors and the fuzz targets in `node/wire/fuzz/`).
//!
//! It is not a protocol: it knows what bytes mean, not when to send them. It does no I/O.

pub mod action;
pub mod codec;
pub mod directory;
pub mod envelope;
mod error;
pub mod file;
pub mod group;
pub mod ids;
pub mod message;
pub mod node_record;
pub mod onion;
pub mod onion_state;
pub mod records;
pub mod relay;
pub mod swarm;

pub use codec::{Reader, Writer};
pub use error::WireError;
pub use ids::{ChunkId, FileId, GroupId, MessageId, NodeId, TransferId};
pub use message::{ContentType, MessageHeader, SessionMessage};
pub use node_record::NodeRecord;
pub use onion::{OnionKeyAnnouncement, OnionPacket};
pub use swarm::{Mailbox, SwarmRequest, SwarmResponse};
