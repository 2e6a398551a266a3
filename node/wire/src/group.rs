//! Group formats above MLS (`pars-group` produces and consumes the MLS messages themselves):
//!
//! - [`Payload`]: an MLS message (or key package, or Welcome) either inline or as a [`BlobRef`]
//!   to encrypted chunks in a file mailbox. A **group mailbox item** is a `Payload`: an
//!   application message fits one store; a commit that does not (they grow with the group)
//!   travels as a blob whose reference is the one item stored in the group mailbox.
//! - [`GroupContent`]: the plaintext of an MLS application message: a text, the group's
//!   metadata (name, admins; accepted from admins only), or a member's request to leave.
//! - [`GroupControl`]: group messages of a pairwise session (content type `GroupControl`): a
//!   request for a key package, the key package, the invitation with the Welcome, the owner
//!   key handed to a new admin.
//! - Blobs: [`BlobRef`] and the chunk items of its file mailbox ([`seal_blob`],
//!   [`BlobAssembler`]). Each chunk is sealed with XChaCha20-Poly1305 under the blob's random
//!   key, its nonce and associated data fixed by its index, so a swapped, dropped, truncated or
//!   altered chunk is refused and a retry produces the same bytes (the swarm dedupes them).
//!
//! Every decoder is total. Sizes are in `docs/protocol.md` ("Groups").

use crate::{FileId, GroupId, Reader, WireError, Writer};
use pars_crypto::aead;
use pars_crypto::{SESSION_ID_LEN, SessionId, SharedSecret};
use zeroize::Zeroizing;

/// Version byte of every format here.
pub const GROUP_FORMAT_VERSION: u8 = 1;
/// Plaintext bytes of one blob chunk (the last may be shorter).
pub const BLOB_CHUNK_LEN: usize = 16 * 1024;
/// Bytes of a chunk item besides its plaintext: version (1), index (4), AEAD tag (16).
pub const BLOB_CHUNK_OVERHEAD: usize = 1 + 4 + aead::TAG_LEN;
/// Largest blob: 1 GiB (a commit adding 10,000 members is about 150 MB).
pub const MAX_BLOB_LEN: u32 = 1 << 30;
/// Largest inline payload (larger ones travel as blobs).
pub const MAX_INLINE_LEN: usize = 16 * 1024;
/// Largest group name, bytes of UTF-8.
pub const MAX_GROUP_NAME: usize = 128;
/// Most admins a group lists.
pub const MAX_ADMINS: usize = 64;
/// Largest text of a group message, bytes of UTF-8 (an application message stays one store).
pub const MAX_GROUP_TEXT: usize = 8 * 1024;
/// Encoded length of a [`BlobRef`].
pub const BLOB_REF_LEN: usize = 32 + 32 + 4;

fn version(r: &mut Reader<'_>, what: &'static str) -> Result<(), WireError> {
    match r.u8(what)? {
        GROUP_FORMAT_VERSION => Ok(()),
        version => Err(WireError::UnsupportedVersion { what, version }),
    }
}

fn utf8(bytes: &[u8], what: &'static str) -> Result<String, WireError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| WireError::Invalid {
        what,
        reason: "not UTF-8",
    })
}

fn session_id(r: &mut Reader<'_>, what: &'static str) -> Result<SessionId, WireError> {
    SessionId::from_bytes(r.bytes(SESSION_ID_LEN, what)?).map_err(|_| WireError::Invalid {
        what,
        reason: "not a Session ID",
    })
}

/// Writes a list of Session IDs: `count (2) ‖ count × 33`.
pub(crate) fn write_ids(w: &mut Writer, ids: &[SessionId]) {
    w.u16(u16::try_from(ids.len()).unwrap_or(u16::MAX));
    for id in ids.iter().take(usize::from(u16::MAX)) {
        w.bytes(id.as_bytes());
    }
}

