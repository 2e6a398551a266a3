//! The records and their transaction log: what [`ParsStorage`] holds, and its generic reads
//! and writes of encoded values.

use super::keys::{items, list};
use super::{StorageError, Value};
use crate::codec;
use crate::records::{Changes, StorageBroken};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use zeroize::Zeroizing;

/// The records, and the transaction log since the last commit.
#[derive(Default)]
pub(super) struct State {
    pub(super) values: HashMap<Vec<u8>, Value>,
    /// For each record touched since the last commit: its committed value (`None`: it had
    /// none).
    pub(super) undo: HashMap<Vec<u8>, Option<Value>>,
}

impl State {
    pub(super) fn put(&mut self, key: Vec<u8>, value: Value) {
        if self.undo.contains_key(&key) {
            // Already logged: the value replaced is uncommitted, and wiped as it drops.
            self.values.insert(key, value);
        } else {
            let old = self.values.insert(key.clone(), value);
            self.undo.insert(key, old);
        }
    }

    pub(super) fn delete(&mut self, key: &[u8]) {
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

    pub(super) fn read_state(&self) -> Result<RwLockReadGuard<'_, State>, StorageBroken> {
        self.state.read().map_err(|_| StorageBroken)
    }

    pub(super) fn write_state(&self) -> Result<RwLockWriteGuard<'_, State>, StorageBroken> {
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

    pub(super) fn write<V: Serialize + ?Sized>(
        &self,
        key: Vec<u8>,
        value: &V,
    ) -> Result<(), StorageError> {
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

    pub(super) fn read<V: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<V>, StorageError> {
        let state = self.read_state()?;
        match state.values.get(key) {
            Some(v) => Ok(Some(codec::decode(v)?)),
            None => Ok(None),
        }
    }

    pub(super) fn delete(&self, key: &[u8]) -> Result<(), StorageError> {
        self.write_state()?.delete(key);
        Ok(())
    }

    pub(super) fn append<V: Serialize + ?Sized>(
        &self,
        key: Vec<u8>,
        item: &V,
    ) -> Result<(), StorageError> {
        let item = codec::encode(item, 0)?;
        let mut state = self.write_state()?;
        let old: &[u8] = state.values.get(&key).map_or(&[], |v| v.as_slice());
        let mut all = items(old)?;
        all.push(item.as_slice());
        let new = list(all)?;
        state.put(key, new);
        Ok(())
    }

    pub(super) fn remove_item<V: Serialize + ?Sized>(
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

    pub(super) fn read_list<V: DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Vec<V>, StorageError> {
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
