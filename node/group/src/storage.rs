//! openmls's storage for one member: a map of binary records with a transaction log.
//!
//! openmls hands every value to store as a serde type; [`ParsStorage`] encodes it in the
//! binary format of `codec.rs` (openmls's own memory storage writes JSON, where a byte costs
//! about 3.6 characters and a 1,000-member group's tree about 40 MB). The one exception is the
//! group's join configuration, a few dozen bytes whose type can only be read back from a
//! self-describing format: it is stored as JSON.
//!
//! Record keys are one byte naming the kind of record, the encoded openmls key (a group ID, a
//! public key, a hash reference, …) and openmls's storage version as two big-endian bytes.
//! Lists (a group's own leaf nodes and its queue of proposal references) are stored as one
//! record holding each item's encoding after its length as a `u32`, little-endian.
//!
//! The transaction log: for every record written or deleted since the last commit, the log
//! keeps the value it had then (or that it had none). [`ParsStorage::changes`],
//! [`ParsStorage::commit`] and [`ParsStorage::rollback`] therefore cost what changed, not the
//! size of the storage. Every value is wiped from memory when it is overwritten, deleted,
//! rolled back or dropped.

use crate::codec;
pub use crate::codec::CodecError;
use crate::provider::{Changes, StorageBroken};
use openmls_traits::storage::{CURRENT_VERSION, StorageProvider, traits};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use zeroize::Zeroizing;

/// A stored value: wiped when dropped.
type Value = Zeroizing<Vec<u8>>;

/// What the storage could not do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The storage's lock was poisoned by a panic while it was held.
    #[error(transparent)]
    Broken(#[from] StorageBroken),
    /// A value could not be encoded, or a stored record could not be decoded.
    #[error("group storage record: {0}")]
    Codec(#[from] CodecError),
    /// The join configuration could not be encoded or decoded.
    #[error("group join configuration record: {0}")]
    Json(#[from] serde_json::Error),
    /// A record that another one refers to is missing.
    #[error("group storage record missing: {0}")]
    Missing(&'static str),
}

/// The kinds of record (the first byte of every key).
mod kind {
    pub const KEY_PACKAGE: u8 = 1;
    pub const PSK: u8 = 2;
    pub const ENCRYPTION_KEY_PAIR: u8 = 3;
    pub const SIGNATURE_KEY_PAIR: u8 = 4;
    pub const EPOCH_KEY_PAIRS: u8 = 5;
    pub const TREE: u8 = 6;
    pub const GROUP_CONTEXT: u8 = 7;
    pub const INTERIM_TRANSCRIPT_HASH: u8 = 8;
    pub const CONFIRMATION_TAG: u8 = 9;
    pub const JOIN_CONFIG: u8 = 10;
    pub const OWN_LEAF_NODES: u8 = 11;
    pub const GROUP_STATE: u8 = 12;
    pub const QUEUED_PROPOSAL: u8 = 13;
    pub const PROPOSAL_QUEUE_REFS: u8 = 14;
    pub const OWN_LEAF_NODE_INDEX: u8 = 15;
    pub const EPOCH_SECRETS: u8 = 16;
    pub const RESUMPTION_PSK: u8 = 17;
    pub const MESSAGE_SECRETS: u8 = 18;
}

/// The records, and the transaction log since the last commit.
#[derive(Default)]
struct State {
    values: HashMap<Vec<u8>, Value>,
    /// For each record touched since the last commit: its committed value (`None`: it had
    /// none).
    undo: HashMap<Vec<u8>, Option<Value>>,
}

impl State {
    fn put(&mut self, key: Vec<u8>, value: Value) {
        if self.undo.contains_key(&key) {
            // Already logged: the value replaced is uncommitted, and wiped as it drops.
            self.values.insert(key, value);
        } else {
            let old = self.values.insert(key.clone(), value);
            self.undo.insert(key, old);
        }
    }

    fn delete(&mut self, key: &[u8]) {
        let Some(old) = self.values.remove(key) else {
            return;
        };
        if let Entry::Vacant(e) = self.undo.entry(key.to_vec()) {
            e.insert(Some(old));
        }
    }
}

/// openmls's storage for one member: binary records, with the transaction log the caller
/// persists from (see the module documentation).
#[derive(Default)]
pub struct ParsStorage {
    state: RwLock<State>,
}

impl std::fmt::Debug for ParsStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsStorage").finish_non_exhaustive()
    }
}

/// The key of a record of `kind` under openmls's key `k`.
fn key<K: Serialize + ?Sized>(kind: u8, k: &K) -> Result<Vec<u8>, StorageError> {
    let mut bytes = codec::encode(&(kind, k), 64)?;
    bytes.extend_from_slice(&CURRENT_VERSION.to_be_bytes());
    Ok(std::mem::take(&mut *bytes))
}

/// The items of a list record.
fn items(list: &[u8]) -> Result<Vec<&[u8]>, StorageError> {
    let mut rest = list;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or(CodecError::truncated())?;
        let len = usize::try_from(u32::from_le_bytes(*len)).map_err(|_| CodecError::truncated())?;
        if tail.len() < len {
            return Err(CodecError::truncated().into());
        }
        let (item, tail) = tail.split_at(len);
        out.push(item);
        rest = tail;
    }
    Ok(out)
}

