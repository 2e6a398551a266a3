//! `parsctl file …`: sending and receiving files, and listing and cancelling transfers.
//!
//! `send` and `receive` start a transfer in the daemon and then follow it until it is `done`,
//! `failed` or `cancelled`: through the `subscribeTransfers` WebSocket subscription, or by
//! polling `getTransfers` every 250 ms when the subscription cannot be opened or ends. What is
//! shown while following:
//!
//! * on a terminal (standard error is a tty) and without `--json`: a progress bar on standard
//!   error (file name, bytes done of total, percent, rate, time left), then the result on
//!   standard output;
//! * without a terminal and without `--json`: a progress line on standard error every 5 s, then
//!   the result;
//! * with `--json`: each new state of the transfer as one `TransferInfo` object on one line of
//!   standard output (`{"transferId":…,"fileId":…,"direction":…,"name":…,"state":…,
//!   "bytesDone":…,"total":…,"rate":…,…}`), then one final line `{"result":<TransferInfo>}`
//!   whatever the outcome (its `state` says it: `done`, `failed` or `cancelled`, with `error`).
//!
//! Exit codes: 0 `done`; for `failed` the kind the daemon gives the failure (`errorKind`)
//! decides ([`failure_kind`]): 1 a local disk failure (`storage`: full, read-only,
//! permissions), 4 the file itself (`bad-input`: emptied, changed, gone) or a chunk refused
//! (`verification`: tampered), 5 the network (`not-found`: a chunk no longer in its swarm, or
//! none given), 6 a chunk its swarm refuses (`rejected`); 1 for `cancelled`. Ctrl-C stops
//! following (the transfer goes on in the daemon) and exits 0.

