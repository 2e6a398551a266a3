//! Downloads: the index walked from the root down to the data chunk IDs, then the data chunks
//! fetched, checked, opened and written at their place in `<path>.part`.

use super::meter::{Answer, MemberMemory, Verdict, retry_delay, verdict};
use super::{
    Pool, Run, Stop, TransferError, TransferStatus, Transfers, bytes_of, now_unix, partial_path,
    require_absolute,
};
use crate::net::Network;
use libp2p::PeerId;
use pars_error::ErrorKind as K;
use pars_wire::file::{ChunkSealer, Layout, chunk_id, index_entries};
use pars_wire::records::{ChunkIdsRecord, TransferProgress, TransferRecord, TransferState};
use pars_wire::swarm::{MIN_COPIES, Mailbox};
use pars_wire::{ChunkId, FileId, TransferId};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

impl Transfers {
    /// Starts (or resumes) downloading file `file` to `path`: a download of the same file to
    /// the same path that failed, was cancelled or was interrupted goes on from what it has.
    pub async fn receive_file(
        &self,
        file: FileId,
        path: &str,
    ) -> Result<TransferStatus, TransferError> {
        require_absolute(path)?;
        let p = Path::new(path);
        let core = self.inner.core.clone();
        let (offer, transfers) = core
            .with_engine(move |e, _| {
                Ok::<_, crate::engine::EngineError>((e.file_offer(&file)?, e.transfers()?))
            })
            .await??;
        let max = self.inner.settings.max_file_size;
        if offer.manifest.size > max {
            return Err(TransferError::TooLarge {
                name: offer.manifest.name.clone(),
                size: offer.manifest.size,
                max,
            });
        }
        let same = transfers
            .into_iter()
            .find(|t| !t.upload && t.manifest.id == file && t.path == path);
        if let Some(mut t) = same {
            match t.state {
                TransferState::Running if self.live(&t.id).is_some() => {
                    return self.get(t.id).await;
                }
                TransferState::Done if p.exists() => {
                    return Err(TransferError::Input(format!(
                        "{} is already downloaded to {path}",
                        t.manifest.name
                    )));
                }
                TransferState::Done => {}
                _ => {
                    t.state = TransferState::Running;
                    t.error = None;
                    t.error_kind = None;
                    t.updated_at = now_unix();
                    let r = t.clone();
                    core.with_engine(move |e, rng| e.save_transfer(&r, None, None, rng))
                        .await??;
                    tracing::info!(transfer = %t.id, "resuming a download");
                    return self.spawn(t).await;
                }
            }
        }
        if p.exists() {
            return Err(TransferError::Input(format!(
                "{path} exists; choose another path or remove it first"
            )));
        }
        match p.parent() {
            Some(d) if d.is_dir() => {}
            _ => {
                return Err(TransferError::Input(format!(
                    "the folder of {path} does not exist"
                )));
            }
        }
        let id = core.with_engine(|_, rng| TransferId::random(rng)).await?;
        let now = now_unix();
        let record = TransferRecord::start(id, false, offer.manifest, offer.from, path, now);
        let r = record.clone();
        core.with_engine(move |e, rng| e.save_transfer(&r, None, None, rng))
            .await??;
        tracing::info!(transfer = %id, size = record.manifest.size, "receiving a file");
        self.spawn(record).await
    }
}

/// Asks the members of chunk `id`'s swarm for it, one after the other, until one returns it:
/// those meant to hold it from the `start`th on, then the spare member, those that failed to
/// answer lately last (`memory`).
async fn fetch(
    net: &Arc<dyn Network>,
    memory: &Mutex<MemberMemory<PeerId>>,
    clock: Instant,
    id: ChunkId,
    start: usize,
) -> Result<Vec<u8>, Verdict> {
    let now_ms = || clock.elapsed().as_millis() as u64;
    let mailbox = Mailbox::Chunk(id);
    let members = net.swarm_of(&mailbox);
    let order = match memory.lock() {
        Ok(mut m) => m.order(&members, mailbox.holders(), start, now_ms()),
        Err(_) => members.clone(),
    };
    let mut answers = Vec::with_capacity(order.len());
    for m in order {
        let got = net.retrieve_page(&mailbox, Some(m), 0, None).await;
        if let Ok(mut mem) = memory.lock() {
            match &got {
                Ok(_) => mem.answered(&m),
                Err(_) => mem.failed(m, now_ms()),
            }
        }
        match got {
            Ok(page) => {
                let any = !page.items.is_empty();
                if let Some(item) = page.items.into_iter().find(|i| chunk_id(&i.payload) == id) {
                    return Ok(item.payload);
                }
                answers.push(if any { Answer::Wrong } else { Answer::Missing });
            }
            Err(_) => answers.push(Answer::Failed),
        }
    }
    Err(verdict(&answers, MIN_COPIES))
}

