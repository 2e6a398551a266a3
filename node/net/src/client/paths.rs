//! The onion path manager: the client's network policy as a sans-IO state machine (arti's
//! `tor-circmgr` and quinn-proto are the models). It owns the directory cache (with expiry and
//! forced refresh), the guard (through `pars-onion`'s [`PathSelector`]), per-node failure
//! accounting with decay, path choice avoiding suspected nodes, adaptive per-attempt timeouts
//! from measured round trips, the retry budget of one operation, stale-onion-key detection and
//! the health snapshot.
//!
//! It does no I/O and reads no clock: every call takes `now_ms` (Unix milliseconds) and, where it
//! chooses, an RNG. The driver (`client/mod.rs`) fetches directories, sends packets, waits for
//! replies and reports what happened. It does not verify directory records (see
//! `client/directory.rs`) and does not build packets.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use pars_crypto::CryptoRng;
use pars_onion::{Candidate, GuardState, OnionError, Path, PathConfig, PathSelector};
use pars_wire::NodeId;

/// Tunables of the path manager. [`PolicyConfig::default`] gives the client's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyConfig {
    /// A directory older than this is fetched again (default 10 min).
    pub directory_max_age_ms: u64,
    /// A forced refresh (after a timed-out path or an unbuildable one) waits at least this long
    /// after the last fetch, so a broken network does not hammer the guard (default 2 s).
    pub directory_min_interval_ms: u64,
    /// A directory that withheld known members is fetched again after this long (default
    /// 10 s: a guard that just started may not know every member yet).
    pub withheld_refetch_ms: u64,
    /// While some node is avoided, the directory is fetched again when it is this old (default
    /// 10 s): an avoided node that restarted after a crash announces fresh onion keys, and the
    /// new directory clears its strikes (see [`PathManager::directory_fetched`]) instead of
    /// leaving it avoided for up to [`PolicyConfig::suspect_max_ms`] and then failing once more
    /// on its old keys.
    pub suspect_refresh_ms: u64,
    /// Per-attempt timeout before any round trip was measured (default 4 s).
    pub initial_timeout_ms: u64,
    /// Shortest per-attempt timeout (default 1.5 s).
    pub min_timeout_ms: u64,
    /// Longest per-attempt timeout, also after backing off (default 20 s).
    pub max_timeout_ms: u64,
    /// Paths tried for one operation (default 4); guard failures are counted apart.
    pub attempts: u32,
    /// Paths tried when the last hop is fixed by the caller (default 2): a dead member does
    /// not get better by asking it again.
    pub pinned_attempts: u32,
    /// A node on a failed path is avoided this long after its first strike, doubling with each
    /// further strike (default 20 s).
    pub suspect_base_ms: u64,
    /// Longest avoidance; strikes older than this are forgotten (default 2 min).
    pub suspect_max_ms: u64,
    /// Outcomes of this age count as recent in the health snapshot (default 60 s).
    pub health_window_ms: u64,
    /// A directory may leave out at most this share (per mille) of the members the client
    /// already knows from the set; one that withholds more counts against the guard
    /// (default 250 = a quarter).
    pub max_withheld_permille: u32,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            directory_max_age_ms: 600_000,
            directory_min_interval_ms: 2_000,
            withheld_refetch_ms: 10_000,
            suspect_refresh_ms: 10_000,
            initial_timeout_ms: 4_000,
            min_timeout_ms: 1_500,
            max_timeout_ms: 20_000,
            attempts: 4,
            pinned_attempts: 2,
            suspect_base_ms: 20_000,
            suspect_max_ms: 120_000,
            health_window_ms: 60_000,
            max_withheld_permille: 250,
        }
    }
}

/// What the driver must do to get candidates for a path.
#[derive(Clone, Debug)]
pub enum DirectoryPlan {
    /// The cached directory of `guard` is good: use these candidates.
    Cached {
        /// The guard.
        guard: NodeId,
        /// Its directory's verified candidates.
        candidates: Vec<Candidate>,
    },
    /// Fetch the directory from `guard`, then call [`PathManager::directory_fetched`] or
    /// [`PathManager::guard_failed`].
    Fetch {
        /// The guard.
        guard: NodeId,
    },
}

/// Why an attempt failed, for the retry budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The guard could not be reached (connection or directory fetch failed).
    Guard,
    /// The path got no reply in time.
    Timeout,
    /// No path could be chosen or built.
    NoPath,
}

