//! `triggerAction`: a SessionTrigger action built, signed and sent to a bridge over the normal
//! session machinery, and the wait for the bridge's receipt.
//!
//! The action's fields come from the request; what it leaves out comes from defaults:
//! the chain ID and the trigger from the request, else from the deployment addresses file the
//! daemon was configured with (`--addresses-file`, or `.devnet/addresses.json` on devnet), read
//! at each call so that a redeployment is picked up. The nonce is 64 fresh random bits per action
//! (SessionTrigger accepts any unused nonce, so no counter has to survive a restore from the
//! backup phrase); the request ID is 16 fresh random bytes. When neither the request nor the
//! configuration gives chain ID and trigger, the ones the bridge announced in answer to
//! [`HELLO`] are used. The ContractAction is queued in the
//! outbox like any message (durable, ordered, onion-routed); the receipt arrives as a message of
//! type `contractReceipt` in the same session and stays there whether or not anyone waits for it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::app::{Core, now};
use crate::net::NetSlot;
use crate::ops::{self, rpc_error};
use pars_crypto::SessionId;

use pars_crypto::CryptoRng;
use pars_crypto::identity::IdentityKeys;
use pars_registry::primitives::{Address, U256};
use pars_rpc::types::{TriggerRequest, TriggerResult};
use pars_rpc::{ErrorCode, RpcError};
use pars_wire::action::{
    ACTION_VERSION, Action, ContractAction, ContractReceipt, MAX_CALLDATA_LEN, REQUEST_ID_LEN,
    ReceiptStatus,
};
use pars_wire::message::ContentType;
use pars_wire::records::MessageRecord;

/// A deadline below this is relative (seconds from now); at or above it, absolute Unix seconds.
pub const RELATIVE_DEADLINE_LIMIT: u64 = 1_000_000_000;
/// Default deadline: ten minutes from now.
pub const DEFAULT_DEADLINE_SECS: u64 = 600;
/// Default wait for the receipt.
pub const DEFAULT_TIMEOUT_SECS: u64 = 120;
/// Longest wait for the receipt.
pub const MAX_TIMEOUT_SECS: u64 = 3600;

/// Where chain ID and trigger come from when the request does not give them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TriggerDefaults {
    /// The deployment addresses file (`chainId`, `sessionTrigger`), read at each call.
    pub addresses_file: Option<PathBuf>,
    /// The configured chain ID (`--chain-id`), preferred over the file's.
    pub chain_id: Option<u64>,
}

impl TriggerDefaults {
    /// Chain ID and trigger from the configuration, else from what the bridge announced.
    fn resolve(&self, announced: Option<(u64, [u8; 20])>) -> (Option<u64>, Option<[u8; 20]>) {
        let file = self.addresses_file.as_deref().and_then(read_addresses);
        let chain_id = self
            .chain_id
            .or(file.as_ref().map(|f| f.0))
            .or(announced.map(|a| a.0));
        (chain_id, file.map(|f| f.1).or(announced.map(|a| a.1)))
    }
}

/// The text `triggerAction` sends to a bridge whose session is new: the bridge answers any text
/// with its info ([`bridge_info`]), which completes the handshake. Until the peer has answered,
/// every message carries the session handshake (≈ 20 kB), and a ContractAction with its key
/// inline (≈ 7.7 kB) would then not fit one onion packet.
pub const HELLO: &str = "pars-bridge hello";
/// Longest wait for the bridge's answer to [`HELLO`] when the request asks for less (also for
/// `timeoutSecs` = 0: the action can only be queued once the session is established).
pub const HANDSHAKE_WAIT_SECS: u64 = 120;

/// The chain ID and trigger a bridge announced in its latest info text
/// (`{"parsBridge":1,"chainId":N,"trigger":"0x…"}`) among `messages` of its session.
pub fn bridge_info(messages: &[MessageRecord]) -> Option<(u64, [u8; 20])> {
    messages
        .iter()
        .rev()
        .filter(|m| m.content_type == ContentType::Text as u8 && !m.outgoing)
        .find_map(|m| {
            let v: serde_json::Value = serde_json::from_slice(&m.content).ok()?;
            v.get("parsBridge")?;
            let chain = v.get("chainId")?.as_u64()?;
            let trigger = v.get("trigger")?.as_str()?.parse::<Address>().ok()?;
            Some((chain, trigger.into_array()))
        })
}

