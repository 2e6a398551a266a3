//! The inbox scheduler: when to poll the own inbox swarm and where to hold a long-poll, as a
//! sans-IO state machine (quinn-proto's shape: events and timeouts in, actions out). The
//! driver ([`super::inbox`]) performs the actions over the network and reports what came of
//! them; time is passed in, so every case is tested with mock time.
//!
//! The policy:
//! - **one long-poll** is kept outstanding at a member of the swarm: it answers as soon as mail
//!   lands there, and an answer re-arms it at once at the same member after what it gave;
//! - a **poll round** asks every member at once (not one at a time) for what is after its
//!   cursor. It runs adaptively (quickly after activity, slower when idle) while no long-poll
//!   is outstanding, and as a safety net every `poll_max` while one is. A member whose request
//!   is still in flight is not asked again, so a dead member never holds a round back;
//! - a **failed long-poll** puts only that member aside (a node that does not know the request
//!   for [`LONG_POLL_BACKOFF`], a busy one for as long as it says, anything else for
//!   [`LONG_POLL_RETRY`] doubling up to [`LONG_POLL_BACKOFF`]) and fails over to the next
//!   member at once, with a poll round now. An answer from a member in a poll round brings it
//!   back at once (a node that does not know long-polls excepted);
//! - a long-poll outstanding longer than its wait plus [`LONG_POLL_GRACE`] is given up as a
//!   dead member's.

use crate::net::Failure;
use libp2p::PeerId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// After a long-poll a node does not understand (an older node), that node is not asked for one
/// again for this long; it is also the longest pause after other failures.
pub const LONG_POLL_BACKOFF: Duration = Duration::from_secs(60);
/// The first pause after a transient long-poll failure at a member (no path yet, an unreachable
/// member, a timeout); it doubles while the failures there go on.
pub const LONG_POLL_RETRY: Duration = Duration::from_secs(1);
/// How much longer than its wait a long-poll may take before its member counts as dead.
pub const LONG_POLL_GRACE: Duration = Duration::from_secs(4);
/// A poll-round request in flight for this many `poll_max` does not stop its member from being
/// asked again (a new request takes a new path).
pub const STALE_FETCH_ROUNDS: u32 = 2;

/// What the scheduler needs to know of the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Poll interval right after activity.
    pub poll_min: Duration,
    /// Poll interval when idle, and the safety-net interval while a long-poll is outstanding.
    pub poll_max: Duration,
    /// How long a long-poll asks to be held.
    pub long_poll_wait: Duration,
}

/// What the driver is to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Fetch everything after `after` from `member` (one request of a poll round; the round's
    /// requests run concurrently).
    Fetch {
        /// The member.
        member: PeerId,
        /// Its cursor.
        after: u64,
    },
    /// Hold a long-poll at `member` after `after`.
    LongPoll {
        /// The member.
        member: PeerId,
        /// Its cursor.
        after: u64,
    },
    /// Give up the outstanding long-poll (its member is taken for dead).
    CancelLongPoll,
}

/// How long a member is put aside after its `failures`-th failed long-poll in a row with a
/// failure of class `f` (`None`: the task ended without an answer).
pub fn long_poll_pause(f: Option<Failure>, failures: u32) -> Duration {
    let transient = LONG_POLL_RETRY
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(LONG_POLL_BACKOFF);
    match f {
        Some(Failure::Unsupported | Failure::Permanent) => LONG_POLL_BACKOFF,
        Some(Failure::RetryAfter(d)) => d.max(transient).min(LONG_POLL_BACKOFF),
        Some(Failure::Transient) | None => transient,
    }
}

#[derive(Debug, Default, Clone)]
struct Member {
    /// The last sequence number seen there.
    cursor: u64,
    /// Failed long-polls in a row.
    failures: u32,
    /// No long-poll there before this.
    resume_at: Option<Instant>,
    /// Whether it does not know long-polls (only time brings it back).
    unsupported: bool,
}

