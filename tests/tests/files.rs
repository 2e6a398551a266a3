//! Files end to end with real processes on a loopback network of 8 service nodes (issue #17):
//! a 64 MiB file from Alice to Bob arrives whole although Alice's daemon is killed (SIGKILL) in
//! the middle of the upload and Bob's in the middle of the download, each going on from what
//! was done; a chunk tampered with by its sender is refused by name and never written; a file
//! sent to a group once is fetched by two members.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{DELIVERY_TIMEOUT, ServiceNet, User, wait_for};
use pars_rpc::SessionApiClient;

use pars_net::{ClientConfig, ServiceNodeSet, StaticSet, start_client};
use pars_rpc::types::{FileInfo, TransferInfo, TransferState};
use pars_wire::file::{ChunkSealer, FILE_CHUNK_LEN, FileManifest, IndexBuilder, chunk_id};
use pars_wire::swarm::{DEFAULT_TTL_MS, Mailbox};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// How long a transfer of the 64 MiB file may take (a loaded 2-core machine).
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(900);

async fn identity(u: &User) -> String {
    u.client().create_identity().await.unwrap().session_id
}

/// Writes `len` bytes of deterministic noise (xorshift) to `path`.
fn noise_file(path: &Path, len: usize, seed: u64) {
    let mut x = seed | 1;
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    std::fs::write(path, data).unwrap();
}

async fn transfer(u: &User, id: &str) -> Option<TransferInfo> {
    u.client()
        .get_transfers()
        .await
        .ok()?
        .into_iter()
        .find(|t| t.transfer_id == id)
}

/// Waits until transfer `id` of `u` has moved at least `bytes`; returns it.
async fn await_bytes(u: &User, id: &str, bytes: u64) -> TransferInfo {
    wait_for(
        TRANSFER_TIMEOUT,
        &format!("{}'s transfer to pass {bytes} bytes", u.name),
        || async {
            let t = transfer(u, id).await?;
            assert_ne!(t.state, TransferState::Failed, "{t:#?}");
            (t.bytes_done >= bytes).then_some(t)
        },
    )
    .await
}

/// Waits until transfer `id` of `u` ends; returns it.
async fn await_end(u: &User, id: &str) -> TransferInfo {
    wait_for(
        TRANSFER_TIMEOUT,
        &format!("{}'s transfer to end", u.name),
        || async {
            let t = transfer(u, id).await?;
            (t.state != TransferState::Running).then_some(t)
        },
    )
    .await
}

/// Waits for `u`'s first file message from `peer_or_group` (its session or group ID); returns
/// what it offers.
async fn await_offer(u: &User, conversation: Option<String>) -> FileInfo {
    wait_for(
        DELIVERY_TIMEOUT,
        &format!("{}'s file message", u.name),
        || async {
            u.client()
                .get_messages(conversation.clone(), None, None)
                .await
                .ok()?
                .into_iter()
                .find_map(|m| m.file)
        },
    )
    .await
}