/// The retry budget of one operation: path attempts and guard failures counted apart, so that
/// a dead guard (replaced after [`PathConfig::guard_max_failures`] failures) does not use up
/// the attempts of the paths after it.
#[derive(Clone, Debug)]
pub struct Operation {
    paths_left: u32,
    guard_left: u32,
    timeouts: u32,
}

impl Operation {
    /// Whether another attempt may follow a failure of kind `f` (and counts it).
    pub fn retry_after(&mut self, f: Failure) -> bool {
        let left = match f {
            Failure::Guard => &mut self.guard_left,
            Failure::Timeout | Failure::NoPath => &mut self.paths_left,
        };
        if f == Failure::Timeout {
            self.timeouts = self.timeouts.saturating_add(1);
        }
        *left = left.saturating_sub(1);
        *left > 0
    }

    /// Attempts of this operation that timed out so far (the next timeout backs off by it).
    pub fn timeouts(&self) -> u32 {
        self.timeouts
    }
}

/// The client's health, for `getStatus` and the logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathHealth {
    /// Whether paths are failing now: a node is suspected, a recent attempt failed, or the
    /// guard is failing.
    pub degraded: bool,
    /// Nodes avoided now because paths through them failed.
    pub failing_nodes: Vec<NodeId>,
    /// Attempts that failed within the health window (timeouts and guard failures).
    pub recent_failures: u32,
    /// Attempts within the health window.
    pub recent_attempts: u32,
    /// The guard.
    pub guard: Option<NodeId>,
    /// Its consecutive failures.
    pub guard_failures: u32,
    /// Age of the cached directory, if there is one.
    pub directory_age_ms: Option<u64>,
    /// Nodes with usable keys in it.
    pub directory_nodes: usize,
    /// The per-attempt timeout a new operation starts with.
    pub attempt_timeout_ms: u64,
}

#[derive(Clone, Debug)]
struct CachedDirectory {
    guard: NodeId,
    epoch: u64,
    fetched_ms: u64,
    candidates: Vec<Candidate>,
}

#[derive(Clone, Copy, Debug, Default)]
struct NodeRecord {
    strikes: u32,
    last_strike_ms: u64,
    avoid_until_ms: u64,
}

/// A path that got no reply: when, its guard, its non-guard hops, and those of them that were
/// struck for it (all, or only the already avoided ones).
#[derive(Clone, Debug)]
struct SilentPath {
    at_ms: u64,
    guard: NodeId,
    hops: Vec<NodeId>,
    struck: Vec<NodeId>,
}

/// Silent paths remembered for [`PathManager::forgive_mates_of`].
const MAX_SILENT_PATHS: usize = 64;

/// How long a node with `strikes` (at least one) is avoided after its last strike.
fn avoidance(cfg: &PolicyConfig, strikes: u32) -> u64 {
    cfg.suspect_base_ms
        .saturating_mul(1u64 << strikes.saturating_sub(1).min(16))
        .min(cfg.suspect_max_ms)
}

/// Smoothed round trip (RFC 6298's estimator, in milliseconds).
#[derive(Clone, Copy, Debug, Default)]
struct Rtt {
    srtt: u64,
    rttvar: u64,
    samples: u64,
}

impl Rtt {
    fn sample(&mut self, ms: u64) {
        if self.samples == 0 {
            self.srtt = ms;
            self.rttvar = ms / 2;
        } else {
            let diff = self.srtt.abs_diff(ms);
            self.rttvar = (3 * self.rttvar + diff) / 4;
            self.srtt = (7 * self.srtt + ms) / 8;
        }
        self.samples = self.samples.saturating_add(1);
    }
}

/// The path manager. See the module documentation.
#[derive(Debug)]
pub struct PathManager {
    cfg: PolicyConfig,
    selector: PathSelector,
    directory: Option<CachedDirectory>,
    /// A refresh was asked for (timed-out path, withholding guard): not before this time.
    refresh_after_ms: Option<u64>,
    nodes: HashMap<NodeId, NodeRecord>,
    /// Recent silent paths: when, their non-guard hops, and the hops struck for each, so that
    /// a node found to have restarted takes the blame off its path-mates.
    silent: VecDeque<SilentPath>,
    /// Onion key IDs each node last announced, to notice fresh keys (a restarted node).
    key_ids: HashMap<NodeId, Vec<u32>>,
    /// Directories from the current guard that withheld too much.
    withheld: u32,
    /// The last guard that served this client (answered a directory fetch or carried a path
    /// that answered); the stored guard counts as one. A guard chosen since that fails before
    /// serving once is replaced at its first failure, not after
    /// [`PathConfig::guard_max_failures`]: that tolerance is for a guard with a record.
    confirmed: Option<NodeId>,
    rtt: Rtt,
    /// `(when, failed)` of recent attempts.
    recent: VecDeque<(u64, bool)>,
    reported_degraded: bool,
}

