//! The thin driver of the [`PathManager`](super::paths::PathManager): for one operation it asks
//! the manager for a guard and a directory plan, fetches and verifies the directory when told,
//! chooses and builds a path, sends the packet through the event loop, waits for the reply for
//! the manager's per-attempt timeout, and reports the outcome back (success with its round
//! trip, timeout, guard failure). It also runs the cover-traffic task. Every decision is the
//! manager's; this file only does the I/O and reads the clock.

use super::directory::candidates_from;
use super::event_loop::Cmd;
use super::paths::{DirectoryPlan, Failure, Operation};
use super::stats::bump;
use super::{GUARD_STATE_FILE, MAX_ONION_STORE_PAYLOAD, OnionClient, State, lock_err};
use crate::NetError;
use crate::config::unix_ms;
use crate::identity::write_private;
use crate::set::{Membership, node_id};
use libp2p::PeerId;
use pars_onion::{Candidate, CoverSchedule, Path, Reply, build_loop, build_request};
use pars_wire::NodeId;
use pars_wire::directory::DirectoryResponse;
use pars_wire::onion::{BULK_MAX_DATA_LEN_WITH_REPLY, MAX_DATA_LEN_WITH_REPLY};
use pars_wire::swarm::{ErrorCode, MAX_ONION_CHUNK_PAYLOAD, Mailbox, SwarmRequest, SwarmResponse};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How an attempt failed: a kind the retry budget counts, or `None` when the client stopped
/// (no retry).
type AttemptError = (Option<Failure>, NetError);

impl OnionClient {
    pub(super) fn peer_of(&self, members: &Membership, node: &NodeId) -> Option<PeerId> {
        members
            .nodes
            .iter()
            .find(|n| n.node_id() == *node)
            .map(|n| n.peer_id)
    }

