//! The relayer's decisions without I/O: the checks an action must pass before any RPC, the
//! policy, the per-sender rate limit, fee bumps for stuck transactions, and confirmation depth.
//! Time is always a parameter.

use std::collections::{BTreeSet, HashMap};

use alloy::primitives::U256;
use pars_wire::action::{ACTION_VERSION, Action, ReasonCode};
pub use pars_wire::relay::Fees;

/// Why an action is refused, as it goes into the receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The stable code.
    pub code: ReasonCode,
    /// Detail for the user.
    pub text: String,
}

impl Refusal {
    /// A refusal with `code` and `text`.
    pub fn new(code: ReasonCode, text: impl Into<String>) -> Self {
        Self {
            code,
            text: text.into(),
        }
    }
}

/// What the bridge is willing to relay.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// Targets that may be called; `None` allows any (except the trigger itself).
    pub allowed_targets: Option<BTreeSet<[u8; 20]>>,
    /// Largest gas limit the bridge pays for one action.
    pub max_gas: u64,
    /// Largest `value` (wei) the bridge forwards from its own balance (0 by default: the relayer
    /// pays `msg.value`, so forwarding value is a deliberate choice).
    pub max_value: U256,
    /// Actions a sender (session ID digest) may make in a burst.
    pub rate_burst: u32,
    /// Sustained actions per minute per sender.
    pub rate_per_minute: u32,
}

impl Default for Policy {
    /// Any target, 30 M gas, no value, 10 actions in a burst then 10 per minute per sender.
    fn default() -> Self {
        Self {
            allowed_targets: None,
            max_gas: 30_000_000,
            max_value: U256::ZERO,
            rate_burst: 10,
            rate_per_minute: 10,
        }
    }
}

impl Policy {
    /// Only these targets.
    pub fn with_allowed_targets(mut self, targets: impl IntoIterator<Item = [u8; 20]>) -> Self {
        self.allowed_targets = Some(targets.into_iter().collect());
        self
    }

    /// Sets the gas cap.
    pub fn with_max_gas(mut self, max_gas: u64) -> Self {
        self.max_gas = max_gas;
        self
    }

    /// Sets the value cap.
    pub fn with_max_value(mut self, max_value: U256) -> Self {
        self.max_value = max_value;
        self
    }

    /// Sets the rate limit.
    pub fn with_rate(mut self, burst: u32, per_minute: u32) -> Self {
        self.rate_burst = burst.max(1);
        self.rate_per_minute = per_minute;
        self
    }
}

/// The checks that need no chain access: version, chain, trigger, deadline, target, value.
/// `now` is Unix seconds.
pub fn precheck(
    action: &Action,
    chain_id: u64,
    trigger: [u8; 20],
    now: u64,
    policy: &Policy,
) -> Result<(), Refusal> {
    if action.version != ACTION_VERSION {
        return Err(Refusal::new(
            ReasonCode::UnsupportedVersion,
            format!(
                "action version {} is not supported; this trigger accepts version {ACTION_VERSION}",
                action.version
            ),
        ));
    }
    if action.chain_id_u64() != Some(chain_id) {
        return Err(Refusal::new(
            ReasonCode::WrongChain,
            format!(
                "the action is for chain {}, this bridge relays to chain {chain_id}",
                U256::from_be_bytes(action.chain_id)
            ),
        ));
    }
    if action.trigger != trigger {
        return Err(Refusal::new(
            ReasonCode::WrongTrigger,
            format!(
                "the action is for trigger 0x{}, this bridge uses 0x{}",
                hex::encode(action.trigger),
                hex::encode(trigger)
            ),
        ));
    }
    if now > action.deadline {
        return Err(expired(action.deadline, now));
    }
    if action.target == trigger {
        return Err(Refusal::new(
            ReasonCode::Rejected,
            "the target may not be the trigger itself",
        ));
    }
    if let Some(allowed) = &policy.allowed_targets
        && !allowed.contains(&action.target)
    {
        return Err(Refusal::new(
            ReasonCode::TargetNotAllowed,
            format!(
                "this bridge does not relay calls to 0x{}",
                hex::encode(action.target)
            ),
        ));
    }
    let value = U256::from_be_bytes(action.value);
    if value > policy.max_value {
        return Err(Refusal::new(
            ReasonCode::ValueNotAllowed,
            format!(
                "the action forwards {value} wei; this bridge forwards at most {} wei",
                policy.max_value
            ),
        ));
    }
    Ok(())
}

/// The refusal for a passed deadline.
pub fn expired(deadline: u64, now: u64) -> Refusal {
    Refusal::new(
        ReasonCode::Expired,
        format!(
            "the deadline {deadline} passed (now {now}); sign the action again with a later deadline"
        ),
    )
}

/// Token buckets per sender (session ID digest), in memory: after a restart every sender starts
/// with a full bucket, which only errs on the generous side.
#[derive(Clone, Debug, Default)]
pub struct RateLimiter {
    buckets: HashMap<[u8; 32], (f64, u64)>,
}

