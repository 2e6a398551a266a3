//! Operator actions against a real anvil: registry rejections map to the right error variants,
//! keys come from the environment or a keystore file, the unbonding period is enforced.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use alloy::primitives::U256;
use common::{Anvil, ether, operator, register, registration, repo_root, signer};
use pars_registry::{
    ErrorKind, EvmSigner, HasKind, InvalidRegistration, NodeStatus, RegistryError,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_rejections_map_to_clear_errors() {
    let anvil = Anvil::start().await;
    let addresses = anvil.deploy();
    let op = operator(&anvil, &addresses, Some(signer(1))).await;
    let other = operator(&anvil, &addresses, Some(signer(2))).await;
    let r = registration(1);
    let noop = &mut |_| {};

    // Below the minimum stake (1 ether by default).
    let err = op
        .register(&r, ether(1) / U256::from(2u64), noop)
        .await
        .unwrap_err();
    match &err {
        RegistryError::StakeTooLow { sent, minimum } => {
            assert_eq!(*sent, ether(1) / U256::from(2u64));
            assert_eq!(*minimum, ether(1));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("--stake 1 or more"), "{err}");
    assert_eq!(err.kind(), ErrorKind::Rejected);

    // Status of a node that never registered; exit and withdraw say "register first".
    let status = op.status(&r.peer_id).await.unwrap();
    assert_eq!(status.record.status, NodeStatus::NotRegistered);
    assert_eq!(status.parameters.min_stake, ether(1));
    assert_eq!(status.parameters.unbonding_period, 3600);
    assert!(matches!(
        op.request_exit(&r.peer_id, noop).await.unwrap_err(),
        RegistryError::NotRegistered { .. }
    ));
    assert!(matches!(
        op.withdraw(&r.peer_id, noop).await.unwrap_err(),
        RegistryError::NotRegistered { .. }
    ));

    // Registered; a second registration of the same peer ID is refused, by anyone.
    op.register(&r, ether(1), noop).await.unwrap();
    let err = other.register(&r, ether(1), noop).await.unwrap_err();
    assert!(
        matches!(err, RegistryError::AlreadyRegistered { node_id } if node_id == r.node_id()),
        "{err}"
    );
    assert!(err.to_string().contains("parsctl node status"));
    let status = op.status(&r.peer_id).await.unwrap();
    assert_eq!(status.record.status, NodeStatus::Active);
    assert_eq!(status.record.stake, ether(1));
    assert_eq!(status.record.operator, signer(1).address());
    assert_eq!(status.signer_is_operator, Some(true));

    // Someone else's node.
    let err = other.request_exit(&r.peer_id, noop).await.unwrap_err();
    assert!(
        matches!(err, RegistryError::NotOperator { caller, .. } if caller == signer(2).address()),
        "{err}"
    );
    // Withdraw before exiting, zero stake, invalid fields (checked locally, nothing sent).
    let err = op.withdraw(&r.peer_id, noop).await.unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::NotWithdrawable {
                status: NodeStatus::Active,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("parsctl node exit"));
    assert!(matches!(
        op.add_stake(&r.peer_id, U256::ZERO, noop)
            .await
            .unwrap_err(),
        RegistryError::InvalidRegistration(InvalidRegistration::ZeroAmount)
    ));
    let mut bad = registration(9);
    bad.name = "x".repeat(65);
    assert!(matches!(
        op.register(&bad, ether(1), noop).await.unwrap_err(),
        RegistryError::InvalidRegistration(InvalidRegistration::Name)
    ));

    // Exit, then withdraw too early: still unbonding, with the unlock time.
    op.request_exit(&r.peer_id, noop).await.unwrap();
    let status = op.status(&r.peer_id).await.unwrap();
    assert_eq!(status.record.status, NodeStatus::Exiting);
    assert!(!status.withdrawable_now);
    let err = op.withdraw(&r.peer_id, noop).await.unwrap_err();
    match &err {
        RegistryError::StillBonded { unlock_time, .. } => {
            assert_eq!(*unlock_time, status.record.unlock_time)
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("still unbonding until"), "{err}");
    assert!(matches!(
        op.add_stake(&r.peer_id, ether(1), noop).await.unwrap_err(),
        RegistryError::NotActive {
            status: NodeStatus::Exiting,
            ..
        }
    ));

    // After the unbonding period the stake comes back, and the peer ID may register again.
    anvil.increase_time(3601).await;
    assert!(op.status(&r.peer_id).await.unwrap().withdrawable_now);
    let provider = anvil.provider();
    use alloy::providers::Provider;
    let before = provider.get_balance(signer(1).address()).await.unwrap();
    op.withdraw(&r.peer_id, noop).await.unwrap();
    let after = provider.get_balance(signer(1).address()).await.unwrap();
    assert!(
        after > before + ether(1) - ether(1) / U256::from(100u64),
        "stake returned"
    );
    assert_eq!(
        op.status(&r.peer_id).await.unwrap().record.status,
        NodeStatus::Withdrawn
    );
    register(&anvil, &addresses, 2, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_from_a_keystore_or_the_environment() {
    let anvil = Anvil::start().await;
    let addresses = anvil.deploy();

    // An encrypted keystore written by `cast wallet new`, funded by anvil.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(repo_root().join(".tools/bin/cast"))
        .args(["wallet", "new"])
        .arg(dir.path())
        .args(["--unsafe-password", "correct horse"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let err = EvmSigner::from_keystore(&file, b"wrong").unwrap_err();
    assert!(err.to_string().contains("wrong password"), "{err}");
    assert!(EvmSigner::from_keystore(&dir.path().join("missing"), b"x").is_err());
    let key = EvmSigner::from_keystore(&file, b"correct horse").unwrap();
    assert!(!format!("{key:?}").contains("correct horse"));

    // Unfunded: a clear "fund it" error before anything is sent.
    let op = operator(&anvil, &addresses, Some(key.clone())).await;
    let err = op
        .register(&registration(4), ether(1), &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::InsufficientFunds { address } if address == key.address()),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::InsufficientFunds);

    anvil
        .rpc(
            "anvil_setBalance",
            serde_json::json!([key.address().to_string(), "0x56BC75E2D63100000"]),
        )
        .await;
    let outcome = op
        .register(&registration(4), ether(1), &mut |_| {})
        .await
        .unwrap();
    let status = op.status(&registration(4).peer_id).await.unwrap();
    assert_eq!(status.record.operator, key.address());
    assert_eq!(status.record.registered_block, outcome.block);

    // Read-only access works without a key; sending needs one.
    let ro = operator(&anvil, &addresses, None).await;
    assert_eq!(
        ro.status(&registration(4).peer_id)
            .await
            .unwrap()
            .signer_is_operator,
        None
    );
    assert!(matches!(
        ro.request_exit(&registration(4).peer_id, &mut |_| {})
            .await
            .unwrap_err(),
        RegistryError::MissingSigner
    ));
}

/// Runs `env_signer_probe` in a child process of this test binary with `PARS_EVM_PRIVATE_KEY`
/// set to `value` (or unset) and returns what it saw.
fn probe_env_key(value: Option<&str>, expect: &str) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "env_signer_probe", "--test-threads", "1"])
        .env("PARS_BRIDGE_TEST_EXPECT", expect);
    match value {
        Some(v) => cmd.env(pars_registry::PRIVATE_KEY_ENV, v),
        None => cmd.env_remove(pars_registry::PRIVATE_KEY_ENV),
    };
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "probe with {value:?}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Only does something when `keys_from_the_environment` starts it (with `PARS_BRIDGE_TEST_EXPECT`).
#[test]
fn env_signer_probe() {
    let Ok(expect) = std::env::var("PARS_BRIDGE_TEST_EXPECT") else {
        return;
    };
    let got = match EvmSigner::from_env() {
        Ok(s) => s.address().to_string(),
        Err(RegistryError::MissingSigner) => "missing".into(),
        Err(e @ RegistryError::Signer(_)) => {
            assert!(e.to_string().contains("PARS_EVM_PRIVATE_KEY"), "{e}");
            assert!(
                !e.to_string().contains("not a key"),
                "the value must not be echoed: {e}"
            );
            "invalid".into()
        }
        Err(e) => panic!("{e:?}"),
    };
    assert_eq!(got, expect);
}

#[test]
fn keys_from_the_environment() {
    probe_env_key(None, "missing");
    probe_env_key(
        Some(common::ANVIL_KEYS[3]),
        &signer(3).address().to_string(),
    );
    probe_env_key(
        Some(&common::ANVIL_KEYS[3][2..]),
        &signer(3).address().to_string(),
    );
    probe_env_key(Some("not a key"), "invalid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_until_the_required_confirmations() {
    let anvil = Anvil::start().await;
    let addresses = anvil.deploy();
    let cfg =
        pars_registry::OperatorConfig::new(&anvil.url, addresses.service_node_registry, 31337)
            .with_confirmations(3)
            .with_poll_interval(std::time::Duration::from_millis(20));
    let op = pars_registry::Operator::connect(cfg, Some(signer(1)))
        .await
        .unwrap();
    // anvil mines only on demand: a block every 100 ms stands in for other traffic.
    let miner = {
        let url = anvil.url.clone();
        tokio::spawn(async move {
            use alloy::providers::{Provider, ProviderBuilder};
            let p = ProviderBuilder::new()
                .disable_recommended_fillers()
                .connect_http(url.parse().unwrap());
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                let _ = p
                    .raw_request::<_, serde_json::Value>("evm_mine".into(), serde_json::json!([]))
                    .await;
            }
        })
    };
    let mut seen = Vec::new();
    let outcome = op
        .register(&registration(1), ether(1), &mut |p| seen.push(p))
        .await
        .unwrap();
    miner.abort();
    let confirmations: Vec<u64> = seen
        .iter()
        .filter_map(|p| match p {
            pars_registry::Progress::Confirming {
                confirmations,
                required: 3,
                block,
                ..
            } => {
                assert_eq!(*block, outcome.block);
                Some(*confirmations)
            }
            _ => None,
        })
        .collect();
    assert!(
        matches!(seen.first(), Some(pars_registry::Progress::Submitted { tx_hash }) if *tx_hash == outcome.tx_hash)
    );
    assert!(matches!(
        seen.last(),
        Some(pars_registry::Progress::Confirmed { .. })
    ));
    assert_eq!(confirmations.last(), Some(&3));
    assert!(
        confirmations.windows(2).all(|w| w[0] < w[1]),
        "{confirmations:?}"
    );
    assert!(anvil.head().await >= outcome.block + 2);
}
