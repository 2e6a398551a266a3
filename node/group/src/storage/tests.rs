//! The storage's tests: the transaction log against a model, lists, keys, damaged records.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::Value;
use super::keys::{key, kind};
use super::store::ParsStorage;
use crate::credential::IdentitySigner;
use crate::group::Member;
use openmls_traits::storage::CURRENT_VERSION;
use pars_crypto::mldsa::MlDsaSigningKey;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use zeroize::Zeroizing;

fn v(bytes: &[u8]) -> Value {
    Zeroizing::new(bytes.to_vec())
}

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// Every record, as a sorted map, for comparisons.
fn all(s: &ParsStorage) -> Map {
    let state = s.read_state().unwrap();
    state
        .values
        .iter()
        .map(|(k, v)| (k.clone(), v.to_vec()))
        .collect()
}

fn put(s: &ParsStorage, k: &[u8], value: &[u8]) {
    s.write_state().unwrap().put(k.to_vec(), v(value));
}

fn del(s: &ParsStorage, k: &[u8]) {
    s.write_state().unwrap().delete(k);
}

/// The changes as sorted (puts, deletes).
fn changes(s: &ParsStorage) -> (Map, BTreeSet<Vec<u8>>) {
    let c = s.changes().unwrap();
    (
        c.put.iter().map(|(k, v)| (k.clone(), v.to_vec())).collect(),
        c.delete.iter().cloned().collect(),
    )
}

fn committed() -> ParsStorage {
    ParsStorage::from_records(
        [(b"a", b"1"), (b"b", b"2"), (b"c", b"3"), (b"d", b"4")].map(|(k, x)| (k.to_vec(), v(x))),
    )
}

/// Overwrites, a new record, a delete, overwrite-then-delete of a committed record and of
/// a new one, and a record written back to its committed value.
fn edit(s: &ParsStorage) {
    put(s, b"a", b"9");
    put(s, b"e", b"5");
    del(s, b"b");
    put(s, b"c", b"7");
    del(s, b"c");
    put(s, b"f", b"6");
    del(s, b"f");
    put(s, b"d", b"8");
    put(s, b"d", b"4");
    del(s, b"nothing");
}

#[test]
fn changes_are_exactly_what_differs_from_the_committed_state() {
    let s = committed();
    assert!(s.changes().unwrap().is_empty());
    edit(&s);
    let (puts, deletes) = changes(&s);
    assert_eq!(
        puts,
        [
            (b"a".to_vec(), b"9".to_vec()),
            (b"e".to_vec(), b"5".to_vec())
        ]
        .into()
    );
    assert_eq!(deletes, [b"b".to_vec(), b"c".to_vec()].into());
    // Committed: nothing changed any more, and the records are the edited ones.
    s.commit().unwrap();
    assert!(s.changes().unwrap().is_empty());
    assert_eq!(
        all(&s),
        [
            (b"a".to_vec(), b"9".to_vec()),
            (b"d".to_vec(), b"4".to_vec()),
            (b"e".to_vec(), b"5".to_vec())
        ]
        .into()
    );
    // After the commit, a record is logged again from its new committed value.
    put(&s, b"a", b"10");
    del(&s, b"e");
    let (puts, deletes) = changes(&s);
    assert_eq!(puts, [(b"a".to_vec(), b"10".to_vec())].into());
    assert_eq!(deletes, [b"e".to_vec()].into());
}

#[test]
fn a_rollback_restores_exactly_the_committed_state() {
    let s = committed();
    let before = all(&s);
    edit(&s);
    assert_ne!(all(&s), before);
    s.rollback().unwrap();
    assert_eq!(all(&s), before);
    assert!(s.changes().unwrap().is_empty());
    // Again after a commit: back to that commit, not to the start.
    edit(&s);
    s.commit().unwrap();
    let after = all(&s);
    put(&s, b"a", b"x");
    put(&s, b"z", b"y");
    del(&s, b"d");
    s.rollback().unwrap();
    assert_eq!(all(&s), after);
}