/// Reads a list of Session IDs written by [`write_ids`], at most `max`, no duplicates.
pub(crate) fn read_ids(
    r: &mut Reader<'_>,
    max: usize,
    what: &'static str,
) -> Result<Vec<SessionId>, WireError> {
    let n = usize::from(r.u16(what)?);
    if n > max {
        return Err(WireError::TooLong { what, len: n, max });
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let id = session_id(r, what)?;
        if out.contains(&id) {
            return Err(WireError::Invalid {
                what,
                reason: "a Session ID is listed twice",
            });
        }
        out.push(id);
    }
    Ok(out)
}

/// Checks a group name: 1..=[`MAX_GROUP_NAME`] bytes of UTF-8 without control characters.
pub fn check_group_name(name: &str) -> Result<(), WireError> {
    if name.trim().is_empty() {
        return Err(WireError::Invalid {
            what: "group name",
            reason: "empty",
        });
    }
    if name.len() > MAX_GROUP_NAME {
        return Err(WireError::TooLong {
            what: "group name",
            len: name.len(),
            max: MAX_GROUP_NAME,
        });
    }
    if name.chars().any(char::is_control) {
        return Err(WireError::Invalid {
            what: "group name",
            reason: "control characters",
        });
    }
    Ok(())
}

fn read_name(r: &mut Reader<'_>) -> Result<String, WireError> {
    let name = utf8(r.var16(MAX_GROUP_NAME, "group name")?, "group name")?;
    check_group_name(&name)?;
    Ok(name)
}

/// Reads a group's admins: 1..=[`MAX_ADMINS`] Session IDs.
fn read_admins(r: &mut Reader<'_>) -> Result<Vec<SessionId>, WireError> {
    let admins = read_ids(r, MAX_ADMINS, "group admins")?;
    if admins.is_empty() {
        return Err(WireError::Invalid {
            what: "group admins",
            reason: "a group has at least one admin",
        });
    }
    Ok(admins)
}

/// Where a large object lies: the file mailbox of its chunks, the key that seals them, and its
/// length. `file (32) ‖ key (32) ‖ len (4)`, [`BLOB_REF_LEN`] bytes. The key is secret: a
/// reference travels only inside encrypted messages.
#[derive(Clone, PartialEq, Eq)]
pub struct BlobRef {
    /// The file mailbox holding the chunks (random).
    pub file: FileId,
    /// The chunks' key (random).
    pub key: Zeroizing<[u8; 32]>,
    /// Length of the object, 1..=[`MAX_BLOB_LEN`].
    pub len: u32,
}

impl std::fmt::Debug for BlobRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobRef")
            .field("file", &self.file)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl BlobRef {
    /// A fresh reference for an object of `len` bytes.
    pub fn random(len: usize, rng: &mut impl pars_crypto::CryptoRng) -> Result<Self, WireError> {
        let len = u32::try_from(len)
            .ok()
            .filter(|l| (1..=MAX_BLOB_LEN).contains(l))
            .ok_or(WireError::TooLong {
                what: "blob",
                len,
                max: MAX_BLOB_LEN as usize,
            })?;
        Ok(Self {
            file: FileId(pars_crypto::random_array(rng)),
            key: Zeroizing::new(pars_crypto::random_array(rng)),
            len,
        })
    }

    /// How many chunks the object has.
    pub fn chunks(&self) -> u32 {
        (self.len as usize).div_ceil(BLOB_CHUNK_LEN) as u32
    }

    /// Writes the reference.
    pub fn write(&self, w: &mut Writer) {
        self.file.write(w);
        w.bytes(&self.key[..]).u32(self.len);
    }

    /// Reads a reference.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let file = FileId::read(r)?;
        let key = Zeroizing::new(r.array("blob key")?);
        let len = r.u32("blob length")?;
        if len == 0 || len > MAX_BLOB_LEN {
            return Err(WireError::Invalid {
                what: "blob length",
                reason: "zero or above the largest blob",
            });
        }
        Ok(Self { file, key, len })
    }

    fn nonce(index: u32) -> [u8; aead::NONCE_LEN] {
        let mut n = [0u8; aead::NONCE_LEN];
        n[aead::NONCE_LEN - 4..].copy_from_slice(&index.to_be_bytes());
        n
    }

    fn aad(&self, index: u32) -> Vec<u8> {
        let mut w = Writer::with_capacity(40);
        self.file.write(&mut w);
        w.u32(index).u32(self.len);
        w.into_vec()
    }

    fn secret(&self) -> SharedSecret {
        SharedSecret::from_bytes(*self.key)
    }
}