fn read_addresses(path: &Path) -> Option<(u64, [u8; 20])> {
    let a = pars_registry::DevnetAddresses::load(path).ok()?;
    Some((a.chain_id, a.session_trigger.into_array()))
}

fn bad(msg: impl Into<String>) -> RpcError {
    RpcError::new(ErrorCode::InvalidInput, msg)
}

fn parse_address(s: &str, what: &str) -> Result<[u8; 20], RpcError> {
    s.trim()
        .parse::<Address>()
        .map(|a| a.into_array())
        .map_err(|_| {
            bad(format!(
                "{what} '{s}' is not an EVM address (0x and 40 hex digits)"
            ))
        })
}

fn parse_hex(s: &str, what: &str) -> Result<Vec<u8>, RpcError> {
    let h = s.trim();
    let h = h
        .strip_prefix("0x")
        .or_else(|| h.strip_prefix("0X"))
        .unwrap_or(h);
    hex::decode(h).map_err(|e| bad(format!("{what} is not valid hex ({e})")))
}

/// The Action of `req` (its `session_id` is set when signing), checked: addresses, hex, value,
/// a deadline in the future, calldata within [`MAX_CALLDATA_LEN`], chain ID and trigger known.
pub fn build_action(
    req: &TriggerRequest,
    defaults: &TriggerDefaults,
    announced: Option<(u64, [u8; 20])>,
    now: u64,
    nonce: u64,
) -> Result<Action, RpcError> {
    let target = parse_address(&req.target, "the target")?;
    let data = parse_hex(&req.calldata, "the calldata")?;
    if data.len() > MAX_CALLDATA_LEN {
        return Err(bad(format!(
            "the calldata is {} bytes; an action carries at most {MAX_CALLDATA_LEN}",
            data.len()
        )));
    }
    let value = match req.value.as_deref().map(str::trim) {
        None | Some("") => U256::ZERO,
        Some(v) if v.bytes().all(|b| b.is_ascii_digit()) => v
            .parse::<U256>()
            .map_err(|_| bad(format!("the value '{v}' does not fit 256 bits")))?,
        Some(v) => {
            return Err(bad(format!(
                "the value '{v}' is not a whole number of wei in decimal"
            )));
        }
    };
    let deadline = match req.deadline {
        None => now.saturating_add(DEFAULT_DEADLINE_SECS),
        Some(d) if d < RELATIVE_DEADLINE_LIMIT => now.saturating_add(d),
        Some(d) => d,
    };
    if deadline <= now {
        return Err(bad(format!(
            "the deadline {deadline} is not in the future (now {now}); give seconds from now or a later Unix time"
        )));
    }
    let (default_chain, default_trigger) = defaults.resolve(announced);
    let chain_id = req.chain_id.or(default_chain).ok_or_else(|| {
        bad("no chain ID: give chainId (parsctl: --chain-id), or start sessiond with --addresses-file")
    })?;
    let trigger = match &req.trigger {
        Some(t) => parse_address(t, "the trigger")?,
        None => default_trigger.ok_or_else(|| {
            bad("no SessionTrigger address: give trigger (parsctl: --trigger), or start sessiond with --addresses-file")
        })?,
    };
    Ok(Action {
        version: ACTION_VERSION,
        chain_id: [0; 32],
        trigger,
        session_id: [0; 32],
        nonce,
        deadline,
        target,
        value: value.to_be_bytes::<32>(),
        data,
    }
    .with_chain_id(chain_id))
}

/// Signs `action` with the identity's ML-DSA-87 key: a fresh request ID and hedged signing.
pub fn sign(
    action: Action,
    keys: &IdentityKeys,
    registered_key: bool,
    rng: &mut impl CryptoRng,
) -> Result<ContractAction, RpcError> {
    let request_id = pars_crypto::random_array::<REQUEST_ID_LEN>(rng);
    let rnd = zeroize::Zeroizing::new(pars_crypto::random_array::<32>(rng));
    ContractAction::sign(
        request_id,
        action,
        &keys.signing_key().mldsa,
        !registered_key,
        &rnd,
    )
    .map_err(|e| RpcError::new(ErrorCode::Internal, format!("cannot sign the action: {e}")))
}

