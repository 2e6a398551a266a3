//! The transfer workers' small decisions, kept free of I/O and clocks so they can be tested
//! exactly: the rate over a sliding window, the retry delay of a chunk, when to save progress,
//! what a round of asking a chunk's swarm members amounts to, and which members to ask first.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::Duration;

/// The rate window: the rate reported is over about this long.
pub const RATE_WINDOW: Duration = Duration::from_secs(5);

/// A rate over a sliding window of (time, total bytes) samples; times are any monotonic
/// milliseconds.
#[derive(Debug, Default, Clone)]
pub struct RateMeter {
    samples: VecDeque<(u64, u64)>,
}

impl RateMeter {
    /// Records that `total` bytes were done by `at_ms`.
    pub fn record(&mut self, at_ms: u64, total: u64) {
        self.samples.push_back((at_ms, total));
        let window = RATE_WINDOW.as_millis() as u64;
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|(t, _)| at_ms.saturating_sub(*t) >= window)
        {
            self.samples.pop_front();
        }
    }

    /// Bytes per second over the window ending at `now_ms` (0 with fewer than two samples or
    /// when nothing moved for a whole window).
    pub fn rate(&self, now_ms: u64) -> f64 {
        let (Some((t0, b0)), Some((t1, b1))) = (self.samples.front(), self.samples.back()) else {
            return 0.0;
        };
        let window = RATE_WINDOW.as_millis() as u64;
        if now_ms.saturating_sub(*t1) >= window {
            return 0.0;
        }
        let span = now_ms.max(*t1).saturating_sub(*t0);
        if span == 0 {
            return 0.0;
        }
        b1.saturating_sub(*b0) as f64 * 1000.0 / span as f64
    }
}

/// The delay before a chunk that failed `failures` times in a row is tried again: 0.5 s,
/// doubling, at most 30 s (a transfer waits out a network outage at that pace, never giving up
/// while the daemon runs).
pub fn retry_delay(failures: u32) -> Duration {
    let ms = 500u64.saturating_mul(1u64 << failures.saturating_sub(1).min(6));
    Duration::from_millis(ms.min(30_000))
}

/// How far ahead of its rate a [`Pacer`] lets transfers run after a pause: a second's worth.
pub const PACER_BURST_MS: u64 = 1000;

/// A cap on the bytes per second that all transfers together move (`max-transfer-rate`):
/// each chunk reserves its bytes' time slot in turn and waits until its slot begins; after a
/// pause up to [`PACER_BURST_MS`] of slots are there at once. Times are any monotonic
/// milliseconds.
#[derive(Debug, Clone)]
pub struct Pacer {
    bytes_per_sec: u64,
    /// When the next reservation's slot begins, in microseconds.
    next_us: u64,
}

impl Pacer {
    /// A pacer of `bytes_per_sec` (at least 1).
    pub fn new(bytes_per_sec: u64) -> Self {
        Self {
            bytes_per_sec: bytes_per_sec.max(1),
            next_us: 0,
        }
    }

    /// Reserves `bytes` at `now_ms`; returns how long to wait before moving them.
    pub fn reserve(&mut self, now_ms: u64, bytes: u64) -> Duration {
        let now_us = now_ms.saturating_mul(1000);
        let start = self
            .next_us
            .max(now_us.saturating_sub(PACER_BURST_MS * 1000));
        let cost = (u128::from(bytes) * 1_000_000 / u128::from(self.bytes_per_sec)) as u64;
        self.next_us = start.saturating_add(cost);
        Duration::from_micros(start.saturating_sub(now_us))
    }
}

/// Progress is saved at most this often (and on every stop); what is done since is redone
/// after a crash, never lost.
pub const SAVE_EVERY: Duration = Duration::from_secs(1);

/// How one swarm member answered a fetch of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Bytes whose SHA3-256 is the chunk ID.
    Good,
    /// Bytes that are not the chunk (a lying or broken member).
    Wrong,
    /// It has no such chunk.
    Missing,
    /// No answer (unreachable, timeout, busy).
    Failed,
}

/// What the answers of one round over a chunk's swarm mean, when none was [`Answer::Good`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The chunk is gone: enough members answered, none has it.
    Lost,
    /// Members returned other bytes and none the chunk: refused as tampered.
    Tampered,
    /// Not enough answers to tell: try again later.
    Retry,
}

/// The verdict of a round in which no member gave the chunk: `Lost` when at least
/// `min(quorum, members)` members said they have nothing and none returned wrong bytes,
/// `Tampered` when some returned wrong bytes and every member answered, else `Retry`.
pub fn verdict(answers: &[Answer], quorum: usize) -> Verdict {
    let count = |a: Answer| answers.iter().filter(|x| **x == a).count();
    let (wrong, missing, failed) = (
        count(Answer::Wrong),
        count(Answer::Missing),
        count(Answer::Failed),
    );
    let need = quorum.min(answers.len()).max(1);
    if wrong > 0 && failed == 0 {
        Verdict::Tampered
    } else if wrong == 0 && missing >= need {
        Verdict::Lost
    } else {
        Verdict::Retry
    }
}

/// How long a member that failed to answer is asked after the others.
pub const FAILED_MEMBER_MEMORY: Duration = Duration::from_secs(60);

/// A download's memory of swarm members that did not answer (unreachable, timed out): a
/// chunk's members are asked in an order that puts those that failed in the last
/// [`FAILED_MEMBER_MEMORY`] last (the least recent failure first among them), so one dead
/// node does not cost every chunk of its swarms an attempt's timeout. Times are any monotonic
/// milliseconds.
#[derive(Debug)]
pub struct MemberMemory<P> {
    failed: HashMap<P, u64>,
}

