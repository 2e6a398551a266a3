//! The daemon core: the one owner of the [`Engine`] (and so of the encrypted client store) and
//! of the daemon's RNG.
//!
//! The engine lives on a dedicated thread (like the mailbox store's writer in `pars-net`): every
//! operation is a command sent to it and answered over a oneshot channel, so a commit's fsync
//! never blocks a tokio worker and no lock is held across it. What changed is announced as a
//! typed [`Event`] to every subscriber (the RPC subscription, the workers, `triggerAction`).
//!
//! The RPC handlers, the workers and `triggerAction` are thin clients of [`Core`]: they call its
//! typed operations and never each other. It is not the network: nothing here waits on a peer.

use crate::engine::{
    Delivered, Engine, EngineError, GroupAccessKeys, GroupDelivered, GroupMessage, GroupReceived,
    GroupSummary, GroupTask, Received, SessionSummary,
};
use pars_crypto::SessionId;
use pars_crypto::bundle::IdentityBundle;
use pars_crypto::identity::IdentityKeys;
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_error::{ErrorKind, HasKind};
use pars_wire::GroupId;
use pars_wire::MessageId;
use pars_wire::message::ContentType;
use pars_wire::records::GroupOutboxRecord;
use pars_wire::records::{MessageRecord, OutboxRecord};
use rand_chacha::ChaCha20Rng;
use tokio::sync::{broadcast, oneshot};

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What the core announces.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A new message for the user (`local` is the own Session ID).
    Message {
        /// The own Session ID.
        local: SessionId,
        /// The message.
        message: MessageRecord,
    },
    /// Read receipts arrived for these outgoing messages.
    Read(Vec<MessageId>),
    /// New outbox entries are waiting (a send, a read receipt, a re-send).
    OutboxChanged,
    /// An identity was created or restored.
    IdentityChanged,
    /// A new group message for the user (a text, or a line about a change).
    GroupMessage {
        /// The own Session ID.
        local: SessionId,
        /// The message.
        message: GroupMessage,
    },
    /// Group work is waiting: the group outbox, a task, a group to read.
    GroupsChanged,
}

/// Why a core call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The core thread has stopped (the daemon is shutting down).
    #[error("the daemon is shutting down")]
    Stopped,
}

impl HasKind for CoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Engine(e) => e.kind(),
            Self::Stopped => ErrorKind::Shutdown,
        }
    }
}

type Job = Box<dyn FnOnce(&mut Engine, &mut ChaCha20Rng) + Send>;

/// Bound of the command queue: callers wait (asynchronously) when the core is this far behind.
const QUEUE: usize = 256;
/// Bound of the event channel; a subscriber that falls further behind misses events (and
/// catches up from the store).
const EVENTS: usize = 1024;

/// The handle to the core thread. Cheap to share behind an `Arc`; the thread ends when the last
/// handle is dropped, after the commands already queued.
pub struct Core {
    jobs: tokio::sync::mpsc::Sender<Job>,
    events: broadcast::Sender<Event>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").finish_non_exhaustive()
    }
}

impl Core {
    /// Starts the core thread over `engine`, with `rng` as the daemon's randomness.
    pub fn start(engine: Engine, rng: ChaCha20Rng) -> std::io::Result<Self> {
        let (jobs, mut rx) = tokio::sync::mpsc::channel::<Job>(QUEUE);
        let (events, _) = broadcast::channel(EVENTS);
        std::thread::Builder::new()
            .name("sessiond-core".into())
            .spawn(move || {
                let (mut engine, mut rng) = (engine, rng);
                while let Some(job) = rx.blocking_recv() {
                    job(&mut engine, &mut rng);
                }
            })?;
        Ok(Self { jobs, events })
    }

