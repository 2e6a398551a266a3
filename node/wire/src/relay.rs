//! The relayer's records on disk (`pars-bridge`'s `relay.redb`): one [`ActionRecord`] per signed
//! contract action and one [`RequestRecord`] per ContractAction message received, keyed by
//! [`ActionKey`] and [`RequestKey`].
//!
//! Every record is `version (1) ‖ fields`, big-endian, variable fields length-prefixed and
//! bounded, with a total decoder whose accepted input re-encodes to exactly itself. Version 1
//! replaced the JSON values of the first relayer (which begin with `{`, never a valid version
//! byte here); `pars-bridge` migrates a store of that format when it opens it.
//!
//! It is not the relayer: it knows what the bytes mean, not when a state may change.

use pars_crypto::{SESSION_ID_LEN, SessionId};

use crate::action::{ContractReceipt, MAX_CONTRACT_ACTION_LEN, MAX_RECEIPT_LEN, REQUEST_ID_LEN};
use crate::records::flag;
use crate::{Reader, WireError, Writer};

/// Version of the relay record formats.
pub const RELAY_RECORD_VERSION: u8 = 1;
/// Largest signed transaction kept for rebroadcast (an execute call carrying the largest action,
/// with room for its ABI encoding and the transaction envelope).
pub const MAX_RAW_TX_LEN: usize = 2 * MAX_CONTRACT_ACTION_LEN;
/// Length of an [`ActionKey`].
pub const ACTION_KEY_LEN: usize = 40;
/// Length of a [`RequestKey`].
pub const REQUEST_KEY_LEN: usize = 32 + REQUEST_ID_LEN;

fn version(r: &mut Reader<'_>, what: &'static str) -> Result<(), WireError> {
    match r.u8(what)? {
        RELAY_RECORD_VERSION => Ok(()),
        version => Err(WireError::UnsupportedVersion { what, version }),
    }
}

fn receipt(r: &mut Reader<'_>) -> Result<ContractReceipt, WireError> {
    ContractReceipt::decode(r.var16(MAX_RECEIPT_LEN, "stored receipt")?)
}

/// The on-chain identity of an action: `session ID (32) ‖ nonce (u64)`. The same signed action
/// can be queued only once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActionKey(pub [u8; ACTION_KEY_LEN]);

impl ActionKey {
    /// The key of the action of `session_id` with `nonce`.
    pub fn new(session_id: &[u8; 32], nonce: u64) -> Self {
        let mut k = [0u8; ACTION_KEY_LEN];
        k[..32].copy_from_slice(session_id);
        k[32..].copy_from_slice(&nonce.to_be_bytes());
        Self(k)
    }

    /// Parses a stored key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let k = Self(r.array("action key")?);
        r.finish("action key")?;
        Ok(k)
    }
}

/// One received message: `sender's Session ID digest (32) ‖ request ID (16)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestKey(pub [u8; REQUEST_KEY_LEN]);

impl RequestKey {
    /// The key of request `request_id` from the sender whose Session ID digest is `sender`.
    pub fn new(sender: &[u8; 32], request_id: &[u8; REQUEST_ID_LEN]) -> Self {
        let mut k = [0u8; REQUEST_KEY_LEN];
        k[..32].copy_from_slice(sender);
        k[32..].copy_from_slice(request_id);
        Self(k)
    }

    /// The request ID (what the receipt answers).
    pub fn request_id(&self) -> [u8; REQUEST_ID_LEN] {
        let mut id = [0u8; REQUEST_ID_LEN];
        id.copy_from_slice(&self.0[32..]);
        id
    }

    /// Parses a stored key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let k = Self(r.array("request key")?);
        r.finish("request key")?;
        Ok(k)
    }
}

/// EIP-1559 fees of a transaction, in wei per gas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fees {
    /// `maxFeePerGas`.
    pub max_fee: u128,
    /// `maxPriorityFeePerGas`.
    pub priority_fee: u128,
}

/// A transaction as signed and (to be) broadcast: `hash (32) ‖ max fee (16) ‖ priority fee (16)
/// ‖ signed at (8, Unix ms) ‖ raw (u32-prefixed)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentTx {
    /// Transaction hash.
    pub hash: [u8; 32],
    /// Its fees.
    pub fees: Fees,
    /// The signed EIP-2718 bytes: rebroadcast after a restart or a dropped mempool entry.
    pub raw: Vec<u8>,
    /// Unix milliseconds when it was signed.
    pub sent_at_ms: u64,
}

