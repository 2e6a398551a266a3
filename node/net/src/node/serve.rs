//! Runs one swarm request: the sans-IO [`SwarmService`](crate::swarm::SwarmService) decides, and
//! this carries out its effect — replicate to the other members, forward a delete or expiry,
//! hold a long-poll until a message arrives or the wait ends — and wakes held retrieves. The
//! requests a node sends on the swarm protocol are here too: one to itself is served here.

use super::command::Command;
use super::ctx::Ctx;
use super::stats::bump;
use crate::NetError;
use crate::config::unix_ms;
use crate::swarm::{HoldId, PageQuery, Step};
use libp2p::PeerId;
use pars_wire::Mailbox;
use pars_wire::swarm::{ErrorCode, ReplicaItem, SwarmRequest, SwarmResponse};
use tokio::sync::oneshot;

/// The answer to one request from `peer`.
pub(super) async fn serve(ctx: &Ctx, peer: PeerId, req: SwarmRequest) -> SwarmResponse {
    let members = ctx.set.members();
    let out = ctx
        .service
        .handle(
            unix_ms(),
            peer,
            ctx.is_recent_member(&peer),
            &members,
            &ctx.store,
            req,
        )
        .await;
    bump(&ctx.counters.replicas_accepted, out.replicas_accepted);
    for mailbox in &out.arrived {
        ctx.wake(mailbox);
    }
    match out.step {
        Step::Respond(resp) => resp,
        Step::Record => match ctx.record().encode() {
            Ok(record) => SwarmResponse::Record { record },
            Err(e) => SwarmResponse::error(ErrorCode::Internal, 0, e.to_string()),
        },
        Step::Replicate {
            to,
            spare,
            item,
            pending,
        } => {
            let acks = libp2p::futures::future::join_all(
                to.iter().map(|p| ctx.replicate(*p, vec![item.clone()])),
            )
            .await;
            let mut held = acks.iter().filter(|a| **a).count();
            // A member that did not take its copy is stood in for by the next spare member.
            let mut spares = spare.iter();
            while held < to.len() {
                let Some(p) = spares.next() else { break };
                if ctx.replicate(*p, vec![item.clone()]).await {
                    held += 1;
                }
            }
            ctx.service.stored(pending, held)
        }
        Step::Forward { to, request, then } => {
            let _ = libp2p::futures::future::join_all(to.iter().map(|p| ctx.request(*p, &request)))
                .await;
            then
        }
        Step::Hold { query, wait_ms } => hold(ctx, query, wait_ms).await,
    }
}

/// A held slot, released when the retrieve is answered.
struct Slot<'a> {
    ctx: &'a Ctx,
    id: HoldId,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Ok(mut h) = self.ctx.holds.lock() {
            h.release(self.id);
        }
    }
}

/// A long-poll on an empty mailbox: held until a message arrives here (a store or a replica),
/// the wait ends, or the node stops; refused with Busy when as many as allowed are held.
async fn hold(ctx: &Ctx, query: PageQuery, wait_ms: u32) -> SwarmResponse {
    let (tx, arrived) = oneshot::channel();
    let held = ctx
        .holds
        .lock()
        .ok()
        .and_then(|mut h| h.hold(query.mailbox, ctx.started.elapsed(), wait_ms, tx));
    let Some((id, deadline)) = held else {
        bump(&ctx.counters.waits_refused, 1);
        return ctx.service.busy(ctx.cfg.max_waiting_retrieves);
    };
    let slot = Slot { ctx, id };
    // Registered before this second look: a store between the two is not missed.
    if let Some(resp) = ctx.service.look(&ctx.store, &query, unix_ms()) {
        return resp;
    }
    let wait = deadline.saturating_sub(ctx.started.elapsed());
    let mut stop = ctx.shutdown.subscribe();
    if !*stop.borrow_and_update() {
        tokio::select! {
            _ = arrived => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
    drop(slot);
    ctx.service.page(&ctx.store, &query, unix_ms())
}

impl Ctx {
    /// Sends one swarm-protocol request and decodes the answer.
    pub async fn request(
        &self,
        peer: PeerId,
        req: &SwarmRequest,
    ) -> Result<SwarmResponse, NetError> {
        if peer == self.local {
            // libp2p does not dial itself: a node that is in the swarm serves its own request,
            // after the same decoding a remote request gets.
            return Ok(match SwarmRequest::decode(&req.encode()) {
                Ok(req) => Box::pin(serve(self, peer, req)).await,
                Err(e) => SwarmResponse::error(ErrorCode::Malformed, 0, e.to_string()),
            });
        }
        self.send_frame(peer, req.encode())
            .await
            .and_then(|b| Ok(SwarmResponse::decode(&b)?))
    }

    /// Sends frame bytes on the swarm protocol; the answer comes back undecoded.
    pub async fn send_frame(&self, peer: PeerId, frame: Vec<u8>) -> Result<Vec<u8>, NetError> {
        self.command(|reply| Command::Request { peer, frame, reply })
            .await?
    }

    /// Copies items to `peer`; true if it acknowledged holding all of them.
    pub async fn replicate(&self, peer: PeerId, items: Vec<ReplicaItem>) -> bool {
        let n = items.len();
        matches!(
            self.request(peer, &SwarmRequest::Replicate { items }).await,
            Ok(SwarmResponse::Done { count }) if count as usize == n
        )
    }

    /// A message for `mailbox` was stored here: wake its held retrieves.
    fn wake(&self, mailbox: &Mailbox) {
        let wakers = match self.holds.lock() {
            Ok(mut h) => h.arrived(mailbox),
            Err(_) => return,
        };
        for w in wakers {
            let _ = w.send(());
        }
    }
}
