//! Sans-IO core of the registry reader: applying decoded events to an active set, planning the
//! next block range to poll, and the retry backoff. No I/O, no clock: the async reader drives it.

use std::collections::BTreeMap;
use std::time::Duration;

use alloy::primitives::U256;

use crate::types::{BlockRef, RegisteredNode, RegistryNodeId};

/// A registry event that changes the active set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryEvent {
    /// `NodeRegistered`: add as active with all fields.
    Registered(RegisteredNode),
    /// `NodeUpdated`: replace the endpoints.
    EndpointsUpdated {
        /// The node.
        node_id: RegistryNodeId,
        /// New onion key.
        onion_key: Vec<u8>,
        /// New multiaddrs.
        multiaddrs: Vec<String>,
    },
    /// `StakeAdded`: set the stake.
    StakeAdded {
        /// The node.
        node_id: RegistryNodeId,
        /// The new total stake.
        stake: U256,
    },
    /// `ExitRequested`: leaves the active set.
    ExitRequested {
        /// The node.
        node_id: RegistryNodeId,
        /// When its stake unlocks.
        unlock_time: u64,
    },
    /// `Slashed`: leaves the active set.
    Slashed {
        /// The node.
        node_id: RegistryNodeId,
        /// Stake left after the slash.
        remaining_stake: U256,
        /// When the remaining stake unlocks.
        unlock_time: u64,
    },
    /// `Withdrawn`: forgotten (already out of the active set).
    Withdrawn {
        /// The node.
        node_id: RegistryNodeId,
    },
}

/// An event with its position in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedEvent {
    /// Block number of the log.
    pub block_number: u64,
    /// Block hash of the log.
    pub block_hash: [u8; 32],
    /// Index of the log in its block.
    pub log_index: u64,
    /// The decoded event.
    pub event: RegistryEvent,
}

/// What applying one event did to the set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A node joined (or re-registered after a withdrawal).
    Added(RegistryNodeId),
    /// An active node's fields changed.
    Updated(RegistryNodeId),
    /// A node left the active set.
    Removed(RegistryNodeId),
    /// Nothing changed (e.g. a withdrawal of a node that had already left, or an update for a node
    /// this set does not hold, which an inconsistent RPC could produce).
    Unchanged,
}

/// The active set, keyed and sorted by registry node ID.
pub type ActiveSet = BTreeMap<RegistryNodeId, RegisteredNode>;

/// Applies one event to `set`.
pub fn apply_event(set: &mut ActiveSet, event: &RegistryEvent) -> Applied {
    match event {
        RegistryEvent::Registered(node) => {
            let id = node.node_id;
            match set.insert(id, node.clone()) {
                None => Applied::Added(id),
                Some(_) => Applied::Updated(id),
            }
        }
        RegistryEvent::EndpointsUpdated {
            node_id,
            onion_key,
            multiaddrs,
        } => match set.get_mut(node_id) {
            Some(n) => {
                n.onion_key.clone_from(onion_key);
                n.multiaddrs.clone_from(multiaddrs);
                Applied::Updated(*node_id)
            }
            None => Applied::Unchanged,
        },
        RegistryEvent::StakeAdded { node_id, stake } => match set.get_mut(node_id) {
            Some(n) => {
                n.stake = *stake;
                Applied::Updated(*node_id)
            }
            None => Applied::Unchanged,
        },
        RegistryEvent::ExitRequested { node_id, .. }
        | RegistryEvent::Slashed { node_id, .. }
        | RegistryEvent::Withdrawn { node_id } => match set.remove(node_id) {
            Some(_) => Applied::Removed(*node_id),
            None => Applied::Unchanged,
        },
    }
}

/// Applies `events` in chain order (block number, then log index), whatever order they came in.
/// Returns whether the set changed.
pub fn apply_events(set: &mut ActiveSet, events: &mut [LoggedEvent]) -> bool {
    events.sort_by_key(|e| (e.block_number, e.log_index));
    let mut changed = false;
    for e in events.iter() {
        changed |= apply_event(set, &e.event) != Applied::Unchanged;
    }
    changed
}