use crate::error::CliError;
use crate::output::{self, human_size, printable};
use clap::{ArgGroup, Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use jsonrpsee::core::client::Subscription;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use pars_error::ErrorKind;
use pars_rpc::types::{Direction, TransferInfo, TransferState};
use pars_rpc::{SessionApiClient, auth};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often `getTransfers` is polled when there is no subscription.
const POLL: Duration = Duration::from_millis(250);
/// With a subscription, how often the transfer is still read once (a lost notification cannot
/// leave the command waiting forever).
const SAFETY_POLL: Duration = Duration::from_secs(5);
/// How often the plain (not a terminal, not `--json`) progress line is printed.
const PLAIN_EVERY: Duration = Duration::from_secs(5);
/// `sendFile` reads and seals the whole file before it answers (2 GiB by default at most).
const SEND_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Every other call.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// The file commands.
#[derive(Debug, Subcommand)]
pub enum FileCommand {
    /// Send a file to a session's peer or to a group, and follow the upload.
    Send(SendArgs),
    /// Download a file offered in a message, and follow the download. Run it again with the same
    /// file and path to resume a download that was interrupted or failed.
    Receive(ReceiveArgs),
    /// List the transfers, newest first.
    List,
    /// Stop a running transfer (a download's partial file is deleted).
    Cancel {
        /// The transfer ID (from `file list`).
        #[arg(long, value_name = "TRANSFER_ID")]
        transfer: String,
    },
}

/// `file send`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("to").required(true).args(["session", "group"])))]
pub struct SendArgs {
    /// The peer's Session ID (a session must be open with it).
    #[arg(long, value_name = "SESSION_ID")]
    session: Option<String>,
    /// Or the group ID (of a group you are a member of).
    #[arg(long, value_name = "GROUP_ID")]
    group: Option<String>,
    /// The file to send (relative to the current directory, or absolute).
    #[arg(long, value_name = "FILE")]
    path: PathBuf,
    /// Print the file ID and transfer ID and return at once (the upload goes on in the daemon).
    #[arg(long)]
    no_wait: bool,
}

/// `file receive`.
#[derive(Debug, Args)]
pub struct ReceiveArgs {
    /// The file ID (shown with the message that offered the file).
    #[arg(long, value_name = "FILE_ID")]
    file: String,
    /// Where to write it (relative to the current directory, or absolute; must not exist).
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
    /// Print the transfer and return at once (the download goes on in the daemon).
    #[arg(long)]
    no_wait: bool,
}

/// Checks what can be checked before contacting the daemon, and makes the paths absolute: the
/// daemon resolves them itself, from its own working directory.
pub fn prepare(cmd: &mut FileCommand) -> Result<(), CliError> {
    match cmd {
        FileCommand::Send(a) => a.path = source_path(&a.path)?,
        FileCommand::Receive(a) => a.out = target_path(&a.out)?,
        FileCommand::List | FileCommand::Cancel { .. } => {}
    }
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf, CliError> {
    std::path::absolute(p)
        .map_err(|e| CliError::BadInput(format!("cannot resolve the path {}: {e}", p.display())))
}

/// The file to send: absolute, and an existing file.
fn source_path(p: &Path) -> Result<PathBuf, CliError> {
    let abs = absolute(p)?;
    match std::fs::metadata(&abs) {
        Ok(m) if m.is_dir() => Err(CliError::BadInput(format!(
            "{} is a directory; send one file",
            abs.display()
        ))),
        Ok(_) => Ok(abs),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(CliError::BadInput(format!("no file at {}", abs.display())))
        }
        Err(e) => Err(CliError::BadInput(format!(
            "cannot read {}: {e}",
            abs.display()
        ))),
    }
}

/// Where to write a download: absolute, not there yet, in an existing directory.
fn target_path(p: &Path) -> Result<PathBuf, CliError> {
    let abs = absolute(p)?;
    if abs.is_dir() {
        return Err(CliError::BadInput(format!(
            "{} is a directory; give the path of the file to write in it",
            abs.display()
        )));
    }
    if abs.exists() {
        return Err(CliError::BadInput(format!(
            "{} exists already; nothing is overwritten, choose another --out",
            abs.display()
        )));
    }
    match abs.parent() {
        Some(dir) if dir.is_dir() => Ok(abs),
        Some(dir) => Err(CliError::BadInput(format!(
            "the directory {} does not exist",
            dir.display()
        ))),
        None => Err(CliError::BadInput(format!(
            "{} is not a file path",
            abs.display()
        ))),
    }
}

fn utf8(p: &Path) -> Result<String, CliError> {
    p.to_str()
        .map(str::to_string)
        .ok_or_else(|| CliError::BadInput(format!("the path {} is not UTF-8", p.display())))
}

/// The daemon's address and cookie token.
struct Daemon<'a> {
    addr: &'a str,
    token: &'a str,
}

impl Daemon<'_> {
    fn http(&self, timeout: Duration) -> Result<HttpClient, CliError> {
        HttpClientBuilder::default()
            .set_headers(auth::auth_headers(self.token))
            .request_timeout(timeout)
            .build(format!("http://{}", self.addr))
            .map_err(|e| CliError::Other(e.to_string()))
    }

    fn err(&self) -> impl Fn(jsonrpsee::core::ClientError) -> CliError + '_ {
        |e| CliError::from_client(e, self.addr)
    }

    /// The transfer `id` as the daemon has it now.
    async fn find(&self, c: &HttpClient, id: &str) -> Result<Option<TransferInfo>, CliError> {
        let all = c.get_transfers().await.map_err(self.err())?;
        Ok(all.into_iter().find(|t| t.transfer_id == id))
    }

    /// The transfer subscription with its client (dropping the client closes the connection),
    /// or `None` when it cannot be opened (then the caller polls).
    async fn subscribe(&self) -> Option<(WsClient, Subscription<TransferInfo>)> {
        let ws = WsClientBuilder::default()
            .set_headers(auth::auth_headers(self.token))
            .build(format!("ws://{}", self.addr))
            .await
            .ok()?;
        let sub = ws.subscribe_transfers().await.ok()?;
        Some((ws, sub))
    }
}