    /// The node IDs of the swarms of the client's own mailboxes.
    fn own_swarm(&self, members: &Membership) -> Vec<NodeId> {
        let own = self
            .inner
            .own_mailboxes
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        let mut v: Vec<NodeId> = own
            .iter()
            .flat_map(|m| members.swarm_of(m))
            .map(|p| node_id(&p))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Persists the guard state if it changed (errors are logged: the state is an optimisation
    /// of privacy across restarts, not needed for correctness).
    pub(super) fn save_guard(&self, st: &mut State) {
        let bytes = st.paths.guard_state().to_bytes();
        if bytes == st.saved_guard {
            return;
        }
        let r = write_private(&self.inner.cfg.data_dir.join(GUARD_STATE_FILE), &bytes);
        match r {
            Ok(()) => st.saved_guard = bytes,
            Err(e) => tracing::warn!(error = %e, "could not save the guard state"),
        }
    }

    /// Runs `f` on the state under its lock, then saves the guard state and logs a change
    /// between healthy and degraded.
    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T, NetError> {
        let mut st = self.inner.state.lock().map_err(|_| lock_err())?;
        let out = f(&mut st);
        self.save_guard(&mut st);
        if let Some(h) = st.paths.health_transition(unix_ms()) {
            if h.degraded {
                tracing::warn!(
                    failing_nodes = h.failing_nodes.len(),
                    recent_failures = h.recent_failures,
                    guard_failures = h.guard_failures,
                    "onion paths degraded: requests are being retried around failing nodes"
                );
            } else {
                tracing::info!(recent_attempts = h.recent_attempts, "onion paths recovered");
            }
        }
        Ok(out)
    }

    pub(super) async fn command<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Cmd,
    ) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .cmd
            .send(make(tx))
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// The guard to use and the verified candidates from its directory, fetched when the
    /// manager says so (waiting at most the attempt's timeout).
    async fn directory(
        &self,
        members: &Membership,
        own: &[NodeId],
        op: &Operation,
    ) -> Result<(NodeId, Vec<Candidate>), AttemptError> {
        let ids: Vec<NodeId> = members.nodes.iter().map(|n| n.node_id()).collect();
        let planned = self
            .with_state(|st| {
                let plan = st
                    .paths
                    .plan(&ids, members.epoch, own, unix_ms(), &mut st.rng);
                (plan, st.paths.attempt_timeout(op))
            })
            .map_err(|e| (None, e))?;
        let (guard, timeout) = match planned {
            (None, _) => {
                return Err((
                    Some(Failure::NoPath),
                    NetError::NoSwarm(
                        "no service node outside the own swarms to use as guard".into(),
                    ),
                ));
            }
            (Some(DirectoryPlan::Cached { guard, candidates }), _) => {
                return Ok((guard, candidates));
            }
            (Some(DirectoryPlan::Fetch { guard }), t) => (guard, t),
        };
        let Some(peer) = self.peer_of(members, &guard) else {
            return Err((
                Some(Failure::NoPath),
                NetError::NoSwarm("the guard left the set".into()),
            ));
        };
        let addrs = members
            .get(&peer)
            .map(|n| n.addrs.clone())
            .unwrap_or_default();
        tracing::debug!("fetching the directory from the guard");
        let fetched = tokio::time::timeout(
            timeout,
            self.command(|reply| Cmd::Directory { peer, addrs, reply }),
        )
        .await;
        let fetched = match fetched {
            Ok(Err(NetError::Stopped)) => return Err((None, NetError::Stopped)),
            Ok(r) => r
                .and_then(|r| r)
                .and_then(|b| Ok(DirectoryResponse::decode(&b)?)),
            Err(_) => Err(NetError::Request {
                peer: "guard".into(),
                reason: "the directory did not come in time".into(),
            }),
        };
        let resp = match fetched {
            Ok(r) => r,
            Err(e) => {
                bump(&self.inner.counters.guard_failures);
                let _ = self.with_state(|st| st.paths.guard_failed(guard, unix_ms()));
                return Err((Some(Failure::Guard), e));
            }
        };
        bump(&self.inner.counters.directory_fetches);
        let now = unix_ms();
        let candidates = candidates_from(&resp, members, now / 1000);
        tracing::debug!(nodes = candidates.len(), "directory verified");
        let candidates = self
            .with_state(|st| {
                st.paths
                    .directory_fetched(guard, members.epoch, &ids, candidates, now)
            })
            .map_err(|e| (None, e))?;
        Ok((guard, candidates))
    }

    /// Sends one request over fresh paths until an answer comes back; returns it and the
    /// member that answered (the path's last hop).
    pub(super) async fn exchange(
        &self,
        mailbox: &Mailbox,
        via: Option<PeerId>,
        make: impl FnMut(&mut ChaCha20Rng, &NodeId) -> Result<SwarmRequest, NetError>,
    ) -> Result<(SwarmResponse, PeerId), NetError> {
        self.exchange_held(mailbox, via, Duration::ZERO, make).await
    }

    /// [`Self::exchange`] of a request the last hop may hold up to `hold` before answering.
    pub(super) async fn exchange_held(
        &self,
        mailbox: &Mailbox,
        via: Option<PeerId>,
        hold: Duration,
        mut make: impl FnMut(&mut ChaCha20Rng, &NodeId) -> Result<SwarmRequest, NetError>,
    ) -> Result<(SwarmResponse, PeerId), NetError> {
        let c = &self.inner.counters;
        bump(&c.requests);
        let r = self.exchange_inner(mailbox, via, hold, &mut make).await;
        match &r {
            Ok(_) => bump(&c.succeeded),
            Err(e) => {
                bump(&c.failed);
                tracing::debug!(error = %e, "onion request failed");
            }
        }
        r
    }

    async fn exchange_inner(
        &self,
        mailbox: &Mailbox,
        via: Option<PeerId>,
        hold: Duration,
        make: &mut impl FnMut(&mut ChaCha20Rng, &NodeId) -> Result<SwarmRequest, NetError>,
    ) -> Result<(SwarmResponse, PeerId), NetError> {
        let mut op = self.with_state(|st| st.paths.operation(via.is_some()))?;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (kind, e) = match self.attempt(mailbox, via, hold, make, &op).await? {
                Ok(answer) => return Ok(answer),
                Err(x) => x,
            };
            let Some(kind) = kind else { return Err(e) };
            if !op.retry_after(kind) {
                return Err(e);
            }
            tracing::debug!(attempt, error = %e, "attempt failed; trying a fresh path");
        }
    }

