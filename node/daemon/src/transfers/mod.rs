//! File transfers: uploads (`sendFile`) and downloads (`receiveFile`) of files of any size up
//! to the configured limit, chunk by chunk through the [`Network`] seam, many chunks in flight,
//! with their progress in the client store so that a transfer goes on from where it was after
//! a crash, a kill or a restart, never from zero.
//!
//! - An **upload** reads the file once to seal its chunks and compute its ID (the root of the
//!   hash tree over the sealed chunks, `pars_wire::file`); the chunk IDs and an empty progress
//!   record are saved with the transfer. The chunks are then read again, sealed again (sealing
//!   is deterministic: the key and the place give the nonce) and stored, each in the swarm of
//!   its own ID; a chunk that now seals to another ID means the file changed, and the upload
//!   fails saying so. When every chunk is stored, the file message is queued and the upload
//!   marked done in one batch ([`crate::engine::Engine::finish_upload`]).
//! - A **download** fetches the root (its ID is the file ID), walks the index down to the data
//!   chunk IDs (saved), then fetches the data chunks; each is checked against its ID and opened
//!   under the file key at its place before a byte of it is written into `<path>.part`. The
//!   partial file is synced before each progress save, so what the progress says is written is
//!   on disk. When every chunk is written, the file is renamed to `path`.
//!
//! Memory stays bounded: at most [`TransferSettings::parallel`] chunks are in flight per
//! transfer, and the only per-file state is the chunk ID list (32 bytes a chunk) and a bitmap.
//! Network failures are retried with backoff for as long as the daemon runs ([`meter`]); what
//! no retry changes (a tampered or lost chunk, a changed file, a full disk) fails the transfer
//! with a message that names it.

mod download;
pub mod meter;
mod upload;

use crate::app::{Core, CoreError};
use crate::net::{NetSlot, Network};
use pars_error::{ErrorKind, HasKind};
use pars_wire::TransferId;
use pars_wire::records::{ChunkIdsRecord, TransferProgress, TransferRecord, TransferState};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};
use tokio::task::{JoinHandle, JoinSet};

/// Transfer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferSettings {
    /// Largest file sent or received, bytes.
    pub max_file_size: u64,
    /// Chunks in flight per transfer.
    pub parallel: usize,
    /// TTL of stored chunks, milliseconds (the messages' TTL: 14 days).
    pub chunk_ttl_ms: u64,
    /// Most bytes per second all transfers together move (`max-transfer-rate`); `None`: as
    /// fast as the network goes.
    pub max_rate: Option<u64>,
}

impl Default for TransferSettings {
    fn default() -> Self {
        Self {
            max_file_size: crate::config::DEFAULT_MAX_FILE_SIZE,
            parallel: 16,
            chunk_ttl_ms: pars_wire::swarm::DEFAULT_TTL_MS,
            max_rate: None,
        }
    }
}

/// A transfer as it stands: its record and its live figures.
#[derive(Debug, Clone)]
pub struct TransferStatus {
    /// The record (state, file, path, peer).
    pub record: TransferRecord,
    /// Chunks done.
    pub chunks_done: u64,
    /// Chunks in all.
    pub chunks_total: u64,
    /// Bytes of the file done.
    pub bytes_done: u64,
    /// Bytes per second over the last seconds.
    pub rate: f64,
}

/// Why a transfer call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The request cannot be done as asked (a missing file, an existing output, …).
    #[error("{0}")]
    Input(String),
    /// The file is above the size limit.
    #[error(
        "{name} is {size} bytes; this daemon sends and receives files of at most {max} bytes (max-file-size)"
    )]
    TooLarge {
        /// The file.
        name: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The core stopped.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    /// A local file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was done.
        what: &'static str,
        /// The file.
        path: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

impl HasKind for TransferError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Input(_) | Self::TooLarge { .. } => ErrorKind::BadInput,
            Self::Core(e) => e.kind(),
            Self::Engine(e) => e.kind(),
            Self::Io { .. } => ErrorKind::Storage,
        }
    }
}

