//! The client's encrypted store: identity, prekeys, sessions (ratchet state), contacts, messages
//! and the outbox of a user daemon, in one redb file, encrypted at rest.
//!
//! **Keys.** A random 32-byte master key is wrapped (XChaCha20-Poly1305) under a key-encryption
//! key derived either from a passphrase with Argon2id or from a key file with HKDF-SHA3-256. The
//! master key yields a value key (`pars-store-v1/data`) and an index key
//! (`pars-store-v1/index`). A wrong passphrase or key file fails to unwrap and is reported as
//! such; nothing is ever decrypted with a wrong key.
//!
//! **Values.** Every value is stored as `nonce (24) ‖ AEAD(value key, value)` with associated
//! data `pars-store-v1/value ‖ space ‖ key`, so a value cannot be moved to another slot
//! undetected. **Keys** are chosen by the caller: identifiers such as Session IDs are never
//! used raw but through [`ClientStore::index`] (a keyed hash), so the file does not reveal whom
//! the user talks to; only sizes and counts of records stay visible.
//!
//! **Atomicity.** [`ClientStore::write`] applies a batch of puts and deletes across spaces in
//! one durable redb transaction: e.g. an advanced ratchet state and the message it decrypted
//! are committed together or not at all.

use crate::StoreError;
use pars_crypto::{CryptoRng, SharedSecret, aead, kdf, labels, random_array};
use redb::{Database, ReadableDatabase, ReadableTableMetadata, TableDefinition};
use std::path::Path;
use zeroize::{Zeroize, Zeroizing};

/// The named spaces (one redb table each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Space {
    /// The identity (master seed) and its metadata.
    Identity,
    /// Prekey secrets.
    Prekeys,
    /// Session (ratchet) states and handshake replay records.
    Sessions,
    /// Contacts and their cached identity bundles.
    Contacts,
    /// Messages, sent and received.
    Messages,
    /// The outbox: messages not yet stored in the recipient's swarm, with retry state.
    Outbox,
    /// Anything else the daemon keeps (cursors, settings).
    State,
    /// Groups: their MLS state, records, messages, outbox and pending work.
    Groups,
    /// Files: offers received, transfers and their progress.
    Files,
}

impl Space {
    fn name(self) -> &'static str {
        match self {
            Space::Identity => "identity",
            Space::Prekeys => "prekeys",
            Space::Sessions => "sessions",
            Space::Contacts => "contacts",
            Space::Messages => "messages",
            Space::Outbox => "outbox",
            Space::State => "state",
            Space::Groups => "groups",
            Space::Files => "files",
        }
    }

    fn table(self) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
        TableDefinition::new(self.name())
    }

    /// Every space.
    pub const ALL: [Space; 9] = [
        Space::Identity,
        Space::Prekeys,
        Space::Sessions,
        Space::Contacts,
        Space::Messages,
        Space::Outbox,
        Space::State,
        Space::Groups,
        Space::Files,
    ];
}

const META: TableDefinition<'static, &'static str, &'static [u8]> = TableDefinition::new("meta");
const HEADER_KEY: &str = "header";
const HEADER_VERSION: u8 = 1;
const KIND_PASSPHRASE: u8 = 1;
const KIND_KEYFILE: u8 = 2;
const SALT_LEN: usize = 16;
/// The wrapped master key: ciphertext (32) ‖ tag (16); its nonce is stored before it.
const WRAPPED_LEN: usize = 32 + aead::TAG_LEN;
/// version ‖ kind ‖ m_cost ‖ t_cost ‖ p_cost ‖ salt ‖ nonce ‖ wrapped master key.
const HEADER_LEN: usize = 2 + 12 + SALT_LEN + aead::NONCE_LEN + WRAPPED_LEN;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 1 lane: about half a second on a laptop core, the cost of unlocking.
    fn default() -> Self {
        Self {
            m_cost_kib: 64 * 1024,
            t_cost: 3,
            p_cost: 1,
        }
    }
}

impl KdfParams {
    /// The cheapest parameters Argon2 accepts, for tests only.
    pub fn insecure_for_tests() -> Self {
        Self {
            m_cost_kib: 8,
            t_cost: 1,
            p_cost: 1,
        }
    }
}

/// How to unlock the store.
#[derive(Clone, Copy)]
pub enum Unlock<'a> {
    /// A passphrase (any bytes; UTF-8 text is used as is).
    Passphrase(&'a [u8]),
    /// A key file: at least 32 bytes of secret randomness.
    KeyFile(&'a Path),
}

impl std::fmt::Debug for Unlock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unlock::Passphrase(_) => f.write_str("Unlock::Passphrase([redacted])"),
            Unlock::KeyFile(p) => write!(f, "Unlock::KeyFile({})", p.display()),
        }
    }
}

