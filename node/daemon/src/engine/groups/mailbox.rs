//! What comes from a group mailbox (each item once, our own commits confirmed when they come
//! back first) and what goes to it (the group outbox).

use super::*;

impl Engine {
    /// Of `hashes` (items of the group's mailbox), the ones not processed yet.
    pub fn group_unseen(
        &self,
        g: &GroupId,
        hashes: &[[u8; 32]],
    ) -> Result<Vec<[u8; 32]>, EngineError> {
        let prefix = self.group_prefix(SEEN_PREFIX, g);
        let mut out = Vec::new();
        for h in hashes {
            if self
                .store
                .get(Space::Groups, &Self::prefixed(&prefix, &[h]))?
                .is_none()
            {
                out.push(*h);
            }
        }
        Ok(out)
    }

    pub(super) fn stage_seen(&self, b: &mut Batch, g: &GroupId, hash: &[u8; 32], now: u64) {
        let key = Self::prefixed(&self.group_prefix(SEEN_PREFIX, g), &[hash]);
        b.put(Space::Groups, &key, &now.to_be_bytes());
    }

    /// Processes one item of the group's mailbox (its MLS message, fetched if it was a blob),
    /// once: an item processed before is skipped, and what it changes is committed with the
    /// mark that it was processed.
    pub fn group_receive(
        &mut self,
        g: &GroupId,
        hash: &[u8; 32],
        mls: &[u8],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<GroupReceived, EngineError> {
        if self.group_unseen(g, &[*hash])?.is_empty() {
            return Ok(GroupReceived::Done("seen before"));
        }
        let mut rec = self.load_group(g)?;
        if rec.state != GroupState::Active {
            let mut b = Batch::default();
            self.stage_seen(&mut b, g, hash, now);
            self.store.write(b, rng)?;
            return Ok(GroupReceived::Done("not a member"));
        }
        let pending_key = self.group_prefix(PENDING_PREFIX, g);
        let pending = match self.store.get(Space::Groups, &pending_key)? {
            Some(raw) => Some(PendingCommit::decode(&raw)?),
            None => None,
        };
        let me = self.me()?;
        let result = self.with_mls(rng, |e, m, b, rng| {
            e.stage_seen(b, g, hash, now);
            let mut group = Self::mls_group(m, g)?;
            // Our own commit, back first for its epoch: it takes effect now.
            if let Some(p) = &pending
                && p.hash == sha3_256(&[mls])
            {
                group.confirm(m).map_err(group_error)?;
                b.delete(Space::Groups, &pending_key);
                e.stage_caught_up(b, g);
                let membership = !p.added.is_empty() || !p.removed.is_empty();
                if membership {
                    e.switch_token(&mut rec, &group, m)?;
                    e.stage_access_record(b, &mut rec, now, rng)?;
                }
                if let Some(w) = &p.welcome {
                    e.stage_invites(b, &mut rec, &p.added, w, now, rng)?;
                }
                e.follow_up(b, &mut rec, &mut group, m, None, now, rng)?;
                let line = describe(&me, &me, &p.added, &p.removed);
                let msg = e.stage_group_line(
                    b,
                    &mut rec,
                    Self::group_message_id(mls),
                    me,
                    true,
                    line,
                    now,
                );
                e.put_group(b, &rec);
                return Ok(GroupReceived::Message(msg));
            }
            let received = group.receive_checked(m, mls, &rec.admins);
            if received.is_ok() {
                // Of our epoch: we are not behind.
                e.stage_caught_up(b, g);
            }
            match received {
                Ok(pars_group::Received::Own) => {
                    e.put_group(b, &rec);
                    Ok(GroupReceived::Done("our own message"))
                }
                Ok(pars_group::Received::Message { sender, body }) => {
                    e.group_content(b, &mut rec, &mut group, m, sender, &body, mls, now, rng)
                }
                Ok(pars_group::Received::Commit {
                    by,
                    added,
                    removed,
                    removed_us,
                    ours_dropped,
                    ..
                }) => {
                    if ours_dropped {
                        b.delete(Space::Groups, &pending_key);
                    }
                    if removed_us {
                        rec.state = GroupState::Removed;
                        rec.owner_seed = None;
                    } else if !added.is_empty() || !removed.is_empty() {
                        e.switch_token(&mut rec, &group, m)?;
                    }
                    rec.admins.retain(|a| !removed.contains(a));
                    rec.invited.retain(|a| !added.contains(a));
                    if ours_dropped
                        && !removed_us
                        && let Some(p) = &pending
                    {
                        e.follow_up(b, &mut rec, &mut group, m, Some(p), now, rng)?;
                    }
                    let line = describe(&me, &by, &added, &removed);
                    let msg = e.stage_group_line(
                        b,
                        &mut rec,
                        Self::group_message_id(mls),
                        by,
                        false,
                        line,
                        now,
                    );
                    e.put_group(b, &rec);
                    Ok(GroupReceived::Message(msg))
                }
                // A stale commit or message (its epoch is past and its keys gone): skipped.
                Err(GroupError::WrongEpoch { message, group: at }) if message < at => {
                    e.put_group(b, &rec);
                    Ok(GroupReceived::Done("from an epoch already past"))
                }
                // Ahead of us: nothing is written here (see below).
                Err(GroupError::WrongEpoch { message, group: at }) => {
                    Err(EngineError::GroupBehind {
                        group: g.to_string(),
                        message,
                        at,
                    })
                }
                Err(e) => Err(group_error(e)),
            }
        });
        match result {
            Err(EngineError::GroupBehind { message, at, .. }) => {
                self.note_behind(g, message, at, now, rng)
            }
            // Refused (tampered, not from a member, malformed): the state is unchanged; the
            // item is marked processed so it is not tried again. Not so when our own group
            // state could not be read or the library failed: the item is not at fault and is
            // tried again once that is mended.
            Err(EngineError::Group(err))
                if !matches!(err, GroupError::Storage(_) | GroupError::Library(_)) =>
            {
                let mut b = Batch::default();
                self.stage_seen(&mut b, g, hash, now);
                self.store.write(b, rng)?;
                Err(EngineError::Group(err))
            }
            other => other,
        }
    }

    /// After a commit of ours came back or lost its epoch to another admin's: what waits is
    /// committed now, if we are still an admin. A lost commit is proposed again on top of the
    /// winner: the members it added are asked for a fresh key package (the one it used went
    /// with the lost Welcome); the ones it removed who are still in are removed by a new
    /// commit, with the members who left while a commit of ours was pending.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn follow_up(
        &self,
        b: &mut Batch,
        rec: &mut GroupRecord,
        group: &mut Group,
        m: &Member,
        lost: Option<&PendingCommit>,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        let me = self.me()?;
        let members = group.members();
        let leaving_prefix = self.group_prefix(LEAVING_PREFIX, &rec.id);
        let mut remove: Vec<SessionId> = Vec::new();
        for (k, _) in self.store.scan(Space::Groups, &leaving_prefix)? {
            let who = k
                .get(leaving_prefix.len()..)
                .and_then(|b| SessionId::from_bytes(b).ok());
            match who {
                Some(p) if members.contains(&p) && rec.state == GroupState::Active => {
                    remove.push(p)
                }
                _ => {
                    b.delete(Space::Groups, &k);
                }
            }
        }
        if !rec.admins.contains(&me) || rec.state != GroupState::Active {
            return Ok(());
        }
        let (lost_added, lost_removed) = lost.map_or((&[][..], &[][..]), |p| {
            (p.added.as_slice(), p.removed.as_slice())
        });
        for a in lost_added {
            if members.contains(a) {
                continue;
            }
            if self.load_session(a)?.is_some_and(|s| !s.closed) {
                let req = GroupControl::KeyPackageRequest {
                    group: rec.id,
                    name: rec.name.clone(),
                };
                self.stage_send(b, a, &req.encode(), ContentType::GroupControl, now, rng)?;
                if !rec.invited.contains(a) {
                    rec.invited.push(*a);
                }
            }
        }
        for r in lost_removed {
            if members.contains(r) && !remove.contains(r) {
                remove.push(*r);
            }
        }
        if !remove.is_empty() {
            let commit = group.remove(m, &remove).map_err(group_error)?;
            self.stage_commit(b, rec, commit, Vec::new(), remove, now, rng)?;
        }
        Ok(())
    }

