//! One daemon per data directory: an exclusive advisory lock on `<datadir>/sessiond.lock`,
//! held for the daemon's lifetime and released by the OS even after `kill -9`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The lock file's name.
pub const LOCK_FILE: &str = "sessiond.lock";

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another process holds it.
    #[error(
        "another sessiond is already using {datadir}{pid}; stop it first, or start this one with another --datadir"
    )]
    Held {
        /// The data directory.
        datadir: String,
        /// The other process's PID as it wrote it, if readable.
        pid: String,
    },
    /// The lock file could not be opened.
    #[error("cannot open {path}: {source}")]
    Io {
        /// The lock file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Takes the lock of `datadir` (which must exist) or fails at once if it is held.
    pub fn acquire(datadir: &Path) -> Result<Self, LockError> {
        let path = datadir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let pid = std::fs::read_to_string(&path)
                    .ok()
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .map(|p| format!(" (pid {p})"))
                    .unwrap_or_default();
                return Err(LockError::Held {
                    datadir: datadir.display().to_string(),
                    pid,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Self { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl pars_error::HasKind for LockError {
    fn kind(&self) -> pars_error::ErrorKind {
        match self {
            // Another daemon runs on this data directory: pick another one, or stop it.
            Self::Held { .. } => pars_error::ErrorKind::Config,
            Self::Io { .. } => pars_error::ErrorKind::Storage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_fails_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let a = DataDirLock::acquire(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("already using"), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(a);
        DataDirLock::acquire(dir.path()).unwrap();
    }
}
