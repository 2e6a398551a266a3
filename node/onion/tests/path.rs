//! Path selection, guard persistence, failure tracking and cover-traffic scheduling.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use pars_crypto::hybrid_kem768::Hybrid768SecretKey;
use pars_crypto::random_array;
use pars_onion::{
    Candidate, CoverSchedule, GuardState, NetGroup, OnionError, Operator, PathConfig, PathHop,
    PathSelector,
};
use pars_wire::NodeId;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const NOW: u64 = 1_790_000_000;
const DAY: u64 = 24 * 3600;

/// `n` candidates, node `i` run by operator `i % operators` in 10.`i`.0.0/16.
fn candidates(n: usize, operators: usize, rng: &mut ChaCha20Rng) -> Vec<Candidate> {
    let key = Hybrid768SecretKey::generate(rng).public_key().clone();
    (0..n)
        .map(|i| {
            let node = NodeId(random_array(rng));
            Candidate {
                node,
                operator: Operator(format!("op{}", i % operators)),
                ip: IpAddr::V4(Ipv4Addr::new(10, i as u8, 1, 2)),
                keys: vec![PathHop {
                    node,
                    key_id: i as u32,
                    public_key: key.clone(),
                    valid_until: NOW + 40 * DAY,
                }],
                in_set: true,
            }
        })
        .collect()
}

fn check_diverse(c: &[Candidate], path: &pars_onion::Path) {
    let nodes = path.nodes();
    let by_id = |id: &NodeId| c.iter().find(|x| x.node == *id).unwrap();
    let ops: HashSet<_> = nodes.iter().map(|n| by_id(n).operator.clone()).collect();
    let nets: HashSet<_> = nodes.iter().map(|n| NetGroup::of(&by_id(n).ip)).collect();
    let ids: HashSet<_> = nodes.iter().collect();
    assert_eq!((ids.len(), ops.len(), nets.len()), (4, 4, 4));
    assert_eq!(
        path.reply[1].node, path.forward[0].node,
        "reply ends at the guard"
    );
}

#[test]
fn paths_are_diverse_in_the_set_and_end_in_the_destination_swarm() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut c = candidates(12, 12, &mut rng);
    // Two nodes outside the registered set, and one sharing another's /16.
    c[4].in_set = false;
    c[9].in_set = false;
    c[7].ip = IpAddr::V4(Ipv4Addr::new(10, 6, 200, 1));
    let dest: Vec<NodeId> = c[..5].iter().map(|x| x.node).collect();
    let own: Vec<NodeId> = c[5..8].iter().map(|x| x.node).collect();
    let mut chosen = HashSet::new();
    for _ in 0..300 {
        let mut sel = PathSelector::new(PathConfig::default(), GuardState::default());
        let path = sel.select(&c, &dest, &own, NOW, &mut rng).unwrap();
        check_diverse(&c, &path);
        assert!(dest.contains(&path.forward[2].node));
        assert!(!own.contains(&path.guard()));
        for n in path.nodes() {
            assert!(
                n != c[4].node && n != c[9].node,
                "a node not in the set was chosen"
            );
            chosen.insert(n);
        }
        let nodes = path.nodes();
        assert!(
            !(nodes.contains(&c[6].node) && nodes.contains(&c[7].node)),
            "two hops in one /16"
        );
    }
    assert_eq!(chosen.len(), 10, "every eligible node gets used");
    // With subnet diversity off (a one-host test network) the shared /16 is allowed.
    for x in &mut c {
        x.ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    }
    let mut sel = PathSelector::new(PathConfig::default(), GuardState::default());
    assert!(matches!(
        sel.select(&c, &dest, &own, NOW, &mut rng),
        Err(OnionError::NoPath(_))
    ));
    let cfg = PathConfig {
        subnet_diversity: false,
        ..PathConfig::default()
    };
    let mut sel = PathSelector::new(cfg, GuardState::default());
    let path = sel.select(&c, &dest, &own, NOW, &mut rng).unwrap();
    assert_eq!(path.nodes().iter().collect::<HashSet<_>>().len(), 4);
}

#[test]
fn operators_must_differ_and_too_few_nodes_is_an_error() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let c = candidates(12, 3, &mut rng);
    let dest: Vec<NodeId> = c.iter().map(|x| x.node).collect();
    let mut sel = PathSelector::new(PathConfig::default(), GuardState::default());
    let err = sel.select(&c, &dest, &[], NOW, &mut rng).unwrap_err();
    assert!(matches!(err, OnionError::NoPath(_)));
    // Too few nodes is the network's state, not the caller's fault: retried later.
    assert_eq!(
        pars_onion::HasKind::kind(&err),
        pars_onion::ErrorKind::NetworkUnavailable
    );
    let c = candidates(4, 4, &mut rng);
    let dest: Vec<NodeId> = c.iter().map(|x| x.node).collect();
    let path = sel.select(&c, &dest, &[], NOW, &mut rng).unwrap();
    check_diverse(&c, &path);
}

