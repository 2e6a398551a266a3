#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The onion-transport formats (`pars_wire::directory`, `pars_wire::onion_state`): total
//! decoders, canonical encodings (whatever decodes re-encodes to the same bytes), and the fuzz
//! seeds of the `directory` target.

use pars_wire::directory::{DirectoryRequest, DirectoryResponse};
use pars_wire::onion_state::StoredKeyRing;
use proptest::prelude::*;

fn check(data: &[u8]) {
    if let Ok(v) = DirectoryRequest::decode(data) {
        assert_eq!(v.encode(), data);
    }
    if let Ok(v) = DirectoryResponse::decode(data) {
        assert_eq!(v.encode(), data);
    }
    if let Ok(v) = StoredKeyRing::decode(data) {
        assert_eq!(v.encode().as_slice(), data);
    }
}

proptest! {
    #[test]
    fn decoders_are_total_and_canonical(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        check(&data);
    }

    #[test]
    fn responses_round_trip(records in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..200), 0..20)) {
        let r = DirectoryResponse { records };
        prop_assert_eq!(DirectoryResponse::decode(&r.encode()).unwrap(), r);
    }
}

#[test]
fn fuzz_seeds_decode_and_mutations_stay_total() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/directory");
    let mut decoded = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let ok = DirectoryRequest::decode(&bytes).is_ok()
            || DirectoryResponse::decode(&bytes).is_ok()
            || StoredKeyRing::decode(&bytes).is_ok();
        assert!(ok, "a seed does not decode");
        decoded += 1;
        check(&bytes);
        for i in 0..bytes.len() {
            let mut m = bytes.clone();
            m[i] ^= 0x80;
            check(&m);
            check(&bytes[..i]);
        }
    }
    assert_eq!(decoded, 3);
}