/// Why a transfer's task ended before its end.
#[derive(Debug)]
enum Stop {
    /// Failed for good: the kind (which decides `parsctl`'s exit code) and what to tell the
    /// user.
    Fatal(ErrorKind, String),
    /// The user cancelled it.
    Cancelled,
    /// The daemon is stopping: the transfer stays running and resumes at the next start.
    Shutdown,
}

/// The signal a running transfer's task watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Go,
    Cancel,
    Shutdown,
}

/// A running transfer, as the manager keeps it.
struct Live {
    status: Mutex<TransferStatus>,
    signal: watch::Sender<Signal>,
    task: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    core: Arc<Core>,
    net: NetSlot,
    settings: TransferSettings,
    live: Mutex<HashMap<TransferId, Arc<Live>>>,
    events: broadcast::Sender<TransferStatus>,
    pace: Option<Arc<Pace>>,
}

/// The daemon's transfer rate cap: one [`meter::Pacer`] over a monotonic clock.
struct Pace {
    pacer: Mutex<meter::Pacer>,
    clock: Instant,
}

impl Pace {
    /// Waits for `bytes`' slot.
    async fn wait(&self, bytes: u64) {
        let now_ms = self.clock.elapsed().as_millis() as u64;
        let wait = match self.pacer.lock() {
            Ok(mut p) => p.reserve(now_ms, bytes),
            Err(_) => Duration::ZERO,
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The transfer manager: starts, follows, cancels and resumes transfers.
#[derive(Clone)]
pub struct Transfers {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Transfers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfers").finish_non_exhaustive()
    }
}

/// Bytes of the file in the first `done` data chunks' worth: what a progress count means.
fn bytes_of(record: &TransferRecord, chunks_done: u64) -> u64 {
    let cl = u64::from(record.manifest.chunk_len);
    chunks_done.saturating_mul(cl).min(record.manifest.size)
}

/// The status of a transfer not running here, from its record and saved progress.
fn status_from(r: TransferRecord, progress: Option<TransferProgress>) -> TransferStatus {
    let done = match (&progress, r.state) {
        (_, TransferState::Done) => chunks_of(&r),
        (Some(p), _) => p.done(),
        (None, _) => 0,
    };
    let data_done = if r.upload {
        // Data chunks come first in an upload's numbering.
        done.min(r.manifest.layout().data_chunks())
    } else {
        done
    };
    TransferStatus {
        chunks_done: done,
        chunks_total: chunks_of(&r),
        bytes_done: bytes_of(&r, data_done),
        rate: 0.0,
        record: r,
    }
}

/// The chunks a transfer counts: every chunk for an upload (the index too), the data chunks
/// for a download (its index is fetched first, and its IDs saved).
fn chunks_of(record: &TransferRecord) -> u64 {
    let layout = record.manifest.layout();
    if record.upload {
        layout.total_chunks()
    } else {
        layout.data_chunks()
    }
}

fn now_unix() -> u64 {
    crate::app::now()
}

impl Transfers {
    /// A manager over `core` and the network in `net` (transfers wait until it is there).
    pub fn new(core: Arc<Core>, net: NetSlot, settings: TransferSettings) -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(Inner {
                core,
                net,
                settings,
                live: Mutex::new(HashMap::new()),
                events,
                pace: settings.max_rate.map(|r| {
                    Arc::new(Pace {
                        pacer: Mutex::new(meter::Pacer::new(r)),
                        clock: Instant::now(),
                    })
                }),
            }),
        }
    }

    /// The settings.
    pub fn settings(&self) -> TransferSettings {
        self.inner.settings
    }

    /// Progress events: one on every change of state and about every 250 ms while moving.
    pub fn subscribe(&self) -> broadcast::Receiver<TransferStatus> {
        self.inner.events.subscribe()
    }

