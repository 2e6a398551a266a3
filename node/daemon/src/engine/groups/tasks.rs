//! Group work that arrived in pairwise sessions: answering a request for a key package,
//! adding a member whose key package came, joining from an accepted invitation, taking over
//! the owner key.

use super::*;

impl Engine {
    // --- From the network. ---

    /// Keeps a group control message from `from` as a task (see [`Self::group_tasks`]).
    pub(crate) fn stage_group_task(
        &self,
        b: &mut Batch,
        from: &SessionId,
        id: &MessageId,
        control: &[u8],
        now: u64,
    ) -> Result<(), EngineError> {
        // Refused here already when it does not decode: nothing to keep.
        let c = GroupControl::decode(control)?;
        let task = GroupTaskRecord {
            from: *from,
            accepted: !matches!(c, GroupControl::Invite { .. }),
            attempts: 0,
            next_attempt: now,
            control: Zeroizing::new(control.to_vec()),
        };
        b.put(
            Space::Groups,
            &Self::prefixed(TASK_PREFIX, &[id.as_bytes()]),
            &task.encode(),
        );
        Ok(())
    }

    /// The group tasks due at `now`.
    pub fn group_tasks(&self, now: u64) -> Result<Vec<GroupTask>, EngineError> {
        let mut out = Vec::new();
        for (k, v) in self.store.scan(Space::Groups, TASK_PREFIX)? {
            let t = GroupTaskRecord::decode(&v)?;
            if t.accepted && t.next_attempt <= now {
                out.push(GroupTask {
                    key: k,
                    from: t.from,
                    control: GroupControl::decode(&t.control)?,
                    attempts: t.attempts,
                });
            }
        }
        Ok(out)
    }

    /// The invitations waiting for the user: their IDs (the pairwise message that brought
    /// them), senders and contents.
    pub fn group_invites(&self) -> Result<Vec<(MessageId, SessionId, GroupControl)>, EngineError> {
        let mut out = Vec::new();
        for (k, v) in self.store.scan(Space::Groups, TASK_PREFIX)? {
            let t = GroupTaskRecord::decode(&v)?;
            let c = GroupControl::decode(&t.control)?;
            if !t.accepted && matches!(c, GroupControl::Invite { .. }) {
                out.push((MessageId::from_bytes(&k[TASK_PREFIX.len()..])?, t.from, c));
            }
        }
        Ok(out)
    }

