//! `parsctl file …` against a stand-in daemon: a JSON-RPC server on loopback that answers
//! `sendFile`, `receiveFile` and `getTransfers` from a script and, when asked, pushes
//! `subscribeTransfers` items. What is checked: the paths sent are absolute, the subscription is
//! followed (and filtered to the command's transfer), polling takes over without it, the
//! `--json` lines, and the exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use jsonrpsee::server::{RpcModule, Server, ServerHandle};
use pars_rpc::types::{Direction, SendFileResult, TransferInfo, TransferState};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const OURS: &str = "11111111111111111111111111111111";
const OTHER: &str = "99999999999999999999999999999999";

fn transfer(id: &str, state: TransferState, done: u64, error: Option<&str>) -> TransferInfo {
    TransferInfo {
        transfer_id: id.into(),
        file_id: "ff".repeat(32),
        direction: Direction::Outgoing,
        name: "report.pdf".into(),
        mime_type: "application/pdf".into(),
        size: 1000,
        peer: Some(format!("05{}", "ab".repeat(32))),
        group: None,
        path: "/somewhere/report.pdf".into(),
        state,
        bytes_done: done,
        total: 1000,
        chunks_done: done / 100,
        chunks_total: 10,
        rate: if state == TransferState::Running {
            2000.0
        } else {
            0.0
        },
        error: error.map(str::to_string),
        // What the daemon says of a failure's kind (the exit code comes from it).
        error_kind: (state == TransferState::Failed).then(|| {
            match error {
                Some(e) if e.contains("space") => "storage",
                _ => "network-unavailable",
            }
            .to_string()
        }),
        created_at: 1,
        updated_at: 2 + done,
    }
}

struct Script {
    /// What `getTransfers` answers, one per call; the last one stays.
    polls: Mutex<VecDeque<TransferInfo>>,
    /// What the subscription pushes (no `subscribeTransfers` method when `None`).
    pushes: Option<Vec<TransferInfo>>,
    /// The paths `sendFile` and `receiveFile` were given.
    paths: Mutex<Vec<String>>,
}

struct Daemon {
    dir: tempfile::TempDir,
    script: Arc<Script>,
    _handle: ServerHandle,
}

async fn daemon(polls: Vec<TransferInfo>, pushes: Option<Vec<TransferInfo>>) -> Daemon {
    let script = Arc::new(Script {
        polls: Mutex::new(polls.into()),
        pushes,
        paths: Mutex::new(Vec::new()),
    });
    let mut m = RpcModule::from_arc(script.clone());
    m.register_method("sendFile", |p, s: &Script, _| {
        let (_to, path): (String, String) = p.parse()?;
        s.paths.lock().unwrap().push(path);
        Ok::<_, jsonrpsee::types::ErrorObjectOwned>(SendFileResult {
            file_id: "ff".repeat(32),
            transfer_id: OURS.into(),
        })
    })
    .unwrap();
    m.register_method("receiveFile", |p, s: &Script, _| {
        let (_file, path): (String, String) = p.parse()?;
        s.paths.lock().unwrap().push(path);
        let t = s.polls.lock().unwrap().front().cloned().unwrap();
        Ok::<_, jsonrpsee::types::ErrorObjectOwned>(t)
    })
    .unwrap();
    m.register_method("getTransfers", |_, s: &Script, _| {
        let mut polls = s.polls.lock().unwrap();
        let t = if polls.len() > 1 {
            polls.pop_front().unwrap()
        } else {
            polls.front().cloned().unwrap()
        };
        vec![t, transfer(OTHER, TransferState::Running, 10, None)]
    })
    .unwrap();
    if script.pushes.is_some() {
        m.register_subscription(
            "subscribeTransfers",
            "transfer",
            "unsubscribeTransfers",
            |_, pending, s: Arc<Script>, _| async move {
                let sink = pending.accept().await?;
                for t in s.pushes.clone().unwrap_or_default() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    sink.send(serde_json::value::to_raw_value(&t)?).await?;
                }
                sink.closed().await;
                Ok(())
            },
        )
        .unwrap();
    }
    let server = Server::builder().build("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.start(m);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rpc.cookie"), "ab".repeat(32)).unwrap();
    std::fs::write(dir.path().join("rpc.addr"), addr.to_string()).unwrap();
    Daemon {
        dir,
        script,
        _handle: handle,
    }
}

impl Daemon {
    /// The data directory, also the working directory of the commands (canonical, as the
    /// command sees it).
    fn cwd(&self) -> PathBuf {
        self.dir.path().canonicalize().unwrap()
    }