impl RateLimiter {
    /// Takes a token for `sender` at `now_ms` if one is left.
    pub fn allow(&mut self, sender: [u8; 32], now_ms: u64, policy: &Policy) -> bool {
        let burst = f64::from(policy.rate_burst.max(1));
        let per_ms = f64::from(policy.rate_per_minute) / 60_000.0;
        let (tokens, last) = self.buckets.entry(sender).or_insert((burst, now_ms));
        let elapsed = now_ms.saturating_sub(*last) as f64;
        *tokens = (*tokens + elapsed * per_ms).min(burst);
        *last = now_ms;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The fees of a replacement: at least `percent` % above the stuck transaction's (nodes require
/// ≥ 10 % on both), and at least what the chain asks now.
pub fn bump_fees(old: Fees, current: Fees, percent: u32) -> Fees {
    let up = |v: u128| {
        v.saturating_mul(100 + u128::from(percent))
            .div_ceil(100)
            .max(v + 1)
    };
    let priority_fee = up(old.priority_fee).max(current.priority_fee);
    let max_fee = up(old.max_fee).max(current.max_fee).max(priority_fee);
    Fees {
        max_fee,
        priority_fee,
    }
}

/// A gas limit with `margin_percent` on top of the estimate.
pub fn gas_with_margin(estimate: u64, margin_percent: u32) -> u64 {
    estimate.saturating_add(estimate.saturating_mul(u64::from(margin_percent)) / 100)
}

/// Whether a transaction mined in `block` has `confirmations` at `head` (its block counts as one).
pub fn is_confirmed(head: u64, block: u64, confirmations: u64) -> bool {
    head.saturating_add(1) >= block.saturating_add(confirmations.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action() -> Action {
        Action {
            version: 1,
            chain_id: [0; 32],
            trigger: [1; 20],
            session_id: [2; 32],
            nonce: 1,
            deadline: 100,
            target: [3; 20],
            value: [0; 32],
            data: vec![],
        }
        .with_chain_id(7)
    }

    #[test]
    fn prechecks() {
        let p = Policy::default();
        assert_eq!(precheck(&action(), 7, [1; 20], 100, &p), Ok(()));
        let code = |a: &Action, now, p: &Policy| precheck(a, 7, [1; 20], now, p).unwrap_err().code;
        assert_eq!(code(&action(), 101, &p), ReasonCode::Expired);
        assert_eq!(
            code(&action().with_chain_id(8), 1, &p),
            ReasonCode::WrongChain
        );
        let mut a = action();
        a.version = 2;
        assert_eq!(code(&a, 1, &p), ReasonCode::UnsupportedVersion);
        let mut a = action();
        a.trigger = [9; 20];
        assert_eq!(code(&a, 1, &p), ReasonCode::WrongTrigger);
        let mut a = action();
        a.target = [1; 20];
        assert_eq!(code(&a, 1, &p), ReasonCode::Rejected);
        let mut a = action();
        a.value[31] = 1;
        assert_eq!(code(&a, 1, &p), ReasonCode::ValueNotAllowed);
        assert_eq!(
            precheck(&a, 7, [1; 20], 1, &p.clone().with_max_value(U256::from(1))),
            Ok(())
        );
        let only = p.with_allowed_targets([[4; 20]]);
        assert_eq!(code(&action(), 1, &only), ReasonCode::TargetNotAllowed);
    }

    #[test]
    fn rate_limit_refills() {
        let p = Policy::default().with_rate(2, 60);
        let mut r = RateLimiter::default();
        assert!(r.allow([1; 32], 0, &p));
        assert!(r.allow([1; 32], 0, &p));
        assert!(!r.allow([1; 32], 10, &p));
        assert!(r.allow([2; 32], 10, &p), "per sender");
        assert!(r.allow([1; 32], 1_100, &p), "one token per second");
        assert!(!r.allow([1; 32], 1_200, &p));
    }

    #[test]
    fn fee_bumps_and_confirmations() {
        let old = Fees {
            max_fee: 100,
            priority_fee: 10,
        };
        let b = bump_fees(
            old,
            Fees {
                max_fee: 50,
                priority_fee: 1,
            },
            25,
        );
        assert_eq!(
            b,
            Fees {
                max_fee: 125,
                priority_fee: 13
            }
        );
        let b = bump_fees(
            old,
            Fees {
                max_fee: 500,
                priority_fee: 40,
            },
            25,
        );
        assert_eq!(
            b,
            Fees {
                max_fee: 500,
                priority_fee: 40
            }
        );
        assert_eq!(
            bump_fees(
                Fees {
                    max_fee: 0,
                    priority_fee: 0
                },
                Fees {
                    max_fee: 0,
                    priority_fee: 0
                },
                25
            )
            .priority_fee,
            1
        );
        assert_eq!(gas_with_margin(1000, 20), 1200);
        assert!(is_confirmed(10, 10, 1));
        assert!(!is_confirmed(10, 10, 2));
        assert!(is_confirmed(11, 10, 2));
    }
}