#[test]
fn expired_and_foreign_keys_are_not_used() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut c = candidates(6, 6, &mut rng);
    c[0].keys[0].valid_until = NOW + 10; // expires within the key margin
    c[1].keys[0].node = c[2].node; // a key announced for another node
    let dest: Vec<NodeId> = c.iter().map(|x| x.node).collect();
    for _ in 0..50 {
        let mut sel = PathSelector::new(PathConfig::default(), GuardState::default());
        let path = sel.select(&c, &dest, &[], NOW, &mut rng).unwrap();
        assert!(!path.nodes().contains(&c[0].node));
        assert!(!path.nodes().contains(&c[1].node));
    }
}

#[test]
fn the_guard_persists_rotates_and_is_replaced_after_failures() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let c = candidates(12, 12, &mut rng);
    let dest: Vec<NodeId> = c[..5].iter().map(|x| x.node).collect();
    let mut sel = PathSelector::new(PathConfig::default(), GuardState::default());
    let g = sel.select(&c, &dest, &[], NOW, &mut rng).unwrap().guard();
    for i in 0..20 {
        assert_eq!(
            sel.select(&c, &dest, &[], NOW + i, &mut rng)
                .unwrap()
                .guard(),
            g
        );
    }
    // Persisted and restored: the same guard.
    let stored = sel.guard_state().to_bytes();
    assert_eq!(stored.len(), 46);
    let restored = GuardState::from_bytes(&stored).unwrap();
    assert_eq!(&restored, sel.guard_state());
    assert!(GuardState::from_bytes(&stored[..stored.len() - 1]).is_err());
    assert!(GuardState::from_bytes(&[9]).is_err());
    assert_eq!(
        GuardState::from_bytes(&GuardState::default().to_bytes()).unwrap(),
        GuardState::default()
    );
    let mut sel = PathSelector::new(PathConfig::default(), restored);
    assert_eq!(
        sel.select(&c, &dest, &[], NOW + 100, &mut rng)
            .unwrap()
            .guard(),
        g
    );
    // Unattributed path failures do not move the guard, but its own failures do.
    let path = sel.select(&c, &dest, &[], NOW + 100, &mut rng).unwrap();
    for _ in 0..5 {
        sel.path_failed(&path, NOW + 100);
    }
    assert_eq!(
        sel.select(&c, &dest, &[], NOW + 101, &mut rng)
            .unwrap()
            .guard(),
        g
    );
    sel.report_failure(g, NOW + 102);
    sel.report_failure(g, NOW + 102);
    sel.report_success(g);
    assert_eq!(sel.guard_state().failures, 0);
    for _ in 0..3 {
        sel.report_failure(g, NOW + 103);
    }
    let g2 = sel
        .select(&c, &dest, &[], NOW + 104, &mut rng)
        .unwrap()
        .guard();
    assert_ne!(g2, g, "failed guard replaced");
    assert_eq!(sel.guard_state().chosen_at, NOW + 104);
    // Rotation after 30 days.
    let later = NOW + 104 + PathConfig::default().guard_rotation_secs;
    let mut rotated = false;
    for _ in 0..10 {
        let mut s = PathSelector::new(PathConfig::default(), sel.guard_state().clone());
        let g3 = s.select(&c, &dest, &[], later, &mut rng).unwrap().guard();
        assert_eq!(s.guard_state().chosen_at, later, "a new guard is drawn");
        rotated |= g3 != g2;
    }
    assert!(rotated);
    // A guard that became a member of the client's own swarm is dropped at once.
    let mut s = PathSelector::new(PathConfig::default(), sel.guard_state().clone());
    let g4 = s
        .select(&c, &dest, &[g2], NOW + 200, &mut rng)
        .unwrap()
        .guard();
    assert_ne!(g4, g2);
}

#[test]
fn failed_hops_are_avoided_on_rebuild() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let c = candidates(12, 12, &mut rng);
    let dest: Vec<NodeId> = c[..5].iter().map(|x| x.node).collect();
    let mut sel = PathSelector::new(PathConfig::default(), GuardState::default());
    let first = sel.select(&c, &dest, &[], NOW, &mut rng).unwrap();
    sel.path_failed(&first, NOW);
    let failed = [
        first.forward[1].node,
        first.forward[2].node,
        first.reply[0].node,
    ];
    for _ in 0..50 {
        let p = sel.select(&c, &dest, &[], NOW + 1, &mut rng).unwrap();
        for n in &failed {
            assert!(
                !p.nodes().contains(n),
                "a failed hop was reused during its backoff"
            );
        }
    }
    // After the backoff they are eligible again.
    let after = NOW + PathConfig::default().failure_backoff_secs + 1;
    let mut seen = HashSet::new();
    for _ in 0..200 {
        seen.extend(sel.select(&c, &dest, &[], after, &mut rng).unwrap().nodes());
    }
    assert!(failed.iter().all(|n| seen.contains(n)));
    // If every destination member has failed, one is still used rather than giving up.
    for n in &dest {
        sel.report_failure(*n, after);
    }
    assert!(sel.select(&c, &dest, &[], after + 1, &mut rng).is_ok());
}

