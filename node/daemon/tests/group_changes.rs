//! Groups over time, in the engine with real MLS and real stores (the harness:
//! `common/mod.rs`): two admins changing the group at once, a member who leaves while a change
//! is pending, a member left behind by changes that expired and then added back, and the
//! access record renewed before the swarm forgets it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use sessiond::engine::{BEHIND_WARN_SECS, RENEW_ACCESS_SECS};

/// Alice's group "Four" with Bob, Carol and Dave joined; everyone has a session with Alice
/// and Bob with Dave.
fn four(rng: &mut ChaCha20Rng, net: &mut Net, now: &mut u64) -> ([User; 4], GroupId) {
    let [mut a, mut b, mut c, mut d] = [
        User::new(rng),
        User::new(rng),
        User::new(rng),
        User::new(rng),
    ];
    for p in [&b, &c, &d] {
        open(&mut a, p, rng);
    }
    open(&mut b, &d, rng);
    let gid = a
        .engine
        .create_group("Four", &[b.id, c.id, d.id], *now, rng)
        .unwrap()
        .id;
    settle(&mut [&mut a, &mut b, &mut c, &mut d], net, now, rng);
    for u in [&mut b, &mut c, &mut d] {
        assert_eq!(accept_invites(u, *now, rng), 1);
    }
    settle(&mut [&mut a, &mut b, &mut c, &mut d], net, now, rng);
    ([a, b, c, d], gid)
}

fn summary(u: &mut User, rng: &mut ChaCha20Rng) -> sessiond::engine::GroupSummary {
    u.engine.groups(rng).unwrap().remove(0)
}

fn lines(u: &User, g: &GroupId) -> Vec<String> {
    u.engine
        .group_messages(g, 0, 1000)
        .unwrap()
        .into_iter()
        .filter(|m| m.message.content_type == ContentType::GroupControl as u8)
        .map(|m| String::from_utf8(m.message.content).unwrap())
        .collect()
}

