//! Contract actions and their receipts: the contents of session messages of type
//! [`ContentType::ContractAction`](crate::ContentType::ContractAction) (user → bridge) and
//! [`ContentType::ContractReceipt`](crate::ContentType::ContractReceipt) (bridge → user).
//!
//! ```text
//! Action          = the SessionTrigger ABI encoding (docs/contracts.md), 320 + ⌈len/32⌉·32 bytes:
//!                   version ‖ chainId ‖ trigger ‖ sessionId ‖ nonce ‖ deadline ‖ target ‖ value
//!                   ‖ 0x120 ‖ len(data) ‖ data (zero-padded), every field one 32-byte word
//! ContractAction  = version (1) = 1 ‖ request ID (16) ‖ key kind (1)
//!                   ‖ [ML-DSA-87 public key (2592) if key kind = 1]
//!                   ‖ ML-DSA-87 signature (4627) ‖ u32 len ‖ Action (len)
//! ContractReceipt = version (1) = 1 ‖ request ID (16) ‖ status (1) ‖ reason code (u16)
//!                   ‖ u16 len ‖ reason text (UTF-8, ≤ 1024) ‖ has tx (1)
//!                   ‖ [tx hash (32) ‖ block (u64) ‖ gas used (u64) if has tx = 1]
//! ```
//!
//! The signature is a pure ML-DSA-87 signature (FIPS 204 `Sign(sk, M, ctx)`) of the Action bytes
//! `M` exactly as carried, with the context [`SIGNING_CONTEXT`] (`lux-evm-precompile-mldsa-v1`,
//! the Lux precompile's): the signed `M′` is `0x00 ‖ 0x1b ‖ ctx ‖ M`. The same bytes and signature
//! are what `SessionTrigger.executeFromSession` / `executeRegistered` verify on chain, so a relayer
//! can check a signature off-chain before it spends gas. Decoders are total and strict: whatever
//! they accept re-encodes to exactly the input.

use crate::{Reader, WireError, Writer};
use pars_crypto::mldsa::{self, MlDsaPublicKey, MlDsaSignature, MlDsaSigningKey};
use pars_crypto::{CryptoError, labels, sha3_256};

/// The ML-DSA context of action signatures (the Lux precompile's, 27 bytes).
pub const SIGNING_CONTEXT: &[u8] = labels::SIG_LUX_PRECOMPILE;
/// The Action encoding version SessionTrigger accepts (its `ACTION_VERSION`).
pub const ACTION_VERSION: u8 = 1;
/// Version byte of [`ContractAction`].
pub const CONTRACT_ACTION_VERSION: u8 = 1;
/// Version byte of [`ContractReceipt`].
pub const RECEIPT_VERSION: u8 = 1;
/// Length of a request ID.
pub const REQUEST_ID_LEN: usize = 16;
/// The Action's fixed part: nine head words and the data length word.
pub const ACTION_HEAD_LEN: usize = 320;
/// Largest calldata an Action may carry (64 KiB): far more than any ordinary call, and small
/// enough that a bridge never buffers much for one message.
pub const MAX_CALLDATA_LEN: usize = 64 * 1024;
/// Largest encoded Action.
pub const MAX_ACTION_LEN: usize = ACTION_HEAD_LEN + MAX_CALLDATA_LEN;
/// Largest reason text in a receipt.
pub const MAX_REASON_LEN: usize = 1024;
/// Size of a [`ContractAction`] without the Action, key given inline.
pub const CONTRACT_ACTION_OVERHEAD_INLINE: usize =
    1 + REQUEST_ID_LEN + 1 + mldsa::PUBLIC_KEY_LEN + mldsa::SIGNATURE_LEN + 4;
/// Size of a [`ContractAction`] without the Action, key registered on chain.
pub const CONTRACT_ACTION_OVERHEAD_REGISTERED: usize =
    1 + REQUEST_ID_LEN + 1 + mldsa::SIGNATURE_LEN + 4;