impl SentTx {
    fn write(&self, w: &mut Writer) {
        w.bytes(&self.hash)
            .bytes(&self.fees.max_fee.to_be_bytes())
            .bytes(&self.fees.priority_fee.to_be_bytes())
            .u64(self.sent_at_ms)
            .var32(&self.raw);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            hash: r.array("transaction hash")?,
            fees: Fees {
                max_fee: u128::from_be_bytes(r.array("max fee")?),
                priority_fee: u128::from_be_bytes(r.array("priority fee")?),
            },
            sent_at_ms: r.u64("signed at")?,
            raw: r.var32(MAX_RAW_TX_LEN, "signed transaction")?.to_vec(),
        })
    }
}

/// Where an action stands. `received → verified → submitted → finished`; any state may go to
/// `finished` with a refusal, and `submitted` goes back to `verified` only if its account nonce
/// was consumed by a transaction that is not the relayer's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionState {
    /// Stored, not yet checked (tag 0).
    Received,
    /// Signature, checks, policy and simulation passed (tag 1): `gas limit (8)`.
    Verified {
        /// Gas limit (estimate plus margin).
        gas_limit: u64,
    },
    /// Signed and broadcast (tag 2): `gas limit (8) ‖ account nonce (8) ‖ count (u16) ‖ txs`.
    Submitted {
        /// Gas limit.
        gas_limit: u64,
        /// The relayer account's nonce used by every tx in `txs`.
        account_nonce: u64,
        /// The original and its fee-bumped replacements, newest last.
        txs: Vec<SentTx>,
    },
    /// Done (tag 3): `receipt (u16-prefixed ContractReceipt)`, also copied to the request.
    Finished {
        /// The final receipt (its request ID is the request's).
        receipt: ContractReceipt,
    },
}

impl ActionState {
    fn write(&self, w: &mut Writer) {
        match self {
            Self::Received => {
                w.u8(0);
            }
            Self::Verified { gas_limit } => {
                w.u8(1).u64(*gas_limit);
            }
            Self::Submitted {
                gas_limit,
                account_nonce,
                txs,
            } => {
                let count = u16::try_from(txs.len()).unwrap_or(u16::MAX);
                w.u8(2).u64(*gas_limit).u64(*account_nonce).u16(count);
                for tx in txs.iter().take(usize::from(count)) {
                    tx.write(w);
                }
            }
            Self::Finished { receipt } => {
                w.u8(3).var16(&receipt.encode());
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(match r.u8("action state")? {
            0 => Self::Received,
            1 => Self::Verified {
                gas_limit: r.u64("gas limit")?,
            },
            2 => {
                let gas_limit = r.u64("gas limit")?;
                let account_nonce = r.u64("account nonce")?;
                let count = r.u16("transaction count")?;
                // Grown by pushing: a count is never trusted for an allocation.
                let mut txs = Vec::new();
                for _ in 0..count {
                    txs.push(SentTx::read(r)?);
                }
                Self::Submitted {
                    gas_limit,
                    account_nonce,
                    txs,
                }
            }
            3 => Self::Finished {
                receipt: receipt(r)?,
            },
            v => {
                return Err(WireError::UnknownVariant {
                    what: "action state",
                    value: u64::from(v),
                });
            }
        })
    }
}

/// One action: `version ‖ request key (48) ‖ received at (8, Unix ms) ‖ ContractAction bytes
/// (u32-prefixed) ‖ state`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionRecord {
    /// The request it came with.
    pub request: RequestKey,
    /// The ContractAction message content as received.
    pub content: Vec<u8>,
    /// Unix milliseconds of receipt.
    pub received_at_ms: u64,
    /// Its state.
    pub state: ActionState,
}

impl ActionRecord {
    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(96 + self.content.len());
        w.u8(RELAY_RECORD_VERSION)
            .bytes(&self.request.0)
            .u64(self.received_at_ms)
            .var32(&self.content);
        self.state.write(&mut w);
        w.into_vec()
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        version(&mut r, "action record")?;
        let rec = Self {
            request: RequestKey(r.array("request key")?),
            received_at_ms: r.u64("received at")?,
            content: r
                .var32(MAX_CONTRACT_ACTION_LEN, "contract action")?
                .to_vec(),
            state: ActionState::read(&mut r)?,
        };
        r.finish("action record")?;
        Ok(rec)
    }
}

/// One received ContractAction message: `version ‖ sender (33) ‖ received at (8, Unix ms) ‖
/// answered (1) ‖ action: 0 | 1 ‖ key (40) ‖ receipt: 0 | 1 ‖ receipt (u16-prefixed)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// Who sent it (to answer).
    pub sender: SessionId,
    /// The action it carries, if it decoded and was accepted.
    pub action: Option<ActionKey>,
    /// The final receipt, once there is one.
    pub receipt: Option<ContractReceipt>,
    /// Whether the receipt was handed to the session layer.
    pub answered: bool,
    /// Unix milliseconds of receipt.
    pub received_at_ms: u64,
}

