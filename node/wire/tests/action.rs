#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Contract actions and receipts: round trips, the exact signed bytes, strictness, totality.

use pars_crypto::mldsa::MlDsaSigningKey;
use pars_crypto::sha3_256;
use pars_wire::WireError;
use pars_wire::action::*;
use proptest::prelude::*;

fn key(b: u8) -> MlDsaSigningKey {
    MlDsaSigningKey::from_seed(&[b; 32])
}

fn action(data: Vec<u8>) -> Action {
    Action {
        version: ACTION_VERSION,
        chain_id: [0; 32],
        trigger: [0x9f; 20],
        session_id: [0; 32],
        nonce: 7,
        deadline: 4_102_444_800,
        target: [0xcf; 20],
        value: [0; 32],
        data,
    }
    .with_chain_id(31337)
}

#[test]
fn action_layout_is_the_abi_encoding() {
    let a = action(vec![0xab; 33]);
    let bytes = a.encode().unwrap();
    assert_eq!(bytes.len(), 320 + 64);
    assert_eq!(bytes.len(), Action::encoded_len(33));
    assert_eq!(bytes[31], 1, "version word");
    assert_eq!(&bytes[32 + 30..64], &[0x7a, 0x69], "chain ID 31337");
    assert_eq!(&bytes[64..76], &[0; 12]);
    assert_eq!(&bytes[76..96], &[0x9f; 20], "trigger");
    assert_eq!(bytes[0x80 + 31], 7, "nonce");
    assert_eq!(bytes[0x100 + 30], 0x01, "data offset 0x120");
    assert_eq!(bytes[0x100 + 31], 0x20);
    assert_eq!(bytes[0x120 + 31], 33, "data length");
    assert_eq!(&bytes[0x140..0x140 + 33], &[0xab; 33]);
    assert!(bytes[0x140 + 33..].iter().all(|b| *b == 0), "zero padding");
    assert_eq!(Action::decode(&bytes).unwrap(), a);
    assert_eq!(a.chain_id_u64(), Some(31337));
}

#[test]
fn action_decoder_is_strict() {
    let good = action(vec![1, 2, 3]).encode().unwrap();
    let mutate = |i: usize, v: u8| {
        let mut b = good.clone();
        b[i] = v;
        Action::decode(&b)
    };
    // A high byte in each narrow field.
    for (word, name) in [
        (0, "version"),
        (2, "trigger"),
        (4, "nonce"),
        (5, "deadline"),
        (6, "target"),
        (8, "offset"),
        (9, "length"),
    ] {
        assert!(
            mutate(word * 32, 1).is_err(),
            "{name} out of range accepted"
        );
    }
    // Wide fields take any value.
    assert!(mutate(32, 0xff).is_ok());
    assert!(mutate(7 * 32, 0xff).is_ok());
    // A wrong offset, non-zero padding, a wrong length, trailing or missing bytes.
    assert!(mutate(0x100 + 31, 0x40).is_err());
    assert!(mutate(0x140 + 5, 1).is_err());
    assert!(
        mutate(0x120 + 31, 4).is_ok(),
        "4 bytes still fit the padded word"
    );
    assert!(mutate(0x120 + 31, 33).is_err());
    let mut long = good.clone();
    long.extend_from_slice(&[0; 32]);
    assert!(matches!(
        Action::decode(&long),
        Err(WireError::TrailingBytes { .. })
    ));
    assert!(Action::decode(&good[..good.len() - 1]).is_err());
    assert!(Action::decode(&good[..100]).is_err());
    // Calldata beyond the limit is refused by both sides.
    assert!(action(vec![0; MAX_CALLDATA_LEN + 1]).encode().is_err());
    let mut huge = action(vec![]).encode().unwrap();
    huge[0x120 + 28..0x120 + 32].copy_from_slice(&((MAX_CALLDATA_LEN + 32) as u32).to_be_bytes());
    assert!(matches!(
        Action::decode(&huge),
        Err(WireError::TooLong { .. })
    ));
}

