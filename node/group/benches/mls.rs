//! Group operations at 100 and 1,000 members, and at 10,000 with `PARS_GROUP_BENCH_10K=1`
//! (about half an hour more on 2 cores, 21 minutes of it adding 9,999 members at once: openmls
//! copies the Welcome's group info, 90 MB, twice for each new member): creating a commit (add
//! one member, remove one, update) and processing it as another member, the daemon's path for
//! a retrieved commit (load, process, hand the changes over), group messages, and the storage
//! of the tree against openmls's JSON storage (up to 1,000 members).
//! Sizes and the one-off costs of building the group are printed once per group size.
//! `PARS_GROUP_BENCH_SIZES=100,1000` picks the sizes. Results: docs/performance.md, "Groups".
//!
//! The group: Alice adds everyone in one commit. Members at leaves 1, 2, 4, 8, … (Bob at
//! leaf 1) join from the Welcome and commit an update each, so that every node of Alice's
//! copath is filled, as in a group whose members have all committed once: Alice's commits then
//! encrypt to one node per level of the tree, not to every leaf under a blank node (the tree
//! right after a bulk add). Bob then persists his state; every "process" sample restores a
//! fresh Bob from those records (outside the timed part) and processes the same commit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};
use openmls::prelude::{GroupId, MlsGroup};
use openmls::treesync::TreeSync;
use openmls_traits::OpenMlsProvider;
use openmls_traits::storage::StorageProvider;
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_group::{Group, IdentitySigner, Member};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

const GROUP_ID: [u8; 32] = [0x16; 32];
const ALICE: u64 = 1;
const BOB: u64 = 2;

fn signer(seed: u64) -> IdentitySigner {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    IdentitySigner::new(MlDsaSigningKey::generate(&mut rng), &mut rng)
}

fn member(seed: u64) -> Member {
    Member::new(signer(seed)).unwrap()
}

type Records = Vec<(Vec<u8>, Zeroizing<Vec<u8>>)>;

/// What every benchmark of one group size starts from.
struct Setup {
    n: usize,
    alice: Member,
    ga: Group,
    bob: Member,
    gb: Group,
    /// Bob's persisted state (every record), at the epoch the commits below are made for.
    bob_records: Records,
    /// A key package of someone not in the group, for the add commits.
    newcomer: Vec<u8>,
    /// The member the remove commits remove (the last leaf).
    last: pars_crypto::SessionId,
}

fn mb(bytes: usize) -> String {
    if bytes >= 1_000_000 {
        format!("{:.2} MB", bytes as f64 / 1e6)
    } else {
        format!("{:.1} KB", bytes as f64 / 1e3)
    }
}