/// The wait in seconds a request asks for.
pub fn timeout_secs(req: &TriggerRequest) -> u64 {
    req.timeout_secs
        .unwrap_or(DEFAULT_TIMEOUT_SECS)
        .min(MAX_TIMEOUT_SECS)
}

/// The final receipt for `request_id` among `messages` (those of the session with the bridge),
/// if one arrived. An interim `submitted` receipt is not final; the last one is kept.
pub fn find_receipt(
    messages: &[MessageRecord],
    request_id: &[u8; REQUEST_ID_LEN],
) -> Option<ContractReceipt> {
    messages
        .iter()
        .rev()
        .filter(|m| m.content_type == ContentType::ContractReceipt as u8)
        .filter_map(|m| ContractReceipt::decode(&m.content).ok())
        .find(|r| &r.request_id == request_id && r.status != ReceiptStatus::Submitted)
}

/// The name of a receipt status in the API.
pub fn status_name(s: ReceiptStatus) -> &'static str {
    match s {
        ReceiptStatus::Submitted => "submitted",
        ReceiptStatus::Confirmed => "confirmed",
        ReceiptStatus::Reverted => "reverted",
        ReceiptStatus::Refused => "refused",
    }
}

/// The result for `action` sent as message `message_id`, with the receipt if there is one.
pub fn result(
    action: &ContractAction,
    bridge: &str,
    message_id: &str,
    receipt: Option<&ContractReceipt>,
) -> TriggerResult {
    let a = &action.action;
    TriggerResult {
        request_id: hex::encode(action.request_id),
        message_id: message_id.to_string(),
        bridge: bridge.to_string(),
        nonce: a.nonce,
        deadline: a.deadline,
        chain_id: a.chain_id_u64().unwrap_or(0),
        trigger: Address::from(a.trigger).to_checksum(None),
        status: receipt
            .map(|r| status_name(r.status))
            .unwrap_or("queued")
            .to_string(),
        reason_code: receipt.map(|r| r.reason.code()).unwrap_or(0),
        reason: receipt.map(|r| r.reason_text.clone()).unwrap_or_default(),
        tx_hash: receipt
            .and_then(|r| r.tx)
            .map(|t| format!("0x{}", hex::encode(t.tx_hash))),
        block: receipt.and_then(|r| r.tx).map(|t| t.block),
        gas_used: receipt.and_then(|r| r.tx).map(|t| t.gas_used),
    }
}

