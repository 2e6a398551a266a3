//! Per-peer token buckets: the swarm protocol's and the onion relay's rate limits, as a plain
//! struct that takes `now`.

use libp2p::PeerId;
use pars_wire::swarm::{ErrorCode, SwarmResponse};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A per-peer token bucket: `burst` requests at once, refilled at `per_second`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Bucket size.
    pub burst: u32,
    /// Refill rate.
    pub per_second: u32,
}

impl RateLimit {
    /// The refusal of a request over this limit that may be retried after `wait_ms`.
    pub fn refusal(&self, wait_ms: u32) -> SwarmResponse {
        let RateLimit { burst, per_second } = *self;
        SwarmResponse::error(
            ErrorCode::RateLimited,
            wait_ms,
            format!(
                "rate limited: at most {per_second} requests/s per peer (bursts of {burst}); \
                 retry after {wait_ms} ms"
            ),
        )
    }
}

/// Which token bucket a request draws from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum BucketKind {
    /// Swarm requests from peers outside the set.
    Client,
    /// Swarm requests from members.
    Member,
    /// Onion packets and directory requests from peers outside the set.
    Onion,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Buckets tracked before idle ones are forgotten.
const MAX_BUCKETS: usize = 100_000;
/// A bucket idle this long is full again: forgetting it changes nothing.
const IDLE: Duration = Duration::from_secs(600);

/// The token buckets of every peer, one per (kind, peer).
#[derive(Default)]
pub struct TokenBuckets {
    buckets: HashMap<(BucketKind, PeerId), Bucket>,
}

impl std::fmt::Debug for TokenBuckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenBuckets")
            .field("buckets", &self.buckets.len())
            .finish()
    }
}

impl TokenBuckets {
    /// No bucket yet (every peer starts with a full one).
    pub fn new() -> Self {
        Self::default()
    }

    /// Buckets tracked now.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no bucket is tracked.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Takes a token from `peer`'s bucket of this kind at `now`, or says how many milliseconds
    /// until one is there.
    pub fn take(
        &mut self,
        peer: PeerId,
        kind: BucketKind,
        limit: RateLimit,
        now: Instant,
    ) -> Result<(), u32> {
        self.take_n(peer, kind, limit, 1, now)
    }

    /// Takes `cost` tokens at once (all or none; a cost above the burst is charged as the whole
    /// burst), or says how many milliseconds until they are there.
    pub fn take_n(
        &mut self,
        peer: PeerId,
        kind: BucketKind,
        limit: RateLimit,
        cost: u32,
        now: Instant,
    ) -> Result<(), u32> {
        let RateLimit { burst, per_second } = limit;
        let cost = f64::from(cost.clamp(1, burst.max(1)));
        if self.buckets.len() > MAX_BUCKETS {
            // Forget idle peers (a full bucket is the same as no bucket).
            self.buckets
                .retain(|_, b| now.saturating_duration_since(b.last) < IDLE);
        }
        let b = self.buckets.entry((kind, peer)).or_insert(Bucket {
            tokens: f64::from(burst),
            last: now,
        });
        let rate = f64::from(per_second.max(1));
        b.tokens = (b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate)
            .min(f64::from(burst));
        b.last = now;
        if b.tokens >= cost {
            b.tokens -= cost;
            Ok(())
        } else {
            Err((((cost - b.tokens) / rate) * 1000.0).ceil() as u32)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn burst_then_refill_at_the_rate_per_peer_and_kind() {
        let t0 = Instant::now();
        let limit = RateLimit {
            burst: 3,
            per_second: 10,
        };
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut tb = TokenBuckets::new();
        for _ in 0..3 {
            tb.take(a, BucketKind::Client, limit, t0).unwrap();
        }
        // Empty: one token comes back after 100 ms.
        assert_eq!(tb.take(a, BucketKind::Client, limit, t0), Err(100));
        // Other peers and other kinds have their own buckets.
        tb.take(b, BucketKind::Client, limit, t0).unwrap();
        tb.take(a, BucketKind::Onion, limit, t0).unwrap();
        // 50 ms later half a token: wait 50 ms more.
        let t1 = t0 + Duration::from_millis(50);
        assert_eq!(tb.take(a, BucketKind::Client, limit, t1), Err(50));
        let t2 = t0 + Duration::from_millis(100);
        tb.take(a, BucketKind::Client, limit, t2).unwrap();
        // A long pause refills to the burst, not beyond.
        let t3 = t2 + Duration::from_secs(60);
        for _ in 0..3 {
            tb.take(a, BucketKind::Client, limit, t3).unwrap();
        }
        assert!(tb.take(a, BucketKind::Client, limit, t3).is_err());
        assert_eq!(tb.len(), 3);
    }

    #[test]
    fn a_weighted_take_costs_its_weight_all_or_nothing() {
        let t0 = Instant::now();
        let limit = RateLimit {
            burst: 10,
            per_second: 10,
        };
        let a = PeerId::random();
        let mut tb = TokenBuckets::new();
        // Two bulk packets (4 each) leave 2 tokens: a third waits for 2 more (200 ms), and
        // the refusal takes nothing, so two standard ones still pass.
        tb.take_n(a, BucketKind::Onion, limit, 4, t0).unwrap();
        tb.take_n(a, BucketKind::Onion, limit, 4, t0).unwrap();
        assert_eq!(tb.take_n(a, BucketKind::Onion, limit, 4, t0), Err(200));
        tb.take(a, BucketKind::Onion, limit, t0).unwrap();
        tb.take(a, BucketKind::Onion, limit, t0).unwrap();
        assert!(tb.take(a, BucketKind::Onion, limit, t0).is_err());
        // A cost above the burst is charged as the burst, so it can pass once full.
        let t1 = t0 + Duration::from_secs(5);
        tb.take_n(a, BucketKind::Onion, limit, 50, t1).unwrap();
        assert!(tb.take(a, BucketKind::Onion, limit, t1).is_err());
    }

    #[test]
    fn refusal_names_the_limit_and_the_wait() {
        let r = RateLimit {
            burst: 5,
            per_second: 2,
        }
        .refusal(500);
        let SwarmResponse::Error {
            code,
            value,
            detail,
        } = r
        else {
            panic!("{r:?}");
        };
        assert_eq!((code, value), (ErrorCode::RateLimited, 500));
        assert!(detail.contains("at most 2 requests/s") && detail.contains("500 ms"));
    }
}
