//! The engine's side of files: the offers received in file messages (a session's or a
//! group's), the transfer records with their progress and chunk IDs, and the one step of an
//! upload that must be atomic: offering the file and marking the upload done in one batch.
//!
//! The bytes themselves never pass through here: the transfer workers (`crate::transfers`)
//! read and write the files and talk to the network; this keeps what must survive a crash.
//!
//! Keys in [`Space::Files`]: `o/` + index(file ID) → [`FileOfferRecord`]; `t/` + transfer ID →
//! [`TransferRecord`]; `p/` + transfer ID → [`TransferProgress`]; `i/` + transfer ID →
//! [`ChunkIdsRecord`].

use super::{Engine, EngineError};
use pars_crypto::CryptoRng;
use pars_store::client::{Batch, Space};
use pars_wire::file::FileManifest;
use pars_wire::group::GroupContent;
use pars_wire::message::ContentType;
use pars_wire::records::{
    ChunkIdsRecord, FileOfferRecord, TransferPeer, TransferProgress, TransferRecord, TransferState,
};
use pars_wire::{FileId, MessageId, TransferId};

const OFFER: &[u8] = b"o/";
const TRANSFER: &[u8] = b"t/";
const PROGRESS: &[u8] = b"p/";
const IDS: &[u8] = b"i/";

fn key(prefix: &[u8], id: &[u8]) -> Vec<u8> {
    [prefix, id].concat()
}

impl Engine {
    fn offer_key(&self, file: &FileId) -> Vec<u8> {
        key(OFFER, &self.store.index(Space::Files, file.as_bytes()))
    }

    /// Stages the offer of a received file message (`content` is its manifest); an error when
    /// the manifest does not decode (the message is then not shown either).
    pub(super) fn stage_file_offer(
        &self,
        b: &mut Batch,
        from: TransferPeer,
        message: MessageId,
        content: &[u8],
        now: u64,
    ) -> Result<FileManifest, EngineError> {
        let manifest = FileManifest::decode(content)?;
        let offer = FileOfferRecord {
            manifest: manifest.clone(),
            from,
            message,
            received_at: now,
        };
        b.put(Space::Files, &self.offer_key(&manifest.id), &offer.encode());
        Ok(manifest)
    }

    /// Checks that a file can be sent to `to` now: an open session, or a group we are an
    /// active member of.
    pub fn check_file_target(&self, to: &TransferPeer) -> Result<(), EngineError> {
        match to {
            TransferPeer::Session(peer) => {
                let rec = self
                    .load_session(peer)?
                    .ok_or_else(|| EngineError::UnknownSession(peer.to_string()))?;
                if rec.closed {
                    return Err(EngineError::SessionClosed(peer.to_string()));
                }
            }
            TransferPeer::Group(g) => {
                if self.group_state(g)? != pars_wire::records::GroupState::Active {
                    return Err(EngineError::GroupInactive(g.to_string()));
                }
            }
        }
        Ok(())
    }

    /// The offer of file `file`.
    pub fn file_offer(&self, file: &FileId) -> Result<FileOfferRecord, EngineError> {
        let raw = self
            .store
            .get(Space::Files, &self.offer_key(file))?
            .ok_or_else(|| EngineError::UnknownFile(file.to_string()))?;
        Ok(FileOfferRecord::decode(&raw)?)
    }

    /// A transfer.
    pub fn transfer(&self, id: &TransferId) -> Result<TransferRecord, EngineError> {
        let raw = self
            .store
            .get(Space::Files, &key(TRANSFER, id.as_bytes()))?
            .ok_or_else(|| EngineError::UnknownTransfer(id.to_string()))?;
        Ok(TransferRecord::decode(&raw)?)
    }

    /// Every transfer, newest first.
    pub fn transfers(&self) -> Result<Vec<TransferRecord>, EngineError> {
        let mut all = self
            .store
            .scan(Space::Files, TRANSFER)?
            .iter()
            .map(|(_, v)| TransferRecord::decode(v))
            .collect::<Result<Vec<_>, _>>()?;
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        Ok(all)
    }

    /// A transfer's progress (none before its first save).
    pub fn transfer_progress(
        &self,
        id: &TransferId,
    ) -> Result<Option<TransferProgress>, EngineError> {
        match self
            .store
            .get(Space::Files, &key(PROGRESS, id.as_bytes()))?
        {
            Some(raw) => Ok(Some(TransferProgress::decode(&raw)?)),
            None => Ok(None),
        }
    }

    /// A transfer's data chunk IDs (none before they are known).
    pub fn transfer_chunk_ids(
        &self,
        id: &TransferId,
    ) -> Result<Option<ChunkIdsRecord>, EngineError> {
        match self.store.get(Space::Files, &key(IDS, id.as_bytes()))? {
            Some(raw) => Ok(Some(ChunkIdsRecord::decode(&raw)?)),
            None => Ok(None),
        }
    }

    /// Saves a transfer, with its progress and its chunk IDs when given, in one batch.
    pub fn save_transfer(
        &self,
        t: &TransferRecord,
        progress: Option<&TransferProgress>,
        ids: Option<&ChunkIdsRecord>,
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        let mut b = Batch::default();
        b.put(Space::Files, &key(TRANSFER, t.id.as_bytes()), &t.encode());
        if let Some(p) = progress {
            b.put(Space::Files, &key(PROGRESS, t.id.as_bytes()), &p.encode());
        }
        if let Some(ids) = ids {
            b.put(Space::Files, &key(IDS, t.id.as_bytes()), &ids.encode());
        }
        self.store.write(b, rng)?;
        Ok(())
    }

    /// Saves a transfer's progress alone.
    pub fn save_progress(
        &self,
        id: &TransferId,
        progress: &TransferProgress,
        rng: &mut impl CryptoRng,
    ) -> Result<(), EngineError> {
        let mut b = Batch::default();
        b.put(
            Space::Files,
            &key(PROGRESS, id.as_bytes()),
            &progress.encode(),
        );
        self.store.write(b, rng)?;
        Ok(())
    }

    /// Ends an upload whose chunks are all stored: offers the file to its peer or group (a file
    /// message, queued) and marks the upload done, in one batch, so the offer is sent exactly
    /// once whatever crashes. Returns the updated record; a transfer not running is returned
    /// as it is.
    pub fn finish_upload(
        &mut self,
        id: &TransferId,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<TransferRecord, EngineError> {
        let mut t = self.transfer(id)?;
        if !t.upload || t.state != TransferState::Running {
            return Ok(t);
        }
        t.state = TransferState::Done;
        t.error = None;
        t.error_kind = None;
        t.updated_at = now;
        let done = t.encode();
        match t.peer {
            TransferPeer::Session(peer) => {
                let mut b = Batch::default();
                let manifest = t.manifest.encode();
                self.stage_send(&mut b, &peer, &manifest, ContentType::File, now, rng)?;
                b.put(Space::Files, &key(TRANSFER, id.as_bytes()), &done);
                self.store.write(b, rng)?;
            }
            TransferPeer::Group(g) => {
                let content = GroupContent::File {
                    sent_at: now,
                    manifest: t.manifest.clone(),
                };
                let shown = t.manifest.encode().to_vec();
                self.send_group_content(&g, &content, ContentType::File, shown, now, rng, |b| {
                    b.put(Space::Files, &key(TRANSFER, id.as_bytes()), &done);
                })?;
            }
        }
        Ok(t)
    }
}