/// The scheduler's state.
#[derive(Debug)]
pub struct Scheduler {
    timing: Timing,
    members: HashMap<PeerId, Member>,
    /// The long-poll outstanding: its member and its deadline.
    long_poll: Option<(PeerId, Instant)>,
    /// The member the next long-poll prefers (the last one that answered).
    preferred: Option<PeerId>,
    /// Rotation over the swarm for the first choice of a long-poll member.
    next: usize,
    /// Members with a poll-round request in flight, and since when.
    fetching: HashMap<PeerId, Instant>,
    /// The round waiting for its first answer: when it ends without one.
    round_open: Option<Instant>,
    round_news: bool,
    /// When the next poll round is due.
    poll_at: Instant,
    interval: Duration,
    /// The size of the swarm at the last [`Self::poll`].
    known_swarm: usize,
}

impl Scheduler {
    /// A scheduler started at `now`: a round and a long-poll are due at once.
    pub fn new(timing: Timing, now: Instant) -> Self {
        Self {
            timing,
            members: HashMap::new(),
            long_poll: None,
            preferred: None,
            next: 0,
            fetching: HashMap::new(),
            round_open: None,
            round_news: false,
            poll_at: now,
            interval: timing.poll_min,
            known_swarm: 0,
        }
    }

    /// The cursor of `member`.
    pub fn cursor(&self, member: &PeerId) -> u64 {
        self.members.get(member).map(|m| m.cursor).unwrap_or(0)
    }

    /// Moves the cursor of `member` past `seq` (never back).
    pub fn advance(&mut self, member: PeerId, seq: u64) {
        let m = self.members.entry(member).or_default();
        m.cursor = m.cursor.max(seq);
    }

    /// Whether a long-poll is outstanding.
    pub fn long_poll_outstanding(&self) -> bool {
        self.long_poll.is_some()
    }

    /// The actions due at `now` for the swarm `swarm` (the current members, in their order).
    pub fn poll(&mut self, now: Instant, swarm: &[PeerId]) -> Vec<Action> {
        self.known_swarm = swarm.len();
        let mut out = Vec::new();
        if let Some((member, deadline)) = self.long_poll
            && (now >= deadline || !swarm.contains(&member))
        {
            out.push(Action::CancelLongPoll);
            self.long_poll_failed(now, member, Some(Failure::Transient));
        }
        if self.long_poll.is_none()
            && let Some(member) = self.long_poll_member(now, swarm)
        {
            self.long_poll = Some((member, now + self.timing.long_poll_wait + LONG_POLL_GRACE));
            out.push(Action::LongPoll {
                member,
                after: self.cursor(&member),
            });
        }
        if let Some(end) = self.round_open
            && now >= end
        {
            // Nobody answered in time: the round ends empty (its requests may still answer).
            self.end_round(now);
        }
        if now >= self.poll_at && self.round_open.is_none() {
            let ask: Vec<PeerId> = swarm
                .iter()
                .filter(|m| self.askable(m, now))
                .copied()
                .collect();
            if !ask.is_empty() {
                self.round_open = Some(now + self.timing.poll_max);
                self.round_news = false;
                for member in ask {
                    self.fetching.insert(member, now);
                    out.push(Action::Fetch {
                        member,
                        after: self.cursor(&member),
                    });
                }
            }
        }
        out
    }

    /// When [`Self::poll`] has something to do next (none: only an event can bring work).
    pub fn next_wakeup(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut at = |x: Instant| t = Some(t.map_or(x, |t| t.min(x)));
        match self.round_open {
            Some(end) => at(end),
            None => {
                // The round is due, but may have to wait for a member to be askable again.
                let stale = self.timing.poll_max * STALE_FETCH_ROUNDS;
                let ready = self.fetching.values().map(|s| *s + stale).min();
                at(match ready {
                    Some(r) if self.fetching.len() >= self.known_swarm => self.poll_at.max(r),
                    _ => self.poll_at,
                });
            }
        }
        match self.long_poll {
            Some((_, deadline)) => at(deadline),
            None => {
                if let Some(r) = self.members.values().filter_map(|m| m.resume_at).min() {
                    at(r);
                }
            }
        }
        t
    }

    /// Whether `member` may be asked in a poll round: no request is in flight there, or the one
    /// in flight is so old that the member may have been taken for dead by its path.
    fn askable(&self, member: &PeerId, now: Instant) -> bool {
        self.fetching
            .get(member)
            .is_none_or(|s| *s + self.timing.poll_max * STALE_FETCH_ROUNDS <= now)
    }

