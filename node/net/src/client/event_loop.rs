//! The client's libp2p event loop: the behaviour (ping, onion, directory), the commands the
//! [`OnionClient`](super::OnionClient) sends it, and the table of pending replies it opens
//! incoming packets against. It does no path policy.

use super::stats::{Counters, bump};
use crate::codec::{Waiters, settle_outbound};
use crate::{FrameCodec, NetError};
use libp2p::futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, ping, request_response as rr};
use pars_onion::{PendingReply, Reply, ReplyId, ReplyTable};
use pars_wire::directory::DirectoryRequest;
use pars_wire::onion::OnionPacket;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

#[derive(NetworkBehaviour)]
pub(super) struct ClientBehaviour {
    pub(super) ping: ping::Behaviour,
    pub(super) onion: rr::Behaviour<FrameCodec>,
    pub(super) directory: rr::Behaviour<FrameCodec>,
}

pub(super) enum Cmd {
    Send {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        frame: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    Directory {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
    },
    Expect {
        pending: PendingReply,
        reply: oneshot::Sender<Reply>,
    },
    Cancel {
        id: ReplyId,
    },
    ConnectedPeers {
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

pub(super) struct ClientLoop {
    pub(super) swarm: Swarm<ClientBehaviour>,
    pub(super) cmd_rx: mpsc::Receiver<Cmd>,
    pub(super) counters: Arc<Counters>,
    pub(super) log: Arc<Mutex<Vec<PeerId>>>,
    pub(super) sends: Waiters<()>,
    pub(super) directories: Waiters<Vec<u8>>,
    pub(super) table: ReplyTable,
    pub(super) waiters: HashMap<ReplyId, oneshot::Sender<Reply>>,
}

impl ClientLoop {
    pub(super) async fn run(mut self) {
        loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_event(ev),
                cmd = self.cmd_rx.recv() => match cmd {
                    None => break,
                    Some(Cmd::Shutdown { reply }) => {
                        let _ = reply.send(());
                        break;
                    }
                    Some(c) => self.on_command(c),
                },
            }
        }
        for (_, r) in self.sends.drain() {
            let _ = r.send(Err(NetError::Stopped));
        }
        for (_, r) in self.directories.drain() {
            let _ = r.send(Err(NetError::Stopped));
        }
    }

    fn on_command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Send {
                peer,
                addrs,
                frame,
                reply,
            } => {
                bump(&self.counters.packets_sent);
                let id = self
                    .swarm
                    .behaviour_mut()
                    .onion
                    .send_request_with_addresses(&peer, frame, addrs);
                self.sends.insert(id, reply);
            }
            Cmd::Directory { peer, addrs, reply } => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .directory
                    .send_request_with_addresses(&peer, DirectoryRequest.encode(), addrs);
                self.directories.insert(id, reply);
            }
            Cmd::Expect { pending, reply } => {
                self.waiters.insert(pending.id(), reply);
                self.table.insert(pending);
            }
            Cmd::Cancel { id } => {
                self.table.cancel(&id);
                self.waiters.remove(&id);
            }
            Cmd::ConnectedPeers { reply } => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Cmd::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    fn on_event(&mut self, ev: SwarmEvent<ClientBehaviourEvent>) {
        match ev {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                if let Ok(mut log) = self.log.lock()
                    && !log.contains(&peer_id)
                {
                    log.push(peer_id);
                }
            }
            SwarmEvent::Behaviour(ClientBehaviourEvent::Onion(e)) => self.on_onion(e),
            SwarmEvent::Behaviour(ClientBehaviourEvent::Directory(e)) => {
                let _ = settle_outbound(&mut self.directories, e, |_| "guard".into(), |r| r);
            }
            _ => {}
        }
    }

    fn on_onion(&mut self, e: rr::Event<Vec<u8>, Vec<u8>>) {
        let rest = settle_outbound(&mut self.sends, e, |_| "guard".into(), |_| ());
        if let Some(rr::Event::Message {
            message: rr::Message::Request {
                request, channel, ..
            },
            ..
        }) = rest
        {
            let _ = self
                .swarm
                .behaviour_mut()
                .onion
                .send_response(channel, Vec::new());
            bump(&self.counters.packets_received);
            let Ok(packet) = OnionPacket::from_vec(request) else {
                bump(&self.counters.wrong_size);
                return;
            };
            match self.table.open_reply(&packet) {
                Ok(reply) => {
                    if let Some(w) = self.waiters.remove(&reply.id) {
                        let _ = w.send(reply);
                    }
                }
                Err(e) => {
                    bump(&self.counters.replies_rejected);
                    tracing::debug!(error = %e, "packet from the guard rejected");
                }
            }
        }
    }
}
