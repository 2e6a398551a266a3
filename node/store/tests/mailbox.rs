#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The mailbox store on a real redb in a temp dir: put/get, dedupe, cursors, TTL sweeping,
//! the size cap, delete, expiry changes, single-slot replacement and reopen.

use pars_crypto::SessionId;
use pars_store::{MailboxStore, StoreConfig, StoreError};
use pars_wire::swarm::{Mailbox, content_hash};

fn inbox(b: u8) -> Mailbox {
    Mailbox::Inbox(SessionId::from_digest([b; 32]))
}

fn open(dir: &tempfile::TempDir, max_bytes: u64) -> MailboxStore {
    MailboxStore::open(
        dir.path().join("mail.redb"),
        StoreConfig {
            max_bytes,
            ..StoreConfig::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn put_get_dedupe_and_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir, 1 << 30);
    let a = inbox(1);
    let b = inbox(2);
    let o1 = s.put(&a, 1000, b"one".to_vec(), false).await.unwrap();
    let o2 = s.put(&a, 1000, b"two".to_vec(), false).await.unwrap();
    s.put(&b, 1000, b"other".to_vec(), false).await.unwrap();
    let dup = s.put(&a, 5000, b"one".to_vec(), false).await.unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.seq, o1.seq);
    assert_eq!(dup.expires_at_ms, 1000);
    assert_eq!(o1.hash, content_hash(b"one"));

    let page = s.get_since(&a, 0, 10, 1 << 20, 0).unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(!page.more);
    assert_eq!(page.items[0].payload, b"one");
    assert_eq!(page.items[1].payload, b"two");

    let first = s.get_since(&a, 0, 1, 1 << 20, 0).unwrap();
    assert_eq!(first.items.len(), 1);
    assert!(first.more);
    let rest = s.get_since(&a, first.items[0].seq, 10, 1 << 20, 0).unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].seq, o2.seq);
    // A byte budget smaller than one message still returns one.
    let tiny = s.get_since(&a, 0, 10, 1, 0).unwrap();
    assert_eq!(tiny.items.len(), 1);
    assert!(tiny.more);

    let mut mbs = s.mailboxes().unwrap();
    mbs.sort();
    assert_eq!(mbs, vec![a, b]);
    assert!(s.contains(&a, &o1.hash).unwrap());
    assert_eq!(s.stats().unwrap().messages, 3);
}

#[tokio::test]
async fn ttl_sweep_and_expiry_changes() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir, 1 << 30);
    let a = inbox(1);
    let short = s.put(&a, 100, b"short".to_vec(), false).await.unwrap();
    let long = s.put(&a, 10_000, b"long".to_vec(), false).await.unwrap();
    // Expired messages are invisible before the sweep and gone after it.
    assert_eq!(s.get_since(&a, 0, 10, 1 << 20, 100).unwrap().items.len(), 1);
    assert_eq!(s.sweep(100).await.unwrap(), 1);
    assert!(!s.contains(&a, &short.hash).unwrap());
    assert_eq!(s.stats().unwrap().messages, 1);
    // Shorten the long one and sweep it too.
    assert_eq!(
        s.set_expiry(&a, vec![long.hash, [9; 32]], 200)
            .await
            .unwrap(),
        1
    );
    assert_eq!(s.sweep(150).await.unwrap(), 0);
    assert_eq!(s.sweep(200).await.unwrap(), 1);
    assert_eq!(s.stats().unwrap().messages, 0);
    assert_eq!(s.stats().unwrap().used_bytes, 0);
    assert!(s.mailboxes().unwrap().is_empty());
}

#[tokio::test]
async fn full_is_a_clear_error_and_never_evicts() {
    let dir = tempfile::tempdir().unwrap();
    let cap = 3 * (1000 + pars_store::PER_MESSAGE_OVERHEAD);
    let s = open(&dir, cap);
    let a = inbox(1);
    for i in 0..3u8 {
        s.put(&a, u64::MAX, vec![i; 1000], false).await.unwrap();
    }
    let err = s.put(&a, u64::MAX, vec![9; 1000], false).await.unwrap_err();
    assert!(matches!(err, StoreError::Full { .. }), "{err}");
    assert!(err.to_string().contains("full"));
    assert!(err.to_string().contains("never evicted"));
    // Every live message is still there.
    assert_eq!(s.get_since(&a, 0, 10, 1 << 20, 0).unwrap().items.len(), 3);
    // Deleting one makes room.
    assert_eq!(
        s.delete(&a, vec![content_hash(&[0; 1000])]).await.unwrap(),
        1
    );
    s.put(&a, u64::MAX, vec![9; 1000], false).await.unwrap();
}

