#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The relayer's stored records (`pars_wire::relay`): total, canonical decoders (whatever decodes
//! re-encodes to the same bytes), mutations that never panic, and the seeds of the `relay_record`
//! fuzz target.

use pars_crypto::SessionId;
use pars_wire::action::{ContractReceipt, ReasonCode, ReceiptStatus, ReceiptTx};
use pars_wire::relay::{
    ActionKey, ActionRecord, ActionState, Fees, RequestKey, RequestRecord, SentTx,
};
use proptest::prelude::*;

fn check(data: &[u8]) {
    if let Ok(r) = ActionRecord::decode(data) {
        assert_eq!(r.encode(), data);
    }
    if let Ok(r) = RequestRecord::decode(data) {
        assert_eq!(r.encode(), data);
    }
}

fn receipt(status: ReceiptStatus, reason: ReasonCode, text: &str) -> ContractReceipt {
    ContractReceipt {
        request_id: [7; 16],
        status,
        reason,
        reason_text: text.into(),
        tx: (status != ReceiptStatus::Refused).then_some(ReceiptTx {
            tx_hash: [1; 32],
            block: 42,
            gas_used: 90_000,
        }),
    }
}

/// One record of each shape.
fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let request = RequestKey::new(&[3; 32], &[7; 16]);
    let tx = |n: u8| SentTx {
        hash: [n; 32],
        fees: Fees {
            max_fee: 2_000_000_000 + u128::from(n),
            priority_fee: 1_000_000_000,
        },
        raw: vec![n; 64],
        sent_at_ms: 1_700_000_000_000 + u64::from(n),
    };
    let action = |state| ActionRecord {
        request,
        content: vec![0x01; 40],
        received_at_ms: 1_700_000_000_000,
        state,
    };
    let confirmed = receipt(ReceiptStatus::Confirmed, ReasonCode::None, "");
    let refused = receipt(ReceiptStatus::Refused, ReasonCode::BadSignature, "bad");
    vec![
        ("action-received", action(ActionState::Received).encode()),
        (
            "action-verified",
            action(ActionState::Verified { gas_limit: 300_000 }).encode(),
        ),
        (
            "action-submitted",
            action(ActionState::Submitted {
                gas_limit: 300_000,
                account_nonce: 4,
                txs: vec![tx(1), tx(2)],
            })
            .encode(),
        ),
        (
            "action-finished",
            action(ActionState::Finished {
                receipt: confirmed.clone(),
            })
            .encode(),
        ),
        (
            "request-open",
            RequestRecord {
                sender: SessionId::from_digest([3; 32]),
                action: Some(ActionKey::new(&[9; 32], 5)),
                receipt: None,
                answered: false,
                received_at_ms: 1,
            }
            .encode(),
        ),
        (
            "request-answered",
            RequestRecord {
                sender: SessionId::from_digest([3; 32]),
                action: Some(ActionKey::new(&[9; 32], 5)),
                receipt: Some(confirmed),
                answered: true,
                received_at_ms: 1,
            }
            .encode(),
        ),
        (
            "request-refused",
            RequestRecord {
                sender: SessionId::from_digest([4; 32]),
                action: None,
                receipt: Some(refused),
                answered: false,
                received_at_ms: 2,
            }
            .encode(),
        ),
    ]
}

proptest! {
    #[test]
    fn decoders_are_total_and_canonical(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        check(&data);
    }

    #[test]
    fn mutated_samples_never_panic(i in 0usize..7, pos in 0usize..400, v: u8) {
        let mut b = samples()[i].1.clone();
        let p = pos % b.len();
        b[p] = v;
        check(&b);
    }

    #[test]
    fn submitted_round_trips(gas: u64, nonce: u64, max_fee: u128, prio: u128,
                             raws in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 0..5)) {
        let txs: Vec<SentTx> = raws.into_iter().enumerate().map(|(i, raw)| SentTx {
            hash: [i as u8; 32], fees: Fees { max_fee, priority_fee: prio }, raw, sent_at_ms: i as u64,
        }).collect();
        let r = ActionRecord {
            request: RequestKey::new(&[1; 32], &[2; 16]),
            content: vec![5; 10],
            received_at_ms: gas ^ nonce,
            state: ActionState::Submitted { gas_limit: gas, account_nonce: nonce, txs },
        };
        prop_assert_eq!(ActionRecord::decode(&r.encode()).unwrap(), r);
    }
}

/// The seeds of the `relay_record` fuzz target are the samples above (rewritten when
/// PARS_WRITE_SEEDS is set); each decodes, and its truncations and bit flips stay total.
#[test]
fn fuzz_seeds_decode_and_mutations_stay_total() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/relay_record");
    if std::env::var_os("PARS_WRITE_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in samples() {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    let mut decoded = 0;
    for (name, bytes) in samples() {
        assert_eq!(std::fs::read(dir.join(name)).unwrap(), bytes, "seed {name}");
        assert!(ActionRecord::decode(&bytes).is_ok() || RequestRecord::decode(&bytes).is_ok());
        decoded += 1;
        check(&bytes);
        for i in 0..bytes.len() {
            let mut m = bytes.clone();
            m[i] ^= 0x80;
            check(&m);
            check(&bytes[..i]);
        }
    }
    assert_eq!(decoded, 7);
}
