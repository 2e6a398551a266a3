//! Uploads: the first pass over the file (seal, chunk IDs, file ID), then the chunks stored in
//! their swarms, then the offer.

use super::meter::retry_delay;
use super::{
    Run, Stop, TransferError, TransferStatus, Transfers, bytes_of, now_unix, require_absolute,
};
use crate::net::{Failure, Network};
use pars_error::{ErrorKind as K, HasKind};
use pars_wire::file::{
    ChunkSealer, FileManifest, IndexBuilder, Layout, SealedChunk, check_file_name, chunk_id,
    chunk_len_for,
};
use pars_wire::records::{ChunkIdsRecord, TransferPeer, TransferProgress, TransferRecord};
use pars_wire::swarm::Mailbox;
use pars_wire::{ChunkId, TransferId};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zeroize::Zeroizing;

/// A MIME type from a file name's extension (the common ones; else `application/octet-stream`).
pub fn mime_of(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "md" | "log" => "text/plain",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "mp3" => "audio/mpeg",
        "ogg" | "opus" => "audio/ogg",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        _ => "application/octet-stream",
    }
}

fn io_error<'a>(
    what: &'static str,
    path: &'a str,
) -> impl Fn(std::io::Error) -> TransferError + 'a {
    move |source| TransferError::Io {
        what,
        path: path.to_string(),
        source,
    }
}

/// Checks that the file at `path` can be sent: an absolute path to a regular, non-empty file
/// of at most `max` bytes with a name that can be sent. Returns its name and size.
fn check_file(path: &str, max: u64) -> Result<(String, u64), TransferError> {
    require_absolute(path)?;
    let meta = std::fs::metadata(path).map_err(io_error("cannot read", path))?;
    if !meta.is_file() {
        return Err(TransferError::Input(format!(
            "{path} is not a regular file; only files are sent"
        )));
    }
    let name = Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            TransferError::Input(format!(
                "the name of {path} is not UTF-8; rename it to send it"
            ))
        })?
        .to_string();
    check_file_name(&name).map_err(|e| {
        TransferError::Input(format!(
            "the file name {name:?} cannot be sent ({e}); rename it"
        ))
    })?;
    let size = meta.len();
    if size == 0 {
        return Err(TransferError::Input(format!(
            "{name} is empty; there is nothing to send"
        )));
    }
    if size > max {
        return Err(TransferError::TooLarge { name, size, max });
    }
    Ok((name, size))
}

/// Reads data chunks `run` of `file` at their offsets and seals each: their chunk IDs in order.
fn seal_run(
    file: &std::fs::File,
    sealer: &ChunkSealer,
    layout: &Layout,
    run: std::ops::Range<u64>,
    name: &str,
    path: &str,
) -> Result<Vec<ChunkId>, TransferError> {
    let mut buf = Zeroizing::new(vec![0u8; layout.chunk_len as usize]);
    let mut ids = Vec::with_capacity((run.end - run.start) as usize);
    for i in run {
        let n = layout.data_len(i);
        file.read_exact_at(&mut buf[..n], i * u64::from(layout.chunk_len))
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    TransferError::Input(format!(
                        "{name} got shorter while it was read; send it when it no longer changes"
                    ))
                } else {
                    io_error("cannot read", path)(e)
                }
            })?;
        let sealed = sealer
            .seal(0, i, &buf[..n])
            .map_err(|e| TransferError::Input(e.to_string()))?;
        ids.push(chunk_id(&sealed));
    }
    Ok(ids)
}

/// The first pass: reads the file at `path` once, seals each chunk under `key` and returns
/// the manifest (with the file ID) and the data chunks' IDs.
fn prepare(
    path: &str,
    key: [u8; 32],
    max: u64,
) -> Result<(FileManifest, ChunkIdsRecord), TransferError> {
    let io = |what| io_error(what, path);
    let (name, size) = check_file(path, max)?;
    let file = std::fs::File::open(path).map_err(io("cannot open"))?;
    let chunk_len = chunk_len_for(size);
    let layout = Layout::new(size, chunk_len);
    let sealer = ChunkSealer::new(&key, chunk_len);
    // The data chunks in contiguous runs, one per core, each read at its offsets and sealed on
    // a thread of its own; the IDs are joined in order.
    let n = layout.data_chunks();
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get().min(4)) as u64;
    let per = n.div_ceil(threads.max(1)).max(1);
    let runs: Vec<(u64, u64)> = (0..n)
        .step_by(per as usize)
        .map(|a| (a, (a + per).min(n)))
        .collect();
    let parts = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .map(|&(a, b)| {
                let (file, sealer, layout, name) = (&file, &sealer, &layout, &name);
                scope.spawn(move || seal_run(file, sealer, layout, a..b, name, path))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(TransferError::Input(format!("sealing {name} stopped")))
                })
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    let ids: Vec<ChunkId> = parts.into_iter().flatten().collect();
    let (_, id) = IndexBuilder::new(&sealer)
        .build(&ids)
        .map_err(|e| TransferError::Input(e.to_string()))?;
    let manifest = FileManifest {
        id,
        key: Zeroizing::new(key),
        size,
        chunk_len,
        mime: mime_of(&name).to_string(),
        name,
    };
    Ok((manifest, ChunkIdsRecord(ids)))
}

