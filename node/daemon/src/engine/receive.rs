//! Receiving: the engine as a [`SessionStore`] for [`pars_session::route`], the effects of a
//! received message (the message list, read receipts), and re-sending after an abandoned
//! initiation.

use super::{
    Engine, EngineError, HANDSHAKE_PREFIX, REPLAY_KEY, Received, prekey_from_record,
    wire_message_id,
};
use pars_crypto::bundle::PrekeySecret;
use pars_crypto::{CryptoRng, SessionId};
use pars_session::{ReplayCache, Routed, Session, SessionStore};
use pars_store::client::{Batch, Space};
use pars_wire::message::{ContentType, SessionMessage};
use pars_wire::records::{Delivery, MessageRecord, PrekeyRecord, SessionRecord, TransferPeer};
use pars_wire::{MessageId, WireError};

/// The engine's sessions, prekeys and replay cache as `pars-session`'s router reads them.
impl SessionStore for Engine {
    type Error = EngineError;

    fn accepted_handshake(&self, id: &[u8; 32]) -> Result<Option<SessionId>, EngineError> {
        match self.store.get(Space::State, &Self::hs_key(id))? {
            Some(peer) => SessionId::from_bytes(&peer).map(Some).map_err(|_| {
                EngineError::Wire(WireError::Invalid {
                    what: "handshake record",
                    reason: "not a Session ID",
                })
            }),
            None => Ok(None),
        }
    }

    fn open_session(&self, peer: &SessionId) -> Result<Option<Session>, EngineError> {
        match self.load_session(peer)? {
            Some(r) if !r.closed => Ok(Some(Session::from_bytes(&r.state)?)),
            _ => Ok(None),
        }
    }

    /// The open sessions, most recently active first (a reply most likely comes on a session
    /// that was just used). Only the records are read here; the router decodes the session
    /// state of the ones it tries.
    fn open_peers(&self) -> Result<Vec<SessionId>, EngineError> {
        let mut open = Vec::new();
        for (_, v) in self.store.scan(Space::Sessions, &[])? {
            let r = SessionRecord::decode(&v)?;
            if !r.closed {
                open.push((r.last_activity, r.peer));
            }
        }
        open.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
        Ok(open.into_iter().map(|(_, p)| p).collect())
    }

    fn prekeys(&self) -> Result<Vec<PrekeySecret>, EngineError> {
        let mut out = Vec::new();
        for (_, v) in self.store.scan(Space::Prekeys, &[])? {
            out.push(prekey_from_record(&PrekeyRecord::decode(&v)?)?);
        }
        Ok(out)
    }

    fn replay_cache(&self) -> Result<ReplayCache, EngineError> {
        match self.store.get(Space::State, REPLAY_KEY)? {
            Some(raw) => Ok(ReplayCache::from_bytes(&raw)?),
            None => Ok(ReplayCache::new()),
        }
    }
}

impl Engine {
    fn hs_key(id: &[u8; 32]) -> Vec<u8> {
        let mut k = HANDSHAKE_PREFIX.to_vec();
        k.extend_from_slice(id);
        k
    }