/// The chunk items of `data` under `blob` (whose `len` must be `data.len()`): each is
/// `version (1) ‖ index (4) ‖ sealed chunk`, stored in the blob's file mailbox. The same
/// reference and data give the same items.
pub fn seal_blob(blob: &BlobRef, data: &[u8]) -> Result<Vec<Vec<u8>>, WireError> {
    if data.len() != blob.len as usize {
        return Err(WireError::Invalid {
            what: "blob",
            reason: "the data is not as long as its reference says",
        });
    }
    let key = blob.secret();
    let mut out = Vec::with_capacity(blob.chunks() as usize);
    for (i, chunk) in data.chunks(BLOB_CHUNK_LEN).enumerate() {
        let index = i as u32;
        let mut w = Writer::with_capacity(BLOB_CHUNK_OVERHEAD + chunk.len());
        w.u8(GROUP_FORMAT_VERSION).u32(index).bytes(&aead::seal(
            &key,
            &BlobRef::nonce(index),
            &blob.aad(index),
            chunk,
        ));
        out.push(w.into_vec());
    }
    Ok(out)
}

/// Puts a blob back together from its chunk items, in any order; duplicates are ignored and
/// anything that does not open under the reference is refused (and not kept).
pub struct BlobAssembler {
    blob: BlobRef,
    chunks: Vec<Option<Zeroizing<Vec<u8>>>>,
    have: u32,
}

impl std::fmt::Debug for BlobAssembler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobAssembler")
            .field("blob", &self.blob)
            .field("have", &self.have)
            .finish()
    }
}

impl BlobAssembler {
    /// An empty assembler for `blob`.
    pub fn new(blob: BlobRef) -> Self {
        let n = blob.chunks() as usize;
        Self {
            blob,
            chunks: vec![None; n],
            have: 0,
        }
    }

    /// Adds one chunk item. Refused: a malformed item, an index out of range, a chunk that does
    /// not open (another blob's, altered, or moved to another index).
    pub fn add(&mut self, item: &[u8]) -> Result<(), WireError> {
        let mut r = Reader::new(item);
        version(&mut r, "blob chunk")?;
        let index = r.u32("chunk index")?;
        let Some(slot) = self.chunks.get(index as usize) else {
            return Err(WireError::Invalid {
                what: "chunk index",
                reason: "beyond the blob's last chunk",
            });
        };
        if slot.is_some() {
            return Ok(());
        }
        let want = if index + 1 == self.blob.chunks() {
            self.blob.len as usize - index as usize * BLOB_CHUNK_LEN
        } else {
            BLOB_CHUNK_LEN
        };
        let sealed = r.rest();
        let plain = aead::open(
            &self.blob.secret(),
            &BlobRef::nonce(index),
            &self.blob.aad(index),
            sealed,
        )
        .map_err(|_| WireError::Invalid {
            what: "blob chunk",
            reason: "does not open under the blob's key (altered, moved or another blob's)",
        })?;
        let plain = Zeroizing::new(plain);
        if plain.len() != want {
            return Err(WireError::Invalid {
                what: "blob chunk",
                reason: "not the length its index needs",
            });
        }
        self.chunks[index as usize] = Some(plain);
        self.have += 1;
        Ok(())
    }

    /// Chunks received so far, and how many there are.
    pub fn progress(&self) -> (u32, u32) {
        (self.have, self.blob.chunks())
    }

    /// Whether every chunk is in.
    pub fn is_complete(&self) -> bool {
        self.have == self.blob.chunks()
    }