/// A random sequence of writes, deletes, commits and rollbacks against a model: the records
/// always equal the model's, and a disk that applies every committed change always equals
/// the records as of that commit.
#[test]
fn the_log_agrees_with_a_model_over_random_operations() {
    let mut rng = ChaCha20Rng::seed_from_u64(16);
    for _ in 0..50 {
        let s = ParsStorage::default();
        let mut model = Map::new();
        let mut committed_model = model.clone();
        let mut disk = model.clone();
        for _ in 0..200 {
            let k = vec![(rng.next_u32() % 8) as u8];
            match rng.next_u32() % 10 {
                0..=4 => {
                    let x = vec![(rng.next_u32() % 3) as u8];
                    put(&s, &k, &x);
                    model.insert(k, x);
                }
                5..=6 => {
                    del(&s, &k);
                    model.remove(&k);
                }
                7..=8 => {
                    let c = s.changes().unwrap();
                    for d in &c.delete {
                        assert!(disk.remove(d).is_some(), "deleting a record not on disk");
                    }
                    for (k, x) in &c.put {
                        assert_ne!(disk.get(k), Some(&x.to_vec()), "rewriting a record");
                        disk.insert(k.clone(), x.to_vec());
                    }
                    s.commit().unwrap();
                    committed_model = model.clone();
                    assert_eq!(disk, model);
                }
                _ => {
                    s.rollback().unwrap();
                    model = committed_model.clone();
                }
            }
            assert_eq!(all(&s), model);
        }
    }
}

#[test]
fn lists_append_remove_and_read_back_their_items() {
    let s = ParsStorage::default();
    let k = key(kind::OWN_LEAF_NODES, &[1u8; 4][..]).unwrap();
    assert!(s.read_list::<Vec<u8>>(&k).unwrap().is_empty());
    for item in [&b"one"[..], b"", b"three", b"one"] {
        s.append(k.clone(), &item.to_vec()).unwrap();
    }
    let read = s.read_list::<Vec<u8>>(&k).unwrap();
    assert_eq!(
        read,
        vec![b"one".to_vec(), vec![], b"three".to_vec(), b"one".to_vec()]
    );
    // The first equal item goes; an absent one changes nothing.
    s.remove_item(k.clone(), &b"one".to_vec()).unwrap();
    s.remove_item(k.clone(), &b"four".to_vec()).unwrap();
    let read = s.read_list::<Vec<u8>>(&k).unwrap();
    assert_eq!(read, vec![vec![], b"three".to_vec(), b"one".to_vec()]);
    // A list record cut short is an error.
    let cut = {
        let state = s.read_state().unwrap();
        let list = state.values.get(&k).unwrap();
        list[..list.len() - 1].to_vec()
    };
    put(&s, &k, &cut);
    assert!(s.read_list::<Vec<u8>>(&k).is_err());
}

#[test]
fn keys_of_different_kinds_and_versions_never_collide() {
    let gid = openmls::prelude::GroupId::from_slice(&[7; 32]);
    let keys: BTreeSet<Vec<u8>> = (1..=19u8).map(|k| key(k, &gid).unwrap()).collect();
    assert_eq!(keys.len(), 19);
    let k = key(kind::TREE, &gid).unwrap();
    assert_eq!(k[0], kind::TREE);
    assert_eq!(k[k.len() - 2..], CURRENT_VERSION.to_be_bytes());
}

fn signer(seed: u64) -> IdentitySigner {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    IdentitySigner::new(MlDsaSigningKey::generate(&mut rng), &mut rng)
}

#[test]
fn a_damaged_record_fails_to_load_and_never_panics() {
    let alice = Member::new(signer(1)).unwrap();
    let bob = Member::new(signer(2)).unwrap();
    let mut ga = alice.create_group(&[5; 32]).unwrap();
    let add = ga.add(&alice, &[bob.key_package().unwrap()]).unwrap();
    ga.confirm(&alice).unwrap();
    bob.join(add.welcome.as_ref().unwrap()).unwrap();
    let records = bob.changes().unwrap().put;
    let whole = Member::restore(signer(2), records.clone()).unwrap();
    assert!(whole.load(&[5; 32]).unwrap().is_some());
    // Each record cut short, or with a byte changed: loading fails or succeeds, but
    // never panics; the tree (the largest record) cut short fails.
    for i in 0..records.len() {
        for damage in 0..2 {
            let mut damaged = records.clone();
            let value = &mut damaged[i].1;
            if damage == 0 {
                let n = value.len() / 2;
                value.truncate(n);
            } else if let Some(b) = value.first_mut() {
                *b ^= 0xff;
            }
            let m = Member::restore(signer(2), damaged).unwrap();
            let _ = m.load(&[5; 32]);
        }
    }
    // The largest node of the tree (a leaf), cut short: loading fails; so does a missing one.
    let tree = records
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| k[0] == kind::TREE_NODE)
        .max_by_key(|(_, (_, v))| v.len())
        .map(|(i, _)| i)
        .unwrap();
    let mut missing = records.clone();
    missing.remove(tree);
    let m = Member::restore(signer(2), missing).unwrap();
    assert!(matches!(
        m.load(&[5; 32]),
        Err(crate::GroupError::Storage(_))
    ));
    let mut damaged = records.clone();
    damaged[tree].1.truncate(100);
    let m = Member::restore(signer(2), damaged).unwrap();
    assert!(matches!(
        m.load(&[5; 32]),
        Err(crate::GroupError::Storage(_))
    ));
}

