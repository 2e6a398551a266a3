//! The group core: one member's view of one MLS group, without I/O. The caller (the daemon)
//! stores what [`Group`]'s operations return in the group's mailbox and feeds what it retrieves
//! to [`Group::receive`]; it persists [`Member`]'s provider state after each call.
//!
//! A change (add, remove, update) is proposed and committed by one member at once: the commit
//! is *pending* until the caller knows it was stored first for its epoch, then
//! [`Group::confirm`]ed; when another member's commit for the same epoch arrives first,
//! [`Group::receive`] drops the pending one (the caller proposes it again in the new epoch).

use crate::credential::{IdentitySigner, bound_session_id};
use crate::error::GroupError;
use crate::provider::{Changes, ParsMls, SUITE};
use crate::storage::is_json_storage_key;
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use pars_crypto::SessionId;
use zeroize::Zeroizing;

/// Past epochs whose messages still decrypt (messages sent just before a commit).
pub const MAX_PAST_EPOCHS: usize = 2;

/// One identity's MLS side: its signer and its provider (the key material of its key
/// packages and groups).
#[derive(Debug)]
pub struct Member {
    signer: IdentitySigner,
    provider: ParsMls,
}

/// A commit the caller must store in the group's mailbox, with the Welcome for the members it
/// adds (sent to each through their pairwise session).
#[derive(Debug, Clone)]
pub struct Commit {
    /// The commit (an MLS `PrivateMessage`).
    pub commit: Vec<u8>,
    /// The Welcome, when members are added.
    pub welcome: Option<Vec<u8>>,
    /// The epoch the commit leads to.
    pub epoch: u64,
}

/// What a message retrieved from the group's mailbox was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// An application message.
    Message {
        /// Its sender.
        sender: SessionId,
        /// The plaintext.
        body: Vec<u8>,
    },
    /// A commit, merged: the group is at `epoch` now.
    Commit {
        /// Who committed.
        by: SessionId,
        /// The new epoch.
        epoch: u64,
        /// Members added.
        added: Vec<SessionId>,
        /// Members removed.
        removed: Vec<SessionId>,
        /// Whether we were removed (the group is inactive now).
        removed_us: bool,
        /// Whether a pending commit of ours for the same epoch lost to this one.
        ours_dropped: bool,
    },
    /// One of our own messages, seen again in the mailbox (MLS cannot decrypt it: skip it).
    Own,
}

/// One member's state of one group.
#[derive(Debug)]
pub struct Group {
    mls: MlsGroup,
}

fn lib(e: impl std::fmt::Display) -> GroupError {
    GroupError::Library(e.to_string())
}

fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .use_ratchet_tree_extension(true)
        .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .build()
}

/// The Session ID of a leaf already in the tree. Every leaf was checked by
/// [`bound_session_id`] when it entered the tree (in a Welcome's tree, an added key package, a
/// commit's update path or update proposal, or our own at creation), so its credential's
/// identity is its Session ID: reading it costs no hash of the 2,592-byte key, which over a
/// 10,000-member tree would take tens of milliseconds.
fn leaf_id(leaf: &LeafNode) -> Option<SessionId> {
    let credential = leaf.credential();
    if credential.credential_type() != CredentialType::Basic {
        return None;
    }
    SessionId::from_bytes(credential.serialized_content()).ok()
}

fn encode(m: &MlsMessageOut) -> Result<Vec<u8>, GroupError> {
    m.tls_serialize_detached().map_err(lib)
}

fn decode(bytes: &[u8]) -> Result<MlsMessageIn, GroupError> {
    MlsMessageIn::tls_deserialize_exact(bytes).map_err(|e| GroupError::Malformed(e.to_string()))
}

impl Member {
    /// A member for `signer`'s identity with an empty provider state.
    pub fn new(signer: IdentitySigner) -> Result<Self, GroupError> {
        Ok(Self {
            signer,
            provider: ParsMls::new().map_err(lib)?,
        })
    }