    /// The member for a new long-poll: the preferred one if it may be asked, else the next in
    /// rotation that may.
    fn long_poll_member(&mut self, now: Instant, swarm: &[PeerId]) -> Option<PeerId> {
        let ready = |m: &PeerId, s: &Self| {
            s.members
                .get(m)
                .and_then(|x| x.resume_at)
                .is_none_or(|r| r <= now)
        };
        if let Some(p) = self.preferred
            && swarm.contains(&p)
            && ready(&p, self)
        {
            return Some(p);
        }
        for i in 0..swarm.len() {
            let m = swarm[(self.next + i) % swarm.len()];
            if ready(&m, self) {
                self.next = (self.next + i + 1) % swarm.len();
                return Some(m);
            }
        }
        None
    }

    /// A poll-round request to `member` answered; `news` new messages or receipts came of it.
    pub fn fetched(&mut self, now: Instant, member: PeerId, news: usize) {
        self.fetching.remove(&member);
        // The member is alive: a long-poll there may go again (unless it does not know them).
        if let Some(m) = self.members.get_mut(&member)
            && !m.unsupported
        {
            m.failures = 0;
            m.resume_at = None;
        }
        if news > 0 {
            self.round_news = true;
            self.interval = self.timing.poll_min;
        }
        if self.round_open.is_some() {
            // The first answer ends the round; later ones only add what they bring.
            self.end_round(now);
        } else if news > 0 && self.long_poll.is_none() {
            self.poll_at = now;
        }
    }

    /// A poll-round request to `member` failed.
    pub fn fetch_failed(&mut self, now: Instant, member: PeerId) {
        self.fetching.remove(&member);
        if self.round_open.is_some() && self.fetching.is_empty() {
            // Nobody answered this round.
            self.end_round(now);
        }
    }

    fn end_round(&mut self, now: Instant) {
        self.round_open = None;
        if self.round_news && self.long_poll.is_none() {
            // More may be waiting (a burst), and no long-poll brings it: again at once.
            self.poll_at = now;
            return;
        }
        if !self.round_news {
            self.interval = (self.interval * 3 / 2).min(self.timing.poll_max);
        }
        self.poll_at = now
            + if self.long_poll.is_some() {
                self.timing.poll_max
            } else {
                self.interval
            };
    }

    /// The long-poll at `member` answered with `news` new messages or receipts; it is re-armed
    /// there at once by the next [`Self::poll`].
    pub fn long_polled(&mut self, now: Instant, member: PeerId, news: usize) {
        if self.long_poll.is_some_and(|(m, _)| m == member) {
            self.long_poll = None;
        }
        let m = self.members.entry(member).or_default();
        m.failures = 0;
        m.resume_at = None;
        m.unsupported = false;
        self.preferred = Some(member);
        if news > 0 {
            self.interval = self.timing.poll_min;
            // While the long-poll keeps bringing mail a round would only cost the answers after
            // it a round trip; the safety net runs in the first pause.
            self.poll_at = self.poll_at.max(now + self.timing.poll_max);
        }
    }

    /// The long-poll at `member` failed with a failure of class `f` (`None`: it ended without
    /// an answer). That member is put aside; the next [`Self::poll`] fails over to another one
    /// and runs a poll round.
    pub fn long_poll_failed(&mut self, now: Instant, member: PeerId, f: Option<Failure>) {
        if self.long_poll.is_some_and(|(m, _)| m == member) {
            self.long_poll = None;
        }
        let m = self.members.entry(member).or_default();
        m.failures = m.failures.saturating_add(1);
        m.unsupported = matches!(f, Some(Failure::Unsupported | Failure::Permanent));
        m.resume_at = Some(now + long_poll_pause(f, m.failures));
        if self.preferred == Some(member) {
            self.preferred = None;
        }
        if self.round_open.is_none() {
            self.poll_at = self.poll_at.min(now);
        }
    }

    /// Activity (a send, a published bundle): a reply may follow soon. An outstanding long-poll
    /// brings it; without one, poll now and quickly for a while.
    pub fn activity(&mut self, now: Instant) {
        self.interval = self.timing.poll_min;
        if self.long_poll.is_none() && self.round_open.is_none() {
            self.poll_at = self.poll_at.min(now);
        }
    }
}

