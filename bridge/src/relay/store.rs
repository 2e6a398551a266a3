//! The relayer's persistent state in redb: every action and every request with its state, written
//! durably (`Durability::Immediate`) before the step it records has any effect outside — a
//! transaction is stored signed *before* it is broadcast — so a restart at any point resumes
//! where the last commit left off.
//!
//! Three tables:
//! * `actions`: [`ActionKey`] (session ID digest ‖ nonce) → [`ActionRecord`] — the on-chain
//!   identity of an action, so the same signed action can be queued only once;
//! * `requests`: [`RequestKey`] (sender's session ID digest ‖ request ID) → [`RequestRecord`] —
//!   one per message received, holding the receipt once there is one and whether it has been
//!   answered;
//! * `meta`: `format` → the record format of the two tables (one byte).
//!
//! Records are `pars_wire::relay`'s binary format ([`FORMAT`] 1). A store written by the first
//! relayer (JSON values, no `format`) is migrated when it is opened: every record is rewritten in
//! one transaction, so a crash leaves either the old or the new store, never a mix. A store of a
//! newer format is refused rather than misread.

use std::path::Path;

use pars_wire::relay::{ActionKey, ActionRecord, RequestKey, RequestRecord};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::RelayError;
use super::legacy;

const ACTIONS: TableDefinition<'static, &'static [u8], &'static [u8]> =
    TableDefinition::new("actions");
const REQUESTS: TableDefinition<'static, &'static [u8], &'static [u8]> =
    TableDefinition::new("requests");
const META: TableDefinition<'static, &'static str, &'static [u8]> = TableDefinition::new("meta");
const FORMAT_KEY: &str = "format";

/// The record format this build writes: `pars_wire::relay` version 1. (Format 0, implied by a
/// store without the `format` entry, is the first relayer's JSON.)
pub(crate) const FORMAT: u8 = 1;