    /// A member for `signer`'s identity whose provider storage holds `records` (what
    /// [`Member::changes`] gave out and the caller persisted).
    ///
    /// Records of openmls's JSON storage, which versions before the binary storage persisted,
    /// are not read: they are refused with [`GroupError::Storage`], naming them, rather than
    /// taken for an empty state.
    pub fn restore(
        signer: IdentitySigner,
        records: impl IntoIterator<Item = (Vec<u8>, zeroize::Zeroizing<Vec<u8>>)>,
    ) -> Result<Self, GroupError> {
        let records: Vec<_> = records.into_iter().collect();
        let old = records
            .iter()
            .filter(|(k, _)| is_json_storage_key(k))
            .count();
        if old > 0 {
            return Err(GroupError::Storage(format!(
                "{old} of {} group state records were written by an earlier version (openmls's \
                 JSON storage), which this version does not read: the groups must be joined again",
                records.len()
            )));
        }
        Ok(Self {
            signer,
            provider: ParsMls::restore(records).map_err(lib)?,
        })
    }

    /// Whether `key` (of a record [`Member::changes`] or an earlier version gave out) is in
    /// the format of the versions before the binary storage (openmls's JSON storage), which
    /// [`Member::restore`] refuses. A caller holding such records drops them and tells the
    /// user which groups must be joined again.
    pub fn is_earlier_format(key: &[u8]) -> bool {
        is_json_storage_key(key)
    }

    /// What the operations since the last [`Member::commit`] wrote and deleted, for the caller
    /// to persist in one transaction with what it stores or shows.
    pub fn changes(&self) -> Result<Changes, GroupError> {
        Ok(self.provider.changes()?)
    }

    /// The caller persisted [`Member::changes`].
    pub fn commit(&mut self) -> Result<(), GroupError> {
        Ok(self.provider.commit()?)
    }

    /// Forgets everything since the last [`Member::commit`] (an operation failed, or its
    /// result could not be persisted); load the groups again with [`Member::load`].
    pub fn rollback(&mut self) -> Result<(), GroupError> {
        Ok(self.provider.rollback()?)
    }

    /// The group with `id` as the storage holds it, if we are or were in it.
    pub fn load(&self, id: &[u8]) -> Result<Option<Group>, GroupError> {
        let mls = MlsGroup::load(self.provider.storage(), &GroupId::from_slice(id))
            .map_err(|e| GroupError::Storage(e.to_string()))?;
        Ok(mls.map(|mls| Group { mls }))
    }

    /// Deletes everything the storage holds of the group with `id` (before joining it again
    /// from a new Welcome: a removed member added back, or one that fell behind). Nothing is
    /// persisted until [`Member::changes`] is written and [`Member::commit`] called.
    pub fn forget(&self, id: &[u8]) -> Result<(), GroupError> {
        let storage = self.provider.storage();
        if let Some(mut mls) = MlsGroup::load(storage, &GroupId::from_slice(id))
            .map_err(|e| GroupError::Storage(e.to_string()))?
        {
            mls.delete(storage)
                .map_err(|e| GroupError::Storage(e.to_string()))?;
        }
        Ok(())
    }

    /// This member's Session ID.
    pub fn session_id(&self) -> SessionId {
        self.signer.session_id()
    }

    /// The provider (its storage is what the caller persists).
    pub fn provider(&self) -> &ParsMls {
        &self.provider
    }

    /// A fresh key package (an MLS message) for whoever adds us to a group; its private half
    /// stays in the provider until a Welcome uses it.
    pub fn key_package(&self) -> Result<Vec<u8>, GroupError> {
        let kp = KeyPackage::builder()
            .build(
                SUITE,
                &self.provider,
                &self.signer,
                self.signer.credential(),
            )
            .map_err(lib)?;
        let msg: MlsMessageOut = MlsMessageOut::from(kp.key_package().clone());
        encode(&msg)
    }

    /// Creates a group with `id` (32 random bytes chosen by the caller) and us as its only
    /// member.
    pub fn create_group(&self, id: &[u8; 32]) -> Result<Group, GroupError> {
        let mls = MlsGroup::builder()
            .with_group_id(GroupId::from_slice(id))
            .ciphersuite(SUITE)
            .use_ratchet_tree_extension(true)
            .with_wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
            .max_past_epochs(MAX_PAST_EPOCHS)
            .build(&self.provider, &self.signer, self.signer.credential())
            .map_err(lib)?;
        Ok(Group { mls })
    }

