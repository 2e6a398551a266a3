//! The relayer's settings ([`RelayConfig`]) and what it hands out: [`Intake`] results,
//! [`Answer`]s to send back, [`RelayStatus`] counts.

use std::time::Duration;

use alloy::primitives::Address;
use pars_crypto::SessionId;
use pars_wire::action::ContractReceipt;

use super::core::Policy;

/// Settings of a [`Relayer`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RelayConfig {
    /// EVM JSON-RPC endpoint (http or https).
    pub rpc_url: String,
    /// The chain actions must be for.
    pub chain_id: u64,
    /// The `SessionTrigger`.
    pub trigger: Address,
    /// Blocks a transaction must be buried under (its own block counts as one).
    pub confirmations: u64,
    /// Pause between driver passes when idle.
    pub poll_interval: Duration,
    /// A transaction pending this long is replaced with higher fees.
    pub stuck_after: Duration,
    /// Fee increase of a replacement, in percent (nodes require at least 10).
    pub fee_bump_percent: u32,
    /// Most fee-bumped replacements of one transaction; past it the action is reported stuck
    /// (`pars-bridge status`) instead of paying ever more.
    pub max_fee_bumps: u32,
    /// How long after an action's receipt the bridge checks that its transaction is still on
    /// chain (a reorganisation or a rolled-back chain can drop it); a vanished one is verified
    /// and sent again (the trigger's nonce keeps it to one execution).
    pub reorg_watch: Duration,
    /// Gas limit = estimate + this many percent.
    pub gas_margin_percent: u32,
    /// Transactions in flight at once.
    pub max_in_flight: usize,
    /// Timeout of each RPC request.
    pub rpc_timeout: Duration,
    /// Backoff while the chain is unreachable: first pause and cap.
    pub backoff: (Duration, Duration),
    /// What is relayed.
    pub policy: Policy,
    /// How long answered requests and finished actions are kept (then removed).
    pub keep_records: Duration,
    /// Most requests kept at once; more are refused until old ones expire.
    pub max_requests: u64,
}

impl RelayConfig {
    /// Defaults: confirmations per [`pars_registry::default_confirmations`], polls every 500 ms, replaces
    /// after 60 s with +25 % fees (at most 10 times), receipts watched for reorganisations for
    /// an hour, 20 % gas margin, 16 in flight, 10 s per RPC request, backoff
    /// 250 ms doubling to 30 s, [`Policy::default`], records kept 7 days and at most 100,000
    /// requests.
    pub fn new(rpc_url: impl Into<String>, chain_id: u64, trigger: Address) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            chain_id,
            trigger,
            confirmations: pars_registry::default_confirmations(chain_id),
            poll_interval: Duration::from_millis(500),
            stuck_after: Duration::from_secs(60),
            fee_bump_percent: 25,
            max_fee_bumps: 10,
            reorg_watch: Duration::from_secs(3600),
            gas_margin_percent: 20,
            max_in_flight: 16,
            rpc_timeout: Duration::from_secs(10),
            backoff: (Duration::from_millis(250), Duration::from_secs(30)),
            policy: Policy::default(),
            keep_records: Duration::from_secs(7 * 24 * 3600),
            max_requests: 100_000,
        }
    }

    /// Sets how long answered requests and finished actions are kept, and how many requests
    /// at most.
    pub fn with_records(mut self, keep: Duration, max_requests: u64) -> Self {
        self.keep_records = keep;
        self.max_requests = max_requests.max(1);
        self
    }

    /// Sets the confirmations (at least 1).
    pub fn with_confirmations(mut self, n: u64) -> Self {
        self.confirmations = n.max(1);
        self
    }

    /// Sets the idle poll interval.
    pub fn with_poll_interval(mut self, d: Duration) -> Self {
        self.poll_interval = d;
        self
    }

    /// Sets when a pending transaction counts as stuck.
    pub fn with_stuck_after(mut self, d: Duration) -> Self {
        self.stuck_after = d;
        self
    }

    /// Sets the backoff while the chain is down.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = (initial, max);
        self
    }

    /// Sets the policy.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the most fee bumps of one transaction.
    pub fn with_max_fee_bumps(mut self, n: u32) -> Self {
        self.max_fee_bumps = n;
        self
    }

    /// Sets how long receipts are checked for a reorganisation.
    pub fn with_reorg_watch(mut self, d: Duration) -> Self {
        self.reorg_watch = d;
        self
    }

    /// Sets the maximum number of transactions in flight.
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }
}

/// What [`Relayer::receive`] did with a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intake {
    /// Stored; the receipt comes later.
    Accepted,
    /// This request was received before; its receipt (if there is one yet) will be sent again.
    Repeated,
    /// Refused at once; the receipt is queued as an answer.
    Refused(ContractReceipt),
}

/// A receipt to send back over the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Who sent the action.
    pub sender: SessionId,
    /// The receipt.
    pub receipt: ContractReceipt,
    /// Its encoding (the content of a ContractReceipt message).
    pub content: Vec<u8>,
}

/// Counts for `pars-bridge status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayStatus {
    /// Actions received or verified, not yet sent.
    pub queued: u64,
    /// Actions whose transaction is sent and not yet confirmed.
    pub in_flight: u64,
    /// Actions executed with success.
    pub confirmed: u64,
    /// Actions refused or reverted, and requests refused at intake.
    pub failed: u64,
    /// Receipts not yet handed to the session layer.
    pub unanswered: u64,
    /// Actions whose transaction is still pending after the most fee bumps allowed: the
    /// operator should look (fees too low for the chain, a node that does not relay).
    #[serde(default)]
    pub stuck: u64,
}