    /// The object, once every chunk is in.
    pub fn finish(self) -> Result<Zeroizing<Vec<u8>>, WireError> {
        if !self.is_complete() {
            return Err(WireError::Invalid {
                what: "blob",
                reason: "chunks are missing",
            });
        }
        let mut out = Zeroizing::new(Vec::with_capacity(self.blob.len as usize));
        for c in self.chunks.into_iter().flatten() {
            out.extend_from_slice(&c);
        }
        Ok(out)
    }
}

/// An object inline or as a blob. `version (1) ‖ 0 ‖ bytes (rest, ≥ 1)` or
/// `version (1) ‖ 1 ‖ BlobRef (68)`. A group mailbox item is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// The object itself, 1..=[`MAX_INLINE_LEN`] bytes.
    Inline(Vec<u8>),
    /// Where its chunks are.
    Blob(BlobRef),
}

impl Payload {
    fn write(&self, w: &mut Writer) {
        match self {
            Payload::Inline(b) => {
                w.u8(0).var32(b);
            }
            Payload::Blob(r) => {
                w.u8(1);
                r.write(w);
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        match r.u8("payload kind")? {
            0 => {
                let b = r.var32(MAX_INLINE_LEN, "inline payload")?;
                if b.is_empty() {
                    return Err(WireError::Invalid {
                        what: "inline payload",
                        reason: "empty",
                    });
                }
                Ok(Payload::Inline(b.to_vec()))
            }
            1 => Ok(Payload::Blob(BlobRef::read(r)?)),
            v => Err(WireError::UnknownVariant {
                what: "payload kind",
                value: u64::from(v),
            }),
        }
    }

    /// Encodes as a group mailbox item: `version ‖ payload`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(GROUP_FORMAT_VERSION);
        self.write(&mut w);
        w.into_vec()
    }

    /// Decodes a group mailbox item.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        version(&mut r, "group item")?;
        let p = Self::read(&mut r)?;
        r.finish("group item")?;
        Ok(p)
    }
}

/// What an MLS application message of a group carries:
/// `version (1) ‖ kind (1) ‖ sent at (8, Unix seconds) ‖ body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupContent {
    /// Kind 1: a text message; body = UTF-8 (var32, ≤ [`MAX_GROUP_TEXT`]).
    Text {
        /// When the sender sent it.
        sent_at: u64,
        /// The text.
        text: String,
    },
    /// Kind 2: the group's name and admins, from an admin; body = `name (var16) ‖ admins`.
    Meta {
        /// When the admin sent it.
        sent_at: u64,
        /// The name.
        name: String,
        /// The admins (1..=[`MAX_ADMINS`]).
        admins: Vec<SessionId>,
    },
    /// Kind 3: the sender asks an admin to remove it (it has left); no body.
    Leave {
        /// When it left.
        sent_at: u64,
    },
    /// Kind 4: a file offered to the group; body = its manifest (var16,
    /// [`crate::file::FileManifest`]).
    File {
        /// When the sender sent it.
        sent_at: u64,
        /// The file.
        manifest: crate::file::FileManifest,
    },
}

impl GroupContent {
    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(GROUP_FORMAT_VERSION);
        match self {
            GroupContent::Text { sent_at, text } => {
                w.u8(1).u64(*sent_at).var32(text.as_bytes());
            }
            GroupContent::Meta {
                sent_at,
                name,
                admins,
            } => {
                w.u8(2).u64(*sent_at).var16(name.as_bytes());
                write_ids(&mut w, admins);
            }
            GroupContent::Leave { sent_at } => {
                w.u8(3).u64(*sent_at);
            }
            GroupContent::File { sent_at, manifest } => {
                w.u8(4).u64(*sent_at).var16(&manifest.encode());
            }
        }
        w.into_vec()
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        version(&mut r, "group content")?;
        let kind = r.u8("group content kind")?;
        let sent_at = r.u64("sent at")?;
        let c = match kind {
            1 => GroupContent::Text {
                sent_at,
                text: utf8(r.var32(MAX_GROUP_TEXT, "group text")?, "group text")?,
            },
            2 => {
                let name = read_name(&mut r)?;
                let admins = read_admins(&mut r)?;
                GroupContent::Meta {
                    sent_at,
                    name,
                    admins,
                }
            }
            3 => GroupContent::Leave { sent_at },
            4 => GroupContent::File {
                sent_at,
                manifest: crate::file::FileManifest::decode(r.var16(1024, "file manifest")?)?,
            },
            v => {
                return Err(WireError::UnknownVariant {
                    what: "group content kind",
                    value: u64::from(v),
                });
            }
        };
        r.finish("group content")?;
        Ok(c)
    }
}