/// Largest encoded [`ContractAction`].
pub const MAX_CONTRACT_ACTION_LEN: usize = CONTRACT_ACTION_OVERHEAD_INLINE + MAX_ACTION_LEN;
/// Largest encoded [`ContractReceipt`].
pub const MAX_RECEIPT_LEN: usize = 1 + REQUEST_ID_LEN + 1 + 2 + 2 + MAX_REASON_LEN + 1 + 48;

/// The offset word of `data` in a canonical Action (nine head words).
const DATA_OFFSET: u64 = 0x120;

/// A decoded SessionTrigger Action (docs/contracts.md, "The signed Action").
///
/// Wide EVM values (`chainId`, `value`) are kept as 32-byte big-endian words; addresses as
/// 20 bytes; `session_id` is the 32-byte digest SHA3-256(pk), not the 33-byte Session ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Action {
    /// Encoding version; SessionTrigger accepts [`ACTION_VERSION`].
    pub version: u8,
    /// The chain ID, a uint256 word.
    pub chain_id: [u8; 32],
    /// The SessionTrigger the action is for.
    pub trigger: [u8; 20],
    /// SHA3-256 of the signer's ML-DSA-87 public key.
    pub session_id: [u8; 32],
    /// Any 64-bit value not yet used by this signer on this trigger.
    pub nonce: u64,
    /// Unix seconds; valid while `block.timestamp <= deadline`.
    pub deadline: u64,
    /// The contract (or account) to call.
    pub target: [u8; 20],
    /// Wei to forward, a uint256 word (the relayer sends it as `msg.value`).
    pub value: [u8; 32],
    /// Calldata for `target` (at most [`MAX_CALLDATA_LEN`]).
    pub data: Vec<u8>,
}

fn word_u64(v: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&v.to_be_bytes());
    w
}

fn word_addr(a: &[u8; 20]) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a);
    w
}

fn narrow<const N: usize>(w: &[u8; 32], what: &'static str) -> Result<[u8; N], WireError> {
    if w[..32 - N].iter().any(|b| *b != 0) {
        return Err(WireError::Invalid {
            what,
            reason: "value out of range for its type",
        });
    }
    let mut out = [0u8; N];
    out.copy_from_slice(&w[32 - N..]);
    Ok(out)
}

impl Action {
    /// The chain ID if it fits 64 bits (every real chain's does).
    pub fn chain_id_u64(&self) -> Option<u64> {
        narrow::<8>(&self.chain_id, "chain ID")
            .ok()
            .map(u64::from_be_bytes)
    }

    /// Sets the chain ID from a `u64`.
    pub fn with_chain_id(mut self, chain_id: u64) -> Self {
        self.chain_id = word_u64(chain_id);
        self
    }

    /// Whether `value` is zero.
    pub fn value_is_zero(&self) -> bool {
        self.value == [0; 32]
    }

    /// The encoded length for `data_len` bytes of calldata.
    pub fn encoded_len(data_len: usize) -> usize {
        ACTION_HEAD_LEN + data_len.div_ceil(32) * 32
    }

