//! Files (`FileManifest`, sealed chunks, the chunk index): the formats a file travels in.
//!
//! A file is cut into chunks of `chunk_len` bytes (the last padded with zeros to full length,
//! so the stored size reveals the size only to the chunk), each sealed with XChaCha20-Poly1305
//! under the file's chunk key (HKDF-SHA3-256 of the random file key, info
//! [`labels::FILE_CHUNK_KEY`]) and a nonce made of the chunk's level and index: no nonce
//! repeats under one key, and a chunk opens only at its own place. A sealed chunk is stored in
//! the swarm of its own **chunk ID**, SHA3-256 of the sealed bytes ([`Mailbox::Chunk`]):
//! a file spreads over as many swarms as it has chunks, and a node can check what it stores.
//!
//! The chunk IDs are kept in an **index**: level 1 lists the data chunks' IDs, 32 bytes each,
//! `chunk_len / 32` to an index chunk; each level above lists the one below, up to a level of
//! one chunk, the root. Index chunks are sealed like data chunks (at their level), so the index
//! is as private as the data. The file's ID is the root's chunk ID: a hash that commits to every
//! sealed byte of the file (the spec's "SHA3-256 of the encrypted file", as a hash tree, so a
//! receiver checks each chunk against its ID before it writes it).
//!
//! The manifest (ID, key, size, chunk length, name, MIME type) travels inside the end-to-end
//! encrypted session or group message that offers the file.
//!
//! [`Mailbox::Chunk`]: crate::swarm::Mailbox::Chunk

use crate::{ChunkId, FileId, Reader, WireError, Writer};
use pars_crypto::{SharedSecret, aead, kdf, labels, sha3_256};
use zeroize::Zeroizing;

/// Version byte of the manifest.
pub const FILE_FORMAT_VERSION: u8 = 1;
/// Chunk length of small files (at most [`BULK_FILE_THRESHOLD`]) sent over onion paths: a
/// sealed chunk (24,592 bytes) fits one standard onion store request
/// ([`crate::swarm::MAX_ONION_INBOX_PAYLOAD`], 25,437 bytes).
pub const FILE_CHUNK_LEN: u32 = 24 * 1024;
/// Chunk length of larger files: a sealed chunk (122,896 bytes) fits one bulk onion store
/// request ([`crate::swarm::MAX_ONION_CHUNK_PAYLOAD`], 123,742 bytes).
pub const BULK_FILE_CHUNK_LEN: u32 = 120 * 1024;
/// Files larger than this (1 MiB) are cut into [`BULK_FILE_CHUNK_LEN`] chunks and travel in
/// bulk onion packets; smaller ones in [`FILE_CHUNK_LEN`] chunks and standard packets.
pub const BULK_FILE_THRESHOLD: u64 = 1 << 20;

/// The chunk length a sender uses for a file of `size` bytes (the manifest names it, so a
/// receiver follows whatever the sender chose).
pub fn chunk_len_for(size: u64) -> u32 {
    if size > BULK_FILE_THRESHOLD {
        BULK_FILE_CHUNK_LEN
    } else {
        FILE_CHUNK_LEN
    }
}
/// Smallest chunk length a manifest may name.
pub const MIN_CHUNK_LEN: u32 = 1024;
/// Largest chunk length a manifest may name.
pub const MAX_CHUNK_LEN: u32 = 1024 * 1024;
/// Largest file the format describes (1 TiB); daemons set a smaller limit.
pub const MAX_FILE_SIZE: u64 = 1 << 40;
/// Longest file name, in bytes of UTF-8.
pub const MAX_FILE_NAME: usize = 255;
/// Longest MIME type.
pub const MAX_MIME_TYPE: usize = 127;
/// Bytes of a chunk ID.
pub const CHUNK_ID_LEN: usize = 32;

/// The ID of a sealed chunk: SHA3-256 of its bytes (the swarm's content hash of it).
pub fn chunk_id(sealed: &[u8]) -> ChunkId {
    ChunkId(sha3_256(&[sealed]))
}

