#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The rules a Pars group adds to MLS: only the admins' commits are merged, and a member
//! removed (or left behind) can be added back and join afresh.

use pars_group::{GroupError, Received};

mod common;
use common::trio;

#[test]
fn a_commit_by_someone_not_an_admin_is_refused_before_it_is_merged() {
    let ([a, b, c], [mut ga, mut gb, mut gc]) = trio();
    let admins = [a.session_id()];
    // Bob (a member, not an admin) removes Carol.
    let rogue = gb.remove(&b, &[c.session_id()]).unwrap();
    for (g, m) in [(&mut ga, &a), (&mut gc, &c)] {
        let before = g.epoch_authenticator();
        match g.receive_checked(m, &rogue.commit, &admins) {
            Err(GroupError::NotAllowed(why)) => {
                assert!(why.contains("without being an admin"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(g.epoch(), 1);
        assert_eq!(g.epoch_authenticator(), before);
    }
    // Carol is still in, and the admin's own commit for the same epoch is taken by all.
    assert_eq!(gc.members().len(), 3);
    let update = ga.update(&a).unwrap();
    ga.confirm(&a).unwrap();
    match gc.receive_checked(&c, &update.commit, &admins).unwrap() {
        Received::Commit { by, epoch, .. } => {
            assert_eq!(by, a.session_id());
            assert_eq!(epoch, 2);
        }
        other => panic!("{other:?}"),
    }
    // Bob's own rogue commit is dropped when the admin's comes first.
    match gb.receive_checked(&b, &update.commit, &admins).unwrap() {
        Received::Commit { ours_dropped, .. } => assert!(ours_dropped),
        other => panic!("{other:?}"),
    }
    assert_eq!(gb.epoch_authenticator(), ga.epoch_authenticator());
    assert_eq!(gc.epoch_authenticator(), ga.epoch_authenticator());
    // Without the rule, MLS itself would have taken Bob's commit.
    let ([_, b2, c2], [_, mut gb2, mut gc2]) = trio();
    let rogue = gb2.remove(&b2, &[c2.session_id()]).unwrap();
    assert!(matches!(
        gc2.receive(&c2, &rogue.commit).unwrap(),
        Received::Commit {
            removed_us: true,
            ..
        }
    ));
}

#[test]
fn a_removed_member_added_back_joins_afresh_once_the_old_state_is_forgotten() {
    let ([a, b, mut c], [mut ga, mut gb, mut gc]) = trio();
    let removal = ga.remove(&a, &[c.session_id()]).unwrap();
    ga.confirm(&a).unwrap();
    gb.receive(&b, &removal.commit).unwrap();
    assert!(matches!(
        gc.receive(&c, &removal.commit).unwrap(),
        Received::Commit {
            removed_us: true,
            ..
        }
    ));
    // Added back: a new key package, a new Welcome.
    let kp = c.key_package().unwrap();
    // Carol's state as her daemon would have persisted it.
    c.commit().unwrap();
    let add = ga.add(&a, &[kp]).unwrap();
    ga.confirm(&a).unwrap();
    gb.receive(&b, &add.commit).unwrap();
    let welcome = add.welcome.unwrap();
    // The storage still holds the old group under the same ID: joining over it is refused
    // (and rolled back, as the daemon does with any failed operation).
    assert!(c.join(&welcome).is_err());
    c.rollback().unwrap();
    c.forget(ga.id()).unwrap();
    assert!(c.load(ga.id()).unwrap().is_none());
    let mut gc = c.join(&welcome).unwrap();
    assert_eq!(gc.epoch(), 3);
    assert_eq!(gc.epoch_authenticator(), ga.epoch_authenticator());
    let m = gb.send(&b, b"welcome back").unwrap();
    match gc.receive(&c, &m).unwrap() {
        Received::Message { sender, body } => {
            assert_eq!(sender, b.session_id());
            assert_eq!(body, b"welcome back");
        }
        other => panic!("{other:?}"),
    }
}
