//! The service node's onion relay: `/pars/onion/1` packets are acknowledged, counted and
//! rate-limited on the event loop, then peeled on a worker pool — the onion router's `&self`
//! [`peel`](pars_onion::OnionRouter::peel) (KEM and MAC checks) runs on up to
//! `onion_peel_workers` blocking threads at once, and only the short replay-tag
//! [`commit`](pars_onion::OnionRouter::commit) takes a (per-key) lock — then forwarded to set
//! members or, as a guard, to connected clients; a delivered packet is run as a swarm request
//! and answered along its reply block.

use super::command::Command;
use super::event_loop::EventLoop;
use super::handle::NetworkHandle;
use super::onion_keys::unix_secs;
use super::onion_state::{OnionSeen, OnionStats};
use super::stats::bump;
use crate::set::node_id;
use crate::swarm::BucketKind;
use libp2p::{PeerId, request_response as rr};
use pars_onion::{Processed, reply_packet};
use pars_wire::onion::{BULK_MAX_DATA_LEN, MAX_DATA_LEN, PacketClass, ReplyBlock};
use pars_wire::swarm::{ErrorCode, SwarmRequest, SwarmResponse};
use pars_wire::{NodeId, NodeRecord};
use tokio::sync::OwnedSemaphorePermit;

impl EventLoop {
    /// A packet arrived: acknowledge the frame, account for it, and process it off the loop.
    pub(super) fn on_onion_packet(
        &mut self,
        peer: PeerId,
        frame: Vec<u8>,
        channel: rr::ResponseChannel<Vec<u8>>,
    ) {
        let _ = self
            .swarm
            .behaviour_mut()
            .onion
            .send_response(channel, Vec::new());
        let ctx = self.handle.ctx.clone();
        let c = &ctx.onion.counters;
        bump(&c.received, 1);
        bump(&c.received_bytes, frame.len() as u64);
        ctx.onion.update_seen(|s| {
            s.from.insert(peer);
        });
        let Some(class) = PacketClass::of_packet_len(frame.len()) else {
            bump(&c.wrong_size, 1);
            return;
        };
        if !self.members.contains(&peer) {
            // A client (or a node outside the set): its guard connection is how replies reach it.
            // A bulk packet costs as many tokens as the standard packets it is worth.
            self.clients.insert(node_id(&peer), peer);
            if self
                .take_tokens_for(peer, BucketKind::Onion, class.weight())
                .is_err()
            {
                bump(&c.rate_limited, 1);
                return;
            }
        }
        let Ok(permit) = ctx.onion.inflight.clone().try_acquire_owned() else {
            bump(&c.overloaded, 1);
            return;
        };
        let handle = self.handle.clone();
        tokio::spawn(async move {
            process_packet(&handle, frame, permit).await;
        });
    }

    /// Sends a packet to the node or client behind `next`.
    pub(super) fn onion_send(&mut self, next: NodeId, frame: Vec<u8>) {
        let ctx = self.handle.ctx.clone();
        let c = &ctx.onion.counters;
        let peer = if let Some(p) = self.member_ids.get(&next) {
            *p
        } else if let Some(p) = self.clients.get(&next) {
            *p
        } else {
            bump(&c.unroutable, 1);
            tracing::debug!("onion packet for an unknown next hop dropped");
            return;
        };
        if peer == ctx.local {
            // Our own layer again (only a malformed path does this): process it once more.
            let Ok(permit) = ctx.onion.inflight.clone().try_acquire_owned() else {
                bump(&c.overloaded, 1);
                return;
            };
            let handle = self.handle.clone();
            tokio::spawn(async move {
                Box::pin(process_packet(&handle, frame, permit)).await;
            });
            return;
        }
        let addrs = ctx
            .set
            .members()
            .get(&peer)
            .map(|n| n.addrs.clone())
            .unwrap_or_default();
        bump(&c.sent, 1);
        bump(&c.sent_bytes, frame.len() as u64);
        ctx.onion.update_seen(|s| {
            s.to.insert(peer);
        });
        self.swarm
            .behaviour_mut()
            .onion
            .send_request_with_addresses(&peer, frame, addrs);
    }

