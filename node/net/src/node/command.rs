//! [`Command`]: what the handle and the request tasks ask of the event loop, which owns the
//! `Swarm`.

use crate::NetError;
use libp2p::{Multiaddr, PeerId, request_response as rr};
use pars_wire::{NodeId, NodeRecord};
use tokio::sync::oneshot;

/// Commands waiting for the event loop.
pub(super) const COMMAND_QUEUE: usize = 1024;

/// What the handle and the request tasks ask of the event loop.
pub(super) enum Command {
    Request {
        peer: PeerId,
        frame: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
    },
    Respond {
        channel: rr::ResponseChannel<Vec<u8>>,
        frame: Vec<u8>,
    },
    AddAddress {
        peer: PeerId,
        addr: Multiaddr,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    ConnectedPeers {
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    LookupRecord {
        peer: PeerId,
        reply: oneshot::Sender<Result<NodeRecord, NetError>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
    /// Send an onion packet to the node (or connected client) with this node ID.
    OnionSend {
        next: NodeId,
        frame: Vec<u8>,
    },
    /// The node record changed: put it in the DHT.
    PublishRecord,
}