/// What one download job needs.
struct Job {
    net: Arc<dyn Network>,
    sealer: Arc<ChunkSealer>,
    layout: Layout,
    name: String,
    last_error: Arc<Mutex<Option<String>>>,
    /// Members that failed to answer lately, asked last; times from the run's start.
    members: Mutex<MemberMemory<PeerId>>,
    started: Instant,
}

impl Job {
    /// Fetches chunk `index` of `level` (ID `id`) and opens it, retrying what may pass.
    async fn open(
        &self,
        level: u8,
        index: u64,
        id: ChunkId,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, Stop> {
        let mut failures = 0u32;
        let place = if level == 0 {
            format!("chunk {index} of {}", self.name)
        } else {
            format!("index chunk {index} (level {level}) of {}", self.name)
        };
        let bytes = loop {
            match fetch(&self.net, &self.members, self.started, id, index as usize).await {
                Ok(b) => break b,
                Err(Verdict::Lost) => {
                    return Err(Stop::Fatal(
                        K::NotFound,
                        format!(
                            "{place} is not in its swarm: it expired (chunks are kept 14 days) or was \
                         never stored; ask the sender to send the file again"
                        ),
                    ));
                }
                Err(Verdict::Tampered) => {
                    return Err(Stop::Fatal(
                        K::Verification,
                        format!(
                            "every member of the swarm of {place} returned other bytes than the \
                         chunk: refused as tampered; nothing of it was written"
                        ),
                    ));
                }
                Err(Verdict::Retry) => {
                    failures += 1;
                    if let Ok(mut e) = self.last_error.lock() {
                        *e = Some(format!(
                            "retrying: no member of the swarm of {place} answered"
                        ));
                    }
                    tokio::time::sleep(retry_delay(failures)).await;
                }
            }
        };
        self.sealer.open(level, index, &bytes).map_err(|_| {
            Stop::Fatal(
                K::Verification,
                format!(
                    "{place} matches its ID but does not open under the file's key at its place: \
                 the sender's file is corrupt or was tampered with; nothing of it was written"
                ),
            )
        })
    }
}

impl Run {
    pub(super) async fn download(&mut self, record: TransferRecord) -> Result<(), Stop> {
        let id = record.id;
        let core = self.inner.core.clone();
        let (ids, progress) = self.load(id).await?;
        let layout = record.manifest.layout();
        let net = self.network().await?;
        let last_error = Arc::new(Mutex::new(None));
        let job = Arc::new(Job {
            net,
            sealer: Arc::new(record.manifest.sealer()),
            layout: layout.clone(),
            name: record.manifest.name.clone(),
            last_error: last_error.clone(),
            members: Mutex::new(MemberMemory::default()),
            started: self.started,
        });
        let ids = match ids {
            Some(ids) => ids.0,
            None => {
                let ids = self.walk_index(&job, record.manifest.id).await?;
                let rec = ChunkIdsRecord(ids);
                let (r, saved) = (record.clone(), rec.clone());
                core.with_engine(move |e, rng| e.save_transfer(&r, None, Some(&saved), rng))
                    .await
                    .map_err(|_| Stop::Shutdown)?
                    .map_err(|e| {
                        Stop::Fatal(
                            K::Storage,
                            format!("the chunk list could not be saved: {e}"),
                        )
                    })?;
                rec.0
            }
        };
        if ids.len() as u64 != layout.data_chunks() {
            return Err(Stop::Fatal(
                K::Verification,
                "the file's index does not match its size".into(),
            ));
        }
        let part_path = partial_path(&record.path);
        let existed = Path::new(&part_path).exists();
        let mut progress = match progress {
            // A partial file deleted under us: what it held is gone.
            Some(p) if p.chunks() == layout.data_chunks() && existed => p,
            _ => TransferProgress::new(layout.data_chunks())
                .map_err(|e| Stop::Fatal(K::Internal, e.to_string()))?,
        };
        let part = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&part_path)
            .map_err(|e| disk_error(&part_path, &e))?;
        let part = Arc::new(part);
        let ids = Arc::new(ids);
        let fetch_one = |i: u64| {
            let (job, ids, part) = (job.clone(), ids.clone(), part.clone());
            let part_path = part_path.clone();
            async move {
                let cid = *ids
                    .get(i as usize)
                    .ok_or_else(|| Stop::Fatal(K::Internal, format!("no chunk ID {i}")))?;
                let plain = job.open(0, i, cid).await?;
                let len = job.layout.data_len(i);
                let offset = i * u64::from(job.layout.chunk_len);
                tokio::task::spawn_blocking(move || part.write_all_at(&plain[..len], offset))
                    .await
                    .map_err(|e| Stop::Fatal(K::Internal, format!("writing failed: {e}")))?
                    .map_err(|e| disk_error(&part_path, &e))
            }
        };
        let bytes = |done: u64| bytes_of(&record, done);
        self.drive(
            id,
            &mut progress,
            fetch_one,
            bytes,
            &last_error,
            Some(&part),
        )
        .await?;
        let (from, to) = (part_path.clone(), record.path.clone());
        tokio::task::spawn_blocking(move || {
            if Path::new(&to).exists() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!("{to} appeared while the file was downloaded; the download is kept as {from}"),
                ));
            }
            std::fs::rename(&from, &to)
        })
        .await
        .map_err(|e| Stop::Fatal(K::Internal, format!("finishing failed: {e}")))?
        .map_err(|e| Stop::Fatal(K::Storage, format!("the download could not be put in place: {e}")))?;
        let mut done = record;
        done.state = TransferState::Done;
        done.error = None;
        done.error_kind = None;
        done.updated_at = now_unix();
        let r = done.clone();
        core.with_engine(move |e, rng| e.save_transfer(&r, None, None, rng))
            .await
            .map_err(|_| Stop::Shutdown)?
            .map_err(|e| {
                Stop::Fatal(
                    K::Storage,
                    format!("the finished download could not be saved: {e}"),
                )
            })?;
        tracing::info!(transfer = %id, "file received");
        self.set_record(done);
        Ok(())
    }

    /// Walks the index from the root (ID `file`) down to the data chunks' IDs.
    async fn walk_index(&mut self, job: &Arc<Job>, file: FileId) -> Result<Vec<ChunkId>, Stop> {
        let layout = &job.layout;
        let mut level = layout.root_level();
        let mut ids = vec![ChunkId(file.0)];
        while level > 0 {
            let list = Arc::new(ids);
            let fetch_one = |i: u64| {
                let (job, list) = (job.clone(), list.clone());
                async move {
                    let cid = *list
                        .get(i as usize)
                        .ok_or_else(|| Stop::Fatal(K::Internal, format!("no index entry {i}")))?;
                    let plain = job.open(level, i, cid).await?;
                    let entries = job.layout.entries(level, i);
                    index_entries(&plain, entries).map_err(|e| {
                        Stop::Fatal(
                            K::Verification,
                            format!("index chunk {i} (level {level}) is malformed: {e}"),
                        )
                    })
                }
            };
            let mut found: Vec<Option<Vec<ChunkId>>> = vec![None; list.len()];
            let mut pool = Pool::new(
                (0..list.len() as u64).collect(),
                self.inner.settings.parallel,
            );
            let mut sig = self.signal.clone();
            loop {
                let next = tokio::select! {
                    n = pool.next(&fetch_one) => n,
                    s = Run::until_stopped(&mut sig) => return Err(s),
                };
                match next {
                    None => break,
                    Some(Ok((i, entries))) => {
                        if let Some(slot) = found.get_mut(i as usize) {
                            *slot = Some(entries);
                        }
                    }
                    Some(Err(stop)) => return Err(stop),
                }
            }
            ids = found.into_iter().flatten().flatten().collect();
            level -= 1;
        }
        Ok(ids)
    }
}

/// A local write failure of a download, said so that the user knows what to do.
fn disk_error(path: &str, e: &std::io::Error) -> Stop {
    if e.kind() == std::io::ErrorKind::StorageFull {
        Stop::Fatal(
            K::Storage,
            format!(
                "the disk is full writing {path}; the partial file is kept: free some space and \
             receive the file again to the same path to resume"
            ),
        )
    } else {
        Stop::Fatal(K::Storage, format!("cannot write {path}: {e}"))
    }
}