    /// Opens a blob fetched from our mailbox: an initial message (a new session, or a further
    /// message of a handshake we accepted) or a message of one of our sessions, routed by
    /// [`pars_session::route`] over this engine's sessions. Duplicates are recognised and
    /// ignored; nothing is stored twice. What a message changes is committed in one batch.
    pub fn receive(
        &mut self,
        blob: &[u8],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Received, EngineError> {
        let msg = SessionMessage::decode(blob)?;
        let id = wire_message_id(&msg);
        if self.store.get(Space::State, &Self::mid_key(&id))?.is_some() {
            return Ok(Received::Ignored("duplicate"));
        }
        let routed = match pars_session::route(&*self, &self.loaded()?.keys, &msg, now) {
            Ok(r) => r,
            // No session opens a normal message: not for us, tampered, or its session is not
            // known yet.
            Err(EngineError::Session(e)) if msg.handshake.is_none() => {
                return Err(EngineError::Undecryptable(e.to_string()));
            }
            Err(e) => return Err(e),
        };
        match routed {
            Routed::Duplicate => Ok(Received::Ignored("duplicate")),
            Routed::Existing { session, decrypted } => {
                let peer = *session.peer();
                let mut rec = self
                    .load_session(&peer)?
                    .ok_or_else(|| EngineError::UnknownSession(peer.to_string()))?;
                rec.state = session.to_bytes().as_slice().to_vec();
                let mut b = Batch::default();
                let out = self.deliver(&mut rec, &mut b, id, decrypted, now)?;
                b.put(Space::Sessions, &self.session_key(&peer), &rec.encode());
                self.store.write(b, rng)?;
                Ok(out)
            }
            Routed::Superseded { peer, replay } => {
                let mut b = Batch::default();
                b.put(Space::State, REPLAY_KEY, &replay.to_bytes());
                self.store.write(b, rng)?;
                // The peer learns of our session only from a message on it: send one (an
                // empty delivery receipt) so it abandons its attempt and re-sends over ours.
                self.send(&peer, &[], ContentType::DeliveryReceipt, now, rng)?;
                Ok(Received::Ignored("initiation superseded by ours"))
            }
            Routed::Accepted {
                session,
                decrypted,
                replay,
                abandoned,
            } => {
                let peer = *session.peer();
                // The record held before (open or closed): its message numbering goes on, so
                // no earlier message of this conversation is overwritten.
                let prev = self.load_session(&peer)?;
                let mut rec = SessionRecord {
                    peer,
                    closed: false,
                    created_at: now,
                    last_activity: now,
                    unread: prev.as_ref().map(|r| r.unread).unwrap_or(0),
                    next_local_seq: prev.as_ref().map(|r| r.next_local_seq).unwrap_or(0),
                    state: session.to_bytes().as_slice().to_vec(),
                };
                let mut b = Batch::default();
                b.put(Space::State, REPLAY_KEY, &replay.to_bytes()).put(
                    Space::State,
                    &Self::hs_key(session.handshake_id()),
                    peer.as_bytes(),
                );
                let out = self.deliver(&mut rec, &mut b, id, decrypted, now)?;
                b.put(Space::Sessions, &self.session_key(&peer), &rec.encode());
                self.store.write(b, rng)?;
                if abandoned.is_some() {
                    let since = prev.map(|r| r.created_at).unwrap_or(now);
                    self.resend_unanswered(&peer, since, now, rng)?;
                }
                Ok(out)
            }
        }
    }

    /// Turns a decrypted message into its effects, added to `b`.
    fn deliver(
        &self,
        rec: &mut SessionRecord,
        b: &mut Batch,
        id: MessageId,
        dec: pars_session::Decrypted,
        now: u64,
    ) -> Result<Received, EngineError> {
        rec.last_activity = now;
        b.put(Space::State, &Self::mid_key(&id), &[]);
        match dec.header.content_type {
            ContentType::ReadReceipt => {
                let mut ids = Vec::new();
                for chunk in dec.content.chunks_exact(16) {
                    let mid = MessageId::from_bytes(chunk)?;
                    if let Some(mkey) = self.store.get(Space::State, &Self::mid_key(&mid))?
                        && !mkey.is_empty()
                        && let Some(raw) = self.store.get(Space::Messages, &mkey)?
                    {
                        let mut m = MessageRecord::decode(&raw)?;
                        if m.outgoing && m.peer == rec.peer {
                            m.read = true;
                            m.delivery = Delivery::Read;
                            b.put(Space::Messages, &mkey, &m.encode());
                            ids.push(mid);
                        }
                    }
                }
                Ok(Received::Receipt(ids))
            }
            // Control: tells the peer our session exists (see `receive`); nothing to show.
            ContentType::DeliveryReceipt => Ok(Received::Ignored("delivery receipt")),
            // Group work: kept as a task for the group worker (it may need the network).
            ContentType::GroupControl => {
                self.stage_group_task(b, &rec.peer, &id, &dec.content, now)?;
                Ok(Received::GroupTask)
            }
            ct => {
                if ct == ContentType::File {
                    let from = TransferPeer::Session(rec.peer);
                    if self
                        .stage_file_offer(b, from, id, &dec.content, now)
                        .is_err()
                    {
                        return Ok(Received::Ignored(
                            "a file message whose manifest does not decode",
                        ));
                    }
                }
                let m = MessageRecord {
                    id,
                    peer: rec.peer,
                    outgoing: false,
                    content_type: ct as u8,
                    timestamp: dec.header.timestamp,
                    local_time: now,
                    sequence: dec.header.sequence,
                    delivery: Delivery::Received,
                    read: false,
                    content: dec.content,
                    error: None,
                };
                let mkey = self.message_key(&rec.peer, rec.next_local_seq);
                rec.next_local_seq += 1;
                rec.unread += 1;
                b.put(Space::Messages, &mkey, &m.encode()).put(
                    Space::State,
                    &Self::mid_key(&id),
                    &mkey,
                );
                Ok(Received::Message(m))
            }
        }
    }

    /// After losing a simultaneous initiation: re-encrypt, over the new session, the user
    /// messages (text, contract actions, …) sent since `since` that the peer never answered (its side dropped them).
    fn resend_unanswered(
        &mut self,
        peer: &SessionId,
        since: u64,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        let prefix = self.store.index(Space::Messages, peer.as_bytes())[..16].to_vec();
        let mut old = Vec::new();
        for (k, v) in self.store.scan(Space::Messages, &prefix)? {
            let m = MessageRecord::decode(&v)?;
            if m.outgoing && m.local_time >= since && m.delivery != Delivery::Read {
                old.push((k, m));
            }
        }
        for (k, m) in old {
            let mut b = Batch::default();
            b.delete(Space::Messages, &k)
                .delete(Space::State, &Self::mid_key(&m.id))
                .delete(Space::Outbox, m.id.as_bytes());
            self.store.write(b, rng)?;
            self.send(
                peer,
                &m.content,
                ContentType::from_u8(m.content_type)?,
                now,
                rng,
            )?;
        }
        Ok(())
    }

    /// Marks incoming messages of the session with `peer` up to and including `id` as read, and
    /// queues a read receipt for them.
    pub fn mark_read(
        &mut self,
        peer: &SessionId,
        id: &MessageId,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<usize, EngineError> {
        let mkey = self
            .store
            .get(Space::State, &Self::mid_key(id))?
            .filter(|k| !k.is_empty())
            .ok_or_else(|| EngineError::UnknownMessage(id.to_string()))?;
        let prefix = self.store.index(Space::Messages, peer.as_bytes())[..16].to_vec();
        if !mkey.starts_with(&prefix) {
            return Err(EngineError::UnknownMessage(id.to_string()));
        }
        let mut rec = self
            .load_session(peer)?
            .ok_or_else(|| EngineError::UnknownSession(peer.to_string()))?;
        let mut b = Batch::default();
        let mut receipt = Vec::new();
        for (k, v) in self.store.scan(Space::Messages, &prefix)? {
            if k.as_slice() > mkey.as_slice() {
                break;
            }
            let mut m = MessageRecord::decode(&v)?;
            if !m.outgoing && !m.read {
                m.read = true;
                receipt.extend_from_slice(m.id.as_bytes());
                b.put(Space::Messages, &k, &m.encode());
            }
        }
        let n = receipt.len() / 16;
        rec.unread = rec.unread.saturating_sub(n as u64);
        b.put(Space::Sessions, &self.session_key(peer), &rec.encode());
        self.store.write(b, rng)?;
        if n > 0 && !rec.closed {
            self.send(peer, &receipt, ContentType::ReadReceipt, now, rng)?;
        }
        Ok(n)
    }
}
