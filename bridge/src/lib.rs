//! Pars Session's EVM side (ARCHITECTURE decisions 12–13).
//!
//! What it is:
//! * [`contracts`]: the one place that touches contract ABIs — `sol!` bindings generated from the
//!   JSON ABIs in `bridge/abi/` (refreshed by `scripts/sync-abi`, checked by its `--check` mode
//!   and the `abi_sync` test), with typed helpers over them;
//! * [`reader`]: the `ServiceNodeRegistry` reader — the active set of staked service nodes,
//!   followed with a confirmation lag, reorg-safe, cached on disk so a node keeps working through
//!   chain outages, exposed as [`RegistrySnapshot`]s with change notifications and [`Health`];
//! * [`operator`]: the operator actions behind `parsctl node …` (register, status, add stake,
//!   exit, withdraw) with keys from a keystore file or `PARS_EVM_PRIVATE_KEY`;
//! * [`events`]: the sans-IO core of the reader (event application, range planning, backoff);
//! * [`set`]: [`RegistrySet`], the registry as `pars-net`'s `ServiceNodeSet` (only Active nodes
//!   whose registered identity key matches their peer ID), opened by [`open_registry_set`];
//! * [`service_node`]: what a service node registers, derived from its node key;
//! * [`relay`]: the `SessionTrigger` relayer behind the `pars-bridge` binary — ML-DSA-signed
//!   contract actions executed exactly once, state in redb, receipts for the sender.
//!
//! What it is not: it does not decide how the network uses the set (that is `pars-net`'s, fed by
//! [`RegistrySet`]) and it does not authenticate nodes (Noise and the signed node records do;
//! the set only pins the key a record must be signed with).

pub mod cache;
pub mod contracts;
mod error;
pub mod events;
pub mod operator;
pub mod reader;
pub mod relay;
pub mod service_node;
pub mod set;
mod types;

pub use error::{BridgeError, ErrorKind, InvalidRegistration};
pub use operator::{
    EvmSigner, NodeStatusReport, Operator, OperatorConfig, PRIVATE_KEY_ENV, Progress, Registration,
    TxOutcome,
};
pub use reader::{
    DevnetAddresses, Health, HealthError, RegistryConfig, RegistryHandle, RegistryReader,
    SyncState, default_confirmations,
};
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
