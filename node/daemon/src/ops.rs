//! What the RPC handlers and `triggerAction` share, written once over the [`Core`] and the
//! network seam: resolving a session argument, opening a session (fetching the peer's bundle
//! when it is not cached), and the one conversion of a daemon error into a JSON-RPC error.

use crate::app::{Core, now};
use crate::engine::SessionSummary;
use crate::engine::conversation_id;
use crate::net::NetSlot;
use pars_crypto::SessionId;
use pars_error::HasKind;
use pars_rpc::types::{DeliveryState, Direction, FileInfo, MessageInfo};
use pars_rpc::{ErrorCode, RpcError};
use pars_wire::file::FileManifest;
use pars_wire::message::ContentType;
use pars_wire::records::{Delivery, MessageRecord};

/// The one place a daemon error becomes a JSON-RPC error: its kind gives the code, its message
/// says what to do.
pub fn rpc_error(e: &(impl HasKind + std::fmt::Display)) -> RpcError {
    let code = ErrorCode::from_code(e.kind().rpc_code()).unwrap_or(ErrorCode::Internal);
    RpcError::new(code, e.to_string())
}

/// Resolves a session argument: the peer's Session ID (or link), or the 64-hex conversation ID
/// of an existing session.
pub async fn resolve_peer(core: &Core, session: &str) -> Result<SessionId, RpcError> {
    let s = session.trim();
    if let Ok(id) = s.parse::<SessionId>() {
        return Ok(id);
    }
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        let want = s.to_ascii_lowercase();
        for x in core.sessions().await.map_err(|e| rpc_error(&e))? {
            if hex::encode(x.conversation) == want {
                return Ok(x.peer);
            }
        }
        return Err(RpcError::new(
            ErrorCode::UnknownSession,
            format!("no session {s}; list them with getSessions"),
        ));
    }
    Err(RpcError::new(
        ErrorCode::InvalidInput,
        format!(
            "'{s}' is neither a Session ID (66 hex characters starting with 05) nor a session ID (64 hex characters)"
        ),
    ))
}

/// Opens (or returns the open) session with `peer`, from its cached bundle or one fetched from
/// its swarm.
pub async fn open_session(
    core: &Core,
    net: &NetSlot,
    peer: SessionId,
) -> Result<SessionSummary, RpcError> {
    if core.session_id().await.map_err(|e| rpc_error(&e))? == peer {
        return Err(RpcError::new(
            ErrorCode::InvalidInput,
            "that is your own Session ID; start a session with someone else's",
        ));
    }
    let cached = core.cached_bundle(peer).await.map_err(|e| rpc_error(&e))?;
    let bundle = match cached {
        Some(b) if b.verify(&peer, now()).is_ok() => b,
        _ if net.get().is_none() => {
            return Err(RpcError::new(
                ErrorCode::Network,
                format!(
                    "the identity bundle of {peer} is not cached and this daemon is not connected to the network; retry when it is"
                ),
            ));
        }
        _ => net.fetch_bundle(&peer, now()).await.map_err(|e| {
            RpcError::new(
                ErrorCode::RecipientNotFound,
                format!(
                    "could not fetch the identity bundle of {peer}: {e}; check the Session ID, or retry when the network is reachable"
                ),
            )
        })?,
    };
    core.open_session(peer, bundle)
        .await
        .map_err(|e| rpc_error(&e))
}

/// Whether the peer has answered in the open session with `peer`.
pub async fn session_confirmed(core: &Core, peer: &SessionId) -> Result<bool, RpcError> {
    Ok(core
        .sessions()
        .await
        .map_err(|e| rpc_error(&e))?
        .iter()
        .any(|s| &s.peer == peer && s.confirmed && !s.closed))
}

/// The RPC view of a delivery state.
pub fn delivery(d: Delivery) -> DeliveryState {
    match d {
        Delivery::Queued => DeliveryState::Queued,
        Delivery::Stored(copies) => DeliveryState::Stored { copies },
        Delivery::Read => DeliveryState::Read,
        Delivery::Failed => DeliveryState::Failed,
        Delivery::Received => DeliveryState::Received,
    }
}

fn content_type_name(b: u8) -> String {
    match ContentType::from_u8(b) {
        Ok(ContentType::Text) => "text".into(),
        Ok(ContentType::File) => "file".into(),
        Ok(ContentType::ContractAction) => "contractAction".into(),
        Ok(ContentType::ContractReceipt) => "contractReceipt".into(),
        Ok(ContentType::GroupControl) => "groupControl".into(),
        Ok(other) => format!("{other:?}"),
        Err(_) => format!("unknown({b})"),
    }
}

/// The RPC view of a message.
pub fn message_info(local: &SessionId, m: &MessageRecord) -> MessageInfo {
    // A file message's content is its manifest, key included: shown as what it offers.
    let file = (m.content_type == ContentType::File as u8)
        .then(|| FileManifest::decode(&m.content).ok())
        .flatten()
        .map(|f| FileInfo {
            file_id: f.id.to_string(),
            name: f.name.clone(),
            mime_type: f.mime.clone(),
            size: f.size,
        });
    let (content, content_hex) = match &file {
        Some(f) => (
            format!("file: {} ({} bytes)", f.name, f.size),
            String::new(),
        ),
        None => (
            String::from_utf8_lossy(&m.content).into_owned(),
            hex::encode(&m.content),
        ),
    };
    MessageInfo {
        id: m.id.to_string(),
        session: hex::encode(conversation_id(local, &m.peer)),
        peer: m.peer.to_string(),
        direction: if m.outgoing {
            Direction::Outgoing
        } else {
            Direction::Incoming
        },
        content,
        content_type: content_type_name(m.content_type),
        content_hex,
        timestamp: m.timestamp,
        local_time: m.local_time,
        sequence: m.sequence,
        delivery: delivery(m.delivery),
        read: m.read,
        error: m.error.clone(),
        group: None,
        file,
    }
}
