//! The relayer's persistent state in redb: every action and every request with its state, written
//! durably (`Durability::Immediate`) before the step it records has any effect outside — a
//! transaction is stored signed *before* it is broadcast — so a restart at any point resumes
//! where the last commit left off.
//!
//! Two tables, values JSON (small, inspectable with any redb tool):
//! * `actions`: key = session ID digest (32) ‖ nonce (u64 BE) — the on-chain identity of an action,
//!   so the same signed action can be queued only once;
//! * `requests`: key = sender's session ID digest (32) ‖ request ID (16) — one per message
//!   received, holding the receipt once there is one and whether it has been answered.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::RelayError;
use super::core::Fees;

const ACTIONS: TableDefinition<'static, &'static [u8], &'static [u8]> =
    TableDefinition::new("actions");
const REQUESTS: TableDefinition<'static, &'static [u8], &'static [u8]> =
    TableDefinition::new("requests");

/// `actions` key.
pub(crate) type ActionKey = [u8; 40];
/// `requests` key.
pub(crate) type RequestKey = [u8; 48];

pub(crate) fn action_key(session_id: &[u8; 32], nonce: u64) -> ActionKey {
    let mut k = [0u8; 40];
    k[..32].copy_from_slice(session_id);
    k[32..].copy_from_slice(&nonce.to_be_bytes());
    k
}

pub(crate) fn request_key(sender: &[u8; 32], request_id: &[u8; 16]) -> RequestKey {
    let mut k = [0u8; 48];
    k[..32].copy_from_slice(sender);
    k[32..].copy_from_slice(request_id);
    k
}

/// A transaction as signed and (to be) broadcast.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SentTx {
    /// Transaction hash, hex.
    pub hash: String,
    /// Its fees.
    pub fees: Fees,
    /// The signed EIP-2718 bytes, hex: rebroadcast after a restart or a dropped mempool entry.
    pub raw: String,
    /// Unix milliseconds when it was signed.
    pub sent_at_ms: u64,
}

/// Where an action stands. `received → verified → submitted → finished`; any state may go to
/// `finished` with a refusal, and `submitted` goes back to `verified` only if its account nonce
/// was consumed by a transaction that is not ours (the trigger nonce still being unused).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub(crate) enum ActionState {
    /// Stored, not yet checked.
    Received,
    /// Signature, checks, policy and simulation passed.
    Verified {
        /// Gas limit (estimate plus margin).
        gas_limit: u64,
    },
    /// Signed with `account_nonce` and broadcast; `txs` are the original and its replacements.
    Submitted {
        /// Gas limit.
        gas_limit: u64,
        /// The relayer account's nonce used by every tx in `txs`.
        account_nonce: u64,
        /// Newest last.
        txs: Vec<SentTx>,
    },
    /// Done; the receipt (hex of its encoding) was copied to the request.
    Finished {
        /// ContractReceipt bytes, hex.
        receipt: String,
    },
}

/// One action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ActionRecord {
    /// The request it came with (sender digest ‖ request ID), hex.
    pub request: String,
    /// The ContractAction bytes as received, hex.
    pub content: String,
    /// Unix milliseconds of receipt.
    pub received_at_ms: u64,
    /// Its state.
    pub state: ActionState,
}

/// One request (one received ContractAction message).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RequestRecord {
    /// The sender's Session ID (text form), to answer.
    pub sender: String,
    /// The action it carries (hex of the action key), if it decoded and was accepted.
    pub action: Option<String>,
    /// The final receipt (hex of its encoding), once there is one.
    pub receipt: Option<String>,
    /// Whether the receipt was handed to the session layer.
    pub answered: bool,
    /// Unix milliseconds of receipt.
    pub received_at_ms: u64,
}

fn storage(e: impl std::fmt::Display) -> RelayError {
    RelayError::Storage(e.to_string())
}

/// A batch written in one durable transaction.
#[derive(Default)]
pub(crate) struct Batch {
    pub actions: Vec<(ActionKey, ActionRecord)>,
    pub requests: Vec<(RequestKey, RequestRecord)>,
}

/// The database.
pub(crate) struct RelayStore {
    db: Database,
}

impl RelayStore {
    /// Opens or creates `path`.
    pub fn open(path: &Path) -> Result<Self, RelayError> {
        let db = Database::create(path).map_err(|e| {
            RelayError::Storage(format!(
                "cannot open {}: {e}; is another pars-bridge using this data directory?",
                path.display()
            ))
        })?;
        let tx = db.begin_write().map_err(storage)?;
        {
            tx.open_table(ACTIONS).map_err(storage)?;
            tx.open_table(REQUESTS).map_err(storage)?;
        }
        tx.commit().map_err(storage)?;
        Ok(Self { db })
    }

    /// Writes `batch` durably and atomically.
    pub fn write(&self, batch: Batch) -> Result<(), RelayError> {
        let mut tx = self.db.begin_write().map_err(storage)?;
        tx.set_durability(redb::Durability::Immediate)
            .map_err(storage)?;
        {
            let mut t = tx.open_table(ACTIONS).map_err(storage)?;
            for (k, v) in &batch.actions {
                let json = serde_json::to_vec(v).map_err(storage)?;
                t.insert(k.as_slice(), json.as_slice()).map_err(storage)?;
            }
            let mut t = tx.open_table(REQUESTS).map_err(storage)?;
            for (k, v) in &batch.requests {
                let json = serde_json::to_vec(v).map_err(storage)?;
                t.insert(k.as_slice(), json.as_slice()).map_err(storage)?;
            }
        }
        tx.commit().map_err(storage)
    }

    fn get<T: for<'de> Deserialize<'de>>(
        &self,
        table: TableDefinition<'static, &'static [u8], &'static [u8]>,
        key: &[u8],
    ) -> Result<Option<T>, RelayError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let t = tx.open_table(table).map_err(storage)?;
        match t.get(key).map_err(storage)? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value()).map_err(storage)?)),
            None => Ok(None),
        }
    }

    fn all<T: for<'de> Deserialize<'de>, const N: usize>(
        &self,
        table: TableDefinition<'static, &'static [u8], &'static [u8]>,
    ) -> Result<Vec<([u8; N], T)>, RelayError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let t = tx.open_table(table).map_err(storage)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(storage)? {
            let (k, v) = item.map_err(storage)?;
            let key: [u8; N] = k
                .value()
                .try_into()
                .map_err(|_| RelayError::Storage("a key of the wrong length".into()))?;
            out.push((key, serde_json::from_slice(v.value()).map_err(storage)?));
        }
        Ok(out)
    }

    pub fn action(&self, key: &ActionKey) -> Result<Option<ActionRecord>, RelayError> {
        self.get(ACTIONS, key)
    }

    pub fn request(&self, key: &RequestKey) -> Result<Option<RequestRecord>, RelayError> {
        self.get(REQUESTS, key)
    }

    pub fn actions(&self) -> Result<Vec<(ActionKey, ActionRecord)>, RelayError> {
        self.all(ACTIONS)
    }

    pub fn requests(&self) -> Result<Vec<(RequestKey, RequestRecord)>, RelayError> {
        self.all(REQUESTS)
    }
}