/// A file as its receiver needs it: where it is, how to open it, what it is.
///
/// `version (1) ‖ id (32) ‖ key (32) ‖ size (8) ‖ chunk_len (4) ‖ name (var16) ‖ mime (var8 as
/// var16)`: 81 bytes plus the name and type.
#[derive(Clone, PartialEq, Eq)]
pub struct FileManifest {
    /// The file's ID: the chunk ID of its index root.
    pub id: FileId,
    /// The random file key.
    pub key: Zeroizing<[u8; 32]>,
    /// The file's size in bytes.
    pub size: u64,
    /// Bytes per chunk.
    pub chunk_len: u32,
    /// The file's name (no directories).
    pub name: String,
    /// Its MIME type (may be empty).
    pub mime: String,
}

impl std::fmt::Debug for FileManifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileManifest")
            .field("id", &self.id)
            .field("size", &self.size)
            .field("chunk_len", &self.chunk_len)
            .field("name", &self.name)
            .field("mime", &self.mime)
            .finish_non_exhaustive()
    }
}

fn utf8(b: &[u8], what: &'static str) -> Result<String, WireError> {
    String::from_utf8(b.to_vec()).map_err(|_| WireError::Invalid {
        what,
        reason: "not UTF-8",
    })
}

/// A file name as sent: its last path component, without control characters, 1 to 255 bytes.
pub fn check_file_name(name: &str) -> Result<(), WireError> {
    let what = "file name";
    if name.is_empty() || name == "." || name == ".." {
        return Err(WireError::Invalid {
            what,
            reason: "empty",
        });
    }
    if name.len() > MAX_FILE_NAME {
        return Err(WireError::TooLong {
            what,
            len: name.len(),
            max: MAX_FILE_NAME,
        });
    }
    if name.contains(['/', '\\']) || name.chars().any(char::is_control) {
        return Err(WireError::Invalid {
            what,
            reason: "path separators or control characters",
        });
    }
    Ok(())
}

/// A chunk length a manifest may name: 1 KiB to 1 MiB, a multiple of 1 KiB.
pub fn check_chunk_len(chunk_len: u32) -> Result<(), WireError> {
    if !(MIN_CHUNK_LEN..=MAX_CHUNK_LEN).contains(&chunk_len) || !chunk_len.is_multiple_of(1024) {
        return Err(WireError::Invalid {
            what: "chunk length",
            reason: "not a multiple of 1 KiB from 1 KiB to 1 MiB",
        });
    }
    Ok(())
}

impl FileManifest {
    /// Encodes the manifest.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::with_capacity(96 + self.name.len() + self.mime.len());
        w.u8(FILE_FORMAT_VERSION);
        self.id.write(&mut w);
        w.bytes(&self.key[..])
            .u64(self.size)
            .u32(self.chunk_len)
            .var16(self.name.as_bytes())
            .var16(self.mime.as_bytes());
        Zeroizing::new(w.into_vec())
    }

    /// Decodes and checks a manifest (any input gives a manifest or an error).
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let what = "file manifest";
        let mut r = Reader::new(bytes);
        let version = r.u8(what)?;
        if version != FILE_FORMAT_VERSION {
            return Err(WireError::UnsupportedVersion { what, version });
        }
        let id = FileId::read(&mut r)?;
        let key = Zeroizing::new(r.array::<32>("file key")?);
        let size = r.u64("file size")?;
        if size > MAX_FILE_SIZE {
            return Err(WireError::Invalid {
                what: "file size",
                reason: "over 1 TiB",
            });
        }
        let chunk_len = r.u32("chunk length")?;
        check_chunk_len(chunk_len)?;
        let name = utf8(r.var16(MAX_FILE_NAME, "file name")?, "file name")?;
        check_file_name(&name)?;
        let mime = utf8(r.var16(MAX_MIME_TYPE, "MIME type")?, "MIME type")?;
        if mime.chars().any(char::is_control) {
            return Err(WireError::Invalid {
                what: "MIME type",
                reason: "control characters",
            });
        }
        r.finish(what)?;
        Ok(Self {
            id,
            key,
            size,
            chunk_len,
            name,
            mime,
        })
    }

    /// The file's layout.
    pub fn layout(&self) -> Layout {
        Layout::new(self.size, self.chunk_len)
    }

    /// The key its chunks are sealed under.
    pub fn sealer(&self) -> ChunkSealer {
        ChunkSealer::new(&self.key, self.chunk_len)
    }
}

