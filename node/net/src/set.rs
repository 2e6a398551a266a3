//! Which nodes count: the service-node set (staked and registered nodes), and swarm placement.
//!
//! The swarm logic only sees [`ServiceNodeSet`]. Today's implementation is [`StaticSet`], read
//! from a JSON file for local networks; the on-chain registry reader implements the same trait.

use libp2p::{Multiaddr, PeerId};
use pars_wire::NodeId;
use pars_wire::swarm::{Mailbox, SWARM_SIZE};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;

/// One member of the service-node set.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ServiceNode {
    /// Its libp2p peer ID.
    pub peer_id: PeerId,
    /// Where to reach it.
    pub addrs: Vec<Multiaddr>,
    /// Who runs it.
    pub operator: String,
}

impl ServiceNode {
    /// Its position in node-ID space.
    pub fn node_id(&self) -> NodeId {
        node_id(&self.peer_id)
    }
}

/// The node ID of a peer: SHA3-256 of its peer-ID bytes.
pub fn node_id(peer: &PeerId) -> NodeId {
    NodeId::from_peer_id_bytes(&peer.to_bytes())
}

/// A version of the set: its members and an epoch that grows with every change.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Membership {
    /// Increases whenever the members change.
    pub epoch: u64,
    /// The members.
    pub nodes: Vec<ServiceNode>,
}

impl Membership {
    /// Whether `peer` is a member.
    pub fn contains(&self, peer: &PeerId) -> bool {
        self.nodes.iter().any(|n| n.peer_id == *peer)
    }

    /// The member with this peer ID.
    pub fn get(&self, peer: &PeerId) -> Option<&ServiceNode> {
        self.nodes.iter().find(|n| n.peer_id == *peer)
    }

    /// The swarm of a 32-byte location: the [`SWARM_SIZE`] members closest to it by XOR
    /// distance of their node IDs, closest first.
    pub fn swarm_for(&self, location: &[u8; 32]) -> Vec<PeerId> {
        self.closest(location, SWARM_SIZE)
    }

    /// The swarm of `mailbox`: the [`Mailbox::swarm_size`] members closest to its location
    /// (fewer for a file chunk than for a message), closest first.
    pub fn swarm_of(&self, mailbox: &Mailbox) -> Vec<PeerId> {
        self.closest(&mailbox.location(), mailbox.swarm_size())
    }

    /// The members of `mailbox`'s swarm meant to hold it ([`Mailbox::holders`]), closest
    /// first: where a store is sent and a fetch asks first.
    pub fn holders_of(&self, mailbox: &Mailbox) -> Vec<PeerId> {
        self.closest(
            &mailbox.location(),
            mailbox.holders().min(mailbox.swarm_size()),
        )
    }

    /// The `n` members closest to `location` by XOR distance of their node IDs, closest first.
    fn closest(&self, location: &[u8; 32], n: usize) -> Vec<PeerId> {
        let mut ranked: Vec<([u8; 32], PeerId)> = self
            .nodes
            .iter()
            .map(|n| (n.node_id().distance(location), n.peer_id))
            .collect();
        ranked.sort();
        ranked.dedup_by(|a, b| a.1 == b.1);
        ranked.into_iter().take(n).map(|(_, p)| p).collect()
    }
}

/// The source of the service-node set. Implementations: [`StaticSet`] (a file) and, later, the
/// on-chain registry. Only members are used for routing or storage.
pub trait ServiceNodeSet: Send + Sync + 'static {
    /// A receiver that always holds the current membership and wakes on every change.
    fn watch(&self) -> watch::Receiver<Arc<Membership>>;

    /// The current membership.
    fn members(&self) -> Arc<Membership> {
        self.watch().borrow().clone()
    }
}

/// The static set file: JSON.
///
/// ```json
/// { "nodes": [ { "peer_id": "12D3KooW…", "addrs": ["/ip4/127.0.0.1/tcp/4001"], "operator": "alice" } ] }
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct SetFile {
    /// The members.
    pub nodes: Vec<SetFileNode>,
}

/// One entry of a [`SetFile`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SetFileNode {
    /// Peer ID in its usual base58 text form.
    pub peer_id: String,
    /// Multiaddrs in text form.
    #[serde(default)]
    pub addrs: Vec<String>,
    /// Operator name or contact.
    #[serde(default)]
    pub operator: String,
}

/// Why a set file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetError {
    /// The file could not be read.
    #[error("cannot read service-node set file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid JSON of the expected shape.
    #[error("service-node set file is not valid: {0}")]
    Parse(String),
}

impl pars_error::HasKind for SetError {
    fn kind(&self) -> pars_error::ErrorKind {
        // The set file is configuration.
        pars_error::ErrorKind::Config
    }
}

/// A service-node set from a static list (a JSON file, or nodes given directly). Changes made
/// through [`StaticSet::replace`] or [`StaticSet::reload`] reach every watcher.
#[derive(Debug)]
pub struct StaticSet {
    tx: watch::Sender<Arc<Membership>>,
}

impl StaticSet {
    /// A set with these members (epoch 1).
    pub fn new(nodes: Vec<ServiceNode>) -> Self {
        let (tx, _) = watch::channel(Arc::new(Membership { epoch: 1, nodes }));
        Self { tx }
    }

    /// Reads a set file.
    pub fn from_file(path: &Path) -> Result<Self, SetError> {
        Ok(Self::new(read_set_file(path)?))
    }

