#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The group core with real MLS (openmls, the Pars ciphersuite): members join through Welcomes,
//! send and receive, are removed, and every kind of bad input is refused with the group state
//! unchanged.

use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::{BasicCredential, CredentialWithKey, KeyPackage, MlsMessageOut};
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_group::{Group, GroupError, IdentitySigner, Member, Received, SUITE};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

mod common;
use common::{member, trio};

fn message(g: &mut Group, me: &Member, bytes: &[u8]) -> (pars_crypto::SessionId, Vec<u8>) {
    match g.receive(me, bytes).unwrap() {
        Received::Message { sender, body } => (sender, body),
        other => panic!("not a message: {other:?}"),
    }
}

#[test]
fn three_members_join_send_and_receive_on_one_epoch() {
    let ([a, b, c], [mut ga, mut gb, mut gc]) = trio();
    assert_eq!(ga.epoch(), 1);
    assert_eq!(gb.epoch(), 1);
    let ids = vec![a.session_id(), b.session_id(), c.session_id()];
    assert_eq!(ga.members(), ids);
    assert_eq!(gc.members(), ids);
    assert_eq!(ga.epoch_authenticator(), gb.epoch_authenticator());
    assert_eq!(gb.epoch_authenticator(), gc.epoch_authenticator());

    let m = ga.send(&a, b"hello from alice").unwrap();
    assert_eq!(
        message(&mut gb, &b, &m),
        (a.session_id(), b"hello from alice".to_vec())
    );
    assert_eq!(
        message(&mut gc, &c, &m),
        (a.session_id(), b"hello from alice".to_vec())
    );
    let m = gc.send(&c, b"carol here").unwrap();
    assert_eq!(message(&mut ga, &a, &m).0, c.session_id());
    assert_eq!(message(&mut gb, &b, &m).1, b"carol here");
}

#[test]
fn a_removed_member_reads_nothing_sent_afterwards() {
    let ([a, b, c], [mut ga, mut gb, mut gc]) = trio();
    let commit = ga.remove(&a, &[c.session_id()]).unwrap();
    ga.confirm(&a).unwrap();
    match gb.receive(&b, &commit.commit).unwrap() {
        Received::Commit {
            by, removed, epoch, ..
        } => {
            assert_eq!(by, a.session_id());
            assert_eq!(removed, vec![c.session_id()]);
            assert_eq!(epoch, 2);
        }
        other => panic!("{other:?}"),
    }
    match gc.receive(&c, &commit.commit).unwrap() {
        Received::Commit { removed_us, .. } => assert!(removed_us),
        other => panic!("{other:?}"),
    }
    assert!(!gc.is_active());
    assert_eq!(ga.members(), vec![a.session_id(), b.session_id()]);

    let after = ga.send(&a, b"carol must not read this").unwrap();
    assert_eq!(message(&mut gb, &b, &after).1, b"carol must not read this");
    assert!(gc.receive(&c, &after).is_err());
    assert_ne!(gc.epoch_authenticator(), ga.epoch_authenticator());
}

#[test]
fn members_derive_one_access_token_per_epoch_and_a_removed_member_not_the_next() {
    let ([a, b, c], [mut ga, mut gb, mut gc]) = trio();
    let t1 = ga.access_token(&a).unwrap();
    assert_eq!(*gb.access_token(&b).unwrap(), *t1);
    assert_eq!(*gc.access_token(&c).unwrap(), *t1);
    // Bound to the group: another group of the same members in the same epoch has another.
    let other = a.create_group(&[9; 32]).unwrap();
    assert_ne!(*other.access_token(&a).unwrap(), *t1);
    // Carol is removed: the remaining members agree on a new token, Carol derives none.
    let commit = ga.remove(&a, &[c.session_id()]).unwrap();
    ga.confirm(&a).unwrap();
    gb.receive(&b, &commit.commit).unwrap();
    gc.receive(&c, &commit.commit).unwrap();
    let t2 = ga.access_token(&a).unwrap();
    assert_ne!(*t2, *t1);
    assert_eq!(*gb.access_token(&b).unwrap(), *t2);
    assert!(matches!(
        gc.access_token(&c),
        Err(GroupError::NotAllowed(_))
    ));
}

