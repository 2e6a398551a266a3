//! Records of the client store about files: a file offered to us (the manifest from a file
//! message), and a transfer (an upload or a download) with its progress, so that a transfer
//! goes on from where it was after a crash or a restart.

use super::{RECORD_VERSION, flag, session_id, version};
use crate::file::{CHUNK_ID_LEN, FileManifest};
use crate::{ChunkId, GroupId, MessageId, Reader, TransferId, WireError, Writer};
use pars_crypto::SessionId;

/// Longest local path a transfer keeps (bytes of UTF-8).
pub const MAX_PATH_LEN: usize = 4096;
/// Longest error text a transfer keeps.
const MAX_ERROR_LEN: usize = 2048;
/// Most chunks a transfer tracks (a 1 TiB file in 24 KiB chunks, with its index).
const MAX_CHUNKS: u64 = 1 << 26;

/// Whom a file goes to or came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferPeer {
    /// The peer of a one-to-one session.
    Session(SessionId),
    /// A group.
    Group(GroupId),
}

impl TransferPeer {
    fn write(&self, w: &mut Writer) {
        match self {
            TransferPeer::Session(s) => {
                w.u8(0).bytes(s.as_bytes());
            }
            TransferPeer::Group(g) => {
                w.u8(1);
                g.write(w);
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        match r.u8("transfer peer kind")? {
            0 => Ok(TransferPeer::Session(session_id(r, "transfer peer")?)),
            1 => Ok(TransferPeer::Group(GroupId::read(r)?)),
            v => Err(WireError::UnknownVariant {
                what: "transfer peer kind",
                value: u64::from(v),
            }),
        }
    }
}

/// Where a transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferState {
    /// Under way, or to be resumed.
    Running,
    /// Finished.
    Done,
    /// Stopped by an error a retry does not change.
    Failed,
    /// Cancelled by the user.
    Cancelled,
}

impl TransferState {
    fn to_u8(self) -> u8 {
        match self {
            TransferState::Running => 0,
            TransferState::Done => 1,
            TransferState::Failed => 2,
            TransferState::Cancelled => 3,
        }
    }

    fn from_u8(v: u8) -> Result<Self, WireError> {
        Ok(match v {
            0 => TransferState::Running,
            1 => TransferState::Done,
            2 => TransferState::Failed,
            3 => TransferState::Cancelled,
            v => {
                return Err(WireError::UnknownVariant {
                    what: "transfer state",
                    value: u64::from(v),
                });
            }
        })
    }
}

fn utf8(b: &[u8], what: &'static str) -> Result<String, WireError> {
    String::from_utf8(b.to_vec()).map_err(|_| WireError::Invalid {
        what,
        reason: "not UTF-8",
    })
}

/// A file offered to us in a message: `version ‖ manifest (var16) ‖ from (1 + 33 or 32) ‖
/// message ID (16) ‖ received at (8)`. The manifest holds the file key: the record goes to the
/// encrypted store only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOfferRecord {
    /// The manifest.
    pub manifest: FileManifest,
    /// Who offered it (a session's peer, or a group).
    pub from: TransferPeer,
    /// The message that offered it.
    pub message: MessageId,
    /// When it arrived (Unix seconds).
    pub received_at: u64,
}

impl FileOfferRecord {
    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(640);
        w.u8(RECORD_VERSION).var16(&self.manifest.encode());
        self.from.write(&mut w);
        self.message.write(&mut w);
        w.u64(self.received_at);
        w.into_vec()
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        version(&mut r, "file offer record")?;
        let manifest = FileManifest::decode(r.var16(1024, "file manifest")?)?;
        let from = TransferPeer::read(&mut r)?;
        let message = MessageId::read(&mut r)?;
        let received_at = r.u64("received at")?;
        r.finish("file offer record")?;
        Ok(Self {
            manifest,
            from,
            message,
            received_at,
        })
    }
}

/// A transfer: `version ‖ id (16) ‖ upload (1) ‖ manifest (var16) ‖ peer (1 + 33 or 32) ‖ path
/// (var16, UTF-8) ‖ state (1) ‖ error (var16, empty for none) ‖ created (8) ‖ updated (8) ‖
/// error kind (var16, a `pars_error::ErrorKind` name, empty for none)`. Records written before
/// the error kind was kept end after `updated` and decode with none.
/// Its progress is a separate record ([`TransferProgress`]), rewritten as it moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRecord {
    /// Its ID.
    pub id: TransferId,
    /// An upload (else a download).
    pub upload: bool,
    /// The file.
    pub manifest: FileManifest,
    /// To or from whom.
    pub peer: TransferPeer,
    /// The local file read (upload) or written (download).
    pub path: String,
    /// Where it stands.
    pub state: TransferState,
    /// Why it failed, or the last error it retries after.
    pub error: Option<String>,
    /// The kind of the failure, for a failed transfer (what `parsctl` takes its exit code
    /// from).
    pub error_kind: Option<pars_error::ErrorKind>,
    /// When it began (Unix seconds).
    pub created_at: u64,
    /// When it last changed state.
    pub updated_at: u64,
}