    /// Joins the group a Welcome invites us to. Every member's credential in its tree is
    /// checked against its key; a Welcome for a key package we do not hold is refused.
    pub fn join(&self, welcome: &[u8]) -> Result<Group, GroupError> {
        let MlsMessageBodyIn::Welcome(w) = decode(welcome)?.extract() else {
            return Err(GroupError::Malformed("not a Welcome".into()));
        };
        let staged = StagedWelcome::new_from_welcome(&self.provider, &join_config(), w, None)
            .map_err(|e| match e {
                WelcomeError::NoMatchingKeyPackage | WelcomeError::NoMatchingEncryptionKey => {
                    GroupError::NotInvited(e.to_string())
                }
                e => GroupError::Refused(e.to_string()),
            })?;
        for m in staged.members() {
            bound_session_id(&m.credential, &m.signature_key.into())?;
        }
        let mls = staged.into_group(&self.provider).map_err(lib)?;
        Ok(Group { mls })
    }
}

impl Group {
    /// The group's ID.
    pub fn id(&self) -> &[u8] {
        self.mls.group_id().as_slice()
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.mls.epoch().as_u64()
    }

    /// Whether we are still a member.
    pub fn is_active(&self) -> bool {
        self.mls.is_active()
    }

    /// The members' Session IDs, in leaf order.
    pub fn members(&self) -> Vec<SessionId> {
        self.leaves().map(|(_, id)| id).collect()
    }