/// How many chunks a file has at each level: data chunks at level 0, index chunks above, one
/// chunk (the root) at the top.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Bytes per chunk.
    pub chunk_len: u32,
    /// The file's size.
    pub size: u64,
    /// Chunks at each level, from the data (level 0) to the root.
    pub levels: Vec<u64>,
}

impl Layout {
    /// The layout of a file of `size` bytes in chunks of `chunk_len` (checked by
    /// [`check_chunk_len`]; at least 1,024). An empty file has one data chunk, all padding.
    pub fn new(size: u64, chunk_len: u32) -> Self {
        let cl = u64::from(chunk_len.max(MIN_CHUNK_LEN));
        let fan_out = cl / CHUNK_ID_LEN as u64;
        let mut levels = vec![size.div_ceil(cl).max(1)];
        loop {
            let below = levels[levels.len() - 1];
            levels.push(below.div_ceil(fan_out));
            if below <= fan_out {
                break;
            }
        }
        Self {
            chunk_len,
            size,
            levels,
        }
    }

    /// Data chunks.
    pub fn data_chunks(&self) -> u64 {
        self.levels[0]
    }

    /// Chunks of every level (what is stored).
    pub fn total_chunks(&self) -> u64 {
        self.levels.iter().sum()
    }

    /// The level of the root.
    pub fn root_level(&self) -> u8 {
        (self.levels.len() - 1) as u8
    }

    /// Entries (chunk IDs) in index chunk `index` of `level` (≥ 1).
    pub fn entries(&self, level: u8, index: u64) -> usize {
        let fan_out = u64::from(self.chunk_len) / CHUNK_ID_LEN as u64;
        let below = self
            .levels
            .get(usize::from(level).saturating_sub(1))
            .copied()
            .unwrap_or(0);
        below.saturating_sub(index * fan_out).min(fan_out) as usize
    }

    /// Bytes of the file in data chunk `index`.
    pub fn data_len(&self, index: u64) -> usize {
        let cl = u64::from(self.chunk_len);
        self.size.saturating_sub(index * cl).min(cl) as usize
    }
}

/// Seals and opens the chunks of one file.
pub struct ChunkSealer {
    key: SharedSecret,
    chunk_len: u32,
}

impl ChunkSealer {
    /// The sealer of a file with key `file_key` and chunks of `chunk_len` bytes.
    pub fn new(file_key: &[u8; 32], chunk_len: u32) -> Self {
        Self {
            key: kdf::derive_key(labels::FILE_CHUNK_KEY, file_key, &[labels::FILE_CHUNK_KEY]),
            chunk_len,
        }
    }

    /// The nonce of a chunk: level (1) ‖ index (8) ‖ zeros, 24 bytes.
    fn nonce(level: u8, index: u64) -> [u8; aead::NONCE_LEN] {
        let mut n = [0u8; aead::NONCE_LEN];
        n[0] = level;
        n[1..9].copy_from_slice(&index.to_be_bytes());
        n
    }

    /// The associated data of a chunk: version ‖ level ‖ index ‖ chunk length.
    fn aad(&self, level: u8, index: u64) -> [u8; 14] {
        let mut a = [0u8; 14];
        a[0] = FILE_FORMAT_VERSION;
        a[1] = level;
        a[2..10].copy_from_slice(&index.to_be_bytes());
        a[10..].copy_from_slice(&self.chunk_len.to_be_bytes());
        a
    }

    /// Seals chunk `index` of `level`: `plain` (at most `chunk_len` bytes) padded with zeros
    /// to `chunk_len`, then sealed (`chunk_len + 16` bytes).
    pub fn seal(&self, level: u8, index: u64, plain: &[u8]) -> Result<Vec<u8>, WireError> {
        let cl = self.chunk_len as usize;
        if plain.len() > cl {
            return Err(WireError::TooLong {
                what: "file chunk",
                len: plain.len(),
                max: cl,
            });
        }
        let mut padded = Zeroizing::new(vec![0u8; cl]);
        padded[..plain.len()].copy_from_slice(plain);
        Ok(aead::seal(
            &self.key,
            &Self::nonce(level, index),
            &self.aad(level, index),
            &padded,
        ))
    }

