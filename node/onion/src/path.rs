//! Path selection: a persisted guard, a middle hop, a last hop in the destination swarm, and a
//! reply middle hop, all from the registered node set and pairwise diverse in operator and
//! network (/16 for IPv4, /32 for IPv6); failure tracking steers rebuilds away from bad nodes.

use std::collections::HashMap;
use std::net::IpAddr;

use pars_crypto::CryptoRng;
use pars_wire::{NodeId, Reader, WireError, Writer};

use crate::OnionError;
use crate::client::ReplyPath;
use crate::layer::PathHop;

/// Who runs a node (the registry's operator, or the operator field of its record).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Operator(pub String);

/// A node the selector may use, as the network layer knows it from its `ServiceNodeSet`.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The node.
    pub node: NodeId,
    /// Its operator.
    pub operator: Operator,
    /// The IP address it is reached at.
    pub ip: IpAddr,
    /// Its onion keys, from verified announcements.
    pub keys: Vec<PathHop>,
    /// Whether it is in the registered, staked node set. Others are never chosen.
    pub in_set: bool,
}

/// The network a node sits in, for diversity: the /16 of an IPv4 address, the /32 of IPv6.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct NetGroup([u8; 5]);

impl NetGroup {
    /// The group of `ip`.
    pub fn of(ip: &IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                Self([4, o[0], o[1], 0, 0])
            }
            IpAddr::V6(v6) => {
                if let Some(v4) = v6.to_ipv4_mapped() {
                    return Self::of(&IpAddr::V4(v4));
                }
                let o = v6.octets();
                Self([6, o[0], o[1], o[2], o[3]])
            }
        }
    }
}

/// Tunables of path selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathConfig {
    /// A guard is replaced after this long (default 30 days).
    pub guard_rotation_secs: u64,
    /// A guard is replaced after this many consecutive failures (default 3).
    pub guard_max_failures: u32,
    /// A node that failed is avoided for this long (default 10 min).
    pub failure_backoff_secs: u64,
    /// Require distinct /16 networks (default true; a single-host test network turns it off).
    pub subnet_diversity: bool,
    /// A hop's key must stay valid at least this long after building (default 5 min).
    pub key_margin_secs: u64,
    /// Paths to try for one operation before giving up (default 3).
    pub max_attempts: u32,
}

impl Default for PathConfig {
    fn default() -> Self {
        Self {
            guard_rotation_secs: 30 * 24 * 3600,
            guard_max_failures: 3,
            failure_backoff_secs: 600,
            subnet_diversity: true,
            key_margin_secs: 300,
            max_attempts: 3,
        }
    }
}

/// The client's guard, persisted across restarts (the caller stores [`to_bytes`](Self::to_bytes)).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct GuardState {
    /// The current guard.
    pub guard: Option<NodeId>,
    /// When it was chosen, Unix seconds.
    pub chosen_at: u64,
    /// Consecutive failures.
    pub failures: u32,
}

const GUARD_STATE_VERSION: u8 = 1;

impl GuardState {
    /// `version (1) ‖ has_guard (1) ‖ [guard (32)] ‖ chosen_at (8) ‖ failures (4)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(GUARD_STATE_VERSION);
        match &self.guard {
            Some(g) => {
                w.u8(1);
                g.write(&mut w);
            }
            None => {
                w.u8(0);
            }
        }
        w.u64(self.chosen_at).u32(self.failures);
        w.into_vec()
    }

    /// Restores a stored state.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let v = r.u8("guard state version")?;
        if v != GUARD_STATE_VERSION {
            return Err(WireError::UnsupportedVersion {
                what: "guard state",
                version: v,
            });
        }
        let guard = match r.u8("guard flag")? {
            0 => None,
            1 => Some(NodeId::read(&mut r)?),
            x => {
                return Err(WireError::UnknownVariant {
                    what: "guard flag",
                    value: u64::from(x),
                });
            }
        };
        let s = Self {
            guard,
            chosen_at: r.u64("guard chosen_at")?,
            failures: r.u32("guard failures")?,
        };
        r.finish("guard state")?;
        Ok(s)
    }
}