#[test]
fn signed_action_round_trips_and_verifies() {
    let k = key(1);
    let pk = k.public_key();
    for inline in [true, false] {
        let ca =
            ContractAction::sign([5; 16], action(b"note".to_vec()), &k, inline, &[9; 32]).unwrap();
        assert_eq!(ca.action.session_id, sha3_256(&[pk.as_bytes()]));
        let bytes = ca.encode().unwrap();
        let overhead = if inline {
            CONTRACT_ACTION_OVERHEAD_INLINE
        } else {
            CONTRACT_ACTION_OVERHEAD_REGISTERED
        };
        assert_eq!(bytes.len(), overhead + Action::encoded_len(4));
        let back = ContractAction::decode(&bytes).unwrap();
        assert_eq!(back, ca);
        back.verify(Some(&pk)).unwrap();
        // The signature is over exactly the Action bytes with the Lux context.
        pk.verify(SIGNING_CONTEXT, &ca.action.encode().unwrap(), &ca.signature)
            .unwrap();
        assert_eq!(SIGNING_CONTEXT, b"lux-evm-precompile-mldsa-v1");
    }
    let ca = ContractAction::sign([5; 16], action(vec![]), &k, true, &[0; 32]).unwrap();
    // Any change to the action breaks the signature.
    let mut tampered = ca.clone();
    tampered.action.nonce += 1;
    assert_eq!(tampered.verify(None), Err(ActionAuthError::BadSignature));
    let mut tampered = ca.clone();
    tampered.action.data.push(0);
    assert_eq!(tampered.verify(None), Err(ActionAuthError::BadSignature));
    // Another key: the digest no longer matches.
    let other = key(2).public_key();
    assert_eq!(
        verify_action(&ca.action, &ca.signature, &other),
        Err(ActionAuthError::KeyMismatch)
    );
    // A registered-key action without the key from chain cannot be verified.
    let reg = ContractAction::sign([5; 16], action(vec![]), &k, false, &[0; 32]).unwrap();
    assert_eq!(reg.verify(None), Err(ActionAuthError::KeyMismatch));
    // A flipped signature bit.
    let mut bytes = ca.encode().unwrap();
    bytes[1 + 16 + 1 + 2592 + 100] ^= 1;
    let flipped = ContractAction::decode(&bytes).unwrap();
    assert_eq!(flipped.verify(None), Err(ActionAuthError::BadSignature));
}

#[test]
fn contract_action_decoder_rejects_bad_envelopes() {
    let ca = ContractAction::sign([5; 16], action(vec![]), &key(1), false, &[0; 32]).unwrap();
    let good = ca.encode().unwrap();
    let mut b = good.clone();
    b[0] = 2;
    assert!(matches!(
        ContractAction::decode(&b),
        Err(WireError::UnsupportedVersion { .. })
    ));
    let mut b = good.clone();
    b[17] = 3;
    assert!(matches!(
        ContractAction::decode(&b),
        Err(WireError::UnknownVariant { .. })
    ));
    let mut b = good.clone();
    b.push(0);
    assert!(ContractAction::decode(&b).is_err());
    assert!(ContractAction::decode(&good[..good.len() - 1]).is_err());
    assert!(ContractAction::decode(&vec![1u8; MAX_CONTRACT_ACTION_LEN + 1]).is_err());
    assert!(ContractAction::decode(&[]).is_err());
}

fn receipts() -> Vec<ContractReceipt> {
    let tx = Some(ReceiptTx {
        tx_hash: [3; 32],
        block: 12,
        gas_used: 21_000_000,
    });
    vec![
        ContractReceipt {
            request_id: [1; 16],
            status: ReceiptStatus::Confirmed,
            reason: ReasonCode::None,
            reason_text: String::new(),
            tx,
        },
        ContractReceipt {
            request_id: [2; 16],
            status: ReceiptStatus::Submitted,
            reason: ReasonCode::None,
            reason_text: String::new(),
            tx: Some(ReceiptTx {
                tx_hash: [4; 32],
                block: 0,
                gas_used: 0,
            }),
        },
        ContractReceipt {
            request_id: [3; 16],
            status: ReceiptStatus::Reverted,
            reason: ReasonCode::TargetReverted,
            reason_text: "0x08c379a0…".into(),
            tx,
        },
        ContractReceipt {
            request_id: [4; 16],
            status: ReceiptStatus::Refused,
            reason: ReasonCode::Expired,
            reason_text: "deadline 5 passed".into(),
            tx: None,
        },
        ContractReceipt {
            request_id: [5; 16],
            status: ReceiptStatus::Refused,
            reason: ReasonCode::Other(999),
            reason_text: "ünïcode".into(),
            tx: None,
        },
    ]
}