#[test]
fn two_admins_change_the_group_at_once_and_the_losing_change_is_made_again() {
    let mut rng = ChaCha20Rng::seed_from_u64(31);
    let mut net = Net::default();
    let mut now = T0 + 1;
    let ([mut a, mut b, mut c, mut d], gid) = four(&mut rng, &mut net, &mut now);
    // Alice makes Bob admin (he gets the owner key over their session).
    a.engine
        .add_group_admins(&gid, &[b.id], now, &mut rng)
        .unwrap();
    settle(
        &mut [&mut a, &mut b, &mut c, &mut d],
        &mut net,
        &mut now,
        &mut rng,
    );
    let sb = summary(&mut b, &mut rng);
    assert!(sb.admin && sb.admins.contains(&a.id), "{sb:?}");
    assert!(
        lines(&c, &gid)
            .iter()
            .any(|l| l.contains("made") && l.contains("admin")),
        "{:?}",
        lines(&c, &gid)
    );
    let epoch = sb.epoch;

    // At the same epoch: Alice removes Carol, Bob removes Dave. Both commits are made before
    // either reads the other's; Alice's is stored first and wins everywhere.
    a.engine
        .remove_group_members(&gid, &[c.id], now, &mut rng)
        .unwrap();
    b.engine
        .remove_group_members(&gid, &[d.id], now, &mut rng)
        .unwrap();
    let stored = net.groups[&gid].len();
    settle(
        &mut [&mut a, &mut b, &mut c, &mut d],
        &mut net,
        &mut now,
        &mut rng,
    );
    // Three commits: Alice's, Bob's (lost its epoch, skipped by all) and Bob's again.
    assert_eq!(net.groups[&gid].len(), stored + 3);
    let (sa, sb) = (summary(&mut a, &mut rng), summary(&mut b, &mut rng));
    assert_eq!(sa.members, vec![a.id, b.id]);
    assert_eq!(sb.members, sa.members);
    assert_eq!(sa.epoch, epoch + 2);
    assert_eq!(sb.epoch, sa.epoch);
    assert_eq!(summary(&mut c, &mut rng).state, GroupState::Removed);
    assert_eq!(summary(&mut d, &mut rng).state, GroupState::Removed);
    // Bob's new epoch has its access record: he holds the owner key.
    a.engine
        .send_group_message(&gid, "just us", now, &mut rng)
        .unwrap();
    settle(
        &mut [&mut a, &mut b, &mut c, &mut d],
        &mut net,
        &mut now,
        &mut rng,
    );
    assert_eq!(texts(&b, &gid), vec!["just us"]);
    assert!(texts(&c, &gid).is_empty() && texts(&d, &gid).is_empty());

    // Two adds at once: Alice invites Erin, Bob invites Frank; both key packages arrive
    // before either admin has read the other's commit.
    let mut e = User::new(&mut rng);
    let mut f = User::new(&mut rng);
    open(&mut a, &e, &mut rng);
    open(&mut b, &f, &mut rng);
    a.engine
        .add_group_members(&gid, &[e.id], now, &mut rng)
        .unwrap();
    b.engine
        .add_group_members(&gid, &[f.id], now, &mut rng)
        .unwrap();
    for _ in 0..2 {
        step(&mut a, &mut net, now, &mut rng);
        step(&mut b, &mut net, now, &mut rng);
        step(&mut e, &mut net, now, &mut rng);
        step(&mut f, &mut net, now, &mut rng);
    }
    // Bob commits the add of Frank and stores it first; Alice commits hers for the same
    // epoch and stores it after: hers loses, and she asks Erin for a fresh key package.
    step(&mut b, &mut net, now, &mut rng);
    step(&mut a, &mut net, now, &mut rng);
    settle(
        &mut [&mut a, &mut b, &mut e, &mut f],
        &mut net,
        &mut now,
        &mut rng,
    );
    for u in [&mut e, &mut f] {
        assert_eq!(accept_invites(u, now, &mut rng), 1);
    }
    settle(
        &mut [&mut a, &mut b, &mut e, &mut f],
        &mut net,
        &mut now,
        &mut rng,
    );
    let sa = summary(&mut a, &mut rng);
    let mut want = vec![a.id, b.id, e.id, f.id];
    want.sort();
    let mut got = sa.members.clone();
    got.sort();
    assert_eq!(got, want, "{sa:?}");
    assert!(sa.invited.is_empty());
    for u in [&mut b, &mut e, &mut f] {
        let s = summary(u, &mut rng);
        assert_eq!(s.epoch, sa.epoch);
        let mut m = s.members.clone();
        m.sort();
        assert_eq!(m, want);
    }
    a.engine
        .send_group_message(&gid, "hello erin and frank", now, &mut rng)
        .unwrap();
    settle(
        &mut [&mut a, &mut b, &mut e, &mut f],
        &mut net,
        &mut now,
        &mut rng,
    );
    assert_eq!(texts(&e, &gid), vec!["hello erin and frank"]);
    assert_eq!(texts(&f, &gid), vec!["hello erin and frank"]);
}

#[test]
fn a_member_who_leaves_while_a_change_is_pending_is_removed_after_it() {
    let mut rng = ChaCha20Rng::seed_from_u64(32);
    let mut net = Net::default();
    let mut now = T0 + 1;
    let ([mut a, mut b, mut c, mut d], gid) = four(&mut rng, &mut net, &mut now);
    // Alice's removal of Dave is made but not stored yet when Carol's leave arrives.
    c.engine.leave_group(&gid, now, &mut rng).unwrap();
    step(&mut c, &mut net, now, &mut rng);
    a.engine
        .remove_group_members(&gid, &[d.id], now, &mut rng)
        .unwrap();
    settle(
        &mut [&mut a, &mut b, &mut c, &mut d],
        &mut net,
        &mut now,
        &mut rng,
    );
    let sa = summary(&mut a, &mut rng);
    assert_eq!(sa.members, vec![a.id, b.id]);
    assert_eq!(summary(&mut b, &mut rng).members, sa.members);
    assert_eq!(summary(&mut b, &mut rng).epoch, sa.epoch);
}