/// Runs a file command against the daemon at `addr` (after [`prepare`]).
pub async fn run(addr: &str, token: &str, json: bool, cmd: FileCommand) -> Result<(), CliError> {
    let d = Daemon { addr, token };
    let c = d.http(CALL_TIMEOUT)?;
    match cmd {
        FileCommand::Send(a) => send(&d, json, a).await,
        FileCommand::Receive(a) => {
            let t = c
                .receive_file(a.file, utf8(&a.out)?)
                .await
                .map_err(d.err())?;
            if a.no_wait {
                output::print(json, &t, |t| {
                    println!(
                        "downloading {} ({}) to {}: transfer {}",
                        printable(&t.name),
                        human_size(t.size),
                        t.path,
                        t.transfer_id
                    )
                });
                return Ok(());
            }
            let id = t.transfer_id.clone();
            match follow(&d, &c, &id, Some(t), json).await? {
                Some(t) => outcome(&t, json),
                None => Ok(()),
            }
        }
        FileCommand::List => {
            let all = c.get_transfers().await.map_err(d.err())?;
            output::print(json, &all, |all| print!("{}", table(all)));
            Ok(())
        }
        FileCommand::Cancel { transfer } => {
            let t = c.cancel_transfer(transfer).await.map_err(d.err())?;
            output::print(json, &t, |t| {
                println!(
                    "transfer {} ({}) is {}",
                    t.transfer_id,
                    printable(&t.name),
                    state(t)
                )
            });
            Ok(())
        }
    }
}

async fn send(d: &Daemon<'_>, json: bool, a: SendArgs) -> Result<(), CliError> {
    let (to, what) = match (a.session, a.group) {
        (Some(s), None) => (s, "peer"),
        (None, Some(g)) => (g, "group"),
        // clap's group makes exactly one of them present.
        _ => return Err(CliError::BadInput("give --session or --group".into())),
    };
    let path = utf8(&a.path)?;
    let name = a
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.clone());
    let spinner = (!json && std::io::stderr().is_terminal()).then(|| {
        let s = ProgressBar::new_spinner()
            .with_message(format!("reading and encrypting {}…", printable(&name)));
        s.enable_steady_tick(Duration::from_millis(120));
        s
    });
    let r = d
        .http(SEND_TIMEOUT)?
        .send_file(to.clone(), path)
        .await
        .map_err(d.err());
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let r = r?;
    if a.no_wait {
        output::print(json, &r, |r| {
            println!(
                "sending {} to {what} {to}: file {}, transfer {}",
                printable(&name),
                r.file_id,
                r.transfer_id
            );
            println!("follow it with `parsctl file list`");
        });
        return Ok(());
    }
    let c = d.http(CALL_TIMEOUT)?;
    match follow(d, &c, &r.transfer_id, None, json).await? {
        Some(t) => outcome(&t, json),
        None => Ok(()),
    }
}

/// Follows transfer `id` until it ends; `None` when interrupted with Ctrl-C.
async fn follow(
    d: &Daemon<'_>,
    c: &HttpClient,
    id: &str,
    first: Option<TransferInfo>,
    json: bool,
) -> Result<Option<TransferInfo>, CliError> {
    // Subscribe first, then read the state once: nothing that changes after that is missed.
    let mut sub = d.subscribe().await;
    let mut t = match (d.find(c, id).await?, first) {
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) => return Err(gone(id)),
    };
    let mut view = View::new(json, &t);
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut safety = tokio::time::interval(SAFETY_POLL);
    safety.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    safety.reset();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        view.show(&t);
        if t.state != TransferState::Running {
            view.end();
            return Ok(Some(t));
        }
        enum Next {
            Item(Box<TransferInfo>),
            Read,
            SubscriptionEnded,
            Interrupted,
        }
        let next = match sub.as_mut() {
            Some((_, s)) => tokio::select! {
                item = s.next() => match item {
                    Some(Ok(x)) => Next::Item(Box::new(x)),
                    Some(Err(_)) | None => Next::SubscriptionEnded,
                },
                _ = safety.tick() => Next::Read,
                _ = &mut ctrl_c => Next::Interrupted,
            },
            None => tokio::select! {
                _ = poll.tick() => Next::Read,
                _ = &mut ctrl_c => Next::Interrupted,
            },
        };
        match next {
            Next::Item(x) if x.transfer_id == id => t = *x,
            Next::Item(_) => {}
            Next::Read => t = d.find(c, id).await?.ok_or_else(|| gone(id))?,
            Next::SubscriptionEnded => {
                // Poll from now on.
                sub = None;
                t = d.find(c, id).await?.ok_or_else(|| gone(id))?;
            }
            Next::Interrupted => {
                view.abandon();
                eprintln!(
                    "stopped following; the transfer goes on in the daemon: `parsctl file list` \
                     shows it, `parsctl file cancel --transfer {id}` stops it"
                );
                return Ok(None);
            }
        }
    }
}