/// Key packages of `seeds`, made on every core.
fn key_packages(seeds: &[u64]) -> Vec<Vec<u8>> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let chunk = seeds.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = seeds
            .chunks(chunk)
            .map(|c| {
                s.spawn(move || {
                    c.iter()
                        .map(|&i| member(i).key_package().unwrap())
                        .collect::<Vec<Vec<u8>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect::<Vec<Vec<u8>>>()
    })
}

fn setup(n: usize) -> Setup {
    let t = Instant::now();
    // Leaf i (i >= 1) is the member with seed 1 + i: Bob at leaf 1, fillers at 2, 4, 8, …
    let seeds: Vec<u64> = (1..n as u64).map(|i| 1 + i).collect();
    let kps = key_packages(&seeds);
    let fillers: Vec<usize> = (1..)
        .map(|k| 1usize << k)
        .take_while(|&leaf| leaf < n)
        .collect();
    // Key packages of the members who will join: made by the members themselves, so that
    // they hold the private halves.
    let bob = member(BOB);
    let mut kps = kps;
    kps[0] = bob.key_package().unwrap();
    let mut filler_members = Vec::new();
    for &leaf in &fillers {
        let m = member(1 + leaf as u64);
        kps[leaf - 1] = m.key_package().unwrap();
        filler_members.push(m);
    }
    let key_packages_time = t.elapsed();

    let alice = member(ALICE);
    let mut ga = alice.create_group(&GROUP_ID).unwrap();
    let t = Instant::now();
    let add = ga.add(&alice, &kps).unwrap();
    let add_time = t.elapsed();
    ga.confirm(&alice).unwrap();
    let welcome = add.welcome.unwrap();
    let t = Instant::now();
    let mut gb = bob.join(&welcome).unwrap();
    let join_time = t.elapsed();
    println!(
        "n={n}: {} key packages {key_packages_time:.2?}; adding {} at once {add_time:.2?}, \
         commit {}, Welcome {}; joining from it {join_time:.2?}",
        n - 1,
        n - 1,
        mb(add.commit.len()),
        mb(welcome.len()),
    );

    // Fill Alice's copath: each filler joins, catches up, commits an update.
    let t = Instant::now();
    let mut commits: Vec<Vec<u8>> = Vec::new();
    for m in filler_members {
        let mut g = m.join(&welcome).unwrap();
        for c in &commits {
            g.receive(&m, c).unwrap();
        }
        let up = g.update(&m).unwrap();
        g.confirm(&m).unwrap();
        ga.receive(&alice, &up.commit).unwrap();
        gb.receive(&bob, &up.commit).unwrap();
        commits.push(up.commit);
    }
    let up = ga.update(&alice).unwrap();
    ga.confirm(&alice).unwrap();
    gb.receive(&bob, &up.commit).unwrap();
    assert_eq!(ga.epoch_authenticator(), gb.epoch_authenticator());
    println!(
        "n={n}: {} members at leaves 2, 4, 8, … joined and committed, {:.2?}",
        fillers.len(),
        t.elapsed()
    );

    // Bob persists everything.
    let mut bob = bob;
    let changes = bob.changes().unwrap();
    assert!(changes.delete.is_empty());
    let bob_records: Records = changes.put;
    bob.commit().unwrap();
    let stored: usize = bob_records.iter().map(|(k, v)| k.len() + v.len()).sum();
    println!(
        "n={n}: a member's stored state: {} records, {}",
        bob_records.len(),
        mb(stored)
    );
    let last = *ga.members().last().unwrap();
    Setup {
        n,
        alice,
        ga,
        bob,
        gb,
        bob_records,
        newcomer: member(1_000_000).key_package().unwrap(),
        last,
    }
}

/// Bob as restored from his persisted records, with the group loaded.
fn restored_bob(s: &Setup) -> (Member, Group) {
    let m = Member::restore(signer(BOB), s.bob_records.clone()).unwrap();
    let g = m.load(&GROUP_ID).unwrap().unwrap();
    (m, g)
}

#[derive(Clone, Copy)]
enum Op {
    Add,
    Remove,
    Update,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Remove => "remove",
            Op::Update => "update",
        }
    }

    fn commit(self, s: &mut Setup) -> pars_group::Commit {
        match self {
            Op::Add => {
                s.ga.add(&s.alice, std::slice::from_ref(&s.newcomer))
                    .unwrap()
            }
            Op::Remove => s.ga.remove(&s.alice, &[s.last]).unwrap(),
            Op::Update => s.ga.update(&s.alice).unwrap(),
        }
    }
}