#[test]
fn a_member_left_behind_by_expired_changes_is_told_by_name_and_can_be_added_back() {
    let mut rng = ChaCha20Rng::seed_from_u64(33);
    let mut net = Net::default();
    let mut now = T0 + 1;
    let ([mut a, mut b, mut c, mut d], gid) = four(&mut rng, &mut net, &mut now);
    a.engine
        .send_group_message(&gid, "before", now, &mut rng)
        .unwrap();
    settle(
        &mut [&mut a, &mut b, &mut c, &mut d],
        &mut net,
        &mut now,
        &mut rng,
    );
    assert_eq!(texts(&c, &gid), vec!["before"]);

    // Carol is offline while Alice removes Dave; the commit then expires from the mailbox.
    let from = net.groups[&gid].len();
    a.engine
        .remove_group_members(&gid, &[d.id], now, &mut rng)
        .unwrap();
    settle(&mut [&mut a, &mut b, &mut d], &mut net, &mut now, &mut rng);
    net.groups.get_mut(&gid).unwrap().remove(from);
    a.engine
        .send_group_message(&gid, "after", now, &mut rng)
        .unwrap();
    settle(&mut [&mut a, &mut b], &mut net, &mut now, &mut rng);

    // Carol comes back: the message is of an epoch she cannot reach. She is marked behind at
    // once, and told (once, naming the group) after BEHIND_WARN_SECS.
    step(&mut c, &mut net, now, &mut rng);
    let since = summary(&mut c, &mut rng).behind_since.expect("behind");
    assert!(!lines(&c, &gid).iter().any(|l| l.contains("You missed")));
    c.cursors.clear();
    now += BEHIND_WARN_SECS;
    step(&mut c, &mut net, now, &mut rng);
    c.cursors.clear();
    step(&mut c, &mut net, now + 1, &mut rng);
    let told: Vec<String> = lines(&c, &gid)
        .into_iter()
        .filter(|l| l.contains("You missed"))
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].contains("\u{201c}Four\u{201d}") && told[0].contains("Ask an admin"),
        "{}",
        told[0]
    );
    assert_eq!(summary(&mut c, &mut rng).behind_since, Some(since));
    assert_eq!(texts(&c, &gid), vec!["before"]);

    // Alice removes Carol and adds her back; Carol accepts and reads on, her history kept.
    a.engine
        .remove_group_members(&gid, &[c.id], now, &mut rng)
        .unwrap();
    settle(&mut [&mut a, &mut b, &mut c], &mut net, &mut now, &mut rng);
    a.engine
        .add_group_members(&gid, &[c.id], now, &mut rng)
        .unwrap();
    settle(&mut [&mut a, &mut b, &mut c], &mut net, &mut now, &mut rng);
    assert_eq!(accept_invites(&mut c, now, &mut rng), 1);
    settle(&mut [&mut a, &mut b, &mut c], &mut net, &mut now, &mut rng);
    let sc = summary(&mut c, &mut rng);
    assert_eq!(sc.state, GroupState::Active);
    assert_eq!(sc.behind_since, None);
    assert_eq!(sc.epoch, summary(&mut a, &mut rng).epoch);
    b.engine
        .send_group_message(&gid, "welcome back", now, &mut rng)
        .unwrap();
    settle(&mut [&mut a, &mut b, &mut c], &mut net, &mut now, &mut rng);
    assert_eq!(texts(&c, &gid), vec!["before", "welcome back"]);
    assert!(
        lines(&c, &gid).iter().any(|l| l.contains("added you back")),
        "{:?}",
        lines(&c, &gid)
    );
    // Everything survives a restart.
    c.restart();
    assert_eq!(texts(&c, &gid), vec!["before", "welcome back"]);
    assert_eq!(summary(&mut c, &mut rng).state, GroupState::Active);
}