impl TransferRecord {
    /// A new running transfer, begun at `now`.
    pub fn start(
        id: TransferId,
        upload: bool,
        manifest: FileManifest,
        peer: TransferPeer,
        path: &str,
        now: u64,
    ) -> Self {
        Self {
            id,
            upload,
            manifest,
            peer,
            path: path.to_string(),
            state: TransferState::Running,
            error: None,
            error_kind: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(700 + self.path.len());
        w.u8(RECORD_VERSION);
        self.id.write(&mut w);
        w.u8(u8::from(self.upload)).var16(&self.manifest.encode());
        self.peer.write(&mut w);
        let error = self.error.as_deref().unwrap_or("");
        let error = &error.as_bytes()[..floor_char(error, MAX_ERROR_LEN)];
        w.var16(self.path.as_bytes())
            .u8(self.state.to_u8())
            .var16(error)
            .u64(self.created_at)
            .u64(self.updated_at)
            .var16(self.error_kind.map_or("", |k| k.as_str()).as_bytes());
        w.into_vec()
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        version(&mut r, "transfer record")?;
        let id = TransferId::read(&mut r)?;
        let upload = flag(&mut r, "upload")?;
        let manifest = FileManifest::decode(r.var16(1024, "file manifest")?)?;
        let peer = TransferPeer::read(&mut r)?;
        let path = utf8(r.var16(MAX_PATH_LEN, "transfer path")?, "transfer path")?;
        let state = TransferState::from_u8(r.u8("transfer state")?)?;
        let error = utf8(r.var16(MAX_ERROR_LEN, "transfer error")?, "transfer error")?;
        let created_at = r.u64("created at")?;
        let updated_at = r.u64("updated at")?;
        let error_kind = if r.remaining() == 0 {
            None
        } else {
            match utf8(r.var16(32, "transfer error kind")?, "transfer error kind")?.as_str() {
                "" => None,
                name => Some(
                    pars_error::ErrorKind::from_name(name).ok_or(WireError::Invalid {
                        what: "transfer error kind",
                        reason: "not a known error kind",
                    })?,
                ),
            }
        };
        r.finish("transfer record")?;
        Ok(Self {
            id,
            upload,
            manifest,
            peer,
            path,
            state,
            error: (!error.is_empty()).then_some(error),
            error_kind,
            created_at,
            updated_at,
        })
    }
}

/// The largest index ≤ `max` at a character boundary of `s`.
fn floor_char(s: &str, max: usize) -> usize {
    let mut i = s.len().min(max);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Which chunks of a transfer are done: `version ‖ chunks (8) ‖ bitmap (var32, ⌈chunks / 8⌉
/// bytes, chunk i at bit i % 8 of byte i / 8)`. Chunks are numbered data chunks first, then
/// the index chunks from level 1 up (the order of `pars_wire::file::IndexBuilder`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferProgress {
    chunks: u64,
    bits: Vec<u8>,
    done: u64,
}

impl TransferProgress {
    /// Nothing done of `chunks` chunks.
    pub fn new(chunks: u64) -> Result<Self, WireError> {
        if chunks > MAX_CHUNKS {
            return Err(WireError::Invalid {
                what: "transfer progress",
                reason: "too many chunks",
            });
        }
        Ok(Self {
            chunks,
            bits: vec![0; chunks.div_ceil(8) as usize],
            done: 0,
        })
    }

    /// Chunks in all.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    /// Chunks done.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Whether every chunk is done.
    pub fn complete(&self) -> bool {
        self.done == self.chunks
    }

    /// Whether chunk `i` is done (false beyond the end).
    pub fn is_done(&self, i: u64) -> bool {
        i < self.chunks
            && self
                .bits
                .get((i / 8) as usize)
                .is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// Marks chunk `i` done (nothing beyond the end); whether it was not before.
    pub fn mark(&mut self, i: u64) -> bool {
        if i >= self.chunks {
            return false;
        }
        match self.bits.get_mut((i / 8) as usize) {
            Some(b) if *b & (1 << (i % 8)) == 0 => {
                *b |= 1 << (i % 8);
                self.done += 1;
                true
            }
            _ => false,
        }
    }

    /// The chunks not done, in order.
    pub fn missing(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.chunks).filter(|i| !self.is_done(*i))
    }

    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(16 + self.bits.len());
        w.u8(RECORD_VERSION).u64(self.chunks).var32(&self.bits);
        w.into_vec()
    }