/// A chosen path: the request goes guard → middle → last; its reply comes back
/// last → reply middle → guard → client.
#[derive(Clone, Debug)]
pub struct Path {
    /// `[guard, middle, last]`.
    pub forward: [PathHop; 3],
    /// `[reply middle, guard]`.
    pub reply: [PathHop; 2],
}

impl Path {
    /// The guard.
    pub fn guard(&self) -> NodeId {
        self.forward[0].node
    }

    /// The reply path ending at `client`.
    pub fn reply_path(&self, client: NodeId) -> ReplyPath {
        ReplyPath {
            hops: self.reply.to_vec(),
            client,
        }
    }

    /// Every distinct node on the path.
    pub fn nodes(&self) -> [NodeId; 4] {
        [
            self.forward[0].node,
            self.forward[1].node,
            self.forward[2].node,
            self.reply[0].node,
        ]
    }
}

/// Chooses paths and remembers the guard and recent failures.
#[derive(Debug)]
pub struct PathSelector {
    config: PathConfig,
    guard: GuardState,
    failed: HashMap<NodeId, u64>,
}

struct Usable<'a> {
    c: &'a Candidate,
    hop: PathHop,
    group: NetGroup,
}

impl PathSelector {
    /// A selector resuming from a stored guard state (or [`GuardState::default`]).
    pub fn new(config: PathConfig, guard: GuardState) -> Self {
        Self {
            config,
            guard,
            failed: HashMap::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PathConfig {
        &self.config
    }

    /// The guard state, to persist after every change.
    pub fn guard_state(&self) -> &GuardState {
        &self.guard
    }

    /// A node failed (did not connect, did not answer): avoid it for the backoff period. A guard
    /// failing [`PathConfig::guard_max_failures`] times in a row is replaced at the next
    /// selection.
    pub fn report_failure(&mut self, node: NodeId, now: u64) {
        self.failed.insert(node, now);
        if self.guard.guard == Some(node) {
            self.guard.failures = self.guard.failures.saturating_add(1);
        }
    }

    /// A node worked: forget its failures.
    pub fn report_success(&mut self, node: NodeId) {
        self.failed.remove(&node);
        if self.guard.guard == Some(node) {
            self.guard.failures = 0;
        }
    }

    /// A request on `path` got no answer and the failing hop is unknown: avoid the path's
    /// non-guard hops for the backoff period. The guard is not blamed for an unattributed
    /// failure (only for its own connection failures, through [`report_failure`]), so that a
    /// hop dropping traffic cannot push clients onto a guard of its choosing.
    ///
    /// [`report_failure`]: Self::report_failure
    pub fn path_failed(&mut self, path: &Path, now: u64) {
        for n in [
            path.forward[1].node,
            path.forward[2].node,
            path.reply[0].node,
        ] {
            self.failed.insert(n, now);
        }
    }

    /// Whether `node` failed within the backoff period (it is avoided while others qualify).
    pub fn recently_failed(&self, node: &NodeId, now: u64) -> bool {
        self.failed
            .get(node)
            .is_some_and(|&t| now < t.saturating_add(self.config.failure_backoff_secs))
    }

    fn usable<'a>(&self, c: &'a Candidate, now: u64) -> Option<Usable<'a>> {
        if !c.in_set {
            return None;
        }
        let deadline = now.saturating_add(self.config.key_margin_secs);
        let hop = c
            .keys
            .iter()
            .filter(|k| k.node == c.node && k.valid_until > deadline)
            .max_by_key(|k| k.valid_until)?
            .clone();
        Some(Usable {
            c,
            hop,
            group: NetGroup::of(&c.ip),
        })
    }