    /// Opens chunk `index` of `level` (padding included: the caller keeps what the layout
    /// says is data). Refused if it is not that chunk of this file.
    pub fn open(
        &self,
        level: u8,
        index: u64,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, WireError> {
        if sealed.len() != self.chunk_len as usize + aead::TAG_LEN {
            return Err(WireError::Invalid {
                what: "file chunk",
                reason: "not the chunk length of the file",
            });
        }
        aead::open(
            &self.key,
            &Self::nonce(level, index),
            &self.aad(level, index),
            sealed,
        )
        .map(Zeroizing::new)
        .map_err(|_| WireError::Invalid {
            what: "file chunk",
            reason: "does not open under the file key at its place (tampered, or another chunk)",
        })
    }
}

/// The chunk IDs listed by an opened index chunk: its first `entries` IDs.
pub fn index_entries(plain: &[u8], entries: usize) -> Result<Vec<ChunkId>, WireError> {
    let need = entries.saturating_mul(CHUNK_ID_LEN);
    let body = plain.get(..need).ok_or(WireError::Invalid {
        what: "file index chunk",
        reason: "shorter than its entries",
    })?;
    if plain[need..].iter().any(|b| *b != 0) {
        return Err(WireError::Invalid {
            what: "file index chunk",
            reason: "bytes after its entries",
        });
    }
    Ok(body
        .chunks_exact(CHUNK_ID_LEN)
        .map(|c| {
            let mut id = [0u8; CHUNK_ID_LEN];
            id.copy_from_slice(c);
            ChunkId(id)
        })
        .collect())
}

/// Builds the index of a file from its data chunks' IDs, in order: the sealed index chunks
/// of every level (with their level, index and ID), and the root's ID, the file's ID.
pub struct IndexBuilder<'a> {
    sealer: &'a ChunkSealer,
}

/// A sealed chunk with its place and ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedChunk {
    /// 0 for data, 1 and up for the index.
    pub level: u8,
    /// Its index in its level.
    pub index: u64,
    /// Its ID (where it is stored).
    pub id: ChunkId,
    /// The sealed bytes.
    pub bytes: Vec<u8>,
}

impl<'a> IndexBuilder<'a> {
    /// An index builder for the file `sealer` seals.
    pub fn new(sealer: &'a ChunkSealer) -> Self {
        Self { sealer }
    }

    /// The index chunks over `data` (the data chunks' IDs, in order), from level 1 to the
    /// root, and the file's ID.
    pub fn build(&self, data: &[ChunkId]) -> Result<(Vec<SealedChunk>, FileId), WireError> {
        let fan_out = self.sealer.chunk_len as usize / CHUNK_ID_LEN;
        if data.is_empty() || fan_out < 2 {
            return Err(WireError::Invalid {
                what: "file index",
                reason: "no data chunks, or chunks too short to list two IDs",
            });
        }
        let mut out = Vec::new();
        let mut below: Vec<ChunkId> = data.to_vec();
        let mut level = 0u8;
        loop {
            level = level.checked_add(1).ok_or(WireError::Invalid {
                what: "file index",
                reason: "too deep",
            })?;
            let mut ids = Vec::with_capacity(below.len().div_ceil(fan_out));
            for (i, group) in below.chunks(fan_out).enumerate() {
                let plain: Vec<u8> = group.iter().flat_map(|c| c.0).collect();
                let bytes = self.sealer.seal(level, i as u64, &plain)?;
                let id = chunk_id(&bytes);
                ids.push(id);
                out.push(SealedChunk {
                    level,
                    index: i as u64,
                    id,
                    bytes,
                });
            }
            if below.len() <= fan_out {
                return Ok((out, FileId(ids[0].0)));
            }
            below = ids;
        }
    }
}
