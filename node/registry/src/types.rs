//! The registry's view as plain data: node IDs, registered nodes, snapshots of the active set.

use std::fmt;

use alloy::primitives::{Address, U256, keccak256};
use serde::{Deserialize, Serialize};

/// Serde helpers: byte strings as `0x`-prefixed hex.
mod hexser {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(bytes)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text.strip_prefix("0x").unwrap_or(&text)).map_err(D::Error::custom)
    }

    pub mod fixed {
        use super::*;

        pub fn serialize<S: Serializer, const N: usize>(
            bytes: &[u8; N],
            s: S,
        ) -> Result<S::Ok, S::Error> {
            super::serialize(bytes, s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
            d: D,
        ) -> Result<[u8; N], D::Error> {
            let v = super::deserialize(d)?;
            <[u8; N]>::try_from(v.as_slice())
                .map_err(|_| D::Error::custom(format!("expected {N} bytes, got {}", v.len())))
        }
    }
}

/// The registry's key for a node: `keccak256(peerId)` over the raw libp2p peer-ID bytes.
///
/// Only the contract's key: DHT distances are computed from the peer ID by the network layer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RegistryNodeId(#[serde(with = "hexser::fixed")] pub [u8; 32]);

impl RegistryNodeId {
    /// The registry's key for `peer_id` (the raw peer-ID bytes, a multihash).
    pub fn of_peer_id(peer_id: &[u8]) -> Self {
        Self(keccak256(peer_id).0)
    }
}

impl fmt::Display for RegistryNodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for RegistryNodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegistryNodeId({self})")
    }
}

/// SHA3-256 of a node's ML-DSA-87 public key: its Session ID without the `05` prefix.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MldsaKeyHash(#[serde(with = "hexser::fixed")] pub [u8; 32]);

impl fmt::Display for MldsaKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for MldsaKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MldsaKeyHash({self})")
    }
}

/// A node's status in the registry (`ServiceNodeRegistry.Status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NodeStatus {
    /// Never registered (status `None` on chain).
    NotRegistered,
    /// Staked and in the active set: usable as hop and swarm member.
    Active,
    /// Left the active set; stake unbonding.
    Exiting,
    /// Stake withdrawn; the peer ID may register again.
    Withdrawn,
    /// Slashed by governance: out of the active set, remaining stake unbonding.
    Slashed,
}

impl NodeStatus {
    /// From the contract's enum value.
    pub fn from_contract(raw: u8) -> Option<Self> {
        Some(match raw {
            0 => Self::NotRegistered,
            1 => Self::Active,
            2 => Self::Exiting,
            3 => Self::Withdrawn,
            4 => Self::Slashed,
            _ => return None,
        })
    }
}

impl fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotRegistered => "not registered",
            Self::Active => "active",
            Self::Exiting => "exiting (unbonding)",
            Self::Withdrawn => "withdrawn",
            Self::Slashed => "slashed",
        })
    }
}

/// A registered, staked service node as the registry records it.
///
/// Nothing here is verified beyond the registry's own checks: the peer ID is authenticated by
/// Noise when connecting, and the node must prove the ML-DSA and onion keys in its handshake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredNode {
    /// `keccak256(peer_id)`.
    pub node_id: RegistryNodeId,
    /// Raw libp2p peer-ID bytes (a multihash).
    #[serde(with = "hexser")]
    pub peer_id: Vec<u8>,
    /// The EVM account that registered the node and owns its stake.
    pub operator: Address,
    /// The operator's human-readable name (≤ 64 bytes, unverified).
    pub name: String,
    /// SHA3-256 of the node's ML-DSA-87 public key.
    pub mldsa_key_hash: MldsaKeyHash,
    /// Onion key material (opaque, ≤ 128 bytes).
    #[serde(with = "hexser")]
    pub onion_key: Vec<u8>,
    /// Textual multiaddrs (1–8), unparsed.
    pub multiaddrs: Vec<String>,
    /// Stake in wei.
    pub stake: U256,
    /// Always [`NodeStatus::Active`] in a [`RegistrySnapshot`].
    pub status: NodeStatus,
    /// Block of the registration.
    pub registered_block: u64,
}

/// A block by number and hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockRef {
    /// Block number.
    pub number: u64,
    /// Block hash.
    #[serde(with = "hexser::fixed")]
    pub hash: [u8; 32],
}

impl fmt::Debug for BlockRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} (0x{}…)", self.number, hex::encode(&self.hash[..4]))
    }
}