    pub(super) fn switch_token(
        &self,
        rec: &mut GroupRecord,
        group: &Group,
        m: &Member,
    ) -> Result<(), EngineError> {
        let token = group.access_token(m).map_err(group_error)?;
        let old = std::mem::replace(&mut rec.token, token);
        rec.previous = Some((old, rec.generation));
        rec.generation = group.epoch();
        Ok(())
    }

    /// Stages the invitations of the members a confirmed commit added: the Welcome (as a blob
    /// when it does not fit a pairwise message) and an `Invite` to each over its session.
    pub(super) fn stage_invites(
        &self,
        b: &mut Batch,
        rec: &mut GroupRecord,
        added: &[SessionId],
        welcome: &[u8],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        let inline = Payload::Inline(welcome.to_vec());
        let probe = GroupControl::Invite {
            group: rec.id,
            name: rec.name.clone(),
            admins: rec.admins.clone(),
            welcome: inline.clone(),
        };
        let payload = if welcome.len() <= MAX_INLINE_LEN && self.control_fits(&probe) {
            inline
        } else {
            let r = BlobRef::random(welcome.len(), rng)?;
            self.stage_group_out(
                b,
                rec,
                GroupOutKind::BlobOnly,
                Self::group_message_id(welcome),
                Vec::new(),
                Vec::new(),
                Some((r.clone(), Zeroizing::new(welcome.to_vec()))),
                now,
            );
            Payload::Blob(r)
        };
        for p in added {
            let invite = GroupControl::Invite {
                group: rec.id,
                name: rec.name.clone(),
                admins: rec.admins.clone(),
                welcome: payload.clone(),
            };
            if self.load_session(p)?.is_some_and(|s| !s.closed) {
                self.stage_send(b, p, &invite.encode(), ContentType::GroupControl, now, rng)?;
            }
        }
        Ok(())
    }