#[test]
fn receipts_round_trip_and_are_checked() {
    for r in receipts() {
        let b = r.encode();
        assert!(b.len() <= MAX_RECEIPT_LEN);
        assert_eq!(ContractReceipt::decode(&b).unwrap(), r);
    }
    assert_eq!(receipts()[0].encode().len(), 1 + 16 + 1 + 2 + 2 + 1 + 48);
    // The sizes docs/protocol.md states.
    assert_eq!(CONTRACT_ACTION_OVERHEAD_INLINE, 7_241);
    assert_eq!(CONTRACT_ACTION_OVERHEAD_REGISTERED, 4_649);
    assert_eq!(MAX_CONTRACT_ACTION_LEN, 73_097);
    assert_eq!(MAX_RECEIPT_LEN, 1_095);
    for code in ReasonCode::KNOWN {
        assert_eq!(ReasonCode::from_code(code.code()), code);
    }
    // Inconsistent combinations are refused.
    let mut r = receipts()[0].clone();
    r.tx = None;
    assert!(ContractReceipt::decode(&r.encode()).is_err());
    let mut r = receipts()[3].clone();
    r.tx = Some(ReceiptTx {
        tx_hash: [0; 32],
        block: 0,
        gas_used: 0,
    });
    assert!(ContractReceipt::decode(&r.encode()).is_err());
    let mut r = receipts()[0].clone();
    r.reason = ReasonCode::Expired;
    assert!(ContractReceipt::decode(&r.encode()).is_err());
    // Long texts are cut on a character boundary.
    let mut r = receipts()[3].clone();
    r.reason_text = "é".repeat(MAX_REASON_LEN);
    let back = ContractReceipt::decode(&r.encode()).unwrap();
    assert_eq!(back.reason_text.len(), MAX_REASON_LEN);
    // Bad UTF-8.
    let mut b = receipts()[3].encode();
    b[1 + 16 + 1 + 2 + 2] = 0xff;
    assert!(ContractReceipt::decode(&b).is_err());
}

/// Writes the fuzz seeds (valid encodings) when PARS_WRITE_SEEDS is set.
#[test]
fn fuzz_seeds() {
    if std::env::var_os("PARS_WRITE_SEEDS").is_none() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let ca =
        ContractAction::sign([5; 16], action(b"note".to_vec()), &key(1), false, &[0; 32]).unwrap();
    std::fs::write(dir.join("contract_action/registered"), ca.encode().unwrap()).unwrap();
    let ca = ContractAction::sign([6; 16], action(vec![]), &key(1), true, &[0; 32]).unwrap();
    std::fs::write(dir.join("contract_action/inline"), ca.encode().unwrap()).unwrap();
    for (i, r) in receipts().iter().enumerate() {
        std::fs::write(dir.join(format!("contract_action/receipt-{i}")), r.encode()).unwrap();
    }
}

proptest! {
    #[test]
    fn action_round_trip(data in proptest::collection::vec(any::<u8>(), 0..300), nonce: u64, deadline: u64,
                         chain in any::<[u8; 32]>(), value in any::<[u8; 32]>(), t in any::<[u8; 20]>()) {
        let a = Action { version: 1, chain_id: chain, trigger: t, session_id: value, nonce, deadline, target: t, value, data };
        let b = a.encode().unwrap();
        prop_assert_eq!(Action::decode(&b).unwrap(), a);
    }

    #[test]
    fn decoders_are_total(data in proptest::collection::vec(any::<u8>(), 0..800)) {
        if let Ok(a) = Action::decode(&data) { prop_assert_eq!(a.encode().unwrap(), data.clone()); }
        if let Ok(r) = ContractReceipt::decode(&data) { prop_assert_eq!(r.encode(), data.clone()); }
        let _ = ContractAction::decode(&data);
    }

    #[test]
    fn mutated_receipts_never_panic(i in 0usize..5, pos in 0usize..80, v: u8) {
        let mut b = receipts()[i].encode();
        let p = pos % b.len();
        b[p] = v;
        if let Ok(r) = ContractReceipt::decode(&b) { prop_assert_eq!(r.encode(), b); }
    }
}
