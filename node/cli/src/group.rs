//! `parsctl group …`: groups over the daemon's group methods.

use crate::error::CliError;
use crate::output;
use crate::time::format_utc;
use clap::Subcommand;
use jsonrpsee::http_client::HttpClient;
use pars_rpc::SessionApiClient;
use pars_rpc::types::{GroupInfo, GroupInviteInfo, GroupState};

/// The group commands.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group with you as its admin, and invite members (each gets an invitation to
    /// accept once their daemon has answered).
    Create {
        /// The group's name.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// Session IDs to invite.
        #[arg(long, value_name = "SESSION_ID", num_args = 1.., required = true)]
        members: Vec<String>,
    },
    /// Invite more members (admins).
    Add {
        /// The group ID.
        #[arg(long, value_name = "GROUP_ID")]
        group: String,
        /// Session IDs to invite.
        #[arg(long, value_name = "SESSION_ID", num_args = 1.., required = true)]
        members: Vec<String>,
    },
    /// Remove members (admins): they can read nothing sent afterwards.
    Remove {
        /// The group ID.
        #[arg(long, value_name = "GROUP_ID")]
        group: String,
        /// Session IDs to remove.
        #[arg(long, value_name = "SESSION_ID", num_args = 1.., required = true)]
        members: Vec<String>,
    },
    /// Make members admins (admins): they may add, remove and rename too.
    Admin {
        /// The group ID.
        #[arg(long, value_name = "GROUP_ID")]
        group: String,
        /// Session IDs of members to make admins.
        #[arg(long, value_name = "SESSION_ID", num_args = 1.., required = true)]
        members: Vec<String>,
    },
    /// Rename a group (admins).
    Rename {
        /// The group ID.
        #[arg(long, value_name = "GROUP_ID")]
        group: String,
        /// The new name.
        #[arg(long, value_name = "NAME")]
        name: String,
    },
    /// Leave a group.
    Leave {
        /// The group ID.
        #[arg(long, value_name = "GROUP_ID")]
        group: String,
    },
    /// Send a text to a group.
    Send {
        /// The group ID.
        #[arg(long, value_name = "GROUP_ID")]
        group: String,
        /// The text.
        #[arg(long, value_name = "TEXT")]
        message: String,
    },
    /// List your groups.
    List,
    /// Show a group's messages.
    Messages {
        /// The group ID.
        #[arg(long, value_name = "GROUP_ID")]
        group: String,
        /// At most this many messages.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// List the invitations waiting to be accepted.
    Invites,
    /// Accept an invitation (its ID from `group invites`, or the group ID).
    Join {
        /// The invitation.
        #[arg(long, value_name = "INVITE")]
        invite: String,
    },
}

fn state(s: GroupState) -> &'static str {
    match s {
        GroupState::Active => "member",
        GroupState::Left => "left",
        GroupState::Removed => "removed",
    }
}

fn group(g: &GroupInfo) {
    println!("group {}", g.group_id);
    println!("  name:    {}", g.name);
    println!(
        "  you:     {}{}",
        state(g.state),
        if g.admin { ", admin" } else { "" }
    );
    println!("  epoch:   {}", g.epoch);
    println!("  members: {}", g.members.len());
    for m in &g.members {
        let admin = if g.admins.contains(m) { " (admin)" } else { "" };
        println!("    {m}{admin}");
    }
    if !g.invited.is_empty() {
        println!("  invited, waiting for their daemon: {}", g.invited.len());
        for m in &g.invited {
            println!("    {m}");
        }
    }
}

fn groups(list: &[GroupInfo]) {
    if list.is_empty() {
        println!("no groups");
    }
    for g in list {
        println!(
            "{}  {}  {} members  {}{}  {} unread  last {}",
            g.group_id,
            g.name,
            g.members.len(),
            state(g.state),
            if g.admin { ", admin" } else { "" },
            g.unread,
            format_utc(g.last_activity)
        );
        if let Some(since) = g.behind_since {
            println!(
                "  behind since {}: changes to this group are out of reach; ask an admin to \
                 remove you and add you again",
                format_utc(since)
            );
        }
    }
}

fn invites(list: &[GroupInviteInfo]) {
    if list.is_empty() {
        println!("no invitations");
    }
    for i in list {
        println!(
            "invitation {} to \"{}\" ({}) from {}",
            i.invite, i.name, i.group_id, i.from
        );
    }
    if !list.is_empty() {
        println!("accept one with: parsctl group join --invite <ID>");
    }
}

/// Runs a group command against the daemon.
pub async fn run(
    c: &HttpClient,
    json: bool,
    cmd: GroupCommand,
    err: impl Fn(jsonrpsee::core::ClientError) -> CliError,
) -> Result<(), CliError> {
    match cmd {
        GroupCommand::Create { name, members } => {
            let g = c.create_group(name, members).await.map_err(err)?;
            output::print(json, &g, group);
        }
        GroupCommand::Add { group: id, members } => {
            let g = c.add_group_members(id, members).await.map_err(err)?;
            output::print(json, &g, group);
        }
        GroupCommand::Remove { group: id, members } => {
            let g = c.remove_group_members(id, members).await.map_err(err)?;
            output::print(json, &g, group);
        }
        GroupCommand::Admin { group: id, members } => {
            let g = c.add_group_admins(id, members).await.map_err(err)?;
            output::print(json, &g, group);
        }
        GroupCommand::Rename { group: id, name } => {
            let g = c.rename_group(id, name).await.map_err(err)?;
            output::print(json, &g, group);
        }
        GroupCommand::Leave { group: id } => {
            c.leave_group(id).await.map_err(err)?;
            output::print(json, &serde_json::json!({"ok": true}), |_| {
                println!("left the group")
            });
        }
        GroupCommand::Send { group: id, message } => {
            if message.is_empty() {
                return Err(CliError::BadInput("the message is empty".into()));
            }
            let r = c.send_group_message(id, message).await.map_err(err)?;
            output::print(json, &r, output::sent);
        }
        GroupCommand::List => {
            let g = c.get_groups().await.map_err(err)?;
            output::print(json, &g, |g| groups(g));
        }
        GroupCommand::Messages { group: id, limit } => {
            let m = c
                .get_messages(Some(id), None, Some(limit))
                .await
                .map_err(err)?;
            output::print(json, &m, |m| output::messages(m));
        }
        GroupCommand::Invites => {
            let i = c.get_group_invites().await.map_err(err)?;
            output::print(json, &i, |i| invites(i));
        }
        GroupCommand::Join { invite } => {
            let g = c.join_group(invite).await.map_err(err)?;
            output::print(json, &g, group);
        }
    }
    Ok(())
}