    /// The ABI encoding — exactly the bytes that are signed.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        if self.data.len() > MAX_CALLDATA_LEN {
            return Err(WireError::TooLong {
                what: "action calldata",
                len: self.data.len(),
                max: MAX_CALLDATA_LEN,
            });
        }
        let mut w = Writer::with_capacity(Self::encoded_len(self.data.len()));
        w.bytes(&word_u64(u64::from(self.version)))
            .bytes(&self.chain_id)
            .bytes(&word_addr(&self.trigger))
            .bytes(&self.session_id)
            .bytes(&word_u64(self.nonce))
            .bytes(&word_u64(self.deadline))
            .bytes(&word_addr(&self.target))
            .bytes(&self.value)
            .bytes(&word_u64(DATA_OFFSET))
            .bytes(&word_u64(self.data.len() as u64))
            .bytes(&self.data);
        let pad = self.data.len().div_ceil(32) * 32 - self.data.len();
        w.bytes(&[0u8; 32][..pad]);
        Ok(w.into_vec())
    }

    /// Decodes strictly, as `SessionTrigger.decodeAction` does (exact length, canonical offset,
    /// in-range narrow fields) and in addition requires zero padding, so that the encoding is
    /// canonical. Any version is decoded; the relayer refuses versions other than
    /// [`ACTION_VERSION`] with a receipt that says so.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_ACTION_LEN {
            return Err(WireError::TooLong {
                what: "action",
                len: bytes.len(),
                max: MAX_ACTION_LEN,
            });
        }
        let mut r = Reader::new(bytes);
        let version = narrow::<1>(&r.array("action version")?, "action version")?[0];
        let chain_id = r.array::<32>("action chain ID")?;
        let trigger = narrow::<20>(&r.array("action trigger")?, "action trigger")?;
        let session_id = r.array::<32>("action session ID")?;
        let nonce = u64::from_be_bytes(narrow(&r.array("action nonce")?, "action nonce")?);
        let deadline = u64::from_be_bytes(narrow(&r.array("action deadline")?, "action deadline")?);
        let target = narrow::<20>(&r.array("action target")?, "action target")?;
        let value = r.array::<32>("action value")?;
        let offset = u64::from_be_bytes(narrow(&r.array("action data offset")?, "data offset")?);
        if offset != DATA_OFFSET {
            return Err(WireError::Invalid {
                what: "action data offset",
                reason: "must be 0x120",
            });
        }
        let len = u64::from_be_bytes(narrow(&r.array("action data length")?, "data length")?);
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > MAX_CALLDATA_LEN {
            return Err(WireError::TooLong {
                what: "action calldata",
                len,
                max: MAX_CALLDATA_LEN,
            });
        }
        let data = r.bytes(len, "action calldata")?.to_vec();
        let pad = len.div_ceil(32) * 32 - len;
        if r.bytes(pad, "action calldata padding")?
            .iter()
            .any(|b| *b != 0)
        {
            return Err(WireError::Invalid {
                what: "action calldata padding",
                reason: "must be zero",
            });
        }
        r.finish("action")?;
        Ok(Self {
            version,
            chain_id,
            trigger,
            session_id,
            nonce,
            deadline,
            target,
            value,
            data,
        })
    }
}

/// How the bridge finds the signer's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerKey {
    /// The key travels with the action (`executeFromSession`; wire value 1).
    Inline(MlDsaPublicKey),
    /// The key was stored with `SessionTrigger.registerKey` and is looked up by the action's
    /// session ID digest (`executeRegistered`; wire value 2).
    Registered,
}

/// Why an action's signature does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActionAuthError {
    /// SHA3-256 of the public key is not the action's session ID digest.
    #[error("the public key does not belong to the action's session ID")]
    KeyMismatch,
    /// The ML-DSA-87 signature is invalid for these bytes, this key and the context.
    #[error("the ML-DSA-87 signature of the action is invalid")]
    BadSignature,
    /// The action could not be encoded (calldata too long).
    #[error("the action cannot be encoded: {0}")]
    Encoding(#[source] WireError),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Crypto(#[source] CryptoError),
}

impl pars_error::HasKind for ActionAuthError {
    fn kind(&self) -> pars_error::ErrorKind {
        use pars_error::ErrorKind;
        match self {
            Self::KeyMismatch | Self::BadSignature => ErrorKind::Verification,
            // Encoding fails only for what the signer asked (calldata too long).
            Self::Encoding(_) => ErrorKind::BadInput,
            Self::Crypto(e) => e.kind(),
        }
    }
}

/// A signed action, as a user sends it to a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractAction {
    /// Chosen by the sender; the bridge's receipt carries it back.
    pub request_id: [u8; REQUEST_ID_LEN],
    /// The action.
    pub action: Action,
    /// ML-DSA-87 signature of `action.encode()` with [`SIGNING_CONTEXT`].
    pub signature: MlDsaSignature,
    /// Where the public key comes from.
    pub key: SignerKey,
}

/// Checks `signature` over the encoded `action` with `pk`, and that `pk` is the action's signer.
pub fn verify_action(
    action: &Action,
    signature: &MlDsaSignature,
    pk: &MlDsaPublicKey,
) -> Result<(), ActionAuthError> {
    if sha3_256(&[pk.as_bytes()]) != action.session_id {
        return Err(ActionAuthError::KeyMismatch);
    }
    let message = action.encode().map_err(ActionAuthError::Encoding)?;
    pk.verify(SIGNING_CONTEXT, &message, signature)
        .map_err(|_| ActionAuthError::BadSignature)
}