/// `items` as a list record.
fn list<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Result<Value, StorageError> {
    let mut out = Zeroizing::new(Vec::new());
    for item in items {
        let len = u32::try_from(item.len()).map_err(|_| CodecError::too_long())?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(item);
    }
    Ok(out)
}

impl ParsStorage {
    /// A storage holding `records`, all committed.
    pub(crate) fn from_records(records: impl IntoIterator<Item = (Vec<u8>, Value)>) -> Self {
        Self {
            state: RwLock::new(State {
                values: records.into_iter().collect(),
                undo: HashMap::new(),
            }),
        }
    }

    fn read_state(&self) -> Result<RwLockReadGuard<'_, State>, StorageBroken> {
        self.state.read().map_err(|_| StorageBroken)
    }

    fn write_state(&self) -> Result<RwLockWriteGuard<'_, State>, StorageBroken> {
        self.state.write().map_err(|_| StorageBroken)
    }

    /// The records written and deleted since the last [`ParsStorage::commit`]: a record
    /// written back to its committed value is not among them.
    pub(crate) fn changes(&self) -> Result<Changes, StorageBroken> {
        let state = self.read_state()?;
        let mut c = Changes::default();
        for (k, committed) in &state.undo {
            match (state.values.get(k), committed) {
                (Some(now), Some(was)) if now.as_slice() == was.as_slice() => {}
                (Some(now), _) => c.put.push((k.clone(), Zeroizing::new(now.to_vec()))),
                (None, Some(_)) => c.delete.push(k.clone()),
                (None, None) => {}
            }
        }
        Ok(c)
    }

    /// The changes were persisted: forgets the committed values they replaced.
    pub(crate) fn commit(&self) -> Result<(), StorageBroken> {
        self.write_state()?.undo.clear();
        Ok(())
    }

    /// Puts every record changed since the last commit back as it was.
    pub(crate) fn rollback(&self) -> Result<(), StorageBroken> {
        let mut state = self.write_state()?;
        let State { values, undo } = &mut *state;
        for (k, old) in undo.drain() {
            match old {
                Some(v) => {
                    values.insert(k, v);
                }
                None => {
                    values.remove(&k);
                }
            }
        }
        Ok(())
    }

    /// The number of records and their total size in bytes (keys and values).
    pub fn size(&self) -> Result<(usize, usize), StorageBroken> {
        let state = self.read_state()?;
        let bytes = state.values.iter().map(|(k, v)| k.len() + v.len()).sum();
        Ok((state.values.len(), bytes))
    }

    fn write<V: Serialize + ?Sized>(&self, key: Vec<u8>, value: &V) -> Result<(), StorageError> {
        // The previous value's size, with some room: a large record (the tree) is then
        // written into one allocation.
        let hint = self
            .read_state()?
            .values
            .get(&key)
            .map_or(0, |v| v.len() + v.len() / 16 + 64);
        let value = codec::encode(value, hint)?;
        self.write_state()?.put(key, value);
        Ok(())
    }

    fn read<V: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<V>, StorageError> {
        let state = self.read_state()?;
        match state.values.get(key) {
            Some(v) => Ok(Some(codec::decode(v)?)),
            None => Ok(None),
        }
    }

    fn delete(&self, key: &[u8]) -> Result<(), StorageError> {
        self.write_state()?.delete(key);
        Ok(())
    }

    fn append<V: Serialize + ?Sized>(&self, key: Vec<u8>, item: &V) -> Result<(), StorageError> {
        let item = codec::encode(item, 0)?;
        let mut state = self.write_state()?;
        let old: &[u8] = state.values.get(&key).map_or(&[], |v| v.as_slice());
        let mut all = items(old)?;
        all.push(item.as_slice());
        let new = list(all)?;
        state.put(key, new);
        Ok(())
    }

    fn remove_item<V: Serialize + ?Sized>(
        &self,
        key: Vec<u8>,
        item: &V,
    ) -> Result<(), StorageError> {
        let item = codec::encode(item, 0)?;
        let mut state = self.write_state()?;
        let Some(old) = state.values.get(&key) else {
            return Ok(());
        };
        let mut all = items(old)?;
        let Some(at) = all.iter().position(|i| *i == item.as_slice()) else {
            return Ok(());
        };
        all.remove(at);
        let new = list(all)?;
        state.put(key, new);
        Ok(())
    }

    fn read_list<V: DeserializeOwned>(&self, key: &[u8]) -> Result<Vec<V>, StorageError> {
        let state = self.read_state()?;
        let Some(v) = state.values.get(key) else {
            return Ok(Vec::new());
        };
        items(v)?
            .into_iter()
            .map(|i| codec::decode(i).map_err(StorageError::from))
            .collect()
    }
}