/// Errors opening or using the client store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientStoreError {
    /// The passphrase or key file does not open this store.
    #[error("wrong passphrase or key file for {path}")]
    WrongKey {
        /// The store file.
        path: String,
    },
    /// The store was created with a passphrase but a key file was given, or the reverse.
    #[error("{path} is unlocked with a {expected}, not a {given}")]
    WrongUnlockKind {
        /// The store file.
        path: String,
        /// What it needs.
        expected: &'static str,
        /// What was given.
        given: &'static str,
    },
    /// No store exists at the path.
    #[error("no client store at {0}")]
    Missing(String),
    /// A store already exists at the path.
    #[error("a client store already exists at {0}; it is never overwritten")]
    Exists(String),
    /// The key file is unusable.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The key file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A stored value failed authentication: the file was modified or corrupted.
    #[error(
        "record in {space} failed authentication: the store file is corrupted or was tampered with"
    )]
    Tampered {
        /// The space.
        space: &'static str,
    },
    /// The store's header is unreadable.
    #[error("store header is corrupt or of an unknown version: {0}")]
    BadHeader(&'static str),
    /// The database layer failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl pars_error::HasKind for ClientStoreError {
    fn kind(&self) -> pars_error::ErrorKind {
        use pars_error::ErrorKind;
        match self {
            // How the store is unlocked or where it is: the operator's configuration.
            Self::WrongKey { .. }
            | Self::WrongUnlockKind { .. }
            | Self::Missing(_)
            | Self::Exists(_)
            | Self::KeyFile { .. } => ErrorKind::Config,
            Self::Tampered { .. } | Self::BadHeader(_) => ErrorKind::Storage,
            Self::Store(e) => e.kind(),
        }
    }
}

impl From<redb::Error> for ClientStoreError {
    fn from(e: redb::Error) -> Self {
        Self::Store(StoreError::db(e))
    }
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for ClientStoreError {
            fn from(e: $t) -> Self {
                Self::Store(StoreError::db(e))
            }
        }
    )*};
}
db_err!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// A decrypted record: its key and value.
pub type Record = (Vec<u8>, Zeroizing<Vec<u8>>);

/// One write operation.
enum Op {
    Put(Space, Vec<u8>, Zeroizing<Vec<u8>>),
    Delete(Space, Vec<u8>),
}

/// A batch of writes applied atomically by [`ClientStore::write`].
#[derive(Default)]
pub struct Batch {
    ops: Vec<Op>,
}

impl Batch {
    /// Stores `value` under `key` in `space`.
    pub fn put(&mut self, space: Space, key: &[u8], value: &[u8]) -> &mut Self {
        self.ops
            .push(Op::Put(space, key.to_vec(), Zeroizing::new(value.to_vec())));
        self
    }

    /// Removes `key` from `space` (no error if absent).
    pub fn delete(&mut self, space: Space, key: &[u8]) -> &mut Self {
        self.ops.push(Op::Delete(space, key.to_vec()));
        self
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// The encrypted client store.
pub struct ClientStore {
    db: Database,
    data_key: SharedSecret,
    index_key: SharedSecret,
    path: String,
}

impl std::fmt::Debug for ClientStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientStore({})", self.path)
    }
}

fn kek(
    unlock: Unlock<'_>,
    params: KdfParams,
    salt: &[u8],
) -> Result<SharedSecret, ClientStoreError> {
    match unlock {
        Unlock::Passphrase(p) => {
            let argon_params =
                argon2::Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32))
                    .map_err(|_| ClientStoreError::BadHeader("invalid Argon2 parameters"))?;
            let a = argon2::Argon2::new(
                argon2::Algorithm::Argon2id,
                argon2::Version::V0x13,
                argon_params,
            );
            let mut out = [0u8; 32];
            a.hash_password_into(p, salt, &mut out)
                .map_err(|_| ClientStoreError::BadHeader("Argon2 failed"))?;
            let k = SharedSecret::from_bytes(out);
            out.zeroize();
            Ok(k)
        }
        Unlock::KeyFile(path) => {
            let bytes =
                Zeroizing::new(std::fs::read(path).map_err(|e| ClientStoreError::KeyFile {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?);
            if bytes.len() < 32 {
                return Err(ClientStoreError::KeyFile {
                    path: path.display().to_string(),
                    reason: format!(
                        "holds {} bytes; a key file needs at least 32 random bytes",
                        bytes.len()
                    ),
                });
            }
            Ok(kdf::derive_key(salt, &bytes, &[labels::STORE_KEYFILE]))
        }
    }
}