#[test]
fn ipv6_groups_by_slash_32_and_mapped_v4_by_slash_16() {
    let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
    let b: IpAddr = "2001:db8:ffff::1".parse().unwrap();
    let c: IpAddr = "2001:db9::1".parse().unwrap();
    assert_eq!(NetGroup::of(&a), NetGroup::of(&b));
    assert_ne!(NetGroup::of(&a), NetGroup::of(&c));
    let m: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
    let v4: IpAddr = "10.1.9.9".parse().unwrap();
    assert_eq!(NetGroup::of(&m), NetGroup::of(&v4));
    assert_ne!(
        NetGroup::of(&v4),
        NetGroup::of(&"10.2.0.1".parse().unwrap())
    );
}

#[test]
fn cover_traffic_is_a_poisson_process() {
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let s = CoverSchedule::new(2.0);
    let n = 20_000;
    let delays: Vec<f64> = (0..n)
        .map(|_| s.next_delay(&mut rng).unwrap().as_secs_f64())
        .collect();
    let mean = delays.iter().sum::<f64>() / n as f64;
    assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
    // Exponential: P(X > mean) = 1/e.
    let above = delays.iter().filter(|&&d| d > 0.5).count() as f64 / n as f64;
    assert!((above - (-1.0f64).exp()).abs() < 0.02, "tail {above}");
    // Polling a 10-minute window at 1 ms yields about rate × 600 loop packets.
    let mut sched = CoverSchedule::new(2.0);
    let fired = (0..600_000u64).filter(|&t| sched.poll(t, &mut rng)).count();
    assert!((1080..1320).contains(&fired), "fired {fired}");
    // Disabled schedules never fire.
    for r in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let mut off = CoverSchedule::new(r);
        assert!(!off.enabled());
        assert!(off.next_delay(&mut rng).is_none());
        assert!(!off.poll(1_000, &mut rng));
    }
}

#[test]
fn bootstrap_guard_is_kept_then_replaced_and_never_in_the_own_swarm() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let c = candidates(8, 8, &mut rng);
    let ids: Vec<NodeId> = c.iter().map(|x| x.node).collect();
    let own = ids[..3].to_vec();
    let config = PathConfig {
        guard_max_failures: 2,
        ..PathConfig::default()
    };
    let mut sel = PathSelector::new(config, GuardState::default());
    let g = sel.bootstrap_guard(&ids, &own, NOW, &mut rng).unwrap();
    assert!(!own.contains(&g));
    assert_eq!(sel.guard_state().guard, Some(g));
    // Kept while it works; select() keeps it as the path's guard.
    for _ in 0..20 {
        assert_eq!(sel.bootstrap_guard(&ids, &own, NOW + 10, &mut rng), Some(g));
    }
    let path = sel
        .select(&c, &ids[3..5], &own, NOW + 10, &mut rng)
        .unwrap();
    assert_eq!(path.guard(), g);
    // Failing guard_max_failures times: the next one is another node, outside the own swarm.
    sel.report_failure(g, NOW + 20);
    assert_eq!(sel.bootstrap_guard(&ids, &own, NOW + 20, &mut rng), Some(g));
    sel.report_failure(g, NOW + 21);
    let g2 = sel.bootstrap_guard(&ids, &own, NOW + 21, &mut rng).unwrap();
    assert_ne!(g2, g);
    assert!(!own.contains(&g2));
    assert_eq!(sel.guard_state().failures, 0);
    // A guard that joins the own swarm, or leaves the set, is replaced.
    let g3 = sel
        .bootstrap_guard(&ids, &[own.clone(), vec![g2]].concat(), NOW + 30, &mut rng)
        .unwrap();
    assert_ne!(g3, g2);
    let rest: Vec<NodeId> = ids.iter().copied().filter(|n| *n != g3).collect();
    let g4 = sel
        .bootstrap_guard(&rest, &own, NOW + 40, &mut rng)
        .unwrap();
    assert_ne!(g4, g3);
    // Nothing outside the own swarm: no guard.
    assert!(
        sel.bootstrap_guard(&own, &own, NOW + 50, &mut rng)
            .is_none()
    );
}
