//! The directory: `/pars/directory/1` answers with the signed records of the current members
//! this node knows (its own first). `records.rs` keeps those records.

use super::event_loop::EventLoop;
use super::stats::bump;
use crate::swarm::BucketKind;
use libp2p::{PeerId, request_response as rr};
use pars_wire::directory::{DirectoryRequest, DirectoryResponse};

impl EventLoop {
    /// A directory request: the signed records of the current members this node knows.
    pub(super) fn on_directory(
        &mut self,
        peer: PeerId,
        frame: Vec<u8>,
        channel: rr::ResponseChannel<Vec<u8>>,
    ) {
        let ctx = self.handle.ctx.clone();
        if DirectoryRequest::decode(&frame).is_err() {
            // Not answered: the stream is dropped, as for any undecodable onion frame.
            return;
        }
        if !self.members.contains(&peer) && self.take_token_for(peer, BucketKind::Onion).is_err() {
            bump(&ctx.onion.counters.rate_limited, 1);
            return;
        }
        bump(&ctx.onion.counters.directory_requests, 1);
        let mut records = Vec::new();
        if let Ok(own) = ctx.record().encode() {
            records.push(own);
        }
        if let Ok(dir) = ctx.onion.directory.lock() {
            for (p, rec) in dir.iter() {
                if self.members.contains(p)
                    && let Ok(b) = rec.encode()
                {
                    records.push(b);
                }
            }
        }
        let resp = DirectoryResponse { records }.encode();
        let _ = self
            .swarm
            .behaviour_mut()
            .directory
            .send_response(channel, resp);
    }

    pub(super) fn on_directory_event(&mut self, e: rr::Event<Vec<u8>, Vec<u8>>) {
        if let rr::Event::Message {
            peer,
            message: rr::Message::Request {
                request, channel, ..
            },
            ..
        } = e
        {
            self.on_directory(peer, request, channel);
        }
    }
}