#[test]
fn tampered_and_replayed_messages_are_refused_and_change_nothing() {
    let ([a, b, _c], [mut ga, mut gb, _gc]) = trio();
    let m = ga.send(&a, b"one").unwrap();
    let mut bad = m.clone();
    let n = bad.len();
    bad[n - 5] ^= 1;
    let e = gb.receive(&b, &bad).unwrap_err();
    assert!(matches!(e, GroupError::Refused(_)), "{e:?}");
    // The untouched original still decrypts: the refusal changed nothing.
    assert_eq!(message(&mut gb, &b, &m).1, b"one");
    // Again: a replay.
    assert!(matches!(gb.receive(&b, &m), Err(GroupError::Refused(_))));
    // Garbage.
    assert!(matches!(
        gb.receive(&b, b"\x00\x01garbage"),
        Err(GroupError::Malformed(_))
    ));
    assert!(matches!(gb.receive(&b, &[]), Err(GroupError::Malformed(_))));
    let m2 = ga.send(&a, b"two").unwrap();
    assert_eq!(message(&mut gb, &b, &m2).1, b"two");
}

#[test]
fn messages_of_other_epochs_and_groups_are_refused() {
    let ([a, b, c], [mut ga, mut gb, mut gc]) = trio();
    // A commit Bob has not seen: Alice's next message is from a future epoch for him.
    let commit = ga.update(&a).unwrap();
    ga.confirm(&a).unwrap();
    let future = ga.send(&a, b"epoch 2").unwrap();
    let e = gb.receive(&b, &future).unwrap_err();
    assert!(
        matches!(
            e,
            GroupError::WrongEpoch {
                message: 2,
                group: 1
            }
        ),
        "{e:?}"
    );
    gb.receive(&b, &commit.commit).unwrap();
    assert_eq!(message(&mut gb, &b, &future).1, b"epoch 2");
    // The same commit again: stale.
    let e = gb.receive(&b, &commit.commit).unwrap_err();
    assert!(
        matches!(
            e,
            GroupError::WrongEpoch {
                message: 1,
                group: 2
            }
        ),
        "{e:?}"
    );
    gc.receive(&c, &commit.commit).unwrap();

    // Mallory's own group under the same ID: its messages do not pass in Alice's.
    let m = member(66);
    let mut gm = m.create_group(&[7; 32]).unwrap();
    let forged = gm.send(&m, b"i am a member").unwrap();
    assert!(gb.receive(&b, &forged).is_err());
    let other = m.create_group(&[8; 32]).unwrap();
    let _ = other;
    assert_eq!(gb.epoch(), 2);
}

#[test]
fn a_key_package_claiming_another_session_id_is_refused() {
    let [a, b, mallory] = [member(1), member(2), member(9)];
    let mut ga = a.create_group(&[1; 32]).unwrap();
    // Mallory's key, Bob's Session ID in the credential.
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let signer = IdentitySigner::new(MlDsaSigningKey::generate(&mut rng), &mut rng);
    let forged = CredentialWithKey {
        credential: BasicCredential::new(b.session_id().as_bytes().to_vec()).into(),
        signature_key: signer.credential().signature_key,
    };
    let kp = KeyPackage::builder()
        .build(SUITE, mallory.provider(), &signer, forged)
        .unwrap();
    let bytes = MlsMessageOut::from(kp.key_package().clone())
        .tls_serialize_detached()
        .unwrap();
    let e = ga.add(&a, &[bytes]).unwrap_err();
    assert!(matches!(e, GroupError::Credential(_)), "{e:?}");
    assert_eq!(ga.epoch(), 0);
    assert_eq!(ga.members(), vec![a.session_id()]);
    // Adding twice, or nobody, is refused too.
    let kp = b.key_package().unwrap();
    ga.add(&a, std::slice::from_ref(&kp)).unwrap();
    ga.confirm(&a).unwrap();
    assert!(matches!(ga.add(&a, &[kp]), Err(GroupError::BadInput(_))));
    assert!(matches!(ga.add(&a, &[]), Err(GroupError::BadInput(_))));
    assert!(matches!(
        ga.remove(&a, &[a.session_id()]),
        Err(GroupError::BadInput(_))
    ));
    assert!(matches!(
        ga.remove(&a, &[mallory.session_id()]),
        Err(GroupError::BadInput(_))
    ));
}

