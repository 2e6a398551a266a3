//! Group mailbox access on the node: the access records of a group held here, and what a
//! member's token gives (`pars_wire::swarm::GroupAccess`).

use super::MailboxBackend;
use super::store::store_error;
use pars_store::StoreError;
use pars_wire::GroupId;
use pars_wire::swarm::{
    AccessToken, ErrorCode, GroupAccess, MAX_ACCESS_GENERATIONS, Mailbox, SwarmResponse,
    peek_access,
};

/// An access record as this node keeps it: its generation, its token hash, and its sequence
/// number here (what an older token may read ends there).
#[derive(Clone, Copy, Debug)]
pub(super) struct AccessRecord {
    pub(super) generation: u64,
    pub(super) token_hash: [u8; 32],
    pub(super) seq: u64,
}

/// What a member's token gives.
#[derive(Clone, Copy, Debug)]
pub(super) enum Access {
    /// The newest record's token: store, retrieve, wait.
    Current,
    /// An older record's token: retrieve what was stored before `until_seq`.
    Earlier {
        /// The token's generation.
        generation: u64,
        /// The newest generation.
        current: u64,
        /// Where what it may read ends.
        until_seq: u64,
    },
}

/// Decodes and checks an access record for group `g`.
pub(super) fn valid_access_record(g: GroupId, payload: &[u8]) -> Result<GroupAccess, String> {
    let record = GroupAccess::decode(payload).map_err(|e| format!("not an access record: {e}"))?;
    if record.group != g {
        return Err("the access record is another group's".into());
    }
    record
        .verify()
        .map_err(|e| format!("the access record is not the group owner's: {e}"))?;
    Ok(record)
}

/// The live access records of group `g` here, by generation (the newest
/// [`MAX_ACCESS_GENERATIONS`]).
pub(super) fn access_records<S: MailboxBackend>(
    store: &S,
    g: GroupId,
    now_ms: u64,
) -> Result<Vec<AccessRecord>, StoreError> {
    let mailbox = Mailbox::GroupAccess(g);
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = store.get_since(&mailbox, after, MAX_ACCESS_GENERATIONS, usize::MAX, now_ms)?;
        for m in &page.items {
            after = after.max(m.seq);
            if let Some((generation, token_hash)) = peek_access(&m.payload) {
                out.push(AccessRecord {
                    generation,
                    token_hash,
                    seq: m.seq,
                });
            }
        }
        if !page.more || page.items.is_empty() {
            break;
        }
    }
    out.sort_by_key(|r| r.generation);
    out.dedup_by_key(|r| r.generation);
    let skip = out.len().saturating_sub(MAX_ACCESS_GENERATIONS);
    out.drain(..skip);
    Ok(out)
}

/// What `token` gives in group `g`'s mailbox here, or the refusal.
pub(super) fn access_of<S: MailboxBackend>(
    store: &S,
    g: GroupId,
    token: &AccessToken,
    now_ms: u64,
) -> Result<Access, SwarmResponse> {
    let records = access_records(store, g, now_ms).map_err(store_error)?;
    let Some(current) = records.last() else {
        return Err(SwarmResponse::error(
            ErrorCode::Unauthorized,
            0,
            "this node holds no access record of the group: its owner has not set one here, or \
             it expired",
        ));
    };
    let hash = token.hash();
    let Some(i) = records.iter().position(|r| r.token_hash == hash) else {
        return Err(SwarmResponse::error(
            ErrorCode::Unauthorized,
            0,
            "not a member's access token of this group (removed, or a token older than the \
             records this node keeps)",
        ));
    };
    match records.get(i + 1) {
        None => Ok(Access::Current),
        Some(next) => Ok(Access::Earlier {
            generation: records[i].generation,
            current: current.generation,
            until_seq: next.seq,
        }),
    }
}
