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

/// Whose actions the bridge relays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Senders {
    /// Anyone's (a Session ID costs nothing to make: the budgets are then the only bound).
    Any,
    /// Only senders whose ML-DSA key is registered in the `SessionTrigger` (registration is an
    /// on-chain transaction the sender pays for). The default.
    Registered,
    /// Only these Session ID digests.
    Only(BTreeSet<[u8; 32]>),
}

/// Gas the bridge pays, per sender and in all, per hour and per day (fixed windows: the Unix
/// hour and the Unix day). 0 means none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GasBudget {
    /// Per sender, per hour.
    pub sender_per_hour: u64,
    /// Per sender, per day.
    pub sender_per_day: u64,
    /// All senders together, per hour.
    pub per_hour: u64,
    /// All senders together, per day.
    pub per_day: u64,
}

impl Default for GasBudget {
    /// Sized for actions verified in Solidity (about 22 M gas each without the ML-DSA
    /// precompile): 100 M gas per sender an hour and 300 M a day (about 4 and 13 actions);
    /// 600 M an hour and 3,000 M a day in all.
    fn default() -> Self {
        Self {
            sender_per_hour: 100_000_000,
            sender_per_day: 300_000_000,
            per_hour: 600_000_000,
            per_day: 3_000_000_000,
        }
    }
}

impl GasBudget {
    /// No budget at all (a private bridge, tests and benchmarks).
    pub fn unlimited() -> Self {
        Self {
            sender_per_hour: u64::MAX,
            sender_per_day: u64::MAX,
            per_hour: u64::MAX,
            per_day: u64::MAX,
        }
    }
}

/// What the bridge is willing to relay.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// Targets that may be called; `None` allows any (except the trigger itself). The default
    /// is none: an operator lists the contracts it pays for.
    pub allowed_targets: Option<BTreeSet<[u8; 20]>>,
    /// Whose actions are relayed.
    pub senders: Senders,
    /// Largest gas limit the bridge pays for one action.
    pub max_gas: u64,
    /// Gas budgets per sender and in all.
    pub budget: GasBudget,
    /// Largest `value` (wei) the bridge forwards from its own balance (0 by default: the relayer
    /// pays `msg.value`, so forwarding value is a deliberate choice).
    pub max_value: U256,
    /// Actions a sender (session ID digest) may make in a burst.
    pub rate_burst: u32,
    /// Sustained actions per minute per sender.
    pub rate_per_minute: u32,
}

