//! NIST ACVP known-answer tests (FIPS 203 ML-KEM-1024, FIPS 204 ML-DSA-87), run through
//! pars-crypto's own key derivation, encodings and verify functions. Every vector, valid and
//! invalid. Source: usnistgov/ACVP-Server gen-val/json-files, commit 65370b8 (see vectors/README.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pars_crypto::mldsa::{self, MlDsaPublicKey, MlDsaSignature, MlDsaSigningKey};
use pars_crypto::mlkem::{MlKemCiphertext, MlKemKeyPair, MlKemPublicKey, MlKemSecretKey};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn hex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn groups(doc: &Value) -> &Vec<Value> {
    doc["testGroups"].as_array().unwrap()
}

#[test]
fn mldsa87_keygen() {
    let doc = load("acvp-mldsa87-key-gen.json");
    let mut n = 0;
    for g in groups(&doc) {
        assert_eq!(g["parameterSet"], "ML-DSA-87");
        for t in g["tests"].as_array().unwrap() {
            let seed: [u8; 32] = hex(&t["seed"]).try_into().unwrap();
            let sk = MlDsaSigningKey::from_seed(&seed);
            assert_eq!(
                sk.public_key().as_bytes().to_vec(),
                hex(&t["pk"]),
                "tc {}",
                t["tcId"]
            );
            assert_eq!(
                mldsa::acvp::expanded_secret_key(&sk),
                hex(&t["sk"]),
                "tc {}",
                t["tcId"]
            );
            n += 1;
        }
    }
    assert_eq!(n, 25);
}

#[test]
fn mldsa87_siggen() {
    let doc = load("acvp-mldsa87-sig-gen.json");
    let mut n = 0;
    for g in groups(&doc) {
        let deterministic = g["deterministic"].as_bool().unwrap();
        for t in g["tests"].as_array().unwrap() {
            let rnd: [u8; 32] = if deterministic {
                [0u8; 32]
            } else {
                hex(&t["rnd"]).try_into().unwrap()
            };
            let sig =
                mldsa::acvp::sign_internal_expanded(&hex(&t["sk"]), &hex(&t["message"]), &rnd)
                    .unwrap();
            assert_eq!(
                sig.as_bytes().to_vec(),
                hex(&t["signature"]),
                "tc {}",
                t["tcId"]
            );
            n += 1;
        }
    }
    assert_eq!(n, 20);
}

#[test]
fn mldsa87_sigver_valid_and_invalid() {
    let doc = load("acvp-mldsa87-sig-ver.json");
    let (mut pass, mut fail) = (0, 0);
    for g in groups(&doc) {
        let pk = MlDsaPublicKey::from_bytes(&hex(&g["pk"])).unwrap();
        for t in g["tests"].as_array().unwrap() {
            let expected = t["testPassed"].as_bool().unwrap();
            let sig_bytes = hex(&t["signature"]);
            // A signature of the wrong length is rejected at parse time; that is a rejection too.
            let result = MlDsaSignature::from_bytes(&sig_bytes)
                .and_then(|sig| pk.verify_internal(&hex(&t["message"]), &sig));
            assert_eq!(
                result.is_ok(),
                expected,
                "tc {} ({})",
                t["tcId"],
                t["reason"]
            );
            if expected { pass += 1 } else { fail += 1 }
        }
    }
    assert_eq!(pass + fail, 15);
    assert!(pass > 0 && fail > 0, "the file has both kinds");
}

#[test]
fn mlkem1024_keygen() {
    let doc = load("acvp-mlkem1024-key-gen.json");
    let mut n = 0;
    for g in groups(&doc) {
        assert_eq!(g["parameterSet"], "ML-KEM-1024");
        for t in g["tests"].as_array().unwrap() {
            let mut seed = hex(&t["d"]);
            seed.extend(hex(&t["z"]));
            let kp = MlKemKeyPair::from_seed(&seed.try_into().unwrap());
            assert_eq!(
                kp.public.as_bytes().to_vec(),
                hex(&t["ek"]),
                "tc {}",
                t["tcId"]
            );
            assert_eq!(
                kp.secret.to_secret_bytes().as_slice(),
                &hex(&t["dk"])[..],
                "tc {}",
                t["tcId"]
            );
            n += 1;
        }
    }
    assert_eq!(n, 25);
}

#[test]
fn mlkem1024_encap_decap() {
    let doc = load("acvp-mlkem1024-encap-decap.json");
    let (mut enc, mut dec) = (0, 0);
    for g in groups(&doc) {
        match g["function"].as_str().unwrap() {
            "encapsulation" => {
                for t in g["tests"].as_array().unwrap() {
                    let pk = MlKemPublicKey::from_bytes(&hex(&t["ek"])).unwrap();
                    let m: [u8; 32] = hex(&t["m"]).try_into().unwrap();
                    let (ct, k) = pk.encapsulate_derand(&m);
                    assert_eq!(ct.as_bytes().to_vec(), hex(&t["c"]), "tc {}", t["tcId"]);
                    assert_eq!(k.as_bytes().to_vec(), hex(&t["k"]), "tc {}", t["tcId"]);
                    // And our decapsulation of our own ciphertext with the given dk agrees.
                    let sk = MlKemSecretKey::from_bytes(&hex(&t["dk"])).unwrap();
                    assert_eq!(sk.decapsulate(&ct).as_bytes().to_vec(), hex(&t["k"]));
                    enc += 1;
                }
            }
            "decapsulation" => {
                let sk = MlKemSecretKey::from_bytes(&hex(&g["dk"])).unwrap();
                for t in g["tests"].as_array().unwrap() {
                    // Includes modified ciphertexts: implicit rejection must give exactly the
                    // pseudorandom key NIST lists.
                    let ct = MlKemCiphertext::from_bytes(&hex(&t["c"])).unwrap();
                    assert_eq!(
                        sk.decapsulate(&ct).as_bytes().to_vec(),
                        hex(&t["k"]),
                        "tc {} ({})",
                        t["tcId"],
                        t["reason"]
                    );
                    dec += 1;
                }
            }
            other => panic!("unexpected function {other}"),
        }
    }
    assert_eq!(enc + dec, 35);
    assert!(enc > 0 && dec > 0);
}