    /// Every transfer, newest first, with live figures for the running ones.
    pub async fn list(&self) -> Result<Vec<TransferStatus>, TransferError> {
        // One call into the core for every record and the progress of those not running here
        // (a running one's live status is newer than its saved progress).
        let live: Vec<TransferId> = self
            .inner
            .live
            .lock()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        let saved = self
            .inner
            .core
            .with_engine(move |e, _| {
                let mut out = Vec::new();
                for r in e.transfers()? {
                    let p = if live.contains(&r.id) {
                        None
                    } else {
                        e.transfer_progress(&r.id)?
                    };
                    out.push((r, p));
                }
                Ok::<_, crate::engine::EngineError>(out)
            })
            .await??;
        Ok(saved
            .into_iter()
            .map(|(r, p)| self.live_status(&r.id).unwrap_or_else(|| status_from(r, p)))
            .collect())
    }

    /// One transfer.
    pub async fn get(&self, id: TransferId) -> Result<TransferStatus, TransferError> {
        let r = self
            .inner
            .core
            .with_engine(move |e, _| e.transfer(&id))
            .await??;
        self.status_of(r).await
    }

    async fn status_of(&self, r: TransferRecord) -> Result<TransferStatus, TransferError> {
        if let Some(s) = self.live_status(&r.id) {
            return Ok(s);
        }
        let id = r.id;
        let progress = self
            .inner
            .core
            .with_engine(move |e, _| e.transfer_progress(&id))
            .await??;
        Ok(status_from(r, progress))
    }

    /// The status of a transfer running here.
    fn live_status(&self, id: &TransferId) -> Option<TransferStatus> {
        let l = self.live(id)?;
        l.status.lock().ok().map(|s| s.clone())
    }

    fn live(&self, id: &TransferId) -> Option<Arc<Live>> {
        self.inner.live.lock().ok()?.get(id).cloned()
    }