impl Transfers {
    /// Starts sending the file at `path` to `to`: checks that `to` can get it, reads the file
    /// once (its ID), saves the transfer and starts the upload.
    pub async fn send_file(
        &self,
        to: TransferPeer,
        path: &str,
    ) -> Result<TransferStatus, TransferError> {
        let max = self.inner.settings.max_file_size;
        let p = path.to_string();
        tokio::task::spawn_blocking(move || check_file(&p, max))
            .await
            .map_err(|e| TransferError::Input(format!("reading the file failed: {e}")))??;
        let core = self.inner.core.clone();
        let (key, id) = core
            .with_engine(move |e, rng| {
                e.check_file_target(&to)?;
                Ok::<_, crate::engine::EngineError>((
                    pars_crypto::random_array::<32>(rng),
                    TransferId::random(rng),
                ))
            })
            .await??;
        let p = path.to_string();
        let (manifest, ids) = tokio::task::spawn_blocking(move || prepare(&p, key, max))
            .await
            .map_err(|e| TransferError::Input(format!("reading the file failed: {e}")))??;
        let progress = TransferProgress::new(manifest.layout().total_chunks())
            .map_err(|e| TransferError::Input(e.to_string()))?;
        let now = now_unix();
        let record = TransferRecord::start(id, true, manifest, to, path, now);
        let r = record.clone();
        core.with_engine(move |e, rng| e.save_transfer(&r, Some(&progress), Some(&ids), rng))
            .await??;
        tracing::info!(transfer = %id, size = record.manifest.size, "sending a file");
        self.spawn(record).await
    }
}

/// What one upload job needs.
struct Job {
    net: Arc<dyn Network>,
    file: Arc<std::fs::File>,
    sealer: Arc<ChunkSealer>,
    layout: Layout,
    ids: Arc<Vec<ChunkId>>,
    index: Arc<Vec<SealedChunk>>,
    ttl_ms: u64,
    last_error: Arc<Mutex<Option<String>>>,
}

impl Job {
    /// Chunk `pos` (data chunks first, then the index), sealed, with its ID.
    async fn chunk(&self, pos: u64) -> Result<(ChunkId, Vec<u8>), Stop> {
        let n_data = self.layout.data_chunks();
        if pos >= n_data {
            let c = self
                .index
                .get((pos - n_data) as usize)
                .ok_or_else(|| Stop::Fatal(K::Internal, format!("no index chunk {pos}")))?;
            return Ok((c.id, c.bytes.clone()));
        }
        let want = *self
            .ids
            .get(pos as usize)
            .ok_or_else(|| Stop::Fatal(K::Internal, format!("no chunk ID {pos}")))?;
        let (file, sealer) = (self.file.clone(), self.sealer.clone());
        let len = self.layout.data_len(pos);
        let offset = pos * u64::from(self.layout.chunk_len);
        let sealed = tokio::task::spawn_blocking(move || {
            let mut buf = Zeroizing::new(vec![0u8; len]);
            file.read_exact_at(&mut buf, offset)?;
            sealer
                .seal(0, pos, &buf)
                .map_err(|e| std::io::Error::other(e.to_string()))
        })
        .await
        .map_err(|e| Stop::Fatal(K::Internal, format!("reading the file failed: {e}")))?
        .map_err(|e| {
            Stop::Fatal(
                K::BadInput,
                format!("the file can no longer be read ({e}); send it again"),
            )
        })?;
        // Not hashed again here: the swarm stores a chunk only under its own hash, so a chunk
        // that changed since the first pass is refused, and `run` tells why.
        Ok((want, sealed))
    }

