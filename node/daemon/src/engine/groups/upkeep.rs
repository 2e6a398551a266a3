//! Keeping a group usable over time: the access record renewed before the swarm forgets it,
//! and a member that has fallen behind (its group's mailbox holds items of an epoch it cannot
//! reach: the change that led there expired or was lost) told so, by the group's name, with
//! what to do.

use super::*;

/// How often an admin holding the owner key signs the group's access record again. The
/// swarm keeps one for [`pars_wire::swarm::MAX_TTL_MS`] (30 days): a group quiet for longer
/// would otherwise find its mailbox closed to every member.
pub const RENEW_ACCESS_SECS: u64 = 7 * 24 * 3600;

/// How long items of an epoch we have not reached may arrive, with nothing of our epoch
/// processed meanwhile, before the user is told the group has moved on without them.
pub const BEHIND_WARN_SECS: u64 = 600;

/// Whom to ask to be added again: the group's admins other than `me`, by short ID.
fn ask_admins(rec: &GroupRecord, me: SessionId) -> String {
    let admins: Vec<String> = rec
        .admins
        .iter()
        .filter(|a| **a != me)
        .map(SessionId::short)
        .collect();
    if admins.is_empty() {
        "an admin".to_string()
    } else {
        format!("an admin ({})", admins.join(", "))
    }
}

/// The behind mark: since when, and whether the user was told.
struct Behind {
    since: u64,
    told: bool,
}

impl Behind {
    fn encode(&self) -> [u8; 9] {
        let mut out = [0u8; 9];
        out[..8].copy_from_slice(&self.since.to_be_bytes());
        out[8] = u8::from(self.told);
        out
    }

    fn decode(raw: &[u8]) -> Option<Self> {
        let since = u64::from_be_bytes(raw.get(..8)?.try_into().ok()?);
        Some(Self {
            since,
            told: raw.get(8).is_some_and(|t| *t != 0),
        })
    }
}

