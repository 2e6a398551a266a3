//! The ratchet tree, stored by pieces: one record per node, and a small head record.
//!
//! openmls writes the whole tree on every merged commit (about 9 KB per member: 90 MB at
//! 10,000 members), though a commit changes a path of log₂(n) nodes and a few leaves. As one
//! record, every commit would hand the caller the whole tree to store again, keep the old one
//! in the transaction log and wipe both. By pieces, a commit's changes are the nodes that
//! changed: the tree is encoded as before, cut at the boundaries of the elements of its two
//! node arrays (the leaves and the parents of openmls's array tree, the sequences at depth 3
//! of `TreeSync { tree: ABinaryTree { leaf_nodes, parent_nodes, .. }, .. }`), and each node
//! is written only when its bytes differ from the stored ones.
//!
//! The head record (kind `TREE`) holds, for each cut sequence, its number of elements, and the
//! bytes between the sequences (their counts, openmls's default nodes, the tree hash). Node
//! records (kind `TREE_NODE`) are keyed by group, sequence and index. Reading puts the bytes
//! back in order and decodes them: the pieces are only a cut of the same bytes, so a change in
//! openmls's layout can make the pieces larger, never the tree wrong.

use super::keys::{key, kind};
use super::store::ParsStorage;
use super::{StorageError, Value};
use crate::codec::{self, CodecError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

/// The nesting depth of the node arrays in the encoding of openmls's `TreeSync`.
const NODE_ARRAYS_DEPTH: u32 = 3;

/// The key of node `index` of sequence `seq` of the tree of `group_id`.
fn node_key<G: Serialize + ?Sized>(
    group_id: &G,
    seq: u32,
    index: u32,
) -> Result<Vec<u8>, StorageError> {
    key(kind::TREE_NODE, &(group_id, seq, index))
}

/// The head record: the length of the whole encoding, the sequence lengths, then the bytes
/// before, between and after the sequences.
struct Head {
    total: u64,
    counts: Vec<u32>,
    gaps: Vec<Vec<u8>>,
}

fn u32_of(n: usize) -> Result<u32, StorageError> {
    u32::try_from(n).map_err(|_| CodecError::too_long().into())
}

impl Head {
    fn encode(&self) -> Result<Value, StorageError> {
        let mut out = Zeroizing::new(Vec::new());
        out.extend_from_slice(&self.total.to_le_bytes());
        out.extend_from_slice(&u32_of(self.counts.len())?.to_le_bytes());
        for c in &self.counts {
            out.extend_from_slice(&c.to_le_bytes());
        }
        for g in &self.gaps {
            out.extend_from_slice(&u32_of(g.len())?.to_le_bytes());
            out.extend_from_slice(g);
        }
        Ok(out)
    }

    /// Total: any bytes give a head or an error.
    fn decode(mut bytes: &[u8]) -> Result<Self, StorageError> {
        fn u32_at(bytes: &mut &[u8]) -> Result<u32, StorageError> {
            let (n, rest) = bytes
                .split_first_chunk::<4>()
                .ok_or(CodecError::truncated())?;
            *bytes = rest;
            Ok(u32::from_le_bytes(*n))
        }
        let (total, rest) = bytes
            .split_first_chunk::<8>()
            .ok_or(CodecError::truncated())?;
        let total = u64::from_le_bytes(*total);
        bytes = rest;
        let n = u32_at(&mut bytes)?;
        // Each count takes 4 bytes: a forged number reserves nothing.
        if usize::try_from(n).map_or(true, |n| n > bytes.len() / 4) {
            return Err(CodecError::truncated().into());
        }
        let counts = (0..n)
            .map(|_| u32_at(&mut bytes))
            .collect::<Result<Vec<_>, _>>()?;
        let mut gaps = Vec::with_capacity(counts.len() + 1);
        for _ in 0..=counts.len() {
            let len = usize::try_from(u32_at(&mut bytes)?).map_err(|_| CodecError::truncated())?;
            if bytes.len() < len {
                return Err(CodecError::truncated().into());
            }
            let (g, rest) = bytes.split_at(len);
            gaps.push(g.to_vec());
            bytes = rest;
        }
        if !bytes.is_empty() {
            return Err(CodecError::truncated().into());
        }
        Ok(Self {
            total,
            counts,
            gaps,
        })
    }
}

impl ParsStorage {
    /// The length of the encoding `head` was cut from: only a capacity hint, so capped by the
    /// bytes the storage holds (a damaged head reserves nothing).
    fn capacity_hint(&self, head: &Head) -> Result<usize, StorageError> {
        let held: usize = self.read_state()?.values.values().map(|v| v.len()).sum();
        Ok(usize::try_from(head.total).map_or(0, |t| t.min(held)))
    }

    /// The stored head of the tree of `group_id`.
    fn head<G: Serialize + ?Sized>(&self, group_id: &G) -> Result<Option<Head>, StorageError> {
        let key = key(kind::TREE, group_id)?;
        let state = self.read_state()?;
        state.values.get(&key).map(|v| Head::decode(v)).transpose()
    }

    /// Writes `tree` by pieces: only the nodes whose bytes changed are written.
    pub(super) fn write_tree_pieces<G: Serialize + ?Sized, T: Serialize + ?Sized>(
        &self,
        group_id: &G,
        tree: &T,
    ) -> Result<(), StorageError> {
        let old = self.head(group_id)?;
        // The last encoding's length, with some room: the tree is encoded in one allocation.
        let hint = old.as_ref().map_or(Ok(0), |h| self.capacity_hint(h))?;
        let hint = hint.saturating_add(hint / 16).saturating_add(64);
        let codec::Marked { bytes, seqs } = codec::encode_marked(tree, hint, NODE_ARRAYS_DEPTH)?;
        let mut head = Head {
            total: bytes.len() as u64,
            counts: Vec::with_capacity(seqs.len()),
            gaps: Vec::with_capacity(seqs.len() + 1),
        };
        let mut nodes: Vec<(u32, u32, &[u8])> = Vec::new();
        let mut done = 0;
        for (s, marks) in seqs.iter().enumerate() {
            let (Some(&start), Some(&end)) = (marks.first(), marks.last()) else {
                continue;
            };
            let gap = bytes.get(done..start).ok_or(CodecError::truncated())?;
            head.gaps.push(gap.to_vec());
            for (i, w) in marks.windows(2).enumerate() {
                let (&[a, b], Some(node)) = (w, bytes.get(w[0]..w[1])) else {
                    return Err(CodecError::truncated().into());
                };
                debug_assert!(a <= b);
                nodes.push((u32_of(s)?, u32_of(i)?, node));
            }
            head.counts.push(u32_of(marks.len() - 1)?);
            done = end;
        }
        head.gaps
            .push(bytes.get(done..).ok_or(CodecError::truncated())?.to_vec());
        let keys = nodes
            .iter()
            .map(|&(s, i, _)| node_key(group_id, s, i))
            .collect::<Result<Vec<_>, _>>()?;
        // Nodes of the old tree beyond the new one's arrays.
        let mut gone = Vec::new();
        if let Some(old) = &old {
            for (s, &count) in old.counts.iter().enumerate() {
                let now = head.counts.get(s).copied().unwrap_or(0);
                for i in now..count {
                    gone.push(node_key(group_id, u32_of(s)?, i)?);
                }
            }
        }
        let head_key = key(kind::TREE, group_id)?;
        let head = head.encode()?;
        let mut state = self.write_state()?;
        for (k, (_, _, node)) in keys.into_iter().zip(&nodes) {
            if state.values.get(&k).is_none_or(|v| v.as_slice() != *node) {
                state.put(k, Zeroizing::new(node.to_vec()));
            }
        }
        for k in gone {
            state.delete(&k);
        }
        if state.values.get(&head_key).is_none_or(|v| *v != head) {
            state.put(head_key, head);
        }
        Ok(())
    }

    /// The tree of `group_id`, put back together from its pieces.
    pub(super) fn read_tree_pieces<G: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        group_id: &G,
    ) -> Result<Option<T>, StorageError> {
        let Some(head) = self.head(group_id)? else {
            return Ok(None);
        };
        let cap = self.capacity_hint(&head)?;
        let state = self.read_state()?;
        let mut bytes = Zeroizing::new(Vec::with_capacity(cap));
        for (s, &count) in head.counts.iter().enumerate() {
            bytes.extend_from_slice(head.gaps.get(s).ok_or(CodecError::truncated())?);
            for i in 0..count {
                let node = state
                    .values
                    .get(&node_key(group_id, u32_of(s)?, i)?)
                    .ok_or(StorageError::Missing("a node of the ratchet tree"))?;
                bytes.extend_from_slice(node);
            }
        }
        bytes.extend_from_slice(head.gaps.last().ok_or(CodecError::truncated())?);
        Ok(Some(codec::decode(&bytes)?))
    }

    /// Deletes the tree of `group_id`: its head and every node.
    pub(super) fn delete_tree_pieces<G: Serialize + ?Sized>(
        &self,
        group_id: &G,
    ) -> Result<(), StorageError> {
        let Some(head) = self.head(group_id)? else {
            return Ok(());
        };
        let mut keys = vec![key(kind::TREE, group_id)?];
        for (s, &count) in head.counts.iter().enumerate() {
            for i in 0..count {
                keys.push(node_key(group_id, u32_of(s)?, i)?);
            }
        }
        let mut state = self.write_state()?;
        for k in keys {
            state.delete(&k);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde::Deserialize;

    /// Shaped like openmls's `TreeSync`: node arrays at depth 3.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Tree {
        tree: Arrays,
        hash: Vec<u8>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Arrays {
        leaves: Vec<Option<Vec<u8>>>,
        parents: Vec<Option<(u32, Vec<u8>)>>,
        default: Option<Vec<u8>>,
    }

    fn tree(n: usize) -> Tree {
        Tree {
            tree: Arrays {
                leaves: (0..n).map(|i| Some(vec![i as u8; 100 + i])).collect(),
                parents: (0..n.saturating_sub(1))
                    .map(|i| (i % 3 != 0).then(|| (i as u32, vec![7; 50])))
                    .collect(),
                default: None,
            },
            hash: vec![1; 64],
        }
    }

    const G: &[u8] = b"group";

    #[test]
    fn a_tree_round_trips_and_a_change_writes_only_what_changed() {
        let s = ParsStorage::default();
        let mut t = tree(8);
        s.write_tree_pieces(G, &t).unwrap();
        assert_eq!(s.read_tree_pieces::<_, Tree>(G).unwrap().unwrap(), t);
        // One head and one record per node.
        assert_eq!(s.size().unwrap().0, 1 + 8 + 7);
        s.commit().unwrap();
        // A leaf and the hash change: that leaf and the head are written, nothing else.
        t.tree.leaves[3] = Some(vec![9; 10]);
        t.hash = vec![2; 64];
        s.write_tree_pieces(G, &t).unwrap();
        assert_eq!(s.read_tree_pieces::<_, Tree>(G).unwrap().unwrap(), t);
        let c = s.changes().unwrap();
        assert_eq!((c.put.len(), c.delete.len()), (2, 0));
        s.commit().unwrap();
        // The tree shrinks: the nodes beyond it go; then it grows again.
        let small = tree(3);
        s.write_tree_pieces(G, &small).unwrap();
        assert_eq!(s.read_tree_pieces::<_, Tree>(G).unwrap().unwrap(), small);
        assert_eq!(s.size().unwrap().0, 1 + 3 + 2);
        let big = tree(20);
        s.write_tree_pieces(G, &big).unwrap();
        assert_eq!(s.read_tree_pieces::<_, Tree>(G).unwrap().unwrap(), big);
        // Deleted whole; another group's tree is untouched.
        s.write_tree_pieces(b"other", &small).unwrap();
        s.delete_tree_pieces(G).unwrap();
        assert!(s.read_tree_pieces::<_, Tree>(G).unwrap().is_none());
        assert_eq!(
            s.read_tree_pieces::<_, Tree>(b"other").unwrap().unwrap(),
            small
        );
        assert_eq!(s.size().unwrap().0, 1 + 3 + 2);
    }

    #[test]
    fn a_value_of_another_shape_is_stored_whole_in_its_head() {
        let s = ParsStorage::default();
        let v = (vec![1u8, 2, 3], String::from("no arrays at depth 3"));
        s.write_tree_pieces(G, &v).unwrap();
        assert_eq!(s.size().unwrap().0, 1);
        assert_eq!(
            s.read_tree_pieces::<_, (Vec<u8>, String)>(G)
                .unwrap()
                .unwrap(),
            v
        );
    }

    #[test]
    fn damaged_heads_and_missing_nodes_are_errors() {
        let s = ParsStorage::default();
        s.write_tree_pieces(G, &tree(4)).unwrap();
        let head_key = key(kind::TREE, G).unwrap();
        let head = s
            .read_state()
            .unwrap()
            .values
            .get(&head_key)
            .unwrap()
            .to_vec();
        for cut in 0..head.len() {
            s.write_state()
                .unwrap()
                .put(head_key.clone(), Zeroizing::new(head[..cut].to_vec()));
            assert!(s.read_tree_pieces::<_, Tree>(G).is_err(), "cut at {cut}");
        }
        // A forged count of sequences reserves nothing and fails.
        s.write_state()
            .unwrap()
            .put(head_key.clone(), Zeroizing::new(vec![0xff; 8]));
        assert!(s.read_tree_pieces::<_, Tree>(G).is_err());
        s.write_state().unwrap().put(head_key, Zeroizing::new(head));
        s.write_state().unwrap().delete(&node_key(G, 0, 2).unwrap());
        assert!(matches!(
            s.read_tree_pieces::<_, Tree>(G),
            Err(StorageError::Missing(_))
        ));
    }
}