    /// Stores chunk `pos`, retrying network failures until it is stored.
    async fn run(self: Arc<Self>, pos: u64) -> Result<(), Stop> {
        let (id, bytes) = self.chunk(pos).await?;
        let mailbox = Mailbox::Chunk(id);
        let mut failures = 0u32;
        loop {
            match self.net.store(&mailbox, self.ttl_ms, bytes.clone()).await {
                Ok(_) => return Ok(()),
                Err(f) => {
                    let wait = match f.class {
                        Failure::Permanent | Failure::Unsupported => {
                            return Err(if chunk_id(&bytes) != id {
                                Stop::Fatal(
                                    K::BadInput,
                                    format!(
                                        "the file changed since sending began (chunk {pos} \
                                         differs); send it again"
                                    ),
                                )
                            } else {
                                Stop::Fatal(
                                    K::Rejected,
                                    format!(
                                        "chunk {pos} of the file was refused by its swarm: {f}"
                                    ),
                                )
                            });
                        }
                        Failure::RetryAfter(d) => d.min(Duration::from_secs(60)),
                        Failure::Transient => {
                            failures += 1;
                            retry_delay(failures)
                        }
                    };
                    if let Ok(mut e) = self.last_error.lock() {
                        *e = Some(format!("retrying after a network failure: {f}"));
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

impl Run {
    pub(super) async fn upload(&mut self, record: TransferRecord) -> Result<(), Stop> {
        let id = record.id;
        let core = self.inner.core.clone();
        let (ids, progress) = self.load(id).await?;
        let ids = ids
            .ok_or_else(|| Stop::Fatal(K::Storage, "the transfer's chunk list is missing".into()))?
            .0;
        let layout = record.manifest.layout();
        let mut progress = match progress {
            Some(p) if p.chunks() == layout.total_chunks() => p,
            _ => TransferProgress::new(layout.total_chunks())
                .map_err(|e| Stop::Fatal(K::Internal, e.to_string()))?,
        };
        let sealer = Arc::new(record.manifest.sealer());
        let (index, root) = IndexBuilder::new(&sealer)
            .build(&ids)
            .map_err(|e| Stop::Fatal(K::Internal, e.to_string()))?;
        if root != record.manifest.id {
            return Err(Stop::Fatal(
                K::Storage,
                "the stored chunk list does not give the file's ID".into(),
            ));
        }
        let file = std::fs::File::open(&record.path).map_err(|e| {
            Stop::Fatal(
                K::BadInput,
                format!(
                    "cannot open {} to send it ({e}); a file must stay in place until it is sent",
                    record.path
                ),
            )
        })?;
        let net = self.network().await?;
        let last_error = Arc::new(Mutex::new(None));
        let job = Arc::new(Job {
            net,
            file: Arc::new(file),
            sealer,
            layout: layout.clone(),
            ids: Arc::new(ids),
            index: Arc::new(index),
            ttl_ms: self.inner.settings.chunk_ttl_ms,
            last_error: last_error.clone(),
        });
        let run = |pos: u64| job.clone().run(pos);
        let n_data = layout.data_chunks();
        let bytes = |done: u64| bytes_of(&record, done.min(n_data));
        self.drive(id, &mut progress, run, bytes, &last_error, None)
            .await?;
        let done = core
            .finish_upload(id)
            .await
            .map_err(|e| Stop::Fatal(e.kind(), format!("the file could not be offered: {e}")))?;
        tracing::info!(transfer = %id, "file uploaded and offered");
        self.set_record(done);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pars_wire::file::{BULK_FILE_CHUNK_LEN, FILE_CHUNK_LEN};

    /// The first pass on several threads gives the IDs, in order, that sealing each chunk in
    /// turn gives: for a file of one short chunk, of exactly one chunk, and of many with a short
    /// last one; small files in standard chunks, larger ones (past 1 MiB) in bulk chunks.
    #[test]
    fn the_first_pass_on_every_core_gives_the_ids_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (small, bulk) = (FILE_CHUNK_LEN as usize, BULK_FILE_CHUNK_LEN as usize);
        for (size, cl) in [
            (1, small),
            (small, small),
            (7 * small + 5, small),
            (1 << 20, small),
            ((1 << 20) + 1, bulk),
            (9 * bulk + 5, bulk),
        ] {
            let path = dir.path().join(format!("f{size}"));
            let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            std::fs::write(&path, &data).unwrap();
            let key = [7u8; 32];
            let (manifest, ids) = prepare(path.to_str().unwrap(), key, u64::MAX).unwrap();
            assert_eq!(manifest.chunk_len as usize, cl, "size {size}");
            let sealer = ChunkSealer::new(&key, cl as u32);
            let want: Vec<ChunkId> = data
                .chunks(cl)
                .enumerate()
                .map(|(i, c)| chunk_id(&sealer.seal(0, i as u64, c).unwrap()))
                .collect();
            assert_eq!(ids.0, want, "size {size}");
            assert_eq!(manifest.size, size as u64);
            let (_, root) = IndexBuilder::new(&sealer).build(&want).unwrap();
            assert_eq!(manifest.id, root);
        }
    }
}
