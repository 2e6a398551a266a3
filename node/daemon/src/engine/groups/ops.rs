//! The user's group operations: create, invite, remove, rename, leave, send, list.

use super::*;

impl Engine {
    // --- Operations. ---

    /// Creates a group named `name` with us as its admin and owner, and asks each of
    /// `invitees` (who must have an open session with us) for a key package: they are added
    /// when their answer arrives.
    pub fn create_group(
        &mut self,
        name: &str,
        invitees: &[SessionId],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<GroupSummary, EngineError> {
        check_name(name)?;
        let me = self.me()?;
        let invitees = self.check_invitees(invitees, &[me])?;
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(pars_crypto::random_array(rng));
        let owner = MlDsaSigningKey::from_seed(&seed);
        let id = GroupAccess::group_of(&owner.public_key());
        let name = name.trim().to_string();
        self.with_mls(rng, |e, m, b, rng| {
            let group = m.create_group(&id.0).map_err(group_error)?;
            let token = group.access_token(m).map_err(group_error)?;
            let mut rec = GroupRecord {
                id,
                name: name.clone(),
                admins: vec![me],
                owner_seed: Some(seed),
                state: GroupState::Active,
                token,
                generation: group.epoch(),
                previous: None,
                access_pending: true,
                created_at: now,
                last_activity: now,
                unread: 0,
                next_local_seq: 0,
                invited: invitees.clone(),
            };
            e.stage_access_record(b, &mut rec, now, rng)?;
            for p in &invitees {
                let req = GroupControl::KeyPackageRequest {
                    group: id,
                    name: name.clone(),
                };
                e.stage_send(b, p, &req.encode(), ContentType::GroupControl, now, rng)?;
            }
            e.put_group(b, &rec);
            e.summary_of(&rec, Some(&group))
        })
    }

    pub(super) fn check_invitees(
        &self,
        ids: &[SessionId],
        present: &[SessionId],
    ) -> Result<Vec<SessionId>, EngineError> {
        let mut out: Vec<SessionId> = Vec::new();
        for id in ids {
            if present.contains(id) || out.contains(id) {
                continue;
            }
            match self.load_session(id)? {
                Some(s) if !s.closed => out.push(*id),
                _ => return Err(EngineError::UnknownSession(id.to_string())),
            }
        }
        Ok(out)
    }

    /// Asks each of `ids` (open sessions needed) for a key package to add them (admins).
    pub fn add_group_members(
        &mut self,
        g: &GroupId,
        ids: &[SessionId],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<GroupSummary, EngineError> {
        let mut rec = self.load_group(g)?;
        self.require_admin(&rec)?;
        self.with_mls(rng, |e, m, b, rng| {
            let group = Self::mls_group(m, g)?;
            let mut present = group.members();
            present.extend(rec.invited.iter().copied());
            let new = e.check_invitees(ids, &present)?;
            if new.is_empty() {
                return Err(EngineError::Group(GroupError::BadInput(
                    "everyone named is a member or invited already".into(),
                )));
            }
            for p in &new {
                let req = GroupControl::KeyPackageRequest {
                    group: *g,
                    name: rec.name.clone(),
                };
                e.stage_send(b, p, &req.encode(), ContentType::GroupControl, now, rng)?;
            }
            rec.invited.extend(new);
            e.put_group(b, &rec);
            e.summary_of(&rec, Some(&group))
        })
    }

    /// Commits the removal of `ids` (admins). The group moves on once the commit comes back
    /// from the mailbox first for its epoch.
    pub fn remove_group_members(
        &mut self,
        g: &GroupId,
        ids: &[SessionId],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<GroupSummary, EngineError> {
        let mut rec = self.load_group(g)?;
        self.require_admin(&rec)?;
        if self
            .store
            .get(Space::Groups, &self.group_prefix(PENDING_PREFIX, g))?
            .is_some()
        {
            return Err(EngineError::PendingCommit(g.to_string()));
        }
        // Invited, not added yet: just forget them.
        let before = rec.invited.len();
        rec.invited.retain(|p| !ids.contains(p));
        let uninvited = before != rec.invited.len();
        self.with_mls(rng, |e, m, b, rng| {
            let mut group = Self::mls_group(m, g)?;
            let members = group.members();
            let remove: Vec<SessionId> = ids
                .iter()
                .filter(|p| members.contains(p))
                .copied()
                .collect();
            if remove.is_empty() && !uninvited {
                return Err(EngineError::Group(GroupError::BadInput(
                    "none of them is a member or invited".into(),
                )));
            }
            if !remove.is_empty() {
                let commit = group.remove(m, &remove).map_err(group_error)?;
                e.stage_commit(b, &mut rec, commit, Vec::new(), remove, now, rng)?;
            }
            // Removed members lose their admin role with their membership.
            let admins = rec.admins.len();
            rec.admins.retain(|a| !ids.contains(a) || admins == 1);
            e.put_group(b, &rec);
            e.summary_of(&rec, Some(&group))
        })
    }

    /// Stages a pending commit: its outbox entry and what to do when it comes back.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn stage_commit(
        &self,
        b: &mut Batch,
        rec: &mut GroupRecord,
        commit: pars_group::Commit,
        added: Vec<SessionId>,
        removed: Vec<SessionId>,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        let pending = PendingCommit {
            hash: sha3_256(&[&commit.commit]),
            added,
            removed,
            welcome: commit.welcome.map(Zeroizing::new),
        };
        b.put(
            Space::Groups,
            &self.group_prefix(PENDING_PREFIX, &rec.id),
            &pending.encode(),
        );
        let id = Self::group_message_id(&commit.commit);
        let (item, blob) = Self::as_item(commit.commit, rng)?;
        self.stage_group_out(b, rec, GroupOutKind::Item, id, Vec::new(), item, blob, now);
        Ok(())
    }

    /// Renames the group (admins): a metadata message to every member.
    pub fn rename_group(
        &mut self,
        g: &GroupId,
        name: &str,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<GroupSummary, EngineError> {
        check_name(name)?;
        let mut rec = self.load_group(g)?;
        self.require_admin(&rec)?;
        rec.name = name.trim().to_string();
        let meta = GroupContent::Meta {
            sent_at: now,
            name: rec.name.clone(),
            admins: rec.admins.clone(),
        };
        self.with_mls(rng, |e, m, b, rng| {
            let mut group = Self::mls_group(m, g)?;
            e.stage_group_send(b, &mut rec, &mut group, m, &meta, Vec::new(), now, rng)?;
            e.put_group(b, &rec);
            e.summary_of(&rec, Some(&group))
        })
    }

    /// Makes members admins (admins): a metadata message tells every member, and each new
    /// admin gets the owner key over its pairwise session (to publish the access record of
    /// the epochs its changes start).
    pub fn add_group_admins(
        &mut self,
        g: &GroupId,
        ids: &[SessionId],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<GroupSummary, EngineError> {
        let mut rec = self.load_group(g)?;
        self.require_admin(&rec)?;
        self.with_mls(rng, |e, m, b, rng| {
            let mut group = Self::mls_group(m, g)?;
            let members = group.members();
            let mut new = Vec::new();
            for id in ids {
                if !members.contains(id) {
                    return Err(EngineError::Group(GroupError::BadInput(format!(
                        "{} is not a member of the group",
                        id.short()
                    ))));
                }
                if !rec.admins.contains(id) && !new.contains(id) {
                    new.push(*id);
                }
            }
            if new.is_empty() {
                return Err(EngineError::Group(GroupError::BadInput(
                    "everyone named is an admin already".into(),
                )));
            }
            rec.admins.extend(new.iter().copied());
            let meta = GroupContent::Meta {
                sent_at: now,
                name: rec.name.clone(),
                admins: rec.admins.clone(),
            };
            e.stage_group_send(b, &mut rec, &mut group, m, &meta, Vec::new(), now, rng)?;
            e.stage_owner_key(b, &rec, &new, now, rng)?;
            let line = format!(
                "You made {} admin",
                new.iter()
                    .map(SessionId::short)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let id = Self::group_message_id(
                &[&g.as_bytes()[..], b"admins", &now.to_be_bytes()].concat(),
            );
            e.stage_group_line(b, &mut rec, id, m.session_id(), true, line, now);
            e.put_group(b, &rec);
            e.summary_of(&rec, Some(&group))
        })
    }

    /// Leaves the group: the admins are asked to remove us, and nothing of the group is
    /// shown or sent from now on. The last admin hands the role (and the owner key) to the
    /// longest-standing other member first.
    pub fn leave_group(
        &mut self,
        g: &GroupId,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        let mut rec = self.load_group(g)?;
        if rec.state != GroupState::Active {
            return Err(EngineError::GroupInactive(g.to_string()));
        }
        let me = self.me()?;
        self.with_mls(rng, |e, m, b, rng| {
            let mut group = Self::mls_group(m, g)?;
            if rec.admins == [me] {
                if let Some(heir) = group.members().into_iter().find(|p| *p != me) {
                    rec.admins = vec![heir];
                    let meta = GroupContent::Meta {
                        sent_at: now,
                        name: rec.name.clone(),
                        admins: rec.admins.clone(),
                    };
                    e.stage_group_send(b, &mut rec, &mut group, m, &meta, Vec::new(), now, rng)?;
                    e.stage_owner_key(b, &rec, &[heir], now, rng)?;
                }
            } else {
                rec.admins.retain(|a| *a != me);
            }
            let leave = GroupContent::Leave { sent_at: now };
            e.stage_group_send(b, &mut rec, &mut group, m, &leave, Vec::new(), now, rng)?;
            rec.state = GroupState::Left;
            rec.owner_seed = None;
            e.put_group(b, &rec);
            Ok(())
        })
    }

    /// Encrypts and queues a text for the group: one store in its mailbox whatever its size.
    pub fn send_group_message(
        &mut self,
        g: &GroupId,
        text: &str,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<GroupMessage, EngineError> {
        if text.len() > MAX_GROUP_TEXT {
            return Err(EngineError::TooLarge {
                content: text.len(),
                max: MAX_GROUP_TEXT,
                initial: false,
            });
        }
        let content = GroupContent::Text {
            sent_at: now,
            text: text.to_string(),
        };
        let shown = text.as_bytes().to_vec();
        self.send_group_content(g, &content, ContentType::Text, shown, now, rng, |_| {})
    }

    /// Encrypts and queues `content` for the group, shown to the user as a message of type
    /// `content_type` with `shown` as its content, with `also`'s effects in the same batch.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::engine) fn send_group_content(
        &mut self,
        g: &GroupId,
        content: &GroupContent,
        content_type: ContentType,
        shown: Vec<u8>,
        now: u64,
        rng: &mut impl CryptoRng,
        also: impl FnOnce(&mut Batch),
    ) -> Result<GroupMessage, EngineError> {
        let mut rec = self.load_group(g)?;
        if rec.state != GroupState::Active {
            return Err(EngineError::GroupInactive(g.to_string()));
        }
        let me = self.me()?;
        self.with_mls(rng, |e, m, b, rng| {
            let mut group = Self::mls_group(m, g)?;
            let mls = group.send(m, &content.encode()).map_err(group_error)?;
            let id = Self::group_message_id(&mls);
            let (mkey, msg) =
                e.stage_group_message(b, &mut rec, id, me, true, content_type, now, shown, now);
            let (item, blob) = Self::as_item(mls, rng)?;
            e.stage_group_out(b, &mut rec, GroupOutKind::Item, id, mkey, item, blob, now);
            e.put_group(b, &rec);
            also(b);
            Ok(msg)
        })
    }

    pub(super) fn summary_of(
        &self,
        rec: &GroupRecord,
        group: Option<&Group>,
    ) -> Result<GroupSummary, EngineError> {
        let me = self.me()?;
        Ok(GroupSummary {
            id: rec.id,
            name: rec.name.clone(),
            members: match (rec.state, group) {
                (GroupState::Active, Some(g)) => g.members(),
                _ => Vec::new(),
            },
            admins: rec.admins.clone(),
            invited: rec.invited.clone(),
            state: rec.state,
            admin: rec.admins.contains(&me) && rec.state == GroupState::Active,
            epoch: group.map_or(0, Group::epoch),
            created_at: rec.created_at,
            behind_since: self.behind_since(&rec.id)?,
            last_activity: rec.last_activity,
            unread: rec.unread,
        })
    }

    /// Every group, most recently active first.
    pub fn groups(&mut self, rng: &mut impl CryptoRng) -> Result<Vec<GroupSummary>, EngineError> {
        let m = self.take_member(rng)?;
        let out = (|| {
            let mut out = Vec::new();
            for (_, v) in self.store.scan(Space::Groups, RECORD_PREFIX)? {
                let rec = GroupRecord::decode(&v)?;
                let group = m.load(rec.id.as_bytes()).map_err(group_error)?;
                out.push(self.summary_of(&rec, group.as_ref())?);
            }
            out.sort_by_key(|s| std::cmp::Reverse(s.last_activity));
            Ok(out)
        })();
        self.member = Some(m);
        out
    }

    /// Messages of a group with `local_time >= since`, oldest first, at most `limit`.
    pub fn group_messages(
        &self,
        g: &GroupId,
        since: u64,
        limit: usize,
    ) -> Result<Vec<GroupMessage>, EngineError> {
        self.load_group(g)?;
        let mut out = Vec::new();
        for (_, v) in self
            .store
            .scan(Space::Groups, &self.group_prefix(MESSAGE_PREFIX, g))?
        {
            let message = MessageRecord::decode(&v)?;
            if message.local_time >= since {
                out.push(GroupMessage { group: *g, message });
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}