/// A group message of a pairwise session: `version (1) ‖ kind (1) ‖ group (32) ‖ body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupControl {
    /// Kind 1: an admin asks for a key package, to add the recipient to the group named
    /// `name`; body = `name (var16)`.
    KeyPackageRequest {
        /// The group.
        group: GroupId,
        /// Its name.
        name: String,
    },
    /// Kind 2: the answer: a key package (an MLS message); body = payload.
    KeyPackage {
        /// The group it is for.
        group: GroupId,
        /// The key package.
        key_package: Payload,
    },
    /// Kind 3: the recipient was added; body = `name (var16) ‖ admins ‖ Welcome payload`.
    Invite {
        /// The group.
        group: GroupId,
        /// Its name.
        name: String,
        /// Its admins.
        admins: Vec<SessionId>,
        /// The MLS Welcome.
        welcome: Payload,
    },
    /// Kind 4: the recipient is an admin now and holds the group's owner key (the ML-DSA-87
    /// seed whose public key hashes to the group ID); body = seed (32).
    OwnerKey {
        /// The group.
        group: GroupId,
        /// The owner key's seed (secret).
        seed: Zeroizing<[u8; 32]>,
    },
}

impl GroupControl {
    /// The group it is about.
    pub fn group(&self) -> GroupId {
        match self {
            GroupControl::KeyPackageRequest { group, .. }
            | GroupControl::KeyPackage { group, .. }
            | GroupControl::Invite { group, .. }
            | GroupControl::OwnerKey { group, .. } => *group,
        }
    }

    /// Encodes.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.u8(GROUP_FORMAT_VERSION);
        match self {
            GroupControl::KeyPackageRequest { group, name } => {
                w.u8(1);
                group.write(&mut w);
                w.var16(name.as_bytes());
            }
            GroupControl::KeyPackage { group, key_package } => {
                w.u8(2);
                group.write(&mut w);
                key_package.write(&mut w);
            }
            GroupControl::Invite {
                group,
                name,
                admins,
                welcome,
            } => {
                w.u8(3);
                group.write(&mut w);
                w.var16(name.as_bytes());
                write_ids(&mut w, admins);
                welcome.write(&mut w);
            }
            GroupControl::OwnerKey { group, seed } => {
                w.u8(4);
                group.write(&mut w);
                w.bytes(&seed[..]);
            }
        }
        Zeroizing::new(w.into_vec())
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        version(&mut r, "group control")?;
        let kind = r.u8("group control kind")?;
        let group = GroupId::read(&mut r)?;
        let c = match kind {
            1 => GroupControl::KeyPackageRequest {
                group,
                name: read_name(&mut r)?,
            },
            2 => GroupControl::KeyPackage {
                group,
                key_package: Payload::read(&mut r)?,
            },
            3 => {
                let name = read_name(&mut r)?;
                let admins = read_admins(&mut r)?;
                GroupControl::Invite {
                    group,
                    name,
                    admins,
                    welcome: Payload::read(&mut r)?,
                }
            }
            4 => GroupControl::OwnerKey {
                group,
                seed: Zeroizing::new(r.array("owner key seed")?),
            },
            v => {
                return Err(WireError::UnknownVariant {
                    what: "group control kind",
                    value: u64::from(v),
                });
            }
        };
        r.finish("group control")?;
        Ok(c)
    }
}