#[cfg(test)]
mod tests {
    //! Every case of the policy with mock time: `t(ms)` is the time `ms` after the start.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::net::{NetFailure, classify};
    use pars_net::NetError;
    use pars_wire::swarm::ErrorCode;
    use std::collections::BTreeMap;

    const TIMING: Timing = Timing {
        poll_min: Duration::from_millis(250),
        poll_max: Duration::from_secs(5),
        long_poll_wait: Duration::from_secs(8),
    };

    struct Clock(Instant);
    impl Clock {
        fn t(&self, ms: u64) -> Instant {
            self.0 + Duration::from_millis(ms)
        }
    }

    fn swarm(n: usize) -> Vec<PeerId> {
        (0..n).map(|_| PeerId::random()).collect()
    }

    fn fetches(a: &[Action]) -> Vec<PeerId> {
        a.iter()
            .filter_map(|a| match a {
                Action::Fetch { member, .. } => Some(*member),
                _ => None,
            })
            .collect()
    }

    fn long_poll(a: &[Action]) -> Option<PeerId> {
        a.iter().find_map(|a| match a {
            Action::LongPoll { member, .. } => Some(*member),
            _ => None,
        })
    }

    fn refused(code: ErrorCode, value: u32) -> Failure {
        classify(&NetError::Refused {
            code,
            value,
            detail: String::new(),
        })
    }

    #[test]
    fn a_node_without_long_polls_is_left_alone_for_the_long_backoff() {
        for code in [
            ErrorCode::Malformed,
            ErrorCode::Forbidden,
            ErrorCode::Other(99),
        ] {
            assert_eq!(
                long_poll_pause(Some(refused(code, 0)), 1),
                LONG_POLL_BACKOFF
            );
        }
    }

    #[test]
    fn transient_failures_retry_soon_then_back_off_to_the_bound() {
        let no_path = classify(&NetError::NoSwarm("cannot build a path".into()));
        assert_eq!(long_poll_pause(Some(no_path), 1), Duration::from_secs(1));
        assert_eq!(long_poll_pause(Some(no_path), 2), Duration::from_secs(2));
        assert_eq!(long_poll_pause(Some(no_path), 4), Duration::from_secs(8));
        assert_eq!(long_poll_pause(Some(no_path), 7), LONG_POLL_BACKOFF);
        assert_eq!(long_poll_pause(None, u32::MAX), LONG_POLL_BACKOFF);
        let timeout = NetFailure::from(NetError::Request {
            peer: "p".into(),
            reason: "timeout".into(),
        });
        assert_eq!(long_poll_pause(Some(timeout.class), 1), LONG_POLL_RETRY);
    }

    #[test]
    fn a_busy_node_is_asked_again_when_it_says_within_bounds() {
        let busy = |ms| refused(ErrorCode::Busy, ms);
        assert_eq!(
            long_poll_pause(Some(busy(5_000)), 1),
            Duration::from_secs(5)
        );
        // Never sooner than the transient pause, never later than the bound.
        assert_eq!(long_poll_pause(Some(busy(10)), 3), Duration::from_secs(4));
        assert_eq!(long_poll_pause(Some(busy(u32::MAX)), 1), LONG_POLL_BACKOFF);
        let limited = refused(ErrorCode::RateLimited, 2_000);
        assert_eq!(long_poll_pause(Some(limited), 1), Duration::from_secs(2));
    }

    #[test]
    fn the_start_asks_every_member_at_once_and_holds_a_long_poll() {
        let c = Clock(Instant::now());
        let m = swarm(5);
        let mut s = Scheduler::new(TIMING, c.t(0));
        let a = s.poll(c.t(0), &m);
        assert_eq!(fetches(&a), m, "every member, concurrently, no stall");
        assert_eq!(long_poll(&a), Some(m[0]));
        // Nothing more until an answer or the round's end.
        assert!(s.poll(c.t(10), &m).is_empty());
        assert_eq!(s.next_wakeup(), Some(c.t(5_000)));
    }

