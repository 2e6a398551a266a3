//! `NodeRecord::decode` is total, and whatever it accepts re-encodes to exactly the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pars_wire::node_record::NodeRecord;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = NodeRecord::decode(data) {
        assert_eq!(v.encode().ok().as_deref(), Some(data));
    }
});