/// The active set of a registry as of one confirmed block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrySnapshot {
    /// Chain ID the set was read from.
    pub chain_id: u64,
    /// Registry contract address.
    pub registry: Address,
    /// The (confirmed) block the set is valid at; `None` before anything was loaded.
    pub block: Option<BlockRef>,
    /// The active nodes, sorted by node ID.
    pub nodes: Vec<RegisteredNode>,
}

impl RegistrySnapshot {
    /// An empty snapshot: nothing known yet.
    pub fn empty(chain_id: u64, registry: Address) -> Self {
        Self {
            chain_id,
            registry,
            block: None,
            nodes: Vec::new(),
        }
    }

    /// Whether anything was ever loaded (from the chain or the cache).
    pub fn is_known(&self) -> bool {
        self.block.is_some()
    }

    /// The node with registry key `id`.
    pub fn get(&self, id: &RegistryNodeId) -> Option<&RegisteredNode> {
        self.nodes
            .binary_search_by(|n| n.node_id.cmp(id))
            .ok()
            .and_then(|i| self.nodes.get(i))
    }

    /// The node registered with these peer-ID bytes.
    pub fn by_peer_id(&self, peer_id: &[u8]) -> Option<&RegisteredNode> {
        self.get(&RegistryNodeId::of_peer_id(peer_id))
    }

    /// Whether a node with these peer-ID bytes is active.
    pub fn contains_peer_id(&self, peer_id: &[u8]) -> bool {
        self.by_peer_id(peer_id).is_some()
    }
}

/// How the active set changed between two snapshots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetDiff {
    /// Nodes that joined.
    pub added: Vec<RegistryNodeId>,
    /// Nodes that left (exited, slashed, or gone after a reload): their mailbox data moves on.
    pub removed: Vec<RegistryNodeId>,
    /// Nodes whose fields changed (endpoints, onion key, stake).
    pub updated: Vec<RegistryNodeId>,
}

impl SetDiff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.updated.is_empty()
    }
}

impl RegistrySnapshot {
    /// What changed from `old` to `self` (both sorted by node ID, as snapshots are).
    pub fn diff_from(&self, old: &RegistrySnapshot) -> SetDiff {
        let mut diff = SetDiff::default();
        let (mut a, mut b) = (old.nodes.iter().peekable(), self.nodes.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(o), None) => {
                    diff.removed.push(o.node_id);
                    a.next();
                }
                (None, Some(n)) => {
                    diff.added.push(n.node_id);
                    b.next();
                }
                (Some(o), Some(n)) => match o.node_id.cmp(&n.node_id) {
                    std::cmp::Ordering::Less => {
                        diff.removed.push(o.node_id);
                        a.next();
                    }
                    std::cmp::Ordering::Greater => {
                        diff.added.push(n.node_id);
                        b.next();
                    }
                    std::cmp::Ordering::Equal => {
                        if o != n {
                            diff.updated.push(n.node_id);
                        }
                        a.next();
                        b.next();
                    }
                },
            }
        }
        diff
    }
}

