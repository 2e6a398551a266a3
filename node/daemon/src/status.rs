//! Status views shared by `getStatus` and the service node's status file.

use pars_net::ServiceNodeSet;
use pars_registry::SyncState;

/// The registry reader's health as `getStatus` and the service node's status file report it.
pub fn registry_status(set: &pars_registry::RegistrySet) -> pars_rpc::types::RegistryStatus {
    use pars_rpc::types::{RegistryState, RegistryStatus};
    let h = set.health();
    let snap = set.snapshot();
    let state = match h.state {
        SyncState::Starting => RegistryState::Starting,
        SyncState::CatchingUp => RegistryState::CatchingUp,
        SyncState::Synced => RegistryState::Synced,
        SyncState::Degraded => RegistryState::Unreachable,
    };
    RegistryStatus {
        state,
        chain_id: snap.chain_id,
        registry: snap.registry.to_string(),
        last_block: h.synced_block,
        head: h.head,
        members: u32::try_from(set.members().nodes.len()).unwrap_or(u32::MAX),
        from_cache: h.from_cache,
        last_error: (state == RegistryState::Unreachable)
            .then(|| h.last_error.map(|e| e.error.to_string()))
            .flatten(),
    }
}