#[test]
fn a_welcome_for_someone_else_is_refused() {
    let [a, b, c] = [member(1), member(2), member(3)];
    let mut ga = a.create_group(&[3; 32]).unwrap();
    let commit = ga.add(&a, &[b.key_package().unwrap()]).unwrap();
    let e = c.join(commit.welcome.as_ref().unwrap()).unwrap_err();
    assert!(matches!(e, GroupError::NotInvited(_)), "{e:?}");
    assert!(matches!(
        c.join(&commit.commit),
        Err(GroupError::Malformed(_))
    ));
}

#[test]
fn concurrent_commits_the_first_stored_wins_and_the_other_is_proposed_again() {
    let ([a, b, c], [mut ga, mut gb, mut gc]) = trio();
    // Both commit for epoch 1 → 2; Alice's was stored first.
    let ours = ga.update(&a).unwrap();
    let theirs = gb.update(&b).unwrap();
    ga.confirm(&a).unwrap();
    match gb.receive(&b, &ours.commit).unwrap() {
        Received::Commit {
            ours_dropped,
            epoch,
            ..
        } => {
            assert!(ours_dropped);
            assert_eq!(epoch, 2);
        }
        other => panic!("{other:?}"),
    }
    gc.receive(&c, &ours.commit).unwrap();
    // Bob's losing commit, arriving late, is stale for everyone.
    assert!(matches!(
        ga.receive(&a, &theirs.commit),
        Err(GroupError::WrongEpoch { .. })
    ));
    assert!(matches!(
        gc.receive(&c, &theirs.commit),
        Err(GroupError::WrongEpoch { .. })
    ));
    // Bob proposes it again in the new epoch.
    let again = gb.update(&b).unwrap();
    gb.confirm(&b).unwrap();
    ga.receive(&a, &again.commit).unwrap();
    gc.receive(&c, &again.commit).unwrap();
    assert_eq!(ga.epoch(), 3);
    assert_eq!(ga.epoch_authenticator(), gb.epoch_authenticator());
    assert_eq!(gb.epoch_authenticator(), gc.epoch_authenticator());
    // A pending commit blocks sending until confirmed or dropped.
    let _ = ga.update(&a).unwrap();
    assert!(matches!(ga.send(&a, b"x"), Err(GroupError::NotAllowed(_))));
    ga.drop_pending(&a).unwrap();
    ga.send(&a, b"x").unwrap();
}

/// The records a caller persisted, as the client store would hold them.
type Disk = std::collections::HashMap<Vec<u8>, zeroize::Zeroizing<Vec<u8>>>;

/// Writes `m`'s changes to `disk` and commits them, as the daemon does in one transaction;
/// returns how many records it deleted.
fn persist(m: &mut Member, disk: &mut Disk) -> usize {
    let c = m.changes().unwrap();
    let deleted = c.delete.len();
    for k in c.delete {
        assert!(disk.remove(&k).is_some(), "deleting a record never written");
    }
    for (k, v) in c.put {
        disk.insert(k, v);
    }
    m.commit().unwrap();
    assert!(m.changes().unwrap().is_empty());
    deleted
}

fn signer(seed: u64) -> IdentitySigner {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let key = MlDsaSigningKey::generate(&mut rng);
    IdentitySigner::new(key, &mut rng)
}