impl<P> Default for MemberMemory<P> {
    fn default() -> Self {
        Self {
            failed: HashMap::new(),
        }
    }
}

impl<P: Copy + Eq + Hash> MemberMemory<P> {
    /// The order to ask `members` (closest first) in at `now_ms`: those with no recent failure
    /// first — the first `holders` of them (those meant to hold the chunk) from the `start`th
    /// on, so that chunks spread over them, then the rest in order — then the recently failed
    /// ones.
    pub fn order(&mut self, members: &[P], holders: usize, start: usize, now_ms: u64) -> Vec<P> {
        let memory = FAILED_MEMBER_MEMORY.as_millis() as u64;
        self.failed
            .retain(|_, at| now_ms.saturating_sub(*at) < memory);
        let h = holders.max(1).min(members.len());
        let rotated = (0..h)
            .map(|k| members[(start + k) % h])
            .chain(members[h..].iter().copied());
        let (mut out, mut failed): (Vec<P>, Vec<P>) =
            rotated.partition(|m| !self.failed.contains_key(m));
        failed.sort_by_key(|m| self.failed.get(m).copied().unwrap_or(0));
        out.extend(failed);
        out
    }

    /// `member` did not answer at `now_ms`.
    pub fn failed(&mut self, member: P, now_ms: u64) {
        self.failed.insert(member, now_ms);
    }

    /// `member` answered: it is asked in its turn again.
    pub fn answered(&mut self, member: &P) {
        self.failed.remove(member);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_spaces_chunks_at_the_rate_after_a_second_of_burst() {
        let ms = Duration::from_millis;
        let mut p = Pacer::new(1000);
        // After a pause: a second's worth at once, then each 500 bytes half a second later.
        let at = 10_000;
        let waits: Vec<_> = (0..5).map(|_| p.reserve(at, 500)).collect();
        assert_eq!(waits, [ms(0), ms(0), ms(0), ms(500), ms(1000)]);
        // Time passing brings the slots nearer; a long pause does not bank more than the burst.
        assert_eq!(p.reserve(at + 1000, 500), ms(500));
        let later = at + 60_000;
        let waits: Vec<_> = (0..4).map(|_| p.reserve(later, 500)).collect();
        assert_eq!(waits, [ms(0), ms(0), ms(0), ms(500)]);
        // A zero rate is taken as 1 byte/s, not a division by zero.
        assert_eq!(Pacer::new(0).reserve(5_000, 3), ms(0));
    }

    #[test]
    fn the_rate_is_over_the_window_and_falls_to_zero_when_stalled() {
        let mut m = RateMeter::default();
        assert_eq!(m.rate(0), 0.0);
        m.record(0, 0);
        m.record(1000, 1_000_000);
        assert!((m.rate(1000) - 1_000_000.0).abs() < 1.0);
        for s in 2..=20 {
            m.record(s * 1000, s * 2_000_000);
        }
        // The last five seconds moved 2 MB/s.
        let r = m.rate(20_000);
        assert!((r - 2_000_000.0).abs() < 1.0, "{r}");
        assert_eq!(m.rate(26_000), 0.0, "nothing for a whole window");
    }

    #[test]
    fn retries_back_off_to_thirty_seconds() {
        assert_eq!(retry_delay(1), Duration::from_millis(500));
        assert_eq!(retry_delay(2), Duration::from_secs(1));
        assert_eq!(retry_delay(7), Duration::from_secs(30));
        assert_eq!(retry_delay(1000), Duration::from_secs(30));
    }

    #[test]
    fn a_chunk_is_lost_only_on_enough_answers_and_tampered_only_on_all() {
        use Answer::*;
        assert_eq!(
            verdict(&[Missing, Missing, Missing, Failed, Failed], 3),
            Verdict::Lost
        );
        assert_eq!(
            verdict(&[Missing, Missing, Failed, Failed, Failed], 3),
            Verdict::Retry
        );
        assert_eq!(
            verdict(&[Wrong, Missing, Missing, Missing, Missing], 3),
            Verdict::Tampered
        );
        assert_eq!(verdict(&[Wrong, Failed, Missing], 3), Verdict::Retry);
        assert_eq!(verdict(&[Missing], 3), Verdict::Lost, "a one-member swarm");
        assert_eq!(verdict(&[], 3), Verdict::Retry, "no members known");
    }

    #[test]
    fn members_that_failed_are_asked_last_for_a_minute() {
        let mut mem = MemberMemory::default();
        let ms = [1, 2, 3, 4, 5];
        assert_eq!(mem.order(&ms, 5, 2, 0), vec![3, 4, 5, 1, 2]);
        // Only the first three hold it: the start turns among them, the rest come after.
        assert_eq!(mem.order(&ms, 3, 4, 0), vec![2, 3, 1, 4, 5]);
        mem.failed(4, 1_000);
        mem.failed(1, 500);
        assert_eq!(mem.order(&ms, 5, 2, 2_000), vec![3, 5, 2, 1, 4]);
        assert_eq!(mem.order(&ms, 5, 0, 2_000), vec![2, 3, 5, 1, 4]);
        assert_eq!(mem.order(&ms, 3, 0, 2_000), vec![2, 3, 5, 1, 4]);
        // An answer puts a member back in its turn.
        mem.answered(&1);
        assert_eq!(mem.order(&ms, 5, 0, 2_000), vec![1, 2, 3, 5, 4]);
        // A minute after its failure, a member is in its turn again.
        assert_eq!(mem.order(&ms, 5, 0, 61_000), vec![1, 2, 3, 4, 5]);
        assert_eq!(mem.order(&[], 3, 3, 0), Vec::<i32>::new());
    }
}