    /// Accepts an invitation, by its ID or its group's: the group worker joins from its
    /// Welcome. Returns the group.
    pub fn accept_invite(
        &mut self,
        invite: &str,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<GroupId, EngineError> {
        let s = invite.trim().to_ascii_lowercase();
        for (k, v) in self.store.scan(Space::Groups, TASK_PREFIX)? {
            let mut t = GroupTaskRecord::decode(&v)?;
            let c = GroupControl::decode(&t.control)?;
            let GroupControl::Invite { group, .. } = &c else {
                continue;
            };
            if hex::encode(&k[TASK_PREFIX.len()..]) == s || group.to_string() == s {
                t.accepted = true;
                t.next_attempt = now;
                let mut b = Batch::default();
                b.put(Space::Groups, &k, &t.encode());
                self.store.write(b, rng)?;
                return Ok(*group);
            }
        }
        Err(EngineError::UnknownGroup(format!(
            "invitation {invite} (list them with getGroupInvites)"
        )))
    }

    /// A task could not run now (its blob was not found, a commit of ours is pending): it is
    /// tried again after a backoff, or dropped after `give_up_after` attempts.
    pub fn defer_group_task(
        &mut self,
        key: &[u8],
        now: u64,
        give_up_after: u32,
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        let Some(raw) = self.store.get(Space::Groups, key)? else {
            return Ok(());
        };
        let mut t = GroupTaskRecord::decode(&raw)?;
        let mut b = Batch::default();
        t.attempts = t.attempts.saturating_add(1);
        if t.attempts >= give_up_after {
            tracing::warn!(attempts = t.attempts, "a group task was given up");
            b.delete(Space::Groups, key);
        } else {
            t.next_attempt = crate::engine::retry_at(t.attempts, now);
            b.put(Space::Groups, key, &t.encode());
        }
        self.store.write(b, rng)?;
        Ok(())
    }

    /// Runs a task; `fetched` is its blob's content when it has one. Returns the group it
    /// changed, if any. A task that cannot run yet stays (see [`Self::defer_group_task`]);
    /// one that is refused is dropped with the reason.
    pub fn run_group_task(
        &mut self,
        task: &GroupTask,
        fetched: Option<&[u8]>,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Option<GroupId>, EngineError> {
        let bytes = |p: &Payload| -> Option<Vec<u8>> {
            match p {
                Payload::Inline(b) => Some(b.clone()),
                Payload::Blob(_) => fetched.map(<[u8]>::to_vec),
            }
        };
        let out = match &task.control {
            GroupControl::KeyPackageRequest { group, .. } => self
                .answer_key_package(task, *group, now, rng)
                .map(|()| None),
            GroupControl::KeyPackage { group, key_package } => {
                let kp = bytes(key_package).ok_or(EngineError::Group(GroupError::BadInput(
                    "the key package was not fetched".into(),
                )))?;
                self.add_with_key_package(task, *group, &kp, now, rng)
                    .map(Some)
            }
            GroupControl::Invite {
                group,
                name,
                admins,
                welcome,
            } => {
                let w = bytes(welcome).ok_or(EngineError::Group(GroupError::BadInput(
                    "the Welcome was not fetched".into(),
                )))?;
                self.join_from_invite(task, *group, name, admins, &w, now, rng)
                    .map(Some)
            }
            GroupControl::OwnerKey { group, seed } => {
                self.take_owner_key(task, *group, seed, rng).map(Some)
            }
        };
        match out {
            Err(EngineError::Store(e)) => Err(EngineError::Store(e)),
            Err(EngineError::PendingCommit(g)) => Err(EngineError::PendingCommit(g)),
            other => {
                // Done or refused: the task goes either way (a refusal is final).
                let mut b = Batch::default();
                b.delete(Space::Groups, &task.key);
                self.store.write(b, rng)?;
                other
            }
        }
    }

    pub(super) fn answer_key_package(
        &mut self,
        task: &GroupTask,
        group: GroupId,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        let from = task.from;
        self.with_mls(rng, |e, m, b, rng| {
            let kp = m.key_package().map_err(group_error)?;
            let inline = GroupControl::KeyPackage {
                group,
                key_package: Payload::Inline(kp.clone()),
            };
            let control = if e.control_fits(&inline) && kp.len() <= MAX_INLINE_LEN {
                inline
            } else {
                let r = BlobRef::random(kp.len(), rng)?;
                // Stored by the group outbox (ordered under the group's ID; we are no member).
                let mut holder = GroupRecord {
                    id: group,
                    name: String::new(),
                    admins: Vec::new(),
                    owner_seed: None,
                    state: GroupState::Left,
                    token: Zeroizing::new([0; 32]),
                    generation: 0,
                    previous: None,
                    access_pending: false,
                    created_at: now,
                    last_activity: now,
                    unread: 0,
                    next_local_seq: now.saturating_mul(1_000_000),
                    invited: Vec::new(),
                };
                e.stage_group_out(
                    b,
                    &mut holder,
                    GroupOutKind::BlobOnly,
                    Self::group_message_id(&kp),
                    Vec::new(),
                    Vec::new(),
                    Some((r.clone(), Zeroizing::new(kp))),
                    now,
                );
                GroupControl::KeyPackage {
                    group,
                    key_package: Payload::Blob(r),
                }
            };
            e.stage_send(
                b,
                &from,
                &control.encode(),
                ContentType::GroupControl,
                now,
                rng,
            )?;
            Ok(())
        })
    }

    pub(super) fn add_with_key_package(
        &mut self,
        task: &GroupTask,
        g: GroupId,
        kp: &[u8],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<GroupId, EngineError> {
        let mut rec = self.load_group(&g)?;
        self.require_admin(&rec)?;
        if !rec.invited.contains(&task.from) {
            return Err(EngineError::Group(GroupError::NotAllowed(format!(
                "{} sent a key package for a group it was not invited to",
                task.from.short()
            ))));
        }
        if self
            .store
            .get(Space::Groups, &self.group_prefix(PENDING_PREFIX, &g))?
            .is_some()
        {
            return Err(EngineError::PendingCommit(g.to_string()));
        }
        let from = task.from;
        self.with_mls(rng, |e, m, b, rng| {
            let mut group = Self::mls_group(m, &g)?;
            let commit = group.add(m, &[kp.to_vec()]).map_err(group_error)?;
            // The key package must be the sender's own.
            let added = vec![from];
            rec.invited.retain(|p| *p != from);
            e.stage_commit(b, &mut rec, commit, added, Vec::new(), now, rng)?;
            e.put_group(b, &rec);
            Ok(g)
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn join_from_invite(
        &mut self,
        task: &GroupTask,
        g: GroupId,
        name: &str,
        admins: &[SessionId],
        welcome: &[u8],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<GroupId, EngineError> {
        // A group we were in before (removed, left, or fallen behind and removed to be added
        // back): its messages stay, numbered on from where they were.
        let old = match self.load_group(&g) {
            Ok(rec) => Some(rec),
            Err(EngineError::UnknownGroup(_)) => None,
            Err(e) => return Err(e),
        };
        if let Some(rec) = &old
            && rec.state == GroupState::Active
            && self.behind_since(&g)?.is_none()
        {
            return Ok(g);
        }
        if !admins.contains(&task.from) {
            return Err(EngineError::Group(GroupError::NotAllowed(
                "an invitation from someone who is not an admin of the group".into(),
            )));
        }
        let me = self.me()?;
        self.with_mls(rng, |e, m, b, _| {
            if old.is_some() {
                m.forget(g.as_bytes()).map_err(group_error)?;
                e.stage_caught_up(b, &g);
                b.delete(Space::Groups, &e.group_prefix(PENDING_PREFIX, &g));
            }
            let group = m.join(welcome).map_err(group_error)?;
            if group.id() != g.as_bytes() {
                return Err(EngineError::Group(GroupError::Refused(
                    "the Welcome is for another group than the invitation names".into(),
                )));
            }
            let members = group.members();
            if !members.contains(&task.from) || !members.contains(&me) {
                return Err(EngineError::Group(GroupError::Refused(
                    "the inviter or we are not in the group the Welcome makes".into(),
                )));
            }
            let token = group.access_token(m).map_err(group_error)?;
            let mut rec = GroupRecord {
                id: g,
                name: name.to_string(),
                admins: admins.to_vec(),
                owner_seed: None,
                state: GroupState::Active,
                token,
                generation: group.epoch(),
                previous: None,
                access_pending: false,
                created_at: old.as_ref().map_or(now, |o| o.created_at),
                last_activity: now,
                unread: old.as_ref().map_or(0, |o| o.unread),
                next_local_seq: old.as_ref().map_or(0, |o| o.next_local_seq),
                invited: Vec::new(),
            };
            let line = if old.is_some() {
                format!("{} added you back", task.from.short())
            } else {
                format!("{} added you", task.from.short())
            };
            e.stage_group_line(
                b,
                &mut rec,
                Self::group_message_id(welcome),
                task.from,
                false,
                line,
                now,
            );
            e.put_group(b, &rec);
            Ok(g)
        })
    }

    pub(super) fn take_owner_key(
        &mut self,
        task: &GroupTask,
        g: GroupId,
        seed: &Zeroizing<[u8; 32]>,
        rng: &mut impl CryptoRng,
    ) -> Result<GroupId, EngineError> {
        let mut rec = self.load_group(&g)?;
        let owner = MlDsaSigningKey::from_seed(seed);
        if GroupAccess::group_of(&owner.public_key()) != g {
            return Err(EngineError::Group(GroupError::Refused(
                "the handed-over key is not the group's owner key".into(),
            )));
        }
        if !rec.admins.contains(&task.from) && !rec.admins.contains(&self.me()?) {
            return Err(EngineError::Group(GroupError::NotAllowed(
                "an owner key from someone who is not an admin".into(),
            )));
        }
        let me = self.me()?;
        rec.owner_seed = Some(seed.clone());
        if !rec.admins.contains(&me) {
            rec.admins.push(me);
        }
        let mut b = Batch::default();
        self.put_group(&mut b, &rec);
        self.store.write(b, rng)?;
        Ok(g)
    }
}
