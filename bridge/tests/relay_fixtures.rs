//! pars-wire's Action encoder and pars-crypto's ML-DSA-87 agree byte for byte with the signed
//! fixtures the contract tests use (contracts/test/data/session-actions.json).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use pars_crypto::mldsa::{MlDsaPublicKey, MlDsaSignature};
use pars_crypto::sha3_256;
use pars_wire::action::{Action, SIGNING_CONTEXT, verify_action};

fn unhex(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap().trim_start_matches("0x")).unwrap()
}

#[test]
fn fixtures_decode_reencode_and_verify() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/test/data/session-actions.json");
    let f: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(f["context"].as_str().unwrap().as_bytes(), SIGNING_CONTEXT);
    let pk = MlDsaPublicKey::from_bytes(&unhex(&f["publicKey"])).unwrap();
    let session_id: [u8; 32] = unhex(&f["sessionId"]).try_into().unwrap();
    assert_eq!(sha3_256(&[pk.as_bytes()]), session_id);
    let actions = f["actions"].as_object().unwrap();
    assert!(actions.len() >= 10);
    for (name, case) in actions {
        let message = unhex(&case["message"]);
        let action = Action::decode(&message).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(action.encode().unwrap(), message, "{name}: re-encoding");
        assert_eq!(action.session_id, session_id, "{name}");
        let nonce = match &case["nonce"] {
            serde_json::Value::String(s) => s.parse::<u64>().unwrap(),
            n => n.as_u64().unwrap(),
        };
        assert_eq!(action.nonce, nonce, "{name}");
        let sig = MlDsaSignature::from_bytes(&unhex(&case["signature"])).unwrap();
        verify_action(&action, &sig, &pk).unwrap_or_else(|e| panic!("{name}: {e}"));
        if name == "guestbook" {
            assert_eq!(action.chain_id_u64(), Some(31337));
            assert_eq!(action.version, 1);
            assert_eq!(
                hex::encode(action.trigger),
                f["trigger"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("0x")
                    .to_lowercase()
            );
        }
    }
}
