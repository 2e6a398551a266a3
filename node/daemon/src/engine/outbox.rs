//! Sending: a message is encrypted once, when it is queued, and the outbox entry keeps those
//! bytes until the swarm stores them (or refuses them for good); retries back off.

use super::{Delivered, Engine, EngineError, retry_at, shown, wire_message_id};
use pars_crypto::{CryptoRng, SessionId};
use pars_session::Session;
use pars_store::client::{Batch, Space};
use pars_wire::MessageId;
use pars_wire::message::{ContentType, MessageKind, SessionMessage};
use pars_wire::records::{Delivery, MessageRecord, OutboxRecord};

impl Engine {
    /// Records the outcomes of a delivery round in one durable commit (see [`Self::mark_stored`],
    /// [`Self::mark_failed`] and [`Self::mark_attempt_failed`] for each).
    pub fn record_deliveries(
        &mut self,
        outcomes: &[Delivered],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        let mut b = Batch::default();
        let mut any = false;
        for o in outcomes {
            any |= self.stage_delivery(&mut b, o, now)?;
        }
        if any {
            self.store.write(b, rng)?;
        }
        Ok(())
    }

    /// Adds what `o` changes to `b`; false when the entry has left the outbox already (a retry
    /// raced a success).
    fn stage_delivery(&self, b: &mut Batch, o: &Delivered, now: u64) -> Result<bool, EngineError> {
        let id = match o {
            Delivered::Stored { id, .. }
            | Delivered::Failed { id, .. }
            | Delivered::Retry { id } => id,
        };
        let Some(raw) = self.store.get(Space::Outbox, id.as_bytes())? else {
            return Ok(false);
        };
        let mut out = OutboxRecord::decode(&raw)?;
        if let Delivered::Retry { .. } = o {
            out.attempts = out.attempts.saturating_add(1);
            out.next_attempt = retry_at(out.attempts, now);
            b.put(Space::Outbox, id.as_bytes(), &out.encode());
            return Ok(true);
        }
        b.delete(Space::Outbox, id.as_bytes());
        if !out.message_key.is_empty()
            && let Some(m) = self.store.get(Space::Messages, &out.message_key)?
        {
            let mut m = MessageRecord::decode(&m)?;
            match o {
                Delivered::Stored { copies, .. } if m.delivery != Delivery::Read => {
                    m.delivery = Delivery::Stored(*copies);
                }
                Delivered::Failed { reason, .. } => {
                    m.delivery = Delivery::Failed;
                    m.error = Some(reason.clone());
                }
                _ => {}
            }
            b.put(Space::Messages, &out.message_key, &m.encode());
        }
        Ok(true)
    }

    /// Encrypts and queues `content` for `peer`. When this returns, the message is durably in
    /// the outbox and the message list.
    pub fn send(
        &mut self,
        peer: &SessionId,
        content: &[u8],
        content_type: ContentType,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<MessageRecord, EngineError> {
        let mut b = Batch::default();
        let record = self.stage_send(&mut b, peer, content, content_type, now, rng)?;
        self.store.write(b, rng)?;
        Ok(record)
    }

    /// [`Self::send`] into `b`, for an operation that commits the send with its other effects.
    /// At most one send per peer in one batch: each reads the session state from the store.
    pub(super) fn stage_send(
        &self,
        b: &mut Batch,
        peer: &SessionId,
        content: &[u8],
        content_type: ContentType,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<MessageRecord, EngineError> {
        let mut rec = self
            .load_session(peer)?
            .ok_or_else(|| EngineError::UnknownSession(peer.to_string()))?;
        if rec.closed {
            return Err(EngineError::SessionClosed(peer.to_string()));
        }
        let too_large = |kind| EngineError::TooLarge {
            content: content.len(),
            max: SessionMessage::max_content_len(kind, self.max_blob),
            initial: kind == MessageKind::Initial,
        };
        if content.len() > SessionMessage::max_content_len(MessageKind::Normal, self.max_blob) {
            return Err(too_large(MessageKind::Normal));
        }
        let mut session = Session::from_bytes(&rec.state)?;
        let msg = session.encrypt(content, content_type, now, rng)?;
        let blob = msg.encode();
        if blob.len() > self.max_blob {
            // Nothing was written: the session state advanced only in memory.
            return Err(too_large(msg.kind()));
        }
        let sequence = session.sent_count();
        let id = wire_message_id(&msg);
        let record = MessageRecord {
            id,
            peer: *peer,
            outgoing: true,
            content_type: content_type as u8,
            timestamp: pars_wire::message::coarse_timestamp(now),
            local_time: now,
            sequence,
            delivery: Delivery::Queued,
            read: false,
            content: content.to_vec(),
            error: None,
        };
        let mkey = self.message_key(peer, rec.next_local_seq);
        rec.next_local_seq += 1;
        rec.last_activity = now;
        rec.state = session.to_bytes().as_slice().to_vec();
        let outbox = OutboxRecord {
            id,
            recipient: *peer,
            message_key: if shown(content_type) {
                mkey.clone()
            } else {
                Vec::new()
            },
            attempts: 0,
            next_attempt: now,
            blob,
        };
        b.put(Space::Sessions, &self.session_key(peer), &rec.encode())
            .put(Space::Outbox, id.as_bytes(), &outbox.encode());
        if shown(content_type) {
            b.put(Space::Messages, &mkey, &record.encode()).put(
                Space::State,
                &Self::mid_key(&id),
                &mkey,
            );
        }
        Ok(record)
    }

    /// Outbox entries due at `now`, oldest first.
    pub fn outbox_due(&self, now: u64) -> Result<Vec<OutboxRecord>, EngineError> {
        let mut due = Vec::new();
        for (_, v) in self.store.scan(Space::Outbox, &[])? {
            let r = OutboxRecord::decode(&v)?;
            if r.next_attempt <= now {
                due.push(r);
            }
        }
        due.sort_by_key(|r| r.next_attempt);
        Ok(due)
    }

    /// Number of outbox entries.
    pub fn outbox_len(&self) -> Result<u64, EngineError> {
        Ok(self.store.count(Space::Outbox)?)
    }

    /// Records that `id` was stored by `copies` swarm members: it leaves the outbox and its
    /// message shows the count.
    pub fn mark_stored(
        &mut self,
        id: &MessageId,
        copies: u32,
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        self.mark_stored_all(std::slice::from_ref(id), copies, rng)
    }

    /// [`Self::mark_stored`] for several entries (one stored batch) in one durable commit.
    pub fn mark_stored_all(
        &mut self,
        ids: &[MessageId],
        copies: u32,
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        let outcomes: Vec<Delivered> = ids
            .iter()
            .map(|id| Delivered::Stored { id: *id, copies })
            .collect();
        self.record_deliveries(&outcomes, 0, rng)
    }

    /// Gives up on `id` for good (the network refused it permanently): it leaves the outbox and
    /// its message shows `Failed` with `reason`.
    pub fn mark_failed(
        &mut self,
        id: &MessageId,
        reason: &str,
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        let o = Delivered::Failed {
            id: *id,
            reason: reason.to_string(),
        };
        self.record_deliveries(std::slice::from_ref(&o), 0, rng)
    }

    /// Records a failed attempt: the entry stays and is retried after an exponential backoff.
    pub fn mark_attempt_failed(
        &mut self,
        id: &MessageId,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        self.record_deliveries(&[Delivered::Retry { id: *id }], now, rng)
    }
}