    #[test]
    fn the_first_answer_ends_a_round_and_later_ones_add_what_they_bring() {
        let c = Clock(Instant::now());
        let m = swarm(3);
        let mut s = Scheduler::new(TIMING, c.t(0));
        s.poll(c.t(0), &m);
        s.fetched(c.t(100), m[1], 0);
        // A long-poll is outstanding: the next round is the safety net, poll_max later.
        assert_eq!(s.next_wakeup(), Some(c.t(5_100)));
        s.fetched(c.t(200), m[2], 2);
        assert!(s.poll(c.t(300), &m).is_empty());
        let a = s.poll(c.t(5_100), &m);
        // m[0] never answered the first round but is not stale yet: it is not asked again.
        assert_eq!(fetches(&a), vec![m[1], m[2]]);
    }

    #[test]
    fn a_long_poll_answer_re_arms_at_once_and_news_puts_off_the_round() {
        let c = Clock(Instant::now());
        let m = swarm(5);
        let mut s = Scheduler::new(TIMING, c.t(0));
        s.poll(c.t(0), &m);
        for p in &m {
            s.fetched(c.t(100), *p, 0);
        }
        s.advance(m[0], 7);
        s.long_polled(c.t(2_000), m[0], 1);
        let a = s.poll(c.t(2_000), &m);
        assert_eq!(
            a,
            vec![Action::LongPoll {
                member: m[0],
                after: 7
            }]
        );
        // The safety-net round moved from 5.1 s to poll_max after the news.
        assert_eq!(s.next_wakeup(), Some(c.t(7_000)));
        // An empty answer (the wait ran out) re-arms without putting the round off.
        s.long_polled(c.t(6_000), m[0], 0);
        assert_eq!(long_poll(&s.poll(c.t(6_000), &m)), Some(m[0]));
        assert_eq!(fetches(&s.poll(c.t(7_000), &m)).len(), 5);
    }

    #[test]
    fn without_a_long_poll_the_interval_grows_by_half_to_poll_max_and_news_resets_it() {
        let c = Clock(Instant::now());
        let m = swarm(1);
        let mut s = Scheduler::new(TIMING, c.t(0));
        s.poll(c.t(0), &m);
        // The only member does not know long-polls.
        s.long_poll_failed(c.t(0), m[0], Some(Failure::Unsupported));
        let mut now = c.t(0);
        let mut waits = Vec::new();
        for _ in 0..10 {
            s.fetched(now, m[0], 0);
            let next = s.next_wakeup().unwrap();
            waits.push(next.duration_since(now).as_millis() as u64);
            now = next;
            let a = s.poll(now, &m);
            assert_eq!(fetches(&a), m);
            assert_eq!(long_poll(&a), None, "not asked again for a minute");
        }
        assert_eq!(&waits[..4], &[375, 562, 843, 1265]);
        assert_eq!(waits[9], 5_000);
        // News: again at once, and quickly after.
        s.fetched(now, m[0], 3);
        assert_eq!(fetches(&s.poll(now, &m)), m);
        s.fetched(now, m[0], 0);
        assert_eq!(
            s.next_wakeup().unwrap().duration_since(now),
            Duration::from_millis(375)
        );
    }

    #[test]
    fn activity_polls_at_once_only_without_a_long_poll() {
        let c = Clock(Instant::now());
        let m = swarm(2);
        let mut s = Scheduler::new(TIMING, c.t(0));
        s.poll(c.t(0), &m);
        s.fetched(c.t(10), m[0], 0);
        s.fetched(c.t(10), m[1], 0);
        s.activity(c.t(1_000));
        assert!(s.poll(c.t(1_000), &m).is_empty(), "the long-poll brings it");
        let lp = m[0];
        s.long_poll_failed(c.t(1_500), lp, Some(Failure::Unsupported));
        let a = s.poll(c.t(1_500), &m);
        assert_eq!(long_poll(&a), Some(m[1]));
        s.long_poll_failed(c.t(1_600), m[1], Some(Failure::Unsupported));
        for p in &m {
            s.fetched(c.t(1_700), *p, 0);
        }
        assert!(s.poll(c.t(1_800), &m).is_empty());
        s.activity(c.t(1_800));
        assert_eq!(fetches(&s.poll(c.t(1_800), &m)).len(), 2);
    }