fn gone(id: &str) -> CliError {
    CliError::Other(format!("the daemon has no transfer {id}"))
}

/// Prints the end of a followed transfer, and turns `failed` and `cancelled` into errors.
fn outcome(t: &TransferInfo, json: bool) -> Result<(), CliError> {
    if json {
        println!("{}", result_line(t));
    }
    let name = printable(&t.name);
    let (verb, past) = match t.direction {
        Direction::Outgoing => ("sending", "sent"),
        Direction::Incoming => ("receiving", "received"),
    };
    match t.state {
        // `follow` returns only ended transfers; a running one would read as started.
        TransferState::Done | TransferState::Running => {
            if !json {
                match t.direction {
                    Direction::Outgoing => println!(
                        "{past} {name} ({}) to {}: file {}",
                        human_size(t.size),
                        with(t),
                        t.file_id
                    ),
                    Direction::Incoming => println!(
                        "{past} {name} ({}) from {}: written to {}",
                        human_size(t.size),
                        with(t),
                        t.path
                    ),
                }
            }
            Ok(())
        }
        TransferState::Failed => {
            let error = t.error.as_deref().unwrap_or("no reason given");
            let kind = failure_kind(t);
            let mut message = format!("{verb} {name} failed: {error}");
            if t.direction == Direction::Incoming {
                message.push_str(
                    "; run the same `parsctl file receive` again to resume where it stopped",
                );
            }
            Err(CliError::Answered { kind, message })
        }
        TransferState::Cancelled => Err(CliError::Answered {
            kind: ErrorKind::Shutdown,
            message: format!("{verb} {name} was cancelled"),
        }),
    }
}

/// The kind, and so the exit code, of a failed transfer: the daemon's `errorKind`; a failure
/// without one (recorded by a daemon from before kinds were kept) counts as the network's.
pub fn failure_kind(t: &TransferInfo) -> ErrorKind {
    t.error_kind
        .as_deref()
        .and_then(ErrorKind::from_name)
        .unwrap_or(ErrorKind::NetworkUnavailable)
}

/// One `--json` progress line: the transfer as one JSON object on one line.
pub fn progress_line(t: &TransferInfo) -> String {
    serde_json::to_string(t).unwrap_or_else(|e| json_error(&e))
}

/// The last `--json` line of `send` and `receive`: `{"result":<TransferInfo>}`.
pub fn result_line(t: &TransferInfo) -> String {
    serde_json::to_string(&serde_json::json!({ "result": t })).unwrap_or_else(|e| json_error(&e))
}

fn json_error(e: &serde_json::Error) -> String {
    serde_json::json!({ "error": { "kind": "internal", "message": e.to_string() } }).to_string()
}

/// How a followed transfer is shown.
enum View {
    /// A progress bar on the terminal.
    Bar(ProgressBar),
    /// JSON lines on standard output; the last one printed.
    Json(String),
    /// A line on standard error every [`PLAIN_EVERY`].
    Plain(Instant),
}