fn unlock_kind(u: Unlock<'_>) -> (u8, &'static str) {
    match u {
        Unlock::Passphrase(_) => (KIND_PASSPHRASE, "passphrase"),
        Unlock::KeyFile(_) => (KIND_KEYFILE, "key file"),
    }
}

impl ClientStore {
    /// Creates a new store at `path` (which must not exist), protected by `unlock`.
    pub fn create(
        path: &Path,
        unlock: Unlock<'_>,
        params: KdfParams,
        rng: &mut impl CryptoRng,
    ) -> Result<Self, ClientStoreError> {
        if path.exists() {
            return Err(ClientStoreError::Exists(path.display().to_string()));
        }
        let salt = random_array::<SALT_LEN>(rng);
        let kek = kek(unlock, params, &salt)?;
        let mut master = random_array::<32>(rng);
        let nonce = random_array::<{ aead::NONCE_LEN }>(rng);
        let wrapped = aead::seal(&kek, &nonce, b"pars-store-v1/master", &master);
        let (kind, _) = unlock_kind(unlock);
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.push(HEADER_VERSION);
        header.push(kind);
        header.extend_from_slice(&params.m_cost_kib.to_be_bytes());
        header.extend_from_slice(&params.t_cost.to_be_bytes());
        header.extend_from_slice(&params.p_cost.to_be_bytes());
        header.extend_from_slice(&salt);
        header.extend_from_slice(&nonce);
        header.extend_from_slice(&wrapped);

        let db = Database::create(path)?;
        let mut tx = db.begin_write()?;
        tx.set_durability(redb::Durability::Immediate)?;
        {
            let mut meta = tx.open_table(META)?;
            meta.insert(HEADER_KEY, header.as_slice())?;
            for s in Space::ALL {
                tx.open_table(s.table())?;
            }
        }
        tx.commit()?;
        let store = Self::with_master(db, &master, path);
        master.zeroize();
        Ok(store)
    }

    /// Opens an existing store.
    pub fn open(path: &Path, unlock: Unlock<'_>) -> Result<Self, ClientStoreError> {
        if !path.exists() {
            return Err(ClientStoreError::Missing(path.display().to_string()));
        }
        let db = Database::create(path)?;
        let header = {
            let tx = db.begin_read()?;
            let meta = tx.open_table(META)?;
            let v = meta
                .get(HEADER_KEY)?
                .ok_or(ClientStoreError::BadHeader("missing"))?;
            v.value().to_vec()
        };
        if header.len() != HEADER_LEN || header[0] != HEADER_VERSION {
            return Err(ClientStoreError::BadHeader("unknown version or length"));
        }
        let (given_kind, given_name) = unlock_kind(unlock);
        if header[1] != given_kind {
            return Err(ClientStoreError::WrongUnlockKind {
                path: path.display().to_string(),
                expected: if header[1] == KIND_PASSPHRASE {
                    "passphrase"
                } else {
                    "key file"
                },
                given: given_name,
            });
        }
        let u32_at =
            |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let params = KdfParams {
            m_cost_kib: u32_at(2),
            t_cost: u32_at(6),
            p_cost: u32_at(10),
        };
        let salt = &header[14..14 + SALT_LEN];
        let mut nonce = [0u8; aead::NONCE_LEN];
        nonce.copy_from_slice(&header[14 + SALT_LEN..14 + SALT_LEN + aead::NONCE_LEN]);
        let wrapped = &header[14 + SALT_LEN + aead::NONCE_LEN..];
        let kek = kek(unlock, params, salt)?;
        let master = Zeroizing::new(
            aead::open(&kek, &nonce, b"pars-store-v1/master", wrapped).map_err(|_| {
                ClientStoreError::WrongKey {
                    path: path.display().to_string(),
                }
            })?,
        );
        let mut m = Zeroizing::new([0u8; 32]);
        if master.len() != 32 {
            return Err(ClientStoreError::BadHeader("master key length"));
        }
        m.copy_from_slice(&master);
        // A store made by an older version lacks the spaces added since: create them.
        let missing = {
            let tx = db.begin_read()?;
            Space::ALL
                .into_iter()
                .any(|s| tx.open_table(s.table()).is_err())
        };
        if missing {
            let mut tx = db.begin_write()?;
            tx.set_durability(redb::Durability::Immediate)?;
            for s in Space::ALL {
                tx.open_table(s.table())?;
            }
            tx.commit()?;
        }
        let store = Self::with_master(db, &m, path);
        Ok(store)
    }

