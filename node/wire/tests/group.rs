//! The group formats: round trips, canonical encodings, limits, and blobs whose chunks open only
//! in their place under their reference.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pars_crypto::SessionId;
use pars_wire::group::{
    BLOB_CHUNK_LEN, BLOB_CHUNK_OVERHEAD, BlobAssembler, BlobRef, GroupContent, GroupControl,
    MAX_GROUP_NAME, Payload, seal_blob,
};
use pars_wire::records::{
    GroupOutKind, GroupOutboxRecord, GroupRecord, GroupState, GroupTaskRecord,
};
use pars_wire::{GroupId, MessageId, WireError};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use zeroize::Zeroizing;

fn sid(n: u8) -> SessionId {
    let mut b = [n; 33];
    b[0] = 0x05;
    SessionId::from_bytes(&b).unwrap()
}

fn blob(len: usize, seed: u64) -> BlobRef {
    BlobRef::random(len, &mut ChaCha20Rng::seed_from_u64(seed)).unwrap()
}

/// Every kind of every format, for round trips and the fuzz seeds.
fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let g = GroupId([3; 32]);
    let b = blob(40_000, 1);
    vec![
        ("item_inline", Payload::Inline(vec![1, 2, 3]).encode()),
        ("item_blob", Payload::Blob(b.clone()).encode()),
        (
            "content_text",
            GroupContent::Text {
                sent_at: 7,
                text: "héllo".into(),
            }
            .encode(),
        ),
        (
            "content_meta",
            GroupContent::Meta {
                sent_at: 8,
                name: "Friends".into(),
                admins: vec![sid(1), sid(2)],
            }
            .encode(),
        ),
        ("content_leave", GroupContent::Leave { sent_at: 9 }.encode()),
        (
            "control_request",
            GroupControl::KeyPackageRequest {
                group: g,
                name: "Friends".into(),
            }
            .encode()
            .to_vec(),
        ),
        (
            "control_key_package",
            GroupControl::KeyPackage {
                group: g,
                key_package: Payload::Inline(vec![9; 100]),
            }
            .encode()
            .to_vec(),
        ),
        (
            "control_invite",
            GroupControl::Invite {
                group: g,
                name: "Friends".into(),
                admins: vec![sid(1)],
                welcome: Payload::Blob(b.clone()),
            }
            .encode()
            .to_vec(),
        ),
        (
            "control_owner_key",
            GroupControl::OwnerKey {
                group: g,
                seed: Zeroizing::new([4; 32]),
            }
            .encode()
            .to_vec(),
        ),
        (
            "record_group",
            GroupRecord {
                id: g,
                name: "Friends".into(),
                admins: vec![sid(1)],
                owner_seed: Some(Zeroizing::new([5; 32])),
                state: GroupState::Active,
                token: Zeroizing::new([6; 32]),
                generation: 4,
                previous: Some((Zeroizing::new([7; 32]), 2)),
                access_pending: true,
                created_at: 1,
                last_activity: 2,
                unread: 3,
                next_local_seq: 4,
                invited: vec![sid(2), sid(3)],
            }
            .encode()
            .to_vec(),
        ),
        (
            "record_outbox",
            GroupOutboxRecord {
                id: MessageId([8; 16]),
                group: g,
                kind: GroupOutKind::Item,
                message_key: vec![1, 2],
                attempts: 3,
                next_attempt: 4,
                item: Payload::Blob(blob(5, 2)).encode(),
                blob: Some((blob(5, 2), Zeroizing::new(vec![0; 5]))),
            }
            .encode()
            .to_vec(),
        ),
        (
            "record_task",
            GroupTaskRecord {
                from: sid(1),
                accepted: false,
                attempts: 1,
                next_attempt: 2,
                control: Zeroizing::new(vec![1, 2, 3]),
            }
            .encode()
            .to_vec(),
        ),
    ]
}

fn round_trips(name: &str, bytes: &[u8]) -> bool {
    let same = |v: Vec<u8>| v == bytes;
    match name.split('_').next().unwrap() {
        "item" => same(Payload::decode(bytes).unwrap().encode()),
        "content" => same(GroupContent::decode(bytes).unwrap().encode()),
        "control" => same(GroupControl::decode(bytes).unwrap().encode().to_vec()),
        _ => match name {
            "record_group" => same(GroupRecord::decode(bytes).unwrap().encode().to_vec()),
            "record_outbox" => same(GroupOutboxRecord::decode(bytes).unwrap().encode().to_vec()),
            _ => same(GroupTaskRecord::decode(bytes).unwrap().encode().to_vec()),
        },
    }
}

#[test]
fn every_format_round_trips_and_refuses_its_truncations_and_trailing_bytes() {
    for (name, bytes) in samples() {
        assert!(round_trips(name, &bytes), "{name}");
        for cut in 0..bytes.len() {
            let short = &bytes[..cut];
            let ok = match name.split('_').next().unwrap() {
                "item" => Payload::decode(short).is_ok(),
                "content" => GroupContent::decode(short).is_ok(),
                "control" => GroupControl::decode(short).is_ok(),
                _ => {
                    GroupRecord::decode(short).is_ok()
                        || GroupOutboxRecord::decode(short).is_ok()
                        || GroupTaskRecord::decode(short).is_ok()
                }
            };
            assert!(!ok, "{name} truncated to {cut} decoded");
        }
        let mut long = bytes.clone();
        long.push(0);
        let ok = match name.split('_').next().unwrap() {
            "item" => Payload::decode(&long).is_ok(),
            "content" => GroupContent::decode(&long).is_ok(),
            "control" => GroupControl::decode(&long).is_ok(),
            _ => false,
        };
        assert!(!ok, "{name} with a trailing byte decoded");
    }
}