#[test]
fn admins_holding_the_owner_key_renew_the_access_record_weekly() {
    let mut rng = ChaCha20Rng::seed_from_u64(34);
    let mut net = Net::default();
    let mut now = T0 + 1;
    let ([mut a, mut b, mut c, mut d], _gid) = four(&mut rng, &mut net, &mut now);
    let records = net.access_records;
    // Not due yet; members without the owner key never renew.
    for u in [&mut a, &mut b, &mut c, &mut d] {
        assert_eq!(u.engine.renew_access_records(now, &mut rng).unwrap(), 0);
    }
    now += RENEW_ACCESS_SECS;
    for u in [&mut b, &mut c, &mut d] {
        assert_eq!(u.engine.renew_access_records(now, &mut rng).unwrap(), 0);
    }
    assert_eq!(a.engine.renew_access_records(now, &mut rng).unwrap(), 1);
    // Queued once, stored by the group outbox.
    assert_eq!(a.engine.renew_access_records(now, &mut rng).unwrap(), 0);
    settle(&mut [&mut a], &mut net, &mut now, &mut rng);
    assert_eq!(net.access_records, records + 1);
    assert_eq!(a.engine.renew_access_records(now, &mut rng).unwrap(), 0);
}

#[test]
fn an_item_is_not_dropped_when_our_own_group_state_cannot_be_read() {
    let mut rng = ChaCha20Rng::seed_from_u64(35);
    let mut net = Net::default();
    let mut now = T0 + 1;
    let ([mut a, mut b, _, _], gid) = four(&mut rng, &mut net, &mut now);
    a.engine
        .send_group_message(&gid, "kept for later", now, &mut rng)
        .unwrap();
    settle(&mut [&mut a], &mut net, &mut now, &mut rng);
    // Bob's MLS records become unreadable (as records of an older storage format are).
    let scratch = b.dir.path().join("scratch.redb");
    drop(std::mem::replace(
        &mut b.engine,
        Engine::open(store(&scratch, true)).unwrap(),
    ));
    let raw = store(&b.dir.path().join("client.redb"), false);
    let mut batch = pars_store::client::Batch::default();
    for (k, v) in raw.scan(pars_store::client::Space::Groups, b"m/").unwrap() {
        // `key (var32) ‖ value`: the key kept, the value junk.
        let klen = u32::from_be_bytes(v[..4].try_into().unwrap()) as usize;
        let mut junk = v[..4 + klen].to_vec();
        junk.extend_from_slice(b"\xffjunk");
        batch.put(pars_store::client::Space::Groups, &k, &junk);
    }
    raw.write(batch, &mut rng).unwrap();
    drop(raw);
    b.engine = Engine::open(store(&b.dir.path().join("client.redb"), false)).unwrap();
    let item = net.groups[&gid].last().unwrap().clone();
    let Payload::Inline(mls) = Payload::decode(&item).unwrap() else {
        panic!("inline")
    };
    let h = content_hash(&item);
    assert!(
        b.engine
            .group_receive(&gid, &h, &mls, now, &mut rng)
            .is_err()
    );
    // Not marked processed: it is read again once the state is mended.
    assert_eq!(b.engine.group_unseen(&gid, &[h]).unwrap(), vec![h]);
}

