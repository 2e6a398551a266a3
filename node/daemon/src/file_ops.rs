//! The file methods of the RPC over the transfer manager: arguments parsed and checked, and
//! the RPC view of a transfer.

use crate::app::Core;
use crate::ops::{resolve_peer, rpc_error};
use crate::transfers::{TransferStatus, Transfers};
use pars_crypto::SessionId;
use pars_rpc::types::{Direction, TransferInfo, TransferState as RpcState};
use pars_rpc::{ErrorCode, RpcError};
use pars_wire::records::{TransferPeer, TransferState};
use pars_wire::{FileId, GroupId, TransferId};

/// Resolves the `to` of `sendFile`: a Session ID (or link), a group ID the user has, or the
/// conversation ID of a session.
pub async fn resolve_target(core: &Core, to: &str) -> Result<TransferPeer, RpcError> {
    let s = to.trim();
    if let Ok(id) = s.parse::<SessionId>() {
        return Ok(TransferPeer::Session(id));
    }
    if let Ok(g) = s.parse::<GroupId>() {
        let groups = core.groups().await.map_err(|e| rpc_error(&e))?;
        if groups.iter().any(|x| x.id == g) {
            return Ok(TransferPeer::Group(g));
        }
    }
    resolve_peer(core, s).await.map(TransferPeer::Session)
}

/// Parses a file ID argument.
pub fn parse_file(s: &str) -> Result<FileId, RpcError> {
    s.parse::<FileId>().map_err(|_| {
        RpcError::new(
            ErrorCode::InvalidInput,
            format!(
                "'{}' is not a file ID (64 hex characters); file messages carry it (getMessages)",
                s.trim()
            ),
        )
    })
}

/// Parses a transfer ID argument.
pub fn parse_transfer(s: &str) -> Result<TransferId, RpcError> {
    s.parse::<TransferId>().map_err(|_| {
        RpcError::new(
            ErrorCode::InvalidInput,
            format!(
                "'{}' is not a transfer ID (32 hex characters); list them with getTransfers",
                s.trim()
            ),
        )
    })
}

/// `receiveFile`.
pub async fn receive(t: &Transfers, file: &str, path: &str) -> Result<TransferInfo, RpcError> {
    let file = parse_file(file)?;
    let s = t
        .receive_file(file, path)
        .await
        .map_err(|e| rpc_error(&e))?;
    Ok(transfer_info(&s))
}

/// `cancelTransfer`.
pub async fn cancel(t: &Transfers, id: &str) -> Result<TransferInfo, RpcError> {
    let id = parse_transfer(id)?;
    let s = t.cancel(id).await.map_err(|e| rpc_error(&e))?;
    Ok(transfer_info(&s))
}

/// The RPC view of a transfer.
pub fn transfer_info(s: &TransferStatus) -> TransferInfo {
    let r = &s.record;
    let (peer, group) = match r.peer {
        TransferPeer::Session(p) => (Some(p.to_string()), None),
        TransferPeer::Group(g) => (None, Some(g.to_string())),
    };
    TransferInfo {
        transfer_id: r.id.to_string(),
        file_id: r.manifest.id.to_string(),
        direction: if r.upload {
            Direction::Outgoing
        } else {
            Direction::Incoming
        },
        name: r.manifest.name.clone(),
        mime_type: r.manifest.mime.clone(),
        size: r.manifest.size,
        peer,
        group,
        path: r.path.clone(),
        state: match r.state {
            TransferState::Running => RpcState::Running,
            TransferState::Done => RpcState::Done,
            TransferState::Failed => RpcState::Failed,
            TransferState::Cancelled => RpcState::Cancelled,
        },
        bytes_done: s.bytes_done,
        total: r.manifest.size,
        chunks_done: s.chunks_done,
        chunks_total: s.chunks_total,
        rate: s.rate,
        error: r.error.clone(),
        error_kind: r.error_kind.map(|k| k.as_str().to_string()),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}
