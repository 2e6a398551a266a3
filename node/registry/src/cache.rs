//! The last known active set on disk, so a node keeps working through chain outages.
//!
//! One JSON file (a [`RegistrySnapshot`] with a format version), replaced atomically: written to a
//! temporary file beside it, synced, renamed over the old one, and the directory synced. A reader
//! either sees the old or the new file, never a mix.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::types::RegistrySnapshot;

const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    snapshot: RegistrySnapshot,
}

fn cache_error(path: &Path, message: impl Into<String>) -> RegistryError {
    RegistryError::Cache {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Writes `snapshot` to `path` atomically (temp file, fsync, rename, fsync of the directory).
pub fn save(path: &Path, snapshot: &RegistrySnapshot) -> Result<(), RegistryError> {
    let json = serde_json::to_vec_pretty(&CacheFile {
        version: FORMAT_VERSION,
        snapshot: snapshot.clone(),
    })
    .map_err(|e| cache_error(path, format!("cannot encode: {e}")))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)
        .map_err(|e| cache_error(path, format!("cannot create its directory: {e}")))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // The rename is durable once the directory entry is.
        fs::File::open(&dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        cache_error(
            path,
            format!("cannot write: {e}; check the data directory's permissions and free space"),
        )
    })
}

/// What loading the cache found.
#[derive(Debug)]
pub enum Loaded {
    /// No cache file yet.
    Missing,
    /// A usable snapshot for the configured chain and registry.
    Snapshot(RegistrySnapshot),
    /// A cache for another chain or registry (or an unreadable one): ignored, with the reason.
    Ignored(String),
}

/// Loads the cache at `path` if it belongs to `chain_id` and `registry`.
pub fn load(path: &Path, chain_id: u64, registry: Address) -> Loaded {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::Missing,
        Err(e) => return Loaded::Ignored(format!("cannot read {}: {e}", path.display())),
    };
    let file: CacheFile = match serde_json::from_slice(&bytes) {
        Ok(f) => f,
        Err(e) => {
            return Loaded::Ignored(format!("{} is not a registry cache: {e}", path.display()));
        }
    };
    if file.version != FORMAT_VERSION {
        return Loaded::Ignored(format!(
            "{} has format version {}, expected {FORMAT_VERSION}",
            path.display(),
            file.version
        ));
    }
    let s = file.snapshot;
    if s.chain_id != chain_id || s.registry != registry {
        return Loaded::Ignored(format!(
            "{} holds the registry {} on chain {}, but {} on chain {} is configured",
            path.display(),
            s.registry,
            s.chain_id,
            registry,
            chain_id
        ));
    }
    let mut nodes = s.nodes;
    nodes.sort_by_key(|n| n.node_id);
    nodes.dedup_by(|a, b| a.node_id == b.node_id);
    Loaded::Snapshot(RegistrySnapshot { nodes, ..s })
}

/// The chain ID and registry a cache file at `path` belongs to, if it is a readable cache.
pub fn peek(path: &Path) -> Option<(u64, Address)> {
    let bytes = fs::read(path).ok()?;
    let file: CacheFile = serde_json::from_slice(&bytes).ok()?;
    (file.version == FORMAT_VERSION).then_some((file.snapshot.chain_id, file.snapshot.registry))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::types::BlockRef;

    #[test]
    fn save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/registry.json");
        let reg = Address::repeat_byte(3);
        assert!(matches!(load(&path, 1, reg), Loaded::Missing));
        let mut snap = RegistrySnapshot::empty(1, reg);
        snap.block = Some(BlockRef {
            number: 4,
            hash: [5; 32],
        });
        save(&path, &snap).unwrap();
        assert_eq!(peek(&path), Some((1, reg)));
        match load(&path, 1, reg) {
            Loaded::Snapshot(s) => assert_eq!(s, snap),
            other => panic!("{other:?}"),
        }
        assert!(matches!(load(&path, 2, reg), Loaded::Ignored(m) if m.contains("chain 1")));
        assert!(matches!(load(&path, 1, Address::ZERO), Loaded::Ignored(_)));
        fs::write(&path, b"{not json").unwrap();
        assert!(matches!(load(&path, 1, reg), Loaded::Ignored(_)));
        assert_eq!(peek(&path), None);
        assert!(!dir.path().join("sub/registry.json.tmp").exists());
    }
}