impl Engine {
    /// Signs again the access record of every group whose record is due (see
    /// [`RENEW_ACCESS_SECS`]) and where we hold the owner key; they join the group outbox.
    /// Returns how many were queued.
    pub fn renew_access_records(
        &mut self,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<usize, EngineError> {
        let mut b = Batch::default();
        let mut renewed = 0;
        for (_, v) in self.store.scan(Space::Groups, RECORD_PREFIX)? {
            let mut rec = GroupRecord::decode(&v)?;
            if rec.state != GroupState::Active || rec.owner_seed.is_none() || rec.access_pending {
                continue;
            }
            let last = self
                .store
                .get(Space::Groups, &self.group_prefix(ACCESS_PREFIX, &rec.id))?
                .and_then(|raw| Some(u64::from_be_bytes(raw.get(..8)?.try_into().ok()?)))
                // Groups from before renewals were kept: renewed now.
                .unwrap_or(0);
            if now.saturating_sub(last) < RENEW_ACCESS_SECS {
                continue;
            }
            self.stage_access_record(&mut b, &mut rec, now, rng)?;
            self.put_group(&mut b, &rec);
            renewed += 1;
        }
        if renewed > 0 {
            self.store.write(b, rng)?;
        }
        Ok(renewed)
    }

    /// Since when the group has been behind, if it is.
    pub(super) fn behind_since(&self, g: &GroupId) -> Result<Option<u64>, EngineError> {
        Ok(self
            .store
            .get(Space::Groups, &self.group_prefix(BEHIND_PREFIX, g))?
            .and_then(|raw| Behind::decode(&raw))
            .map(|b| b.since))
    }

    /// Clears the behind mark: something of our epoch was processed (or we joined afresh).
    pub(super) fn stage_caught_up(&self, b: &mut Batch, g: &GroupId) {
        b.delete(Space::Groups, &self.group_prefix(BEHIND_PREFIX, g));
    }

    /// An item of epoch `message` arrived while we are at `at`: marks the group behind (the
    /// item is left unprocessed, so a later read can still take it once we get there). Once
    /// the mark is [`BEHIND_WARN_SECS`] old, the user is told, once, with a line in the
    /// group.
    pub(super) fn note_behind(
        &mut self,
        g: &GroupId,
        message: u64,
        at: u64,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<GroupReceived, EngineError> {
        let key = self.group_prefix(BEHIND_PREFIX, g);
        let mark = self
            .store
            .get(Space::Groups, &key)?
            .and_then(|raw| Behind::decode(&raw));
        let mut b = Batch::default();
        let out = match mark {
            None => {
                tracing::info!(group = %g, at, message, "group items of an epoch not reached yet");
                b.put(
                    Space::Groups,
                    &key,
                    &Behind {
                        since: now,
                        told: false,
                    }
                    .encode(),
                );
                GroupReceived::Behind(None)
            }
            Some(m) if !m.told && now.saturating_sub(m.since) >= BEHIND_WARN_SECS => {
                let mut rec = self.load_group(g)?;
                let me = self.me()?;
                let ask = ask_admins(&rec, me);
                let line = format!(
                    "You missed changes to \u{201c}{}\u{201d} (it is at epoch {message}, you at \
                     {at}): they are no longer in its mailbox, so you cannot read it any more. \
                     Ask {ask} to remove you and add you again.",
                    rec.name
                );
                tracing::warn!(group = %g, at, message, "a group moved on without us; the user is told");
                let id = Self::group_message_id(
                    &[&g.as_bytes()[..], b"behind", &m.since.to_be_bytes()].concat(),
                );
                let msg = self.stage_group_line(&mut b, &mut rec, id, me, false, line, now);
                self.put_group(&mut b, &rec);
                b.put(
                    Space::Groups,
                    &key,
                    &Behind {
                        since: m.since,
                        told: true,
                    }
                    .encode(),
                );
                GroupReceived::Behind(Some(msg))
            }
            Some(_) => GroupReceived::Behind(None),
        };
        if !b.is_empty() {
            self.store.write(b, rng)?;
        }
        Ok(out)
    }

    /// Drops the group state records `old` that an earlier version wrote in a format this
    /// one cannot read (see [`Member::is_earlier_format`]), and marks every active group left
    /// without a readable state as removed, with a line in it saying so and whom to ask to
    /// be added again (history is kept; being added again joins afresh). One batch: a crash
    /// leaves the records in place and this runs again. `m` is the member restored from the
    /// records that remain.
    pub(super) fn drop_earlier_format(
        &mut self,
        m: &Member,
        old: &[Vec<u8>],
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        let mut b = Batch::default();
        for k in old {
            b.delete(Space::Groups, k);
        }
        let me = self.me()?;
        let mut stranded = 0;
        for (_, v) in self.store.scan(Space::Groups, RECORD_PREFIX)? {
            let mut rec = GroupRecord::decode(&v)?;
            if rec.state != GroupState::Active
                || m.load(rec.id.as_bytes()).map_err(group_error)?.is_some()
            {
                continue;
            }
            let line = format!(
                "The keys of \u{201c}{}\u{201d} were kept by an earlier version in a format \
                 this one cannot read, so you can no longer read or send in it. Ask {} to \
                 remove you and add you again; your history is kept.",
                rec.name,
                ask_admins(&rec, me)
            );
            rec.state = GroupState::Removed;
            let id = Self::group_message_id(&[&rec.id.as_bytes()[..], b"earlier-format"].concat());
            let at = rec.last_activity;
            self.stage_group_line(&mut b, &mut rec, id, me, false, line, at);
            self.put_group(&mut b, &rec);
            stranded += 1;
        }
        self.store.write(b, rng)?;
        tracing::warn!(
            records = old.len(),
            groups = stranded,
            "group state written by an earlier version dropped; its groups must be joined again"
        );
        Ok(())
    }
}