    /// Each member's leaf and Session ID, in leaf order, read from the tree without copying
    /// it (openmls's `members()` copies every leaf's keys).
    fn leaves(&self) -> impl Iterator<Item = (LeafNodeIndex, SessionId)> + '_ {
        self.mls
            .treesync()
            .full_leaves()
            .filter_map(|(index, leaf)| leaf_id(leaf).map(|id| (index, id)))
    }

    /// A value every member of this epoch derives alike (for tests and safety numbers).
    pub fn epoch_authenticator(&self) -> Vec<u8> {
        self.mls.epoch_authenticator().as_slice().to_vec()
    }

    /// The group mailbox access token of the current epoch: the MLS exporter secret under
    /// [`labels::GROUP_ACCESS_TOKEN`](pars_crypto::labels::GROUP_ACCESS_TOKEN) with the group ID
    /// as context, 32 bytes. Every member of the epoch derives the same token and nobody else
    /// can. The daemon takes it at creation, at join and after each commit that adds or removes
    /// members, and keeps it across update commits (`pars_wire::swarm::GroupAccess` names it to
    /// the swarm). Fails once we are no longer a member.
    pub fn access_token(&self, me: &Member) -> Result<Zeroizing<[u8; 32]>, GroupError> {
        let label = std::str::from_utf8(pars_crypto::labels::GROUP_ACCESS_TOKEN).map_err(lib)?;
        let secret = Zeroizing::new(
            self.mls
                .export_secret(me.provider.crypto(), label, self.id(), 32)
                .map_err(|e| GroupError::NotAllowed(format!("no access token: {e}")))?,
        );
        let mut out = Zeroizing::new([0u8; 32]);
        if secret.len() != 32 {
            return Err(lib("the exporter gave a secret of the wrong length"));
        }
        out.copy_from_slice(&secret);
        Ok(out)
    }

    /// The commit just made (pending until confirmed), leading to the next epoch.
    fn pending(
        &self,
        commit: &MlsMessageOut,
        welcome: Option<&MlsMessageOut>,
    ) -> Result<Commit, GroupError> {
        Ok(Commit {
            commit: encode(commit)?,
            welcome: welcome.map(encode).transpose()?,
            epoch: self.epoch() + 1,
        })
    }

    fn no_pending(&self) -> Result<(), GroupError> {
        if self.mls.pending_commit().is_some() {
            return Err(GroupError::NotAllowed(
                "a commit of ours is pending: confirm or drop it first".into(),
            ));
        }
        Ok(())
    }

    /// Commits adding the members whose key packages are given (each checked to be bound to
    /// its Session ID and not a member yet).
    pub fn add(&mut self, me: &Member, key_packages: &[Vec<u8>]) -> Result<Commit, GroupError> {
        self.no_pending()?;
        if key_packages.is_empty() {
            return Err(GroupError::BadInput("no members to add".into()));
        }
        let present: std::collections::HashSet<SessionId> =
            self.leaves().map(|(_, id)| id).collect();
        let mut kps = Vec::with_capacity(key_packages.len());
        for bytes in key_packages {
            let MlsMessageBodyIn::KeyPackage(kp) = decode(bytes)?.extract() else {
                return Err(GroupError::Malformed("not a key package".into()));
            };
            let kp = kp
                .validate(me.provider.crypto(), ProtocolVersion::Mls10)
                .map_err(|e| GroupError::Refused(format!("key package: {e}")))?;
            let leaf = kp.leaf_node();
            let id = bound_session_id(leaf.credential(), leaf.signature_key())?;
            if present.contains(&id) {
                return Err(GroupError::BadInput(format!(
                    "{} is a member already",
                    id.short()
                )));
            }
            kps.push(kp);
        }
        let added = self.mls.add_members(&me.provider, &me.signer, &kps);
        me.provider.crypto().forget_welcome_infos();
        let (commit, welcome, _) = added.map_err(lib)?;
        self.pending(&commit, Some(&welcome))
    }

    /// Commits removing `ids` (each must be a member other than us).
    pub fn remove(&mut self, me: &Member, ids: &[SessionId]) -> Result<Commit, GroupError> {
        self.no_pending()?;
        let me_id = me.session_id();
        let index: std::collections::HashMap<SessionId, LeafNodeIndex> =
            self.leaves().map(|(leaf, id)| (id, leaf)).collect();
        let mut leaves = Vec::new();
        for id in ids {
            if *id == me_id {
                return Err(GroupError::BadInput(
                    "removing oneself is leaving, which is not built yet".into(),
                ));
            }
            let leaf = index
                .get(id)
                .ok_or_else(|| GroupError::BadInput(format!("{} is not a member", id.short())))?;
            leaves.push(*leaf);
        }
        if leaves.is_empty() {
            return Err(GroupError::BadInput("no members to remove".into()));
        }
        let (commit, _, _) = self
            .mls
            .remove_members(&me.provider, &me.signer, &leaves)
            .map_err(lib)?;
        self.pending(&commit, None)
    }

    /// Commits fresh keys for our leaf and path (post-compromise security).
    pub fn update(&mut self, me: &Member) -> Result<Commit, GroupError> {
        self.no_pending()?;
        let bundle = self
            .mls
            .self_update(&me.provider, &me.signer, LeafNodeParameters::default())
            .map_err(lib)?;
        self.pending(bundle.commit(), None)
    }

    /// Our pending commit was stored first for its epoch: merge it.
    pub fn confirm(&mut self, me: &Member) -> Result<(), GroupError> {
        if self.mls.pending_commit().is_none() {
            return Err(GroupError::NotAllowed("no pending commit".into()));
        }
        self.mls.merge_pending_commit(&me.provider).map_err(lib)
    }

    /// Drops our pending commit (another one won its epoch, or the store failed for good).
    pub fn drop_pending(&mut self, me: &Member) -> Result<(), GroupError> {
        self.mls
            .clear_pending_commit(me.provider.storage())
            .map_err(lib)
    }

    /// Encrypts an application message for the group (an MLS `PrivateMessage`).
    pub fn send(&mut self, me: &Member, body: &[u8]) -> Result<Vec<u8>, GroupError> {
        self.no_pending()?;
        let m = self
            .mls
            .create_message(&me.provider, &me.signer, body)
            .map_err(|e| GroupError::NotAllowed(e.to_string()))?;
        encode(&m)
    }

    /// Processes one message from the group's mailbox (our own come back as [`Received::Own`]).
    /// A commit is checked (every new or
    /// changed leaf bound to its Session ID) and merged; the group state is unchanged when
    /// anything is refused. Any member's commit is taken, as MLS allows; see
    /// [`Self::receive_checked`] for a group whose changes are its admins'.
    pub fn receive(&mut self, me: &Member, bytes: &[u8]) -> Result<Received, GroupError> {
        self.process(me, bytes, None)
    }

    /// As [`Self::receive`], but a commit is refused unless one of `committers` made it
    /// (checked before it is merged: the group stays at its epoch). Every member applies the
    /// same rule to the same commits, so a refused commit forks no one but its maker.
    pub fn receive_checked(
        &mut self,
        me: &Member,
        bytes: &[u8],
        committers: &[SessionId],
    ) -> Result<Received, GroupError> {
        self.process(me, bytes, Some(committers))
    }

    fn process(
        &mut self,
        me: &Member,
        bytes: &[u8],
        committers: Option<&[SessionId]>,
    ) -> Result<Received, GroupError> {
        let msg = decode(bytes)?;
        let protocol = msg
            .try_into_protocol_message()
            .map_err(|_| GroupError::Malformed("not a group message".into()))?;
        if protocol.group_id() != self.mls.group_id() {
            return Err(GroupError::Refused("for another group".into()));
        }
        let (m_epoch, g_epoch) = (protocol.epoch().as_u64(), self.epoch());
        if m_epoch > g_epoch {
            return Err(GroupError::WrongEpoch {
                message: m_epoch,
                group: g_epoch,
            });
        }
        let processed = match self.mls.process_message(&me.provider, protocol) {
            Ok(p) => p,
            Err(_) if m_epoch < g_epoch => {
                return Err(GroupError::WrongEpoch {
                    message: m_epoch,
                    group: g_epoch,
                });
            }
            Err(e) => return Err(GroupError::Refused(e.to_string())),
        };
        if matches!(
            processed.content(),
            ProcessedMessageContent::OwnPrivateMessage | ProcessedMessageContent::OwnPendingCommit
        ) {
            return Ok(Received::Own);
        }
        let sender = match processed.sender() {
            Sender::Member(index) => self.mls.public_group().leaf(*index),
            _ => None,
        }
        .ok_or_else(|| GroupError::Refused("sender is not a member".into()))?;
        let by = bound_session_id(processed.credential(), sender.signature_key())?;
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(a) => Ok(Received::Message {
                sender: by,
                body: a.into_bytes(),
            }),
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                if committers.is_some_and(|c| !c.contains(&by)) {
                    return Err(GroupError::NotAllowed(format!(
                        "{} committed a change to the group without being an admin",
                        by.short()
                    )));
                }
                let mut added = Vec::new();
                for p in staged.add_proposals() {
                    let leaf = p.add_proposal().key_package().leaf_node();
                    added.push(bound_session_id(leaf.credential(), leaf.signature_key())?);
                }
                for p in staged.update_proposals() {
                    let leaf = p.update_proposal().leaf_node();
                    bound_session_id(leaf.credential(), leaf.signature_key())?;
                }
                if let Some(leaf) = staged.update_path_leaf_node()
                    && bound_session_id(leaf.credential(), leaf.signature_key())? != by
                {
                    return Err(GroupError::Credential(
                        "the committer's new leaf names another identity".into(),
                    ));
                }
                let removed: Vec<SessionId> = staged
                    .remove_proposals()
                    .filter_map(|p| self.mls.public_group().leaf(p.remove_proposal().removed()))
                    .filter_map(leaf_id)
                    .collect();
                let removed_us = staged.self_removed();
                let ours_dropped = self.mls.pending_commit().is_some();
                if ours_dropped {
                    self.drop_pending(me)?;
                }
                self.mls
                    .merge_staged_commit(&me.provider, *staged)
                    .map_err(lib)?;
                Ok(Received::Commit {
                    by,
                    epoch: self.epoch(),
                    added,
                    removed,
                    removed_us,
                    ours_dropped,
                })
            }
            ProcessedMessageContent::OwnPrivateMessage
            | ProcessedMessageContent::OwnPendingCommit => Ok(Received::Own),
            ProcessedMessageContent::ProposalMessage(_)
            | ProcessedMessageContent::ExternalJoinProposalMessage(_) => Err(GroupError::Refused(
                "stand-alone proposals are not used in Pars groups".into(),
            )),
        }
    }
}
