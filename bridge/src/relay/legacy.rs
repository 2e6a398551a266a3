//! The first relayer's records (JSON values in `relay.redb`, record format 0), kept only to
//! migrate a store of that format to `pars_wire::relay`'s binary records (see [`super::store`]).
//! The shapes are exactly those the first relayer's serde derives wrote; nothing writes them.

use pars_crypto::SessionId;
use pars_wire::action::ContractReceipt;
use pars_wire::relay::{
    ActionKey, ActionRecord, ActionState, Fees, RequestKey, RequestRecord, SentTx,
};
use serde::Deserialize;

use super::RelayError;

/// `u128` as decimal text (how the first relayer stored fees).
fn u128_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(serde::de::Error::custom)
}

#[derive(Deserialize)]
struct JsonFees {
    #[serde(deserialize_with = "u128_text")]
    max_fee: u128,
    #[serde(deserialize_with = "u128_text")]
    priority_fee: u128,
}

#[derive(Deserialize)]
struct JsonSentTx {
    hash: String,
    fees: JsonFees,
    raw: String,
    sent_at_ms: u64,
}

#[derive(Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
enum JsonActionState {
    Received,
    Verified {
        gas_limit: u64,
    },
    Submitted {
        gas_limit: u64,
        account_nonce: u64,
        txs: Vec<JsonSentTx>,
    },
    Finished {
        receipt: String,
    },
}

#[derive(Deserialize)]
struct JsonActionRecord {
    request: String,
    content: String,
    received_at_ms: u64,
    state: JsonActionState,
}

#[derive(Deserialize)]
struct JsonRequestRecord {
    sender: String,
    action: Option<String>,
    receipt: Option<String>,
    answered: bool,
    received_at_ms: u64,
}

fn bad(what: &str, e: impl std::fmt::Display) -> RelayError {
    RelayError::Storage(format!(
        "cannot migrate a stored {what} of the JSON format: {e}"
    ))
}

fn unhex(what: &str, s: &str) -> Result<Vec<u8>, RelayError> {
    hex::decode(s).map_err(|e| bad(what, e))
}

fn receipt(s: &str) -> Result<ContractReceipt, RelayError> {
    ContractReceipt::decode(&unhex("receipt", s)?).map_err(|e| bad("receipt", e))
}

/// A JSON action record as a binary one.
pub(crate) fn action(json: &[u8]) -> Result<Vec<u8>, RelayError> {
    let j: JsonActionRecord = serde_json::from_slice(json).map_err(|e| bad("action", e))?;
    let state = match j.state {
        JsonActionState::Received => ActionState::Received,
        JsonActionState::Verified { gas_limit } => ActionState::Verified { gas_limit },
        JsonActionState::Submitted {
            gas_limit,
            account_nonce,
            txs,
        } => ActionState::Submitted {
            gas_limit,
            account_nonce,
            txs: txs
                .into_iter()
                .map(|t| {
                    Ok(SentTx {
                        hash: unhex("transaction hash", &t.hash)?
                            .try_into()
                            .map_err(|_| bad("transaction hash", "not 32 bytes"))?,
                        fees: Fees {
                            max_fee: t.fees.max_fee,
                            priority_fee: t.fees.priority_fee,
                        },
                        raw: unhex("signed transaction", &t.raw)?,
                        sent_at_ms: t.sent_at_ms,
                    })
                })
                .collect::<Result<_, RelayError>>()?,
        },
        JsonActionState::Finished { receipt: r } => ActionState::Finished {
            receipt: receipt(&r)?,
        },
    };
    let record = ActionRecord {
        request: RequestKey::from_bytes(&unhex("request key", &j.request)?)
            .map_err(|e| bad("request key", e))?,
        content: unhex("action", &j.content)?,
        received_at_ms: j.received_at_ms,
        state,
    };
    Ok(record.encode())
}

/// A JSON request record as a binary one.
pub(crate) fn request(json: &[u8]) -> Result<Vec<u8>, RelayError> {
    let j: JsonRequestRecord = serde_json::from_slice(json).map_err(|e| bad("request", e))?;
    let record = RequestRecord {
        sender: j
            .sender
            .parse::<SessionId>()
            .map_err(|e| bad("sender", e))?,
        action: match j.action {
            Some(k) => Some(
                ActionKey::from_bytes(&unhex("action key", &k)?)
                    .map_err(|e| bad("action key", e))?,
            ),
            None => None,
        },
        receipt: match j.receipt {
            Some(r) => Some(receipt(&r)?),
            None => None,
        },
        answered: j.answered,
        received_at_ms: j.received_at_ms,
    };
    Ok(record.encode())
}