impl View {
    fn new(json: bool, t: &TransferInfo) -> Self {
        if json {
            return View::Json(String::new());
        }
        if !std::io::stderr().is_terminal() {
            return View::Plain(Instant::now());
        }
        let style = ProgressStyle::with_template("{prefix} [{bar:30}] {percent:>3}% {msg}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let name: String = printable(&t.name).chars().take(30).collect();
        View::Bar(
            ProgressBar::new(t.total)
                .with_style(style)
                .with_prefix(name),
        )
    }

    fn show(&mut self, t: &TransferInfo) {
        match self {
            View::Bar(bar) => {
                bar.set_length(t.total);
                bar.set_position(t.bytes_done.min(t.total));
                bar.set_message(progress_text(t));
            }
            View::Json(last) => {
                let line = progress_line(t);
                if line != *last {
                    println!("{line}");
                    *last = line;
                }
            }
            View::Plain(since) => {
                if t.state == TransferState::Running && since.elapsed() >= PLAIN_EVERY {
                    eprintln!(
                        "{}: {} ({}%)",
                        printable(&t.name),
                        progress_text(t),
                        percent(t)
                    );
                    *since = Instant::now();
                }
            }
        }
    }

    fn end(&self) {
        if let View::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }

    fn abandon(&self) {
        if let View::Bar(bar) = self {
            bar.abandon();
        }
    }
}

/// `1.2 MB / 5.0 MB, 300.0 KB/s, 13s left`, or with the error it is retrying after.
fn progress_text(t: &TransferInfo) -> String {
    let mut s = format!("{} / {}", human_size(t.bytes_done), human_size(t.total));
    if let Some(r) = rate(t) {
        s.push_str(&format!(", {r}"));
    }
    if let Some(e) = eta(t) {
        s.push_str(&format!(", {e} left"));
    }
    if let (TransferState::Running, Some(e)) = (t.state, &t.error) {
        s.push_str(&format!(", retrying: {}", printable(e)));
    }
    s
}

fn moving_rate(t: &TransferInfo) -> Option<f64> {
    (t.state == TransferState::Running && t.rate.is_finite() && t.rate > 0.0).then_some(t.rate)
}

/// The rate while moving, e.g. `1.2 MB/s`.
fn rate(t: &TransferInfo) -> Option<String> {
    moving_rate(t).map(|r| format!("{}/s", human_size(r as u64)))
}

/// The time left at the current rate, e.g. `42s`, `3m05s`, `1h02m`.
fn eta(t: &TransferInfo) -> Option<String> {
    let r = moving_rate(t)?;
    let secs = (t.total.saturating_sub(t.bytes_done) as f64 / r).ceil() as u64;
    Some(match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    })
}

fn percent(t: &TransferInfo) -> u64 {
    if t.total == 0 {
        return if t.state == TransferState::Done {
            100
        } else {
            0
        };
    }
    let p = u128::from(t.bytes_done) * 100 / u128::from(t.total);
    p.min(100) as u64
}

fn state(t: &TransferInfo) -> &'static str {
    match (t.state, &t.error) {
        (TransferState::Running, None) => "running",
        (TransferState::Running, Some(_)) => "retrying",
        (TransferState::Done, _) => "done",
        (TransferState::Failed, _) => "failed",
        (TransferState::Cancelled, _) => "cancelled",
    }
}

/// The first `n` characters of `s`, with `…` when there were more.
fn short(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    out
}

/// The other end: the peer's Session ID or the group, shortened.
fn with(t: &TransferInfo) -> String {
    match (&t.peer, &t.group) {
        (_, Some(g)) => format!("group {}", short(g, 8)),
        (Some(p), None) => short(p, 10),
        (None, None) => "-".into(),
    }
}

/// The row of `file list` for one transfer.
fn row(t: &TransferInfo) -> Vec<String> {
    let error = match (t.state, &t.error) {
        (TransferState::Done | TransferState::Cancelled, _) | (_, None) => String::new(),
        (_, Some(e)) => printable(e),
    };
    vec![
        t.transfer_id.clone(),
        match t.direction {
            Direction::Outgoing => "send".into(),
            Direction::Incoming => "recv".into(),
        },
        short(&printable(&t.name), 30),
        human_size(t.size),
        state(t).into(),
        format!("{}%", percent(t)),
        rate(t).unwrap_or_else(|| "-".into()),
        with(t),
        error,
    ]
}