#[test]
fn the_state_survives_a_restart_from_its_persisted_changes_and_a_rollback_forgets() {
    let ([a, mut b, _c], [mut ga, mut gb, _gc]) = trio();
    let mut disk = Disk::new();
    persist(&mut b, &mut disk);
    assert!(!disk.is_empty());

    let m1 = ga.send(&a, b"one").unwrap();
    assert_eq!(message(&mut gb, &b, &m1).1, b"one");
    persist(&mut b, &mut disk);
    let commit = ga.update(&a).unwrap();
    ga.confirm(&a).unwrap();
    gb.receive(&b, &commit.commit).unwrap();
    // The new epoch replaces the last one's keys: records are deleted as well as written.
    assert!(persist(&mut b, &mut disk) > 0);

    // A refused message writes nothing.
    let mut bad = ga.send(&a, b"two").unwrap();
    let n = bad.len();
    bad[n - 3] ^= 1;
    assert!(gb.receive(&b, &bad).is_err());
    assert!(
        b.changes().unwrap().is_empty(),
        "a refusal changed the state"
    );

    // A restart: a new member from the persisted records, same identity.
    drop((b, gb));
    let mut b = Member::restore(signer(2), disk.clone()).unwrap();
    assert!(b.changes().unwrap().is_empty());
    let mut gb = b
        .load(&[7; 32])
        .unwrap()
        .expect("the group is in the store");
    assert_eq!(gb.epoch(), 2);
    assert_eq!(gb.epoch_authenticator(), ga.epoch_authenticator());
    let m3 = ga.send(&a, b"three").unwrap();
    assert_eq!(message(&mut gb, &b, &m3).1, b"three");

    // Not persisted (the daemon crashed before its transaction, or it failed): rolled back,
    // the same message decrypts once more instead of being lost.
    b.rollback().unwrap();
    assert!(b.changes().unwrap().is_empty());
    let mut gb = b.load(&[7; 32]).unwrap().unwrap();
    assert_eq!(message(&mut gb, &b, &m3).1, b"three");
    persist(&mut b, &mut disk);
    // Persisted: now it is a replay.
    let b2 = Member::restore(signer(2), disk).unwrap();
    let mut again = b2.load(&[7; 32]).unwrap().unwrap();
    assert!(again.receive(&b2, &m3).is_err());
    assert!(b2.load(&[9; 32]).unwrap().is_none());
}

#[test]
fn refusals_write_nothing_to_the_group_state() {
    let ([a, mut b, _c], [mut ga, mut gb, _gc]) = trio();
    b.commit().unwrap();
    // A commit from a non-member: Mallory's own group under the same ID.
    let mallory = member(66);
    let mut gm = mallory.create_group(&[7; 32]).unwrap();
    let forged = gm.update(&mallory).unwrap();
    assert!(gb.receive(&b, &forged.commit).is_err());
    // A future commit (one missed), then a tampered one.
    let c1 = ga.update(&a).unwrap();
    ga.confirm(&a).unwrap();
    let c2 = ga.update(&a).unwrap();
    ga.confirm(&a).unwrap();
    assert!(matches!(
        gb.receive(&b, &c2.commit),
        Err(GroupError::WrongEpoch {
            message: 2,
            group: 1
        })
    ));
    let mut tampered = c1.commit.clone();
    let n = tampered.len();
    tampered[n - 4] ^= 1;
    assert!(gb.receive(&b, &tampered).is_err());
    // A Welcome for someone else.
    let carol2 = member(33);
    let mut gx = mallory.create_group(&[8; 32]).unwrap();
    let w = gx.add(&mallory, &[carol2.key_package().unwrap()]).unwrap();
    assert!(matches!(
        b.join(w.welcome.as_ref().unwrap()),
        Err(GroupError::NotInvited(_))
    ));
    assert!(b.changes().unwrap().is_empty(), "a refusal wrote state");
    assert_eq!(gb.epoch(), 1);

    // The genuine commits still apply, in order.
    gb.receive(&b, &c1.commit).unwrap();
    gb.receive(&b, &c2.commit).unwrap();
    assert_eq!(gb.epoch_authenticator(), ga.epoch_authenticator());
    assert!(!b.changes().unwrap().is_empty());
}