impl Default for Policy {
    /// Safe for a public bridge: no target until the operator lists some, registered senders
    /// only, 30 M gas per action (one action verified in Solidity), [`GasBudget::default`], no
    /// value, 10 actions in a burst then 10 per minute per sender.
    fn default() -> Self {
        Self {
            allowed_targets: Some(BTreeSet::new()),
            senders: Senders::Registered,
            max_gas: 30_000_000,
            budget: GasBudget::default(),
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

    /// Any target (but the trigger itself).
    pub fn with_any_target(mut self) -> Self {
        self.allowed_targets = None;
        self
    }

    /// Whose actions are relayed.
    pub fn with_senders(mut self, senders: Senders) -> Self {
        self.senders = senders;
        self
    }

    /// Sets the gas budgets.
    pub fn with_budget(mut self, budget: GasBudget) -> Self {
        self.budget = budget;
        self
    }

    /// Whether `sender` (a Session ID digest) passes the sender list (a registered key is
    /// checked on chain, later).
    pub fn sender_listed(&self, sender: &[u8; 32]) -> bool {
        match &self.senders {
            Senders::Only(list) => list.contains(sender),
            Senders::Any | Senders::Registered => true,
        }
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

/// Gas spent in the current hour and day (fixed Unix windows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Spent {
    hour: u64,
    in_hour: u64,
    day: u64,
    in_day: u64,
}

impl Spent {
    fn roll(&mut self, now_s: u64) {
        let (hour, day) = (now_s / 3600, now_s / 86_400);
        if self.hour != hour {
            (self.hour, self.in_hour) = (hour, 0);
        }
        if self.day != day {
            (self.day, self.in_day) = (day, 0);
        }
    }
}

/// What each sender and the bridge spent of their gas budgets ([`GasBudget`]), in memory: the
/// relayer rebuilds it at start from the actions it sent in the current windows. Gas is counted
/// when an action's transaction is prepared, at its gas limit (what the bridge may pay).
#[derive(Clone, Debug, Default)]
pub struct GasBudgets {
    senders: HashMap<[u8; 32], Spent>,
    all: Spent,
}

impl GasBudgets {
    /// Why `sender` may not spend `gas` more at `now_s` (Unix seconds), if it may not.
    pub fn check(
        &mut self,
        sender: [u8; 32],
        gas: u64,
        now_s: u64,
        b: &GasBudget,
    ) -> Result<(), Refusal> {
        self.all.roll(now_s);
        let mine = self.senders.entry(sender).or_default();
        mine.roll(now_s);
        let next_hour = (now_s / 3600 + 1) * 3600;
        let next_day = (now_s / 86_400 + 1) * 86_400;
        let limits = [
            (
                mine.in_hour,
                b.sender_per_hour,
                "this sender's hourly",
                next_hour,
            ),
            (
                mine.in_day,
                b.sender_per_day,
                "this sender's daily",
                next_day,
            ),
            (
                self.all.in_hour,
                b.per_hour,
                "the bridge's hourly",
                next_hour,
            ),
            (self.all.in_day, b.per_day, "the bridge's daily", next_day),
        ];
        for (spent, budget, which, renews) in limits {
            if spent.saturating_add(gas) > budget {
                return Err(Refusal::new(
                    ReasonCode::BudgetExhausted,
                    format!(
                        "{which} gas budget is spent ({spent} of {budget}; this action needs \
                         {gas}); it renews at {renews} (Unix seconds)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Counts `gas` spent by `sender` at `now_s`.
    pub fn spend(&mut self, sender: [u8; 32], gas: u64, now_s: u64) {
        self.all.roll(now_s);
        self.all.in_hour = self.all.in_hour.saturating_add(gas);
        self.all.in_day = self.all.in_day.saturating_add(gas);
        let mine = self.senders.entry(sender).or_default();
        mine.roll(now_s);
        mine.in_hour = mine.in_hour.saturating_add(gas);
        mine.in_day = mine.in_day.saturating_add(gas);
        // Senders with nothing spent today are forgotten: the map stays as small as the day's
        // senders.
        if self.senders.len() > 10_000 {
            let day = now_s / 86_400;
            self.senders.retain(|_, s| s.day == day);
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
        let p = Policy::default().with_any_target();
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
    fn budgets_stop_a_sender_then_everyone_and_renew_with_their_window() {
        let b = GasBudget {
            sender_per_hour: 100,
            sender_per_day: 150,
            per_hour: 180,
            per_day: 1_000,
        };
        let mut g = GasBudgets::default();
        let (a, c, d) = ([1; 32], [2; 32], [3; 32]);
        let t = 10 * 86_400 + 60;
        g.check(a, 100, t, &b).unwrap();
        g.spend(a, 100, t);
        // This sender's hour is spent; another sender goes on.
        let r = g.check(a, 1, t, &b).unwrap_err();
        assert_eq!(r.code, ReasonCode::BudgetExhausted);
        assert!(r.text.contains("this sender's hourly") && r.text.contains("renews at"));
        g.check(c, 80, t, &b).unwrap();
        g.spend(c, 80, t);
        // The bridge's hour is spent for everyone (100 + 80 of 180).
        let r = g.check(d, 1, t, &b).unwrap_err();
        assert!(r.text.contains("the bridge's hourly"), "{}", r.text);
        // The next hour: the hourly budgets renew, the sender's daily one does not.
        let t2 = t + 3600;
        g.check(a, 50, t2, &b).unwrap();
        let r = g.check(a, 51, t2, &b).unwrap_err();
        assert!(r.text.contains("this sender's daily"), "{}", r.text);
        g.check(d, 1, t2, &b).unwrap();
        // The next day: everything renews.
        g.check(a, 100, t + 86_400, &b).unwrap();
    }

    #[test]
    fn the_default_policy_relays_nothing_until_told() {
        let p = Policy::default();
        assert_eq!(
            precheck(&action(), 7, [1; 20], 1, &p).unwrap_err().code,
            ReasonCode::TargetNotAllowed
        );
        assert_eq!(p.senders, Senders::Registered);
        let open = p.clone().with_any_target();
        assert_eq!(precheck(&action(), 7, [1; 20], 1, &open), Ok(()));
        let listed = p.with_senders(Senders::Only([[2; 32]].into()));
        assert!(listed.sender_listed(&[2; 32]) && !listed.sender_listed(&[3; 32]));
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