    /// Replaces the members (the epoch grows by one).
    pub fn replace(&self, nodes: Vec<ServiceNode>) {
        self.tx.send_modify(|m| {
            *m = Arc::new(Membership {
                epoch: m.epoch + 1,
                nodes,
            })
        });
    }

    /// Re-reads a set file and applies it if it differs.
    pub fn reload(&self, path: &Path) -> Result<(), SetError> {
        let nodes = read_set_file(path)?;
        if self.tx.borrow().nodes != nodes {
            self.replace(nodes);
        }
        Ok(())
    }
}

impl ServiceNodeSet for StaticSet {
    fn watch(&self) -> watch::Receiver<Arc<Membership>> {
        self.tx.subscribe()
    }
}

/// Parses a set file into members.
pub fn read_set_file(path: &Path) -> Result<Vec<ServiceNode>, SetError> {
    let text = std::fs::read_to_string(path).map_err(|source| SetError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_set(&text)
}

/// Parses set-file JSON into members.
pub fn parse_set(json: &str) -> Result<Vec<ServiceNode>, SetError> {
    let file: SetFile = serde_json::from_str(json).map_err(|e| SetError::Parse(e.to_string()))?;
    file.nodes
        .into_iter()
        .map(|n| {
            let peer_id: PeerId = n
                .peer_id
                .parse()
                .map_err(|e| SetError::Parse(format!("peer ID {:?}: {e}", n.peer_id)))?;
            let addrs = n
                .addrs
                .iter()
                .map(|a| {
                    a.parse::<Multiaddr>()
                        .map_err(|e| SetError::Parse(format!("address {a:?}: {e}")))
                })
                .collect::<Result<_, _>>()?;
            Ok(ServiceNode {
                peer_id,
                addrs,
                operator: n.operator,
            })
        })
        .collect()
}

/// Renders members as set-file JSON.
pub fn render_set(nodes: &[ServiceNode]) -> String {
    let file = SetFile {
        nodes: nodes
            .iter()
            .map(|n| SetFileNode {
                peer_id: n.peer_id.to_string(),
                addrs: n.addrs.iter().map(ToString::to_string).collect(),
                operator: n.operator.clone(),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&file).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(i: u8) -> ServiceNode {
        let kp = libp2p::identity::Keypair::ed25519_from_bytes([i; 32]).unwrap();
        ServiceNode {
            peer_id: kp.public().to_peer_id(),
            addrs: vec![
                format!("/ip4/127.0.0.1/tcp/{}", 4000 + u16::from(i))
                    .parse()
                    .unwrap(),
            ],
            operator: format!("op{i}"),
        }
    }

    #[test]
    fn swarm_is_the_five_closest() {
        let nodes: Vec<_> = (1..=12).map(node).collect();
        let m = Membership {
            epoch: 1,
            nodes: nodes.clone(),
        };
        let loc = [0x5a; 32];
        let swarm = m.swarm_for(&loc);
        assert_eq!(swarm.len(), 5);
        let mut by_dist: Vec<_> = nodes
            .iter()
            .map(|n| (n.node_id().distance(&loc), n.peer_id))
            .collect();
        by_dist.sort();
        let want: Vec<_> = by_dist.iter().take(5).map(|x| x.1).collect();
        assert_eq!(swarm, want);
        // Every non-member is farther than every member.
        let far = by_dist[5].0;
        for p in &swarm {
            assert!(node_id(p).distance(&loc) < far);
        }
        // Small sets: the swarm is everyone.
        let small = Membership {
            epoch: 1,
            nodes: nodes[..3].to_vec(),
        };
        assert_eq!(small.swarm_for(&loc).len(), 3);
        // A file chunk's swarm is the four closest to its ID; a message's the five closest.
        let chunk = Mailbox::Chunk(pars_wire::ChunkId(loc));
        assert_eq!(m.swarm_of(&chunk), want[..4].to_vec());
        let inbox = Mailbox::Group(pars_wire::GroupId(loc));
        assert_eq!(m.swarm_of(&inbox), want);
        // A chunk is held by its three closest members; a message by its whole swarm.
        assert_eq!(m.holders_of(&chunk), want[..3].to_vec());
        assert_eq!(m.holders_of(&inbox), want);
    }

    #[test]
    fn set_file_round_trip_and_errors() {
        let nodes: Vec<_> = (1..=3).map(node).collect();
        let json = render_set(&nodes);
        assert_eq!(parse_set(&json).unwrap(), nodes);
        assert!(parse_set("{").is_err());
        assert!(parse_set(r#"{"nodes":[{"peer_id":"nope"}]}"#).is_err());
        assert!(parse_set(r#"{"nodes":[{"peer_id":"12D3KooWRBhwfeP2Y4TCx1SM6s9rUoHhR5STiGwxBhgFRcw3UERE","addrs":["bad"]}]}"#).is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("set.json");
        std::fs::write(&p, &json).unwrap();
        let set = StaticSet::from_file(&p).unwrap();
        let mut w = set.watch();
        assert_eq!(set.members().nodes, nodes);
        std::fs::write(&p, render_set(&nodes[..2])).unwrap();
        set.reload(&p).unwrap();
        assert!(w.has_changed().unwrap());
        assert_eq!(w.borrow_and_update().epoch, 2);
        assert_eq!(set.members().nodes.len(), 2);
    }
}