    fn with_master(db: Database, master: &[u8; 32], path: &Path) -> Self {
        Self {
            db,
            data_key: kdf::derive_key(b"", master, &[labels::STORE_DATA]),
            index_key: kdf::derive_key(b"", master, &[labels::STORE_INDEX]),
            path: path.display().to_string(),
        }
    }

    /// A keyed hash of `id` for use as (part of) a record key, so identifiers such as Session
    /// IDs never appear in the file.
    pub fn index(&self, space: Space, id: &[u8]) -> [u8; 32] {
        *kdf::derive_key(self.index_key.as_bytes(), id, &[space.name().as_bytes()]).as_bytes()
    }

    fn aad(space: Space, key: &[u8]) -> Vec<u8> {
        let mut a = Vec::with_capacity(labels::STORE_AAD.len() + 16 + key.len());
        a.extend_from_slice(labels::STORE_AAD);
        a.push(space.name().len() as u8);
        a.extend_from_slice(space.name().as_bytes());
        a.extend_from_slice(key);
        a
    }

    fn decrypt(
        &self,
        space: Space,
        key: &[u8],
        stored: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ClientStoreError> {
        aead::open_random_nonce(&self.data_key, &Self::aad(space, key), stored)
            .map(Zeroizing::new)
            .map_err(|_| ClientStoreError::Tampered {
                space: space.name(),
            })
    }

    /// The value under `key` in `space`.
    pub fn get(
        &self,
        space: Space,
        key: &[u8],
    ) -> Result<Option<Zeroizing<Vec<u8>>>, ClientStoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(space.table())?;
        match t.get(key)? {
            Some(v) => Ok(Some(self.decrypt(space, key, v.value())?)),
            None => Ok(None),
        }
    }

