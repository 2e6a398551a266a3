//! Pars Session's chain reading (ARCHITECTURE decisions 12–13, §5 "chain reading is the node's").
//!
//! What it is:
//! * [`contracts`]: the one place that touches contract ABIs — `sol!` bindings generated from the
//!   JSON ABIs in `node/registry/abi/` (refreshed by `scripts/sync-abi`, checked by its `--check`
//!   mode and the `abi_sync` test), with typed helpers over them. The `SessionTrigger` and
//!   `SessionGuestbook` bindings live here too, so every ABI has one home and one drift check;
//!   only the relayer (`pars-bridge`) and tests use them;
//! * [`reader`]: the `ServiceNodeRegistry` reader — the active set of staked service nodes,
//!   followed with a confirmation lag, reorg-safe, cached on disk so a node keeps working through
//!   chain outages, exposed as [`RegistrySnapshot`]s with change notifications and [`Health`]
//!   ([`health`]);
//! * [`events`]: the sans-IO core of the reader (event application, range planning, backoff);
//! * [`set`]: [`RegistrySet`], the registry as `pars-net`'s `ServiceNodeSet` (only Active nodes
//!   whose registered identity key matches their peer ID), opened by [`open_registry_set`];
//! * [`operator`]: the operator actions behind `parsctl node …` (register, status, add stake,
//!   exit, withdraw) with keys from a keystore file or `PARS_EVM_PRIVATE_KEY`;
//! * [`service_node`]: what a service node registers, derived from its node key;
//! * [`deployment`]: the deployment-addresses file and how an EVM RPC endpoint is opened.
//!
//! What it is not: it does not relay anything (the `SessionTrigger` relayer is `pars-bridge`, a
//! leaf on top of this crate), it does not decide how the network uses the set (that is
//! `pars-net`'s, fed by [`RegistrySet`]) and it does not authenticate nodes (Noise and the signed
//! node records do; the set only pins the key a record must be signed with). `sessiond` and
//! `parsctl` depend on it; it must never depend on `pars-bridge`, `pars-rpc` or a daemon crate.

pub mod cache;
pub mod contracts;
pub mod deployment;
mod error;
pub mod events;
pub mod health;
pub mod operator;
pub mod reader;
pub mod service_node;
pub mod set;
mod types;

pub use deployment::{DevnetAddresses, LOCAL_CHAIN_IDS, default_confirmations};
pub use error::{InvalidRegistration, RegistryError, redact_urls};
pub use health::{Health, HealthError, RegistryHandle, SyncState};
pub use operator::{
    EvmSigner, NodeStatusReport, Operator, OperatorConfig, PRIVATE_KEY_ENV, Progress, Registration,
    TxOutcome,
};
pub use pars_error::{ErrorKind, HasKind};
pub use reader::{RegistryConfig, RegistryReader};
pub use service_node::{EntryError, ServiceNodeIdentity};
pub use set::{
    ChainTarget, DEVNET_ADDRESSES_FILE, REGISTRY_CACHE_FILE, RegistrySet, RegistrySetConfig,
    RegistrySetTask, open_registry_set,
};
pub use types::{
    BlockRef, MldsaKeyHash, NodeStatus, RegisteredNode, RegistryNodeId, RegistrySnapshot, SetDiff,
    format_ether, format_unix_time, parse_amount,
};

/// EVM primitives used in this crate's API, so users need no direct alloy dependency.
pub mod primitives {
    pub use alloy::primitives::{Address, B256, U256};
}