/// `wei` as a decimal amount of the native token (18 decimals), trailing zeros trimmed.
pub fn format_ether(wei: U256) -> String {
    let unit = U256::from(10u64).pow(U256::from(18u64));
    let whole = wei / unit;
    let frac = wei % unit;
    if frac.is_zero() {
        return whole.to_string();
    }
    let frac = format!("{:0>18}", frac.to_string());
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// Parses an amount of the native token: a decimal number with an optional unit — `ether`
/// (also `eth`, the default when no unit is given), `gwei` or `wei` — e.g. `100ether`, `0.5`,
/// `2.5 gwei`, `1000000000000000000wei`. At most as many decimals as the unit has (18, 9, 0);
/// `_` separators are allowed in the number.
pub fn parse_amount(text: &str) -> Result<U256, String> {
    let t = text.trim().to_ascii_lowercase();
    let (number, decimals) = if let Some(n) = t.strip_suffix("gwei") {
        (n, 9usize)
    } else if let Some(n) = t.strip_suffix("wei") {
        (n, 0)
    } else if let Some(n) = t.strip_suffix("ether") {
        (n, 18)
    } else if let Some(n) = t.strip_suffix("eth") {
        (n, 18)
    } else {
        (t.as_str(), 18)
    };
    let number: String = number.trim().chars().filter(|c| *c != '_').collect();
    let bad = || {
        format!(
            "{text:?} is not an amount; write e.g. 100ether, 0.5ether, 2gwei or 1000wei (a number without a unit is in ether)"
        )
    };
    let (whole, frac) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number.as_str(), ""),
    };
    if (whole.is_empty() && frac.is_empty())
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    if frac.len() > decimals {
        return Err(format!(
            "{text:?} has more decimals than the unit allows ({decimals}); the smallest amount is 1 wei"
        ));
    }
    let digits = format!("{whole}{frac:0<decimals$}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(U256::ZERO);
    }
    U256::from_str_radix(digits, 10).map_err(|_| format!("{text:?} is too large"))
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_unix_time(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil from days (H. Hinnant), for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn node_id_is_keccak_of_peer_id() {
        // keccak256("") is the well-known c5d246…
        assert_eq!(
            RegistryNodeId::of_peer_id(b"").to_string(),
            "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn diff_between_snapshots() {
        let node = |tag: u8, stake: u64| RegisteredNode {
            node_id: RegistryNodeId::of_peer_id(&[tag]),
            peer_id: vec![tag],
            operator: Address::repeat_byte(tag),
            name: String::new(),
            mldsa_key_hash: MldsaKeyHash([tag; 32]),
            onion_key: vec![tag],
            multiaddrs: vec!["/ip4/127.0.0.1/tcp/1".into()],
            stake: U256::from(stake),
            status: NodeStatus::Active,
            registered_block: 1,
        };
        let snap = |mut nodes: Vec<RegisteredNode>| {
            nodes.sort_by_key(|n| n.node_id);
            RegistrySnapshot {
                nodes,
                ..RegistrySnapshot::empty(1, Address::ZERO)
            }
        };
        let old = snap(vec![node(1, 1), node(2, 1), node(3, 1)]);
        let new = snap(vec![node(2, 5), node(3, 1), node(4, 1)]);
        let d = new.diff_from(&old);
        assert_eq!(d.added, vec![node(4, 1).node_id]);
        assert_eq!(d.removed, vec![node(1, 1).node_id]);
        assert_eq!(d.updated, vec![node(2, 1).node_id]);
        assert!(new.diff_from(&new).is_empty());
        let d = old.diff_from(&snap(vec![]));
        assert_eq!(d.added.len(), 3);
    }

    #[test]
    fn ether_and_time_formatting() {
        let e = U256::from(10u64).pow(U256::from(18u64));
        assert_eq!(format_ether(e), "1");
        assert_eq!(format_ether(e * U256::from(3u64) / U256::from(2u64)), "1.5");
        assert_eq!(format_ether(U256::from(1u64)), "0.000000000000000001");
        assert_eq!(format_unix_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_unix_time(1_709_251_199), "2024-02-29 23:59:59 UTC");
    }

    #[test]
    fn amounts_with_units() {
        let eth = U256::from(10u64).pow(U256::from(18u64));
        assert_eq!(parse_amount("100ether").unwrap(), eth * U256::from(100u64));
        assert_eq!(parse_amount("0.5ether").unwrap(), eth / U256::from(2u64));
        assert_eq!(parse_amount("1").unwrap(), eth);
        assert_eq!(
            parse_amount(" 1.25 ETH ").unwrap(),
            eth * U256::from(5u64) / U256::from(4u64)
        );
        assert_eq!(parse_amount("2gwei").unwrap(), U256::from(2_000_000_000u64));
        assert_eq!(parse_amount("1_000wei").unwrap(), U256::from(1000u64));
        assert_eq!(parse_amount(".5").unwrap(), eth / U256::from(2u64));
        assert_eq!(parse_amount("0").unwrap(), U256::ZERO);
        for bad in [
            "",
            "ether",
            "1.5wei",
            "-1",
            "1e18",
            "0x10",
            "1.2.3",
            "abc",
            "0.0000000000000000001",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad}");
        }
        assert!(parse_amount(&"9".repeat(100)).is_err());
        assert_eq!(format_ether(parse_amount("0.5").unwrap()), "0.5");
    }

    #[test]
    fn snapshot_round_trips_through_json() {
        let node = RegisteredNode {
            node_id: RegistryNodeId::of_peer_id(b"peer"),
            peer_id: b"peer".to_vec(),
            operator: Address::repeat_byte(7),
            name: "op".into(),
            mldsa_key_hash: MldsaKeyHash([9; 32]),
            onion_key: vec![1, 2, 3],
            multiaddrs: vec!["/ip4/127.0.0.1/tcp/1".into()],
            stake: U256::from(12345u64),
            status: NodeStatus::Active,
            registered_block: 3,
        };
        let snap = RegistrySnapshot {
            chain_id: 31337,
            registry: Address::repeat_byte(1),
            block: Some(BlockRef {
                number: 9,
                hash: [4; 32],
            }),
            nodes: vec![node],
        };
        let json = serde_json::to_string(&snap).unwrap();
        assert!(json.contains("\"peerId\":\"0x70656572\""));
        let back: RegistrySnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snap);
        assert!(back.contains_peer_id(b"peer"));
        assert!(!back.contains_peer_id(b"other"));
    }
}