    /// An application message of the group.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn group_content(
        &self,
        b: &mut Batch,
        rec: &mut GroupRecord,
        group: &mut Group,
        m: &Member,
        sender: SessionId,
        body: &[u8],
        mls: &[u8],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<GroupReceived, EngineError> {
        let id = Self::group_message_id(mls);
        let content = GroupContent::decode(body)
            .map_err(|e| EngineError::Group(GroupError::Malformed(e.to_string())))?;
        let out = match content {
            GroupContent::Text { sent_at, text } => {
                let (_, msg) = self.stage_group_message(
                    b,
                    rec,
                    id,
                    sender,
                    false,
                    ContentType::Text,
                    sent_at,
                    text.into_bytes(),
                    now,
                );
                GroupReceived::Message(msg)
            }
            GroupContent::File { sent_at, manifest } => {
                let content = manifest.encode().to_vec();
                let from = TransferPeer::Group(rec.id);
                self.stage_file_offer(b, from, id, &content, now)?;
                let (_, msg) = self.stage_group_message(
                    b,
                    rec,
                    id,
                    sender,
                    false,
                    ContentType::File,
                    sent_at,
                    content,
                    now,
                );
                GroupReceived::Message(msg)
            }
            GroupContent::Meta { name, admins, .. } => {
                if !rec.admins.contains(&sender) {
                    return Err(EngineError::Group(GroupError::NotAllowed(format!(
                        "{} changed the group's name or admins without being an admin",
                        sender.short()
                    ))));
                }
                let me = self.me()?;
                let mut lines = Vec::new();
                if name != rec.name {
                    lines.push(format!("{} renamed the group to {name}", sender.short()));
                }
                let made: Vec<String> = admins
                    .iter()
                    .filter(|a| !rec.admins.contains(a))
                    .map(|a| if *a == me { "you".into() } else { a.short() })
                    .collect();
                if !made.is_empty() {
                    lines.push(format!("{} made {} admin", sender.short(), made.join(", ")));
                }
                rec.name = name;
                rec.admins = admins;
                if !lines.is_empty() {
                    let line = lines.join("; ");
                    let msg = self.stage_group_line(b, rec, id, sender, false, line, now);
                    GroupReceived::Message(msg)
                } else {
                    GroupReceived::Done("group metadata")
                }
            }
            GroupContent::Leave { .. } => {
                rec.admins.retain(|a| *a != sender);
                let me = self.me()?;
                let pending = self
                    .store
                    .get(Space::Groups, &self.group_prefix(PENDING_PREFIX, &rec.id))?
                    .is_some();
                // An admin commits the removal of who left: now, or after the commit of ours
                // that is pending (one commit at a time).
                if rec.admins.contains(&me) && group.members().contains(&sender) {
                    if pending {
                        let key = Self::prefixed(
                            &self.group_prefix(LEAVING_PREFIX, &rec.id),
                            &[sender.as_bytes()],
                        );
                        b.put(Space::Groups, &key, &now.to_be_bytes());
                    } else {
                        let commit = group.remove(m, &[sender]).map_err(group_error)?;
                        self.stage_commit(b, rec, commit, Vec::new(), vec![sender], now, rng)?;
                    }
                }
                let line = format!("{} left", sender.short());
                let msg = self.stage_group_line(b, rec, id, sender, false, line, now);
                GroupReceived::Message(msg)
            }
        };
        self.put_group(b, rec);
        Ok(out)
    }