/// The `file list` table (one line per transfer, columns aligned), or `no transfers`.
fn table(all: &[TransferInfo]) -> String {
    if all.is_empty() {
        return "no transfers\n".into();
    }
    let head = [
        "TRANSFER", "DIR", "NAME", "SIZE", "STATE", "DONE", "RATE", "WITH", "ERROR",
    ];
    let mut rows = vec![head.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    rows.extend(all.iter().map(row));
    let mut widths = vec![0; head.len()];
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(subcommand)]
        cmd: FileCommand,
    }

    fn parse(args: &[&str]) -> Result<FileCommand, clap::Error> {
        T::try_parse_from(std::iter::once("file").chain(args.iter().copied())).map(|t| t.cmd)
    }

    #[test]
    fn send_takes_exactly_one_of_session_and_group() {
        let both = parse(&["send", "--session", "05ab", "--group", "cd", "--path", "f"]);
        assert_eq!(
            both.unwrap_err().kind(),
            clap::error::ErrorKind::ArgumentConflict
        );
        let neither = parse(&["send", "--path", "f"]);
        assert_eq!(
            neither.unwrap_err().kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        match parse(&["send", "--group", "cd", "--path", "f", "--no-wait"]).unwrap() {
            FileCommand::Send(a) => {
                assert_eq!((a.session, a.group.as_deref()), (None, Some("cd")));
                assert_eq!(a.path, PathBuf::from("f"));
                assert!(a.no_wait);
            }
            other => panic!("{other:?}"),
        }
        // And through the whole command line.
        let cli = |args: &[&str]| {
            crate::commands::Cli::try_parse_from(
                ["parsctl", "file"].into_iter().chain(args.iter().copied()),
            )
        };
        assert!(cli(&["send", "--session", "05ab", "--path", "f"]).is_ok());
        assert!(cli(&["send", "--session", "05ab", "--group", "cd", "--path", "f"]).is_err());
        assert!(cli(&["receive", "--file", "ab", "--out", "x", "--json"]).is_ok());
        assert!(cli(&["receive", "--file", "ab"]).is_err());
        assert!(cli(&["cancel", "--transfer", "ab"]).is_ok());
        assert!(cli(&["list"]).is_ok());
    }

    #[test]
    fn paths_are_made_absolute_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("report.pdf");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(source_path(&file).unwrap(), file);
        let missing = source_path(Path::new("surely-not-here.bin")).unwrap_err();
        let expected = std::env::current_dir().unwrap().join("surely-not-here.bin");
        assert_eq!(
            missing.to_string(),
            format!("no file at {}", expected.display())
        );
        assert!(
            source_path(dir.path())
                .unwrap_err()
                .to_string()
                .contains("is a directory")
        );

        let out = dir.path().join("copy.pdf");
        assert_eq!(target_path(&out).unwrap(), out);
        assert!(
            target_path(&file)
                .unwrap_err()
                .to_string()
                .contains("exists")
        );
        assert!(target_path(dir.path()).is_err());
        assert!(
            target_path(&dir.path().join("no-dir").join("x"))
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
        let mut cmd = FileCommand::Receive(ReceiveArgs {
            file: "ab".into(),
            out: PathBuf::from("relative-out.bin"),
            no_wait: false,
        });
        prepare(&mut cmd).unwrap();
        match cmd {
            FileCommand::Receive(a) => assert_eq!(
                a.out,
                std::env::current_dir().unwrap().join("relative-out.bin")
            ),
            other => panic!("{other:?}"),
        }
    }

    fn transfer(state: TransferState, done: u64, total: u64, rate: f64) -> TransferInfo {
        TransferInfo {
            transfer_id: "11".repeat(16),
            file_id: "22".repeat(32),
            direction: Direction::Outgoing,
            name: "report.pdf".into(),
            mime_type: "application/pdf".into(),
            size: total,
            peer: Some(format!("05{}", "ab".repeat(32))),
            group: None,
            path: "/tmp/report.pdf".into(),
            state,
            bytes_done: done,
            total,
            chunks_done: 1,
            chunks_total: 3,
            rate,
            error: None,
            error_kind: None,
            created_at: 1,
            updated_at: 2,
        }
    }

    #[test]
    fn json_progress_is_one_line_per_transfer_and_the_result_is_wrapped() {
        let t = transfer(TransferState::Running, 1500, 3000, 250.5);
        let line = progress_line(&t);
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["transferId"], "11".repeat(16));
        assert_eq!(v["state"], "running");
        assert_eq!(v["bytesDone"], 1500);
        assert_eq!(v["total"], 3000);
        assert_eq!(v["rate"], 250.5);
        assert!(v.get("error").is_none());

        let mut f = transfer(TransferState::Failed, 10, 3000, 0.0);
        f.error = Some("no swarm node answered".into());
        f.error_kind = Some("network-unavailable".into());
        let line = result_line(&f);
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 1);
        assert_eq!(v["result"]["state"], "failed");
        assert_eq!(v["result"]["error"], "no swarm node answered");
        assert_eq!(v["result"]["errorKind"], "network-unavailable");
        assert_eq!(
            serde_json::from_value::<TransferInfo>(v["result"].clone()).unwrap(),
            f
        );
    }

    #[test]
    fn failures_exit_by_their_kind() {
        let code = |kind: Option<&str>| {
            let mut t = transfer(TransferState::Failed, 0, 10, 0.0);
            t.error_kind = kind.map(str::to_string);
            failure_kind(&t).exit_code()
        };
        assert_eq!(code(Some("storage")), 1);
        assert_eq!(code(Some("bad-input")), 4);
        assert_eq!(code(Some("verification")), 4);
        assert_eq!(code(Some("not-found")), 5);
        assert_eq!(code(Some("rejected")), 6);
        assert_eq!(code(None), 5, "a failure recorded without a kind");
        assert_eq!(code(Some("from-a-newer-daemon")), 5);
    }

    #[test]
    fn progress_reads_for_people() {
        let t = transfer(TransferState::Running, 1_000_000, 5_000_000, 100_000.0);
        assert_eq!(progress_text(&t), "1.0 MB / 5.0 MB, 100.0 KB/s, 40s left");
        let slow = transfer(TransferState::Running, 0, 10_000_000, 1000.0);
        assert_eq!(eta(&slow).unwrap(), "2h46m");
        let mut stalled = transfer(TransferState::Running, 10, 100, 0.0);
        stalled.error = Some("no path".into());
        assert_eq!(progress_text(&stalled), "10 B / 100 B, retrying: no path");
        assert_eq!(state(&stalled), "retrying");
        assert_eq!(percent(&stalled), 10);
        // Nothing the daemon sends makes the numbers absurd.
        let odd = transfer(TransferState::Running, 500, 100, f64::NAN);
        assert_eq!((percent(&odd), rate(&odd), eta(&odd)), (100, None, None));
        assert_eq!(percent(&transfer(TransferState::Done, 0, 0, 0.0)), 100);
    }

    #[test]
    fn the_list_aligns_its_columns() {
        let mut a = transfer(TransferState::Running, 1_500_000, 3_000_000, 2_000.0);
        a.name = "a-long-name-for-a-file-that-goes-on-and-on.tar.gz".into();
        let mut b = transfer(TransferState::Failed, 0, 999, 0.0);
        b.direction = Direction::Incoming;
        b.peer = None;
        b.group = Some("cd".repeat(32));
        b.error = Some("no space left on device".into());
        let out = table(&[a, b]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        // Columns are counted in characters (a shortened name ends in the 3-byte `…`).
        let col = |l: &str, w: &str| l[..l.find(w).unwrap()].chars().count();
        assert_eq!(col(lines[0], "STATE"), col(lines[1], "running"));
        assert_eq!(col(lines[0], "STATE"), col(lines[2], "failed"));
        assert!(lines[1].contains("a-long-name-for-a-file-that-go… "));
        assert!(lines[1].contains(" 2.0 KB/s "));
        assert!(lines[1].contains(" 50% ") && lines[1].ends_with(" 05abababab…"));
        println!("{out}");
        assert!(lines[2].starts_with(&"11".repeat(16)));
        assert!(lines[2].contains(" recv ") && lines[2].contains(" group cdcdcdcd… "));
        assert!(lines[2].ends_with("no space left on device"));
        assert_eq!(table(&[]), "no transfers\n");
    }
}