impl PathManager {
    /// A manager resuming from a stored guard state.
    pub fn new(cfg: PolicyConfig, path: PathConfig, guard: GuardState) -> Self {
        Self {
            confirmed: guard.guard,
            cfg,
            selector: PathSelector::new(path, guard),
            directory: None,
            refresh_after_ms: None,
            nodes: HashMap::new(),
            silent: VecDeque::new(),
            key_ids: HashMap::new(),
            withheld: 0,
            rtt: Rtt::default(),
            recent: VecDeque::new(),
            reported_degraded: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PolicyConfig {
        &self.cfg
    }

    /// The guard state, to persist after every change.
    pub fn guard_state(&self) -> &GuardState {
        self.selector.guard_state()
    }

    /// A new operation's retry budget (`pinned`: the caller fixed the last hop).
    pub fn operation(&self, pinned: bool) -> Operation {
        let paths = if pinned {
            self.cfg.pinned_attempts.min(self.cfg.attempts)
        } else {
            self.cfg.attempts
        };
        Operation {
            paths_left: paths.max(1),
            // The current guard's failures, then three more guards tried once each.
            guard_left: self.selector.config().guard_max_failures.saturating_add(3),
            timeouts: 0,
        }
    }

    /// How long the next attempt of `op` waits for its reply (not counting a hold the last hop
    /// is asked for): four deviations above the smoothed round trip, at least twice it, within
    /// the configured bounds. The first retry after a timeout waits as long (its path avoids
    /// the silent one's hops: a dead node, most likely, not a slow network); each further
    /// timeout of the operation doubles the wait.
    pub fn attempt_timeout(&self, op: &Operation) -> Duration {
        let base = self.base_timeout_ms();
        let backed = base.saturating_mul(1u64 << op.timeouts.saturating_sub(1).min(8));
        Duration::from_millis(backed.min(self.cfg.max_timeout_ms))
    }

    fn base_timeout_ms(&self) -> u64 {
        if self.rtt.samples == 0 {
            return self
                .cfg
                .initial_timeout_ms
                .clamp(self.cfg.min_timeout_ms, self.cfg.max_timeout_ms);
        }
        let rto = (self.rtt.srtt + 4 * self.rtt.rttvar).max(2 * self.rtt.srtt);
        rto.clamp(self.cfg.min_timeout_ms, self.cfg.max_timeout_ms)
    }

    /// The guard for the next attempt and whether its directory must be fetched. The guard is
    /// kept while it is a set member outside `own_swarm`, young and not failing (a new one is
    /// not taken from the suspected nodes); the cached
    /// directory is used while it comes from that guard and that set `epoch`, is younger than
    /// the maximum age (or, while a node is avoided, than
    /// [`PolicyConfig::suspect_refresh_ms`]), and no refresh was asked for (a forced refresh
    /// waits [`PolicyConfig::directory_min_interval_ms`] after the last fetch).
    pub fn plan(
        &mut self,
        members: &[NodeId],
        epoch: u64,
        own_swarm: &[NodeId],
        now_ms: u64,
        rng: &mut impl CryptoRng,
    ) -> Option<DirectoryPlan> {
        // A new guard is not taken from the suspected nodes (unless nothing else is left).
        let current = self.selector.guard_state().guard;
        let healthy: Vec<NodeId> = members
            .iter()
            .filter(|n| Some(**n) == current || !self.suspected(n, now_ms))
            .copied()
            .collect();
        let pool = if healthy.iter().any(|n| !own_swarm.contains(n)) {
            healthy
        } else {
            members.to_vec()
        };
        let guard = self
            .selector
            .bootstrap_guard(&pool, own_swarm, now_ms / 1000, rng)?;
        if let Some(d) = &self.directory
            && d.guard == guard
            && d.epoch == epoch
        {
            let age = now_ms.saturating_sub(d.fetched_ms);
            let forced = self.refresh_after_ms.is_some_and(|t| now_ms >= t)
                || (age >= self.cfg.suspect_refresh_ms && self.any_suspected(now_ms));
            if age < self.cfg.directory_max_age_ms && !forced {
                return Some(DirectoryPlan::Cached {
                    guard,
                    candidates: d.candidates.clone(),
                });
            }
        }
        Some(DirectoryPlan::Fetch { guard })
    }

    /// The guard's directory arrived with these verified `candidates`; `known` are the set's
    /// members. Nodes whose announced keys changed since the last directory lose their strikes
    /// (their paths most likely failed on keys they no longer hold: a restarted node). A
    /// directory that leaves out more than [`PolicyConfig::max_withheld_permille`] of the known
    /// members counts as a guard failure (the security review's #7); after
    /// [`PathConfig::guard_max_failures`] such directories the guard is replaced. Returns the
    /// candidates to use now.
    pub fn directory_fetched(
        &mut self,
        guard: NodeId,
        epoch: u64,
        known: &[NodeId],
        candidates: Vec<Candidate>,
        now_ms: u64,
    ) -> Vec<Candidate> {
        for c in &candidates {
            let mut ids: Vec<u32> = c.keys.iter().map(|k| k.key_id).collect();
            ids.sort_unstable();
            let changed = self.key_ids.get(&c.node).is_some_and(|old| *old != ids);
            if changed {
                self.nodes.remove(&c.node);
                self.forgive_mates_of(c.node);
            }
            self.key_ids.insert(c.node, ids);
        }
        let present: HashSet<NodeId> = candidates.iter().map(|c| c.node).collect();
        let others: Vec<&NodeId> = known.iter().filter(|n| **n != guard).collect();
        let missing = others.iter().filter(|n| !present.contains(n)).count();
        let limit = others.len() * self.cfg.max_withheld_permille as usize / 1000;
        let withholding = missing > limit.max(1);
        self.refresh_after_ms = withholding.then(|| now_ms + self.cfg.withheld_refetch_ms);
        if !withholding {
            self.withheld = 0;
            self.confirmed = Some(guard);
        } else {
            self.withheld = self.withheld.saturating_add(1);
            self.selector.report_failure(guard, now_ms / 1000);
            if self.withheld >= self.selector.config().guard_max_failures {
                self.drop_guard(guard, now_ms);
            }
        }
        self.directory = Some(CachedDirectory {
            guard,
            epoch,
            fetched_ms: now_ms,
            candidates: candidates.clone(),
        });
        candidates
    }

    /// Replaces the guard at the next [`Self::plan`], whatever its failure count.
    fn drop_guard(&mut self, guard: NodeId, now_ms: u64) {
        let max = self.selector.config().guard_max_failures;
        while self.selector.guard_state().guard == Some(guard)
            && self.selector.guard_state().failures < max
        {
            self.selector.report_failure(guard, now_ms / 1000);
        }
        self.withheld = 0;
        self.directory = None;
    }

    /// The guard could not be reached (a directory fetch or a packet send failed, or was not
    /// acknowledged in time). After [`PathConfig::guard_max_failures`] in a row the next
    /// [`Self::plan`] picks another guard; a guard that has not served this client yet is
    /// replaced at its first failure.
    /// The guard also gets a strike (it failed on its own connection, not on a path's
    /// silence), so that health names it and, once replaced, it is not taken back while
    /// avoided.
    pub fn guard_failed(&mut self, guard: NodeId, now_ms: u64) {
        self.selector.report_failure(guard, now_ms / 1000);
        if self.confirmed != Some(guard) {
            self.drop_guard(guard, now_ms);
        }
        self.strike(guard, now_ms);
        self.directory = None;
        self.note(now_ms, true);
    }

    /// Chooses a path towards `destination` from `candidates`, avoiding suspected nodes. When
    /// no path exists without all of them, the least suspected are let back in first (fewest
    /// strikes, then the oldest last strike; ties in random order), one at a time, so that a
    /// small swarm whose live members were struck alongside a dead one on a silent path is
    /// served by those before the dead one is tried again. A path that moved to another guard
    /// than the directory's drops the directory.
    pub fn select(
        &mut self,
        candidates: &[Candidate],
        destination: &[NodeId],
        own_swarm: &[NodeId],
        now_ms: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Path, OnionError> {
        let guard = self.selector.guard_state().guard;
        // The suspected candidates, most suspected first.
        let mut suspects: Vec<(NodeId, u32, u64)> = candidates
            .iter()
            .filter(|c| Some(c.node) != guard && self.suspected(&c.node, now_ms))
            .filter_map(|c| {
                let r = self.nodes.get(&c.node)?;
                Some((c.node, r.strikes, r.last_strike_ms))
            })
            .collect();
        for i in (1..suspects.len()).rev() {
            let j = (rng.next_u32() as usize) % (i + 1);
            suspects.swap(i, j);
        }
        suspects.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)));
        let now = now_ms / 1000;
        // Nodes that failed to connect (a dead guard, most likely) are left out before any
        // suspect is let back in: a suspect is only maybe dead, a failed node surely was.
        // Otherwise a live node under suspicion loses to a dead one the selector falls back
        // on, and each try of the dead one spends the operation's guard budget.
        let failed: HashSet<NodeId> = candidates
            .iter()
            .filter(|c| Some(c.node) != guard && self.selector.recently_failed(&c.node, now))
            .map(|c| c.node)
            .collect();
        let mut path = Err(OnionError::NoPath("no candidates"));
        'passes: for avoid_failed in [true, false] {
            for keep_out in (0..=suspects.len()).rev() {
                let mut out: HashSet<NodeId> = suspects[..keep_out].iter().map(|s| s.0).collect();
                if avoid_failed {
                    out.extend(failed.iter().copied());
                }
                let allowed: Vec<Candidate> = candidates
                    .iter()
                    .filter(|c| !out.contains(&c.node))
                    .cloned()
                    .collect();
                path = self
                    .selector
                    .select(&allowed, destination, own_swarm, now, rng);
                if path.is_ok() {
                    break 'passes;
                }
            }
            if failed.is_empty() {
                break;
            }
        }
        match &path {
            Ok(p) => {
                if self
                    .directory
                    .as_ref()
                    .is_some_and(|d| d.guard != p.guard())
                {
                    self.directory = None;
                }
            }
            // The directory cannot serve this destination: fetch it again at once.
            Err(_) => self.directory = None,
        }
        path
    }

    /// A path could not be built (a hop's key unusable): the directory is fetched again.
    pub fn build_failed(&mut self) {
        self.directory = None;
    }

    /// Whether any node is avoided now.
    fn any_suspected(&self, now_ms: u64) -> bool {
        self.nodes.keys().any(|n| self.suspected(n, now_ms))
    }

    /// Whether `node` is avoided now.
    pub fn suspected(&self, node: &NodeId, now_ms: u64) -> bool {
        self.nodes
            .get(node)
            .is_some_and(|r| r.strikes > 0 && now_ms < r.avoid_until_ms)
    }

    /// An answer came back over `path`; `rtt` is the round trip when the request was not held.
    /// Every node on the path is cleared.
    pub fn path_succeeded(&mut self, path: &Path, rtt: Option<Duration>, now_ms: u64) {
        self.confirmed = Some(path.guard());
        for n in path.nodes() {
            self.selector.report_success(n);
            self.nodes.remove(&n);
        }
        if let Some(r) = rtt {
            self.rtt
                .sample(u64::try_from(r.as_millis()).unwrap_or(u64::MAX));
        }
        self.note(now_ms, false);
    }

    /// `path` got no reply in time. The failing hop is unknown, so each non-guard hop gets a
    /// strike (only the hops already avoided, if the path had to use some) and is avoided for a
    /// while (doubling per strike, strikes forgotten after
    /// [`PolicyConfig::suspect_max_ms`]); the guard is not blamed (so that a hop dropping
    /// traffic cannot push clients onto a guard of its choosing). The directory is fetched
    /// again: a hop may have restarted with fresh onion keys.
    pub fn path_timed_out(&mut self, path: &Path, now_ms: u64) {
        let guard = path.guard();
        let hops: Vec<NodeId> = path.nodes().into_iter().filter(|n| *n != guard).collect();
        // A path carries an avoided node only when no path existed without it (see
        // [`Self::select`]); when such a path is silent too, the avoided nodes on it are the
        // likely cause, and the others are not blamed along with them.
        let avoided: Vec<NodeId> = hops
            .iter()
            .copied()
            .filter(|n| self.suspected(n, now_ms))
            .collect();
        let struck = if avoided.is_empty() {
            hops.clone()
        } else {
            avoided
        };
        for n in &struck {
            self.strike(*n, now_ms);
        }
        let max = self.cfg.suspect_max_ms;
        self.silent
            .retain(|p| now_ms.saturating_sub(p.at_ms) <= max);
        if self.silent.len() >= MAX_SILENT_PATHS {
            self.silent.pop_front();
        }
        self.silent.push_back(SilentPath {
            at_ms: now_ms,
            guard,
            hops,
            struck,
        });
        if let Some(d) = &self.directory {
            let at = d.fetched_ms + self.cfg.directory_min_interval_ms;
            self.refresh_after_ms = Some(self.refresh_after_ms.map_or(at, |t| t.min(at)));
        }
        self.note(now_ms, true);
    }

    /// `culprit` restarted (fresh onion keys): the silence of the recent paths it was on is
    /// explained, and each of its path-mates on them loses the strike it got for it. That
    /// includes the paths it was the guard of: a guard that dies with a request in flight is
    /// not blamed for the silence (see [`Self::path_timed_out`]), its hops are, and its
    /// restart is what clears them.
    fn forgive_mates_of(&mut self, culprit: NodeId) {
        let (explained, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.silent)
            .into_iter()
            .partition(|p| p.guard == culprit || p.hops.contains(&culprit));
        self.silent = rest.into();
        for p in explained {
            for h in p.struck.into_iter().filter(|h| *h != culprit) {
                self.unstrike(h);
            }
        }
    }

    /// One strike fewer for `n`, its avoidance shortened to match.
    fn unstrike(&mut self, n: NodeId) {
        let Some(r) = self.nodes.get_mut(&n) else {
            return;
        };
        r.strikes = r.strikes.saturating_sub(1);
        if r.strikes == 0 {
            self.nodes.remove(&n);
            return;
        }
        r.avoid_until_ms = r
            .last_strike_ms
            .saturating_add(avoidance(&self.cfg, r.strikes));
    }

    /// One more strike for `n`: avoided for `suspect_base_ms`, doubling per strike up to
    /// `suspect_max_ms`; strikes older than that are forgotten first.
    fn strike(&mut self, n: NodeId, now_ms: u64) {
        let r = self.nodes.entry(n).or_default();
        if now_ms.saturating_sub(r.last_strike_ms) > self.cfg.suspect_max_ms {
            r.strikes = 0;
        }
        r.strikes = r.strikes.saturating_add(1);
        r.last_strike_ms = now_ms;
        r.avoid_until_ms = now_ms.saturating_add(avoidance(&self.cfg, r.strikes));
    }

    fn note(&mut self, now_ms: u64, failed: bool) {
        self.recent.push_back((now_ms, failed));
        self.expire(now_ms);
    }

    fn expire(&mut self, now_ms: u64) {
        let window = self.cfg.health_window_ms;
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| now_ms.saturating_sub(*t) > window)
        {
            self.recent.pop_front();
        }
        while self.recent.len() > 4096 {
            self.recent.pop_front();
        }
    }

    /// The health snapshot at `now_ms`.
    pub fn health(&self, now_ms: u64) -> PathHealth {
        let window = self.cfg.health_window_ms;
        let recent: Vec<bool> = self
            .recent
            .iter()
            .filter(|(t, _)| now_ms.saturating_sub(*t) <= window)
            .map(|(_, f)| *f)
            .collect();
        let recent_failures = recent.iter().filter(|f| **f).count() as u32;
        // A failure followed by successes only is over: the snapshot does not stay degraded
        // for the whole window once paths work again.
        let failing_now = recent.iter().rev().take(3).any(|f| *f);
        let mut failing_nodes: Vec<NodeId> = self
            .nodes
            .keys()
            .filter(|n| self.suspected(n, now_ms))
            .copied()
            .collect();
        failing_nodes.sort();
        let g = self.selector.guard_state();
        PathHealth {
            degraded: !failing_nodes.is_empty() || failing_now || g.failures > 0,
            failing_nodes,
            recent_failures,
            recent_attempts: recent.len() as u32,
            guard: g.guard,
            guard_failures: g.failures,
            directory_age_ms: self
                .directory
                .as_ref()
                .map(|d| now_ms.saturating_sub(d.fetched_ms)),
            directory_nodes: self.directory.as_ref().map_or(0, |d| d.candidates.len()),
            attempt_timeout_ms: self.base_timeout_ms(),
        }
    }

    /// `Some(degraded)` when the health changed between degraded and healthy since the last
    /// call (for a warning when paths start failing and a note when they recover).
    pub fn health_transition(&mut self, now_ms: u64) -> Option<PathHealth> {
        let h = self.health(now_ms);
        if h.degraded == self.reported_degraded {
            return None;
        }
        self.reported_degraded = h.degraded;
        Some(h)
    }
}

#[cfg(test)]
#[path = "paths_tests.rs"]
mod tests;