impl ContractAction {
    /// Signs `action` (its `session_id` is set to `key`'s digest first) under [`SIGNING_CONTEXT`].
    /// With `inline_key` the public key travels with it; otherwise it must be registered on chain.
    /// `rnd` is FIPS 204's per-signature randomness: 32 fresh random bytes (hedged signing).
    pub fn sign(
        request_id: [u8; REQUEST_ID_LEN],
        mut action: Action,
        key: &MlDsaSigningKey,
        inline_key: bool,
        rnd: &[u8; 32],
    ) -> Result<Self, ActionAuthError> {
        let pk = key.public_key();
        action.session_id = sha3_256(&[pk.as_bytes()]);
        let message = action.encode().map_err(ActionAuthError::Encoding)?;
        let signature = key
            .sign_with_rnd(SIGNING_CONTEXT, &message, rnd)
            .map_err(ActionAuthError::Crypto)?;
        Ok(Self {
            request_id,
            action,
            signature,
            key: if inline_key {
                SignerKey::Inline(pk)
            } else {
                SignerKey::Registered
            },
        })
    }

    /// Verifies with the inline key, or with `registered` (the key read from chain) otherwise.
    pub fn verify(&self, registered: Option<&MlDsaPublicKey>) -> Result<(), ActionAuthError> {
        match (&self.key, registered) {
            (SignerKey::Inline(pk), _) => verify_action(&self.action, &self.signature, pk),
            (SignerKey::Registered, Some(pk)) => verify_action(&self.action, &self.signature, pk),
            (SignerKey::Registered, None) => Err(ActionAuthError::KeyMismatch),
        }
    }

    /// The encoding (see the module documentation).
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let action = self.action.encode()?;
        let mut w = Writer::with_capacity(CONTRACT_ACTION_OVERHEAD_INLINE + action.len());
        w.u8(CONTRACT_ACTION_VERSION).bytes(&self.request_id);
        match &self.key {
            SignerKey::Inline(pk) => {
                w.u8(1).bytes(pk.as_bytes());
            }
            SignerKey::Registered => {
                w.u8(2);
            }
        }
        w.bytes(self.signature.as_bytes()).var32(&action);
        Ok(w.into_vec())
    }

    /// Decodes a ContractAction (total; canonical).
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_CONTRACT_ACTION_LEN {
            return Err(WireError::TooLong {
                what: "contract action",
                len: bytes.len(),
                max: MAX_CONTRACT_ACTION_LEN,
            });
        }
        let mut r = Reader::new(bytes);
        let version = r.u8("contract action version")?;
        if version != CONTRACT_ACTION_VERSION {
            return Err(WireError::UnsupportedVersion {
                what: "contract action",
                version,
            });
        }
        let request_id = r.array("request ID")?;
        let key = match r.u8("signer key kind")? {
            1 => {
                let pk = r.bytes(mldsa::PUBLIC_KEY_LEN, "signer public key")?;
                SignerKey::Inline(MlDsaPublicKey::from_bytes(pk).map_err(|source| {
                    WireError::Crypto {
                        what: "signer public key",
                        source,
                    }
                })?)
            }
            2 => SignerKey::Registered,
            other => {
                return Err(WireError::UnknownVariant {
                    what: "signer key kind",
                    value: u64::from(other),
                });
            }
        };
        let sig = r.bytes(mldsa::SIGNATURE_LEN, "action signature")?;
        let signature = MlDsaSignature::from_bytes(sig).map_err(|source| WireError::Crypto {
            what: "action signature",
            source,
        })?;
        let action = Action::decode(r.var32(MAX_ACTION_LEN, "action")?)?;
        r.finish("contract action")?;
        Ok(Self {
            request_id,
            action,
            signature,
            key,
        })
    }
}

/// What happened to an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ReceiptStatus {
    /// The transaction was sent and is waiting for confirmations (an interim answer).
    Submitted = 1,
    /// Executed: the target call succeeded and the block has the configured confirmations.
    Confirmed = 2,
    /// Executed on chain but the target call failed (`SessionActionFailed`; the nonce is spent),
    /// or the transaction itself reverted.
    Reverted = 3,
    /// Not executed; the reason code says why. No gas was spent on it.
    Refused = 4,
}