#[tokio::test]
async fn single_slot_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir, 1 << 30);
    let m = Mailbox::Bundle(SessionId::from_digest([4; 32]));
    s.put(&m, u64::MAX, b"bundle v1".to_vec(), true)
        .await
        .unwrap();
    s.put(&m, u64::MAX, b"bundle v2".to_vec(), true)
        .await
        .unwrap();
    let page = s.get_since(&m, 0, 10, 1 << 20, 0).unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].payload, b"bundle v2");
    assert_eq!(s.stats().unwrap().messages, 1);
}

#[test]
fn reopen_keeps_everything_and_sequence_grows() {
    let dir = tempfile::tempdir().unwrap();
    let a = inbox(7);
    let last = {
        let s = open(&dir, 1 << 30);
        for i in 0..50u32 {
            s.put_blocking(&a, u64::MAX, i.to_be_bytes().to_vec(), false)
                .unwrap();
        }
        s.put_blocking(&a, u64::MAX, b"last".to_vec(), false)
            .unwrap()
    };
    let s = open(&dir, 1 << 30);
    assert_eq!(s.get_since(&a, 0, 100, 1 << 20, 0).unwrap().items.len(), 51);
    let next = s
        .put_blocking(&a, u64::MAX, b"after".to_vec(), false)
        .unwrap();
    assert!(next.seq > last.seq);
}

#[tokio::test]
async fn concurrent_writers_are_batched_and_all_durable() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir, 1 << 30);
    let mut tasks = Vec::new();
    for w in 0..32u8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50u32 {
                let mut p = vec![w];
                p.extend(i.to_be_bytes());
                s.put(&inbox(w), u64::MAX, p, false).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.stats().unwrap().messages, 32 * 50);
}

#[tokio::test]
async fn one_mailbox_gets_its_share_and_no_more_and_the_count_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let per = 1000 + pars_store::PER_MESSAGE_OVERHEAD;
    let config = StoreConfig {
        max_bytes: 1 << 30,
        max_mailbox_bytes: Some(3 * per),
        max_mailbox_items: 5,
        ..StoreConfig::default()
    };
    let path = dir.path().join("mail.redb");
    let s = MailboxStore::open(&path, config.clone()).unwrap();
    let (a, b) = (inbox(1), inbox(2));
    for i in 0..3u8 {
        s.put(&a, u64::MAX, vec![i; 1000], false).await.unwrap();
    }
    // The fourth would pass the share in bytes: refused clearly, nothing evicted.
    let err = s.put(&a, u64::MAX, vec![9; 1000], false).await.unwrap_err();
    assert!(matches!(err, StoreError::MailboxFull { .. }), "{err}");
    assert!(err.to_string().contains("its share of the store"), "{err}");
    assert_eq!(s.get_since(&a, 0, 10, 1 << 20, 0).unwrap().items.len(), 3);
    // Another mailbox on the same node is not affected.
    s.put(&b, u64::MAX, vec![1; 1000], false).await.unwrap();
    // The count is kept across a reopen, and a delete gives room back.
    drop(s);
    let s = MailboxStore::open(&path, config).unwrap();
    let again = s.put(&a, u64::MAX, vec![9; 1000], false).await.unwrap_err();
    assert!(matches!(again, StoreError::MailboxFull { .. }));
    s.delete(&a, vec![content_hash(&[0; 1000])]).await.unwrap();
    s.put(&a, u64::MAX, vec![9; 1000], false).await.unwrap();
    // Messages: at most five, small or not; expiry gives room back.
    for i in 0..4u8 {
        s.put(&b, 5_000, vec![i + 10; 10], false).await.unwrap();
    }
    let err = s.put(&b, u64::MAX, vec![99; 10], false).await.unwrap_err();
    assert!(
        matches!(err, StoreError::MailboxFull { items: 5, .. }),
        "{err}"
    );
    assert_eq!(s.sweep(6_000).await.unwrap(), 4);
    s.put(&b, u64::MAX, vec![99; 10], false).await.unwrap();
}