    pub(super) fn on_onion_event(&mut self, e: rr::Event<Vec<u8>, Vec<u8>>) {
        match e {
            rr::Event::Message {
                peer,
                message:
                    rr::Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.on_onion_packet(peer, request, channel),
            rr::Event::Message { .. } | rr::Event::ResponseSent { .. } => {}
            rr::Event::OutboundFailure { error, .. } => {
                bump(&self.handle.ctx.onion.counters.send_failures, 1);
                tracing::debug!(%error, "onion packet not delivered to the next hop");
            }
            rr::Event::InboundFailure { error, .. } => {
                tracing::debug!(%error, "inbound onion stream failed");
            }
        }
    }
}

/// Peels one layer on a peel worker (the blocking pool: it costs a KEM decapsulation), without
/// the router's write lock, commits its replay tag, and acts on the result.
/// `permit` is the packet's in-flight slot, held until it is handled.
async fn process_packet(handle: &NetworkHandle, frame: Vec<u8>, permit: OwnedSemaphorePermit) {
    let ctx = handle.ctx.clone();
    let now = unix_secs();
    // A peel worker's permit; the semaphore is never closed.
    let Ok(worker) = ctx.onion.peelers.clone().acquire_owned().await else {
        return;
    };
    let processed = tokio::task::spawn_blocking(move || {
        let _worker = worker;
        ctx.onion
            .router
            .read()
            .map(|r| r.commit(r.peel_vec(frame, now)))
            .ok()
    })
    .await
    .ok()
    .flatten();
    let c = &handle.ctx.onion.counters;
    match processed {
        Some(Processed::Forward { next_hop, packet }) => {
            bump(&c.forwarded, 1);
            let _ = handle
                .ctx
                .cmd
                .send(Command::OnionSend {
                    next: next_hop,
                    frame: packet.into_vec(),
                })
                .await;
        }
        Some(Processed::Deliver { data, reply }) => {
            bump(&c.delivered, 1);
            deliver(handle, data, reply, permit).await;
        }
        Some(Processed::Drop(reason)) => {
            bump(&c.dropped, 1);
            if reason == pars_onion::DropReason::Replay {
                bump(&c.replays, 1);
            }
            tracing::debug!(?reason, "onion packet dropped");
        }
        None => {
            bump(&c.dropped, 1);
        }
    }
}

/// The last hop: the data is a swarm request; run it as this node would a direct request (or as
/// a client of the swarm when this node is not in it) and answer along the reply block.
async fn deliver(
    handle: &NetworkHandle,
    data: Vec<u8>,
    reply: Option<ReplyBlock>,
    permit: OwnedSemaphorePermit,
) {
    let bulk = PacketClass::for_data(data.len(), reply.is_some()) == Some(PacketClass::Bulk);
    let req = SwarmRequest::decode(&data);
    if let Ok(SwarmRequest::Retrieve { wait_ms: 1.., .. }) = req {
        // A long-poll may be held for seconds: it is bounded by the waiting-retrieve limit,
        // not by the in-flight packet slots.
        drop(permit);
    }
    let max = req.as_ref().map_or(MAX_DATA_LEN, answer_max);
    let resp = match req {
        Err(e) => SwarmResponse::error(ErrorCode::Malformed, 0, e.to_string()),
        Ok(r) if let Some(refusal) = class_refusal(bulk, &r) => refusal,
        Ok(SwarmRequest::Replicate { .. }) => SwarmResponse::error(
            ErrorCode::NotMember,
            0,
            "replication is not accepted through onion paths",
        ),
        Ok(req) => handle.exit_request(req).await,
    };
    let Some(reply) = reply else {
        return;
    };
    let bytes = fit_reply(resp, max);
    match reply_packet(&reply, &bytes) {
        Ok((next, packet)) => {
            bump(&handle.ctx.onion.counters.replies, 1);
            let _ = handle
                .ctx
                .cmd
                .send(Command::OnionSend {
                    next,
                    frame: packet.into_vec(),
                })
                .await;
        }
        Err(e) => tracing::debug!(error = %e, "reply could not be built"),
    }
}

/// The exit's refusal of a request by its packet's class: a bulk packet carries only a chunk
/// store (`pars_wire::swarm::SwarmRequest::may_travel_bulk`), so that bulk packets never hide
/// messages and a bulk packet's cost buys nothing else.
fn class_refusal(bulk: bool, req: &SwarmRequest) -> Option<SwarmResponse> {
    (bulk && !req.may_travel_bulk()).then(|| {
        SwarmResponse::error(
            ErrorCode::Malformed,
            0,
            "bulk onion packets carry only file chunk stores",
        )
    })
}

/// The most answer data the reply to `req` may carry: a bulk packet's for a chunk fetch, a
/// standard one's otherwise.
fn answer_max(req: &SwarmRequest) -> usize {
    if req.answer_may_travel_bulk() {
        BULK_MAX_DATA_LEN
    } else {
        MAX_DATA_LEN
    }
}

/// Encodes a response so that it fits `max` bytes, one reply packet's data (a standard one's,
/// or a bulk one's for a chunk fetch): a page of messages is cut at the last message that fits
/// (with `more` set, so the client continues after it).
pub(crate) fn fit_reply(resp: SwarmResponse, max: usize) -> Vec<u8> {
    let bytes = resp.encode();
    if bytes.len() <= max {
        return bytes;
    }
    match resp {
        SwarmResponse::Messages { mut items, .. } => {
            while items.len() > 1 {
                items.pop();
                let b = SwarmResponse::Messages {
                    items: items.clone(),
                    more: true,
                }
                .encode();
                if b.len() <= max {
                    return b;
                }
            }
            SwarmResponse::error(
                ErrorCode::TooLarge,
                max as u32,
                "the next message is larger than one onion reply carries",
            )
            .encode()
        }
        _ => SwarmResponse::error(
            ErrorCode::TooLarge,
            max as u32,
            "the answer is larger than one onion reply carries",
        )
        .encode(),
    }
}

impl NetworkHandle {
    /// Onion counters.
    pub fn onion_stats(&self) -> OnionStats {
        self.ctx.onion.stats()
    }

