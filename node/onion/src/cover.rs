//! Cover traffic: loop packets at exponentially distributed intervals (a Poisson process), built
//! by [`build_loop`](crate::build_loop) exactly like real requests.

use std::time::Duration;

use pars_crypto::CryptoRng;

/// A Poisson schedule of loop packets. Time is passed in (milliseconds on any monotonic clock).
#[derive(Clone, Debug, PartialEq)]
pub struct CoverSchedule {
    rate_per_sec: f64,
    next_due_ms: Option<u64>,
}

impl CoverSchedule {
    /// A schedule sending on average `rate_per_sec` loop packets per second; a rate of zero (or
    /// not finite, or negative) disables cover traffic.
    pub fn new(rate_per_sec: f64) -> Self {
        Self {
            rate_per_sec,
            next_due_ms: None,
        }
    }

    /// Whether cover traffic is on.
    pub fn enabled(&self) -> bool {
        self.rate_per_sec.is_finite() && self.rate_per_sec > 0.0
    }

    /// An exponentially distributed delay with mean `1 / rate`: `-ln(U) / rate`, `U` uniform in
    /// (0, 1] from 53 random bits. `None` when disabled.
    pub fn next_delay(&self, rng: &mut impl CryptoRng) -> Option<Duration> {
        if !self.enabled() {
            return None;
        }
        let u = ((rng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
        let secs = -u.ln() / self.rate_per_sec;
        Some(Duration::from_secs_f64(secs.min(1e9)))
    }

    /// When the next loop packet is due (ms), scheduling the first one from `now_ms` if needed.
    pub fn next_due(&mut self, now_ms: u64, rng: &mut impl CryptoRng) -> Option<u64> {
        if self.next_due_ms.is_none() {
            let d = self.next_delay(rng)?;
            self.next_due_ms = Some(now_ms.saturating_add(d.as_millis() as u64));
        }
        self.next_due_ms
    }

    /// Whether a loop packet is due at `now_ms`; if so, schedules the next one (from the due
    /// time, so that a late poll does not thin out the process) and returns true.
    pub fn poll(&mut self, now_ms: u64, rng: &mut impl CryptoRng) -> bool {
        let Some(due) = self.next_due(now_ms, rng) else {
            return false;
        };
        if now_ms < due {
            return false;
        }
        let d = self.next_delay(rng).map_or(0, |d| d.as_millis() as u64);
        self.next_due_ms = Some(due.saturating_add(d).max(now_ms));
        true
    }
}