#[test]
fn group_state_of_an_earlier_version_is_dropped_and_the_user_told_by_name() {
    use pars_store::client::{Batch, Space};
    let mut rng = ChaCha20Rng::seed_from_u64(35);
    let mut net = Net::default();
    let mut now = T0 + 1;
    // Alice, Bob, Carol, Dave.
    let (mut u, gid) = four(&mut rng, &mut net, &mut now);
    let all = |u: &mut [User; 4], net: &mut Net, now: &mut u64, rng: &mut ChaCha20Rng| {
        settle(&mut u.each_mut(), net, now, rng)
    };
    let (alice, carol) = (u[0].id, u[2].id);
    u[0].engine
        .send_group_message(&gid, "before", now, &mut rng)
        .unwrap();
    all(&mut u, &mut net, &mut now, &mut rng);
    assert_eq!(texts(&u[2], &gid), vec!["before"]);

    // Carol's store as the versions with openmls's JSON storage left it: the group's MLS
    // records under JSON keys (`m/` ‖ index → key (var32) ‖ value), none of the binary ones.
    let c = &mut u[2];
    let path = c.dir.path().join("client.redb");
    let scratch = c.dir.path().join("scratch.redb");
    drop(std::mem::replace(
        &mut c.engine,
        Engine::open(store(&scratch, true)).unwrap(),
    ));
    {
        let s = store(&path, false);
        let mut batch = Batch::default();
        for (k, _) in s.scan(Space::Groups, b"m/").unwrap() {
            batch.delete(Space::Groups, &k);
        }
        for (i, json_key) in [&b"GroupContext\"abc\""[..], &b"Tree\"abc\""[..]]
            .into_iter()
            .enumerate()
        {
            let mut key = b"m/".to_vec();
            key.extend_from_slice(&s.index(Space::Groups, json_key));
            let mut value = (json_key.len() as u32).to_be_bytes().to_vec();
            value.extend_from_slice(json_key);
            value.extend_from_slice(format!("{{\"epoch\":{i}}}").as_bytes());
            batch.put(Space::Groups, &key, &value);
        }
        s.write(batch, &mut rng).unwrap();
    }
    drop(std::mem::replace(
        &mut c.engine,
        Engine::open(store(&path, false)).unwrap(),
    ));

    // The first group operation drops the old records and tells Carol, by the group's name,
    // whom to ask; her history is kept and nothing fails.
    assert_eq!(summary(c, &mut rng).state, GroupState::Removed);
    let told = |c: &User| -> Vec<String> {
        lines(c, &gid)
            .into_iter()
            .filter(|l| l.contains("earlier version"))
            .collect()
    };
    let once = told(c);
    assert_eq!(once.len(), 1, "{once:?}");
    assert!(
        once[0].contains("\u{201c}Four\u{201d}") && once[0].contains("Ask an admin ("),
        "{}",
        once[0]
    );
    assert_eq!(texts(c, &gid), vec!["before"]);
    assert!(
        store_has_no_json_records(c),
        "the earlier version's records are gone"
    );
    c.restart();
    assert_eq!(summary(c, &mut rng).state, GroupState::Removed);
    assert_eq!(told(c), once, "told once");

    // Alice removes Carol and adds her back: she joins afresh and reads on.
    u[0].engine
        .remove_group_members(&gid, &[carol], now, &mut rng)
        .unwrap();
    all(&mut u, &mut net, &mut now, &mut rng);
    u[0].engine
        .add_group_members(&gid, &[carol], now, &mut rng)
        .unwrap();
    all(&mut u, &mut net, &mut now, &mut rng);
    assert_eq!(accept_invites(&mut u[2], now, &mut rng), 1);
    all(&mut u, &mut net, &mut now, &mut rng);
    assert_eq!(summary(&mut u[2], &mut rng).state, GroupState::Active);
    assert!(summary(&mut u[2], &mut rng).admins.contains(&alice));
    u[1].engine
        .send_group_message(&gid, "welcome back", now, &mut rng)
        .unwrap();
    all(&mut u, &mut net, &mut now, &mut rng);
    assert_eq!(texts(&u[2], &gid), vec!["before", "welcome back"]);
}

/// Whether `u`'s store holds no group state record under a JSON-storage key (the store is
/// reopened outside the engine for the look).
fn store_has_no_json_records(u: &mut User) -> bool {
    use pars_store::client::Space;
    let path = u.dir.path().join("client.redb");
    let scratch = u.dir.path().join("scratch.redb");
    let _ = std::fs::remove_file(&scratch);
    drop(std::mem::replace(
        &mut u.engine,
        Engine::open(store(&scratch, true)).unwrap(),
    ));
    let clean = store(&path, false)
        .scan(Space::Groups, b"m/")
        .unwrap()
        .iter()
        .all(|(_, v)| !v.get(4).is_some_and(u8::is_ascii_alphabetic));
    u.restart();
    clean
}