    /// Decodes (bits beyond the last chunk must be zero).
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        version(&mut r, "transfer progress")?;
        let chunks = r.u64("chunks")?;
        let mut p = Self::new(chunks)?;
        let bits = r.var32(p.bits.len(), "progress bitmap")?;
        r.finish("transfer progress")?;
        if bits.len() != p.bits.len() {
            return Err(WireError::Invalid {
                what: "progress bitmap",
                reason: "wrong length",
            });
        }
        if chunks % 8 != 0 && bits.last().is_some_and(|b| b >> (chunks % 8) != 0) {
            return Err(WireError::Invalid {
                what: "progress bitmap",
                reason: "bits beyond the last chunk",
            });
        }
        p.done = bits.iter().map(|b| u64::from(b.count_ones())).sum();
        p.bits = bits.to_vec();
        Ok(p)
    }
}

/// The IDs of a file's data chunks, in order (`version ‖ count (8) ‖ IDs (32 each)`): written
/// once per transfer (by the upload's first pass, or by the download's walk of the index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkIdsRecord(pub Vec<ChunkId>);

impl ChunkIdsRecord {
    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(9 + CHUNK_ID_LEN * self.0.len());
        w.u8(RECORD_VERSION).u64(self.0.len() as u64);
        for id in &self.0 {
            id.write(&mut w);
        }
        w.into_vec()
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        version(&mut r, "chunk IDs record")?;
        let n = r.u64("chunk count")?;
        if n > MAX_CHUNKS || n.saturating_mul(CHUNK_ID_LEN as u64) != r.remaining() as u64 {
            return Err(WireError::Invalid {
                what: "chunk IDs record",
                reason: "count does not match its length",
            });
        }
        let ids = (0..n)
            .map(|_| ChunkId::read(&mut r))
            .collect::<Result<Vec<_>, _>>()?;
        r.finish("chunk IDs record")?;
        Ok(Self(ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn manifest() -> FileManifest {
        FileManifest {
            id: crate::FileId([7; 32]),
            key: Zeroizing::new([9; 32]),
            size: 100_000,
            chunk_len: crate::file::FILE_CHUNK_LEN,
            name: "a.bin".into(),
            mime: "application/octet-stream".into(),
        }
    }

    #[test]
    fn records_round_trip_and_refuse_junk() {
        let t = TransferRecord {
            id: TransferId([1; 16]),
            upload: true,
            manifest: manifest(),
            peer: TransferPeer::Group(GroupId([3; 32])),
            path: "/tmp/a é.bin".into(),
            state: TransferState::Failed,
            error: Some("disk full".into()),
            error_kind: Some(pars_error::ErrorKind::Storage),
            created_at: 5,
            updated_at: 6,
        };
        assert_eq!(TransferRecord::decode(&t.encode()).unwrap(), t);
        let o = FileOfferRecord {
            manifest: manifest(),
            from: TransferPeer::Group(GroupId([4; 32])),
            message: MessageId([2; 16]),
            received_at: 8,
        };
        assert_eq!(FileOfferRecord::decode(&o.encode()).unwrap(), o);
        let ids = ChunkIdsRecord(vec![ChunkId([5; 32]); 3]);
        assert_eq!(ChunkIdsRecord::decode(&ids.encode()).unwrap(), ids);
        let mut bad = ids.encode();
        bad.pop();
        assert!(ChunkIdsRecord::decode(&bad).is_err());
        // A record written before the error kind was kept ends after `updated`.
        let kind_len = 2 + "storage".len();
        let before_kinds = t.encode().len() - kind_len;
        let old = TransferRecord::decode(&t.encode()[..before_kinds]).unwrap();
        assert_eq!(old.error_kind, None);
        assert_eq!(old.encode()[..before_kinds], t.encode()[..before_kinds]);
        for cut in (0..t.encode().len()).filter(|c| *c != before_kinds) {
            assert!(TransferRecord::decode(&t.encode()[..cut]).is_err());
        }
        let mut unknown = t.encode()[..before_kinds].to_vec();
        unknown.extend_from_slice(&[0, 4]);
        unknown.extend_from_slice(b"oops");
        assert!(TransferRecord::decode(&unknown).is_err());
    }

    #[test]
    fn progress_counts_each_chunk_once() {
        let mut p = TransferProgress::new(13).unwrap();
        assert!(p.mark(0) && p.mark(12) && !p.mark(12) && !p.mark(13));
        assert_eq!(p.done(), 2);
        assert_eq!(p.missing().count(), 11);
        let q = TransferProgress::decode(&p.encode()).unwrap();
        assert_eq!(q, p);
        assert!(q.is_done(12) && !q.is_done(11));
        let mut e = p.encode();
        let last = e.len() - 1;
        e[last] |= 0x80; // bit 15: beyond chunk 12
        assert!(TransferProgress::decode(&e).is_err());
        assert!(TransferProgress::new(MAX_CHUNKS + 1).is_err());
    }
}
