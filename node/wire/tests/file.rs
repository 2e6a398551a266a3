#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! File formats: the manifest round-trips and refuses what it must; chunks open only at their
//! own place under their own file's key; the index lists every chunk and its root is the
//! file's ID; the layout of sizes around the chunk and fan-out boundaries.

use pars_wire::file::{
    ChunkSealer, FILE_CHUNK_LEN, FileManifest, IndexBuilder, Layout, MAX_FILE_NAME,
    check_file_name, chunk_id, index_entries,
};
use pars_wire::records::{
    ChunkIdsRecord, FileOfferRecord, TransferPeer, TransferProgress, TransferRecord, TransferState,
};
use pars_wire::swarm::{MAX_ONION_INBOX_PAYLOAD, content_hash};
use pars_wire::{ChunkId, FileId, GroupId, TransferId};
use proptest::prelude::*;
use zeroize::Zeroizing;

fn manifest(name: &str) -> FileManifest {
    FileManifest {
        id: FileId([3; 32]),
        key: Zeroizing::new([9; 32]),
        size: 1 << 30,
        chunk_len: FILE_CHUNK_LEN,
        name: name.into(),
        mime: "application/pdf".into(),
    }
}

fn transfer() -> TransferRecord {
    TransferRecord {
        id: TransferId([4; 16]),
        upload: false,
        manifest: manifest("report 2026.pdf"),
        peer: TransferPeer::Group(GroupId([5; 32])),
        path: "/home/u/report 2026.pdf".into(),
        state: TransferState::Running,
        error: Some("retrying: no member answered".into()),
        error_kind: None,
        created_at: 1_795_651_200,
        updated_at: 1_795_651_260,
    }
}

#[test]
fn a_manifest_round_trips_and_its_size_is_81_bytes_plus_name_and_type() {
    let m = manifest("report 2026.pdf");
    let bytes = m.encode();
    assert_eq!(bytes.len(), 81 + 15 + 15);
    assert_eq!(FileManifest::decode(&bytes).unwrap(), m);
    // Debug never shows the key.
    assert!(!format!("{m:?}").contains("9, 9"));
}

#[test]
fn bad_manifests_are_refused() {
    let good = manifest("a.txt").encode().to_vec();
    for n in 0..good.len() {
        assert!(
            FileManifest::decode(&good[..n]).is_err(),
            "truncated at {n}"
        );
    }
    let mut extra = good.clone();
    extra.push(0);
    assert!(FileManifest::decode(&extra).is_err());
    let mut version = good.clone();
    version[0] = 2;
    assert!(FileManifest::decode(&version).is_err());
    for name in [
        "",
        "..",
        "a/b",
        "a\\b",
        "tab\there",
        &"x".repeat(MAX_FILE_NAME + 1),
    ] {
        assert!(check_file_name(name).is_err(), "{name:?}");
        if name.len() <= MAX_FILE_NAME {
            assert!(
                FileManifest::decode(&manifest(name).encode()).is_err(),
                "{name:?}"
            );
        }
    }
    for chunk_len in [0, 1000, 1025, 2 << 20] {
        let mut m = manifest("a");
        m.chunk_len = chunk_len;
        assert!(FileManifest::decode(&m.encode()).is_err(), "{chunk_len}");
    }
    let mut m = manifest("a");
    m.size = (1 << 40) + 1;
    assert!(FileManifest::decode(&m.encode()).is_err());
}

#[test]
fn a_sealed_chunk_fits_one_onion_store_and_opens_only_at_its_place() {
    let s = ChunkSealer::new(&[1; 32], FILE_CHUNK_LEN);
    let c = s.seal(0, 7, b"hello").unwrap();
    assert_eq!(c.len(), FILE_CHUNK_LEN as usize + 16);
    assert!(c.len() <= MAX_ONION_INBOX_PAYLOAD);
    let plain = s.open(0, 7, &c).unwrap();
    assert_eq!(&plain[..5], b"hello");
    assert!(plain[5..].iter().all(|b| *b == 0));
    // Another index, another level, another file, a flipped bit, a cut: refused.
    assert!(s.open(0, 8, &c).is_err());
    assert!(s.open(1, 7, &c).is_err());
    assert!(
        ChunkSealer::new(&[2; 32], FILE_CHUNK_LEN)
            .open(0, 7, &c)
            .is_err()
    );
    let mut t = c.clone();
    t[100] ^= 1;
    assert!(s.open(0, 7, &t).is_err());
    assert!(s.open(0, 7, &c[..c.len() - 1]).is_err());
    // Too long to seal.
    assert!(s.seal(0, 0, &vec![0; FILE_CHUNK_LEN as usize + 1]).is_err());
    // The chunk ID is the swarm's content hash.
    assert_eq!(chunk_id(&c).0, content_hash(&c));
}

#[test]
fn layouts_at_the_boundaries() {
    let cl = 1024u32;
    let f = 32u64; // IDs per index chunk
    let l = |size| Layout::new(size, cl).levels;
    assert_eq!(l(0), vec![1, 1]);
    assert_eq!(l(1), vec![1, 1]);
    assert_eq!(l(1024), vec![1, 1]);
    assert_eq!(l(1025), vec![2, 1]);
    assert_eq!(l(1024 * f), vec![f, 1]);
    assert_eq!(l(1024 * f + 1), vec![f + 1, 2, 1]);
    assert_eq!(l(1024 * f * f + 1), vec![f * f + 1, f + 1, 2, 1]);
    let big = Layout::new(1 << 30, FILE_CHUNK_LEN);
    assert_eq!(big.levels, vec![43_691, 57, 1]);
    assert_eq!(big.total_chunks(), 43_749);
    assert_eq!(big.root_level(), 2);
    assert_eq!(big.entries(1, 0), 768);
    assert_eq!(big.entries(1, 56), 43_691 - 56 * 768);
    assert_eq!(big.entries(2, 0), 57);
    assert_eq!(big.data_len(0), FILE_CHUNK_LEN as usize);
    assert_eq!(
        big.data_len(43_690),
        (1usize << 30) - 43_690 * FILE_CHUNK_LEN as usize
    );
    assert_eq!(big.data_len(43_691), 0);
}