/// The block the reader treats as confirmed: `head − confirmations` (a block with
/// `confirmations` blocks on top of it; with 1 on a local chain, the parent of the head).
pub fn safe_block(head: u64, confirmations: u64) -> u64 {
    head.saturating_sub(confirmations)
}

/// What the reader should do next, given its last processed block and the chain's safe block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextStep {
    /// Nothing known: load the whole set with the views at `at`.
    FullLoad {
        /// The block to load at.
        at: u64,
    },
    /// Poll the logs of `from..=to`.
    Poll {
        /// First block.
        from: u64,
        /// Last block (inclusive).
        to: u64,
    },
    /// Up to date.
    Idle,
}

/// Plans the next step. `last` is the last processed block (after its hash was checked to still be
/// canonical); ranges are at most `max_range` blocks; a gap larger than `reload_gap` is cheaper to
/// cover with a fresh load through the views than with log queries.
pub fn plan(last: Option<u64>, safe: u64, max_range: u64, reload_gap: u64) -> NextStep {
    let Some(last) = last else {
        return NextStep::FullLoad { at: safe };
    };
    if safe <= last {
        return NextStep::Idle;
    }
    if safe - last > reload_gap {
        return NextStep::FullLoad { at: safe };
    }
    let from = last + 1;
    let to = safe.min(from.saturating_add(max_range.max(1) - 1));
    NextStep::Poll { from, to }
}

/// Whether the block the reader last processed is still part of the chain: `canonical` is the
/// hash the RPC now reports at that height (`None` if the chain is shorter now).
pub fn still_canonical(last: &BlockRef, canonical: Option<[u8; 32]>) -> bool {
    canonical == Some(last.hash)
}