    /// One attempt. The outer error ends the operation (bad input, a stopped client); the inner
    /// one is an attempt's failure, for the retry budget.
    async fn attempt(
        &self,
        mailbox: &Mailbox,
        via: Option<PeerId>,
        hold: Duration,
        make: &mut impl FnMut(&mut ChaCha20Rng, &NodeId) -> Result<SwarmRequest, NetError>,
        op: &Operation,
    ) -> Result<Result<(SwarmResponse, PeerId), AttemptError>, NetError> {
        let members = self.inner.set.members();
        let dest: Vec<NodeId> = match via {
            Some(p) if members.contains(&p) => vec![node_id(&p)],
            Some(_) => {
                return Err(NetError::NoSwarm(
                    "the requested member is not in the service-node set".into(),
                ));
            }
            // The members meant to hold the mailbox: for a file chunk, the closest three of its
            // swarm (the fourth takes a copy only in place of one of them).
            None => members.holders_of(mailbox).iter().map(node_id).collect(),
        };
        if dest.is_empty() {
            return Err(NetError::NoSwarm("the service-node set is empty".into()));
        }
        let own = self.own_swarm(&members);
        let candidates = match self.directory(&members, &own, op).await {
            Ok((_, c)) => c,
            Err((None, e)) => return Err(e),
            Err(x) => return Ok(Err(x)),
        };
        let now = unix_ms();
        // Choose the path under the lock; sign and build outside it (ML-DSA signing and five
        // encapsulations), with a generator forked from the client's.
        let chosen = self.with_state(|st| {
            st.paths
                .select(&candidates, &dest, &own, now, &mut st.rng)
                .map(|path| {
                    (
                        path,
                        ChaCha20Rng::from_rng(&mut st.rng),
                        st.paths.attempt_timeout(op),
                    )
                })
        })?;
        let (path, mut rng, timeout) = match chosen {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "no path");
                let e = NetError::NoSwarm(format!("cannot build a path: {e}"));
                return Ok(Err((Some(Failure::NoPath), e)));
            }
        };
        // Built for the path's last hop: an owner's signature names the member it is for.
        let req = make(&mut rng, &path.forward[2].node)?;
        // Only a chunk store may take a bulk packet; everything else fits a standard one.
        let (max_data, max_payload) = if req.may_travel_bulk() {
            (BULK_MAX_DATA_LEN_WITH_REPLY, MAX_ONION_CHUNK_PAYLOAD)
        } else {
            (MAX_DATA_LEN_WITH_REPLY, MAX_ONION_STORE_PAYLOAD)
        };
        let data = req.encode();
        if data.len() > max_data {
            return Err(NetError::Refused {
                code: ErrorCode::TooLarge,
                value: max_payload as u32,
                detail: format!(
                    "the request is {} bytes; one onion packet carries {max_data} \
                     (payloads up to {max_payload} bytes)",
                    data.len(),
                ),
            });
        }
        let reply = path.reply_path(self.inner.node);
        let request = match build_request(&path.forward, &data, Some(&reply), now / 1000, &mut rng)
        {
            Ok(r) => r,
            Err(e) => {
                // Keys missing or stale: fetch the directory again next time.
                self.with_state(|st| st.paths.build_failed())?;
                tracing::debug!(error = %e, "no path");
                let e = NetError::NoSwarm(format!("cannot build a path: {e}"));
                return Ok(Err((Some(Failure::NoPath), e)));
            }
        };
        bump(&self.inner.counters.paths);
        let last_hop = self
            .peer_of(&members, &path.forward[2].node)
            .ok_or_else(|| NetError::NoSwarm("the last hop left the set".into()))?;
        match self
            .send_and_wait(&members, &path, request, timeout, hold)
            .await
        {
            Ok(reply) => {
                let resp = SwarmResponse::decode(&reply.data)?;
                Ok(Ok((resp, last_hop)))
            }
            Err(x) => Ok(Err(x)),
        }
    }

    /// Sends a built request to the path's guard and waits for its reply (`timeout` plus
    /// `hold`, how long the last hop may hold the request). The outcome is reported to the
    /// manager (a round trip only when nothing was held).
    async fn send_and_wait(
        &self,
        members: &Membership,
        path: &Path,
        request: pars_onion::Request,
        timeout: Duration,
        hold: Duration,
    ) -> Result<Reply, AttemptError> {
        let c = &self.inner.counters;
        let pending = request.pending.ok_or_else(|| {
            (
                None,
                NetError::Unexpected("request built without a reply block".into()),
            )
        })?;
        let id = pending.id();
        let guard = path.guard();
        let peer = self.peer_of(members, &guard).ok_or_else(|| {
            (
                Some(Failure::NoPath),
                NetError::NoSwarm("the guard left the set".into()),
            )
        })?;
        let addrs = members
            .get(&peer)
            .map(|n| n.addrs.clone())
            .unwrap_or_default();
        let (tx, rx) = oneshot::channel();
        self.inner
            .cmd
            .send(Cmd::Expect { pending, reply: tx })
            .await
            .map_err(|_| (None, NetError::Stopped))?;
        let frame = request.packet.into_vec();
        let started = Instant::now();
        // The guard acknowledges a frame as it arrives: one that does not within the attempt's
        // wait (a host gone silent, a dial that hangs) failed like one that refused it.
        let sent = tokio::time::timeout(
            timeout,
            self.command(|reply| Cmd::Send {
                peer,
                addrs,
                frame,
                reply,
            }),
        )
        .await;
        let sent = match sent {
            Err(_) => Err(NetError::Request {
                peer: peer.to_string(),
                reason: format!(
                    "the guard did not take the packet within {} ms",
                    timeout.as_millis()
                ),
            }),
            Ok(Err(e)) => return Err((None, e)),
            Ok(Ok(r)) => r,
        };
        if let Err(e) = sent {
            bump(&c.guard_failures);
            let _ = self.inner.cmd.send(Cmd::Cancel { id }).await;
            let _ = self.with_state(|st| st.paths.guard_failed(guard, unix_ms()));
            return Err((Some(Failure::Guard), e));
        }
        match tokio::time::timeout(timeout + hold, rx).await {
            Ok(Ok(reply)) => {
                let rtt = hold.is_zero().then(|| started.elapsed());
                let _ = self.with_state(|st| st.paths.path_succeeded(path, rtt, unix_ms()));
                Ok(reply)
            }
            _ => {
                bump(&c.path_failures);
                let _ = self.inner.cmd.send(Cmd::Cancel { id }).await;
                let _ = self.with_state(|st| st.paths.path_timed_out(path, unix_ms()));
                Err((
                    Some(Failure::Timeout),
                    NetError::Request {
                        peer: "onion path".into(),
                        reason: format!("no reply within {} ms", (timeout + hold).as_millis()),
                    },
                ))
            }
        }
    }

    /// Sends one loop packet over a fresh path and waits for it to come back.
    async fn send_loop(&self) -> Result<(), NetError> {
        let members = self.inner.set.members();
        let own = self.own_swarm(&members);
        let op = self.with_state(|st| st.paths.operation(false))?;
        let (_, candidates) = self
            .directory(&members, &own, &op)
            .await
            .map_err(|(_, e)| e)?;
        let now = unix_ms();
        let dest: Vec<NodeId> = candidates.iter().map(|c| c.node).collect();
        let (path, mut rng, timeout) = self
            .with_state(|st| {
                st.paths
                    .select(&candidates, &dest, &own, now, &mut st.rng)
                    .map(|p| {
                        (
                            p,
                            ChaCha20Rng::from_rng(&mut st.rng),
                            st.paths.attempt_timeout(&op),
                        )
                    })
            })?
            .map_err(|e| NetError::NoSwarm(format!("cannot build a path: {e}")))?;
        let reply = path.reply_path(self.inner.node);
        let request = build_loop(&path.forward, &reply, now / 1000, &mut rng)
            .map_err(|e| NetError::NoSwarm(format!("cannot build a loop: {e}")))?;
        bump(&self.inner.counters.cover_sent);
        let reply = self
            .send_and_wait(&members, &path, request, timeout, Duration::ZERO)
            .await
            .map_err(|(_, e)| e)?;
        if reply.is_loop {
            bump(&self.inner.counters.cover_returned);
        }
        Ok(())
    }

    /// Cover traffic: loop packets at Poisson intervals, each on its own task so that a slow
    /// loop does not thin out the schedule.
    pub(super) async fn cover_task(self) {
        let mut stop = self.inner.shutdown.subscribe();
        let schedule = CoverSchedule::new(self.inner.cfg.cover_rate_per_sec);
        loop {
            let delay = {
                let Ok(mut st) = self.inner.state.lock() else {
                    return;
                };
                match schedule.next_delay(&mut st.rng) {
                    Some(d) => d,
                    None => return,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = crate::config::stopped(&mut stop) => return,
            }
            let c = self.clone();
            tokio::spawn(async move {
                if let Err(e) = c.send_loop().await {
                    tracing::debug!(error = %e, "cover loop failed");
                }
            });
        }
    }
}