    /// Subscribes to the core's events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    fn emit(&self, e: Event) {
        // No subscriber is not an error.
        let _ = self.events.send(e);
    }

    /// Runs `f` on the core thread with the engine and the RNG, and returns its result.
    pub async fn with_engine<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine, &mut ChaCha20Rng) -> T + Send + 'static,
    ) -> Result<T, CoreError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |e, r| {
            let _ = tx.send(f(e, r));
        });
        self.jobs.send(job).await.map_err(|_| CoreError::Stopped)?;
        rx.await.map_err(|_| CoreError::Stopped)
    }

    /// [`Self::with_engine`] for an engine operation that can fail.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine, &mut ChaCha20Rng) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, CoreError> {
        Ok(self.with_engine(f).await??)
    }

    // --- Identity. ---

    /// Creates a fresh identity; returns its public half.
    pub async fn create_identity(&self) -> Result<IdentityKeys, CoreError> {
        let keys = self
            .call(|e, rng| {
                e.create_identity(now(), rng)?;
                Ok(e.keys()?.clone())
            })
            .await?;
        self.emit(Event::IdentityChanged);
        Ok(keys)
    }

    /// Restores an identity from its phrase (a no-op for the identity already present).
    pub async fn restore_identity(&self, phrase: String) -> Result<IdentityKeys, CoreError> {
        let keys = self
            .call(move |e, rng| {
                e.restore_identity(&phrase, now(), rng)?;
                Ok(e.keys()?.clone())
            })
            .await?;
        self.emit(Event::IdentityChanged);
        Ok(keys)
    }

    /// The identity keys.
    pub async fn keys(&self) -> Result<IdentityKeys, CoreError> {
        self.call(|e, _| Ok(e.keys()?.clone())).await
    }

    /// The own Session ID.
    pub async fn session_id(&self) -> Result<SessionId, CoreError> {
        self.call(|e, _| Ok(e.keys()?.session_id())).await
    }

    /// The own Session ID and the key that signs mailbox requests, once there is an identity.
    pub async fn mailbox_identity(
        &self,
    ) -> Result<Option<(SessionId, MlDsaSigningKey)>, CoreError> {
        self.with_engine(|e, _| {
            let k = e.keys().ok()?;
            Some((k.session_id(), k.signing_key().mldsa.clone()))
        })
        .await
    }

    /// Rotates the prekey when due, and returns the current signed bundle (none without an
    /// identity).
    pub async fn current_bundle(&self) -> Result<Option<IdentityBundle>, CoreError> {
        self.with_engine(|e, rng| {
            e.bundle().ok()?;
            if let Err(err) = e.rotate_prekey_if_due(now(), rng) {
                tracing::error!(error = %err, "prekey rotation failed");
            }
            e.bundle().ok().cloned()
        })
        .await
    }

    // --- Sessions and messages. ---

    /// All sessions, most recently active first.
    pub async fn sessions(&self) -> Result<Vec<SessionSummary>, CoreError> {
        self.call(|e, _| e.sessions()).await
    }

    /// The identity bundle of `peer` cached with its session, if any.
    pub async fn cached_bundle(
        &self,
        peer: SessionId,
    ) -> Result<Option<IdentityBundle>, CoreError> {
        self.call(move |e, _| e.cached_bundle(&peer)).await
    }

    /// Starts (or returns the open) session with `peer` from its bundle.
    pub async fn open_session(
        &self,
        peer: SessionId,
        bundle: IdentityBundle,
    ) -> Result<SessionSummary, CoreError> {
        self.call(move |e, rng| e.open_session(&peer, &bundle, now(), rng))
            .await
    }

    /// Closes the session with `peer`.
    pub async fn close_session(&self, peer: SessionId) -> Result<(), CoreError> {
        self.call(move |e, rng| e.close_session(&peer, rng)).await
    }

    /// Encrypts and queues `content` for `peer`; the delivery worker is told.
    pub async fn send(
        &self,
        peer: SessionId,
        content: Vec<u8>,
        content_type: ContentType,
    ) -> Result<MessageRecord, CoreError> {
        let m = self
            .call(move |e, rng| e.send(&peer, &content, content_type, now(), rng))
            .await?;
        self.emit(Event::OutboxChanged);
        Ok(m)
    }

    /// Messages of one conversation (or all) since `since`, oldest first, at most `limit`.
    pub async fn messages(
        &self,
        peer: Option<SessionId>,
        since: u64,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, CoreError> {
        self.call(move |e, _| e.messages(peer.as_ref(), since, limit))
            .await
    }

    /// Marks incoming messages up to `id` as read and queues a read receipt.
    pub async fn mark_read(&self, peer: SessionId, id: MessageId) -> Result<usize, CoreError> {
        let n = self
            .call(move |e, rng| e.mark_read(&peer, &id, now(), rng))
            .await?;
        if n > 0 {
            self.emit(Event::OutboxChanged);
        }
        Ok(n)
    }

    /// Opens received blobs, in order, in one visit to the core; each result is the engine's
    /// for that blob. New messages and receipts are announced.
    pub async fn ingest_all(
        &self,
        blobs: Vec<Vec<u8>>,
    ) -> Result<Vec<Result<Received, EngineError>>, CoreError> {
        let (out, local, outbox) = self
            .with_engine(move |e, rng| {
                let before = e.outbox_len().ok();
                let out: Vec<_> = blobs.iter().map(|b| e.receive(b, now(), rng)).collect();
                let local = e.keys().ok().map(|k| k.session_id());
                let outbox = e.outbox_len().ok() != before;
                (out, local, outbox)
            })
            .await?;
        for r in &out {
            match (r, local) {
                (Ok(Received::Message(m)), Some(local)) => self.emit(Event::Message {
                    local,
                    message: m.clone(),
                }),
                (Ok(Received::Receipt(ids)), _) if !ids.is_empty() => {
                    self.emit(Event::Read(ids.clone()))
                }
                (Ok(Received::GroupTask), _) => self.emit(Event::GroupsChanged),
                _ => {}
            }
        }
        if outbox {
            // A superseded initiation or an abandoned one queued messages.
            self.emit(Event::OutboxChanged);
        }
        Ok(out)
    }

    /// Opens one received blob (see [`Self::ingest_all`]).
    pub async fn ingest(&self, blob: &[u8]) -> Result<Received, CoreError> {
        let mut out = self.ingest_all(vec![blob.to_vec()]).await?;
        Ok(out.pop().ok_or(CoreError::Stopped)??)
    }

    /// Ends an upload: queues the file message and marks it done in one batch (see
    /// [`Engine::finish_upload`]); the delivery or group worker is told.
    pub async fn finish_upload(
        &self,
        id: pars_wire::TransferId,
    ) -> Result<pars_wire::records::TransferRecord, CoreError> {
        let r = self
            .call(move |e, rng| e.finish_upload(&id, now(), rng))
            .await?;
        self.emit(Event::OutboxChanged);
        self.emit(Event::GroupsChanged);
        Ok(r)
    }

    // --- The outbox. ---

    /// The whole outbox, decoded once.
    pub async fn outbox(&self) -> Result<Vec<OutboxRecord>, CoreError> {
        self.call(|e, _| e.outbox_due(u64::MAX)).await
    }

    /// Number of outbox entries.
    pub async fn outbox_len(&self) -> Result<u64, CoreError> {
        self.call(|e, _| e.outbox_len()).await
    }

    /// Records a delivery round's outcomes in one commit.
    pub async fn record_deliveries(&self, outcomes: Vec<Delivered>) -> Result<(), CoreError> {
        self.call(move |e, rng| e.record_deliveries(&outcomes, now(), rng))
            .await
    }

    // --- Groups. ---

    async fn group_call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine, &mut ChaCha20Rng) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, CoreError> {
        let out = self.call(f).await?;
        // Pairwise requests or group outbox entries may have been queued.
        self.emit(Event::OutboxChanged);
        self.emit(Event::GroupsChanged);
        Ok(out)
    }

    /// Creates a group and asks each invitee (open sessions needed) for a key package.
    pub async fn create_group(
        &self,
        name: String,
        invitees: Vec<SessionId>,
    ) -> Result<GroupSummary, CoreError> {
        self.group_call(move |e, rng| e.create_group(&name, &invitees, now(), rng))
            .await
    }

    /// Asks each of `ids` for a key package to add them (admins).
    pub async fn add_group_members(
        &self,
        group: GroupId,
        ids: Vec<SessionId>,
    ) -> Result<GroupSummary, CoreError> {
        self.group_call(move |e, rng| e.add_group_members(&group, &ids, now(), rng))
            .await
    }

    /// Commits the removal of `ids` (admins).
    pub async fn remove_group_members(
        &self,
        group: GroupId,
        ids: Vec<SessionId>,
    ) -> Result<GroupSummary, CoreError> {
        self.group_call(move |e, rng| e.remove_group_members(&group, &ids, now(), rng))
            .await
    }

    /// Makes members admins (admins).
    pub async fn add_group_admins(
        &self,
        group: GroupId,
        ids: Vec<SessionId>,
    ) -> Result<GroupSummary, CoreError> {
        self.group_call(move |e, rng| e.add_group_admins(&group, &ids, now(), rng))
            .await
    }

    /// Renames a group (admins).
    pub async fn rename_group(
        &self,
        group: GroupId,
        name: String,
    ) -> Result<GroupSummary, CoreError> {
        self.group_call(move |e, rng| e.rename_group(&group, &name, now(), rng))
            .await
    }

    /// Leaves a group.
    pub async fn leave_group(&self, group: GroupId) -> Result<(), CoreError> {
        self.group_call(move |e, rng| e.leave_group(&group, now(), rng))
            .await
    }

    /// Encrypts and queues a text for a group.
    pub async fn send_group_message(
        &self,
        group: GroupId,
        text: String,
    ) -> Result<GroupMessage, CoreError> {
        self.group_call(move |e, rng| e.send_group_message(&group, &text, now(), rng))
            .await
    }

    /// Every group.
    pub async fn groups(&self) -> Result<Vec<GroupSummary>, CoreError> {
        self.call(|e, rng| e.groups(rng)).await
    }

    /// Messages of a group since `since`, oldest first, at most `limit`.
    pub async fn group_messages(
        &self,
        group: GroupId,
        since: u64,
        limit: usize,
    ) -> Result<Vec<GroupMessage>, CoreError> {
        self.call(move |e, _| e.group_messages(&group, since, limit))
            .await
    }

    /// The group tasks due now.
    pub async fn group_tasks(&self) -> Result<Vec<GroupTask>, CoreError> {
        self.call(|e, _| e.group_tasks(now())).await
    }

    /// Runs a group task with its fetched blob.
    pub async fn run_group_task(
        &self,
        task: GroupTask,
        fetched: Option<Vec<u8>>,
    ) -> Result<Option<GroupId>, CoreError> {
        self.group_call(move |e, rng| e.run_group_task(&task, fetched.as_deref(), now(), rng))
            .await
    }

    /// Puts a group task off (or gives it up after `give_up_after` attempts).
    pub async fn defer_group_task(
        &self,
        key: Vec<u8>,
        give_up_after: u32,
    ) -> Result<(), CoreError> {
        self.call(move |e, rng| e.defer_group_task(&key, now(), give_up_after, rng))
            .await
    }

    /// Of `hashes` of a group's mailbox, the ones not processed yet.
    pub async fn group_unseen(
        &self,
        group: GroupId,
        hashes: Vec<[u8; 32]>,
    ) -> Result<Vec<[u8; 32]>, CoreError> {
        self.call(move |e, _| e.group_unseen(&group, &hashes)).await
    }

    /// Processes items of a group's mailbox (hash and MLS message each), in order, in one
    /// visit to the core; new messages are announced.
    pub async fn group_receive(
        &self,
        group: GroupId,
        items: Vec<([u8; 32], Vec<u8>)>,
    ) -> Result<Vec<Result<GroupReceived, EngineError>>, CoreError> {
        let (out, local) = self
            .with_engine(move |e, rng| {
                let out: Vec<_> = items
                    .iter()
                    .map(|(h, m)| e.group_receive(&group, h, m, now(), rng))
                    .collect();
                (out, e.keys().ok().map(|k| k.session_id()))
            })
            .await?;
        for r in &out {
            if let (Ok(GroupReceived::Message(m) | GroupReceived::Behind(Some(m))), Some(local)) =
                (r, local)
            {
                self.emit(Event::GroupMessage {
                    local,
                    message: m.clone(),
                });
            }
        }
        if out.iter().any(|r| r.is_ok()) {
            // A commit may have queued an access record, invitations or a removal.
            self.emit(Event::OutboxChanged);
            self.emit(Event::GroupsChanged);
        }
        Ok(out)
    }

    /// Signs again the access records that are due (see
    /// [`crate::engine::RENEW_ACCESS_SECS`]); returns how many were queued.
    pub async fn renew_access_records(&self) -> Result<usize, CoreError> {
        let n = self
            .call(|e, rng| e.renew_access_records(now(), rng))
            .await?;
        if n > 0 {
            self.emit(Event::OutboxChanged);
        }
        Ok(n)
    }

    /// The groups whose mailbox we read, with their tokens.
    pub async fn active_groups(&self) -> Result<Vec<GroupAccessKeys>, CoreError> {
        self.call(|e, _| e.active_groups()).await
    }

    /// The tokens of every group we keep (the outbox stores with them).
    pub async fn group_access(&self) -> Result<Vec<GroupAccessKeys>, CoreError> {
        self.call(|e, _| e.group_access()).await
    }

    /// The group outbox, in order.
    pub async fn group_outbox(&self) -> Result<Vec<(Vec<u8>, GroupOutboxRecord)>, CoreError> {
        self.call(|e, _| e.group_outbox()).await
    }

    /// Records how group outbox entries fared.
    pub async fn record_group_deliveries(
        &self,
        outcomes: Vec<GroupDelivered>,
    ) -> Result<(), CoreError> {
        self.call(move |e, rng| e.record_group_deliveries(&outcomes, now(), rng))
            .await
    }

    /// The invitations waiting for the user.
    pub async fn group_invites(
        &self,
    ) -> Result<Vec<(MessageId, SessionId, pars_wire::group::GroupControl)>, CoreError> {
        self.call(|e, _| e.group_invites()).await
    }

    /// Accepts an invitation (by its ID or its group's); the group worker joins.
    pub async fn accept_invite(&self, invite: String) -> Result<GroupId, CoreError> {
        self.group_call(move |e, rng| e.accept_invite(&invite, now(), rng))
            .await
    }
}
