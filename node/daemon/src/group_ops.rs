//! The group methods of the RPC, over the [`Core`] and the network seam: arguments parsed
//! and checked, sessions opened with new members, the RPC views of groups and invitations.

use crate::app::Core;
use crate::engine::{GroupMessage, GroupSummary};
use crate::net::NetSlot;
use crate::ops::{self, rpc_error};
use pars_crypto::SessionId;
use pars_rpc::types::{GroupInfo, GroupInviteInfo, GroupState as RpcGroupState, MessageInfo};
use pars_rpc::{ErrorCode, RpcError};
use pars_wire::GroupId;
use pars_wire::group::GroupControl;
use pars_wire::records::GroupState;
use std::time::Duration;

/// How long `joinGroup` waits for the join.
pub const JOIN_WAIT: Duration = Duration::from_secs(30);

/// Parses a group argument: the 64-hex group ID.
pub fn parse_group(s: &str) -> Result<GroupId, RpcError> {
    s.parse::<GroupId>().map_err(|_| {
        RpcError::new(
            ErrorCode::InvalidInput,
            format!(
                "'{}' is not a group ID (64 hex characters); list them with getGroups",
                s.trim()
            ),
        )
    })
}

/// Parses member arguments (Session IDs), at least one.
pub fn parse_members(members: &[String]) -> Result<Vec<SessionId>, RpcError> {
    if members.is_empty() {
        return Err(RpcError::new(
            ErrorCode::InvalidInput,
            "name at least one member",
        ));
    }
    members
        .iter()
        .map(|m| {
            m.trim().parse::<SessionId>().map_err(|e| {
                RpcError::new(
                    ErrorCode::InvalidInput,
                    format!("'{}' is not a Session ID: {e}", m.trim()),
                )
            })
        })
        .collect()
}

/// Opens a session with each member that has none (their daemons answer the group's
/// requests over it).
pub async fn open_sessions(core: &Core, net: &NetSlot, ids: &[SessionId]) -> Result<(), RpcError> {
    let me = core.session_id().await.map_err(|e| rpc_error(&e))?;
    for id in ids {
        if *id == me {
            continue;
        }
        ops::open_session(core, net, *id).await?;
    }
    Ok(())
}

/// The RPC view of a group.
pub fn group_info(g: &GroupSummary) -> GroupInfo {
    let ids = |v: &[SessionId]| v.iter().map(ToString::to_string).collect();
    GroupInfo {
        group_id: g.id.to_string(),
        name: g.name.clone(),
        members: ids(&g.members),
        admins: ids(&g.admins),
        invited: ids(&g.invited),
        state: match g.state {
            GroupState::Active => RpcGroupState::Active,
            GroupState::Left => RpcGroupState::Left,
            GroupState::Removed => RpcGroupState::Removed,
        },
        admin: g.admin,
        epoch: g.epoch,
        created_at: g.created_at,
        last_activity: g.last_activity,
        unread: g.unread,
        behind_since: g.behind_since,
    }
}

/// The RPC view of a group message.
pub fn group_message_info(local: &SessionId, m: &GroupMessage) -> MessageInfo {
    let mut info = ops::message_info(local, &m.message);
    info.session = m.group.to_string();
    info.group = Some(m.group.to_string());
    info
}

/// The RPC views of the invitations waiting.
pub async fn invites(core: &Core) -> Result<Vec<GroupInviteInfo>, RpcError> {
    let list = core.group_invites().await.map_err(|e| rpc_error(&e))?;
    Ok(list
        .into_iter()
        .filter_map(|(id, from, c)| match c {
            GroupControl::Invite {
                group,
                name,
                admins,
                ..
            } => Some(GroupInviteInfo {
                invite: id.to_string(),
                group_id: group.to_string(),
                name,
                from: from.to_string(),
                admins: admins.iter().map(ToString::to_string).collect(),
            }),
            _ => None,
        })
        .collect())
}

/// The group `g` as listed now.
pub async fn find_group(core: &Core, g: GroupId) -> Result<Option<GroupSummary>, RpcError> {
    Ok(core
        .groups()
        .await
        .map_err(|e| rpc_error(&e))?
        .into_iter()
        .find(|s| s.id == g))
}

/// Accepts an invitation and waits up to [`JOIN_WAIT`] for the join.
pub async fn join(core: &Core, invite: &str) -> Result<GroupInfo, RpcError> {
    let g = core
        .accept_invite(invite.to_string())
        .await
        .map_err(|e| rpc_error(&e))?;
    let deadline = tokio::time::Instant::now() + JOIN_WAIT;
    loop {
        if let Some(s) = find_group(core, g).await?
            && s.state == GroupState::Active
        {
            return Ok(group_info(&s));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(RpcError::new(
                ErrorCode::Timeout,
                format!(
                    "accepted; the group's Welcome is not fetched yet (the join goes on in the background: see getGroups for {g})"
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