    /// The peers this node received onion packets from and sent them to.
    pub fn onion_seen(&self) -> OnionSeen {
        self.ctx
            .onion
            .seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// How many other members' verified records the node's directory holds.
    pub fn directory_len(&self) -> usize {
        self.ctx
            .onion
            .directory
            .lock()
            .map(|d| d.len())
            .unwrap_or(0)
    }

    /// The verified record of `peer` the node's directory holds (what it serves its clients).
    pub fn directory_record(&self, peer: &PeerId) -> Option<NodeRecord> {
        self.ctx
            .onion
            .directory
            .lock()
            .ok()
            .and_then(|d| d.get(peer).cloned())
    }

    /// The IDs and validity `(key_id, valid_from, valid_until)` of the node's onion keys.
    pub fn onion_key_ids(&self) -> Vec<(u32, u64, u64)> {
        self.ctx
            .onion
            .router
            .read()
            .map(|r| r.keys().key_ids())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pars_wire::swarm::MailboxItem;

    fn item(seq: u64, len: usize) -> MailboxItem {
        MailboxItem {
            seq,
            hash: [seq as u8; 32],
            expires_at_ms: 1,
            payload: vec![seq as u8; len],
        }
    }

    #[test]
    fn bulk_packets_carry_chunk_stores_only_and_only_chunk_fetches_answer_bulk() {
        use pars_crypto::SessionId;
        use pars_wire::ChunkId;
        use pars_wire::swarm::Mailbox;
        let store = |mailbox| SwarmRequest::Store {
            mailbox,
            ttl_ms: 0,
            payload: vec![1; 100_000],
        };
        let retrieve = |mailbox| SwarmRequest::Retrieve {
            mailbox,
            after: 0,
            max_count: 1,
            max_bytes: 1 << 17,
            wait_ms: 0,
            auth: None,
        };
        let chunk = Mailbox::Chunk(ChunkId([7; 32]));
        let inbox = Mailbox::Inbox(SessionId::from_digest([3; 32]));
        assert!(class_refusal(true, &store(chunk)).is_none());
        for r in [store(inbox), retrieve(chunk), SwarmRequest::GetRecord] {
            assert!(matches!(
                class_refusal(true, &r),
                Some(SwarmResponse::Error {
                    code: ErrorCode::Malformed,
                    ..
                })
            ));
            assert!(class_refusal(false, &r).is_none());
        }
        assert_eq!(answer_max(&retrieve(chunk)), BULK_MAX_DATA_LEN);
        for r in [retrieve(inbox), store(chunk), SwarmRequest::GetRecord] {
            assert_eq!(answer_max(&r), MAX_DATA_LEN);
        }
    }

    #[test]
    fn replies_are_cut_to_fit_one_packet() {
        // Small answers are untouched.
        let small = SwarmResponse::Done { count: 3 };
        assert_eq!(fit_reply(small.clone(), MAX_DATA_LEN), small.encode());
        // A page of 40 × 1,000 bytes is cut after the last message that fits, with `more`.
        let page = SwarmResponse::Messages {
            items: (1..=40).map(|i| item(i, 1000)).collect(),
            more: false,
        };
        let b = fit_reply(page.clone(), MAX_DATA_LEN);
        assert!(b.len() <= MAX_DATA_LEN);
        match SwarmResponse::decode(&b).unwrap() {
            SwarmResponse::Messages { items, more } => {
                assert!(more);
                assert_eq!(items.len(), (MAX_DATA_LEN - 5) / 1052);
                assert_eq!(items.last().unwrap().seq, items.len() as u64);
            }
            other => panic!("expected messages, got {other:?}"),
        }
        // One message too large for a reply: TooLarge, not a truncated message.
        let huge = SwarmResponse::Messages {
            items: vec![item(1, MAX_DATA_LEN)],
            more: false,
        };
        assert!(matches!(
            SwarmResponse::decode(&fit_reply(huge.clone(), MAX_DATA_LEN)).unwrap(),
            SwarmResponse::Error {
                code: ErrorCode::TooLarge,
                ..
            }
        ));
        // A bulk reply (a chunk fetch) carries the whole page and a chunk-sized message.
        assert_eq!(fit_reply(page.clone(), BULK_MAX_DATA_LEN), page.encode());
        let chunk = SwarmResponse::Messages {
            items: vec![item(1, 120 * 1024 + 16)],
            more: false,
        };
        assert_eq!(fit_reply(chunk.clone(), BULK_MAX_DATA_LEN), chunk.encode());
        assert!(
            SwarmResponse::decode(&fit_reply(chunk, MAX_DATA_LEN)).is_ok_and(|r| matches!(
                r,
                SwarmResponse::Error {
                    code: ErrorCode::TooLarge,
                    ..
                }
            ))
        );
    }
}