    // --- The group outbox. ---

    /// The access tokens of every group we are in (and of groups we just left, whose last
    /// messages are still to be stored).
    pub fn group_access(&self) -> Result<Vec<GroupAccessKeys>, EngineError> {
        let mut out = Vec::new();
        for (_, v) in self.store.scan(Space::Groups, RECORD_PREFIX)? {
            let rec = GroupRecord::decode(&v)?;
            out.push(GroupAccessKeys {
                group: rec.id,
                token: AccessToken(*rec.token),
                previous: rec.previous.as_ref().map(|(t, _)| AccessToken(**t)),
            });
        }
        Ok(out)
    }

    /// The groups whose mailbox we read: the ones we are in.
    pub fn active_groups(&self) -> Result<Vec<GroupAccessKeys>, EngineError> {
        let mut out = Vec::new();
        for (_, v) in self.store.scan(Space::Groups, RECORD_PREFIX)? {
            let rec = GroupRecord::decode(&v)?;
            if rec.state == GroupState::Active {
                out.push(GroupAccessKeys {
                    group: rec.id,
                    token: AccessToken(*rec.token),
                    previous: rec.previous.as_ref().map(|(t, _)| AccessToken(**t)),
                });
            }
        }
        Ok(out)
    }

    /// The group outbox, every group's entries in order, with their keys.
    pub fn group_outbox(&self) -> Result<Vec<(Vec<u8>, GroupOutboxRecord)>, EngineError> {
        let mut out = Vec::new();
        for (k, v) in self.store.scan(Space::Groups, OUTBOX_PREFIX)? {
            out.push((k, GroupOutboxRecord::decode(&v)?));
        }
        Ok(out)
    }

    /// Records how group outbox entries fared, in one commit.
    pub fn record_group_deliveries(
        &mut self,
        outcomes: &[GroupDelivered],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        let mut b = Batch::default();
        for o in outcomes {
            let key = match o {
                GroupDelivered::Stored { key, .. }
                | GroupDelivered::Failed { key, .. }
                | GroupDelivered::Retry { key } => key,
            };
            let Some(raw) = self.store.get(Space::Groups, key)? else {
                continue;
            };
            let mut out = GroupOutboxRecord::decode(&raw)?;
            if let GroupDelivered::Retry { .. } = o {
                out.attempts = out.attempts.saturating_add(1);
                out.next_attempt = crate::engine::retry_at(out.attempts, now);
                b.put(Space::Groups, key, &out.encode());
                continue;
            }
            b.delete(Space::Groups, key);
            if out.kind == GroupOutKind::Access
                && let Ok(mut rec) = self.load_group(&out.group)
            {
                rec.access_pending = false;
                self.put_group(&mut b, &rec);
            }
            if !out.message_key.is_empty()
                && let Some(raw) = self.store.get(Space::Groups, &out.message_key)?
            {
                let mut msg = MessageRecord::decode(&raw)?;
                match o {
                    GroupDelivered::Stored { copies, .. } => {
                        msg.delivery = Delivery::Stored(*copies)
                    }
                    GroupDelivered::Failed { reason, .. } => {
                        msg.delivery = Delivery::Failed;
                        msg.error = Some(reason.clone());
                    }
                    GroupDelivered::Retry { .. } => {}
                }
                b.put(Space::Groups, &out.message_key, &msg.encode());
            }
        }
        if !b.is_empty() {
            self.store.write(b, rng)?;
        }
        Ok(())
    }
}