fn bench_size(c: &mut Criterion, n: usize) {
    let mut s = setup(n);
    let mut g = c.benchmark_group(format!("group_{n}"));
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(if n >= 10_000 { 10 } else { 4 }));

    // One commit of each kind, made and dropped by Alice: the ones Bob processes.
    let mut made = Vec::new();
    for op in [Op::Add, Op::Remove, Op::Update] {
        let commit = op.commit(&mut s);
        s.ga.drop_pending(&s.alice).unwrap();
        println!(
            "n={}: {} commit {}{}",
            s.n,
            op.name(),
            mb(commit.commit.len()),
            commit
                .welcome
                .as_ref()
                .map_or(String::new(), |w| format!(", its Welcome {}", mb(w.len())))
        );
        made.push((op, commit));
    }

    for op in [Op::Add, Op::Remove, Op::Update] {
        g.bench_function(format!("commit_create/{}", op.name()), |it| {
            it.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let commit = op.commit(&mut s);
                    total += t.elapsed();
                    drop(commit);
                    s.ga.drop_pending(&s.alice).unwrap();
                }
                total
            })
        });
    }

    for (op, commit) in &made {
        g.bench_function(format!("commit_process/{}", op.name()), |it| {
            it.iter_batched(
                || restored_bob(&s),
                |(m, mut gb)| {
                    let r = gb.receive(&m, &commit.commit).unwrap();
                    (m, gb, r)
                },
                BatchSize::PerIteration,
            )
        });
    }
    // Processing and handing the changes to the caller, as the daemon does before it stores
    // them: the size of what it stores is printed.
    let update = &made[2].1;
    let (mut m, mut gb) = restored_bob(&s);
    gb.receive(&m, &update.commit).unwrap();
    let changes = m.changes().unwrap();
    let written: usize = changes.put.iter().map(|(k, v)| k.len() + v.len()).sum();
    println!(
        "n={n}: processing the update commit writes {} records, {}, and deletes {}",
        changes.put.len(),
        mb(written),
        changes.delete.len()
    );
    m.commit().unwrap();
    drop((m, gb));
    g.bench_function("commit_process_and_changes/update", |it| {
        it.iter_batched(
            || restored_bob(&s),
            |(mut m, mut gb)| {
                gb.receive(&m, &update.commit).unwrap();
                let changes = m.changes().unwrap();
                m.commit().unwrap();
                (m, gb, changes)
            },
            BatchSize::PerIteration,
        )
    });

    // What the daemon does for each commit it retrieves: load the group from the member's
    // storage, process the commit, hand the changes over and commit them.
    g.bench_function("commit_load_process_and_changes/update", |it| {
        it.iter_batched(
            || Member::restore(signer(BOB), s.bob_records.clone()).unwrap(),
            |mut m| {
                let mut gb = m.load(&GROUP_ID).unwrap().unwrap();
                gb.receive(&m, &update.commit).unwrap();
                let changes = m.changes().unwrap();
                m.commit().unwrap();
                (m, gb, changes)
            },
            BatchSize::PerIteration,
        )
    });

    let mut shown = false;
    g.bench_function("message_encrypt", |it| {
        it.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let m = s.ga.send(&s.alice, &[0x61; 200]).unwrap();
                total += t.elapsed();
                if !shown {
                    println!("n={n}: a 200-byte message is {} B", m.len());
                    shown = true;
                }
                s.gb.receive(&s.bob, &m).unwrap();
            }
            total
        })
    });
    g.bench_function("message_decrypt", |it| {
        it.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let m = s.ga.send(&s.alice, &[0x61; 200]).unwrap();
                let t = Instant::now();
                s.gb.receive(&s.bob, &m).unwrap();
                total += t.elapsed();
            }
            total
        })
    });

    // openmls writes the whole tree on every merged commit and reads it on every load: this
    // storage against openmls's own (JSON).
    let mls = MlsGroup::load(s.bob.provider().storage(), &GroupId::from_slice(&GROUP_ID))
        .unwrap()
        .unwrap();
    let tree = mls.treesync();
    let gid = GroupId::from_slice(&GROUP_ID);
    let json = openmls_memory_storage::MemoryStorage::default();
    json.write_tree(&gid, tree).unwrap();
    let json_size: usize = json.values.read().unwrap().values().map(Vec::len).sum();
    let ours = pars_group::ParsStorage::default();
    ours.write_tree(&gid, tree).unwrap();
    println!(
        "n={n}: the tree as a record: {} binary, {} JSON",
        mb(ours.size().unwrap().1),
        mb(json_size)
    );
    g.bench_function("tree_write/binary", |it| {
        it.iter(|| ours.write_tree(&gid, tree).unwrap())
    });
    g.bench_function("tree_read/binary", |it| {
        it.iter(|| -> Option<TreeSync> { ours.tree(&gid).unwrap() })
    });
    // openmls's JSON storage is the reference up to 1,000 members (at 10,000 one write of the
    // tree takes seconds).
    if n <= 1_000 {
        g.bench_function("tree_write/json", |it| {
            it.iter(|| json.write_tree(&gid, tree).unwrap())
        });
        g.bench_function("tree_read/json", |it| {
            it.iter(|| -> Option<TreeSync> { json.tree(&gid).unwrap() })
        });
    }
    g.finish();
}

fn sizes() -> Vec<usize> {
    if let Ok(v) = std::env::var("PARS_GROUP_BENCH_SIZES") {
        return v.split(',').map(|n| n.trim().parse().unwrap()).collect();
    }
    let mut sizes = vec![100, 1_000];
    if std::env::var_os("PARS_GROUP_BENCH_10K").is_some() {
        sizes.push(10_000);
    }
    sizes
}

fn bench(c: &mut Criterion) {
    for n in sizes() {
        bench_size(c, n);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