impl StorageProvider<CURRENT_VERSION> for ParsStorage {
    type Error = StorageError;

    fn write_mls_join_config<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        MlsGroupJoinConfig: traits::MlsGroupJoinConfig<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        config: &MlsGroupJoinConfig,
    ) -> Result<(), Self::Error> {
        // The one record in JSON: its past-epoch policy is read with `deserialize_any`.
        let value = Zeroizing::new(serde_json::to_vec(config)?);
        let key = key(kind::JOIN_CONFIG, group_id)?;
        self.write_state()?.put(key, value);
        Ok(())
    }

    fn append_own_leaf_node<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        LeafNode: traits::LeafNode<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        leaf_node: &LeafNode,
    ) -> Result<(), Self::Error> {
        self.append(key(kind::OWN_LEAF_NODES, group_id)?, leaf_node)
    }

    fn queue_proposal<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
        QueuedProposal: traits::QueuedProposal<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        proposal_ref: &ProposalRef,
        proposal: &QueuedProposal,
    ) -> Result<(), Self::Error> {
        self.write(
            key(kind::QUEUED_PROPOSAL, &(group_id, proposal_ref))?,
            proposal,
        )?;
        self.append(key(kind::PROPOSAL_QUEUE_REFS, group_id)?, proposal_ref)
    }

    fn write_tree<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        TreeSync: traits::TreeSync<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        tree: &TreeSync,
    ) -> Result<(), Self::Error> {
        self.write(key(kind::TREE, group_id)?, tree)
    }

    fn write_interim_transcript_hash<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        InterimTranscriptHash: traits::InterimTranscriptHash<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        interim_transcript_hash: &InterimTranscriptHash,
    ) -> Result<(), Self::Error> {
        self.write(
            key(kind::INTERIM_TRANSCRIPT_HASH, group_id)?,
            interim_transcript_hash,
        )
    }

    fn write_context<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        GroupContext: traits::GroupContext<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        group_context: &GroupContext,
    ) -> Result<(), Self::Error> {
        self.write(key(kind::GROUP_CONTEXT, group_id)?, group_context)
    }

    fn write_confirmation_tag<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ConfirmationTag: traits::ConfirmationTag<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        confirmation_tag: &ConfirmationTag,
    ) -> Result<(), Self::Error> {
        self.write(key(kind::CONFIRMATION_TAG, group_id)?, confirmation_tag)
    }

    fn write_group_state<
        GroupState: traits::GroupState<CURRENT_VERSION>,
        GroupId: traits::GroupId<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        group_state: &GroupState,
    ) -> Result<(), Self::Error> {
        self.write(key(kind::GROUP_STATE, group_id)?, group_state)
    }

    fn write_message_secrets<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        MessageSecrets: traits::MessageSecrets<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        message_secrets: &MessageSecrets,
    ) -> Result<(), Self::Error> {
        self.write(key(kind::MESSAGE_SECRETS, group_id)?, message_secrets)
    }

    fn write_resumption_psk_store<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ResumptionPskStore: traits::ResumptionPskStore<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        resumption_psk_store: &ResumptionPskStore,
    ) -> Result<(), Self::Error> {
        self.write(key(kind::RESUMPTION_PSK, group_id)?, resumption_psk_store)
    }

    fn write_own_leaf_index<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        LeafNodeIndex: traits::LeafNodeIndex<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        own_leaf_index: &LeafNodeIndex,
    ) -> Result<(), Self::Error> {
        self.write(key(kind::OWN_LEAF_NODE_INDEX, group_id)?, own_leaf_index)
    }

    fn write_group_epoch_secrets<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        GroupEpochSecrets: traits::GroupEpochSecrets<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        group_epoch_secrets: &GroupEpochSecrets,
    ) -> Result<(), Self::Error> {
        self.write(key(kind::EPOCH_SECRETS, group_id)?, group_epoch_secrets)
    }

    fn write_signature_key_pair<
        SignaturePublicKey: traits::SignaturePublicKey<CURRENT_VERSION>,
        SignatureKeyPair: traits::SignatureKeyPair<CURRENT_VERSION>,
    >(
        &self,
        public_key: &SignaturePublicKey,
        signature_key_pair: &SignatureKeyPair,
    ) -> Result<(), Self::Error> {
        self.write(
            key(kind::SIGNATURE_KEY_PAIR, public_key)?,
            signature_key_pair,
        )
    }

    fn write_encryption_key_pair<
        EncryptionKey: traits::EncryptionKey<CURRENT_VERSION>,
        HpkeKeyPair: traits::HpkeKeyPair<CURRENT_VERSION>,
    >(
        &self,
        public_key: &EncryptionKey,
        key_pair: &HpkeKeyPair,
    ) -> Result<(), Self::Error> {
        self.write(key(kind::ENCRYPTION_KEY_PAIR, public_key)?, key_pair)
    }

    fn write_encryption_epoch_key_pairs<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        EpochKey: traits::EpochKey<CURRENT_VERSION>,
        HpkeKeyPair: traits::HpkeKeyPair<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
        key_pairs: &[HpkeKeyPair],
    ) -> Result<(), Self::Error> {
        self.write(
            key(kind::EPOCH_KEY_PAIRS, &(group_id, epoch, leaf_index))?,
            key_pairs,
        )
    }

    fn write_key_package<
        HashReference: traits::HashReference<CURRENT_VERSION>,
        KeyPackage: traits::KeyPackage<CURRENT_VERSION>,
    >(
        &self,
        hash_ref: &HashReference,
        key_package: &KeyPackage,
    ) -> Result<(), Self::Error> {
        self.write(key(kind::KEY_PACKAGE, hash_ref)?, key_package)
    }

    fn write_psk<
        PskId: traits::PskId<CURRENT_VERSION>,
        PskBundle: traits::PskBundle<CURRENT_VERSION>,
    >(
        &self,
        psk_id: &PskId,
        psk: &PskBundle,
    ) -> Result<(), Self::Error> {
        self.write(key(kind::PSK, psk_id)?, psk)
    }

    fn mls_group_join_config<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        MlsGroupJoinConfig: traits::MlsGroupJoinConfig<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<MlsGroupJoinConfig>, Self::Error> {
        let key = key(kind::JOIN_CONFIG, group_id)?;
        let state = self.read_state()?;
        match state.values.get(&key) {
            Some(v) => Ok(Some(serde_json::from_slice(v)?)),
            None => Ok(None),
        }
    }

    fn own_leaf_nodes<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        LeafNode: traits::LeafNode<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Vec<LeafNode>, Self::Error> {
        self.read_list(&key(kind::OWN_LEAF_NODES, group_id)?)
    }

    fn queued_proposal_refs<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Vec<ProposalRef>, Self::Error> {
        self.read_list(&key(kind::PROPOSAL_QUEUE_REFS, group_id)?)
    }

    fn queued_proposals<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
        QueuedProposal: traits::QueuedProposal<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Vec<(ProposalRef, QueuedProposal)>, Self::Error> {
        let refs: Vec<ProposalRef> = self.queued_proposal_refs(group_id)?;
        refs.into_iter()
            .map(|r| {
                let proposal = self
                    .read(&key(kind::QUEUED_PROPOSAL, &(group_id, &r))?)?
                    .ok_or(StorageError::Missing("a queued proposal"))?;
                Ok((r, proposal))
            })
            .collect()
    }

    fn tree<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        TreeSync: traits::TreeSync<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<TreeSync>, Self::Error> {
        self.read(&key(kind::TREE, group_id)?)
    }

    fn group_context<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        GroupContext: traits::GroupContext<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<GroupContext>, Self::Error> {
        self.read(&key(kind::GROUP_CONTEXT, group_id)?)
    }

    fn interim_transcript_hash<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        InterimTranscriptHash: traits::InterimTranscriptHash<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<InterimTranscriptHash>, Self::Error> {
        self.read(&key(kind::INTERIM_TRANSCRIPT_HASH, group_id)?)
    }

    fn confirmation_tag<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ConfirmationTag: traits::ConfirmationTag<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<ConfirmationTag>, Self::Error> {
        self.read(&key(kind::CONFIRMATION_TAG, group_id)?)
    }

    fn group_state<
        GroupState: traits::GroupState<CURRENT_VERSION>,
        GroupId: traits::GroupId<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<GroupState>, Self::Error> {
        self.read(&key(kind::GROUP_STATE, group_id)?)
    }

    fn message_secrets<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        MessageSecrets: traits::MessageSecrets<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<MessageSecrets>, Self::Error> {
        self.read(&key(kind::MESSAGE_SECRETS, group_id)?)
    }

    fn resumption_psk_store<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ResumptionPskStore: traits::ResumptionPskStore<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<ResumptionPskStore>, Self::Error> {
        self.read(&key(kind::RESUMPTION_PSK, group_id)?)
    }

    fn own_leaf_index<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        LeafNodeIndex: traits::LeafNodeIndex<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<LeafNodeIndex>, Self::Error> {
        self.read(&key(kind::OWN_LEAF_NODE_INDEX, group_id)?)
    }

    fn group_epoch_secrets<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        GroupEpochSecrets: traits::GroupEpochSecrets<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<GroupEpochSecrets>, Self::Error> {
        self.read(&key(kind::EPOCH_SECRETS, group_id)?)
    }

    fn signature_key_pair<
        SignaturePublicKey: traits::SignaturePublicKey<CURRENT_VERSION>,
        SignatureKeyPair: traits::SignatureKeyPair<CURRENT_VERSION>,
    >(
        &self,
        public_key: &SignaturePublicKey,
    ) -> Result<Option<SignatureKeyPair>, Self::Error> {
        self.read(&key(kind::SIGNATURE_KEY_PAIR, public_key)?)
    }

    fn encryption_key_pair<
        HpkeKeyPair: traits::HpkeKeyPair<CURRENT_VERSION>,
        EncryptionKey: traits::EncryptionKey<CURRENT_VERSION>,
    >(
        &self,
        public_key: &EncryptionKey,
    ) -> Result<Option<HpkeKeyPair>, Self::Error> {
        self.read(&key(kind::ENCRYPTION_KEY_PAIR, public_key)?)
    }

    fn encryption_epoch_key_pairs<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        EpochKey: traits::EpochKey<CURRENT_VERSION>,
        HpkeKeyPair: traits::HpkeKeyPair<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
    ) -> Result<Vec<HpkeKeyPair>, Self::Error> {
        Ok(self
            .read(&key(kind::EPOCH_KEY_PAIRS, &(group_id, epoch, leaf_index))?)?
            .unwrap_or_default())
    }

    fn key_package<
        KeyPackageRef: traits::HashReference<CURRENT_VERSION>,
        KeyPackage: traits::KeyPackage<CURRENT_VERSION>,
    >(
        &self,
        hash_ref: &KeyPackageRef,
    ) -> Result<Option<KeyPackage>, Self::Error> {
        self.read(&key(kind::KEY_PACKAGE, hash_ref)?)
    }

    fn psk<PskBundle: traits::PskBundle<CURRENT_VERSION>, PskId: traits::PskId<CURRENT_VERSION>>(
        &self,
        psk_id: &PskId,
    ) -> Result<Option<PskBundle>, Self::Error> {
        self.read(&key(kind::PSK, psk_id)?)
    }

    fn remove_proposal<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        proposal_ref: &ProposalRef,
    ) -> Result<(), Self::Error> {
        self.remove_item(key(kind::PROPOSAL_QUEUE_REFS, group_id)?, proposal_ref)?;
        self.delete(&key(kind::QUEUED_PROPOSAL, &(group_id, proposal_ref))?)
    }

    fn delete_own_leaf_nodes<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.delete(&key(kind::OWN_LEAF_NODES, group_id)?)
    }

    fn delete_group_config<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.delete(&key(kind::JOIN_CONFIG, group_id)?)
    }

    fn delete_tree<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.delete(&key(kind::TREE, group_id)?)
    }

    fn delete_confirmation_tag<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.delete(&key(kind::CONFIRMATION_TAG, group_id)?)
    }

    fn delete_group_state<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.delete(&key(kind::GROUP_STATE, group_id)?)
    }

    fn delete_context<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.delete(&key(kind::GROUP_CONTEXT, group_id)?)
    }

    fn delete_interim_transcript_hash<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.delete(&key(kind::INTERIM_TRANSCRIPT_HASH, group_id)?)
    }

    fn delete_message_secrets<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.delete(&key(kind::MESSAGE_SECRETS, group_id)?)
    }

    fn delete_all_resumption_psk_secrets<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.delete(&key(kind::RESUMPTION_PSK, group_id)?)
    }

    fn delete_own_leaf_index<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.delete(&key(kind::OWN_LEAF_NODE_INDEX, group_id)?)
    }

    fn delete_group_epoch_secrets<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.delete(&key(kind::EPOCH_SECRETS, group_id)?)
    }

    fn clear_proposal_queue<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        let refs_key = key(kind::PROPOSAL_QUEUE_REFS, group_id)?;
        let refs: Vec<ProposalRef> = self.read_list(&refs_key)?;
        let keys = refs
            .iter()
            .map(|r| key(kind::QUEUED_PROPOSAL, &(group_id, r)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut state = self.write_state()?;
        for k in keys {
            state.delete(&k);
        }
        state.delete(&refs_key);
        Ok(())
    }

    fn delete_signature_key_pair<
        SignaturePublicKey: traits::SignaturePublicKey<CURRENT_VERSION>,
    >(
        &self,
        public_key: &SignaturePublicKey,
    ) -> Result<(), Self::Error> {
        self.delete(&key(kind::SIGNATURE_KEY_PAIR, public_key)?)
    }

    fn delete_encryption_key_pair<EncryptionKey: traits::EncryptionKey<CURRENT_VERSION>>(
        &self,
        public_key: &EncryptionKey,
    ) -> Result<(), Self::Error> {
        self.delete(&key(kind::ENCRYPTION_KEY_PAIR, public_key)?)
    }

    fn delete_encryption_epoch_key_pairs<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        EpochKey: traits::EpochKey<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
    ) -> Result<(), Self::Error> {
        self.delete(&key(kind::EPOCH_KEY_PAIRS, &(group_id, epoch, leaf_index))?)
    }

    fn delete_key_package<KeyPackageRef: traits::HashReference<CURRENT_VERSION>>(
        &self,
        hash_ref: &KeyPackageRef,
    ) -> Result<(), Self::Error> {
        self.delete(&key(kind::KEY_PACKAGE, hash_ref)?)
    }

    fn delete_psk<PskKey: traits::PskId<CURRENT_VERSION>>(
        &self,
        psk_id: &PskKey,
    ) -> Result<(), Self::Error> {
        self.delete(&key(kind::PSK, psk_id)?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::credential::IdentitySigner;
    use crate::group::Member;
    use pars_crypto::mldsa::MlDsaSigningKey;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};
    use std::collections::{BTreeMap, BTreeSet};

    fn v(bytes: &[u8]) -> Value {
        Zeroizing::new(bytes.to_vec())
    }

    type Map = BTreeMap<Vec<u8>, Vec<u8>>;

    /// Every record, as a sorted map, for comparisons.
    fn all(s: &ParsStorage) -> Map {
        let state = s.read_state().unwrap();
        state
            .values
            .iter()
            .map(|(k, v)| (k.clone(), v.to_vec()))
            .collect()
    }

    fn put(s: &ParsStorage, k: &[u8], value: &[u8]) {
        s.write_state().unwrap().put(k.to_vec(), v(value));
    }

    fn del(s: &ParsStorage, k: &[u8]) {
        s.write_state().unwrap().delete(k);
    }

    /// The changes as sorted (puts, deletes).
    fn changes(s: &ParsStorage) -> (Map, BTreeSet<Vec<u8>>) {
        let c = s.changes().unwrap();
        (
            c.put.iter().map(|(k, v)| (k.clone(), v.to_vec())).collect(),
            c.delete.iter().cloned().collect(),
        )
    }

    fn committed() -> ParsStorage {
        ParsStorage::from_records(
            [(b"a", b"1"), (b"b", b"2"), (b"c", b"3"), (b"d", b"4")]
                .map(|(k, x)| (k.to_vec(), v(x))),
        )
    }

    /// Overwrites, a new record, a delete, overwrite-then-delete of a committed record and of
    /// a new one, and a record written back to its committed value.
    fn edit(s: &ParsStorage) {
        put(s, b"a", b"9");
        put(s, b"e", b"5");
        del(s, b"b");
        put(s, b"c", b"7");
        del(s, b"c");
        put(s, b"f", b"6");
        del(s, b"f");
        put(s, b"d", b"8");
        put(s, b"d", b"4");
        del(s, b"nothing");
    }

    #[test]
    fn changes_are_exactly_what_differs_from_the_committed_state() {
        let s = committed();
        assert!(s.changes().unwrap().is_empty());
        edit(&s);
        let (puts, deletes) = changes(&s);
        assert_eq!(
            puts,
            [
                (b"a".to_vec(), b"9".to_vec()),
                (b"e".to_vec(), b"5".to_vec())
            ]
            .into()
        );
        assert_eq!(deletes, [b"b".to_vec(), b"c".to_vec()].into());
        // Committed: nothing changed any more, and the records are the edited ones.
        s.commit().unwrap();
        assert!(s.changes().unwrap().is_empty());
        assert_eq!(
            all(&s),
            [
                (b"a".to_vec(), b"9".to_vec()),
                (b"d".to_vec(), b"4".to_vec()),
                (b"e".to_vec(), b"5".to_vec())
            ]
            .into()
        );
        // After the commit, a record is logged again from its new committed value.
        put(&s, b"a", b"10");
        del(&s, b"e");
        let (puts, deletes) = changes(&s);
        assert_eq!(puts, [(b"a".to_vec(), b"10".to_vec())].into());
        assert_eq!(deletes, [b"e".to_vec()].into());
    }

    #[test]
    fn a_rollback_restores_exactly_the_committed_state() {
        let s = committed();
        let before = all(&s);
        edit(&s);
        assert_ne!(all(&s), before);
        s.rollback().unwrap();
        assert_eq!(all(&s), before);
        assert!(s.changes().unwrap().is_empty());
        // Again after a commit: back to that commit, not to the start.
        edit(&s);
        s.commit().unwrap();
        let after = all(&s);
        put(&s, b"a", b"x");
        put(&s, b"z", b"y");
        del(&s, b"d");
        s.rollback().unwrap();
        assert_eq!(all(&s), after);
    }

    /// A random sequence of writes, deletes, commits and rollbacks against a model: the records
    /// always equal the model's, and a disk that applies every committed change always equals
    /// the records as of that commit.
    #[test]
    fn the_log_agrees_with_a_model_over_random_operations() {
        let mut rng = ChaCha20Rng::seed_from_u64(16);
        for _ in 0..50 {
            let s = ParsStorage::default();
            let mut model = Map::new();
            let mut committed_model = model.clone();
            let mut disk = model.clone();
            for _ in 0..200 {
                let k = vec![(rng.next_u32() % 8) as u8];
                match rng.next_u32() % 10 {
                    0..=4 => {
                        let x = vec![(rng.next_u32() % 3) as u8];
                        put(&s, &k, &x);
                        model.insert(k, x);
                    }
                    5..=6 => {
                        del(&s, &k);
                        model.remove(&k);
                    }
                    7..=8 => {
                        let c = s.changes().unwrap();
                        for d in &c.delete {
                            assert!(disk.remove(d).is_some(), "deleting a record not on disk");
                        }
                        for (k, x) in &c.put {
                            assert_ne!(disk.get(k), Some(&x.to_vec()), "rewriting a record");
                            disk.insert(k.clone(), x.to_vec());
                        }
                        s.commit().unwrap();
                        committed_model = model.clone();
                        assert_eq!(disk, model);
                    }
                    _ => {
                        s.rollback().unwrap();
                        model = committed_model.clone();
                    }
                }
                assert_eq!(all(&s), model);
            }
        }
    }

    #[test]
    fn lists_append_remove_and_read_back_their_items() {
        let s = ParsStorage::default();
        let k = key(kind::OWN_LEAF_NODES, &[1u8; 4][..]).unwrap();
        assert!(s.read_list::<Vec<u8>>(&k).unwrap().is_empty());
        for item in [&b"one"[..], b"", b"three", b"one"] {
            s.append(k.clone(), &item.to_vec()).unwrap();
        }
        let read = s.read_list::<Vec<u8>>(&k).unwrap();
        assert_eq!(
            read,
            vec![b"one".to_vec(), vec![], b"three".to_vec(), b"one".to_vec()]
        );
        // The first equal item goes; an absent one changes nothing.
        s.remove_item(k.clone(), &b"one".to_vec()).unwrap();
        s.remove_item(k.clone(), &b"four".to_vec()).unwrap();
        let read = s.read_list::<Vec<u8>>(&k).unwrap();
        assert_eq!(read, vec![vec![], b"three".to_vec(), b"one".to_vec()]);
        // A list record cut short is an error.
        let cut = {
            let state = s.read_state().unwrap();
            let list = state.values.get(&k).unwrap();
            list[..list.len() - 1].to_vec()
        };
        put(&s, &k, &cut);
        assert!(s.read_list::<Vec<u8>>(&k).is_err());
    }

    #[test]
    fn keys_of_different_kinds_and_versions_never_collide() {
        let gid = openmls::prelude::GroupId::from_slice(&[7; 32]);
        let keys: BTreeSet<Vec<u8>> = (1..=18u8).map(|k| key(k, &gid).unwrap()).collect();
        assert_eq!(keys.len(), 18);
        let k = key(kind::TREE, &gid).unwrap();
        assert_eq!(k[0], kind::TREE);
        assert_eq!(k[k.len() - 2..], CURRENT_VERSION.to_be_bytes());
    }

    fn signer(seed: u64) -> IdentitySigner {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        IdentitySigner::new(MlDsaSigningKey::generate(&mut rng), &mut rng)
    }

    #[test]
    fn a_damaged_record_fails_to_load_and_never_panics() {
        let alice = Member::new(signer(1)).unwrap();
        let bob = Member::new(signer(2)).unwrap();
        let mut ga = alice.create_group(&[5; 32]).unwrap();
        let add = ga.add(&alice, &[bob.key_package().unwrap()]).unwrap();
        ga.confirm(&alice).unwrap();
        bob.join(add.welcome.as_ref().unwrap()).unwrap();
        let records = bob.changes().unwrap().put;
        let whole = Member::restore(signer(2), records.clone()).unwrap();
        assert!(whole.load(&[5; 32]).unwrap().is_some());
        // Each record cut short, or with a byte changed: loading fails or succeeds, but
        // never panics; the tree (the largest record) cut short fails.
        for i in 0..records.len() {
            for damage in 0..2 {
                let mut damaged = records.clone();
                let value = &mut damaged[i].1;
                if damage == 0 {
                    let n = value.len() / 2;
                    value.truncate(n);
                } else if let Some(b) = value.first_mut() {
                    *b ^= 0xff;
                }
                let m = Member::restore(signer(2), damaged).unwrap();
                let _ = m.load(&[5; 32]);
            }
        }
        let (tree, _) = records
            .iter()
            .enumerate()
            .max_by_key(|(_, (_, v))| v.len())
            .map(|(i, r)| (i, r.0[0]))
            .unwrap();
        assert_eq!(records[tree].0[0], kind::TREE);
        let mut damaged = records.clone();
        damaged[tree].1.truncate(100);
        let m = Member::restore(signer(2), damaged).unwrap();
        assert!(matches!(
            m.load(&[5; 32]),
            Err(crate::GroupError::Storage(_))
        ));
    }
}