    fn diverse(&self, a: &Usable<'_>, chosen: &[&Usable<'_>]) -> bool {
        chosen.iter().all(|b| {
            a.c.node != b.c.node
                && a.c.operator != b.c.operator
                && (!self.config.subnet_diversity || a.group != b.group)
        })
    }

    fn pick<'a, 'b>(
        &self,
        pool: &'b [Usable<'a>],
        chosen: &[&Usable<'a>],
        extra: impl Fn(&Usable<'a>) -> bool,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Option<&'b Usable<'a>> {
        let ok = |u: &&Usable<'a>| self.diverse(u, chosen) && extra(u);
        let fresh: Vec<&Usable<'a>> = pool
            .iter()
            .filter(ok)
            .filter(|u| !self.recently_failed(&u.c.node, now))
            .collect();
        let options = if fresh.is_empty() {
            pool.iter().filter(ok).collect()
        } else {
            fresh
        };
        if options.is_empty() {
            return None;
        }
        let i = (rng.next_u64() % options.len() as u64) as usize;
        Some(options[i])
    }

    /// The guard to contact before any onion key is known (to fetch the directory from it):
    /// the current guard if it is among `nodes` (set members), young enough, not failing and
    /// not in `own_swarm`; otherwise a random such member that did not fail recently, which
    /// becomes the guard. [`select`](Self::select) keeps it as long as its keys are usable.
    pub fn bootstrap_guard(
        &mut self,
        nodes: &[NodeId],
        own_swarm: &[NodeId],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Option<NodeId> {
        if let Some(g) = self.guard.guard
            && nodes.contains(&g)
            && !own_swarm.contains(&g)
            && now.saturating_sub(self.guard.chosen_at) < self.config.guard_rotation_secs
            && self.guard.failures < self.config.guard_max_failures
        {
            return Some(g);
        }
        let allowed: Vec<&NodeId> = nodes.iter().filter(|n| !own_swarm.contains(n)).collect();
        let fresh: Vec<&NodeId> = allowed
            .iter()
            .copied()
            .filter(|n| !self.recently_failed(n, now) && Some(**n) != self.guard.guard)
            .collect();
        let options = if fresh.is_empty() { allowed } else { fresh };
        if options.is_empty() {
            return None;
        }
        let g = *options[(rng.next_u64() % options.len() as u64) as usize];
        self.guard = GuardState {
            guard: Some(g),
            chosen_at: now,
            failures: 0,
        };
        self.failed.remove(&g);
        Some(g)
    }

    /// Chooses a path towards `destination_swarm` (the last hop is one of its members) from
    /// `candidates`. The guard is kept while it is usable, younger than the rotation period and
    /// not failing, and is never a member of `own_swarm` (a client must not connect to its own
    /// swarm). All four nodes are distinct and pairwise differ in operator and network.
    pub fn select(
        &mut self,
        candidates: &[Candidate],
        destination_swarm: &[NodeId],
        own_swarm: &[NodeId],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Path, OnionError> {
        let pool: Vec<Usable<'_>> = candidates
            .iter()
            .filter_map(|c| self.usable(c, now))
            .collect();
        // Keep the guard if it still qualifies.
        let keep = self.guard.guard.and_then(|g| {
            let fresh = now.saturating_sub(self.guard.chosen_at) < self.config.guard_rotation_secs
                && self.guard.failures < self.config.guard_max_failures
                && !own_swarm.contains(&g);
            if fresh {
                pool.iter().position(|u| u.c.node == g)
            } else {
                None
            }
        });
        let guard_idx = match keep {
            Some(i) => i,
            None => {
                let g = self
                    .pick(&pool, &[], |u| !own_swarm.contains(&u.c.node), now, rng)
                    .ok_or(OnionError::NoPath("no usable guard outside the own swarm"))?;
                let idx = pool
                    .iter()
                    .position(|u| u.c.node == g.c.node)
                    .ok_or(OnionError::NoPath("internal: guard vanished"))?;
                self.guard = GuardState {
                    guard: Some(g.c.node),
                    chosen_at: now,
                    failures: 0,
                };
                self.failed.remove(&g.c.node);
                idx
            }
        };
        let guard = &pool[guard_idx];
        let last = self
            .pick(
                &pool,
                &[guard],
                |u| destination_swarm.contains(&u.c.node),
                now,
                rng,
            )
            .ok_or(OnionError::NoPath(
                "no usable member of the destination swarm diverse from the guard",
            ))?;
        let middle = self
            .pick(&pool, &[guard, last], |_| true, now, rng)
            .ok_or(OnionError::NoPath("no usable middle hop"))?;
        let reply_middle = self
            .pick(&pool, &[guard, last, middle], |_| true, now, rng)
            .ok_or(OnionError::NoPath("no usable reply middle hop"))?;
        Ok(Path {
            forward: [guard.hop.clone(), middle.hop.clone(), last.hop.clone()],
            reply: [reply_middle.hop.clone(), guard.hop.clone()],
        })
    }
}
