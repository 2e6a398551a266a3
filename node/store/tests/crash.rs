#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Crash safety: a child process (this test binary re-executed) stores messages from several
//! threads and prints each one as soon as its store is acknowledged; the parent kills it with
//! SIGKILL in the middle of the writes, reopens the database and checks that every acknowledged
//! message is there.

use pars_crypto::SessionId;
use pars_store::{MailboxStore, StoreConfig};
use pars_wire::swarm::Mailbox;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "PARS_STORE_CRASH_CHILD_DB";

fn mailbox(t: u8) -> Mailbox {
    Mailbox::Inbox(SessionId::from_digest([t; 32]))
}

fn payload(t: u8, i: u32) -> Vec<u8> {
    let mut p = vec![t; 1024];
    p[1..5].copy_from_slice(&i.to_be_bytes());
    p
}

/// The child's writer: runs only when re-executed by `kill_9_loses_nothing_acknowledged`.
fn child_main(db: &str) {
    let store = MailboxStore::open(db, StoreConfig::default()).unwrap();
    let out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let store = store.clone();
            let out = out.clone();
            std::thread::spawn(move || {
                for i in 0.. {
                    store
                        .put_blocking(&mailbox(t), u64::MAX, payload(t, i), false)
                        .unwrap();
                    let mut o = out.lock().unwrap();
                    writeln!(o, "ACK {t} {i}").unwrap();
                    o.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

#[test]
fn kill_9_loses_nothing_acknowledged() {
    if let Ok(db) = std::env::var(CHILD_ENV) {
        child_main(&db);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.redb");
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "kill_9_loses_nothing_acknowledged",
                "--exact",
                "--nocapture",
            ])
            .env(CHILD_ENV, &db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut acked: Vec<(u8, u32)> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let target = 400 + round * 300;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("ACK ") {
                let mut it = rest.split(' ');
                let t: u8 = it.next().unwrap().parse().unwrap();
                let i: u32 = it.next().unwrap().parse().unwrap();
                acked.push((t, i));
                if acked.len() >= target {
                    child.kill().unwrap(); // SIGKILL on Unix, mid-write
                    break;
                }
            }
            assert!(Instant::now() < deadline, "child too slow");
        }
        let status = child.wait().unwrap();
        assert!(!status.success(), "child must have been killed");
        assert!(acked.len() >= target, "child died early");

        let store = MailboxStore::open(&db, StoreConfig::default()).unwrap();
        for (t, i) in &acked {
            assert!(
                store
                    .contains(
                        &mailbox(*t),
                        &pars_wire::swarm::content_hash(&payload(*t, *i))
                    )
                    .unwrap(),
                "acknowledged message {t}/{i} lost in round {round}"
            );
        }
        let stats = store.stats().unwrap();
        assert!(stats.messages >= acked.len() as u64);
        // The counters agree with the contents after recovery.
        let total: usize = store
            .mailboxes()
            .unwrap()
            .iter()
            .map(|m| store.all(m, 0).unwrap().len())
            .sum();
        assert_eq!(total as u64, stats.messages);
    }
}
