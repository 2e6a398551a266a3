//! Group operations at 100 and 1,000 members (10,000 with `PARS_GROUP_BENCH_10K=1`): creating
//! and processing commits (add, remove, update), and group messages. Sizes are printed once
//! per group size. Results: docs/performance.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_group::{Group, IdentitySigner, Member};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::time::{Duration, Instant};

fn member(seed: u64) -> Member {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let key = MlDsaSigningKey::generate(&mut rng);
    Member::new(IdentitySigner::new(key, &mut rng)).unwrap()
}

/// Alice's group of `n` members with Bob joined through the Welcome (the others exist only as
/// leaves). Alice and Bob each commit one update so that their paths are filled.
fn group(n: usize) -> (Member, Group, Member, Group, u64) {
    let a = member(1);
    let b = member(2);
    let mut ga = a.create_group(&[9; 32]).unwrap();
    let mut kps = vec![b.key_package().unwrap()];
    for i in 3..=n as u64 {
        kps.push(member(i).key_package().unwrap());
    }
    let t = Instant::now();
    let add = ga.add(&a, &kps).unwrap();
    let add_time = t.elapsed();
    ga.confirm(&a).unwrap();
    let welcome = add.welcome.unwrap();
    let t = Instant::now();
    let mut gb = b.join(&welcome).unwrap();
    let join_time = t.elapsed();
    println!(
        "n={n}: adding {} members at once {add_time:?}, commit {} B, Welcome {} B (ratchet tree \
         inside); joining {join_time:?}",
        n - 1,
        add.commit.len(),
        welcome.len()
    );
    let up = ga.update(&a).unwrap();
    ga.confirm(&a).unwrap();
    gb.receive(&b, &up.commit).unwrap();
    let up = gb.update(&b).unwrap();
    gb.confirm(&b).unwrap();
    ga.receive(&a, &up.commit).unwrap();
    (a, ga, b, gb, n as u64 + 1)
}

fn bench(c: &mut Criterion) {
    let mut sizes = vec![100usize, 1_000];
    if std::env::var_os("PARS_GROUP_BENCH_10K").is_some() {
        sizes.push(10_000);
    }
    for n in sizes {
        let (a, mut ga, b, mut gb, mut next) = group(n);
        let mut g = c.benchmark_group(format!("group_{n}"));
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(5));
        let mut shown = false;
        g.bench_function("update_commit_create", |it| {
            it.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let up = ga.update(&a).unwrap();
                    total += t.elapsed();
                    ga.confirm(&a).unwrap();
                    gb.receive(&b, &up.commit).unwrap();
                    if !shown {
                        println!("n={n}: update commit {} B", up.commit.len());
                        shown = true;
                    }
                }
                total
            })
        });
        g.bench_function("update_commit_process", |it| {
            it.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let up = ga.update(&a).unwrap();
                    ga.confirm(&a).unwrap();
                    let t = Instant::now();
                    gb.receive(&b, &up.commit).unwrap();
                    total += t.elapsed();
                }
                total
            })
        });
        let mut shown = false;
        g.bench_function("add_remove_commit_process", |it| {
            it.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let newcomer = member(next);
                    next += 1;
                    let add = ga.add(&a, &[newcomer.key_package().unwrap()]).unwrap();
                    ga.confirm(&a).unwrap();
                    let t = Instant::now();
                    gb.receive(&b, &add.commit).unwrap();
                    total += t.elapsed();
                    let rm = ga.remove(&a, &[newcomer.session_id()]).unwrap();
                    ga.confirm(&a).unwrap();
                    let t = Instant::now();
                    gb.receive(&b, &rm.commit).unwrap();
                    total += t.elapsed();
                    if !shown {
                        println!(
                            "n={n}: add-one commit {} B, its Welcome {} B; remove-one commit {} B",
                            add.commit.len(),
                            add.welcome.map_or(0, |w| w.len()),
                            rm.commit.len()
                        );
                        shown = true;
                    }
                }
                total / 2
            })
        });
        let mut shown = false;
        g.bench_function("message_encrypt", |it| {
            it.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let m = ga.send(&a, &[0x61; 200]).unwrap();
                    total += t.elapsed();
                    if !shown {
                        println!("n={n}: a 200-byte message is {} B", m.len());
                        shown = true;
                    }
                    gb.receive(&b, &m).unwrap();
                }
                total
            })
        });
        g.bench_function("message_decrypt", |it| {
            it.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let m = ga.send(&a, &[0x61; 200]).unwrap();
                    let t = Instant::now();
                    gb.receive(&b, &m).unwrap();
                    total += t.elapsed();
                }
                total
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
