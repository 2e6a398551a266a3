#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Every member of a large group converges on the same epoch secret through an add, a remove
//! and an update, with real MLS and the Pars ciphersuite, in one process and without sockets.
//!
//! The group has `PARS_GROUP_MEMBERS` members (default 40, what CI runs; `scripts/bench-groups`
//! runs 1,000 in the release profile and prints the figures of docs/performance.md). Alice
//! creates the group and adds everyone else in one commit; she removes one member; Bob, joined
//! from the Welcome, commits an update; Alice sends a message in the last epoch. Then every
//! other member, one after another (a member's state holds the whole ratchet tree, about 10 MB
//! at 1,000 members, so they are not all kept at once), joins from the Welcome, processes the
//! two commits, and must reach Alice's epoch authenticator and read her message; the removed
//! member must learn it was removed and read nothing.

use pars_crypto::mldsa::MlDsaSigningKey;
use pars_group::{IdentitySigner, Member, Received};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::time::{Duration, Instant};

fn member(seed: u64) -> Member {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let key = MlDsaSigningKey::generate(&mut rng);
    Member::new(IdentitySigner::new(key, &mut rng)).unwrap()
}

fn members_from_env() -> usize {
    std::env::var("PARS_GROUP_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

/// Slowest and median of `d`.
fn spread(d: &mut [Duration]) -> (Duration, Duration) {
    d.sort();
    (d[d.len() / 2], d[d.len() - 1])
}

#[test]
fn every_member_converges_through_add_remove_and_update() {
    let n = members_from_env();
    assert!(n >= 4, "PARS_GROUP_MEMBERS must be at least 4");
    let group_id = [0x16; 32];

    let t = Instant::now();
    let a = member(1);
    let mut others: Vec<Member> = (2..=n as u64).map(member).collect();
    let kps: Vec<Vec<u8>> = others.iter().map(|m| m.key_package().unwrap()).collect();
    let key_packages = t.elapsed();

    let mut ga = a.create_group(&group_id).unwrap();
    let t = Instant::now();
    let add = ga.add(&a, &kps).unwrap();
    let add_time = t.elapsed();
    ga.confirm(&a).unwrap();
    let welcome = add.welcome.clone().unwrap();
    assert_eq!(ga.members().len(), n);

    // Alice removes the last member.
    let gone_id = others.last().unwrap().session_id();
    let t = Instant::now();
    let remove = ga.remove(&a, &[gone_id]).unwrap();
    let remove_time = t.elapsed();
    ga.confirm(&a).unwrap();

    // Bob joins, catches up and commits an update; Alice processes it.
    let b = &others[0];
    let t = Instant::now();
    let mut gb = b.join(&welcome).unwrap();
    let bob_join = t.elapsed();
    gb.receive(b, &remove.commit).unwrap();
    let t = Instant::now();
    let update = gb.update(b).unwrap();
    let update_time = t.elapsed();
    gb.confirm(b).unwrap();
    let t = Instant::now();
    match ga.receive(&a, &update.commit).unwrap() {
        Received::Commit { by, epoch, .. } => {
            assert_eq!(by, b.session_id());
            assert_eq!(epoch, 3);
        }
        other => panic!("{other:?}"),
    }
    let alice_processes_update = t.elapsed();
    assert_eq!(ga.epoch_authenticator(), gb.epoch_authenticator());
    let last = ga.send(&a, b"epoch 3, without the removed member").unwrap();
    let secret = ga.epoch_authenticator();
    drop(gb);
    let gone = others.pop().unwrap();

    // Everyone else, one at a time on each core.
    // A member's storage keeps the group's state after its `Group` is dropped: each member
    // rolls back to its empty committed state once checked, or 1,000 of them would hold 40 GB.
    let middle = &mut others[1..];
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let per_thread = middle.len().div_ceil(threads).max(1);
    let (welcome, remove_c, update_c, last_m) = (&welcome, &remove.commit, &update.commit, &last);
    let alice = a.session_id();
    let (secret_ref, alice) = (&secret, &alice);
    let timings: Vec<(Vec<Duration>, Vec<Duration>)> = std::thread::scope(|s| {
        let handles: Vec<_> = middle
            .chunks_mut(per_thread)
            .map(|chunk| {
                s.spawn(move || {
                    let (mut joins, mut commits) = (Vec::new(), Vec::new());
                    for m in chunk {
                        let t = Instant::now();
                        let mut g = m.join(welcome).unwrap();
                        joins.push(t.elapsed());
                        assert_eq!(g.epoch(), 1);
                        for c in [remove_c, update_c] {
                            let t = Instant::now();
                            assert!(matches!(
                                g.receive(m, c).unwrap(),
                                Received::Commit {
                                    removed_us: false,
                                    ..
                                }
                            ));
                            commits.push(t.elapsed());
                        }
                        assert_eq!(g.epoch(), 3);
                        assert_eq!(g.epoch_authenticator(), *secret_ref, "a member diverged");
                        match g.receive(m, last_m).unwrap() {
                            Received::Message { sender, body } => {
                                assert_eq!(sender, *alice);
                                assert_eq!(body, b"epoch 3, without the removed member");
                            }
                            other => panic!("{other:?}"),
                        }
                        drop(g);
                        m.rollback().unwrap();
                    }
                    (joins, commits)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (joins, commits): (Vec<_>, Vec<_>) = timings.into_iter().unzip();
    let mut joins: Vec<Duration> = joins.concat();
    let mut commits: Vec<Duration> = commits.concat();

    // The removed member learns it, and reads nothing after.
    let mut gg = gone.join(welcome).unwrap();
    assert!(matches!(
        gg.receive(&gone, &remove.commit).unwrap(),
        Received::Commit {
            removed_us: true,
            ..
        }
    ));
    assert!(gg.receive(&gone, &update.commit).is_err());
    assert!(gg.receive(&gone, &last).is_err());
    assert_ne!(gg.epoch_authenticator(), secret);

    let (join_p50, join_max) = spread(&mut joins);
    println!("(the members after Bob joined and caught up on {threads} threads)");
    let (commit_p50, commit_max) = spread(&mut commits);
    println!("| members | {n} |");
    println!("|---|---|");
    println!("| {n} key packages | {key_packages:.2?} |");
    println!(
        "| commit adding {} at once | {add_time:.2?}, {} B; Welcome {} B |",
        n - 1,
        add.commit.len(),
        welcome.len()
    );
    println!(
        "| remove commit | {remove_time:.2?}, {} B |",
        remove.commit.len()
    );
    println!(
        "| update commit (filled path of Bob) | {update_time:.2?}, {} B; Alice processes it in {alice_processes_update:.2?} |",
        update.commit.len()
    );
    println!(
        "| joining from the Welcome | Bob {bob_join:.2?}; the others p50 {join_p50:.2?}, max {join_max:.2?} |"
    );
    println!("| processing a commit | p50 {commit_p50:.2?}, max {commit_max:.2?} |");
    println!(
        "| members checked | {} converged, 1 removed and locked out |",
        others.len()
    );
}
