//! `pars-bridge`: the `SessionTrigger` relayer and its binary — a leaf application on top of the
//! node's crates (ARCHITECTURE decisions 12–13, §5).
//!
//! What it is:
//! * [`relay`]: ML-DSA-signed contract actions received over sessions, checked off-chain,
//!   executed through `SessionTrigger` exactly once, answered with a receipt; its `Received →
//!   Verified → Submitted → Finished` machine runs over a chain-access trait
//!   ([`relay::RelayChain`], real implementation [`relay::AlloyChain`]) and keeps its state in
//!   redb as `pars_wire::relay` records;
//! * the `pars-bridge` binary (`src/bin/pars-bridge.rs`), which talks to its own `sessiond` only
//!   through `pars-rpc`'s generated client and typed results.
//!
//! What it is not: it does not read the service-node registry, register nodes or hold the
//! contract bindings — those are `pars-registry`'s, which this crate uses. Nothing in the node
//! (`sessiond`, `parsctl`, `pars-net`, …) may depend on this crate.

pub mod relay;