fn storage(e: impl std::fmt::Display) -> RelayError {
    RelayError::Storage(e.to_string())
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> RelayError {
    RelayError::Storage(format!("a stored {what} is corrupt: {e}"))
}

/// A batch written in one durable transaction.
#[derive(Default)]
pub(crate) struct Batch {
    pub actions: Vec<(ActionKey, ActionRecord)>,
    pub requests: Vec<(RequestKey, RequestRecord)>,
    /// Records removed (expired).
    pub drop_actions: Vec<ActionKey>,
    pub drop_requests: Vec<RequestKey>,
}

/// The database.
pub(crate) struct RelayStore {
    db: Database,
}

impl RelayStore {
    /// Opens or creates `path`, migrating a store of the first relayer's JSON format.
    pub fn open(path: &Path) -> Result<Self, RelayError> {
        let db = Database::create(path).map_err(|e| {
            RelayError::Storage(format!(
                "cannot open {}: {e}; is another pars-bridge using this data directory?",
                path.display()
            ))
        })?;
        let store = Self { db };
        store.migrate()?;
        Ok(store)
    }

    /// Brings the tables to [`FORMAT`] in one transaction.
    fn migrate(&self) -> Result<(), RelayError> {
        let mut tx = self.db.begin_write().map_err(storage)?;
        tx.set_durability(redb::Durability::Immediate)
            .map_err(storage)?;
        let format = {
            let meta = tx.open_table(META).map_err(storage)?;
            let v = meta.get(FORMAT_KEY).map_err(storage)?;
            v.map(|v| v.value().first().copied().unwrap_or(0))
                .unwrap_or(0)
        };
        if format > FORMAT {
            return Err(RelayError::Storage(format!(
                "the relayer state has record format {format}, written by a newer pars-bridge; this build reads format {FORMAT} (upgrade pars-bridge)"
            )));
        }
        if format < FORMAT {
            let (actions, requests) = {
                let mut t = tx.open_table(ACTIONS).map_err(storage)?;
                let actions = migrate_table(&mut t, legacy::action)?;
                let mut t = tx.open_table(REQUESTS).map_err(storage)?;
                let requests = migrate_table(&mut t, legacy::request)?;
                (actions, requests)
            };
            tx.open_table(META)
                .map_err(storage)?
                .insert(FORMAT_KEY, [FORMAT].as_slice())
                .map_err(storage)?;
            if actions + requests > 0 {
                tracing::info!(
                    actions,
                    requests,
                    "relayer state migrated from JSON records to record format {FORMAT}"
                );
            }
        }
        tx.commit().map_err(storage)
    }

    /// Writes `batch` durably and atomically.
    pub fn write(&self, batch: Batch) -> Result<(), RelayError> {
        let mut tx = self.db.begin_write().map_err(storage)?;
        tx.set_durability(redb::Durability::Immediate)
            .map_err(storage)?;
        {
            let mut t = tx.open_table(ACTIONS).map_err(storage)?;
            for (k, v) in &batch.actions {
                t.insert(k.0.as_slice(), v.encode().as_slice())
                    .map_err(storage)?;
            }
            for k in &batch.drop_actions {
                t.remove(k.0.as_slice()).map_err(storage)?;
            }
            let mut t = tx.open_table(REQUESTS).map_err(storage)?;
            for (k, v) in &batch.requests {
                t.insert(k.0.as_slice(), v.encode().as_slice())
                    .map_err(storage)?;
            }
            for k in &batch.drop_requests {
                t.remove(k.0.as_slice()).map_err(storage)?;
            }
        }
        tx.commit().map_err(storage)
    }

    fn get<T>(
        &self,
        table: TableDefinition<'static, &'static [u8], &'static [u8]>,
        key: &[u8],
        decode: fn(&[u8]) -> Result<T, pars_wire::WireError>,
        what: &str,
    ) -> Result<Option<T>, RelayError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let t = tx.open_table(table).map_err(storage)?;
        match t.get(key).map_err(storage)? {
            Some(v) => Ok(Some(decode(v.value()).map_err(|e| corrupt(what, e))?)),
            None => Ok(None),
        }
    }

    fn all<K, T>(
        &self,
        table: TableDefinition<'static, &'static [u8], &'static [u8]>,
        key: fn(&[u8]) -> Result<K, pars_wire::WireError>,
        decode: fn(&[u8]) -> Result<T, pars_wire::WireError>,
        what: &str,
    ) -> Result<Vec<(K, T)>, RelayError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let t = tx.open_table(table).map_err(storage)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(storage)? {
            let (k, v) = item.map_err(storage)?;
            let k = key(k.value()).map_err(|e| corrupt(what, e))?;
            out.push((k, decode(v.value()).map_err(|e| corrupt(what, e))?));
        }
        Ok(out)
    }

    pub fn action(&self, key: &ActionKey) -> Result<Option<ActionRecord>, RelayError> {
        self.get(ACTIONS, &key.0, ActionRecord::decode, "action")
    }

    pub fn request(&self, key: &RequestKey) -> Result<Option<RequestRecord>, RelayError> {
        self.get(REQUESTS, &key.0, RequestRecord::decode, "request")
    }

    pub fn actions(&self) -> Result<Vec<(ActionKey, ActionRecord)>, RelayError> {
        self.all(
            ACTIONS,
            ActionKey::from_bytes,
            ActionRecord::decode,
            "action",
        )
    }

    pub fn requests(&self) -> Result<Vec<(RequestKey, RequestRecord)>, RelayError> {
        self.all(
            REQUESTS,
            RequestKey::from_bytes,
            RequestRecord::decode,
            "request",
        )
    }
}

/// Rewrites every JSON value of `table` with `convert`; returns how many it rewrote. Values
/// already binary (a migration interrupted before its commit never leaves any, but a hand-made
/// store might) are kept.
fn migrate_table(
    table: &mut redb::Table<'_, &'static [u8], &'static [u8]>,
    convert: fn(&[u8]) -> Result<Vec<u8>, RelayError>,
) -> Result<usize, RelayError> {
    let mut rewritten = Vec::new();
    for item in table.iter().map_err(storage)? {
        let (k, v) = item.map_err(storage)?;
        if v.value().first() == Some(&b'{') {
            rewritten.push((k.value().to_vec(), convert(v.value())?));
        }
    }
    for (k, v) in &rewritten {
        table.insert(k.as_slice(), v.as_slice()).map_err(storage)?;
    }
    Ok(rewritten.len())
}