    /// All records of `space` whose key starts with `prefix`, in key order.
    pub fn scan(&self, space: Space, prefix: &[u8]) -> Result<Vec<Record>, ClientStoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(space.table())?;
        let mut out = Vec::new();
        for item in t.range::<&[u8]>(prefix..)? {
            let (k, v) = item?;
            let key = k.value();
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key.to_vec(), self.decrypt(space, key, v.value())?));
        }
        Ok(out)
    }

    /// Number of records in `space`.
    pub fn count(&self, space: Space) -> Result<u64, ClientStoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(space.table())?;
        Ok(t.len()?)
    }

    /// Applies `batch` atomically and durably: when this returns `Ok`, every operation is on
    /// disk; on error, none is.
    pub fn write(&self, batch: Batch, rng: &mut impl CryptoRng) -> Result<(), ClientStoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write()?;
        tx.set_durability(redb::Durability::Immediate)?;
        for op in &batch.ops {
            match op {
                Op::Put(space, key, value) => {
                    let sealed = aead::seal_random_nonce(
                        &self.data_key,
                        &Self::aad(*space, key),
                        value,
                        rng,
                    );
                    let mut t = tx.open_table(space.table())?;
                    t.insert(key.as_slice(), sealed.as_slice())?;
                }
                Op::Delete(space, key) => {
                    let mut t = tx.open_table(space.table())?;
                    t.remove(key.as_slice())?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(7)
    }

    #[test]
    fn passphrase_round_trip_and_wrong_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.redb");
        let mut r = rng();
        {
            let s = ClientStore::create(
                &path,
                Unlock::Passphrase(b"correct horse"),
                KdfParams::insecure_for_tests(),
                &mut r,
            )
            .unwrap();
            let mut b = Batch::default();
            b.put(Space::Identity, b"seed", b"secret seed bytes");
            b.put(Space::Messages, b"m1", b"hello");
            s.write(b, &mut r).unwrap();
        }
        assert!(matches!(
            ClientStore::open(&path, Unlock::Passphrase(b"wrong")),
            Err(ClientStoreError::WrongKey { .. })
        ));
        let s = ClientStore::open(&path, Unlock::Passphrase(b"correct horse")).unwrap();
        assert_eq!(
            s.get(Space::Identity, b"seed").unwrap().unwrap().as_slice(),
            b"secret seed bytes"
        );
        assert_eq!(s.get(Space::Messages, b"nope").unwrap(), None);
        assert!(matches!(
            ClientStore::create(
                &path,
                Unlock::Passphrase(b"x"),
                KdfParams::insecure_for_tests(),
                &mut r
            ),
            Err(ClientStoreError::Exists(_))
        ));
        drop(s);
        // The plaintext is nowhere in the file.
        let raw = std::fs::read(&path).unwrap();
        assert!(!raw.windows(17).any(|w| w == b"secret seed bytes"));
    }

    #[test]
    fn key_file_and_kind_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.redb");
        let kf = dir.path().join("key");
        std::fs::write(&kf, [9u8; 32]).unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, [9u8; 8]).unwrap();
        let mut r = rng();
        assert!(matches!(
            ClientStore::create(&path, Unlock::KeyFile(&short), KdfParams::default(), &mut r),
            Err(ClientStoreError::KeyFile { .. })
        ));
        ClientStore::create(&path, Unlock::KeyFile(&kf), KdfParams::default(), &mut r).unwrap();
        assert!(ClientStore::open(&path, Unlock::KeyFile(&kf)).is_ok());
        assert!(matches!(
            ClientStore::open(&path, Unlock::Passphrase(b"x")),
            Err(ClientStoreError::WrongUnlockKind { .. })
        ));
        std::fs::write(&kf, [8u8; 32]).unwrap();
        assert!(matches!(
            ClientStore::open(&path, Unlock::KeyFile(&kf)),
            Err(ClientStoreError::WrongKey { .. })
        ));
        assert!(matches!(
            ClientStore::open(&dir.path().join("none"), Unlock::KeyFile(&kf)),
            Err(ClientStoreError::Missing(_))
        ));
    }

    #[test]
    fn batches_scans_deletes_and_slot_binding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.redb");
        let mut r = rng();
        let s = ClientStore::create(
            &path,
            Unlock::Passphrase(b"p"),
            KdfParams::insecure_for_tests(),
            &mut r,
        )
        .unwrap();
        let conv = s.index(Space::Messages, b"05abc");
        assert_ne!(
            conv,
            s.index(Space::Contacts, b"05abc"),
            "index is per space"
        );
        let mut b = Batch::default();
        for i in 0u64..5 {
            let mut k = conv.to_vec();
            k.extend_from_slice(&i.to_be_bytes());
            b.put(Space::Messages, &k, format!("msg {i}").as_bytes());
        }
        b.put(Space::Messages, &[0xff; 40], b"other conversation");
        s.write(b, &mut r).unwrap();
        let got = s.scan(Space::Messages, &conv).unwrap();
        assert_eq!(got.len(), 5);
        assert_eq!(got[3].1.as_slice(), b"msg 3");
        assert_eq!(s.count(Space::Messages).unwrap(), 6);
        let mut b = Batch::default();
        b.delete(Space::Messages, &[0xff; 40]);
        s.write(b, &mut r).unwrap();
        assert_eq!(s.count(Space::Messages).unwrap(), 5);
        // Moving a ciphertext to another key is detected.
        let mut k0 = conv.to_vec();
        k0.extend_from_slice(&0u64.to_be_bytes());
        let mut k1 = conv.to_vec();
        k1.extend_from_slice(&1u64.to_be_bytes());
        let raw0 = {
            let tx = s.db.begin_read().unwrap();
            let t = tx.open_table(Space::Messages.table()).unwrap();
            t.get(k0.as_slice()).unwrap().unwrap().value().to_vec()
        };
        {
            let tx = s.db.begin_write().unwrap();
            {
                let mut t = tx.open_table(Space::Messages.table()).unwrap();
                t.insert(k1.as_slice(), raw0.as_slice()).unwrap();
            }
            tx.commit().unwrap();
        }
        assert!(matches!(
            s.get(Space::Messages, &k1),
            Err(ClientStoreError::Tampered { .. })
        ));
    }

    #[test]
    fn error_kinds() {
        use pars_error::{ErrorKind, HasKind};
        let wrong = ClientStoreError::WrongKey { path: "x".into() };
        assert_eq!(wrong.kind(), ErrorKind::Config);
        let full = ClientStoreError::Store(StoreError::Full {
            used: 1,
            cap: 1,
            needed: 1,
        });
        assert_eq!(full.kind(), ErrorKind::Busy);
        assert_eq!(StoreError::Closed.kind(), ErrorKind::Shutdown);
        let torn = ClientStoreError::Tampered { space: "messages" };
        assert_eq!(torn.kind(), ErrorKind::Storage);
    }
}