impl ReceiptStatus {
    fn from_u8(v: u8) -> Result<Self, WireError> {
        match v {
            1 => Ok(Self::Submitted),
            2 => Ok(Self::Confirmed),
            3 => Ok(Self::Reverted),
            4 => Ok(Self::Refused),
            _ => Err(WireError::UnknownVariant {
                what: "receipt status",
                value: u64::from(v),
            }),
        }
    }
}

/// Stable reason codes of receipts (`u16` on the wire). Codes are never reused; an unknown code
/// decodes as [`ReasonCode::Other`] so that older clients can show the text of newer reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReasonCode {
    /// 0: no error (Confirmed, Submitted).
    None,
    /// 100: the message content is not a valid ContractAction.
    Malformed,
    /// 101: the Action's version is not one the trigger accepts.
    UnsupportedVersion,
    /// 102: the Action is for another chain.
    WrongChain,
    /// 103: the Action is for another SessionTrigger.
    WrongTrigger,
    /// 104: the deadline passed before the action could be executed.
    Expired,
    /// 105: the (session ID, nonce) pair is already used on chain.
    NonceUsed,
    /// 106: the same (session ID, nonce) is already being handled for another request.
    Duplicate,
    /// 107: the ML-DSA-87 signature is invalid.
    BadSignature,
    /// 108: the public key does not hash to the action's session ID.
    KeyMismatch,
    /// 109: the action names a registered key, but none is registered for the session ID.
    KeyNotRegistered,
    /// 110: the bridge's policy does not allow this target.
    TargetNotAllowed,
    /// 111: the action needs more gas than the bridge's policy allows.
    GasLimitExceeded,
    /// 112: too many actions from this session ID; try again later.
    RateLimited,
    /// 113: the bridge's policy does not allow forwarding this much value.
    ValueNotAllowed,
    /// 114: the simulation (`eth_call`) shows the target call would fail.
    TargetWouldRevert,
    /// 115: the trigger rejected the action in simulation for another reason (text says which).
    Rejected,
    /// 116: the bridge's policy does not relay for this sender (not listed, or no key
    /// registered on chain when it relays for registered keys only).
    SenderNotAllowed,
    /// 117: the sender's or the bridge's gas budget for this hour or day is spent; the text
    /// says which and when it renews.
    BudgetExhausted,
    /// 200: executed, the target call failed (`SessionActionFailed`).
    TargetReverted,
    /// 201: the transaction reverted on chain (e.g. another relayer used the nonce first).
    TransactionReverted,
    /// 300: the bridge failed internally.
    Internal,
    /// Any other code (from a newer bridge).
    Other(u16),
}

impl ReasonCode {
    /// The wire value.
    pub fn code(self) -> u16 {
        match self {
            Self::None => 0,
            Self::Malformed => 100,
            Self::UnsupportedVersion => 101,
            Self::WrongChain => 102,
            Self::WrongTrigger => 103,
            Self::Expired => 104,
            Self::NonceUsed => 105,
            Self::Duplicate => 106,
            Self::BadSignature => 107,
            Self::KeyMismatch => 108,
            Self::KeyNotRegistered => 109,
            Self::TargetNotAllowed => 110,
            Self::GasLimitExceeded => 111,
            Self::RateLimited => 112,
            Self::ValueNotAllowed => 113,
            Self::TargetWouldRevert => 114,
            Self::Rejected => 115,
            Self::SenderNotAllowed => 116,
            Self::BudgetExhausted => 117,
            Self::TargetReverted => 200,
            Self::TransactionReverted => 201,
            Self::Internal => 300,
            Self::Other(c) => c,
        }
    }

