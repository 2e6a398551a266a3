//! Groups in the engine end to end between three users, with real MLS, real crypto and real
//! encrypted redb stores in temp dirs (the harness: `common/mod.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

#[test]
fn three_members_create_invite_join_talk_and_a_removed_member_reads_nothing_after() {
    let mut rng = ChaCha20Rng::seed_from_u64(16);
    let (mut alice, mut bob, mut carol) = (
        User::new(&mut rng),
        User::new(&mut rng),
        User::new(&mut rng),
    );
    open(&mut alice, &bob, &mut rng);
    open(&mut alice, &carol, &mut rng);
    let mut net = Net::default();
    let mut now = T0 + 1;

    // Only members with a session can be invited.
    let stranger = User::new(&mut rng);
    assert!(matches!(
        alice
            .engine
            .create_group("Friends", &[stranger.id], now, &mut rng),
        Err(EngineError::UnknownSession(_))
    ));
    assert!(
        alice
            .engine
            .create_group("  ", &[bob.id], now, &mut rng)
            .is_err()
    );

    let g = alice
        .engine
        .create_group("Friends", &[bob.id, carol.id], now, &mut rng)
        .unwrap();
    assert_eq!(g.admins, vec![alice.id]);
    assert_eq!(g.members, vec![alice.id]);
    assert_eq!(g.invited, vec![bob.id, carol.id]);
    let gid = g.id;

    // Key packages are asked for and sent; Alice commits one add at a time; each invitation
    // waits for its user.
    settle(
        &mut [&mut alice, &mut bob, &mut carol],
        &mut net,
        &mut now,
        &mut rng,
    );
    assert_eq!(accept_invites(&mut bob, now, &mut rng), 1);
    assert_eq!(accept_invites(&mut carol, now, &mut rng), 1);
    settle(
        &mut [&mut alice, &mut bob, &mut carol],
        &mut net,
        &mut now,
        &mut rng,
    );
    // Carol was added after Bob joined, so he processes her add.
    assert_eq!(accept_invites(&mut carol, now, &mut rng), 0);
    settle(
        &mut [&mut alice, &mut bob, &mut carol],
        &mut net,
        &mut now,
        &mut rng,
    );

    let views: Vec<_> = [&mut alice, &mut bob, &mut carol]
        .into_iter()
        .map(|u| {
            let gs = u.engine.groups(&mut rng).unwrap();
            assert_eq!(gs.len(), 1);
            gs[0].clone()
        })
        .collect();
    for v in &views {
        assert_eq!(v.state, GroupState::Active);
        assert_eq!(v.name, "Friends");
        assert_eq!(v.epoch, views[0].epoch, "every member at the same epoch");
        let mut m = v.members.clone();
        m.sort();
        let mut want = vec![alice.id, bob.id, carol.id];
        want.sort();
        assert_eq!(m, want);
        assert!(v.invited.is_empty());
    }
    assert!(views[0].admin && !views[1].admin && !views[2].admin);
    // One access record per membership change (creation, two adds).
    assert_eq!(net.access_records, 3);
    let tokens: Vec<_> = [&alice, &bob, &carol]
        .iter()
        .map(|u| u.engine.group_access().unwrap()[0].token.clone())
        .collect();
    assert!(
        tokens[0] == tokens[1] && tokens[1] == tokens[2],
        "one token per epoch"
    );

    // All three talk: one store per message.
    let before = net.groups[&gid].len();
    alice
        .engine
        .send_group_message(&gid, "hi all", now, &mut rng)
        .unwrap();
    bob.engine
        .send_group_message(&gid, "hi from bob", now, &mut rng)
        .unwrap();
    carol
        .engine
        .send_group_message(&gid, "hi from carol", now, &mut rng)
        .unwrap();
    settle(
        &mut [&mut alice, &mut bob, &mut carol],
        &mut net,
        &mut now,
        &mut rng,
    );
    assert_eq!(net.groups[&gid].len(), before + 3);
    for u in [&alice, &bob, &carol] {
        let mut t = texts(u, &gid);
        t.sort();
        assert_eq!(
            t,
            vec!["hi all", "hi from bob", "hi from carol"],
            "{}",
            u.id.short()
        );
    }
    let sent = alice.engine.group_messages(&gid, 0, 100).unwrap();
    let mine = sent
        .iter()
        .find(|m| m.message.outgoing && m.message.content == b"hi all")
        .unwrap();
    assert_eq!(mine.message.delivery, Delivery::Stored(3));
    assert_eq!(bob.engine.groups(&mut rng).unwrap()[0].unread, 2);

    // Bob restarts: his group state comes back from his store.
    bob.restart();

    // Only admins remove.
    assert!(matches!(
        bob.engine
            .remove_group_members(&gid, &[carol.id], now, &mut rng),
        Err(EngineError::NotAdmin(_))
    ));
    alice
        .engine
        .remove_group_members(&gid, &[carol.id], now, &mut rng)
        .unwrap();
    settle(
        &mut [&mut alice, &mut bob, &mut carol],
        &mut net,
        &mut now,
        &mut rng,
    );
    let carol_view = carol.engine.groups(&mut rng).unwrap()[0].clone();
    assert_eq!(carol_view.state, GroupState::Removed);
    let lines: Vec<String> = carol
        .engine
        .group_messages(&gid, 0, 100)
        .unwrap()
        .into_iter()
        .map(|m| String::from_utf8(m.message.content).unwrap())
        .collect();
    assert!(lines.iter().any(|l| l.contains("removed you")), "{lines:?}");
    // A new token for the new epoch, which Carol cannot derive.
    let a = alice.engine.group_access().unwrap()[0].token.clone();
    let b = bob.engine.group_access().unwrap()[0].token.clone();
    let c = carol.engine.group_access().unwrap()[0].token.clone();
    assert!(a == b && a != c);

    alice
        .engine
        .send_group_message(&gid, "after carol", now, &mut rng)
        .unwrap();
    settle(
        &mut [&mut alice, &mut bob, &mut carol],
        &mut net,
        &mut now,
        &mut rng,
    );
    assert!(texts(&bob, &gid).contains(&"after carol".to_string()));
    assert!(!texts(&carol, &gid).contains(&"after carol".to_string()));
    // Even fed the item directly, Carol's daemon opens nothing of the new epoch.
    let last = net.groups[&gid].last().unwrap().clone();
    let Payload::Inline(mls) = Payload::decode(&last).unwrap() else {
        panic!("a text is inline")
    };
    let r = carol
        .engine
        .group_receive(&gid, &[9; 32], &mls, now, &mut rng)
        .unwrap();
    assert_eq!(r, GroupReceived::Done("not a member"));
    assert!(!texts(&carol, &gid).contains(&"after carol".to_string()));
}