/// Seals a file of `size` bytes, builds its index and walks it back from the root.
fn round_trip(size: usize, chunk_len: u32) {
    let data: Vec<u8> = (0..size).map(|i| (i * 7 + i / 1000) as u8).collect();
    let s = ChunkSealer::new(&[5; 32], chunk_len);
    let layout = Layout::new(size as u64, chunk_len);
    let mut store = std::collections::HashMap::new();
    let mut ids = Vec::new();
    for i in 0..layout.data_chunks() {
        let start = (i * u64::from(chunk_len)) as usize;
        let end = start + layout.data_len(i);
        let c = s.seal(0, i, &data[start..end]).unwrap();
        ids.push(chunk_id(&c));
        store.insert(chunk_id(&c), c);
    }
    let (index, root) = IndexBuilder::new(&s).build(&ids).unwrap();
    assert_eq!(
        index.len() as u64,
        layout.total_chunks() - layout.data_chunks()
    );
    for c in &index {
        assert_eq!(c.id, chunk_id(&c.bytes));
        store.insert(c.id, c.bytes.clone());
    }
    assert_eq!(root.0, index.last().unwrap().id.0);
    // Walk down from the root.
    let mut level = layout.root_level();
    let mut current: Vec<ChunkId> = vec![ChunkId(root.0)];
    while level > 0 {
        let mut below = Vec::new();
        for (i, id) in current.iter().enumerate() {
            let plain = s.open(level, i as u64, &store[id]).unwrap();
            below.extend(index_entries(&plain, layout.entries(level, i as u64)).unwrap());
        }
        current = below;
        level -= 1;
    }
    assert_eq!(current, ids);
    let mut out = Vec::new();
    for (i, id) in current.iter().enumerate() {
        let plain = s.open(0, i as u64, &store[id]).unwrap();
        out.extend_from_slice(&plain[..layout.data_len(i as u64)]);
    }
    assert_eq!(out, data);
}

#[test]
fn files_round_trip_through_their_index() {
    for size in [0, 1, 1023, 1024, 1025, 32 * 1024, 32 * 1024 + 1, 40_000] {
        round_trip(size, 1024);
    }
    round_trip(100_000, FILE_CHUNK_LEN);
}

#[test]
fn an_index_chunk_with_bytes_after_its_entries_is_refused() {
    let mut plain = vec![0u8; 1024];
    plain[..64].fill(4);
    assert_eq!(index_entries(&plain, 2).unwrap().len(), 2);
    assert!(index_entries(&plain, 1).is_err());
    assert!(index_entries(&plain, 33).is_err());
    assert!(
        IndexBuilder::new(&ChunkSealer::new(&[1; 32], 1024))
            .build(&[])
            .is_err()
    );
}

/// The fuzz target's seeds: valid manifests, re-encoding to themselves.
#[test]
fn fuzz_seeds_are_the_samples() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/file_formats");
    let samples = [
        (
            "manifest-pdf",
            manifest("report 2026.pdf").encode().to_vec(),
        ),
        (
            "manifest-unicode",
            manifest("фото 📷.jpg").encode().to_vec(),
        ),
        ("transfer-record", transfer().encode()),
        ("progress-record", {
            let mut p = TransferProgress::new(43_749).unwrap();
            p.mark(0);
            p.mark(43_748);
            p.encode()
        }),
    ];
    if std::env::var_os("PARS_WRITE_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in &samples {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    for (name, bytes) in &samples {
        let on_disk = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(&on_disk, bytes, "{name}");
        let again = match *name {
            "transfer-record" => TransferRecord::decode(&on_disk).unwrap().encode(),
            "progress-record" => TransferProgress::decode(&on_disk).unwrap().encode(),
            _ => FileManifest::decode(&on_disk).unwrap().encode().to_vec(),
        };
        assert_eq!(again, on_disk, "{name}");
    }
}

proptest! {
    #[test]
    fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(m) = FileManifest::decode(&data) {
            prop_assert_eq!(m.encode().to_vec(), data.clone());
        }
        let s = ChunkSealer::new(&[1; 32], 1024);
        prop_assert!(s.open(0, 0, &data).is_err());
        let _ = index_entries(&data, data.len() / 32);
        if let Ok(r) = TransferRecord::decode(&data) {
            let e = r.encode();
            // A record from before the error kind was kept gains the empty kind.
            prop_assert!(e == data || (r.error_kind.is_none() && e == [&data[..], &[0, 0]].concat()));
        }
        if let Ok(r) = FileOfferRecord::decode(&data) {
            prop_assert_eq!(r.encode(), data.clone());
        }
        if let Ok(r) = TransferProgress::decode(&data) {
            prop_assert_eq!(r.encode(), data.clone());
        }
        if let Ok(r) = ChunkIdsRecord::decode(&data) {
            prop_assert_eq!(r.encode(), data.clone());
        }
    }

    /// A valid transfer record with one byte changed is refused or decodes to a record that
    /// encodes to exactly those bytes (the decoder is canonical).
    #[test]
    fn a_changed_transfer_record_is_refused_or_canonical(at in 0usize..700, to in any::<u8>()) {
        let mut b = transfer().encode();
        let i = at % b.len();
        b[i] = to;
        if let Ok(r) = TransferRecord::decode(&b) {
            prop_assert_eq!(r.encode(), b);
        }
    }
}