    /// From the wire value (total).
    pub fn from_code(code: u16) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|r| r.code() == code)
            .unwrap_or(Self::Other(code))
    }

    /// Every named code.
    pub const KNOWN: [ReasonCode; 22] = [
        Self::None,
        Self::Malformed,
        Self::UnsupportedVersion,
        Self::WrongChain,
        Self::WrongTrigger,
        Self::Expired,
        Self::NonceUsed,
        Self::Duplicate,
        Self::BadSignature,
        Self::KeyMismatch,
        Self::KeyNotRegistered,
        Self::TargetNotAllowed,
        Self::GasLimitExceeded,
        Self::RateLimited,
        Self::ValueNotAllowed,
        Self::TargetWouldRevert,
        Self::Rejected,
        Self::SenderNotAllowed,
        Self::BudgetExhausted,
        Self::TargetReverted,
        Self::TransactionReverted,
        Self::Internal,
    ];
}

/// The on-chain transaction of a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReceiptTx {
    /// Transaction hash.
    pub tx_hash: [u8; 32],
    /// Block number (0 while only submitted).
    pub block: u64,
    /// Gas used (0 while only submitted).
    pub gas_used: u64,
}

/// A bridge's answer to a [`ContractAction`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContractReceipt {
    /// The request ID of the action.
    pub request_id: [u8; REQUEST_ID_LEN],
    /// What happened.
    pub status: ReceiptStatus,
    /// Why (stable code), [`ReasonCode::None`] when confirmed.
    pub reason: ReasonCode,
    /// Human-readable detail (≤ [`MAX_REASON_LEN`] bytes of UTF-8).
    pub reason_text: String,
    /// The transaction, for Submitted, Confirmed and Reverted (absent for Refused).
    pub tx: Option<ReceiptTx>,
}

impl ContractReceipt {
    /// The encoding (see the module documentation). Over-long reason texts are cut at a
    /// character boundary to [`MAX_REASON_LEN`] bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut text = self.reason_text.as_str();
        if text.len() > MAX_REASON_LEN {
            let mut end = MAX_REASON_LEN;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text = &text[..end];
        }
        let mut w = Writer::with_capacity(MAX_RECEIPT_LEN);
        w.u8(RECEIPT_VERSION)
            .bytes(&self.request_id)
            .u8(self.status as u8)
            .u16(self.reason.code())
            .var16(text.as_bytes());
        match &self.tx {
            Some(tx) => {
                w.u8(1).bytes(&tx.tx_hash).u64(tx.block).u64(tx.gas_used);
            }
            None => {
                w.u8(0);
            }
        }
        w.into_vec()
    }

    /// Decodes a receipt (total; canonical). Confirmed and Reverted receipts must carry their
    /// transaction, Refused ones must not; a Confirmed receipt has reason code 0.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("receipt version")?;
        if version != RECEIPT_VERSION {
            return Err(WireError::UnsupportedVersion {
                what: "contract receipt",
                version,
            });
        }
        let request_id = r.array("request ID")?;
        let status = ReceiptStatus::from_u8(r.u8("receipt status")?)?;
        let reason = ReasonCode::from_code(r.u16("reason code")?);
        let text = r.var16(MAX_REASON_LEN, "reason text")?;
        let reason_text = std::str::from_utf8(text)
            .map_err(|_| WireError::Invalid {
                what: "reason text",
                reason: "not UTF-8",
            })?
            .to_owned();
        let tx = match r.u8("receipt tx flag")? {
            0 => None,
            1 => Some(ReceiptTx {
                tx_hash: r.array("tx hash")?,
                block: r.u64("block")?,
                gas_used: r.u64("gas used")?,
            }),
            other => {
                return Err(WireError::UnknownVariant {
                    what: "receipt tx flag",
                    value: u64::from(other),
                });
            }
        };
        r.finish("contract receipt")?;
        let consistent = match status {
            ReceiptStatus::Confirmed => tx.is_some() && reason == ReasonCode::None,
            ReceiptStatus::Reverted => tx.is_some() && reason != ReasonCode::None,
            ReceiptStatus::Refused => tx.is_none() && reason != ReasonCode::None,
            ReceiptStatus::Submitted => tx.is_some(),
        };
        if !consistent {
            return Err(WireError::Invalid {
                what: "contract receipt",
                reason: "status, reason code and transaction do not agree",
            });
        }
        Ok(Self {
            request_id,
            status,
            reason,
            reason_text,
            tx,
        })
    }
}