#[test]
fn bad_items_are_refused_and_change_nothing() {
    let mut rng = ChaCha20Rng::seed_from_u64(17);
    let (mut alice, mut bob) = (User::new(&mut rng), User::new(&mut rng));
    open(&mut alice, &bob, &mut rng);
    let mut net = Net::default();
    let mut now = T0 + 1;
    let gid = alice
        .engine
        .create_group("Pair", &[bob.id], now, &mut rng)
        .unwrap()
        .id;
    settle(&mut [&mut alice, &mut bob], &mut net, &mut now, &mut rng);
    assert_eq!(accept_invites(&mut bob, now, &mut rng), 1);
    settle(&mut [&mut alice, &mut bob], &mut net, &mut now, &mut rng);
    alice
        .engine
        .send_group_message(&gid, "one", now, &mut rng)
        .unwrap();
    settle(&mut [&mut alice], &mut net, &mut now, &mut rng);
    let item = net.groups[&gid].last().unwrap().clone();
    let Payload::Inline(mls) = Payload::decode(&item).unwrap() else {
        panic!("inline")
    };
    let epoch = bob.engine.groups(&mut rng).unwrap()[0].epoch;

    // Tampered: refused, nothing shown, the group unchanged.
    let mut bad = mls.clone();
    let n = bad.len();
    bad[n - 10] ^= 1;
    assert!(matches!(
        bob.engine
            .group_receive(&gid, &[1; 32], &bad, now, &mut rng),
        Err(EngineError::Group(_))
    ));
    // Garbage.
    assert!(
        bob.engine
            .group_receive(&gid, &[2; 32], b"not mls", now, &mut rng)
            .is_err()
    );
    // For a group we are not in.
    assert!(matches!(
        bob.engine
            .group_receive(&GroupId([7; 32]), &[3; 32], &mls, now, &mut rng),
        Err(EngineError::UnknownGroup(_))
    ));
    assert!(texts(&bob, &gid).is_empty());
    assert_eq!(bob.engine.groups(&mut rng).unwrap()[0].epoch, epoch);

    // The real one opens once; again (a replay, or read from another member) it is skipped.
    let h = content_hash(&item);
    bob.engine
        .group_receive(&gid, &h, &mls, now, &mut rng)
        .unwrap();
    assert_eq!(
        bob.engine
            .group_receive(&gid, &h, &mls, now, &mut rng)
            .unwrap(),
        GroupReceived::Done("seen before")
    );
    assert_eq!(texts(&bob, &gid), vec!["one"]);

    // Members cannot do what admins do; nobody can act in a group they are not in.
    assert!(matches!(
        bob.engine.rename_group(&gid, "Mine", now, &mut rng),
        Err(EngineError::NotAdmin(_))
    ));
    assert!(matches!(
        bob.engine
            .send_group_message(&GroupId([7; 32]), "x", now, &mut rng),
        Err(EngineError::UnknownGroup(_))
    ));
    // Too long for one store.
    let long = "x".repeat(pars_wire::group::MAX_GROUP_TEXT + 1);
    assert!(matches!(
        bob.engine.send_group_message(&gid, &long, now, &mut rng),
        Err(EngineError::TooLarge { .. })
    ));
}