#[test]
fn names_admins_and_payloads_are_checked() {
    let g = GroupId([3; 32]);
    let long = "x".repeat(MAX_GROUP_NAME + 1);
    for name in ["", "   ", "tab\there", long.as_str()] {
        let bytes = GroupControl::KeyPackageRequest {
            group: g,
            name: name.into(),
        }
        .encode();
        assert!(GroupControl::decode(&bytes).is_err(), "{name:?}");
    }
    // No admins, or one twice.
    for admins in [vec![], vec![sid(1), sid(1)]] {
        let bytes = GroupContent::Meta {
            sent_at: 1,
            name: "n".into(),
            admins,
        }
        .encode();
        assert!(GroupContent::decode(&bytes).is_err());
    }
    // An empty inline payload, an unknown kind, another version.
    assert!(Payload::decode(&[1, 0, 0, 0, 0, 0]).is_err());
    assert!(Payload::decode(&[1, 2]).is_err());
    assert!(matches!(
        Payload::decode(&[2, 0, 0, 0, 0, 1, 9]),
        Err(WireError::UnsupportedVersion { .. })
    ));
    // A blob of zero or more than 1 GiB.
    assert!(BlobRef::random(0, &mut ChaCha20Rng::seed_from_u64(1)).is_err());
    assert!(BlobRef::random((1 << 30) + 1, &mut ChaCha20Rng::seed_from_u64(1)).is_err());
}

#[test]
fn a_blob_comes_back_whole_in_any_order_and_refuses_what_is_not_its_own() {
    let data: Vec<u8> = (0..(3 * BLOB_CHUNK_LEN + 100)).map(|i| i as u8).collect();
    let r = blob(data.len(), 3);
    let chunks = seal_blob(&r, &data).unwrap();
    assert_eq!(chunks.len(), 4);
    assert_eq!(chunks[0].len(), BLOB_CHUNK_LEN + BLOB_CHUNK_OVERHEAD);
    assert_eq!(chunks[3].len(), 100 + BLOB_CHUNK_OVERHEAD);
    // The same reference and data give the same chunks (a retry stores nothing new).
    assert_eq!(seal_blob(&r, &data).unwrap(), chunks);
    assert!(seal_blob(&r, &data[1..]).is_err());

    let mut asm = BlobAssembler::new(r.clone());
    for c in chunks.iter().rev().chain(chunks.iter()) {
        asm.add(c).unwrap();
    }
    assert_eq!(asm.progress(), (4, 4));
    assert_eq!(asm.finish().unwrap().as_slice(), data.as_slice());

    let mut asm = BlobAssembler::new(r.clone());
    // A chunk moved to another index.
    let mut moved = chunks[1].clone();
    moved[1..5].copy_from_slice(&2u32.to_be_bytes());
    assert!(asm.add(&moved).is_err());
    // Altered.
    let mut bad = chunks[2].clone();
    bad[20] ^= 1;
    assert!(asm.add(&bad).is_err());
    // Another blob's chunk.
    let other = seal_blob(&blob(data.len(), 4), &data).unwrap();
    assert!(asm.add(&other[0]).is_err());
    // Beyond the last chunk, garbage.
    let mut beyond = chunks[0].clone();
    beyond[1..5].copy_from_slice(&9u32.to_be_bytes());
    assert!(asm.add(&beyond).is_err());
    assert!(asm.add(b"").is_err());
    // Missing chunks: not finished.
    asm.add(&chunks[0]).unwrap();
    assert_eq!(asm.progress(), (1, 4));
    assert!(asm.finish().is_err());
    // A reference whose length lies: the last chunk's length does not match.
    let mut bytes = Vec::new();
    let mut w = pars_wire::Writer::new();
    r.write(&mut w);
    bytes.extend(w.into_vec());
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(&((data.len() - 1) as u32).to_be_bytes());
    let liar = BlobRef::read(&mut pars_wire::Reader::new(&bytes)).unwrap();
    let mut asm = BlobAssembler::new(liar);
    assert!(asm.add(&chunks[3]).is_err());
}

/// The fuzz target's seeds are the samples above: valid, and re-encoding to themselves.
#[test]
fn fuzz_seeds_are_the_samples() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/group_formats");
    if std::env::var_os("PARS_WRITE_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in samples() {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    let mut n = 0;
    for (name, bytes) in samples() {
        let on_disk = std::fs::read(dir.join(name)).unwrap();
        assert!(round_trips(name, &on_disk), "{name}");
        assert_eq!(on_disk, bytes, "{name}");
        n += 1;
    }
    assert_eq!(n, 12);
}

proptest! {
    #[test]
    fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Payload::decode(&data);
        let _ = GroupContent::decode(&data);
        let _ = GroupControl::decode(&data);
        let _ = GroupRecord::decode(&data);
        let _ = GroupOutboxRecord::decode(&data);
        let _ = GroupTaskRecord::decode(&data);
        let mut asm = BlobAssembler::new(blob(40_000, 5));
        prop_assert!(asm.add(&data).is_err());
    }

    #[test]
    fn texts_round_trip(text in ".{0,200}", at in any::<u64>()) {
        let c = GroupContent::Text { sent_at: at, text };
        prop_assert_eq!(GroupContent::decode(&c.encode()).unwrap(), c);
    }
}