/// `triggerAction`, as a client of the [`Core`]: checks the request, opens (or reuses) the
/// session with the bridge and waits for its answer to [`HELLO`] when the session is new, then
/// signs and queues the action and waits up to the request's timeout for the final receipt.
pub async fn trigger_action(
    core: &Core,
    net: &NetSlot,
    defaults: &TriggerDefaults,
    request: TriggerRequest,
) -> Result<TriggerResult, RpcError> {
    let nonce = core
        .with_engine(|_, rng| u64::from_be_bytes(pars_crypto::random_array::<8>(rng)))
        .await
        .map_err(|e| rpc_error(&e))?;
    // Bad parameters fail before anything is sent (chain ID and trigger may still come from
    // the bridge's answer).
    build_action(&request, defaults, Some((0, [0; 20])), now(), nonce)?;
    // The session with the bridge: an existing one, or a new one from its bundle.
    let bridge = request.bridge.trim();
    let peer = match bridge.parse::<SessionId>() {
        Ok(id) => {
            ops::open_session(core, net, id).await?;
            id
        }
        Err(_) => ops::resolve_peer(core, bridge).await?,
    };
    let bridge_id = peer.to_string();
    let wait = timeout_secs(&request);
    // Subscribe before sending, so that no answer can slip past unseen.
    let mut rx = core.subscribe();
    if !ops::session_confirmed(core, &peer).await? {
        core.send(peer, HELLO.as_bytes().to_vec(), ContentType::Text)
            .await
            .map_err(|e| rpc_error(&e))?;
        let secs = wait.max(HANDSHAKE_WAIT_SECS);
        let until = tokio::time::Instant::now() + Duration::from_secs(secs);
        while !ops::session_confirmed(core, &peer).await? {
            tokio::select! {
                _ = rx.recv() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = tokio::time::sleep_until(until) => {
                    return Err(RpcError::new(
                        ErrorCode::Timeout,
                        format!("the bridge {bridge_id} did not answer within {secs} s, so the session with it is not established and no action was sent; check that the bridge runs, then retry"),
                    ));
                }
            }
        }
    }
    let messages = |since| async move {
        core.messages(Some(peer), since, MESSAGES_SCANNED)
            .await
            .map_err(|e| rpc_error(&e))
    };
    let announced = bridge_info(&messages(0).await?);
    let action = build_action(&request, defaults, announced, now(), nonce)?;
    let registered = request.registered_key;
    let signed = core
        .with_engine(move |e, rng| match e.keys() {
            Ok(k) => sign(action, k, registered, rng),
            Err(err) => Err(rpc_error(&err)),
        })
        .await
        .map_err(|e| rpc_error(&e))??;
    let content = signed.encode().map_err(|e| {
        RpcError::new(
            ErrorCode::InvalidInput,
            format!("the action cannot be encoded: {e}"),
        )
    })?;
    let sent_at = now();
    let message_id = core
        .send(peer, content, ContentType::ContractAction)
        .await
        .map_err(|e| rpc_error(&e))?
        .id
        .to_string();
    if wait == 0 {
        return Ok(result(&signed, &bridge_id, &message_id, None));
    }
    let until = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        let got = messages(sent_at.saturating_sub(1)).await?;
        if let Some(r) = find_receipt(&got, &signed.request_id) {
            return Ok(result(&signed, &bridge_id, &message_id, Some(&r)));
        }
        // Woken by any new message; a re-scan every second covers a lagging subscription.
        tokio::select! {
            _ = rx.recv() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = tokio::time::sleep_until(until) => {
                return Err(RpcError::new(
                    ErrorCode::Timeout,
                    format!(
                        "no receipt from the bridge within {wait} s for request {} (message {message_id}); the action stays queued or in flight and its receipt will appear in the session with {bridge_id}",
                        hex::encode(signed.request_id)
                    ),
                ));
            }
        }
    }
}