impl RequestRecord {
    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(128);
        w.u8(RELAY_RECORD_VERSION)
            .bytes(self.sender.as_bytes())
            .u64(self.received_at_ms)
            .u8(u8::from(self.answered));
        match &self.action {
            Some(k) => w.u8(1).bytes(&k.0),
            None => w.u8(0),
        };
        match &self.receipt {
            Some(receipt) => w.u8(1).var16(&receipt.encode()),
            None => w.u8(0),
        };
        w.into_vec()
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        version(&mut r, "request record")?;
        let sender =
            SessionId::from_bytes(r.bytes(SESSION_ID_LEN, "request sender")?).map_err(|_| {
                WireError::Invalid {
                    what: "request sender",
                    reason: "not a Session ID",
                }
            })?;
        let received_at_ms = r.u64("received at")?;
        let answered = flag(&mut r, "answered flag")?;
        let action = if flag(&mut r, "request action")? {
            Some(ActionKey(r.array("action key")?))
        } else {
            None
        };
        let receipt = if flag(&mut r, "request receipt")? {
            Some(receipt(&mut r)?)
        } else {
            None
        };
        r.finish("request record")?;
        Ok(Self {
            sender,
            action,
            receipt,
            answered,
            received_at_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::action::{ReasonCode, ReceiptStatus, ReceiptTx};

    fn receipt() -> ContractReceipt {
        ContractReceipt {
            request_id: [3; 16],
            status: ReceiptStatus::Confirmed,
            reason: ReasonCode::None,
            reason_text: String::new(),
            tx: Some(ReceiptTx {
                tx_hash: [4; 32],
                block: 9,
                gas_used: 21_000,
            }),
        }
    }

    #[test]
    fn keys_hold_their_parts() {
        let a = ActionKey::new(&[1; 32], 7);
        assert_eq!(&a.0[32..], &7u64.to_be_bytes());
        assert_eq!(ActionKey::from_bytes(&a.0).unwrap(), a);
        assert!(ActionKey::from_bytes(&a.0[1..]).is_err());
        let r = RequestKey::new(&[2; 32], &[5; 16]);
        assert_eq!(r.request_id(), [5; 16]);
        assert_eq!(RequestKey::from_bytes(&r.0).unwrap(), r);
    }

    #[test]
    fn round_trips_and_legacy_json_is_refused() {
        let tx = SentTx {
            hash: [8; 32],
            fees: Fees {
                max_fee: u128::MAX,
                priority_fee: 1,
            },
            raw: vec![2; 300],
            sent_at_ms: 77,
        };
        for state in [
            ActionState::Received,
            ActionState::Verified { gas_limit: 5 },
            ActionState::Submitted {
                gas_limit: 5,
                account_nonce: 6,
                txs: vec![tx.clone(), tx],
            },
            ActionState::Finished { receipt: receipt() },
        ] {
            let a = ActionRecord {
                request: RequestKey::new(&[1; 32], &[2; 16]),
                content: vec![9; 100],
                received_at_ms: 11,
                state,
            };
            let bytes = a.encode();
            assert_eq!(ActionRecord::decode(&bytes).unwrap(), a);
            for cut in 0..bytes.len() {
                assert!(ActionRecord::decode(&bytes[..cut]).is_err());
            }
        }
        let q = RequestRecord {
            sender: SessionId::from_digest([6; 32]),
            action: Some(ActionKey::new(&[1; 32], 2)),
            receipt: Some(receipt()),
            answered: true,
            received_at_ms: 12,
        };
        assert_eq!(RequestRecord::decode(&q.encode()).unwrap(), q);
        let bare = RequestRecord {
            action: None,
            receipt: None,
            answered: false,
            ..q
        };
        assert_eq!(RequestRecord::decode(&bare.encode()).unwrap(), bare);
        assert_eq!(bare.encode().len(), 1 + 33 + 8 + 1 + 1 + 1);
        // The first relayer's JSON values are not version-1 records.
        for json in [&br#"{"sender":"05ab"}"#[..], br#"{"request":"00"}"#] {
            assert!(matches!(
                RequestRecord::decode(json),
                Err(WireError::UnsupportedVersion { version: b'{', .. })
            ));
            assert!(ActionRecord::decode(json).is_err());
        }
    }
}