    /// Resumes every transfer left running (at start).
    pub async fn resume_all(&self) -> Result<usize, TransferError> {
        let records = self.inner.core.with_engine(|e, _| e.transfers()).await??;
        let mut n = 0;
        for r in records {
            if r.state == TransferState::Running && self.live(&r.id).is_none() {
                tracing::info!(transfer = %r.id, upload = r.upload, "resuming a file transfer");
                self.spawn(r).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Starts the task of `record` (running).
    async fn spawn(&self, record: TransferRecord) -> Result<TransferStatus, TransferError> {
        let status = self.status_of(record.clone()).await?;
        let (signal, rx) = watch::channel(Signal::Go);
        let live = Arc::new(Live {
            status: Mutex::new(status.clone()),
            signal,
            task: Mutex::new(None),
        });
        if let Ok(mut m) = self.inner.live.lock() {
            m.insert(record.id, live.clone());
        }
        let run = Run {
            inner: self.inner.clone(),
            live: live.clone(),
            signal: rx,
            meter: meter::RateMeter::default(),
            started: Instant::now(),
            last_emit: None,
        };
        let task = tokio::spawn(run.main(record));
        if let Ok(mut t) = live.task.lock() {
            *t = Some(task);
        }
        let _ = self.inner.events.send(status.clone());
        Ok(status)
    }

    /// Cancels a transfer: a running one is stopped; a download's partial file is deleted. A
    /// finished transfer cannot be cancelled.
    pub async fn cancel(&self, id: TransferId) -> Result<TransferStatus, TransferError> {
        if let Some(l) = self.live(&id) {
            let _ = l.signal.send(Signal::Cancel);
            let task = l.task.lock().ok().and_then(|mut t| t.take());
            if let Some(t) = task {
                let _ = t.await;
            }
        }
        let mut r = self
            .inner
            .core
            .with_engine(move |e, _| e.transfer(&id))
            .await??;
        match r.state {
            TransferState::Done => {
                return Err(TransferError::Input(format!(
                    "transfer {id} has finished; there is nothing to cancel"
                )));
            }
            TransferState::Cancelled => {}
            TransferState::Running | TransferState::Failed => {
                if !r.upload {
                    remove_partial(&r.path);
                }
                r.state = TransferState::Cancelled;
                r.updated_at = now_unix();
                let rec = r.clone();
                self.inner
                    .core
                    .with_engine(move |e, rng| e.save_transfer(&rec, None, None, rng))
                    .await??;
            }
        }
        let s = self.status_of(r).await?;
        let _ = self.inner.events.send(s.clone());
        Ok(s)
    }

    /// Stops every running transfer (the daemon is stopping); their progress is saved and they
    /// resume at the next start.
    pub async fn stop(&self) {
        let all: Vec<Arc<Live>> = self
            .inner
            .live
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        for l in &all {
            let _ = l.signal.send(Signal::Shutdown);
        }
        for l in all {
            let task = l.task.lock().ok().and_then(|mut t| t.take());
            if let Some(t) = task
                && tokio::time::timeout(Duration::from_secs(5), t)
                    .await
                    .is_err()
            {
                tracing::warn!(
                    "a file transfer did not stop in time; it resumes at the next start"
                );
            }
        }
    }
}

/// Refuses a path that is not absolute (the daemon's working directory is not the caller's).
fn require_absolute(path: &str) -> Result<(), TransferError> {
    if std::path::Path::new(path).is_absolute() {
        Ok(())
    } else {
        Err(TransferError::Input(format!(
            "the path must be absolute (the daemon's working directory is not yours): {path}"
        )))
    }
}

/// The partial file of a download to `path`.
pub fn partial_path(path: &str) -> String {
    format!("{path}.part")
}

fn remove_partial(path: &str) {
    match std::fs::remove_file(partial_path(path)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(error = %e, "could not delete a cancelled download's partial file")
        }
    }
}

/// One transfer's task: its context and what it reports.
struct Run {
    inner: Arc<Inner>,
    live: Arc<Live>,
    signal: watch::Receiver<Signal>,
    meter: meter::RateMeter,
    started: Instant,
    last_emit: Option<Instant>,
}

/// How often progress events go out while a transfer moves.
const EMIT_EVERY: Duration = Duration::from_millis(250);

impl Run {
    async fn main(mut self, record: TransferRecord) {
        let id = record.id;
        let out = if record.upload {
            self.upload(record).await
        } else {
            self.download(record).await
        };
        let end = match out {
            Ok(()) => None,
            Err(Stop::Shutdown) => {
                self.forget(id);
                return;
            }
            Err(Stop::Cancelled) => Some((TransferState::Cancelled, None)),
            Err(Stop::Fatal(kind, why)) => {
                tracing::warn!(transfer = %id, error = %why, kind = kind.as_str(), "a file transfer failed");
                Some((TransferState::Failed, Some((kind, why))))
            }
        };
        if let Some((state, error)) = end
            && state == TransferState::Failed
        {
            // A cancel is recorded by `Transfers::cancel`, which waits for this task.
            let core = self.inner.core.clone();
            let saved = core
                .with_engine(move |e, rng| {
                    let mut r = e.transfer(&id)?;
                    r.state = state;
                    r.error_kind = error.as_ref().map(|(k, _)| *k);
                    r.error = error.map(|(_, why)| why);
                    r.updated_at = now_unix();
                    e.save_transfer(&r, None, None, rng)?;
                    Ok::<_, crate::engine::EngineError>(r)
                })
                .await;
            match saved {
                Ok(Ok(r)) => self.set_record(r),
                Ok(Err(e)) => tracing::error!(error = %e, "a failed transfer could not be saved"),
                Err(e) => tracing::error!(error = %e, "a failed transfer could not be saved"),
            }
        }
        self.emit(true);
        self.forget(id);
    }

    fn forget(&self, id: TransferId) {
        if let Ok(mut m) = self.inner.live.lock() {
            m.remove(&id);
        }
    }

    fn set_record(&self, r: TransferRecord) {
        if let Ok(mut s) = self.live.status.lock() {
            s.record = r;
            s.rate = 0.0;
        }
    }

    /// Updates the live figures; sends an event when `force` or when one is due.
    fn progress(&mut self, chunks_done: u64, bytes_done: u64, error: Option<String>) {
        let now_ms = self.started.elapsed().as_millis() as u64;
        self.meter.record(now_ms, bytes_done);
        if let Ok(mut s) = self.live.status.lock() {
            s.chunks_done = chunks_done;
            s.bytes_done = bytes_done;
            s.rate = self.meter.rate(now_ms);
            s.record.error = error;
        }
        self.emit(false);
    }

    fn emit(&mut self, force: bool) {
        let due = self.last_emit.is_none_or(|t| t.elapsed() >= EMIT_EVERY);
        if force || due {
            self.last_emit = Some(Instant::now());
            if let Ok(s) = self.live.status.lock() {
                let _ = self.inner.events.send(s.clone());
            }
        }
    }

    /// What the signal says now, as a stop.
    fn stopped(&self) -> Option<Stop> {
        match *self.signal.borrow() {
            Signal::Go => None,
            Signal::Cancel => Some(Stop::Cancelled),
            Signal::Shutdown => Some(Stop::Shutdown),
        }
    }

    /// Waits for the signal to change from `Go`.
    async fn until_stopped(signal: &mut watch::Receiver<Signal>) -> Stop {
        loop {
            match *signal.borrow_and_update() {
                Signal::Go => {}
                Signal::Cancel => return Stop::Cancelled,
                Signal::Shutdown => return Stop::Shutdown,
            }
            if signal.changed().await.is_err() {
                return Stop::Shutdown;
            }
        }
    }

    /// The network, waiting for it (a daemon still joining).
    async fn network(&mut self) -> Result<Arc<dyn Network>, Stop> {
        loop {
            if let Some(n) = self.inner.net.get() {
                return Ok(n);
            }
            let mut sig = self.signal.clone();
            tokio::select! {
                s = Self::until_stopped(&mut sig) => return Err(s),
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }

    /// The transfer's saved chunk IDs and progress.
    async fn load(
        &self,
        id: TransferId,
    ) -> Result<(Option<ChunkIdsRecord>, Option<TransferProgress>), Stop> {
        self.inner
            .core
            .with_engine(move |e, _| Ok((e.transfer_chunk_ids(&id)?, e.transfer_progress(&id)?)))
            .await
            .map_err(|_| Stop::Shutdown)?
            .map_err(|e: crate::engine::EngineError| {
                Stop::Fatal(
                    e.kind(),
                    format!("the transfer could not be read from the store: {e}"),
                )
            })
    }

    /// Runs `job` over the chunks `progress` misses, [`TransferSettings::parallel`] at once,
    /// marking each done, reporting progress (`bytes` gives the file bytes of a count of chunks
    /// done) and saving it every [`meter::SAVE_EVERY`] and when it stops, after syncing `sync`
    /// (the partial file of a download) so that what is saved as done is on disk.
    async fn drive<F, Fut>(
        &mut self,
        id: TransferId,
        progress: &mut TransferProgress,
        job: F,
        bytes: impl Fn(u64) -> u64,
        last_error: &Mutex<Option<String>>,
        sync: Option<&Arc<std::fs::File>>,
    ) -> Result<(), Stop>
    where
        F: Fn(u64) -> Fut,
        Fut: std::future::Future<Output = Result<(), Stop>> + Send + 'static,
    {
        // Under a rate cap each chunk waits for its slot first.
        let pace = self.inner.pace.clone();
        let chunk_len = self
            .live
            .status
            .lock()
            .map_or(0, |s| u64::from(s.record.manifest.chunk_len));
        let job = |i: u64| {
            let (pace, f) = (pace.clone(), job(i));
            async move {
                if let Some(p) = pace {
                    p.wait(chunk_len).await;
                }
                f.await
            }
        };
        let mut pool = Pool::new(progress.missing().collect(), self.inner.settings.parallel);
        let mut saved = Instant::now();
        let mut sig = self.signal.clone();
        let mut dirty = false;
        let end = loop {
            let due = tokio::time::Instant::from_std(saved + meter::SAVE_EVERY);
            let next = tokio::select! {
                n = pool.next(&job) => n,
                s = Run::until_stopped(&mut sig) => break Err(s),
                // Saved on time even while chunks come slowly.
                _ = tokio::time::sleep_until(due), if dirty => {
                    self.sync_and_save(id, sync, progress).await?;
                    (saved, dirty) = (Instant::now(), false);
                    continue;
                }
            };
            match next {
                None => break Ok(()),
                Some(Ok((i, ()))) => {
                    dirty |= progress.mark(i);
                    let err = last_error.lock().ok().and_then(|mut e| e.take());
                    self.progress(progress.done(), bytes(progress.done()), err);
                }
                Some(Err(stop)) => break Err(stop),
            }
        };
        drop(pool);
        // What stopped it is the error to report, before any of saving.
        let saved = self.sync_and_save(id, sync, progress).await;
        end?;
        saved?;
        match self.stopped() {
            Some(stop) => Err(stop),
            None => Ok(()),
        }
    }

    /// Syncs `sync` (if any), then saves `progress`: what it says is done is durable.
    async fn sync_and_save(
        &self,
        id: TransferId,
        sync: Option<&Arc<std::fs::File>>,
        progress: &TransferProgress,
    ) -> Result<(), Stop> {
        if let Some(f) = sync {
            let f = f.clone();
            tokio::task::spawn_blocking(move || f.sync_data())
                .await
                .map_err(|e| Stop::Fatal(ErrorKind::Internal, format!("syncing failed: {e}")))?
                .map_err(|e| {
                    Stop::Fatal(
                        ErrorKind::Storage,
                        format!("the partial file could not be synced: {e}"),
                    )
                })?;
        }
        self.save(id, progress).await
    }

    /// Saves `progress` (the caller made sure what it says is durable).
    async fn save(&self, id: TransferId, progress: &TransferProgress) -> Result<(), Stop> {
        let p = progress.clone();
        match self
            .inner
            .core
            .with_engine(move |e, rng| e.save_progress(&id, &p, rng))
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Stop::Fatal(
                e.kind(),
                format!("the transfer's progress could not be saved: {e}"),
            )),
            Err(_) => Err(Stop::Shutdown),
        }
    }
}

/// A bounded pool of chunk jobs: at most `n` in flight, fed from `items`; dropping it aborts
/// what is in flight.
struct Pool<T> {
    set: JoinSet<(u64, Result<T, Stop>)>,
    items: std::vec::IntoIter<u64>,
    n: usize,
}

impl<T: Send + 'static> Pool<T> {
    fn new(items: Vec<u64>, n: usize) -> Self {
        Self {
            set: JoinSet::new(),
            items: items.into_iter(),
            n: n.max(1),
        }
    }

    /// The next finished job (`None` when all are done), keeping the pool full with `job`.
    async fn next<F, Fut>(&mut self, job: &F) -> Option<Result<(u64, T), Stop>>
    where
        F: Fn(u64) -> Fut,
        Fut: std::future::Future<Output = Result<T, Stop>> + Send + 'static,
    {
        while self.set.len() < self.n {
            let Some(i) = self.items.next() else { break };
            let f = job(i);
            self.set.spawn(async move { (i, f.await) });
        }
        match self.set.join_next().await? {
            Ok((i, Ok(t))) => Some(Ok((i, t))),
            Ok((_, Err(stop))) => Some(Err(stop)),
            Err(e) => Some(Err(Stop::Fatal(
                ErrorKind::Internal,
                format!("a chunk task failed: {e}"),
            ))),
        }
    }
}
