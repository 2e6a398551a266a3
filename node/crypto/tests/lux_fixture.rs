//! ML-DSA-87 signatures under the Lux precompile context, shared with the contracts' tests.
//!
//! `contracts/test/data/mldsa87-lux-signatures.json` must be exactly what pars-crypto produces
//! (deterministic signing from fixed seeds), so the Solidity verifier is tested against this
//! crate's signatures. Regenerate with `PARS_REGENERATE_FIXTURES=1 cargo test -p pars-crypto
//! --test lux_fixture`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pars_crypto::identity::{IdentityKeys, MasterSeed};
use pars_crypto::labels;
use pars_crypto::mldsa::MlDsaSignature;

fn fixture_json() -> String {
    let messages: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"hello from Pars Session".to_vec(),
        (0..=255u8).cycle().take(389).collect(),
    ];
    let mut cases = Vec::new();
    for (i, msg) in messages.iter().enumerate() {
        let id = IdentityKeys::from_seed(&MasterSeed::from_bytes([i as u8 + 1; 32]));
        let key = &id.signing_key().mldsa;
        let pk = key.public_key();
        let sig = key
            .sign_with_rnd(labels::SIG_LUX_PRECOMPILE, msg, &[0u8; 32])
            .unwrap();
        pk.verify(labels::SIG_LUX_PRECOMPILE, msg, &sig).unwrap();
        cases.push(format!(
            "    {{\n      \"sessionId\": \"{}\",\n      \"publicKey\": \"0x{}\",\n      \"message\": \"0x{}\",\n      \"signature\": \"0x{}\"\n    }}",
            id.session_id(),
            hex::encode(pk.as_bytes()),
            hex::encode(msg),
            hex::encode(sig.as_bytes())
        ));
    }
    format!(
        "{{\n  \"context\": \"{}\",\n  \"generator\": \"pars-crypto tests/lux_fixture.rs (deterministic ML-DSA-87, rnd = 0^32)\",\n  \"cases\": [\n{}\n  ]\n}}\n",
        String::from_utf8_lossy(labels::SIG_LUX_PRECOMPILE),
        cases.join(",\n")
    )
}

#[test]
fn contracts_fixture_matches_pars_crypto() {
    let path = format!(
        "{}/../../contracts/test/data/mldsa87-lux-signatures.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let expected = fixture_json();
    if std::env::var_os("PARS_REGENERATE_FIXTURES").is_some() {
        std::fs::create_dir_all(std::path::Path::new(&path).parent().unwrap()).unwrap();
        std::fs::write(&path, &expected).unwrap();
    }
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}; regenerate with PARS_REGENERATE_FIXTURES=1"));
    assert_eq!(
        committed, expected,
        "fixture is stale; regenerate with PARS_REGENERATE_FIXTURES=1"
    );
    // And each committed signature verifies, while a flipped bit does not.
    let doc: serde_json::Value = serde_json::from_str(&committed).unwrap();
    for c in doc["cases"].as_array().unwrap() {
        let h = |k: &str| hex::decode(c[k].as_str().unwrap().trim_start_matches("0x")).unwrap();
        let pk = pars_crypto::mldsa::MlDsaPublicKey::from_bytes(&h("publicKey")).unwrap();
        let mut sig = h("signature");
        let s = MlDsaSignature::from_bytes(&sig).unwrap();
        pk.verify(labels::SIG_LUX_PRECOMPILE, &h("message"), &s)
            .unwrap();
        sig[10] ^= 1;
        let s = MlDsaSignature::from_bytes(&sig).unwrap();
        assert!(
            pk.verify(labels::SIG_LUX_PRECOMPILE, &h("message"), &s)
                .is_err()
        );
    }
}
