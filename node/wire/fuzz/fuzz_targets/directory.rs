//! The onion-transport formats decode totally and canonically: `DirectoryRequest`,
//! `DirectoryResponse` and the stored key ring re-encode to exactly what they accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pars_wire::directory::{DirectoryRequest, DirectoryResponse};
use pars_wire::onion_state::StoredKeyRing;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = DirectoryRequest::decode(data) {
        assert_eq!(v.encode(), data);
    }
    if let Ok(v) = DirectoryResponse::decode(data) {
        assert_eq!(v.encode(), data);
    }
    if let Ok(v) = StoredKeyRing::decode(data) {
        assert_eq!(v.encode().as_slice(), data);
    }
});