    #[test]
    fn a_failed_long_poll_fails_over_to_the_next_member_at_once_with_a_round() {
        let c = Clock(Instant::now());
        let m = swarm(5);
        let mut s = Scheduler::new(TIMING, c.t(0));
        s.poll(c.t(0), &m);
        for p in &m {
            s.fetched(c.t(100), *p, 0);
        }
        s.long_poll_failed(c.t(1_000), m[0], Some(Failure::Transient));
        let a = s.poll(c.t(1_000), &m);
        assert_eq!(long_poll(&a), Some(m[1]), "no pause: another member");
        assert_eq!(fetches(&a).len(), 5, "and a round now");
        // A busy member is skipped for as long as it says.
        s.long_poll_failed(
            c.t(1_100),
            m[1],
            Some(Failure::RetryAfter(Duration::from_secs(9))),
        );
        assert_eq!(long_poll(&s.poll(c.t(1_100), &m)), Some(m[2]));
        // When every member is put aside, the next attempt is when the first may go again.
        for (i, p) in m.iter().enumerate().skip(2) {
            s.long_poll_failed(c.t(1_200), *p, Some(Failure::Transient));
            let lp = long_poll(&s.poll(c.t(1_200), &m));
            assert_eq!(lp, m.get(i + 1).copied());
        }
        assert_eq!(s.next_wakeup(), Some(c.t(2_000)));
        assert_eq!(long_poll(&s.poll(c.t(2_000), &m)), Some(m[0]));
    }

    #[test]
    fn an_answer_in_a_round_brings_a_member_back_for_long_polls() {
        let c = Clock(Instant::now());
        let m = swarm(1);
        let mut s = Scheduler::new(TIMING, c.t(0));
        s.poll(c.t(0), &m);
        for i in 0..6 {
            s.long_poll_failed(c.t(i), m[0], Some(Failure::Transient));
        }
        assert_eq!(long_poll(&s.poll(c.t(10), &m)), None, "32 s aside");
        s.fetched(c.t(20), m[0], 0);
        assert_eq!(long_poll(&s.poll(c.t(20), &m)), Some(m[0]));
        // Not a node that does not know them.
        s.long_poll_failed(c.t(30), m[0], Some(Failure::Unsupported));
        s.poll(c.t(30), &m);
        s.fetched(c.t(40), m[0], 0);
        assert_eq!(long_poll(&s.poll(c.t(40), &m)), None);
    }

    #[test]
    fn a_long_poll_outstanding_past_its_wait_is_a_dead_members_and_is_given_up() {
        let c = Clock(Instant::now());
        let m = swarm(3);
        let mut s = Scheduler::new(TIMING, c.t(0));
        s.poll(c.t(0), &m);
        assert_eq!(s.next_wakeup(), Some(c.t(5_000)));
        let a = s.poll(c.t(12_000), &m);
        assert!(a.contains(&Action::CancelLongPoll));
        assert_eq!(long_poll(&a), Some(m[1]));
        // A member leaving the swarm ends its long-poll too.
        let smaller = vec![m[0], m[2]];
        let a = s.poll(c.t(12_100), &smaller);
        assert!(a.contains(&Action::CancelLongPoll));
        assert_eq!(long_poll(&a), Some(m[2]));
    }