/// Kills `u` once its transfer `id` has moved `at` bytes and restarts it; checks that the
/// transfer goes on from what was saved before the kill, not from zero: at least half of what
/// it had done two seconds before (progress is saved every second; a loaded machine's fsync
/// can lag). Returns the bytes done at the kill.
async fn kill_in_the_middle(u: &mut User, id: &str, at: u64) -> u64 {
    let before = await_bytes(u, id, at).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let at_kill = transfer(u, id).await.unwrap();
    assert_eq!(at_kill.state, TransferState::Running, "{at_kill:#?}");
    u.kill9();
    u.start().await;
    let after = wait_for(DELIVERY_TIMEOUT, "the transfer after the restart", || {
        transfer(u, id)
    })
    .await;
    assert!(
        after.bytes_done >= before.bytes_done / 2 && after.bytes_done > 0,
        "{}: resumed from {} bytes, had {} before the kill",
        u.name,
        after.bytes_done,
        before.bytes_done
    );
    at_kill.bytes_done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_file_arrives_whole_through_kills_of_its_sender_and_its_receiver() {
    const SIZE: u64 = 64 << 20;
    let net = ServiceNet::start(8);
    let mut alice = User::new(&net, "alice");
    let mut bob = User::new(&net, "bob");
    // Capped at 8 MB/s (max-transfer-rate) so that each kill lands in the middle of its
    // transfer whatever the machine's speed; the full speed is scripts/bench-files' business.
    for u in [&mut alice, &mut bob] {
        u.extra
            .extend(["--max-transfer-rate", "8000000"].map(String::from));
    }
    alice.start().await;
    bob.start().await;
    let _a = identity(&alice).await;
    let b = identity(&bob).await;
    wait_for(DELIVERY_TIMEOUT, "Bob's bundle in the network", || async {
        alice.client().create_session(b.clone()).await.ok()
    })
    .await;

    let src = alice.dir.join("holiday.mp4");
    noise_file(&src, SIZE as usize, 17);
    let sent = alice
        .client()
        .send_file(b.clone(), src.display().to_string())
        .await
        .unwrap();
    // Killed a third of the way up; it goes on after the restart.
    let killed_at = kill_in_the_middle(&mut alice, &sent.transfer_id, SIZE / 3).await;
    let up = await_end(&alice, &sent.transfer_id).await;
    assert_eq!(up.state, TransferState::Done, "{up:#?}");
    assert_eq!((up.bytes_done, up.chunks_done), (SIZE, up.chunks_total));
    eprintln!("upload: killed at {killed_at} bytes, then done");

    let offer = await_offer(&bob, None).await;
    assert_eq!(
        (offer.file_id.as_str(), offer.name.as_str(), offer.size),
        (sent.file_id.as_str(), "holiday.mp4", SIZE)
    );
    assert_eq!(offer.mime_type, "video/mp4");
    let out = bob.dir.join("received.mp4");
    let t = bob
        .client()
        .receive_file(offer.file_id.clone(), out.display().to_string())
        .await
        .unwrap();
    let killed_at = kill_in_the_middle(&mut bob, &t.transfer_id, SIZE / 3).await;
    let down = await_end(&bob, &t.transfer_id).await;
    assert_eq!(down.state, TransferState::Done, "{down:#?}");
    eprintln!("download: killed at {killed_at} bytes, then done");
    assert!(!Path::new(&format!("{}.part", out.display())).exists());
    let (want, got) = (std::fs::read(&src).unwrap(), std::fs::read(&out).unwrap());
    assert_eq!(got.len(), want.len());
    assert!(got == want, "the received file differs from the sent one");

    // Receiving it again to the same path is refused clearly; to a new path it is fetched
    // again (the chunks stay in their swarms for their TTL).
    let again = bob
        .client()
        .receive_file(offer.file_id.clone(), out.display().to_string())
        .await
        .unwrap_err();
    assert!(again.to_string().contains("already downloaded"), "{again}");
}

/// Alice creates group `name` with `members` (through `parsctl group create`), and each of
/// `joiners` accepts; returns the group ID once everyone sees everyone.
async fn group_of_three(alice: &User, joiners: [&User; 2], members: [&String; 2]) -> String {
    let out = alice.parsctl(&[
        "group",
        "create",
        "--name",
        "files",
        "--members",
        members[0],
        members[1],
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let g = created["groupId"].as_str().unwrap().to_string();
    for u in joiners {
        wait_for(
            DELIVERY_TIMEOUT,
            &format!("{}'s invitation", u.name),
            || async {
                let invites = u.client().get_group_invites().await.ok()?;
                invites.iter().any(|i| i.group_id == g).then_some(())
            },
        )
        .await;
        let out = u.parsctl(&["group", "join", "--invite", &g, "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for u in [alice, joiners[0], joiners[1]] {
        wait_for(
            DELIVERY_TIMEOUT,
            &format!("{} to see 3 members", u.name),
            || async {
                let gs = u.client().get_groups().await.ok()?;
                gs.iter()
                    .any(|x| x.group_id == g && x.members.len() == 3)
                    .then_some(())
            },
        )
        .await;
    }
    g
}

/// Stores a file of three chunks named `name` through an onion client of the test's own on the
/// network, and returns its manifest. With `swap`, its sender sealed the middle chunk at
/// another place (its ID is right, so every swarm takes it, but it is not chunk 1 of the
/// file); with `skip`, that chunk is never stored.
async fn upload_crafted_file(
    net: &ServiceNet,
    dir: &Path,
    name: &str,
    swap: bool,
    skip: Option<usize>,
) -> FileManifest {
    let set: Arc<dyn ServiceNodeSet> = Arc::new(StaticSet::from_file(&net.set_file).unwrap());
    let mut cc = ClientConfig::new(dir.join(format!("mallory-{name}")));
    cc.path.subnet_diversity = false;
    let client = start_client(cc, set, Vec::new()).await.unwrap();
    // A key of its own per file: chunks sealed alike under one key would be the same chunks.
    let key = [name.as_bytes()[0]; 32];
    let cl = FILE_CHUNK_LEN as usize;
    let size = 3 * cl - 100;
    let sealer = ChunkSealer::new(&key, FILE_CHUNK_LEN);
    let plain: Vec<Vec<u8>> = (0..3u8).map(|i| vec![0xa0 + i; cl]).collect();
    let chunks = vec![
        sealer.seal(0, 0, &plain[0]).unwrap(),
        // With `swap`, chunk 1's bytes sealed as chunk 2.
        sealer.seal(0, if swap { 2 } else { 1 }, &plain[1]).unwrap(),
        sealer.seal(0, 2, &plain[2][..cl - 100]).unwrap(),
    ];
    let ids: Vec<_> = chunks.iter().map(|c| chunk_id(c)).collect();
    let (index, id) = IndexBuilder::new(&sealer).build(&ids).unwrap();
    let all = chunks
        .into_iter()
        .zip(ids)
        .enumerate()
        .filter(|(i, _)| Some(*i) != skip)
        .map(|(_, c)| c)
        .chain(index.into_iter().map(|c| (c.bytes, c.id)));
    for (bytes, cid) in all {
        wait_for(DELIVERY_TIMEOUT, "a tampered chunk stored", || async {
            client
                .store(&Mailbox::Chunk(cid), DEFAULT_TTL_MS, bytes.clone())
                .await
                .ok()
        })
        .await;
    }
    client.shutdown().await;
    FileManifest {
        id,
        key: Zeroizing::new(key),
        size: size as u64,
        chunk_len: FILE_CHUNK_LEN,
        name: name.into(),
        mime: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_chunk_is_refused_by_name_and_a_file_sent_to_a_group_reaches_two_members() {
    let net = ServiceNet::start(8);
    let mut alice = User::new(&net, "alice");
    let mut bob = User::new(&net, "bob");
    let mut carol = User::new(&net, "carol");
    alice.start().await;
    bob.start().await;
    carol.start().await;
    let _a = identity(&alice).await;
    let b = identity(&bob).await;
    let c = identity(&carol).await;
    for peer in [&b, &c] {
        wait_for(DELIVERY_TIMEOUT, "a bundle in the network", || async {
            alice.client().create_session(peer.clone()).await.ok()
        })
        .await;
    }

    // 1. A file whose sender tampered with chunk 1: Bob's download fails naming the chunk, and
    // nothing of it is written as if good. A file whose chunk 2 was never stored: the chunk is
    // named as missing from its swarm.
    let tampered = upload_crafted_file(&net, &alice.dir, "tampered.bin", true, None).await;
    let lost = upload_crafted_file(&net, &alice.dir, "lost.bin", false, Some(2)).await;
    for (m, why, swapped) in [
        (
            &tampered,
            "chunk 1 of tampered.bin matches its ID but does not open",
            true,
        ),
        (&lost, "chunk 2 of lost.bin is not in its swarm", false),
    ] {
        alice
            .client()
            .send_content(b.clone(), "file".into(), hex_of(&m.encode()))
            .await
            .unwrap();
        let offer = await_offer_of(&bob, &m.id.to_string()).await;
        let out = bob.dir.join(&m.name);
        let t = bob
            .client()
            .receive_file(offer.file_id.clone(), out.display().to_string())
            .await
            .unwrap();
        let end = await_end(&bob, &t.transfer_id).await;
        assert_eq!(end.state, TransferState::Failed, "{end:#?}");
        let error = end.error.unwrap_or_default();
        assert!(error.contains(why), "{error}");
        assert!(!out.exists(), "a refused file is never put in place");
        let part = std::fs::read(format!("{}.part", out.display())).unwrap_or_default();
        let cl = FILE_CHUNK_LEN as usize;
        let region = part.get(cl..2 * cl);
        assert!(
            !swapped || region.is_none_or(|c| c.iter().all(|b| *b == 0)),
            "chunk 1's place holds no bytes of the tampered chunk: {} bytes, first {:?}",
            part.len(),
            region.map(|c| c.iter().position(|b| *b != 0))
        );
    }
    // parsctl lists them with their errors.
    let shown = bob.parsctl(&["file", "list"]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("tampered.bin") && shown.contains("lost.bin"),
        "{shown}"
    );

    // 2. A file sent to a group is uploaded once and fetched by two members.
    let g = group_of_three(&alice, [&bob, &carol], [&b, &c]).await;
    let src = alice.dir.join("minutes.txt");
    noise_file(&src, 3 << 20, 99);
    let path = src.display().to_string();
    let out = alice.parsctl(&["file", "send", "--group", &g, "--path", &path, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string();
    let result: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(result["result"]["state"], "done", "{last}");
    // Bob's disk is full (his partial file is /dev/full): a clear error, and after he frees
    // the space the same receive succeeds.
    let offer = await_offer(&bob, Some(g.clone())).await;
    let dest = bob.dir.join("minutes.txt");
    std::os::unix::fs::symlink("/dev/full", format!("{}.part", dest.display())).unwrap();
    let out = bob.parsctl(&[
        "file",
        "receive",
        "--file",
        &offer.file_id,
        "--out",
        &dest.display().to_string(),
    ]);
    assert!(!out.status.success());
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("the disk is full"), "{said}");
    std::fs::remove_file(format!("{}.part", dest.display())).unwrap();
    for u in [&bob, &carol] {
        let offer = await_offer(u, Some(g.clone())).await;
        assert_eq!((offer.name.as_str(), offer.size), ("minutes.txt", 3 << 20));
        let dest = u.dir.join("minutes.txt");
        let out = u.parsctl(&[
            "file",
            "receive",
            "--file",
            &offer.file_id,
            "--out",
            &dest.display().to_string(),
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(std::fs::read(&dest).unwrap() == std::fs::read(&src).unwrap());
        let shown = u.parsctl(&["group", "messages", "--group", &g]);
        assert!(
            String::from_utf8_lossy(&shown.stdout).contains("[file] minutes.txt"),
            "{}",
            String::from_utf8_lossy(&shown.stdout)
        );
    }

    // 3. A file rewritten while it is sent (Alice's transfers capped at 2 MB/s, so most of it
    // is still to go): the swarm refuses the changed chunks (not under their IDs), and the
    // upload fails saying the file changed, not that the network refused it.
    alice.stop();
    alice
        .extra
        .extend(["--max-transfer-rate", "2000000"].map(String::from));
    alice.start().await;
    let src = alice.dir.join("draft.txt");
    noise_file(&src, 8 << 20, 5);
    let sent = alice
        .client()
        .send_file(b.clone(), src.display().to_string())
        .await
        .unwrap();
    // Rewritten in place (never shorter, so a read never meets its end).
    let mut f = std::fs::OpenOptions::new().write(true).open(&src).unwrap();
    std::io::Write::write_all(&mut f, &vec![0x42; 8 << 20]).unwrap();
    drop(f);
    let end = await_end(&alice, &sent.transfer_id).await;
    assert_eq!(end.state, TransferState::Failed, "{end:#?}");
    let error = end.error.unwrap_or_default();
    assert!(
        error.contains("the file changed since sending began"),
        "{error}"
    );
}

/// Waits for `u`'s file message offering `file_id`.
async fn await_offer_of(u: &User, file_id: &str) -> FileInfo {
    wait_for(
        DELIVERY_TIMEOUT,
        &format!("{}'s offer of {file_id}", u.name),
        || async {
            u.client()
                .get_messages(None, None, None)
                .await
                .ok()?
                .into_iter()
                .filter_map(|m| m.file)
                .find(|f| f.file_id == file_id)
        },
    )
    .await
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
