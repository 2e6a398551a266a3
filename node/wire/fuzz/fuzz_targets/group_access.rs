//! `GroupAccess::decode` and `peek_access` are total and agree; whatever decodes re-encodes to
//! exactly the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pars_wire::swarm::{GroupAccess, peek_access};

fuzz_target!(|data: &[u8]| {
    let peeked = peek_access(data);
    if let Ok(v) = GroupAccess::decode(data) {
        assert_eq!(v.encode(), data);
        assert_eq!(peeked, Some((v.generation, v.token_hash)));
        let _ = v.verify();
    }
});