    async fn parsctl(&self, args: &[&str]) -> Output {
        let cwd = self.cwd();
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_parsctl"))
            .arg("--datadir")
            .arg(&cwd)
            .args(args)
            .current_dir(&cwd)
            .env_remove("PARS_RPC")
            .env_remove("PARS_DATADIR")
            .output();
        tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("parsctl ends")
            .unwrap()
    }
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_follows_the_subscription_to_done() {
    // Polling alone would never see it end: the subscription brings the news.
    let d = daemon(
        vec![transfer(OURS, TransferState::Running, 0, None)],
        Some(vec![
            transfer(OTHER, TransferState::Failed, 10, Some("not ours")),
            transfer(OURS, TransferState::Running, 500, None),
            transfer(OURS, TransferState::Done, 1000, None),
        ]),
    )
    .await;
    std::fs::write(d.dir.path().join("report.pdf"), b"x").unwrap();
    let o = d
        .parsctl(&[
            "--json",
            "file",
            "send",
            "--session",
            "05ab",
            "--path",
            "report.pdf",
        ])
        .await;
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(o.stderr.is_empty(), "{o:?}");
    assert_eq!(
        *d.script.paths.lock().unwrap(),
        [d.cwd().join("report.pdf").to_str().unwrap()]
    );
    let lines = json_lines(&o);
    let (last, progress) = lines.split_last().unwrap();
    assert!(
        progress.iter().all(|l| l["transferId"] == OURS),
        "{lines:?}"
    );
    let done: Vec<&serde_json::Value> = progress.iter().map(|l| &l["bytesDone"]).collect();
    assert_eq!(done, [0, 500, 1000], "{lines:?}");
    assert_eq!(last["result"]["state"], "done");
    assert_eq!(last["result"]["transferId"], OURS);

    // And for people, where standard error is no terminal: the result line only.
    let o = d.parsctl(&["file", "list"]).await;
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("TRANSFER "), "{out}");
    assert!(
        out.contains(&format!("{OURS}  send  report.pdf  1.0 KB")),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_polls_without_a_subscription_and_exits_by_the_failure() {
    let d = daemon(
        [
            transfer(OURS, TransferState::Running, 0, None),
            transfer(OURS, TransferState::Running, 300, Some("no path yet")),
            transfer(
                OURS,
                TransferState::Failed,
                600,
                Some("No space left on device"),
            ),
        ]
        .map(|t| TransferInfo {
            direction: Direction::Incoming,
            ..t
        })
        .to_vec(),
        None,
    )
    .await;
    let o = d
        .parsctl(&[
            "file",
            "receive",
            "--file",
            &"ff".repeat(32),
            "--out",
            "copy.pdf",
        ])
        .await;
    assert_eq!(o.status.code(), Some(1), "a disk failure: {o:?}");
    assert!(o.stdout.is_empty(), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(
            "error: receiving report.pdf failed: No space left on device; run the same"
        ),
        "{err}"
    );
    assert_eq!(
        *d.script.paths.lock().unwrap(),
        [d.cwd().join("copy.pdf").to_str().unwrap()]
    );

    // A network failure, in JSON: the result line says it, and nothing else follows.
    let d = daemon(
        vec![
            transfer(OURS, TransferState::Running, 0, None),
            transfer(
                OURS,
                TransferState::Failed,
                0,
                Some("no swarm node answered"),
            ),
        ],
        None,
    )
    .await;
    std::fs::write(d.dir.path().join("report.pdf"), b"x").unwrap();
    let o = d
        .parsctl(&[
            "--json",
            "file",
            "send",
            "--group",
            "cd",
            "--path",
            "report.pdf",
        ])
        .await;
    assert_eq!(o.status.code(), Some(5), "{o:?}");
    let lines = json_lines(&o);
    let last = lines.last().unwrap();
    assert_eq!(last["result"]["state"], "failed");
    assert_eq!(last["result"]["error"], "no swarm node answered");
}

#[test]
fn a_missing_file_is_refused_before_any_daemon_is_asked() {
    // No cookie, no daemon: the path is what fails.
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().canonicalize().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_parsctl"))
        .arg("--datadir")
        .arg(&cwd)
        .args(["file", "send", "--session", "05ab", "--path", "nope.bin"])
        .current_dir(&cwd)
        .env_remove("PARS_RPC")
        .env_remove("PARS_DATADIR")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(&format!(
            "error: no file at {}",
            cwd.join("nope.bin").display()
        )),
        "{err}"
    );
}