/// Capped exponential backoff.
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// Starts at `initial`, doubles per failure, never exceeds `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            failures: 0,
        }
    }

    /// Records a failure; returns how long to wait before retrying.
    pub fn fail(&mut self) -> Duration {
        let shift = self.failures.min(20);
        self.failures = self.failures.saturating_add(1);
        self.initial.saturating_mul(1u32 << shift).min(self.max)
    }

    /// Records a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::types::{MldsaKeyHash, NodeStatus};
    use alloy::primitives::Address;

    fn node(tag: u8) -> RegisteredNode {
        let peer_id = vec![0, 36, 8, 1, tag];
        RegisteredNode {
            node_id: RegistryNodeId::of_peer_id(&peer_id),
            peer_id,
            operator: Address::repeat_byte(tag),
            name: format!("n{tag}"),
            mldsa_key_hash: MldsaKeyHash([tag; 32]),
            onion_key: vec![tag; 64],
            multiaddrs: vec![format!("/ip4/127.0.0.1/tcp/{}", 9000 + u16::from(tag))],
            stake: U256::from(1u64),
            status: NodeStatus::Active,
            registered_block: 1,
        }
    }

    fn logged(block: u64, index: u64, event: RegistryEvent) -> LoggedEvent {
        LoggedEvent {
            block_number: block,
            block_hash: [block as u8; 32],
            log_index: index,
            event,
        }
    }

    #[test]
    fn lifecycle_events_change_the_set() {
        let mut set = ActiveSet::new();
        let (a, b) = (node(1), node(2));
        assert_eq!(
            apply_event(&mut set, &RegistryEvent::Registered(a.clone())),
            Applied::Added(a.node_id)
        );
        assert_eq!(
            apply_event(&mut set, &RegistryEvent::Registered(b.clone())),
            Applied::Added(b.node_id)
        );
        let stake = U256::from(5u64);
        assert_eq!(
            apply_event(
                &mut set,
                &RegistryEvent::StakeAdded {
                    node_id: a.node_id,
                    stake
                }
            ),
            Applied::Updated(a.node_id)
        );
        assert_eq!(set[&a.node_id].stake, stake);
        let update = RegistryEvent::EndpointsUpdated {
            node_id: b.node_id,
            onion_key: vec![7; 32],
            multiaddrs: vec!["/dns4/x/tcp/1".into()],
        };
        assert_eq!(apply_event(&mut set, &update), Applied::Updated(b.node_id));
        assert_eq!(set[&b.node_id].onion_key, vec![7; 32]);
        let exit = RegistryEvent::ExitRequested {
            node_id: a.node_id,
            unlock_time: 10,
        };
        assert_eq!(apply_event(&mut set, &exit), Applied::Removed(a.node_id));
        let slash = RegistryEvent::Slashed {
            node_id: b.node_id,
            remaining_stake: U256::ZERO,
            unlock_time: 10,
        };
        assert_eq!(apply_event(&mut set, &slash), Applied::Removed(b.node_id));
        assert!(set.is_empty());
        // Withdrawal of a node that already left, updates for unknown nodes: no change.
        assert_eq!(
            apply_event(&mut set, &RegistryEvent::Withdrawn { node_id: a.node_id }),
            Applied::Unchanged
        );
        assert_eq!(apply_event(&mut set, &update), Applied::Unchanged);
        // Re-registration after withdrawal.
        assert_eq!(
            apply_event(&mut set, &RegistryEvent::Registered(a.clone())),
            Applied::Added(a.node_id)
        );
    }

    #[test]
    fn events_apply_in_chain_order() {
        let a = node(1);
        // Delivered out of order: register (block 5) after exit (block 6) in the slice.
        let mut events = vec![
            logged(
                6,
                0,
                RegistryEvent::ExitRequested {
                    node_id: a.node_id,
                    unlock_time: 1,
                },
            ),
            logged(5, 3, RegistryEvent::Registered(a.clone())),
        ];
        let mut set = ActiveSet::new();
        assert!(apply_events(&mut set, &mut events));
        assert!(set.is_empty(), "exit after registration leaves nothing");
        // Same block: log index decides.
        let mut events = vec![
            logged(
                7,
                2,
                RegistryEvent::StakeAdded {
                    node_id: a.node_id,
                    stake: U256::from(9u64),
                },
            ),
            logged(7, 1, RegistryEvent::Registered(a.clone())),
        ];
        assert!(apply_events(&mut set, &mut events));
        assert_eq!(set[&a.node_id].stake, U256::from(9u64));
    }

    #[test]
    fn planning() {
        assert_eq!(plan(None, 10, 100, 1000), NextStep::FullLoad { at: 10 });
        assert_eq!(plan(Some(10), 10, 100, 1000), NextStep::Idle);
        assert_eq!(plan(Some(12), 10, 100, 1000), NextStep::Idle);
        assert_eq!(
            plan(Some(10), 11, 100, 1000),
            NextStep::Poll { from: 11, to: 11 }
        );
        assert_eq!(
            plan(Some(10), 500, 100, 1000),
            NextStep::Poll { from: 11, to: 110 }
        );
        assert_eq!(
            plan(Some(10), 5000, 100, 1000),
            NextStep::FullLoad { at: 5000 }
        );
        assert_eq!(
            plan(Some(10), 20, 0, 1000),
            NextStep::Poll { from: 11, to: 11 }
        );
        assert_eq!(safe_block(5, 1), 4);
        assert_eq!(safe_block(0, 12), 0);
        let last = BlockRef {
            number: 3,
            hash: [1; 32],
        };
        assert!(still_canonical(&last, Some([1; 32])));
        assert!(!still_canonical(&last, Some([2; 32])));
        assert!(!still_canonical(&last, None));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let waits: Vec<_> = (0..6).map(|_| b.fail()).collect();
        assert_eq!(
            waits,
            [100, 200, 400, 800, 1000, 1000]
                .map(Duration::from_millis)
                .to_vec()
        );
        assert_eq!(b.failures(), 6);
        for _ in 0..100 {
            assert!(b.fail() <= Duration::from_secs(1));
        }
        b.reset();
        assert_eq!(b.fail(), Duration::from_millis(100));
    }
}