#[test]
fn records_of_the_json_storage_of_earlier_versions_are_refused_by_name() {
    use openmls::prelude::MlsGroup;
    use openmls_traits::OpenMlsProvider;
    use openmls_traits::storage::StorageProvider;
    let alice = Member::new(signer(1)).unwrap();
    let g = alice.create_group(&[6; 32]).unwrap();
    let gid = openmls::prelude::GroupId::from_slice(g.id());
    let mls = MlsGroup::load(alice.provider().storage(), &gid)
        .unwrap()
        .unwrap();
    // What openmls's JSON storage wrote for this group's tree and own leaf index.
    let json = openmls_memory_storage::MemoryStorage::default();
    json.write_tree(&gid, mls.treesync()).unwrap();
    json.write_own_leaf_index(&gid, &mls.own_leaf_index())
        .unwrap();
    let records: Vec<(Vec<u8>, Zeroizing<Vec<u8>>)> = json
        .values
        .read()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), Zeroizing::new(v.clone())))
        .collect();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|(k, _)| super::is_json_storage_key(k)));
    let Err(crate::GroupError::Storage(e)) = Member::restore(signer(1), records) else {
        panic!("JSON records restored");
    };
    assert!(e.contains("earlier version"), "{e}");
    // None of ours looks like one.
    let ours = alice.changes().unwrap().put;
    assert!(!ours.is_empty());
    assert!(ours.iter().all(|(k, _)| !super::is_json_storage_key(k)));
    assert!(Member::restore(signer(1), ours).is_ok());
}

/// After a group's life (key packages, creation, an add, a Welcome, commits, messages), every
/// kind of record openmls writes here is present; a member restored from the records loads the
/// group, and what openmls reads back re-encodes to the very bytes stored.
#[test]
fn every_record_kind_round_trips_through_a_restore() {
    use openmls::prelude::MlsGroup;
    use openmls_traits::OpenMlsProvider;
    use openmls_traits::storage::StorageProvider;
    let alice = Member::new(signer(1)).unwrap();
    let mut bob = Member::new(signer(2)).unwrap();
    let spare = bob.key_package().unwrap();
    let mut ga = alice.create_group(&[7; 32]).unwrap();
    let add = ga.add(&alice, &[bob.key_package().unwrap()]).unwrap();
    ga.confirm(&alice).unwrap();
    let mut gb = bob.join(add.welcome.as_ref().unwrap()).unwrap();
    let up = ga.update(&alice).unwrap();
    ga.confirm(&alice).unwrap();
    gb.receive(&bob, &up.commit).unwrap();
    let m = ga.send(&alice, b"hello").unwrap();
    gb.receive(&bob, &m).unwrap();
    drop(spare);
    let records = bob.changes().unwrap().put;
    bob.commit().unwrap();
    let kinds: BTreeSet<u8> = records.iter().map(|(k, _)| k[0]).collect();
    for k in [
        kind::KEY_PACKAGE,
        kind::EPOCH_KEY_PAIRS,
        kind::TREE,
        kind::TREE_NODE,
        kind::GROUP_CONTEXT,
        kind::INTERIM_TRANSCRIPT_HASH,
        kind::CONFIRMATION_TAG,
        kind::JOIN_CONFIG,
        kind::GROUP_STATE,
        kind::OWN_LEAF_NODE_INDEX,
        kind::EPOCH_SECRETS,
        kind::RESUMPTION_PSK,
        kind::MESSAGE_SECRETS,
    ] {
        assert!(kinds.contains(&k), "kind {k} missing from {kinds:?}");
    }
    let restored = Member::restore(signer(2), records).unwrap();
    let g = restored.load(&[7; 32]).unwrap().unwrap();
    assert_eq!(g.epoch_authenticator(), ga.epoch_authenticator());
    // openmls's values, read back and written again: nothing changes.
    let gid = openmls::prelude::GroupId::from_slice(&[7; 32]);
    let mls = MlsGroup::load(restored.provider().storage(), &gid)
        .unwrap()
        .unwrap();
    let s = restored.provider().storage();
    s.write_tree(&gid, mls.treesync()).unwrap();
    s.write_confirmation_tag(&gid, mls.confirmation_tag())
        .unwrap();
    s.write_mls_join_config(&gid, mls.configuration()).unwrap();
    s.write_own_leaf_index(&gid, &mls.own_leaf_index()).unwrap();
    assert!(restored.changes().unwrap().is_empty());
    // And the restored member goes on: it reads the next message.
    let m = ga.send(&alice, b"again").unwrap();
    let mut g = g;
    assert!(matches!(
        g.receive(&restored, &m).unwrap(),
        crate::Received::Message { .. }
    ));
}
