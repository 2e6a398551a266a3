//! The operator's policy file (TOML): what the bridge relays, for whom, and how much gas it pays.
//! Every key is optional; a missing one keeps [`Policy::default`]'s value, which is safe for a
//! public bridge (no target until listed, registered senders only, budgets on).
//!
//! ```toml
//! allowed-targets = ["0x5FbDB2315678afecb367f032d93F642f64180aa3"]  # or "any"
//! senders = "registered"            # or "any", or ["05ab…", …] (Session IDs)
//! max-gas-per-action = 30000000
//! max-value-wei = "0"
//! rate-burst = 10                   # actions per sender in a burst
//! rate-per-minute = 10              # then per minute
//! sender-gas-per-hour = 100000000
//! sender-gas-per-day = 300000000
//! gas-per-hour = 600000000          # all senders together
//! gas-per-day = 3000000000
//! keep-records-days = 7             # answered requests and finished actions, then removed
//! max-requests = 100000             # requests kept at once
//! ```

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use pars_crypto::SessionId;
use serde::Deserialize;

use super::core::{Policy, Senders};

/// `"any"` or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum AnyOr {
    Word(String),
    List(Vec<String>),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct File {
    allowed_targets: Option<AnyOr>,
    senders: Option<AnyOr>,
    max_gas_per_action: Option<u64>,
    max_value_wei: Option<String>,
    rate_burst: Option<u32>,
    rate_per_minute: Option<u32>,
    sender_gas_per_hour: Option<u64>,
    sender_gas_per_day: Option<u64>,
    gas_per_hour: Option<u64>,
    gas_per_day: Option<u64>,
    keep_records_days: Option<u64>,
    max_requests: Option<u64>,
}

/// A policy file read: the policy and how records are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyFile {
    /// What is relayed.
    pub policy: Policy,
    /// How long answered requests and finished actions are kept.
    pub keep_records: Duration,
    /// Most requests kept at once.
    pub max_requests: u64,
}

impl Default for PolicyFile {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            keep_records: Duration::from_secs(7 * 24 * 3600),
            max_requests: 100_000,
        }
    }
}

impl PolicyFile {
    /// Reads and checks the file at `path`; the error names the file and what is wrong.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the policy file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("policy file {}: {e}", path.display()))
    }

    /// Parses a policy file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let f: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut out = Self::default();
        let p = &mut out.policy;
        match f.allowed_targets {
            None => {}
            Some(AnyOr::Word(w)) if w == "any" => p.allowed_targets = None,
            Some(AnyOr::Word(w)) => {
                return Err(format!(
                    "allowed-targets is \"any\" or a list of addresses, not \"{w}\""
                ));
            }
            Some(AnyOr::List(list)) => {
                let mut set = std::collections::BTreeSet::new();
                for a in list {
                    let addr = Address::from_str(a.trim()).map_err(|_| {
                        format!("allowed-targets: '{a}' is not an address (0x and 40 hex digits)")
                    })?;
                    set.insert(addr.into_array());
                }
                p.allowed_targets = Some(set);
            }
        }
        match f.senders {
            None => {}
            Some(AnyOr::Word(w)) => {
                p.senders = match w.as_str() {
                    "any" => Senders::Any,
                    "registered" => Senders::Registered,
                    _ => {
                        return Err(format!(
                            "senders is \"any\", \"registered\" or a list of Session IDs, not \"{w}\""
                        ));
                    }
                };
            }
            Some(AnyOr::List(list)) => {
                let mut set = std::collections::BTreeSet::new();
                for s in list {
                    let id = SessionId::from_str(&s)
                        .map_err(|e| format!("senders: '{s}' is not a Session ID: {e}"))?;
                    set.insert(id.digest());
                }
                p.senders = Senders::Only(set);
            }
        }
        if let Some(g) = f.max_gas_per_action {
            p.max_gas = g;
        }
        if let Some(v) = f.max_value_wei {
            p.max_value = U256::from_str(v.trim())
                .map_err(|_| format!("max-value-wei: '{v}' is not a whole number of wei"))?;
        }
        if let Some(b) = f.rate_burst {
            p.rate_burst = b.max(1);
        }
        if let Some(r) = f.rate_per_minute {
            p.rate_per_minute = r;
        }
        let b = &mut p.budget;
        for (slot, v) in [
            (&mut b.sender_per_hour, f.sender_gas_per_hour),
            (&mut b.sender_per_day, f.sender_gas_per_day),
            (&mut b.per_hour, f.gas_per_hour),
            (&mut b.per_day, f.gas_per_day),
        ] {
            if let Some(v) = v {
                *slot = v;
            }
        }
        if let Some(d) = f.keep_records_days {
            if d == 0 {
                return Err("keep-records-days must be at least 1".into());
            }
            out.keep_records = Duration::from_secs(d.saturating_mul(86_400));
        }
        if let Some(m) = f.max_requests {
            if m == 0 {
                return Err("max-requests must be at least 1".into());
            }
            out.max_requests = m;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_sets_what_it_names_and_keeps_the_safe_defaults_for_the_rest() {
        let empty = PolicyFile::parse("").unwrap();
        assert_eq!(empty, PolicyFile::default());
        assert_eq!(empty.policy.allowed_targets, Some(Default::default()));
        let sid = "05".to_owned() + &"ab".repeat(32);
        let f = PolicyFile::parse(&format!(
            r#"
allowed-targets = ["0x5FbDB2315678afecb367f032d93F642f64180aa3"]
senders = ["{sid}"]
max-gas-per-action = 200000
sender-gas-per-day = 1000000
keep-records-days = 2
"#
        ))
        .unwrap();
        assert_eq!(f.policy.allowed_targets.as_ref().map(|s| s.len()), Some(1));
        let id = SessionId::from_str(&sid).unwrap();
        assert_eq!(f.policy.senders, Senders::Only([id.digest()].into()));
        assert_eq!(f.policy.max_gas, 200_000);
        assert_eq!(f.policy.budget.sender_per_day, 1_000_000);
        assert_eq!(f.policy.budget.per_day, 3_000_000_000, "default kept");
        assert_eq!(f.keep_records, Duration::from_secs(2 * 86_400));
        let any = PolicyFile::parse("allowed-targets = \"any\"\nsenders = \"any\"").unwrap();
        assert_eq!(
            (any.policy.allowed_targets, any.policy.senders),
            (None, Senders::Any)
        );
    }

    #[test]
    fn mistakes_are_named() {
        for (text, says) in [
            ("allowed-targets = \"all\"", "allowed-targets is \"any\""),
            ("allowed-targets = [\"0x12\"]", "is not an address"),
            ("senders = \"some\"", "senders is \"any\""),
            ("senders = [\"05zz\"]", "is not a Session ID"),
            ("max-value-wei = \"ten\"", "not a whole number"),
            ("keep-records-days = 0", "at least 1"),
            ("max-gas = 5", "unknown field"),
        ] {
            let e = PolicyFile::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