/// How many messages of the session with the bridge are scanned for its info and the receipt
/// (the oldest first, as `getMessages` returns them by default).
const MESSAGES_SCANNED: usize = 1000;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use pars_crypto::identity::MasterSeed;
    use pars_wire::action::{ReasonCode, ReceiptTx};
    use pars_wire::records::Delivery;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    const TRIGGER: &str = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0";

    fn request() -> TriggerRequest {
        TriggerRequest {
            bridge: String::new(),
            target: "0x5FbDB2315678afecb367f032d93F642f64180aa3".into(),
            calldata: "0xdeadbeef".into(),
            value: Some("1000000000000000000".into()),
            deadline: Some(60),
            chain_id: Some(31337),
            trigger: Some(TRIGGER.into()),
            ..Default::default()
        }
    }

    fn receipt_message(r: &ContractReceipt) -> MessageRecord {
        MessageRecord {
            id: pars_wire::MessageId([0; 16]),
            peer: pars_crypto::SessionId::from_digest([0xab; 32]),
            outgoing: false,
            content_type: ContentType::ContractReceipt as u8,
            timestamp: 1,
            local_time: 2,
            sequence: 0,
            delivery: Delivery::Received,
            read: false,
            content: r.encode(),
            error: None,
        }
    }

    #[test]
    fn an_action_is_built_signed_and_verifies() {
        let a = build_action(&request(), &TriggerDefaults::default(), None, 1000, 7).unwrap();
        assert_eq!(a.deadline, 1060);
        assert_eq!(a.chain_id_u64(), Some(31337));
        assert_eq!(a.data, vec![0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(
            U256::from_be_bytes(a.value),
            U256::from(10u64).pow(U256::from(18))
        );
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let keys = IdentityKeys::from_seed(&MasterSeed::generate(&mut rng));
        let ca = sign(a, &keys, false, &mut rng).unwrap();
        ca.verify(None).unwrap();
        let bytes = ca.encode().unwrap();
        assert_eq!(ContractAction::decode(&bytes).unwrap(), ca);
        // A flipped signature byte fails.
        let mut tampered = ca.clone();
        let mut sig = tampered.signature.as_bytes().to_vec();
        sig[10] ^= 1;
        tampered.signature = pars_crypto::mldsa::MlDsaSignature::from_bytes(&sig).unwrap();
        assert!(tampered.verify(None).is_err());
    }

    #[test]
    fn bad_parameters_are_refused_with_invalid_input() {
        let d = TriggerDefaults::default();
        let cases: Vec<(TriggerRequest, &str)> = vec![
            (
                TriggerRequest {
                    target: "0x12".into(),
                    ..request()
                },
                "target",
            ),
            (
                TriggerRequest {
                    calldata: "0xzz".into(),
                    ..request()
                },
                "calldata",
            ),
            (
                TriggerRequest {
                    value: Some("1 ether".into()),
                    ..request()
                },
                "value",
            ),
            (
                TriggerRequest {
                    deadline: Some(0),
                    ..request()
                },
                "deadline",
            ),
            (
                TriggerRequest {
                    deadline: Some(RELATIVE_DEADLINE_LIMIT + 5),
                    ..request()
                },
                "deadline",
            ),
            (
                TriggerRequest {
                    chain_id: None,
                    ..request()
                },
                "chain ID",
            ),
            (
                TriggerRequest {
                    trigger: None,
                    ..request()
                },
                "SessionTrigger",
            ),
            (
                TriggerRequest {
                    calldata: "00".repeat(MAX_CALLDATA_LEN + 1),
                    ..request()
                },
                "calldata",
            ),
        ];
        for (req, word) in cases {
            let now = RELATIVE_DEADLINE_LIMIT + 10;
            let e = build_action(&req, &d, None, now, 1).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidInput);
            assert!(e.message.contains(word), "{word}: {}", e.message);
        }
    }

    #[test]
    fn chain_id_and_trigger_come_from_the_addresses_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("addresses.json");
        std::fs::write(
            &path,
            format!(
                r#"{{"chainId": 31337, "serviceNodeRegistry": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "sessionTrigger": "{TRIGGER}"}}"#
            ),
        )
        .unwrap();
        let d = TriggerDefaults {
            addresses_file: Some(path),
            chain_id: None,
        };
        let req = TriggerRequest {
            chain_id: None,
            trigger: None,
            ..request()
        };
        let a = build_action(&req, &d, None, 1000, 1).unwrap();
        assert_eq!(a.chain_id_u64(), Some(31337));
        assert_eq!(
            Address::from(a.trigger),
            TRIGGER.parse::<Address>().unwrap()
        );
    }

    #[test]
    fn only_a_final_receipt_for_the_request_counts() {
        let id = [7u8; 16];
        let mk = |request_id, status| ContractReceipt {
            request_id,
            status,
            reason: ReasonCode::None,
            reason_text: String::new(),
            tx: Some(ReceiptTx {
                tx_hash: [1; 32],
                block: 5,
                gas_used: 21,
            }),
        };
        let other = receipt_message(&mk([8u8; 16], ReceiptStatus::Confirmed));
        let interim = receipt_message(&mk(id, ReceiptStatus::Submitted));
        assert_eq!(find_receipt(&[other.clone(), interim.clone()], &id), None);
        let fin = receipt_message(&mk(id, ReceiptStatus::Confirmed));
        let r = find_receipt(&[other, interim, fin], &id).unwrap();
        assert_eq!(r.status, ReceiptStatus::Confirmed);
        let mut garbage = receipt_message(&mk(id, ReceiptStatus::Confirmed));
        garbage.content = vec![0x00, 0xff];
        assert_eq!(find_receipt(&[garbage], &id), None);
    }
}
