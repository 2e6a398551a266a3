//! Actions per minute through the relayer on a real anvil (the devnet's contracts, the pure-Solidity
//! ML-DSA-87 verifier), and gas per action with the key in calldata versus a registered key.
//!
//! Each iteration hands a batch of freshly signed `SessionGuestbook.sign` actions to the relayer
//! and waits until every one is answered Confirmed (1 confirmation, automine): intake, off-chain
//! signature check, `nonceUsed`, `eth_call` simulation, gas estimate, signing, broadcast, receipt.
//! Run: `cargo bench -p pars-bridge --bench relay` (needs `scripts/install-tools`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../../node/registry/tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use alloy::network::EthereumWallet;
use alloy::primitives::Bytes;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use common::{ANVIL_KEYS, Anvil, signer};
use criterion::{Criterion, criterion_group, criterion_main};
use pars_bridge::relay::core::{GasBudget, Policy, Senders};
use pars_bridge::relay::{RelayConfig, Relayer, unix_ms};
use pars_crypto::SessionId;
use pars_crypto::mldsa::MlDsaSigningKey;
use pars_registry::DevnetAddresses;
use pars_registry::contracts::{SessionGuestbook, SessionTrigger};
use pars_wire::action::{Action, ContractAction, ReceiptStatus};
use tokio::sync::watch;

const BATCH: u64 = 4;

fn signed(a: &DevnetAddresses, key: &MlDsaSigningKey, nonce: u64, inline: bool) -> Vec<u8> {
    let action = Action {
        version: 1,
        chain_id: [0; 32],
        trigger: a.session_trigger.into_array(),
        session_id: [0; 32],
        nonce,
        deadline: unix_ms() / 1000 + 3600,
        target: a.session_guestbook.unwrap().into_array(),
        value: [0; 32],
        data: SessionGuestbook::signCall {
            note: format!("bench note {nonce}"),
        }
        .abi_encode(),
    }
    .with_chain_id(a.chain_id);
    let mut request = [0u8; 16];
    request[..8].copy_from_slice(&nonce.to_be_bytes());
    let mut rnd = [0u8; 32];
    rnd[..8].copy_from_slice(&nonce.to_be_bytes());
    ContractAction::sign(request, action, key, inline, &rnd)
        .unwrap()
        .encode()
        .unwrap()
}

/// Sends `n` actions and waits for all answers; returns the gas used of each.
async fn run_batch(r: &Relayer, sender: &SessionId, contents: Vec<Vec<u8>>) -> Vec<u64> {
    let n = contents.len();
    for c in contents {
        r.receive(sender, &c, unix_ms()).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut gas = Vec::new();
    while gas.len() < n {
        for a in r.pending_answers().unwrap() {
            assert_eq!(
                a.receipt.status,
                ReceiptStatus::Confirmed,
                "{:?}",
                a.receipt
            );
            gas.push(a.receipt.tx.unwrap().gas_used);
            r.mark_answered(&a).unwrap();
        }
        assert!(Instant::now() < deadline, "batch timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gas
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let anvil = rt.block_on(Anvil::start());
    let a = anvil.deploy();
    let dir = tempfile::tempdir().unwrap();
    let cfg = RelayConfig::new(&anvil.url, a.chain_id, a.session_trigger)
        .with_confirmations(1)
        .with_poll_interval(Duration::from_millis(20))
        .with_policy(
            Policy::default()
                .with_any_target()
                .with_senders(Senders::Any)
                .with_budget(GasBudget::unlimited())
                .with_rate(1_000_000, 1_000_000),
        );
    let relayer = rt
        .block_on(Relayer::open(cfg, &signer(2), dir.path()))
        .unwrap();
    let (_stop, rx) = watch::channel(false);
    let _task = {
        let _guard = rt.enter();
        relayer.spawn(rx)
    };
    let key = MlDsaSigningKey::from_seed(&[7; 32]);
    let sender = SessionId::from_mldsa_public_key(&key.public_key());
    let mut nonce = 1u64;

    // Gas: key in calldata (executeFromSession) versus registered (executeRegistered).
    let inline = rt.block_on(run_batch(
        &relayer,
        &sender,
        vec![signed(&a, &key, nonce, true)],
    ));
    nonce += 1;
    let s: PrivateKeySigner = ANVIL_KEYS[3].parse().unwrap();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(s))
        .connect_http(anvil.url.parse().unwrap())
        .erased();
    let register_gas = rt.block_on(async {
        let r = SessionTrigger::new(a.session_trigger, provider.clone())
            .registerKey(Bytes::copy_from_slice(key.public_key().as_bytes()))
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        r.gas_used
    });
    let registered = rt.block_on(run_batch(
        &relayer,
        &sender,
        vec![signed(&a, &key, nonce, false)],
    ));
    nonce += 1;
    eprintln!(
        "gas per action: key in calldata {} , registered key {} (registerKey once: {register_gas})",
        inline[0], registered[0]
    );

    let mut g = c.benchmark_group("relay");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(30))
        .throughput(criterion::Throughput::Elements(BATCH));
    for (name, inline_key) in [("inline_key", true), ("registered_key", false)] {
        g.bench_function(format!("{BATCH}_actions_{name}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let batch: Vec<_> = (0..BATCH)
                        .map(|i| signed(&a, &key, nonce + i, inline_key))
                        .collect();
                    nonce += BATCH;
                    let start = Instant::now();
                    rt.block_on(run_batch(&relayer, &sender, batch));
                    total += start.elapsed();
                }
                total
            })
        });
    }
    g.finish();
    let _ = rt.block_on(provider.get_block_number());
}

criterion_group!(benches, bench);
criterion_main!(benches);