    /// A mock swarm over mock time: a request sent to a member while it is dead hangs until
    /// the onion request's timeout (80 s) and fails; a live member answers a fetch in 100 ms
    /// and a long-poll 50 ms after mail lands there, or when its wait ends. Drives the scheduler
    /// as the driver does and returns, for each landing time, how long until it was fetched.
    fn simulate(n: usize, dead: &[usize], dead_until: u64, landings: &[u64], end: u64) -> Vec<u64> {
        let c = Clock(Instant::now());
        let m = swarm(n);
        let mut s = Scheduler::new(TIMING, c.t(0));
        // (completion time, serial) -> (member, is a long-poll, fails).
        let mut pending: BTreeMap<(u64, u64), (usize, bool, bool)> = BTreeMap::new();
        let mut serial = 0u64;
        let mut long_poll_serial: Option<u64> = None;
        let mut fetched_at: Vec<Option<u64>> = vec![None; landings.len()];
        let mut now = 0u64;
        while now <= end {
            for a in s.poll(c.t(now), &m) {
                serial += 1;
                let dead_now = |member: PeerId| {
                    let i = m.iter().position(|x| *x == member).unwrap();
                    (i, dead.contains(&i) && now < dead_until)
                };
                match a {
                    Action::Fetch { member, .. } => {
                        let (i, d) = dead_now(member);
                        let at = if d { now + 80_000 } else { now + 100 };
                        pending.insert((at, serial), (i, false, d));
                    }
                    Action::LongPoll { member, .. } => {
                        let (i, d) = dead_now(member);
                        let at = if d {
                            now + 80_000
                        } else {
                            let landing = landings.iter().copied().filter(|l| *l > now).min();
                            match landing {
                                Some(l) if l < now + 8_000 => l + 50,
                                _ => now + 8_000,
                            }
                        };
                        pending.insert((at, serial), (i, true, d));
                        long_poll_serial = Some(serial);
                    }
                    Action::CancelLongPoll => {
                        if let Some(ser) = long_poll_serial.take() {
                            pending.retain(|(_, x), _| *x != ser);
                        }
                    }
                }
            }
            let wake = s
                .next_wakeup()
                .map(|w| w.duration_since(c.0).as_millis() as u64)
                .unwrap_or(u64::MAX);
            match pending.keys().next().copied() {
                Some((at, ser)) if at <= wake => {
                    now = now.max(at);
                    let (i, lp, fails) = pending.remove(&(at, ser)).unwrap_or((0, false, true));
                    let mut news = 0;
                    if !fails {
                        for (k, l) in landings.iter().enumerate() {
                            if *l <= now && fetched_at[k].is_none() {
                                fetched_at[k] = Some(now);
                                news += 1;
                            }
                        }
                    }
                    match (lp, fails) {
                        (true, true) => {
                            long_poll_serial = None;
                            s.long_poll_failed(c.t(now), m[i], Some(Failure::Transient));
                        }
                        (true, false) => {
                            long_poll_serial = None;
                            s.long_polled(c.t(now), m[i], news);
                        }
                        (false, true) => s.fetch_failed(c.t(now), m[i]),
                        (false, false) => s.fetched(c.t(now), m[i], news),
                    }
                }
                _ if wake == u64::MAX => break,
                _ => now = wake.max(now + 1),
            }
        }
        landings
            .iter()
            .zip(fetched_at)
            .map(|(l, f)| f.map_or(u64::MAX, |f| f - l))
            .collect()
    }

    #[test]
    fn all_members_alive_deliver_at_once_through_the_long_poll() {
        let landings: Vec<u64> = (1..=20).map(|i| i * 3_000 + 17).collect();
        let delays = simulate(5, &[], 0, &landings, 70_000);
        assert!(delays.iter().all(|d| *d <= 200), "{delays:?}");
    }

    #[test]
    fn with_two_of_five_members_dead_messages_arrive_within_ten_seconds() {
        // The long-poll starts at a dead member (the first), so it is found dead by its
        // deadline and by the rounds that go on beside it.
        let landings: Vec<u64> = (1..=40).map(|i| i * 2_500 + 31).collect();
        let delays = simulate(5, &[0, 1], u64::MAX, &landings, 120_000);
        assert!(delays.iter().all(|d| *d <= 10_000), "{delays:?}");
        // After the failover, the long-poll at a live member brings them at once.
        assert!(delays[10..].iter().all(|d| *d <= 200), "{delays:?}");
    }

    #[test]
    fn once_the_dead_members_return_latency_is_normal_within_thirty_seconds() {
        let landings: Vec<u64> = (1..=60).map(|i| i * 2_000 + 13).collect();
        let delays = simulate(5, &[0, 1, 2, 3, 4], 40_000, &landings, 130_000);
        // Everyone was down: those wait for the network; within 30 s of its return all is normal.
        for (l, d) in landings.iter().zip(&delays) {
            if *l >= 70_000 {
                assert!(*d <= 200, "landed at {l}: {d} ms");
            }
        }
        assert!(delays.iter().all(|d| *d != u64::MAX), "{delays:?}");
    }

    #[test]
    fn no_start_up_stall_when_the_first_requests_hang() {
        // Paths are unusable for the first 6 s (the requests sent then hang until their
        // timeout); mail sent right after must not wait for those timeouts.
        let landings: Vec<u64> = (0..30).map(|i| 6_500 + i * 100).collect();
        let delays = simulate(5, &[0, 1, 2, 3, 4], 6_000, &landings, 60_000);
        assert!(delays.iter().all(|d| *d <= 6_000), "{delays:?}");
    }
}