#[test]
fn a_member_who_leaves_is_removed_by_the_admin_and_the_last_admin_hands_over() {
    let mut rng = ChaCha20Rng::seed_from_u64(18);
    let (mut alice, mut bob) = (User::new(&mut rng), User::new(&mut rng));
    open(&mut alice, &bob, &mut rng);
    let mut net = Net::default();
    let mut now = T0 + 1;
    let gid = alice
        .engine
        .create_group("Two", &[bob.id], now, &mut rng)
        .unwrap()
        .id;
    settle(&mut [&mut alice, &mut bob], &mut net, &mut now, &mut rng);
    accept_invites(&mut bob, now, &mut rng);
    settle(&mut [&mut alice, &mut bob], &mut net, &mut now, &mut rng);

    // Alice, the only admin, leaves: Bob becomes admin with the owner key, and removes her.
    alice.engine.leave_group(&gid, now, &mut rng).unwrap();
    settle(&mut [&mut alice, &mut bob], &mut net, &mut now, &mut rng);
    let a = alice.engine.groups(&mut rng).unwrap()[0].clone();
    assert_eq!(a.state, GroupState::Left);
    let b = bob.engine.groups(&mut rng).unwrap()[0].clone();
    assert!(b.admin, "{b:?}");
    assert_eq!(b.members, vec![bob.id]);
    // Bob's access record for the epoch without Alice was stored: he holds the owner key.
    assert_eq!(net.access_records, 3);
    bob.engine
        .rename_group(&gid, "Solo", now, &mut rng)
        .unwrap();
    assert!(matches!(
        alice
            .engine
            .send_group_message(&gid, "still here?", now, &mut rng),
        Err(EngineError::GroupInactive(_))
    ));
}
